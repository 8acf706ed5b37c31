/*
 * Tests of pidio_tell: every cause's text, word for word, with the words
 * of a front end in their places; a short buffer is cut, never overrun.
 * (The plugin's and pidio-stream's own words are checked through their
 * output: tests/test_trouble.c and tests/stream.py.)
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_tell.h"

#include <errno.h>
#include <string.h>

static const pidio_tell_words_t words = {
    .prog = "PROG",
    .scope = "SCOPE",
    .remedy = "REMEDY.",
    .fd_remedy = "FD-REMEDY",
    .pidfile = "PIDFILE",
    .proc_root = "PROCROOT",
    .cgroup = "CGROUP",
    .cmdline = "CMDLINE",
};

static void assert_text(enum pidio_trouble_kind kind, unsigned count, int pid,
                        int err, const char *want) {
  char pidfile[] = "/run/x.pid", cgroup[] = "/a/b";
  pidio_select_t sel = {.pidfile = pidfile, .cgroup = cgroup};
  pidio_report_t r = {.matched = 9};
  pidio_cause_t c = {.kind = kind, .count = count, .pid = pid, .err = err};
  char buf[PIDIO_TELL_MAX];
  pidio_tell_text(buf, sizeof(buf), &words, &c, &r, "/proc", &sel);
  ck_assert_str_eq(buf, want);
}

START_TEST(t_texts) {
  assert_text(PIDIO_TROUBLE_DENIED, 3, 12, -EACCES,
              "permission denied reading /proc/12/io; 3 of 9 matched "
              "process(es) are left out of SCOPE's figures. REMEDY.");
  assert_text(PIDIO_TROUBLE_UNDECIDED, 2, 13, -EACCES,
              "permission denied reading /proc/13 (its exe, status, cgroup "
              "or cmdline, as a selector needs), so PROG cannot tell whether "
              "2 process(es) belong to SCOPE. REMEDY.");
  assert_text(PIDIO_TROUBLE_FAILED, 4, 14, -EMFILE,
              "cannot read /proc/14/io: Too many open files; 4 process(es) "
              "left out of this interval. FD-REMEDY");
  assert_text(PIDIO_TROUBLE_FAILED, 1, 14, -ENFILE,
              "cannot read /proc/14/io: Too many open files in system; 1 "
              "process(es) left out of this interval. FD-REMEDY");
  assert_text(PIDIO_TROUBLE_FAILED, 1, 14, -EIO,
              "cannot read /proc/14/io: Input/output error; 1 process(es) "
              "left out of this interval");
  assert_text(PIDIO_TROUBLE_GARBLED, 5, 15, -EINVAL,
              "/proc/15/io does not parse as the kernel's io file; 5 "
              "process(es) skipped this interval");
  assert_text(PIDIO_TROUBLE_PIDFILE, 1, 0, -ENOENT,
              "PIDFILE \"/run/x.pid\" does not exist; no process matches "
              "until it holds a valid pid");
  assert_text(PIDIO_TROUBLE_LIST, 1, 0, -ENOENT,
              "cannot read PROCROOT \"/proc\": No such file or directory");
  assert_text(PIDIO_TROUBLE_NO_CGROUP2, 1, 16, -ENOENT,
              "CGROUP \"/a/b\" selects on cgroup v2, but /proc/16/cgroup has "
              "no cgroup v2 (0::) line: on a cgroup v1 only host SCOPE "
              "matches nothing");
  assert_text(PIDIO_TROUBLE_CMDLINE_CUT, 1, 17, -E2BIG,
              "CMDLINE: /proc/17/cmdline is longer than 131072 bytes; only "
              "its first 131072 bytes are matched (SCOPE may miss such "
              "processes)");
}
END_TEST

START_TEST(t_short_buffer) {
  pidio_select_t sel = {0};
  pidio_report_t r = {.matched = 9};
  pidio_cause_t c = {
      .kind = PIDIO_TROUBLE_DENIED, .count = 1, .pid = 12, .err = -EACCES};
  char buf[16];
  memset(buf, 'x', sizeof(buf));
  pidio_tell_text(buf, 11, &words, &c, &r, "/proc", &sel);
  ck_assert_str_eq(buf, "permission");
  ck_assert_int_eq(buf[11], 'x');
}
END_TEST

Suite *make_tell_suite(void) {
  Suite *s = suite_create("tell");
  TCase *tc = tcase_create("text");
  tcase_add_test(tc, t_texts);
  tcase_add_test(tc, t_short_buffer);
  suite_add_tcase(s, tc);
  return s;
}
