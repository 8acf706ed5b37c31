/*
 * pidio_select: what a block selects, and whether a process matches.
 *
 * The setters validate one option each and write a message (without the
 * option or block name, which the caller knows) into err on failure. All
 * selectors of a block must match (AND).
 */
#ifndef PIDIO_SELECT_H
#define PIDIO_SELECT_H

#include "pidio_parse.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct pidio_select {
  bool all;      /* All: every process (with the other selectors: AND) */
  pid_t pid;     /* Pid, 0 when not set */
  char *pidfile; /* PidFile, NULL when not set */
  char *name;    /* Name: exact comm */
  char *cmdline; /* CommandLine: the regex as written */
  regex_t cmdline_re;
  char *exe;     /* Exe: the path /proc/<pid>/exe points to */
  char *user;    /* User as written, for messages; NULL when not set */
  uid_t uid;     /* ... resolved to the real uid to match */
  char *cgroup;  /* Cgroup: a cgroup v2 path, without a trailing '/' */
  bool children; /* Children: also every descendant of a match */
} pidio_select_t;

/* CommandLine looks at most this much of a command line: far more than
 * any real program's (the kernel takes up to a quarter of the stack limit
 * for all arguments and environment, 2 MiB by default), but a bound, so
 * that one process cannot make pidio read without end. */
#define PIDIO_CMDLINE_MAX (128 * 1024)

/* What pidio_select_match_proc found. */
enum pidio_match {
  PIDIO_MATCH_NO,
  PIDIO_MATCH_YES,
  PIDIO_MATCH_DENIED, /* a selector needs what may not be read */
  PIDIO_MATCH_NO_V2,  /* no match: Cgroup, and no cgroup v2 line at all */
  PIDIO_MATCH_ERROR,  /* a selector's file could not be read (EMFILE...) */
};

void pidio_select_init(pidio_select_t *s);
void pidio_select_free(pidio_select_t *s);

int pidio_select_set_pid(pidio_select_t *s, double value, char *err,
                         size_t errsz);
int pidio_select_set_pidfile(pidio_select_t *s, const char *path, char *err,
                             size_t errsz);
int pidio_select_set_name(pidio_select_t *s, const char *name, char *err,
                          size_t errsz);
int pidio_select_set_cmdline(pidio_select_t *s, const char *regex, char *err,
                             size_t errsz);

int pidio_select_set_exe(pidio_select_t *s, const char *path, char *err,
                         size_t errsz);
/* A user name (resolved now, with getpwnam) or a decimal uid. */
int pidio_select_set_user(pidio_select_t *s, const char *user, char *err,
                          size_t errsz);
int pidio_select_set_uid(pidio_select_t *s, double uid, char *err,
                         size_t errsz);
int pidio_select_set_cgroup(pidio_select_t *s, const char *path, char *err,
                            size_t errsz);
void pidio_select_set_children(pidio_select_t *s, bool on);
/* All true: every process. All false would select nothing: refused. */
int pidio_select_set_all(pidio_select_t *s, bool on, char *err, size_t errsz);

/* A block needs at least one selector: -EINVAL with "selects nothing" in
   err when it has none (the caller names the selectors, from the option
   table). */
int pidio_select_check(const pidio_select_t *s, char *err, size_t errsz);

/* True when the block names its process (Pid or PidFile). Without
 * Children such a block does not need to list every process. */
bool pidio_select_by_pid(const pidio_select_t *s);

/* True when matching needs the command line. */
bool pidio_select_wants_cmdline(const pidio_select_t *s);

/* Match a process by what pidio read of it. cmdline is the joined command
 * line (may be NULL when pidio_select_wants_cmdline is false). The pid
 * itself is the caller's business: it only lists candidate pids. */
bool pidio_select_match(const pidio_select_t *s, const pidio_stat_t *st,
                        const char *cmdline);

/* True when a process in the cgroup v2 path (plen bytes, from the root)
 * passes the Cgroup selector: its cgroup or one below it, or there is no
 * Cgroup selector. */
bool pidio_select_cgroup_match(const pidio_select_t *s, const char *path,
                               size_t plen);

/* Match a process by reading what the selectors need from its opened
 * /proc/<pid> directory, cheapest first. A kernel thread (st's flags) never
 * matches: it has an io file, all zeros, but runs no program. Then the pid against target (the Pid
 * or the pidfile's pid; -1 when the pidfile could not be read), name,
 * uid, cgroup, exe, command line. A selector's file that is gone
 * (ENOENT, ESRCH: the process exited) decides no match (an empty command
 * line for CommandLine); PIDIO_MATCH_DENIED when it may not be read
 * (EACCES, EPERM: Exe of another user's process, status under hidepid);
 * PIDIO_MATCH_ERROR when it could not be read for another reason
 * (EMFILE): nothing is decided, the caller looks again.
 * *cmdline_cut (may be NULL) is set to true when the command line was
 * longer than PIDIO_CMDLINE_MAX and only its start was matched. */
enum pidio_match pidio_select_match_proc(const pidio_select_t *s, int pid_dirfd,
                                         pid_t pid, const pidio_stat_t *st,
                                         pid_t target, bool *cmdline_cut);

/* False when the pid (against target, as in pidio_select_match_proc), the
 * comm or the real uid already rule the process out: what a kernel-side
 * pass gives, checked before any file of the process is read. */
bool pidio_select_may_match(const pidio_select_t *s, pid_t pid,
                            const char *comm, uid_t uid, pid_t target);

/* True when matching reads a file of the process's /proc directory
 * beyond stat and status: Cgroup, Exe or CommandLine. */
bool pidio_select_needs_dir(const pidio_select_t *s);

/* pidio_select_match_proc for a process whose real uid the caller already
 * has (a kernel-side pass reports it with the pid, comm and start): User
 * is decided by it, without reading status. pid_dirfd is read only when
 * pidio_select_needs_dir; it may be -1 otherwise. */
enum pidio_match pidio_select_match_known(const pidio_select_t *s,
                                          int pid_dirfd, pid_t pid,
                                          const pidio_stat_t *st, uid_t uid,
                                          pid_t target, bool *cmdline_cut);

#endif /* PIDIO_SELECT_H */
