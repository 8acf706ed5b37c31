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
 *   subreaper              become a child subreaper (PR_SET_CHILD_SUBREAPER):
 *                          orphaned descendants are adopted by this process
 *   sigchld ign|nocldwait|dfl
 *                          SIGCHLD set to SIG_IGN, to SIG_DFL with
 *                          SA_NOCLDWAIT, or to the default: with the first
 *                          two the kernel reaps the children itself and
 *                          folds nothing into this process
 *   orphan IB GB MS [ICOMM [GCOMM]]
 *                          fork an intermediate that forks a grandchild,
 *                          writes IB bytes and the grandchild's pid (to a
 *                          pipe to this process: sizeof(pid_t) bytes more),
 *                          stays MS/2 ms and exits (a zombie until "reap");
 *                          the grandchild writes GB/2 bytes, stays MS ms,
 *                          writes the rest and exits; this process reaps
 *                          the grandchild only (it adopted it as a
 *                          subreaper). ICOMM, GCOMM: their names
 *   orphanr IB GB MS ICOMM GCOMM
 *                          the same, but this process reaps the
 *                          intermediate as soon as it exits
 *   nest IB GB MS [ICOMM [GCOMM]]
 *                          fork an intermediate that forks a grandchild;
 *                          the grandchild writes GB/2 bytes, stays MS ms,
 *                          writes the rest and exits; the intermediate
 *                          reaps it, writes IB bytes, stays MS/2 ms and
 *                          exits; this process reaps the intermediate
 *   nestq IB GB MS [ICOMM [GCOMM]]
 *                          the same, but the intermediate exits as soon as
 *                          it has reaped the grandchild and written
 *   reap                   reap every child
 *   busyfork K N MS CHUNK TICKS
 *                          fork K children that each write N bytes, stay
 *                          MS ms and exit, while this
 *                          process writes CHUNK bytes every 10 ms, TICKS
 *                          times; then wait until no child is left
 *   lineage COMM IB GB MS CHUNK TICKS
 *                          fork M named COMM, which forks I, which forks G;
 *                          I writes IB bytes and G GB bytes at once, both
 *                          stay MS ms, then I exits and G 20 ms later. M
 *                          reaps I at once while it writes CHUNK bytes
 *                          every 10 ms, TICKS times, stays 2.5 s more and
 *                          exits; this process (a subreaper: G's adopter)
 *                          reaps G and M
 *   dread PATH             read the file PATH with O_DIRECT, 4096 bytes a
 *                          call, to its end: every read waits for the
 *                          device (block-I/O delay), none is served from
 *                          the page cache
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
#include <signal.h>
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

static void nap_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000,
                        .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static void set_comm(const char *name) {
  if (name != NULL && name[0] != '\0' && prctl(PR_SET_NAME, name, 0, 0, 0) != 0)
    die("prctl");
}

static void sigchld(const char *how) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = strcmp(how, "ign") == 0 ? SIG_IGN : SIG_DFL;
  if (strcmp(how, "nocldwait") == 0)
    sa.sa_flags = SA_NOCLDWAIT;
  if (sigaction(SIGCHLD, &sa, NULL) != 0)
    die("sigaction");
}

/* In a freshly forked intermediate: fork the grandchild of orphan and
 * nest, which writes gb/2 bytes, stays ms ms, writes the rest and exits. */
static pid_t fork_grandchild(unsigned long long gb, unsigned ms,
                             const char *icomm, const char *gcomm) {
  set_comm(icomm);
  pid_t g = fork();
  if (g < 0)
    die("fork");
  if (g == 0) {
    set_comm(gcomm);
    write_all(gb / 2, 4096);
    nap_ms(ms);
    write_all(gb - gb / 2, 4096);
    _exit(0);
  }
  return g;
}

static void orphan(unsigned long long ib, unsigned long long gb, unsigned ms,
                   const char *icomm, const char *gcomm, int reap_first) {
  int fds[2];
  if (pipe(fds) != 0)
    die("pipe");
  pid_t i = fork();
  if (i < 0)
    die("fork");
  if (i == 0) {
    pid_t g = fork_grandchild(gb, ms, icomm, gcomm);
    write_all(ib, 4096);
    if (write(fds[1], &g, sizeof(g)) != (ssize_t)sizeof(g))
      _exit(3);
    nap_ms(ms / 2); /* long enough to be seen as the grandchild's parent */
    _exit(0);
  }
  close(fds[1]);
  pid_t g;
  if (read(fds[0], &g, sizeof(g)) != (ssize_t)sizeof(g))
    die("read grandchild pid");
  close(fds[0]);
  /* Wait for the intermediate's exit without reaping it (WNOWAIT): once
   * it is a zombie its child has been handed to this process. */
  siginfo_t si;
  while (waitid(P_PID, (id_t)i, &si, WEXITED | WNOWAIT) != 0)
    if (errno != EINTR)
      die("waitid intermediate");
  if (reap_first)
    while (waitpid(i, NULL, 0) != i)
      if (errno != EINTR)
        die("waitpid intermediate");
  /* Only the grandchild: the intermediate stays a zombie meanwhile. */
  while (waitpid(g, NULL, 0) < 0)
    if (errno != EINTR)
      die("waitpid grandchild (is this process a subreaper?)");
}

