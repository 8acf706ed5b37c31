/*
 * Unit tests of pidio_select: the selector setters and matching.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_select.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define ERRSZ 256

static pidio_select_t sel;
static char err[ERRSZ];

static void sel_setup(void) {
  pidio_select_init(&sel);
  memset(err, 0, sizeof(err));
}

static void sel_teardown(void) { pidio_select_free(&sel); }

static pidio_stat_t stat_of(const char *comm) {
  pidio_stat_t st;
  memset(&st, 0, sizeof(st));
  ck_assert_uint_lt(strlen(comm), sizeof(st.comm));
  strcpy(st.comm, comm);
  st.state = 'S';
  st.ppid = 1;
  st.start_time = 1000;
  return st;
}

static void assert_err_contains(const char *needle) {
  ck_assert_msg(strstr(err, needle) != NULL,
                "message \"%s\" does not contain \"%s\"", err, needle);
}

/* ---- setters ------------------------------------------------------------ */

START_TEST(test_init_empty) {
  ck_assert_int_eq(sel.pid, 0);
  ck_assert_ptr_null(sel.pidfile);
  ck_assert_ptr_null(sel.name);
  ck_assert_ptr_null(sel.cmdline);
  ck_assert(!pidio_select_by_pid(&sel));
  ck_assert(!pidio_select_wants_cmdline(&sel));
}
END_TEST

START_TEST(test_pid_accepted) {
  ck_assert_int_eq(pidio_select_set_pid(&sel, 1234.0, err, ERRSZ), 0);
  ck_assert_int_eq(sel.pid, 1234);
  pidio_select_free(&sel);
  ck_assert_int_eq(sel.pid, 0);
  ck_assert_int_eq(pidio_select_set_pid(&sel, 1.0, err, ERRSZ), 0);
  ck_assert_int_eq(sel.pid, 1);
  pidio_select_free(&sel);
  ck_assert_int_eq(pidio_select_set_pid(&sel, 4194304.0, err, ERRSZ), 0);
  ck_assert_int_eq(sel.pid, PIDIO_PID_MAX);
}
END_TEST

START_TEST(test_pid_refused) {
  static const double bad[] = {0.0,       -1.0,     1.5,      4194305.0,
                               4194304.5, 0.999999, -0.0,     1e300,
                               -1e300,    INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    ck_assert_msg(pidio_select_set_pid(&sel, bad[i], err, ERRSZ) == -EINVAL,
                  "Pid %g accepted", bad[i]);
    ck_assert_int_eq(sel.pid, 0);
    ck_assert_str_eq(err, "needs a process id from 1 to 4194304");
  }
  ck_assert_int_eq(pidio_select_set_pid(&sel, NAN, err, ERRSZ), -EINVAL);
  ck_assert_int_eq(sel.pid, 0);
  /* After refusals, a good value is still taken. */
  ck_assert_int_eq(pidio_select_set_pid(&sel, 7.0, err, ERRSZ), 0);
  ck_assert_int_eq(sel.pid, 7);
}
END_TEST

