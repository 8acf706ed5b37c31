/*
 * Replays one fuzz target's corpus without libFuzzer, for 'make check':
 * every file under fixtures/fuzz/<target>/, <target> taken from the
 * program's name fuzz/replay-<target> (the seeds, and every input that
 * once crashed, kept as a regression), or the files and directories given
 * as arguments. Each input is copied into a buffer of exactly its size, as
 * libFuzzer does, so that a sanitizer build sees any read past its end.
 */
#include "pidio_build.h"

#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>


/* Only the fuzz targets that need a sandbox define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned replayed;

/* An input that takes longer than this fails the replay, as it would fail
 * libFuzzer's -timeout (fuzz/run.sh): a regression to exponential work,
 * such as a regex compile, is a failure, not a hang. Generous for
 * valgrind and a loaded machine: a sound input takes milliseconds. */
#define REPLAY_SECONDS 30

static void too_slow(int sig) {
  (void)sig;
  static const char msg[] = "replay: an input took more than 30 s (the "
                            "file named last above)\n";
  ssize_t rc = write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)rc;
  _exit(1);
}

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  while (buf != NULL) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    uint8_t *bigger = realloc(buf, cap * 2);
    if (bigger == NULL) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  int err = ferror(f);
  fclose(f);
  if (buf == NULL || err) {
    free(buf);
    fprintf(stderr, "%s: cannot read\n", path);
    return -1;
  }
  uint8_t *exact = malloc(n > 0 ? n : 1);
  if (exact == NULL) {
    free(buf);
    return -1;
  }
  memcpy(exact, buf, n);
  free(buf);
  /* The last line before a crash names the input that caused it. */
  fprintf(stderr, "replay %s\n", path);
  signal(SIGALRM, too_slow);
  alarm(REPLAY_SECONDS);
  LLVMFuzzerTestOneInput(exact, n);
  alarm(0);
  free(exact);
  replayed++;
  return 0;
}

static int only_files(const struct dirent *d) { return d->d_name[0] != '.'; }

static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode))
    return run_file(path);
  struct dirent **names = NULL;
  int n = scandir(path, &names, only_files, alphasort);
  if (n < 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char file[4096];
    snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
    if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && run_file(file) != 0)
      rc = -1;
    free(names[i]);
  }
  free(names);
  return rc;
}

/* "io" from ".../fuzz/replay-io" (or libtool's "lt-replay-io"). */
static const char *target_of(const char *argv0) {
  const char *base = strrchr(argv0, '/');
  base = base != NULL ? base + 1 : argv0;
  if (strncmp(base, "lt-", 3) == 0)
    base += 3;
  if (strncmp(base, "replay-", 7) == 0 && base[7] != '\0')
    return base + 7;
  return NULL;
}

int main(int argc, char **argv) {
  const char *target = target_of(argv[0]);
  if (target == NULL) {
    fprintf(stderr, "%s: not named replay-<target>\n", argv[0]);
    return 1;
  }
  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize(&argc, &argv);
  int rc = 0;
  if (argc > 1) {
    for (int i = 1; i < argc; i++)
      if (run_path(argv[i]) != 0)
        rc = 1;
  } else {
    const char *top = getenv("PIDIO_SRCDIR");
    if (top == NULL)
      top = getenv("srcdir");
    if (top == NULL)
      top = ".";
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/fixtures/fuzz/%s", top, target);
    if (run_path(dir) != 0)
      rc = 1;
  }
  printf("%s: %u inputs replayed\n", target, replayed);
  if (replayed == 0) {
    fprintf(stderr, "%s: no input found\n", target);
    rc = 1;
  }
  return rc;
}
