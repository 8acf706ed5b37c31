/*
 * floor: the least work that reads the io counters of a set of processes
 * every interval, to compare pidio against.
 *
 * It opens /proc/<pid>/io of every pid given once, then every interval (on
 * an absolute schedule, a second by default) preads each descriptor from
 * offset 0. With --list it also lists /proc each interval (opendir +
 * readdir, i.e. getdents), the least a collector must do to notice new
 * processes. Nothing is parsed and nothing is reported: this is the
 * system-call floor.
 *
 * Usage: floor [--list] [--root DIR] [--interval MS] PIDFILE
 *   PIDFILE holds one pid per line ("-" for standard input). --interval
 *   (default 1000) shortens the schedule, to profile many rounds quickly.
 * It prints "ready N" on standard output once the N descriptors are open,
 * and runs until SIGTERM or SIGINT; then it prints how many rounds it did
 * and how many reads failed on standard error.
 */
#include "pidio_build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void usage(void) {
  fprintf(stderr, "usage: floor [--list] [--root DIR] [--interval MS] PIDFILE\n");
  exit(2);
}

/* Read the pids to watch; returns how many, with *out malloc'ed. */
static size_t read_pids(const char *path, long **out) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (f == NULL) {
    perror(path);
    exit(2);
  }
  size_t n = 0, cap = 0;
  long *v = NULL;
  long pid;
  while (fscanf(f, "%ld", &pid) == 1) {
    if (n == cap) {
      cap = cap ? cap * 2 : 1024;
      long *nv = realloc(v, cap * sizeof(*nv));
      if (nv == NULL) {
        perror("realloc");
        exit(2);
      }
      v = nv;
    }
    v[n++] = pid;
  }
  if (f != stdin)
    fclose(f);
  *out = v;
  return n;
}

/* List the root the way a collector does; returns the numeric entries. */
static unsigned long list_root(const char *root) {
  DIR *d = opendir(root);
  if (d == NULL)
    return 0;
  unsigned long n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
      n++;
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  int list = 0;
  const char *root = "/proc";
  const char *pidfile = NULL;
  long interval_ms = 1000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--list") == 0)
      list = 1;
    else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
      root = argv[++i];
    else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
      char *end;
      errno = 0;
      interval_ms = strtol(argv[++i], &end, 10);
      if (errno != 0 || *end != '\0' || interval_ms < 1 || interval_ms > 3600000)
        usage();
    } else if (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)
      pidfile = argv[i];
    else
      usage();
  }
  if (pidfile == NULL)
    usage();

  long *pids = NULL;
  size_t n = read_pids(pidfile, &pids);
  int *fds = calloc(n ? n : 1, sizeof(*fds));
  if (fds == NULL) {
    perror("calloc");
    return 2;
  }
  size_t open_ok = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%ld/io", root, pids[i]);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) {
      fprintf(stderr, "floor: %s: %s\n", path, strerror(errno));
      return 1;
    }
    open_ok++;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  printf("ready %zu\n", open_ok);
  fflush(stdout);

  unsigned long long rounds = 0, failed = 0, bytes = 0, listed = 0;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!stop) {
    if (list)
      listed += list_root(root);
    for (size_t i = 0; i < n; i++) {
      char buf[512];
      ssize_t r = pread(fds[i], buf, sizeof(buf), 0);
      if (r < 0)
        failed++;
      else
        bytes += (unsigned long long)r;
    }
    rounds++;
    next.tv_sec += interval_ms / 1000;
    next.tv_nsec += (interval_ms % 1000) * 1000000L;
    if (next.tv_nsec >= 1000000000L) {
      next.tv_sec++;
      next.tv_nsec -= 1000000000L;
    }
    while (!stop &&
           clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0)
      ;
  }
  fprintf(stderr,
          "floor: %llu rounds, %zu descriptors, %llu failed reads, "
          "%llu bytes, %llu listed\n",
          rounds, n, failed, bytes, listed);
  for (size_t i = 0; i < n; i++)
    close(fds[i]);
  free(fds);
  free(pids);
  return 0;
}