START_TEST(test_pid_twice) {
  ck_assert_int_eq(pidio_select_set_pid(&sel, 10.0, err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_pid(&sel, 20.0, err, ERRSZ), -EINVAL);
  ck_assert_str_eq(err, "given twice; a block takes each selector once");
  ck_assert_int_eq(sel.pid, 10);
  /* Even the same value, or a bad one, is "twice". */
  ck_assert_int_eq(pidio_select_set_pid(&sel, 10.0, err, ERRSZ), -EINVAL);
  ck_assert_int_eq(pidio_select_set_pid(&sel, 0.0, err, ERRSZ), -EINVAL);
  ck_assert_int_eq(sel.pid, 10);
}
END_TEST

START_TEST(test_pidfile) {
  ck_assert_int_eq(pidio_select_set_pidfile(&sel, "run/app.pid", err, ERRSZ),
                   -EINVAL);
  ck_assert_str_eq(err, "needs an absolute path, not \"run/app.pid\"");
  ck_assert_ptr_null(sel.pidfile);
  ck_assert_int_eq(pidio_select_set_pidfile(&sel, "./app.pid", err, ERRSZ),
                   -EINVAL);
  ck_assert_int_eq(pidio_select_set_pidfile(&sel, "", err, ERRSZ), -EINVAL);
  ck_assert_ptr_null(sel.pidfile);

  ck_assert_int_eq(pidio_select_set_pidfile(&sel, "/run/app.pid", err, ERRSZ),
                   0);
  ck_assert_str_eq(sel.pidfile, "/run/app.pid");
  ck_assert(pidio_select_by_pid(&sel));
  ck_assert(!pidio_select_wants_cmdline(&sel));

  ck_assert_int_eq(pidio_select_set_pidfile(&sel, "/run/other.pid", err, ERRSZ),
                   -EINVAL);
  ck_assert_str_eq(err, "given twice; a block takes each selector once");
  ck_assert_str_eq(sel.pidfile, "/run/app.pid");
}
END_TEST

START_TEST(test_name) {
  ck_assert_int_eq(pidio_select_set_name(&sel, "", err, ERRSZ), -EINVAL);
  assert_err_contains("1 to 15 characters");
  ck_assert_ptr_null(sel.name);
  ck_assert_int_eq(pidio_select_set_name(&sel, "abcdefghijklmnop", err, ERRSZ),
                   -EINVAL);
  ck_assert_str_eq(err, "\"abcdefghijklmnop\" can never match: a process "
                        "name (comm) has 1 to 15 characters; use CommandLine "
                        "for longer names");
  ck_assert_ptr_null(sel.name);

  ck_assert_int_eq(pidio_select_set_name(&sel, "abcdefghijklmno", err, ERRSZ),
                   0);
  ck_assert_str_eq(sel.name, "abcdefghijklmno");
  ck_assert(!pidio_select_by_pid(&sel));
  ck_assert(!pidio_select_wants_cmdline(&sel));

  ck_assert_int_eq(pidio_select_set_name(&sel, "nginx", err, ERRSZ), -EINVAL);
  ck_assert_str_eq(err, "given twice; a block takes each selector once");
  ck_assert_str_eq(sel.name, "abcdefghijklmno");
}
END_TEST

START_TEST(test_name_one_char) {
  ck_assert_int_eq(pidio_select_set_name(&sel, "a", err, ERRSZ), 0);
  ck_assert_str_eq(sel.name, "a");
}
END_TEST

START_TEST(test_cmdline_invalid) {
  static const char *const bad[] = {"(", "[a", "a{2,1}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    ck_assert_msg(pidio_select_set_cmdline(&sel, bad[i], err, ERRSZ) == -EINVAL,
                  "regex \"%s\" accepted", bad[i]);
    assert_err_contains("invalid regular expression");
    assert_err_contains(bad[i]);
    ck_assert_ptr_null(sel.cmdline);
    ck_assert(!pidio_select_wants_cmdline(&sel));
  }
  /* Still settable after refusals. */
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "ok", err, ERRSZ), 0);
  ck_assert_str_eq(sel.cmdline, "ok");
}
END_TEST

START_TEST(test_cmdline_twice) {
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "^a", err, ERRSZ), 0);
  ck_assert_str_eq(sel.cmdline, "^a");
  ck_assert(pidio_select_wants_cmdline(&sel));
  ck_assert(!pidio_select_by_pid(&sel));
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "^b", err, ERRSZ), -EINVAL);
  ck_assert_str_eq(err, "given twice; a block takes each selector once");
  ck_assert_str_eq(sel.cmdline, "^a");
  /* The first regex is still the one in use. */
  pidio_stat_t st = stat_of("x");
  ck_assert(pidio_select_match(&sel, &st, "abc"));
  ck_assert(!pidio_select_match(&sel, &st, "bcd"));
}
END_TEST

START_TEST(test_err_truncated) {
  char small[8];
  memset(small, 'X', sizeof(small));
  ck_assert_int_eq(pidio_select_set_pid(&sel, 0.0, small, sizeof(small)),
                   -EINVAL);
  ck_assert_str_eq(small, "needs a");
}
END_TEST

/* ---- check, by_pid, wants_cmdline --------------------------------------- */

START_TEST(test_check_empty) {
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), -EINVAL);
  ck_assert_str_eq(err, "selects nothing: give at least one of Pid, PidFile, "
                        "Name, CommandLine, Exe, User, Cgroup");
}
END_TEST

