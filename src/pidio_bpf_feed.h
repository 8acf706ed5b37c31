/*
 * pidio_bpf_feed: one BPF reader shared by every consumer of a process
 * (the plugin's blocks, each read on its own collectd thread and interval).
 *
 * The kernel side can be loaded once per process only sensibly: its exit
 * tracepoint costs every exit of the machine, once per loaded copy. A feed
 * owns that one reader and
 *  - drains its ring buffer on a thread of its own every drain period
 *    (100 ms by default: the ring never wakes anyone), into a log of exit
 *    records that each subscriber reads at its own pace through a cursor;
 *    records every subscriber has read are dropped;
 *  - shares passes: a subscriber asking for a pass no older than max_age
 *    gets the last one, so blocks that read in the same second walk the
 *    machine's tasks once;
 *  - counts exit records the kernel side could not send (ring full, map
 *    full) since each subscriber last looked: they are lost to every
 *    subscriber alike, since nobody can tell whose they were.
 * It knows nothing of blocks or collectd. All functions are thread-safe.
 */
#ifndef PIDIO_BPF_FEED_H
#define PIDIO_BPF_FEED_H

#include "pidio_bpf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pidio_bpf_feed pidio_bpf_feed_t;

/* Where a feed's records come from: the BPF reader, or a test's. */
typedef struct pidio_bpf_source {
  void *ctx;
  int (*pass)(void *ctx, pidio_bpf_proc_fn fn, void *fnctx);
  int (*drain)(void *ctx, pidio_bpf_exit_fn fn, void *fnctx);
  /* Exit records that could not be sent, in all so far. */
  uint64_t (*lost)(void *ctx);
  void (*close)(void *ctx);
} pidio_bpf_source_t;

typedef struct pidio_bpf_feed_opts {
  long drain_ms; /* 0 = 100; < 0: no drain thread (tests drain by hand) */
} pidio_bpf_feed_opts_t;

/* A feed over src (which it owns from now on, also on failure). */
int pidio_bpf_feed_new(pidio_bpf_feed_t **out, const pidio_bpf_source_t *src,
                       const pidio_bpf_feed_opts_t *opts);

/* A feed over a newly opened BPF reader: 0, or a negative errno and the
 * reason in why (see pidio_bpf_open). */
int pidio_bpf_feed_open(pidio_bpf_feed_t **out, const pidio_bpf_opts_t *o,
                        const pidio_bpf_feed_opts_t *fo, char *why,
                        size_t whysz);

/* Stop the drain thread, close the source, free everything. Every
 * subscriber must have unsubscribed. */
void pidio_bpf_feed_free(pidio_bpf_feed_t *f);

/* A subscriber: reads the exit records logged from now on. */
typedef struct pidio_bpf_sub {
  uint64_t cursor; /* sequence number of the next record to read */
  uint64_t lost_seen; /* the source's lost count when it last looked */
  int id;
} pidio_bpf_sub_t;

int pidio_bpf_feed_subscribe(pidio_bpf_feed_t *f, pidio_bpf_sub_t *s);
void pidio_bpf_feed_unsubscribe(pidio_bpf_feed_t *f, pidio_bpf_sub_t *s);

/* Drain the source now (the drain thread does this every period). */
int pidio_bpf_feed_drain(pidio_bpf_feed_t *f);

/* Hand s every exit record logged since it last asked, in the order the
 * kernel sent them (fn must not call back into the feed), and in *lost
 * the exits lost since then. Returns how many records. */
size_t pidio_bpf_feed_exits(pidio_bpf_feed_t *f, pidio_bpf_sub_t *s,
                            void (*fn)(const pidio_bpf_exit_t *e, void *ctx),
                            void *ctx, uint64_t *lost);

/* A pass no older than max_age_ns (0: a new one), as an array of records
 * sorted by pid, shared and read-only: release it with
 * pidio_bpf_feed_release. 0, or a negative errno. */
typedef struct pidio_bpf_snap {
  const pidio_bpf_proc_t *p;
  size_t n;
  int64_t taken_ns; /* CLOCK_MONOTONIC when the pass began */
  void *buf;        /* the feed's, for the release */
} pidio_bpf_snap_t;
int pidio_bpf_feed_pass(pidio_bpf_feed_t *f, int64_t max_age_ns,
                        pidio_bpf_snap_t *out);
void pidio_bpf_feed_release(pidio_bpf_feed_t *f, pidio_bpf_snap_t *s);

/* The record of pid in a snapshot, or NULL. */
const pidio_bpf_proc_t *pidio_bpf_snap_find(const pidio_bpf_snap_t *s,
                                            pid_t pid);

/* A block's view of the feed (see pidio_ownio.h): a subscription, passes
 * shared within max_age_ns, and a drain before each read of the exits.
 * 0 and *out, or -ENOMEM. pidio_bpf_feed_detach undoes it. */
int pidio_bpf_feed_attach(pidio_bpf_feed_t *f, int64_t max_age_ns,
                          pidio_ownio_t *out);
void pidio_bpf_feed_detach(pidio_bpf_feed_t *f, pidio_ownio_t *o);

/* Records in the log now (for tests and memory checks). */
size_t pidio_bpf_feed_logged(pidio_bpf_feed_t *f);

#endif /* PIDIO_BPF_FEED_H */
