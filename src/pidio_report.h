/*
 * pidio_report: what went wrong in one interval of a block, as counted by
 * pidio_block_update. pidio_trouble classifies it for the front ends.
 */
#ifndef PIDIO_REPORT_H
#define PIDIO_REPORT_H

#include <sys/types.h>

/* What happened in one interval, for the caller to report. */
typedef struct pidio_report {
  unsigned matched;    /* members this interval, readable or not */
  unsigned unreadable; /* members whose io could not be read (EACCES) */
  pid_t denied_pid;    /* one such member, for the message */
  unsigned garbled;    /* io files that did not parse */
  pid_t garbled_pid;
  int pidfile_err; /* 0, or the negative errno of reading the pidfile */
  int list_err;    /* 0, or the negative errno of listing ProcRoot */
  unsigned failed; /* members not read for another reason (EMFILE...) */
  pid_t failed_pid;
  int failed_err;       /* its negative errno */
  unsigned undecided;   /* processes a selector could not read (Exe: EACCES) */
  pid_t no_cgroup2_pid; /* Cgroup: a process without a cgroup v2 line */
  pid_t cmdline_cut_pid; /* CommandLine: a process whose command line is
                            longer than PIDIO_CMDLINE_MAX (only its start
                            was matched) */
  pid_t undecided_pid;
  /* CLOCK_MONOTONIC seconds at the middle of the members' reads: the time
   * the counters are of. Taken there, not before the update, so that a
   * slow listing or a preemption before the reads does not skew rates. */
  double read_at;
  /* With a kernel-side reader (pidio_block_set_ownio): process exits whose
   * record was lost this interval (they may or may not have been
   * members: nobody can tell), and members left out because of that. */
  unsigned lost;
  unsigned lost_members;
} pidio_report_t;

#endif /* PIDIO_REPORT_H */
