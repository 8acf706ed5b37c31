/*
 * pidio_bpf: the kernel-side (BPF) reader, user side.
 *
 * Loads the BPF programs of src/bpf/pidio.bpf.c (a task iterator, and
 * tracepoints at exec and at every thread's exit) and hands the caller:
 *  - per iterator pass, one record per process of the machine with its own
 *    I/O: the counters of its live threads plus those of its threads that
 *    exited since the programs were loaded, never the totals of the
 *    children it reaped (which /proc/<pid>/io adds in);
 *  - per process that ends, one exit record with its final own I/O, sent
 *    once, when the update of its last thread is done, through a ring
 *    buffer that the caller drains on its own schedule (no wakeup per
 *    record). Records that could not be sent are counted, never silent.
 * It knows nothing of collectd or of blocks; the BPF side knows nothing of
 * pidio's other modules.
 *
 * Own I/O is counted from the load on: a thread that exited before the
 * programs were loaded is in no figure, so the first figure of a process
 * already running is a baseline, as it is for the procfs reader.
 *
 * A pass and a drain may run at the same time on two threads; neither
 * may run concurrently with itself or with pidio_bpf_close.
 */
#ifndef PIDIO_BPF_H
#define PIDIO_BPF_H

#include "pidio_ownio.h"
#include "pidio_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct pidio_bpf pidio_bpf_t;

typedef struct pidio_bpf_opts {
  /* Bytes of the exit ring buffer: a power of two, at least a page;
   * 0 = PIDIO_BPF_RING_DEFAULT. */
  size_t ring_bytes;
  /* Processes whose exited threads, and whose exec identity, the kernel
   * side can keep at once; 0 = PIDIO_BPF_PROCS_DEFAULT. */
  uint32_t max_procs;
  /* Kernel BTF to use instead of the running kernel's (libbpf's
   * btf_custom_path); NULL for the kernel's own. Tests point it at a
   * file that is not BTF to see the reader refuse cleanly. */
  const char *btf_path;
  /* What no caller needs (zero: everything is kept). skip_exec: no exec
   * identity (the program's path and arguments an exec showed, which exit
   * records carry for a process never seen alive): the exec program is
   * not loaded, and the kernel keeps nothing per exec'd process.
   * skip_cgroup: exit records carry no cgroup path (no walk up the cgroup
   * tree at every exit). See pidio_opts_kernel_needs. */
  bool skip_exec;
  bool skip_cgroup;
} pidio_bpf_opts_t;

/* 4 MiB: about 13 000 exit records of about 320 bytes (288 with the ring's
 * 8-byte header, plus the program's and the cgroup's paths): a second of a
 * 10 000-exits-per-second storm at a drain every 100 ms holds 1 000. */
#define PIDIO_BPF_RING_DEFAULT ((size_t)4 << 20)
#define PIDIO_BPF_PROCS_DEFAULT 65536u

/* What the reader counted since it was opened. */
typedef struct pidio_bpf_stats {
  uint64_t exits;     /* exit records sent by the kernel side */
  uint64_t delivered; /* exit records handed to a drain callback */
  /* Process ends with no record: the ring buffer was full, a process's
   * exited threads could not be kept (map full), or a thread's exit mark
   * could not be stored. */
  uint64_t lost;
  uint64_t ring_full, map_full, mark_failed;
  uint64_t exec_full; /* execs whose identity could not be kept */
  uint64_t origin_failed; /* forks whose parent could not be kept */
  uint64_t bad;       /* records that did not decode (never expected) */
  uint64_t rereads;   /* processes read again because a snapshot was busy */
  uint64_t unsettled; /* ... and delivered flagged after all re-reads */
  uint64_t swept;     /* kernel entries of processes gone without a record */
} pidio_bpf_stats_t;

/* libbpf's messages, which are process-wide: the first call routes them to
 * fn (level: 0 warning, 1 info, 2 debug); later calls change fn. */
typedef void (*pidio_bpf_log_fn)(int level, const char *msg, void *ctx);
void pidio_bpf_set_logger(pidio_bpf_log_fn fn, void *ctx);

/* Open, load and attach. 0 and *out, or a negative errno and, in why, a
 * sentence saying what is missing and what to grant or install. */
int pidio_bpf_open(pidio_bpf_t **out, const pidio_bpf_opts_t *opts,
                   char *why, size_t whysz);

/* Detach and free everything: no link, map or descriptor is left. */
void pidio_bpf_close(pidio_bpf_t *b);

/* One iterator pass: fn for every process of the machine (of the initial
 * pid namespace), with a settled snapshot; a process whose snapshot did not
 * settle is read again after the pass, and handed over with
 * PIDIO_BPF_F_UNSTABLE only when it never did. A process that has ended
 * comes with PIDIO_BPF_F_ENDED. With either flag io is not a value. fn returning non-zero stops
 * the pass (that value is returned). 0, or a negative errno. */
typedef int (*pidio_bpf_proc_fn)(const pidio_bpf_proc_t *p, void *ctx);
int pidio_bpf_pass(pidio_bpf_t *b, pidio_bpf_proc_fn fn, void *ctx);

/* Hand every exit record waiting in the ring buffer to fn (raw: the record
 * as the kernel wrote it, for diagnostics). Returns how many, or a negative
 * errno. */
typedef void (*pidio_bpf_exit_fn)(const pidio_bpf_exit_t *e, const void *raw,
                                  size_t rawlen, void *ctx);
int pidio_bpf_drain(pidio_bpf_t *b, pidio_bpf_exit_fn fn, void *ctx);

void pidio_bpf_get_stats(const pidio_bpf_t *b, pidio_bpf_stats_t *out);

/* Kernel memory the reader's maps use now, as the kernel counts it (the
 * "memlock" of each map's fdinfo): per process kept, and the ring buffer.
 * 0 when it cannot be read. */
uint64_t pidio_bpf_kernel_bytes(const pidio_bpf_t *b);

/* Make room for need elements of elem bytes in *p (capacity *cap): first
 * on the first call, then doubling. 0, or -ENOMEM with *p unchanged. */
int pidio_bpf_grow(void **p, size_t *cap, size_t need, size_t elem,
                   size_t first);

/* The decoders, pure: a record as the kernel side wrote it (from an
 * iterator pass or the ring buffer) into the caller's struct. hz is the
 * clock-tick rate of /proc (sysconf(_SC_CLK_TCK)). -EINVAL for a record of
 * another size or kind. */
int pidio_bpf_decode_proc(const void *data, size_t len, long hz,
                          pidio_bpf_proc_t *out);
int pidio_bpf_decode_exit(const void *data, size_t len, long hz,
                          pidio_bpf_exit_t *out);

/* The size of an iterator record, and of the largest exit record (one is
 * as long as its paths). */
size_t pidio_bpf_proc_rec_size(void);
size_t pidio_bpf_exit_rec_size(void);

#endif /* PIDIO_BPF_H */
