/*
 * pidio_bpf_feed: one BPF reader shared by every consumer. See
 * pidio_bpf_feed.h.
 */
#include "pidio_build.h"

#include "pidio_bpf_feed.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A pass, shared while anyone holds it. */
typedef struct snapbuf {
  pidio_bpf_proc_t *p;
  size_t n, cap;
  int64_t taken_ns;
  int refs; /* holders, plus one while it is the feed's latest */
} snapbuf_t;

struct pidio_bpf_feed {
  pidio_bpf_source_t src;

  /* The log of exit records: record k (k from 0) has sequence number
   * base + k. */
  pthread_mutex_t lock;
  pidio_bpf_exit_t *log;
  size_t nlog, cap;
  uint64_t base;
  pidio_bpf_sub_t **subs;
  size_t nsubs, subs_cap;
  int next_id;

  /* The source's drain does not run twice at once. */
  pthread_mutex_t drain_lock;
  pidio_bpf_exit_t *batch; /* one drain's records, then appended at once */
  size_t nbatch, batch_cap;

  /* Passes: one at a time; the latest kept for sharing. */
  pthread_mutex_t pass_lock;
  snapbuf_t *latest;

  pthread_t thread;
  bool thread_on;
  pthread_mutex_t stop_lock;
  pthread_cond_t stop_cond;
  bool stop;
  long drain_ms;
};

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- the exit log ---- */

static void on_exit_batch(const pidio_bpf_exit_t *e, const void *raw,
                          size_t rawlen, void *ctx) {
  (void)raw;
  (void)rawlen;
  pidio_bpf_feed_t *f = ctx;
  /* Out of memory: the record is dropped here, as a full ring would drop
   * it; it cannot be told from one that never came. */
  if (pidio_bpf_grow((void **)&f->batch, &f->batch_cap, f->nbatch + 1,
                     sizeof(*f->batch), 64) == 0)
    f->batch[f->nbatch++] = *e;
}

/* Forget the records every subscriber has read (all of them when there
 * is no subscriber). Called with lock held. */
static void trim(pidio_bpf_feed_t *f) {
  uint64_t low = f->base + f->nlog;
  for (size_t i = 0; i < f->nsubs; i++)
    if (f->subs[i]->cursor < low)
      low = f->subs[i]->cursor;
  size_t drop = (size_t)(low - f->base);
  if (drop == 0)
    return;
  memmove(f->log, f->log + drop, (f->nlog - drop) * sizeof(*f->log));
  f->nlog -= drop;
  f->base = low;
  /* Give memory back after a storm. */
  if (f->cap > 1024 && f->nlog < f->cap / 8) {
    size_t ncap = f->cap / 4;
    pidio_bpf_exit_t *np = realloc(f->log, ncap * sizeof(*f->log));
    if (np != NULL) {
      f->log = np;
      f->cap = ncap;
    }
  }
}

int pidio_bpf_feed_drain(pidio_bpf_feed_t *f) {
  pthread_mutex_lock(&f->drain_lock);
  f->nbatch = 0;
  int n = f->src.drain(f->src.ctx, on_exit_batch, f);
  if (f->nbatch > 0) {
    pthread_mutex_lock(&f->lock);
    if (f->nsubs > 0 &&
        pidio_bpf_grow((void **)&f->log, &f->cap, f->nlog + f->nbatch,
                       sizeof(*f->log), 64) == 0) {
      memcpy(f->log + f->nlog, f->batch, f->nbatch * sizeof(*f->log));
      f->nlog += f->nbatch;
    } else {
      /* Nobody to read them (or no memory): they pass by. */
      f->base += f->nbatch;
      for (size_t i = 0; i < f->nsubs; i++)
        if (f->subs[i]->cursor < f->base)
          f->subs[i]->cursor = f->base;
    }
    pthread_mutex_unlock(&f->lock);
  }
  pthread_mutex_unlock(&f->drain_lock);
  return n;
}