START_TEST(test_check_each_selector) {
  ck_assert_int_eq(pidio_select_set_pid(&sel, 5.0, err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  ck_assert(pidio_select_by_pid(&sel));
  ck_assert(!pidio_select_wants_cmdline(&sel));
  pidio_select_free(&sel);

  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), -EINVAL);
  ck_assert_int_eq(pidio_select_set_pidfile(&sel, "/x.pid", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  pidio_select_free(&sel);

  ck_assert_int_eq(pidio_select_set_name(&sel, "x", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  ck_assert(!pidio_select_by_pid(&sel));
  pidio_select_free(&sel);

  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "x", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  ck_assert(!pidio_select_by_pid(&sel));
  ck_assert(pidio_select_wants_cmdline(&sel));
}
END_TEST

START_TEST(test_check_after_refusals) {
  /* Refused setters leave the selection empty. */
  ck_assert_int_eq(pidio_select_set_pid(&sel, -1.0, err, ERRSZ), -EINVAL);
  ck_assert_int_eq(pidio_select_set_pidfile(&sel, "rel", err, ERRSZ), -EINVAL);
  ck_assert_int_eq(pidio_select_set_name(&sel, "", err, ERRSZ), -EINVAL);
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "(", err, ERRSZ), -EINVAL);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), -EINVAL);
  ck_assert(!pidio_select_by_pid(&sel));
  ck_assert(!pidio_select_wants_cmdline(&sel));
}
END_TEST

START_TEST(test_by_pid_combined) {
  ck_assert_int_eq(pidio_select_set_pid(&sel, 99.0, err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_pidfile(&sel, "/a.pid", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_name(&sel, "n", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "c", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  ck_assert(pidio_select_by_pid(&sel));
  ck_assert(pidio_select_wants_cmdline(&sel));
}
END_TEST

/* ---- match -------------------------------------------------------------- */

START_TEST(test_match_name_exact) {
  ck_assert_int_eq(pidio_select_set_name(&sel, "python3", err, ERRSZ), 0);
  pidio_stat_t st = stat_of("python3");
  ck_assert(pidio_select_match(&sel, &st, NULL));
  st = stat_of("python");
  ck_assert(!pidio_select_match(&sel, &st, NULL));
  st = stat_of("python3.11");
  ck_assert(!pidio_select_match(&sel, &st, NULL));
  st = stat_of("Python3");
  ck_assert(!pidio_select_match(&sel, &st, NULL));
  st = stat_of("");
  ck_assert(!pidio_select_match(&sel, &st, NULL));
  st = stat_of("python3 ");
  ck_assert(!pidio_select_match(&sel, &st, NULL));
}
END_TEST

START_TEST(test_match_name_ignores_cmdline) {
  ck_assert_int_eq(pidio_select_set_name(&sel, "sleep", err, ERRSZ), 0);
  pidio_stat_t st = stat_of("sleep");
  ck_assert(pidio_select_match(&sel, &st, "anything at all"));
  ck_assert(pidio_select_match(&sel, &st, ""));
  st = stat_of("bash");
  ck_assert(!pidio_select_match(&sel, &st, "sleep 30"));
}
END_TEST

START_TEST(test_match_regex) {
  ck_assert_int_eq(
      pidio_select_set_cmdline(&sel, "^/usr/bin/python3 .*worker\\.py( |$)",
                               err, ERRSZ),
      0);
  pidio_stat_t st = stat_of("python3");
  ck_assert(
      pidio_select_match(&sel, &st, "/usr/bin/python3 /opt/app/worker.py"));
  ck_assert(pidio_select_match(
      &sel, &st, "/usr/bin/python3 /opt/app/worker.py --queue jobs"));
  ck_assert(pidio_select_match(&sel, &st, "/usr/bin/python3 worker.py"));
  ck_assert(pidio_select_match(&sel, &st, "/usr/bin/python3 -u worker.py -v"));
  /* Not anchored elsewhere, not a prefix of a longer name. */
  ck_assert(
      !pidio_select_match(&sel, &st, "/usr/bin/python3 /opt/app/worker.pyc"));
  ck_assert(
      !pidio_select_match(&sel, &st, "/usr/bin/python3 /opt/app/workerXpy"));
  ck_assert(!pidio_select_match(&sel, &st, "/usr/bin/python3.11 worker.py"));
  ck_assert(!pidio_select_match(&sel, &st,
                                "sudo /usr/bin/python3 /opt/app/worker.py"));
  ck_assert(!pidio_select_match(&sel, &st, "/usr/bin/python3"));
  ck_assert(!pidio_select_match(&sel, &st, ""));
  /* The comm does not matter when no Name is set. */
  st = stat_of("whatever");
  ck_assert(pidio_select_match(&sel, &st, "/usr/bin/python3 worker.py"));
}
END_TEST

START_TEST(test_match_regex_unanchored) {
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "--port[= ]80", err, ERRSZ),
                   0);
  pidio_stat_t st = stat_of("srv");
  ck_assert(pidio_select_match(&sel, &st, "/bin/srv --port=80"));
  ck_assert(pidio_select_match(&sel, &st, "/bin/srv --port 8080 -x"));
  ck_assert(!pidio_select_match(&sel, &st, "/bin/srv --port=90"));
  ck_assert(!pidio_select_match(&sel, &st, "/bin/srv --PORT=80"));
}
END_TEST

START_TEST(test_match_regex_null_cmdline) {
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, ".*", err, ERRSZ), 0);
  pidio_stat_t st = stat_of("kworker/0:1");
  ck_assert(!pidio_select_match(&sel, &st, NULL));
  /* An empty command line (a kernel thread) is still a string. */
  ck_assert(pidio_select_match(&sel, &st, ""));
}
END_TEST

