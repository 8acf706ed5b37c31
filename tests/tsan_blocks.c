/*
 * Blocks updated from several threads at once against the real /proc, as
 * collectd's read threads update them: each block by one thread at a time,
 * all of them sharing one ProcRoot and the descriptor budget of
 * pidio_fdbudget.c. Built with ThreadSanitizer by 'make check-tsan'; meant to
 * report no race. Meanwhile a thread forks children that do I/O and are
 * reaped, so that members come and go.
 *
 * Besides what ThreadSanitizer finds, it checks that the io descriptors
 * held never exceed the budget (plus the one each thread may have open
 * for a moment), that no block's counters go down, and that once every
 * block is freed the whole budget is free again and no descriptor is left.
 */
#include "pidio_build.h"

#include "pidio_block.h"
#include "pidio_fdbudget.h"
#include "pidio_proc.h"
#include "pidio_select.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READERS 4
#define BLOCKS_PER_READER 2
#define ROUNDS 25
#define BUDGET 16
#define CHILD_COMM "tsan-child"

static pidio_proc_t proc;
static char pidfile[256];
static pthread_barrier_t start;
static atomic_bool stop;
static atomic_int failures;
static atomic_int max_held;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "FAIL: " __VA_ARGS__);                                   \
      fputc('\n', stderr);                                                     \
      atomic_fetch_add(&failures, 1);                                          \
    }                                                                          \
  } while (0)

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Descriptors of this process: all of them, and those open on an io file
 * of /proc. */
static void count_fds(int *all, int *io) {
  *all = *io = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    char target[256];
    ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
    if (n <= 0)
      continue;
    target[n] = '\0';
    (*all)++;
    if (strncmp(target, "/proc/", 6) == 0 && n > 3 &&
        strcmp(target + n - 3, "/io") == 0)
      (*io)++;
  }
  closedir(d);
  (*all)--; /* the listing's own */
}

static void make_block(pidio_block_t *b, int kind) {
  pidio_select_t sel;
  char err[256] = "";
  int rc = 0;
  pidio_select_init(&sel);
  switch (kind % 5) {
  case 0: /* every process with a command line: many members */
    rc = pidio_select_set_cmdline(&sel, ".", err, sizeof(err));
    break;
  case 1: /* the children, which come and go */
    rc = pidio_select_set_name(&sel, CHILD_COMM, err, sizeof(err));
    break;
  case 2: /* this process and its children, by command line */
    rc = pidio_select_set_cmdline(&sel, "tsan_blocks", err, sizeof(err));
    break;
  case 3:
    rc = pidio_select_set_pid(&sel, (double)getpid(), err, sizeof(err));
    break;
  default:
    rc = pidio_select_set_pidfile(&sel, pidfile, err, sizeof(err));
    break;
  }
  CHECK(rc == 0, "selector %d: %s", kind, err);
  pidio_block_init(b, &proc, &sel);
}

static void *reader(void *arg) {
  int id = (int)(long)arg;
  pidio_block_t blocks[BLOCKS_PER_READER];
  pidio_io_t last[BLOCKS_PER_READER];
  for (int i = 0; i < BLOCKS_PER_READER; i++) {
    make_block(&blocks[i], id * BLOCKS_PER_READER + i);
    memset(&last[i], 0, sizeof(last[i]));
  }
  pthread_barrier_wait(&start);
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < BLOCKS_PER_READER; i++) {
      pidio_report_t rep;
      int rc = pidio_block_update(&blocks[i], &rep);
      CHECK(rc == 0, "reader %d block %d: update: %s", id, i, strerror(-rc));
      for (int f = 0; f < PIDIO_NFIELDS; f++)
        CHECK(blocks[i].total.v[f] >= last[i].v[f],
              "reader %d block %d: %s went down", id, i, pidio_field_names[f]);
      last[i] = blocks[i].total;
    }
    sleep_ms(2 + id);
  }
  for (int i = 0; i < BLOCKS_PER_READER; i++)
    pidio_block_free(&blocks[i]);
  return NULL;
}