size_t pidio_bpf_feed_exits(pidio_bpf_feed_t *f, pidio_bpf_sub_t *s,
                            void (*fn)(const pidio_bpf_exit_t *e, void *ctx),
                            void *ctx, uint64_t *lost) {
  uint64_t total = f->src.lost(f->src.ctx);
  pthread_mutex_lock(&f->lock);
  size_t from = (size_t)(s->cursor - f->base);
  size_t n = f->nlog - from;
  for (size_t k = from; k < f->nlog; k++)
    fn(&f->log[k], ctx);
  s->cursor = f->base + f->nlog;
  if (lost != NULL)
    *lost = total - s->lost_seen;
  s->lost_seen = total;
  trim(f);
  pthread_mutex_unlock(&f->lock);
  return n;
}

size_t pidio_bpf_feed_logged(pidio_bpf_feed_t *f) {
  pthread_mutex_lock(&f->lock);
  size_t n = f->nlog;
  pthread_mutex_unlock(&f->lock);
  return n;
}

int pidio_bpf_feed_subscribe(pidio_bpf_feed_t *f, pidio_bpf_sub_t *s) {
  uint64_t total = f->src.lost(f->src.ctx);
  pthread_mutex_lock(&f->lock);
  int err = pidio_bpf_grow((void **)&f->subs, &f->subs_cap, f->nsubs + 1,
                           sizeof(*f->subs), 64);
  if (err == 0) {
    s->cursor = f->base + f->nlog;
    s->lost_seen = total;
    s->id = f->next_id++;
    f->subs[f->nsubs++] = s;
  }
  pthread_mutex_unlock(&f->lock);
  return err;
}

void pidio_bpf_feed_unsubscribe(pidio_bpf_feed_t *f, pidio_bpf_sub_t *s) {
  pthread_mutex_lock(&f->lock);
  for (size_t i = 0; i < f->nsubs; i++)
    if (f->subs[i] == s) {
      f->subs[i] = f->subs[--f->nsubs];
      break;
    }
  trim(f);
  pthread_mutex_unlock(&f->lock);
}

/* ---- the drain thread ---- */

static void *drain_thread(void *arg) {
  pidio_bpf_feed_t *f = arg;
  pthread_mutex_lock(&f->stop_lock);
  while (!f->stop) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += (f->drain_ms % 1000) * 1000000L;
    until.tv_sec += f->drain_ms / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (!f->stop &&
           pthread_cond_timedwait(&f->stop_cond, &f->stop_lock, &until) == 0)
      ;
    if (f->stop)
      break;
    pthread_mutex_unlock(&f->stop_lock);
    pidio_bpf_feed_drain(f);
    pthread_mutex_lock(&f->stop_lock);
  }
  pthread_mutex_unlock(&f->stop_lock);
  return NULL;
}

/* ---- passes ---- */

static void snap_put(snapbuf_t *sb) {
  if (sb != NULL && --sb->refs == 0) {
    free(sb->p);
    free(sb);
  }
}

static int snap_add(const pidio_bpf_proc_t *p, void *ctx) {
  snapbuf_t *sb = ctx;
  if (pidio_bpf_grow((void **)&sb->p, &sb->cap, sb->n + 1, sizeof(*sb->p),
                     64) != 0)
    return -ENOMEM;
  sb->p[sb->n++] = *p;
  return 0;
}

static int by_pid(const void *a, const void *b) {
  pid_t x = ((const pidio_bpf_proc_t *)a)->pid;
  pid_t y = ((const pidio_bpf_proc_t *)b)->pid;
  return (x > y) - (x < y);
}

