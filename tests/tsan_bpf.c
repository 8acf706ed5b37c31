/*
 * tsan_bpf: the BPF reader's promise that a pass and a drain may run at the
 * same time on two threads, under ThreadSanitizer (make check-tsan, root).
 *
 * One thread runs passes without pause, another drains the ring buffer
 * every 5 ms and reads the statistics, while the main thread forks 3000
 * processes that each write 1001 bytes 1 to 3 times to /dev/null (single
 * threads: a child of a threaded parent does only what is safe after
 * fork; bpf-real covers threads). Every exit record of those processes
 * must come, exact, and nothing may be lost; TSan must find no race.
 * Then the same through a feed (pidio_bpf_feed): its drain thread, and
 * three subscriber threads that each take shared passes and read the exit
 * log; each must get every record once.
 */
#include "pidio_build.h"

#include "pidio_bpf.h"
#include "pidio_bpf_feed.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPROC 3000

static pidio_bpf_t *reader;
static atomic_int stop;
static int devnull;

static pid_t pids[NPROC];
static int nthreads[NPROC];
/* Written by the drain thread only, read after it is joined: the pid and
 * wchar of every exit record of this process's children. */
#define MAXREC 65536
static pid_t rec_pid[MAXREC];
static uint64_t rec_wchar[MAXREC];
static size_t nrec;
static unsigned long passes, drains, seen_procs;

static void on_exit_rec(const pidio_bpf_exit_t *e, const void *raw,
                        size_t len, void *ctx) {
  (void)raw;
  (void)len;
  (void)ctx;
  /* Only this process's children: another process may get one of their
   * pids again meanwhile (pid_max may be 32768). */
  if (nrec < MAXREC && e->p.ppid == getpid()) {
    rec_pid[nrec] = e->p.pid;
    rec_wchar[nrec] = e->p.io.v[PIDIO_WCHAR];
    nrec++;
  }
}

static void *drainer(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    pidio_bpf_drain(reader, on_exit_rec, NULL);
    pidio_bpf_stats_t s;
    pidio_bpf_get_stats(reader, &s);
    drains++;
    struct timespec ts = {0, 5000000L};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static int count_proc(const pidio_bpf_proc_t *p, void *ctx) {
  (void)p;
  (*(unsigned long *)ctx)++;
  return 0;
}

static void *passer(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    unsigned long n = 0;
    if (pidio_bpf_pass(reader, count_proc, &n) == 0) {
      passes++;
      seen_procs += n;
    }
  }
  return NULL;
}

/* NPROC processes, the i-th writing nthreads[i] x 1001 bytes to
 * /dev/null and exiting, all reaped: the exits both phases count. -1 when
 * a fork failed (those forked are reaped all the same). */