/* Children named CHILD_COMM that write a little to /dev/null, then exit. */
static void *churn(void *arg) {
  (void)arg;
  char buf[4096];
  memset(buf, 'x', sizeof(buf));
  pthread_barrier_wait(&start);
  while (!atomic_load(&stop)) {
    pid_t p = fork();
    if (p == 0) {
      prctl(PR_SET_NAME, CHILD_COMM, 0, 0, 0);
      int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
      for (int i = 0; i < 16 && fd >= 0; i++) {
        if (write(fd, buf, sizeof(buf)) < 0)
          break;
        struct timespec ts = {.tv_nsec = 1000000};
        nanosleep(&ts, NULL);
      }
      _exit(0);
    }
    if (p > 0)
      while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
        ;
  }
  return NULL;
}

/* The held io descriptors, sampled while the readers run. */
static void *monitor(void *arg) {
  (void)arg;
  pthread_barrier_wait(&start);
  while (!atomic_load(&stop)) {
    int all, io;
    count_fds(&all, &io);
    if (io > atomic_load(&max_held))
      atomic_store(&max_held, io);
    sleep_ms(1);
  }
  return NULL;
}

int main(void) {
  int rc = pidio_proc_open(&proc, "/proc");
  if (rc != 0) {
    fprintf(stderr, "FAIL: /proc: %s\n", strerror(-rc));
    return 1;
  }
  const char *tmp = getenv("TMPDIR");
  if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > sizeof(pidfile) - 40)
    tmp = "/tmp";
  snprintf(pidfile, sizeof(pidfile), "%s/pidio-tsan.%ld.pid", tmp,
           (long)getpid());
  FILE *f = fopen(pidfile, "w");
  if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
    fprintf(stderr, "FAIL: cannot write %s\n", pidfile);
    return 1;
  }
  int fds_before, io_before;
  count_fds(&fds_before, &io_before);
  pidio_fdbudget_set(BUDGET);

  pthread_t readers[READERS], churner, watcher;
  pthread_barrier_init(&start, NULL, READERS + 2);
  for (long i = 0; i < READERS; i++)
    pthread_create(&readers[i], NULL, reader, (void *)i);
  pthread_create(&churner, NULL, churn, NULL);
  pthread_create(&watcher, NULL, monitor, NULL);
  for (int i = 0; i < READERS; i++)
    pthread_join(readers[i], NULL);
  atomic_store(&stop, true);
  pthread_join(churner, NULL);
  pthread_join(watcher, NULL);
  pthread_barrier_destroy(&start);

  int held = atomic_load(&max_held);
  CHECK(held <= BUDGET + READERS,
        "%d io descriptors open at once; the budget is %d (+%d in use)", held,
        BUDGET, READERS);
  int fds_after, io_after;
  count_fds(&fds_after, &io_after);
  CHECK(fds_after == fds_before && io_after == 0,
        "%d descriptors open after every block was freed, %d before", fds_after,
        fds_before);

  /* Every slot came back: one block alone can hold the whole budget. */
  pidio_block_t b;
  make_block(&b, 0);
  pidio_report_t rep;
  rc = pidio_block_update(&b, &rep);
  CHECK(rc == 0, "last update: %s", strerror(-rc));
  int all, io;
  count_fds(&all, &io);
  if (rep.matched - rep.unreadable >= 2 * BUDGET)
    CHECK(io == BUDGET, "one block holds %d io descriptors, budget %d", io,
          BUDGET);
  pidio_block_free(&b);
  pidio_proc_close(&proc);
  unlink(pidfile);

  int failed = atomic_load(&failures);
  printf("tsan_blocks: %d threads x %d blocks x %d rounds, at most %d io "
         "descriptors held (budget %d): %s\n",
         READERS, BLOCKS_PER_READER, ROUNDS, held, BUDGET,
         failed == 0 ? "ok" : "FAILED");
  return failed == 0 ? 0 : 1;
}
