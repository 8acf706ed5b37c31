/*
 * pidio_proc: access to a procfs tree whose root is chosen at run time
 * (ProcRoot, default "/proc"; tests use trees under fixtures/).
 *
 * Every function returns 0 (or a descriptor) on success and a negative errno
 * on failure. -ENOENT and -ESRCH mean the process is gone, which is normal;
 * -EACCES means the process exists but may not be read.
 */
#ifndef PIDIO_PROC_H
#define PIDIO_PROC_H

#include "pidio_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct pidio_proc {
  int root_fd; /* O_PATH|O_DIRECTORY descriptor of the root */
  char *root;  /* its path, for messages */
  /* <root>/loadavg, held when the root is this process's own procfs (its
   * "self" is this process), else -1: the last pid it shows is then that
   * of the pid namespace the root lists. Valid only while root_fd is. */
  int loadavg_fd;
} pidio_proc_t;

/* One entry of a listing: a pid directory and its inode number. A changed
 * inode for the same pid is a hint that the pid was reused. */
typedef struct pidio_pident {
  pid_t pid;
  uint64_t ino;
} pidio_pident_t;

/* A listing, reused from interval to interval so that a steady state
 * allocates nothing. */
typedef struct pidio_pidlist {
  pidio_pident_t *e;
  size_t n, cap;
} pidio_pidlist_t;

int pidio_proc_open(pidio_proc_t *p, const char *root);

/* True when the root is a proc file system (a copy or a fixture tree is
 * not: it works, but its numbers do not move). */
bool pidio_proc_is_procfs(const pidio_proc_t *p);
void pidio_proc_close(pidio_proc_t *p);

/* List the numeric entries of the root, sorted by pid. */
int pidio_proc_list(const pidio_proc_t *p, pidio_pidlist_t *out);
void pidio_pidlist_free(pidio_pidlist_t *l);

/* Order of pidio_pident_t by pid, for qsort. */
int pidio_pident_cmp(const void *a, const void *b);

/* The last pid the kernel allocated in the root's pid namespace: every
 * process born since an earlier reading has a pid after that reading's, up
 * to this one (pids wrap at pid_max). -ENOTSUP when the root is not this
 * process's own procfs (a fixture tree, another namespace's procfs). */
int pidio_proc_last_pid(const pidio_proc_t *p, pid_t *out);

/* Look up one pid without listing the root: 1 and *out (pid and inode, as
 * a listing gives them) when it is a process, 0 when there is no such pid
 * or it is a thread (procfs answers a lookup of a thread id, but does not
 * list it, and its io file is its whole process's), or a negative errno. */
int pidio_proc_probe(const pidio_proc_t *p, pid_t pid, pidio_pident_t *out);

/* Look up one pid's directory without reading anything in it: 1 and *out
 * (pid and inode) when <root>/<pid> is a directory (a thread id gives one
 * too), 0 when there is none, or a negative errno. */
int pidio_proc_lookup(const pidio_proc_t *p, pid_t pid, pidio_pident_t *out);

/* Open /proc/<pid> as a directory. Files opened relative to it belong to
 * the same process even if the pid is reused in between. */
int pidio_proc_open_pid(const pidio_proc_t *p, pid_t pid);

/* Read a small file relative to a directory descriptor, at most bufsz - 1
 * bytes, NUL-terminated. *truncated tells whether the file was longer (may
 * be NULL when the caller treats truncation as an error: then -EFBIG). */
int pidio_proc_read_at(int dirfd, const char *name, char *buf, size_t bufsz,
                       size_t *len, int *truncated);

/* Read a file that may be long, up to cap bytes, relative to a directory
 * descriptor: into buf (bufsz bytes, usually on the caller's stack) while
 * it fits, else into memory allocated here, which the caller frees when
 * *out != buf. *out is NUL-terminated; *truncated tells whether the file
 * was longer than cap. One open, so the text is one process's. */
int pidio_proc_read_long(int dirfd, const char *name, char *buf, size_t bufsz,
                         size_t cap, char **out, size_t *len, int *truncated);

/* Open the io file of an opened process directory; the descriptor is meant
 * to be held and re-read with pidio_proc_read_io. */
int pidio_proc_open_io(int pid_dirfd);

/* pread the io file from offset 0 and parse it. -EINVAL/-ERANGE for a
 * file that does not parse. */
int pidio_proc_read_io(int io_fd, pidio_io_t *out);

/* At least what an opened process has absorbed from its exited threads
 * and from the children it reaped (wait()), since it was born: its io
 * file less the io of each of its live threads. The threads are read
 * first, so that what they do meanwhile can only raise the figure: a
 * field that is below a child's totals proves the process did not fold
 * that child. Task directories whose name is not a whole number are not
 * tasks and are skipped; -ERANGE when the threads' sum does not fit in 64
 * bits (not a kernel's figures). */
int pidio_proc_read_absorbed(int pid_dirfd, pidio_io_t *out);

/* 1 when an opened process ignores SIGCHLD (SIG_IGN): the kernel then
 * reaps its children itself and folds nothing into it. 0 when it does not,
 * or a negative errno. (SA_NOCLDWAIT has the same effect and is not shown
 * anywhere in /proc.) */
int pidio_proc_ignores_sigchld(int pid_dirfd);

/* Read and parse <pid>/stat of an opened process directory. */
int pidio_proc_read_stat(int pid_dirfd, pidio_stat_t *out);

/* Read a pidfile without ever blocking, reading unbounded or opening what
 * is not a regular file (opening a fifo would release a writer blocked in
 * open()): it must be a regular file (-ENOTSUP for a fifo, a device or a
 * directory, also behind a symlink) of at most 64 bytes (-EFBIG) holding a
 * pid (-EINVAL, or -ERANGE past PIDIO_PID_MAX). The checked inode is
 * reopened through /proc/self/fd; without a procfs at /proc nothing is
 * opened and the answer is -ENODEV. */
int pidio_read_pidfile(const char *path, pid_t *out);

/* What went wrong with a pidfile, from pidio_read_pidfile's error, as a
 * phrase that follows the file's name: "does not hold a process id". */
const char *pidio_pidfile_strerror(int err);

/* Clock ticks per second: the unit of stat's start_time. */
long pidio_proc_hz(void);

/* Clock ticks since boot now, in the unit of stat's start_time. */
uint64_t pidio_proc_boot_ticks(void);

#endif /* PIDIO_PROC_H */
