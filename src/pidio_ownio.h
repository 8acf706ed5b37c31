/*
 * pidio_ownio: processes' own I/O as a kernel-side reader reports it, and
 * what a block asks of such a reader. Plain types and one inline search:
 * the reader itself (the BPF one, pidio_bpf) lives in a library of its
 * own, so the core and its other users need no libbpf.
 *
 * "Own I/O" is the I/O of a process's threads, live and exited, without
 * the totals of the children it reaped: unlike /proc/<pid>/io, it does not
 * fold children into their parent.
 */
#ifndef PIDIO_OWNIO_H
#define PIDIO_OWNIO_H

#include "pidio_parse.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Flags of a record (the same bits as the BPF side's). */
#define PIDIO_BPF_F_UNSTABLE 0x1  /* no value: io and delay are not usable */
#define PIDIO_BPF_F_NO_DELAY 0x2  /* a thread had no delay accounting */
#define PIDIO_BPF_F_EXEC_SEEN 0x4 /* exit: exe and cmdline are from an exec */
#define PIDIO_BPF_F_ARGS_CUT 0x8  /* exit: cmdline was cut */
/* Pass: the process is exiting or has ended (a zombie): its exit record
 * holds the final figures, and io here is not a value. */
#define PIDIO_BPF_F_ENDED 0x10
/* Exit: cgroup holds the process's cgroup v2 path, read at its exit. */
#define PIDIO_BPF_F_CGROUP 0x20
/* Exit (with EXEC_SEEN): exe holds the path of the program run. */
#define PIDIO_BPF_F_EXE 0x40

/* One process, from an iterator pass or an exit record. */
typedef struct pidio_bpf_proc {
  pid_t pid;         /* thread group id */
  uint64_t start;    /* clock ticks after boot, as /proc/<pid>/stat's */
  uint64_t start_ns; /* the same, in ns (the kernel's own unit) */
  pid_t ppid;
  uint64_t pstart; /* the parent's start, clock ticks after boot */
  uid_t uid;       /* real uid */
  char comm[16];
  pidio_io_t io;            /* own I/O */
  uint64_t blkio_delay_ns;  /* waiting for block I/O, live + exited threads */
  unsigned nthreads;        /* live threads summed (exit records: 0) */
  unsigned flags;           /* PIDIO_BPF_F_* */
} pidio_bpf_proc_t;

/* A process's end. */
typedef struct pidio_bpf_exit {
  pidio_bpf_proc_t p;
  uint64_t exit_ns; /* ns after boot (CLOCK_BOOTTIME) */
  /* The parent that forked it, and that parent's start (clock ticks after
   * boot): p.ppid names a reaper instead once that parent has exited.
   * fork_ppid is 0 when the fork was before the reader was loaded. */
  pid_t fork_ppid;
  uint64_t fork_pstart;
  /* With PIDIO_BPF_F_EXEC_SEEN, what the process's last exec showed: with
   * PIDIO_BPF_F_EXE, the absolute path of the program it ran (what
   * /proc/<pid>/exe showed then: for a script, its interpreter), empty
   * when it was too long for the record; and the start of its command
   * line, arguments joined by single spaces as pidio_parse_cmdline does.
   * Empty otherwise. */
  char exe[513];
  char cmdline[129];
  /* With PIDIO_BPF_F_CGROUP: the cgroup v2 path from the hierarchy's root
   * ("/" for the root itself), as the kernel had it at the exit, whether
   * or not the cgroup still exists. Empty otherwise (a path longer than
   * the kernel side keeps, or one it could not read). */
  char cgroup[513];
} pidio_bpf_exit_t;

/* The record of pid among n records sorted by pid (a pass), or NULL. Here,
 * inline, so that the core and the reader's library share it without the
 * core linking the reader. */
static inline const pidio_bpf_proc_t *
pidio_ownio_find(const pidio_bpf_proc_t *p, size_t n, pid_t pid) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (p[mid].pid < pid)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && p[lo].pid == pid ? &p[lo] : NULL;
}

/* What a block reads through: one subscription to a shared reader. */
typedef struct pidio_ownio {
  void *ctx;
  /* A round begins: take (or share) a pass (releasing one an earlier
   * round kept, if it ended early). 0, or a negative errno. */
  int (*begin)(void *ctx);
  /* (pid, start)'s own I/O in this round's pass: 0 and *io (and the ns
   * its threads waited for block I/O, live and exited); -ENOENT when
   * the pass does not have it (born after the pass began, or gone);
   * -ESRCH when it has ended (its exit record has or will have its final
   * figures); -EAGAIN when its snapshot never settled (no value). */
  int (*read)(void *ctx, pid_t pid, uint64_t start, pidio_io_t *io,
              uint64_t *blkio_delay_ns);
  /* Every exit record since the last call (drained now), and in *lost
   * the exits whose record was lost meanwhile. */
  void (*exits)(void *ctx, void (*fn)(const pidio_bpf_exit_t *e, void *c),
                void *c, uint64_t *lost);
  /* This round's pass (after begin, until end): every process of the
   * machine but kernel threads, sorted by pid, with its start, parent,
   * uid and comm. A block finds its processes here instead of listing
   * /proc. Returns how many, the array in *out. */
  size_t (*procs)(void *ctx, const pidio_bpf_proc_t **out);
  /* The round is over: release the pass. */
  void (*end)(void *ctx);
} pidio_ownio_t;

#endif /* PIDIO_OWNIO_H */