int pidio_bpf_feed_pass(pidio_bpf_feed_t *f, int64_t max_age_ns,
                        pidio_bpf_snap_t *out) {
  pthread_mutex_lock(&f->pass_lock);
  int64_t now = mono_ns();
  snapbuf_t *sb = f->latest;
  if (sb == NULL || max_age_ns <= 0 || now - sb->taken_ns > max_age_ns) {
    sb = calloc(1, sizeof(*sb));
    if (sb == NULL) {
      pthread_mutex_unlock(&f->pass_lock);
      return -ENOMEM;
    }
    sb->taken_ns = now;
    sb->refs = 1;
    /* Room for as many processes as the last pass had, and some: a pass
     * then fills its array without the copies of growing it from 64 by
     * doubling, and the allocator is not left holding the freed steps
     * (one pass of 10 000 processes is 1.4 MB). */
    if (f->latest != NULL) {
      size_t want = f->latest->n + f->latest->n / 8 + 64;
      (void)pidio_bpf_grow((void **)&sb->p, &sb->cap, want, sizeof(*sb->p),
                           want); /* out of memory: grown as it fills */
    }
    int err = f->src.pass(f->src.ctx, snap_add, sb);
    if (err != 0) {
      snap_put(sb);
      pthread_mutex_unlock(&f->pass_lock);
      return err < 0 ? err : -EIO;
    }
    /* In pid order (the iterator walks pids in order), except the
     * processes read again after the pass: sort only then. */
    size_t sorted = 1;
    while (sorted < sb->n && sb->p[sorted - 1].pid < sb->p[sorted].pid)
      sorted++;
    if (sorted < sb->n)
      qsort(sb->p, sb->n, sizeof(*sb->p), by_pid);
    snap_put(f->latest);
    f->latest = sb;
  }
  sb->refs++;
  out->p = sb->p;
  out->n = sb->n;
  out->taken_ns = sb->taken_ns;
  out->buf = sb;
  pthread_mutex_unlock(&f->pass_lock);
  return 0;
}

void pidio_bpf_feed_release(pidio_bpf_feed_t *f, pidio_bpf_snap_t *s) {
  if (s->buf == NULL)
    return;
  pthread_mutex_lock(&f->pass_lock);
  snap_put(s->buf);
  pthread_mutex_unlock(&f->pass_lock);
  memset(s, 0, sizeof(*s));
}

const pidio_bpf_proc_t *pidio_bpf_snap_find(const pidio_bpf_snap_t *s,
                                            pid_t pid) {
  return pidio_ownio_find(s->p, s->n, pid);
}

/* ---- a block's view ---- */

typedef struct attached {
  pidio_bpf_feed_t *f;
  pidio_bpf_sub_t sub;
  pidio_bpf_snap_t snap;
  size_t next; /* in snap: after the record last found */
  int64_t max_age_ns;
} attached_t;

static int att_begin(void *ctx) {
  attached_t *a = ctx;
  pidio_bpf_feed_release(a->f, &a->snap);
  a->next = 0;
  return pidio_bpf_feed_pass(a->f, a->max_age_ns, &a->snap);
}

/* The record of pid in the attachment's snapshot. A block reads its
 * members in birth order, which is pid order until pids wrap, so the
 * record sought is most often at or just after the last one found: a few
 * records looked at in a row instead of a search over the whole pass,
 * whose records (tens of thousands on a big machine) are far apart in
 * memory. */
static const pidio_bpf_proc_t *att_find(attached_t *a, pid_t pid) {
  const pidio_bpf_snap_t *s = &a->snap;
  const pidio_bpf_proc_t *p = NULL;
  for (size_t i = a->next; i < s->n && i < a->next + 4; i++) {
    if (s->p[i].pid >= pid) {
      if (s->p[i].pid == pid)
        p = &s->p[i];
      break;
    }
  }
  if (p == NULL)
    p = pidio_bpf_snap_find(s, pid);
  if (p != NULL)
    a->next = (size_t)(p - s->p) + 1;
  return p;
}

static int att_read(void *ctx, pid_t pid, uint64_t start, pidio_io_t *io,
                    uint64_t *blkio_delay_ns) {
  attached_t *a = ctx;
  const pidio_bpf_proc_t *p = att_find(a, pid);
  if (p == NULL || p->start != start)
    return -ENOENT;
  if (p->flags & PIDIO_BPF_F_ENDED)
    return -ESRCH;
  if (p->flags & PIDIO_BPF_F_UNSTABLE)
    return -EAGAIN;
  *io = p->io;
  *blkio_delay_ns = p->blkio_delay_ns;
  return 0;
}

static size_t att_procs(void *ctx, const pidio_bpf_proc_t **out) {
  attached_t *a = ctx;
  *out = a->snap.p;
  return a->snap.n;
}

static void att_exits(void *ctx, void (*fn)(const pidio_bpf_exit_t *e, void *c),
                      void *c, uint64_t *lost) {
  attached_t *a = ctx;
  /* Everything that ended before now, not only up to the last period. */
  pidio_bpf_feed_drain(a->f);
  pidio_bpf_feed_exits(a->f, &a->sub, fn, c, lost);
}