static void nest(unsigned long long ib, unsigned long long gb, unsigned ms,
                 const char *icomm, const char *gcomm, int quick) {
  pid_t i = fork();
  if (i < 0)
    die("fork");
  if (i == 0) {
    pid_t g = fork_grandchild(gb, ms, icomm, gcomm);
    while (waitpid(g, NULL, 0) != g)
      if (errno != EINTR)
        _exit(3);
    write_all(ib, 4096);
    if (!quick)
      nap_ms(ms / 2);
    _exit(0);
  }
  while (waitpid(i, NULL, 0) != i)
    if (errno != EINTR)
      die("waitpid intermediate");
}

static void direct_read(const char *path) {
  void *buf;
  if (posix_memalign(&buf, 4096, 4096) != 0)
    die("posix_memalign");
  int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0)
    die("open O_DIRECT");
  ssize_t n;
  while ((n = read(fd, buf, 4096)) > 0)
    ;
  if (n < 0)
    die("read O_DIRECT");
  close(fd);
  free(buf);
}

static void reap(void) {
  while (wait(NULL) > 0 || errno == EINTR)
    ;
}

static void busyfork(unsigned k, unsigned long long n, unsigned ms,
                     size_t chunk, unsigned ticks) {
  for (unsigned i = 0; i < k; i++) {
    pid_t p = fork();
    if (p < 0)
      die("fork");
    if (p == 0) {
      write_all(n, 4096);
      nap_ms(ms);
      _exit(0);
    }
  }
  for (unsigned t = 0; t < ticks; t++) {
    write_all(chunk, chunk);
    nap_ms(10);
    while (waitpid(-1, NULL, WNOHANG) > 0)
      ;
  }
  reap();
}

static void lineage(const char *comm, unsigned long long ib,
                    unsigned long long gb, unsigned ms, size_t chunk,
                    unsigned ticks) {
  pid_t m = fork();
  if (m < 0)
    die("fork");
  if (m == 0) {
    set_comm(comm);
    pid_t i = fork();
    if (i < 0)
      die("fork");
    if (i == 0) {
      pid_t g = fork();
      if (g < 0)
        die("fork");
      if (g == 0) {
        write_all(gb, 4096);
        nap_ms(ms + 20);
        _exit(0);
      }
      write_all(ib, 4096);
      nap_ms(ms);
      _exit(0);
    }
    int reaped = 0;
    for (unsigned t = 0; t < ticks; t++) {
      write_all(chunk, chunk);
      nap_ms(10);
      if (!reaped && waitpid(i, NULL, WNOHANG) == i)
        reaped = 1;
    }
    while (!reaped && waitpid(i, NULL, 0) != i)
      if (errno != EINTR)
        _exit(4);
    nap_ms(2500);
    _exit(0);
  }
  reap(); /* G when it exits (adopted), then M */
}

static void fork_children(unsigned k, unsigned long long n, size_t chunk,
                          unsigned linger_ms) {
  for (unsigned i = 0; i < k; i++) {
    pid_t p = fork();
    if (p < 0)
      die("fork");
    if (p == 0) {
      write_all(n, chunk);
      if (linger_ms > 0)
        nap_ms(linger_ms);
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
    unsigned k = 0, ms = 0, ticks = 0;
    char w1[32] = "", w2[32] = "";
    char file[256];
    if (strncmp(line, "exit", 4) == 0)
      break;
    if (sscanf(line, "write %llu %llu", &a, &c) >= 1) {
      write_all(a, (size_t)c);
    } else if (sscanf(line, "pace %lf %lf %llu", &r, &s, &c) >= 2 && r > 0) {
      pace(r, s, (size_t)c);
    } else if (sscanf(line, "fork %u %llu %llu %u", &k, &a, &c, &ms) >= 2) {
      fork_children(k, a, (size_t)c, ms);
    } else if (strncmp(line, "subreaper", 9) == 0) {
      if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        die("prctl subreaper");
    } else if (sscanf(line, "sigchld %31s", w1) == 1) {
      sigchld(w1);
    } else if (sscanf(line, "orphanr %llu %llu %u %31s %31s", &a, &c, &ms, w1,
                      w2) == 5) {
      orphan(a, c, ms, w1, w2, 1);
    } else if (sscanf(line, "orphan %llu %llu %u %31s %31s", &a, &c, &ms, w1,
                      w2) >= 3) {
      orphan(a, c, ms, w1, w2, 0);
    } else if (sscanf(line, "nestq %llu %llu %u %31s %31s", &a, &c, &ms, w1,
                      w2) >= 3) {
      nest(a, c, ms, w1, w2, 1);
    } else if (sscanf(line, "nest %llu %llu %u %31s %31s", &a, &c, &ms, w1,
                      w2) >= 3) {
      nest(a, c, ms, w1, w2, 0);
    } else if (sscanf(line, "dread %255s", file) == 1) {
      direct_read(file);
    } else if (strncmp(line, "reap", 4) == 0) {
      reap();
    } else if (sscanf(line, "busyfork %u %llu %u %lf %u", &k, &a, &ms, &r,
                      &ticks) == 5) {
      busyfork(k, a, ms, (size_t)r, ticks);
    } else if (sscanf(line, "lineage %31s %llu %llu %u %lf %u", w1, &a, &c,
                      &ms, &r, &ticks) == 6) {
      lineage(w1, a, c, ms, (size_t)r, ticks);
    } else {
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
