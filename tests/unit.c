/*
 * The unit test runner: every module's suite in one SRunner.
 */
#include "pidio_build.h"

#include "unit.h"

#include <malloc.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

int unit_private_mounts(void) {
  if (unshare(CLONE_NEWNS) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
    return -1;
  /* The type is ignored here, but memcheck reads it: not NULL. */
  return mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 ? 0 : -1;
}

uint64_t unit_clock_ahead;

/* --- the heap, counted ---------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);

static atomic_llong heap_live;

static void heap_add(void *p, int sign) {
  if (p != NULL)
    atomic_fetch_add_explicit(&heap_live,
                              sign * (long long)malloc_usable_size(p),
                              memory_order_relaxed);
}

void *__wrap_malloc(size_t n) {
  void *p = __real_malloc(n);
  heap_add(p, 1);
  return p;
}

void *__wrap_calloc(size_t n, size_t size) {
  void *p = __real_calloc(n, size);
  heap_add(p, 1);
  return p;
}

void *__wrap_realloc(void *p, size_t n) {
  size_t old = p != NULL ? malloc_usable_size(p) : 0;
  void *q = __real_realloc(p, n);
  if (q != NULL || n == 0) /* n == 0: p was freed */
    atomic_fetch_sub_explicit(&heap_live, (long long)old, memory_order_relaxed);
  heap_add(q, 1);
  return q;
}

void __wrap_free(void *p) {
  heap_add(p, -1);
  __real_free(p);
}

char *__wrap_strdup(const char *s) {
  char *p = __real_strdup(s);
  heap_add(p, 1);
  return p;
}

long long unit_heap_live(void) {
  return atomic_load_explicit(&heap_live, memory_order_relaxed);
}

uint64_t __wrap_pidio_proc_boot_ticks(void) {
  return __real_pidio_proc_boot_ticks() + unit_clock_ahead;
}

int unit_new_pid_namespace(void) { return unshare(CLONE_NEWPID); }

int unit_private_proc(void) {
  if (unit_private_mounts() != 0)
    return -1;
  return mount("proc", "/proc", "proc", 0, NULL) == 0 ? 0 : -1;
}

const char *fixture_path(const char *rel) {
  static char path[4096];
  const char *top = getenv("PIDIO_SRCDIR");
  if (top == NULL)
    top = getenv("srcdir");
  if (top == NULL)
    top = ".";
  snprintf(path, sizeof(path), "%s/fixtures/%s", top, rel);
  return path;
}

size_t fixture_read(const char *rel, char *buf, size_t bufsz) {
  FILE *f = fopen(fixture_path(rel), "rb");
  ck_assert_msg(f != NULL, "cannot open fixture %s", fixture_path(rel));
  size_t n = fread(buf, 1, bufsz - 1, f);
  ck_assert_msg(!ferror(f), "cannot read fixture %s", rel);
  fclose(f);
  buf[n] = '\0';
  return n;
}

static uint64_t rand_state = 1;

void unit_srand(uint64_t seed) { rand_state = seed != 0 ? seed : 1; }

uint32_t unit_rand(void) {
  rand_state ^= rand_state << 13;
  rand_state ^= rand_state >> 7;
  rand_state ^= rand_state << 17;
  return (uint32_t)(rand_state >> 11);
}

/* Under valgrind (its preload library is in LD_PRELOAD). */
bool unit_under_valgrind(void) {
  const char *p = getenv("LD_PRELOAD");
  return p != NULL && strstr(p, "vgpreload") != NULL;
}

static const struct {
  const char *name;
  Suite *(*make)(void);
} suites[] = {
    {"parse", make_parse_suite},   {"window", make_window_suite},
    {"select", make_select_suite}, {"ledger", make_ledger_suite},
    {"block", make_block_suite},   {"adapter", make_adapter_suite},
    {"trouble", make_trouble_suite}, {"tell", make_tell_suite},
    {"array", make_array_suite},   {"options", make_options_suite},
    {"perproc", make_perproc_suite},
#ifdef PIDIO_HAVE_BPF
    {"bpf", make_bpf_suite},
#endif
    {"group", make_group_suite},   {"groups", make_groups_suite},
};

/* Whether the comma-separated list has name. */
static bool listed(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *p = list; *p != '\0';) {
    const char *end = strchr(p, ',');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n == len && memcmp(p, name, n) == 0)
      return true;
    p += n + (end != NULL);
  }
  return false;
}

/* PIDIO_UNIT_SKIP: suites (comma-separated) this run leaves out, so that
 * make check-valgrind can run the slow ones side by side in other runs
 * (CK_RUN_SUITE runs one). A name that is no suite fails the run: a typo
 * must not leave a suite out of every run. */
int main(void) {
  const char *skip = getenv("PIDIO_UNIT_SKIP");
  if (skip == NULL)
    skip = "";
  size_t known = 0;
  SRunner *sr = NULL;
  for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
    if (listed(skip, suites[i].name)) {
      known++;
      continue;
    }
    if (sr == NULL)
      sr = srunner_create(suites[i].make());
    else
      srunner_add_suite(sr, suites[i].make());
  }
  size_t named = *skip != '\0';
  for (const char *p = skip; *p != '\0'; p++)
    named += *p == ',';
  if (named != known || sr == NULL) {
    fprintf(stderr, "unit: PIDIO_UNIT_SKIP=\"%s\" names a suite that is not "
                    "one, or all of them\n", skip);
    if (sr != NULL)
      srunner_free(sr);
    return EXIT_FAILURE;
  }
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
