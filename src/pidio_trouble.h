/*
 * pidio_trouble: what went wrong in a block's interval, classified once
 * for both front ends.
 *
 * From a pidio_report_t it yields the causes (kind, count, an example pid,
 * errno) and the one count of processes whose figures are missing. The
 * plugin renders the causes as collectd log lines rate-limited with
 * c_complain, pidio-stream as lines on standard error rate-limited its own
 * way; both name the same causes with the same counts, in the text that
 * pidio_tell writes.
 *
 * "unreadable" (the plugin's count-unreadable, the stream's "unreadable")
 * counts the processes a block should have read and did not, for a reason
 * other than their exit: permission denied on io (EACCES), an Exe selector
 * that may not read a process's exe (EACCES), and any other failed read
 * (out of descriptors: EMFILE, ENFILE; an I/O error). An io file that does
 * not parse is a cause of its own and not counted there.
 */
#ifndef PIDIO_TROUBLE_H
#define PIDIO_TROUBLE_H

#include "pidio_report.h"

#include <stdbool.h>
#include <sys/types.h>

enum pidio_trouble_kind {
  PIDIO_TROUBLE_DENIED,     /* io: permission denied (EACCES) */
  PIDIO_TROUBLE_UNDECIDED,  /* Exe: permission denied reading exe */
  PIDIO_TROUBLE_FAILED,     /* io: another error (EMFILE, ENFILE, EIO) */
  PIDIO_TROUBLE_GARBLED,    /* io: does not parse, or a counter went down */
  PIDIO_TROUBLE_PIDFILE,    /* the pidfile is missing or holds no pid */
  PIDIO_TROUBLE_LIST,       /* ProcRoot cannot be listed: nothing read */
  PIDIO_TROUBLE_NO_CGROUP2, /* Cgroup: a process without a 0:: line */
  PIDIO_TROUBLE_CMDLINE_CUT, /* CommandLine: a command line longer than
                                PIDIO_CMDLINE_MAX, matched by its start */
  PIDIO_TROUBLE_NKINDS
};

typedef struct pidio_cause {
  enum pidio_trouble_kind kind;
  unsigned count; /* processes (1 for PIDFILE and LIST); 0: not present */
  pid_t pid;      /* one process it concerns, 0 when none */
  int err;        /* the negative errno */
} pidio_cause_t;

typedef struct pidio_trouble {
  pidio_cause_t cause[PIDIO_TROUBLE_NKINDS]; /* by kind */
  unsigned unreadable;                       /* see above */
} pidio_trouble_t;

/* How a kind is told. */
typedef struct pidio_trouble_info {
  const char *name; /* stable, for tests and machine-readable output */
  /* The kind whose warning it shares (its own kind for most): DENIED and
   * UNDECIDED have one remedy, so a block gets one warning for both, about
   * DENIED when there is one. */
  enum pidio_trouble_kind slot;
  bool once; /* said once for the life of the block: a host does not
                change its cgroup layout while running, and a selector
                that may miss long command lines does so for good */
} pidio_trouble_info_t;

extern const pidio_trouble_info_t pidio_trouble_info[PIDIO_TROUBLE_NKINDS];

/* Classify one interval. update_rc is what pidio_block_update returned:
 * when it failed nothing was read, and the one cause is LIST. */
void pidio_trouble_classify(const pidio_report_t *r, int update_rc,
                            pidio_trouble_t *t);

/* The cause to tell for a slot (a kind whose info.slot is itself): the
 * first present kind that shares it, or NULL when none is present. */
const pidio_cause_t *pidio_trouble_first(const pidio_trouble_t *t,
                                         enum pidio_trouble_kind slot);

/* Walk one interval's causes the way both front ends tell them: once per
 * slot, the first present cause of the slot (NULL when none is present,
 * so that the front end can say the trouble is over and reset its rate
 * limit). A kind told once (info.once) is handed on only the first time,
 * and told[] (the front end's, kept from interval to interval) remembers
 * it. When the update failed, only the LIST slot is walked: the other
 * causes are not known either way. */
typedef void pidio_trouble_fn(void *arg, enum pidio_trouble_kind slot,
                              const pidio_cause_t *first);
void pidio_trouble_each(const pidio_trouble_t *t, int update_rc,
                        bool told[PIDIO_TROUBLE_NKINDS], pidio_trouble_fn *fn,
                        void *arg);

#endif /* PIDIO_TROUBLE_H */
