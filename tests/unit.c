/*
 * The unit test runner: every module's suite in one SRunner.
 */
#include "pidio_build.h"

#include "unit.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>

int unit_private_mounts(void) {
  if (unshare(CLONE_NEWNS) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
    return -1;
  /* The type is ignored here, but memcheck reads it: not NULL. */
  return mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 ? 0 : -1;
}

uint64_t unit_clock_ahead;

uint64_t __wrap_pidio_proc_boot_ticks(void) {
  return __real_pidio_proc_boot_ticks() + unit_clock_ahead;
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

int main(void) {
  SRunner *sr = srunner_create(make_parse_suite());
  srunner_add_suite(sr, make_window_suite());
  srunner_add_suite(sr, make_select_suite());
  srunner_add_suite(sr, make_ledger_suite());
  srunner_add_suite(sr, make_block_suite());
  srunner_add_suite(sr, make_adapter_suite());
  srunner_add_suite(sr, make_trouble_suite());
  srunner_add_suite(sr, make_options_suite());
  srunner_add_suite(sr, make_perproc_suite());
#ifdef PIDIO_HAVE_BPF
  srunner_add_suite(sr, make_bpf_suite());
#endif
  srunner_add_suite(sr, make_group_suite());
  srunner_add_suite(sr, make_groups_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