static int run_writers(void) {
  int rc = 0;
  for (int i = 0; i < NPROC; i++) {
    nthreads[i] = 1 + i % 3;
    pids[i] = fork();
    if (pids[i] == 0) {
      char buf[1001] = {0};
      for (int k = 0; k < nthreads[i]; k++)
        if (write(devnull, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
          _exit(3);
      _exit(0);
    }
    if (pids[i] < 0) {
      perror("fork");
      rc = -1;
    }
  }
  for (int i = 0; i < NPROC; i++)
    if (pids[i] > 0)
      waitpid(pids[i], NULL, 0);
  return rc;
}

static int phase_reader(void) {
  char why[512];
  if (pidio_bpf_open(&reader, NULL, why, sizeof(why)) != 0) {
    fprintf(stderr, "tsan_bpf: cannot load the BPF reader: %s\n", why);
    return 1;
  }
  pthread_t td, tp;
  pthread_create(&td, NULL, drainer, NULL);
  pthread_create(&tp, NULL, passer, NULL);
  if (run_writers() != 0)
    return 1;
  /* Give the drain its last rounds. */
  struct timespec ts = {0, 200000000L};
  nanosleep(&ts, NULL);
  atomic_store(&stop, 1);
  pthread_join(td, NULL);
  pthread_join(tp, NULL);
  pidio_bpf_drain(reader, on_exit_rec, NULL);
  pidio_bpf_stats_t s;
  pidio_bpf_get_stats(reader, &s);
  pidio_bpf_close(reader);

  int exact = 0;
  for (int i = 0; i < NPROC; i++) {
    int got = 0;
    uint64_t wchar = 0;
    for (size_t r = 0; r < nrec; r++)
      if (rec_pid[r] == pids[i]) {
        got++;
        wchar = rec_wchar[r];
      }
    if (got == 1 && wchar == 1001ULL * (unsigned)nthreads[i])
      exact++;
    else if (i - exact < 5)
      printf("  pid %d: %d records, wchar %llu, want %llu\n", (int)pids[i],
             got, (unsigned long long)wchar,
             1001ULL * (unsigned)nthreads[i]);
  }
  printf("tsan_bpf: reader: %d of %d exit records exact, %llu lost, %lu passes "
         "(%lu processes), %lu drains\n",
         exact, NPROC, (unsigned long long)s.lost, passes, seen_procs,
         drains);
  return exact == NPROC && s.lost == 0 && passes > 0 ? 0 : 1;
}

/* ---- the same through a feed ---- */

#define NSUB 3
static pidio_bpf_feed_t *feed;
typedef struct subscriber {
  pidio_bpf_sub_t sub;
  pid_t pid[MAXREC];
  uint64_t wchar[MAXREC];
  size_t n;
  uint64_t lost;
  unsigned long passes;
} subscriber_t;
static subscriber_t subs[NSUB];

static void sub_rec(const pidio_bpf_exit_t *e, void *ctx) {
  subscriber_t *s = ctx;
  if (s->n < MAXREC && e->p.ppid == getpid()) {
    s->pid[s->n] = e->p.pid;
    s->wchar[s->n] = e->p.io.v[PIDIO_WCHAR];
    s->n++;
  }
}

static void *sub_thread(void *arg) {
  subscriber_t *s = arg;
  for (;;) {
    int last = atomic_load(&stop);
    pidio_bpf_snap_t snap;
    if (pidio_bpf_feed_pass(feed, 20000000LL, &snap) == 0) {
      s->passes++;
      pidio_bpf_feed_release(feed, &snap);
    }
    uint64_t lost = 0;
    pidio_bpf_feed_exits(feed, &s->sub, sub_rec, s, &lost);
    s->lost += lost;
    if (last)
      break;
    struct timespec ts = {0, 3000000L};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static int phase_feed(void) {
  char why[512];
  if (pidio_bpf_feed_open(&feed, NULL, NULL, why, sizeof(why)) != 0) {
    fprintf(stderr, "tsan_bpf: cannot load the BPF reader: %s\n", why);
    return 1;
  }
  atomic_store(&stop, 0);
  pthread_t th[NSUB];
  for (int k = 0; k < NSUB; k++) {
    pidio_bpf_feed_subscribe(feed, &subs[k].sub);
    pthread_create(&th[k], NULL, sub_thread, &subs[k]);
  }
  if (run_writers() != 0)
    return 1;
  /* Two drain periods, then the subscribers' last reads. */
  struct timespec ts = {0, 250000000L};
  nanosleep(&ts, NULL);
  pidio_bpf_feed_drain(feed);
  atomic_store(&stop, 1);
  for (int k = 0; k < NSUB; k++) {
    pthread_join(th[k], NULL);
    pidio_bpf_feed_unsubscribe(feed, &subs[k].sub);
  }
  size_t left = pidio_bpf_feed_logged(feed);
  pidio_bpf_feed_free(feed);
  int ok = 1;
  for (int k = 0; k < NSUB; k++) {
    int exact = 0;
    for (int i = 0; i < NPROC; i++) {
      int got = 0;
      uint64_t wchar = 0;
      for (size_t r = 0; r < subs[k].n; r++)
        if (subs[k].pid[r] == pids[i]) {
          got++;
          wchar = subs[k].wchar[r];
        }
      if (got == 1 && wchar == 1001ULL * (unsigned)nthreads[i])
        exact++;
    }
    printf("tsan_bpf: feed subscriber %d: %d of %d exit records exact, "
           "%llu lost, %lu passes\n",
           k, exact, NPROC, (unsigned long long)subs[k].lost, subs[k].passes);
    if (exact != NPROC || subs[k].lost != 0 || subs[k].passes == 0)
      ok = 0;
  }
  printf("tsan_bpf: feed: %zu records left in the log after the last "
         "subscriber left\n",
         left);
  return ok && left == 0 ? 0 : 1;
}

int main(void) {
  devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  int a = phase_reader();
  nrec = 0;
  int b = phase_feed();
  return a || b;
}
