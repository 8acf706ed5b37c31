/*
 * pidio_bpf_rec.h: the records the BPF side hands to user space, and
 * nothing else. Included by both sides (pidio.bpf.c and pidio_bpf.c), so
 * only fixed-size kernel types and no padding the two compilers could lay
 * out differently.
 */
#ifndef PIDIO_BPF_REC_H
#define PIDIO_BPF_REC_H

#include <linux/types.h>

#define PIDIO_BPF_NIO 7 /* rchar ... cancelled_write_bytes, /proc's order */
#define PIDIO_BPF_COMM 16
#define PIDIO_BPF_ARGS 128 /* bytes of the command line, NUL-separated */
/* A path as the kernel side walks it (the program an exec ran, a cgroup
 * v2 path): its components from the leaf up to (not including) the root,
 * each NUL-terminated, zero-filled after the last. A component is read at
 * an offset below PIDIO_BPF_PATH / 2, at most NAME_MAX + 1 bytes. */
#define PIDIO_BPF_PATH 512
#define PIDIO_BPF_DEPTH 32 /* steps of a walk at most (mounts crossed too) */

/* kind: what a record is. */
#define PIDIO_BPF_REC_PROC 1 /* one process from an iterator pass */
#define PIDIO_BPF_REC_EXIT 2 /* a process's final record, once, at its end */

/* flags */
/* The snapshot did not settle (threads kept exiting while it was summed):
 * io and delay are NOT a value, only a request to read the process again. */
#define PIDIO_BPF_UNSTABLE 0x1
/* Some thread has no delay accounting (kernel.task_delayacct was off when
 * it started): blkio_delay_ns is low. */
#define PIDIO_BPF_NO_DELAY 0x2
/* Exit record: the process did exec while the programs were loaded, and
 * exe/args hold what that exec showed. */
#define PIDIO_BPF_EXEC_SEEN 0x4
/* The args were cut at PIDIO_BPF_ARGS bytes. */
#define PIDIO_BPF_ARGS_CUT 0x8
/* Iterator record of a process that is exiting or has ended (every thread
 * past the start of its exit, or a zombie): its exit record has, or will
 * have, the final figures; io here is NOT a value. */
#define PIDIO_BPF_ENDED 0x10
/* Exit record: cgroup holds the whole cgroup v2 path (the walk reached the
 * root within PIDIO_BPF_DEPTH steps and PIDIO_BPF_PATH bytes). */
#define PIDIO_BPF_CGROUP_SEEN 0x20
/* Exit record (with EXEC_SEEN): exe holds the whole path of the program
 * the last exec ran, walked the same way. */
#define PIDIO_BPF_EXE_SEEN 0x40

/* One process: its own I/O (live threads plus threads that exited since the
 * programs were loaded; never the children it reaped). */
struct pidio_bpf_proc_rec {
  __u16 size; /* sizeof the whole record, to reject a foreign layout */
  __u16 kind;
  __u32 flags;
  __u32 tgid;
  __u32 ppid;
  __u64 start_ns;  /* the leader's start, ns since boot */
  __u64 pstart_ns; /* the parent's leader's start, ns since boot */
  __u32 uid;       /* real uid */
  __u32 nthreads;  /* live threads summed (exit record: 0) */
  __u64 io[PIDIO_BPF_NIO];
  __u64 blkio_delay_ns;
  __u64 cgroup_id; /* exit record with a cgroup path: the cgroup v2 id
                    * (kernfs inode number); otherwise 0 */
  char comm[PIDIO_BPF_COMM];
};

/* A process's end: its final own totals, once, when the update of its last
 * thread is done. Sent only up to the end of its paths: most bytes of
 * paths are unused, and a record's size is what fills the ring buffer. */
struct pidio_bpf_exit_rec {
  struct pidio_bpf_proc_rec p; /* p.size: sizeof the whole struct */
  __u64 exit_ns; /* when the last thread's update was done, ns since boot */
  /* The parent it was forked by, which ppid no longer names once that
   * parent has exited (the child is handed to a reaper); 0 when the fork
   * was before the programs were loaded. */
  __u64 fork_pstart_ns;
  __u32 fork_ppid;
  __u16 exe_len;    /* bytes of the program's path at the start of paths */
  __u16 cgroup_len; /* bytes of the cgroup's path right after it */
  char args[PIDIO_BPF_ARGS];
  char paths[2 * PIDIO_BPF_PATH];
};
/* The record's size without its paths. */
#define PIDIO_BPF_EXIT_HEAD 280

/* The maps' layouts, which user space reads to sweep entries left behind
 * by processes whose end was never seen whole. */
struct pidio_bpf_key {
  __u64 start_ns; /* the leader's start, ns since boot */
  __u32 tgid;
  __u32 pad; /* always 0: keys are compared as bytes */
};

/* procs: one process's exited threads. */
struct pidio_bpf_state {
  __u64 word;    /* begun << 32 | ended: see pidio.bpf.c */
  __u64 emitted; /* 0 until the exit record is sent (compare-and-swap) */
  __u64 created_ns;
  __u64 io[PIDIO_BPF_NIO];
  __u64 blkio_delay_ns;
  __u64 no_delay; /* exited threads without delay accounting */
};

/* execs: what a process's last exec showed. */
struct pidio_bpf_exec {
  __u64 flags; /* PIDIO_BPF_ARGS_CUT, PIDIO_BPF_EXE_SEEN */
  __u64 created_ns;
  __u64 exe_len; /* bytes of exe used */
  char exe[PIDIO_BPF_PATH];
  char args[PIDIO_BPF_ARGS];
};

/* cgpaths: a cgroup v2 path by the cgroup's id, as cgroup_path walks it
 * (len bytes of path). */
struct pidio_bpf_cgpath {
  __u64 len;
  char path[PIDIO_BPF_PATH];
};

/* origins: a process's parent at its fork (task storage of its leader). */
struct pidio_bpf_origin {
  __u64 pstart_ns;
  __u32 ppid;
  __u32 pad;
};

/* Counters the BPF side keeps in its .bss (all only ever increase). */
struct pidio_bpf_counters {
  __u64 exits;       /* process exit records emitted to the ring buffer */
  __u64 ring_full;   /* exit records lost: the ring buffer was full */
  __u64 map_full;    /* processes whose exited threads could not be kept */
  __u64 mark_failed; /* threads whose exit mark could not be stored */
  __u64 exec_full;   /* execs whose identity could not be kept */
  __u64 origin_failed; /* forks whose parent could not be kept */
};

/* The counters are kept in slots, one per CPU (CPUs beyond the slots share
 * one, by number modulo PIDIO_BPF_COUNTER_SLOTS), a cache line each: one
 * counter word written by every exit of the machine moved its cache line
 * between CPUs at every exit. Added atomically all the same (a program can
 * be preempted on its CPU; CPUs may share a slot); user space sums them. */
#define PIDIO_BPF_COUNTER_SLOTS 64
struct pidio_bpf_counter_slot {
  struct pidio_bpf_counters c;
  __u64 pad[2]; /* to 64 bytes */
};

#endif /* PIDIO_BPF_REC_H */