static void att_end(void *ctx) {
  attached_t *a = ctx;
  pidio_bpf_feed_release(a->f, &a->snap);
}

int pidio_bpf_feed_attach(pidio_bpf_feed_t *f, int64_t max_age_ns,
                          pidio_ownio_t *out) {
  attached_t *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return -ENOMEM;
  a->f = f;
  a->max_age_ns = max_age_ns;
  int err = pidio_bpf_feed_subscribe(f, &a->sub);
  if (err != 0) {
    free(a);
    return err;
  }
  *out = (pidio_ownio_t){.ctx = a,
                         .begin = att_begin,
                         .read = att_read,
                         .procs = att_procs,
                         .exits = att_exits,
                         .end = att_end};
  return 0;
}

void pidio_bpf_feed_detach(pidio_bpf_feed_t *f, pidio_ownio_t *o) {
  attached_t *a = o->ctx;
  if (a == NULL)
    return;
  pidio_bpf_feed_release(f, &a->snap);
  pidio_bpf_feed_unsubscribe(f, &a->sub);
  free(a);
  o->ctx = NULL;
}

/* ---- life ---- */

int pidio_bpf_feed_new(pidio_bpf_feed_t **out, const pidio_bpf_source_t *src,
                       const pidio_bpf_feed_opts_t *opts) {
  pidio_bpf_feed_t *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    src->close(src->ctx);
    return -ENOMEM;
  }
  f->src = *src;
  f->drain_ms = opts != NULL && opts->drain_ms != 0 ? opts->drain_ms : 100;
  pthread_mutex_init(&f->lock, NULL);
  pthread_mutex_init(&f->drain_lock, NULL);
  pthread_mutex_init(&f->pass_lock, NULL);
  pthread_mutex_init(&f->stop_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&f->stop_cond, &ca);
  pthread_condattr_destroy(&ca);
  if (f->drain_ms > 0) {
    int err = pthread_create(&f->thread, NULL, drain_thread, f);
    if (err != 0) {
      pidio_bpf_feed_free(f);
      return -err;
    }
    f->thread_on = true;
  }
  *out = f;
  return 0;
}

void pidio_bpf_feed_free(pidio_bpf_feed_t *f) {
  if (f == NULL)
    return;
  if (f->thread_on) {
    pthread_mutex_lock(&f->stop_lock);
    f->stop = true;
    pthread_cond_signal(&f->stop_cond);
    pthread_mutex_unlock(&f->stop_lock);
    pthread_join(f->thread, NULL);
  }
  f->src.close(f->src.ctx);
  snap_put(f->latest);
  free(f->log);
  free(f->batch);
  free(f->subs);
  pthread_cond_destroy(&f->stop_cond);
  pthread_mutex_destroy(&f->stop_lock);
  pthread_mutex_destroy(&f->pass_lock);
  pthread_mutex_destroy(&f->drain_lock);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

/* The BPF reader as a source. */
static int bpf_src_pass(void *ctx, pidio_bpf_proc_fn fn, void *fnctx) {
  return pidio_bpf_pass(ctx, fn, fnctx);
}
static int bpf_src_drain(void *ctx, pidio_bpf_exit_fn fn, void *fnctx) {
  return pidio_bpf_drain(ctx, fn, fnctx);
}
static uint64_t bpf_src_lost(void *ctx) {
  pidio_bpf_stats_t st;
  pidio_bpf_get_stats(ctx, &st);
  return st.lost;
}
static void bpf_src_close(void *ctx) { pidio_bpf_close(ctx); }

int pidio_bpf_feed_open(pidio_bpf_feed_t **out, const pidio_bpf_opts_t *o,
                        const pidio_bpf_feed_opts_t *fo, char *why,
                        size_t whysz) {
  pidio_bpf_t *b;
  int err = pidio_bpf_open(&b, o, why, whysz);
  if (err != 0)
    return err;
  pidio_bpf_source_t src = {b, bpf_src_pass, bpf_src_drain, bpf_src_lost,
                            bpf_src_close};
  return pidio_bpf_feed_new(out, &src, fo);
}
