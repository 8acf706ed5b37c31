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
 */
#include "pidio_build.h"

#include "pidio_bpf.h"

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
/* Written by the drain thread only, read after it is joined: every exit
 * record's pid and wchar (the machine's other processes too). */
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
  if (nrec < MAXREC) {
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

int main(void) {
  devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  char why[512];
  if (pidio_bpf_open(&reader, NULL, why, sizeof(why)) != 0) {
    fprintf(stderr, "tsan_bpf: cannot load the BPF reader: %s\n", why);
    return 1;
  }
  pthread_t td, tp;
  pthread_create(&td, NULL, drainer, NULL);
  pthread_create(&tp, NULL, passer, NULL);
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
      return 1;
    }
  }
  for (int i = 0; i < NPROC; i++)
    waitpid(pids[i], NULL, 0);
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
  }
  printf("tsan_bpf: %d of %d exit records exact, %llu lost, %lu passes "
         "(%lu processes), %lu drains\n",
         exact, NPROC, (unsigned long long)s.lost, passes, seen_procs,
         drains);
  return exact == NPROC && s.lost == 0 && passes > 0 ? 0 : 1;
}
