/*
 * pidio-writer: a process whose I/O is exactly known, for end-to-end tests
 * and benchmarks.
 *
 * It reads commands from standard input, one per line, and writes only to
 * /dev/null, so its wchar and syscw are exactly what the commands asked for:
 *   write N [CHUNK]        write N bytes in write(2) calls of CHUNK (4096)
 *   pace RATE SECS [CHUNK] write RATE bytes per second for SECS seconds
 *   fork K N [CHUNK [MS]]  fork K children that each write N bytes, stay
 *                          MS milliseconds (0) and exit; reap them all
 *                          (the kernel folds their totals into this one)
 *   exit                   (or end of input) exit
 * After each command it acknowledges by creating the directory
 * ACKDIR/ack.<n> (n counts from 1): mkdir is not I/O the io file counts,
 * so the acknowledgement does not disturb the figures under test.
 * Options: --comm NAME (prctl name), --ack DIR, --tag TEXT (only to make
 * the command line matchable), --idle (no commands: sleep until killed).
 */
#include "pidio_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int devnull = -1;

static void die(const char *what) {
  /* stderr is the one write that is not accounted on purpose: it only
   * happens on failure. */
  perror(what);
  exit(2);
}

static void write_all(unsigned long long n, size_t chunk) {
  static char buf[1 << 20];
  if (chunk == 0 || chunk > sizeof(buf))
    chunk = 4096;
  while (n > 0) {
    size_t len = n < chunk ? (size_t)n : chunk;
    ssize_t w = write(devnull, buf, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      die("write");
    }
    n -= (unsigned long long)w;
  }
}

static void pace(double rate, double secs, size_t chunk) {
  if (chunk == 0)
    chunk = 4096;
  /* An absolute schedule: a late wake-up catches up, so the long-run rate
   * is exact whatever the scheduler does. */
  double period = (double)chunk / rate;
  unsigned long long count = (unsigned long long)(rate * secs / (double)chunk);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (unsigned long long i = 0; i < count; i++) {
    double at = (double)i * period;
    struct timespec ts = t0;
    ts.tv_sec += (time_t)at;
    ts.tv_nsec += (long)((at - (double)(time_t)at) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
           EINTR)
      ;
    write_all(chunk, chunk);
  }
}

static void fork_children(unsigned k, unsigned long long n, size_t chunk,
                          unsigned linger_ms) {
  for (unsigned i = 0; i < k; i++) {
    pid_t p = fork();
    if (p < 0)
      die("fork");
    if (p == 0) {
      write_all(n, chunk);
      if (linger_ms > 0) {
        struct timespec ts = {.tv_sec = linger_ms / 1000,
                              .tv_nsec = (long)(linger_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
          ;
      }
      _exit(0);
    }
  }
  for (unsigned i = 0; i < k; i++)
    if (wait(NULL) < 0)
      die("wait");
}

int main(int argc, char **argv) {
  const char *ack = NULL;
  int idle = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--comm") == 0 && i + 1 < argc) {
      if (prctl(PR_SET_NAME, argv[++i], 0, 0, 0) != 0)
        die("prctl");
    } else if (strcmp(argv[i], "--ack") == 0 && i + 1 < argc) {
      ack = argv[++i];
    } else if (strcmp(argv[i], "--tag") == 0 && i + 1 < argc) {
      i++;
    } else if (strcmp(argv[i], "--idle") == 0) {
      idle = 1;
    } else {
      fprintf(stderr, "usage: pidio-writer [--comm NAME] [--ack DIR] "
                      "[--tag TEXT] [--idle]\n");
      return 2;
    }
  }
  if (idle)
    for (;;)
      pause();

  devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0)
    die("/dev/null");

  char line[256];
  unsigned n_ack = 0;
  while (fgets(line, sizeof(line), stdin) != NULL) {
    unsigned long long a = 0, c = 0;
    double r = 0, s = 0;
    unsigned k = 0, ms = 0;
    if (strncmp(line, "exit", 4) == 0)
      break;
    if (sscanf(line, "write %llu %llu", &a, &c) >= 1)
      write_all(a, (size_t)c);
    else if (sscanf(line, "pace %lf %lf %llu", &r, &s, &c) >= 2 && r > 0)
      pace(r, s, (size_t)c);
    else if (sscanf(line, "fork %u %llu %llu %u", &k, &a, &c, &ms) >= 2)
      fork_children(k, a, (size_t)c, ms);
    else {
      fprintf(stderr, "pidio-writer: unknown command: %s", line);
      return 2;
    }
    if (ack != NULL) {
      char path[4096];
      snprintf(path, sizeof(path), "%s/ack.%u", ack, ++n_ack);
      if (mkdir(path, 0700) != 0)
        die("mkdir ack");
    }
  }
  return 0;
}