START_TEST(test_match_name_and_regex) {
  ck_assert_int_eq(pidio_select_set_name(&sel, "python3", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "worker\\.py", err, ERRSZ),
                   0);
  pidio_stat_t py = stat_of("python3");
  pidio_stat_t other = stat_of("python3.11");
  ck_assert(pidio_select_match(&sel, &py, "/usr/bin/python3 worker.py"));
  ck_assert(!pidio_select_match(&sel, &py, "/usr/bin/python3 server.py"));
  ck_assert(!pidio_select_match(&sel, &other, "/usr/bin/python3 worker.py"));
  ck_assert(!pidio_select_match(&sel, &other, "/usr/bin/python3 server.py"));
  ck_assert(!pidio_select_match(&sel, &py, NULL));
}
END_TEST

START_TEST(test_match_pid_only) {
  /* The pid is the caller's business: a Pid-only block matches any stat. */
  ck_assert_int_eq(pidio_select_set_pid(&sel, 42.0, err, ERRSZ), 0);
  pidio_stat_t st = stat_of("anything");
  ck_assert(pidio_select_match(&sel, &st, NULL));
  ck_assert(pidio_select_match(&sel, &st, "x y z"));
}
END_TEST

START_TEST(test_free_then_reuse) {
  ck_assert_int_eq(pidio_select_set_name(&sel, "a", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "^a$", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_pidfile(&sel, "/p", err, ERRSZ), 0);
  pidio_select_free(&sel);
  ck_assert_ptr_null(sel.name);
  ck_assert_ptr_null(sel.cmdline);
  ck_assert_ptr_null(sel.pidfile);
  ck_assert_int_eq(sel.pid, 0);
  pidio_select_free(&sel); /* twice is harmless */
  ck_assert_int_eq(pidio_select_set_name(&sel, "b", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_cmdline(&sel, "^b$", err, ERRSZ), 0);
  pidio_stat_t st = stat_of("b");
  ck_assert(pidio_select_match(&sel, &st, "b"));
  ck_assert(!pidio_select_match(&sel, &st, "a"));
}
END_TEST

Suite *make_select_suite(void) {
  Suite *s = suite_create("select");

  TCase *tc = tcase_create("setters");
  tcase_add_checked_fixture(tc, sel_setup, sel_teardown);
  tcase_add_test(tc, test_init_empty);
  tcase_add_test(tc, test_pid_accepted);
  tcase_add_test(tc, test_pid_refused);
  tcase_add_test(tc, test_pid_twice);
  tcase_add_test(tc, test_pidfile);
  tcase_add_test(tc, test_name);
  tcase_add_test(tc, test_name_one_char);
  tcase_add_test(tc, test_cmdline_invalid);
  tcase_add_test(tc, test_cmdline_twice);
  tcase_add_test(tc, test_err_truncated);
  suite_add_tcase(s, tc);

  tc = tcase_create("check");
  tcase_add_checked_fixture(tc, sel_setup, sel_teardown);
  tcase_add_test(tc, test_check_empty);
  tcase_add_test(tc, test_check_each_selector);
  tcase_add_test(tc, test_check_after_refusals);
  tcase_add_test(tc, test_by_pid_combined);
  suite_add_tcase(s, tc);

  tc = tcase_create("match");
  tcase_add_checked_fixture(tc, sel_setup, sel_teardown);
  tcase_add_test(tc, test_match_name_exact);
  tcase_add_test(tc, test_match_name_ignores_cmdline);
  tcase_add_test(tc, test_match_regex);
  tcase_add_test(tc, test_match_regex_unanchored);
  tcase_add_test(tc, test_match_regex_null_cmdline);
  tcase_add_test(tc, test_match_name_and_regex);
  tcase_add_test(tc, test_match_pid_only);
  tcase_add_test(tc, test_free_then_reuse);
  suite_add_tcase(s, tc);

  return s;
}
