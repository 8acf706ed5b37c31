/*
 * Unit tests of pidio_select: the selector setters and matching.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_proc.h"
#include "pidio_reader.h"
#include "pidio_select.h"

#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* A repetition of a repetition is refused before regcomp, which in glibc
 * takes time exponential in their count (".*" and fourteen "+" run for
 * more than 20 s); repetitions that are not stacked, escaped operators and
 * operators inside a bracket expression are accepted, and quickly. */
START_TEST(test_cmdline_stacked_repetition) {
  static const char *const stacked[] = {
      "a**", ".*+", "x{2}{3}", "a+?", "a?*", "b{1,}+", "^a.*++++++++++++++++$",
      ".*++++++++++++++++++++++++", "(ab)*{2}", "[x]+*"};
  for (size_t i = 0; i < sizeof(stacked) / sizeof(stacked[0]); i++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    err[0] = '\0';
    ck_assert_msg(pidio_select_set_cmdline(&sel, stacked[i], err, ERRSZ) ==
                      -EINVAL,
                  "stacked repetition \"%s\" accepted", stacked[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_err_contains("invalid regular expression");
    assert_err_contains(stacked[i]);
    assert_err_contains("a repetition of a repetition");
    ck_assert_ptr_null(sel.cmdline);
    /* Refused before regcomp: far below a second even on a busy machine. */
    ck_assert_msg(t1.tv_sec - t0.tv_sec < 1, "refusing \"%s\" took %lds",
                  stacked[i], (long)(t1.tv_sec - t0.tv_sec));
  }
  static const char *const fine[] = {
      "a*b*",     "(a*)*",    "a\\**",  "[*+?]+", "[]*]+",  "[^]*]?",
      "x{2}y{3}", "(x{2}){3}", "\\{a*", "a*|b+", "((a+)+)+"};
  for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
    ck_assert_msg(pidio_select_set_cmdline(&sel, fine[i], err, ERRSZ) == 0,
                  "\"%s\" refused: %s", fine[i], err);
    ck_assert_str_eq(sel.cmdline, fine[i]);
    pidio_select_free(&sel);
    pidio_select_init(&sel);
  }
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
  /* The list of selectors is built from the option table by
     pidio_opts_check (tests/test_options.c asserts it, All included). */
  ck_assert_str_eq(err, "selects nothing");
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

START_TEST(test_all) {
  ck_assert(!sel.all);
  ck_assert_int_eq(pidio_select_set_all(&sel, false, err, ERRSZ), -EINVAL);
  assert_err_contains("All false would select nothing");
  ck_assert(!sel.all);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), -EINVAL);
  ck_assert_int_eq(pidio_select_set_all(&sel, true, err, ERRSZ), 0);
  ck_assert(sel.all);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  ck_assert(!pidio_select_by_pid(&sel));
  ck_assert_int_eq(pidio_select_set_all(&sel, true, err, ERRSZ), -EINVAL);
  assert_err_contains("given twice");
  pidio_stat_t st = stat_of("anything");
  ck_assert(pidio_select_match(&sel, &st, NULL));
}
END_TEST

/* Every process of the real /proc but the kernel threads (PF_KTHREAD)
 * matches All; with Name, only what the name says. */
START_TEST(test_all_real_proc) {
  ck_assert_int_eq(pidio_select_set_all(&sel, true, err, ERRSZ), 0);
  pidio_proc_t p;
  ck_assert_int_eq(pidio_proc_open(&p, "/proc"), 0);
  pidio_pidlist_t l = {0};
  ck_assert_int_eq(pidio_proc_list(&p, &l), 0);
  unsigned kthreads = 0, matched = 0, self = 0;
  for (size_t i = 0; i < l.n; i++) {
    int dfd = pidio_proc_open_pid(&p, l.e[i].pid);
    if (dfd < 0)
      continue; /* exited meanwhile */
    pidio_stat_t st;
    if (pidio_proc_read_stat(dfd, &st) == 0) {
      enum pidio_match m =
          pidio_select_match_proc(&sel, dfd, l.e[i].pid, &st, -1, NULL);
      if (st.flags & PIDIO_PF_KTHREAD) {
        kthreads++;
        ck_assert_int_eq(m, PIDIO_MATCH_NO);
      } else {
        ck_assert_int_eq(m, PIDIO_MATCH_YES);
        matched++;
        self += l.e[i].pid == getpid();
      }
    }
    close(dfd);
  }
  ck_assert_uint_gt(kthreads, 0); /* kthreadd at least */
  ck_assert_uint_gt(matched, 0);
  ck_assert_uint_eq(self, 1);
  pidio_pidlist_free(&l);
  pidio_proc_close(&p);
}
END_TEST

/* ---- a selector's file that could not be read ---------------------------- */

/* A pid directory made at run time (0755, so that nobody may enter it):
 * status, cgroup and cmdline of a process that would match; what is in
 * bad[] is replaced: by a directory (a read fails with EISDIR, as with
 * EMFILE: an error that is no answer) or, with mode 0, by a file that
 * nobody may read. */
static char piddir[4200];

static int pid_dir(const char *bad, bool as_dir) {
  const char *tmp = getenv("TMPDIR");
  snprintf(piddir, sizeof(piddir), "%s/pidio-sel.XXXXXX", tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(piddir));
  ck_assert_int_eq(chmod(piddir, 0755), 0);
  static const struct {
    const char *name, *text;
  } files[] = {{"status", "Name:\tx\nUid:\t0\t0\t0\t0\n"},
               {"cgroup", "0::/system.slice/x.service\n"},
               {"cmdline", "x\0--flag\0"}};
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    char path[4300];
    snprintf(path, sizeof(path), "%s/%s", piddir, files[i].name);
    if (strcmp(files[i].name, bad) == 0 && as_dir) {
      ck_assert_int_eq(mkdir(path, 0755), 0);
      continue;
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    size_t n = strcmp(files[i].name, "cmdline") == 0 ? 10 : strlen(files[i].text);
    ck_assert_uint_eq(fwrite(files[i].text, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    if (strcmp(files[i].name, bad) == 0)
      ck_assert_int_eq(chmod(path, 0), 0);
  }
  int dfd = open(piddir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge(dfd, 0);
  return dfd;
}

static void pid_dir_remove(int dfd) {
  close(dfd);
  char cmd[4300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", piddir);
  ck_assert_int_eq(system(cmd), 0);
}

/* The match as nobody would see it (root reads any file): in a child. */
static enum pidio_match match_as_nobody(int dfd) {
  pidio_stat_t st = stat_of("x");
  pid_t c = fork();
  ck_assert_int_ge(c, 0);
  if (c == 0) {
    if (geteuid() == 0 &&
        (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
         setresuid(65534, 65534, 65534) != 0))
      _exit(100);
    _exit(pidio_select_match_proc(&sel, dfd, 42, &st, -1, NULL));
  }
  int status;
  ck_assert_int_eq(waitpid(c, &status, 0), c);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 100);
  return (enum pidio_match)WEXITSTATUS(status);
}

static enum pidio_match match_here(int dfd) {
  pidio_stat_t st = stat_of("x");
  return pidio_select_match_proc(&sel, dfd, 42, &st, -1, NULL);
}

START_TEST(test_unreadable_status) {
  /* User: a status that could not be read is neither a match nor a
   * mismatch; one that may not be read is undecided (counted unreadable). */
  ck_assert_int_eq(pidio_select_set_user(&sel, "0", err, ERRSZ), 0);
  int dfd = pid_dir("", false);
  ck_assert_int_eq(match_here(dfd), PIDIO_MATCH_YES);
  pid_dir_remove(dfd);
  dfd = pid_dir("status", true);
  ck_assert_int_eq(match_here(dfd), PIDIO_MATCH_ERROR);
  pid_dir_remove(dfd);
  dfd = pid_dir("status", false);
  ck_assert_int_eq(match_as_nobody(dfd), PIDIO_MATCH_DENIED);
  unlinkat(dfd, "status", 0);
  ck_assert_int_eq(match_here(dfd), PIDIO_MATCH_NO); /* gone: exited */
  pid_dir_remove(dfd);
}
END_TEST

/* A host where no cgroup v2 hierarchy was ever mounted has no "0::" line
 * in any process's cgroup file: the BPF reader then names no cgroup in
 * exit records either, as /proc names none for live processes. */
static void put_cgroup(const char *root, const char *text, size_t len) {
  char path[4300];
  snprintf(path, sizeof(path), "%s/77/cgroup", root);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_cgroup2_visible) {
  char root[4200], dir[4300], path[4400];
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof(root), "%s/pidio-cg2.XXXXXX", tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(root));
  snprintf(dir, sizeof(dir), "%s/77", root);
  ck_assert_int_eq(mkdir(dir, 0755), 0);
  pidio_proc_t proc;
  ck_assert_int_eq(pidio_proc_open(&proc, root), 0);

  static const char v1[] = "4:memory:/user.slice\n3:cpu,cpuacct:/\n"
                           "1:name=systemd:/user.slice/session-1.scope\n";
  put_cgroup(root, v1, strlen(v1));
  ck_assert(!pidio_reader_cgroup2_visible(&proc, 77));
  static const char hybrid[] = "4:memory:/user.slice\n"
                               "1:name=systemd:/user.slice\n0::/\n";
  put_cgroup(root, hybrid, strlen(hybrid));
  ck_assert(pidio_reader_cgroup2_visible(&proc, 77));
  static const char v2[] = "0::/system.slice/nginx.service\n";
  put_cgroup(root, v2, strlen(v2));
  ck_assert(pidio_reader_cgroup2_visible(&proc, 77));
  /* Longer than what is read: the "0::" line may be past it; nothing is
   * known against the hierarchy. */
  char big[9000];
  size_t n = 0;
  while (n + 40 < sizeof(big) - 8)
    n += (size_t)snprintf(big + n, sizeof(big) - n, "%zu:name=h%zu:/a/b/c\n",
                          n % 900 + 1, n);
  n += (size_t)snprintf(big + n, sizeof(big) - n, "0::/\n");
  put_cgroup(root, big, n);
  ck_assert(pidio_reader_cgroup2_visible(&proc, 77));
  /* Unreadable or gone: nothing known against it either. */
  ck_assert(pidio_reader_cgroup2_visible(&proc, 78));

  pidio_proc_close(&proc);
  snprintf(path, sizeof(path), "%s/cgroup", dir);
  unlink(path);
  rmdir(dir);
  rmdir(root);
}
END_TEST

START_TEST(test_unreadable_cgroup) {
  ck_assert_int_eq(pidio_select_set_cgroup(&sel, "/system.slice", err, ERRSZ),
                   0);
  int dfd = pid_dir("", false);
  ck_assert_int_eq(match_here(dfd), PIDIO_MATCH_YES);
  pid_dir_remove(dfd);
  dfd = pid_dir("cgroup", true);
  ck_assert_int_eq(match_here(dfd), PIDIO_MATCH_ERROR);
  pid_dir_remove(dfd);
  dfd = pid_dir("cgroup", false);
  ck_assert_int_eq(match_as_nobody(dfd), PIDIO_MATCH_DENIED);
  pid_dir_remove(dfd);
}
END_TEST

START_TEST(test_unreadable_cmdline) {
  /* "^$" and ".*" match an empty command line: one that could not be read
   * must not be taken for one. Only a gone cmdline is empty. */
  static const char *const res[] = {"^$", ".*"};
  for (size_t i = 0; i < 2; i++) {
    pidio_select_free(&sel);
    pidio_select_init(&sel);
    ck_assert_int_eq(pidio_select_set_cmdline(&sel, res[i], err, ERRSZ), 0);
    int dfd = pid_dir("cmdline", true);
    ck_assert_int_eq(match_here(dfd), PIDIO_MATCH_ERROR);
    pid_dir_remove(dfd);
    dfd = pid_dir("cmdline", false);
    ck_assert_int_eq(match_as_nobody(dfd), PIDIO_MATCH_DENIED);
    unlinkat(dfd, "cmdline", 0);
    ck_assert_int_eq(match_here(dfd), PIDIO_MATCH_YES); /* gone: empty */
    pid_dir_remove(dfd);
  }
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

/* ---- Exe, User, Cgroup, Children setters --------------------------------- */

START_TEST(test_exe_setter) {
  ck_assert_int_eq(pidio_select_set_exe(&sel, "sbin/nginx", err, ERRSZ),
                   -EINVAL);
  ck_assert_str_eq(err, "needs an absolute path, not \"sbin/nginx\"");
  ck_assert_ptr_null(sel.exe);
  ck_assert_int_eq(pidio_select_set_exe(&sel, "", err, ERRSZ), -EINVAL);
  ck_assert_ptr_null(sel.exe);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), -EINVAL);

  ck_assert_int_eq(pidio_select_set_exe(&sel, "/usr/sbin/nginx", err, ERRSZ),
                   0);
  ck_assert_str_eq(sel.exe, "/usr/sbin/nginx");
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  ck_assert(!pidio_select_by_pid(&sel));
  ck_assert(!pidio_select_wants_cmdline(&sel));

  ck_assert_int_eq(pidio_select_set_exe(&sel, "/usr/bin/gzip", err, ERRSZ),
                   -EINVAL);
  ck_assert_str_eq(err, "given twice; a block takes each selector once");
  ck_assert_str_eq(sel.exe, "/usr/sbin/nginx");
}
END_TEST

START_TEST(test_user_by_name) {
  struct passwd *pw = getpwnam("root");
  ck_assert_ptr_nonnull(pw);
  ck_assert_uint_eq(pw->pw_uid, 0);
  ck_assert_int_eq(pidio_select_set_user(&sel, "root", err, ERRSZ), 0);
  ck_assert_str_eq(sel.user, "root");
  ck_assert_uint_eq(sel.uid, 0);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  pidio_select_free(&sel);

  pw = getpwnam("nobody");
  ck_assert_ptr_nonnull(pw);
  uid_t nobody = pw->pw_uid;
  ck_assert_int_eq(pidio_select_set_user(&sel, "nobody", err, ERRSZ), 0);
  ck_assert_str_eq(sel.user, "nobody");
  ck_assert_uint_eq(sel.uid, nobody);
}
END_TEST

START_TEST(test_user_by_number) {
  /* A decimal string is a uid, whether or not a user has it. */
  ck_assert_int_eq(pidio_select_set_user(&sel, "1000", err, ERRSZ), 0);
  ck_assert_str_eq(sel.user, "1000");
  ck_assert_uint_eq(sel.uid, 1000);
  pidio_select_free(&sel);
  ck_assert_int_eq(pidio_select_set_user(&sel, "0", err, ERRSZ), 0);
  ck_assert_uint_eq(sel.uid, 0);
  pidio_select_free(&sel);
  ck_assert_int_eq(pidio_select_set_user(&sel, "4294967294", err, ERRSZ), 0);
  ck_assert_uint_eq(sel.uid, 4294967294u);
  pidio_select_free(&sel);
  ck_assert_int_eq(pidio_select_set_user(&sel, "4294967295", err, ERRSZ),
                   -EINVAL);
  ck_assert_str_eq(err, "uid 4294967295 is out of range");
  ck_assert_ptr_null(sel.user);
  ck_assert_int_eq(pidio_select_set_user(&sel, "99999999999", err, ERRSZ),
                   -EINVAL);
  ck_assert_str_eq(err, "uid 99999999999 is out of range");
  ck_assert_ptr_null(sel.user);

  /* The numeric option form. */
  ck_assert_int_eq(pidio_select_set_uid(&sel, 33.0, err, ERRSZ), 0);
  ck_assert_str_eq(sel.user, "33");
  ck_assert_uint_eq(sel.uid, 33);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  pidio_select_free(&sel);
  ck_assert_int_eq(pidio_select_set_uid(&sel, 0.0, err, ERRSZ), 0);
  ck_assert_str_eq(sel.user, "0");
  ck_assert_uint_eq(sel.uid, 0);
  pidio_select_free(&sel);
  ck_assert_int_eq(pidio_select_set_uid(&sel, 4294967294.0, err, ERRSZ), 0);
  ck_assert_str_eq(sel.user, "4294967294");
  ck_assert_uint_eq(sel.uid, 4294967294u);
}
END_TEST

START_TEST(test_uid_refused) {
  static const double bad[] = {-1.0,  0.5,    4294967295.0, 4294967296.0,
                               1e300, -1e300, INFINITY,     -INFINITY};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    ck_assert_msg(pidio_select_set_uid(&sel, bad[i], err, ERRSZ) == -EINVAL,
                  "uid %g accepted", bad[i]);
    ck_assert_str_eq(err, "needs a user name or a uid from 0 to 4294967294");
    ck_assert_ptr_null(sel.user);
  }
  ck_assert_int_eq(pidio_select_set_uid(&sel, NAN, err, ERRSZ), -EINVAL);
  ck_assert_ptr_null(sel.user);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), -EINVAL);
}
END_TEST

/* What pidio_select_set_user says of a user, asked in a child process: a
 * lookup that finds nothing in /etc/passwd goes on to other NSS modules,
 * which stay loaded, and every process the later tests fork would show
 * their memory to valgrind as possibly lost. */
typedef struct user_answer {
  int rc;
  int user_set; /* sel.user was set */
  char err[ERRSZ];
} user_answer_t;

static user_answer_t set_user_in_child(const char *user) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    user_answer_t a;
    memset(&a, 0, sizeof(a));
    pidio_select_t s;
    pidio_select_init(&s);
    a.rc = pidio_select_set_user(&s, user, a.err, sizeof(a.err));
    a.user_set = s.user != NULL;
    pidio_select_free(&s);
    ssize_t w = write(fds[1], &a, sizeof(a));
    _exit(w == (ssize_t)sizeof(a) ? 0 : 1);
  }
  close(fds[1]);
  user_answer_t a;
  size_t got = 0;
  while (got < sizeof(a)) {
    ssize_t r = read(fds[0], (char *)&a + got, sizeof(a) - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "the child asking for \"%s\" failed", user);
  ck_assert_uint_eq(got, sizeof(a));
  return a;
}

/* Resolved when the option is set: a user that does not exist is refused
 * then, not a block that silently never matches. */
START_TEST(test_user_unknown) {
  static const struct {
    const char *user, *err;
  } cases[] = {
      {"no-such-user-pidio", "no such user \"no-such-user-pidio\""},
      {"", "no such user \"\""},
      {"-1", "no such user \"-1\""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    user_answer_t a = set_user_in_child(cases[i].user);
    ck_assert_msg(a.rc == -EINVAL, "User \"%s\": %d", cases[i].user, a.rc);
    ck_assert_str_eq(a.err, cases[i].err);
    ck_assert_int_eq(a.user_set, 0);
  }
  /* The same child asking for an existing user gets it. */
  user_answer_t a = set_user_in_child("root");
  ck_assert_int_eq(a.rc, 0);
  ck_assert_int_eq(a.user_set, 1);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), -EINVAL);
}
END_TEST

START_TEST(test_user_long_entry) {
  /* A passwd entry longer than a fixed 4096-byte buffer: getpwnam_r says
   * ERANGE, and the lookup must grow its buffer, not call the user
   * unknown. In a child with a mount namespace of its own (and a user
   * namespace when not root), a passwd file of the test's own is bound
   * over /etc/passwd. */
  const char *tmp = getenv("TMPDIR");
  char path[4200];
  snprintf(path, sizeof(path), "%s/pidio-passwd.XXXXXX", tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(path));
  char file[4300];
  snprintf(file, sizeof(file), "%s/passwd", path);
  FILE *f = fopen(file, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "root:x:0:0:root:/root:/bin/sh\npidiolong:x:4242:4242:");
  for (int i = 0; i < 6000; i++)
    fputc('g', f);
  fprintf(f, ":/nonexistent:/bin/false\n");
  ck_assert_int_eq(fclose(f), 0);
  pid_t c = fork();
  ck_assert_int_ge(c, 0);
  if (c == 0) {
    if (unit_private_mounts() != 0)
      _exit(10);
    if (mount(file, "/etc/passwd", "none", MS_BIND, NULL) != 0)
      _exit(11);
    pidio_select_t s;
    pidio_select_init(&s);
    char e[256];
    int rc = pidio_select_set_user(&s, "pidiolong", e, sizeof(e));
    int ok = rc == 0 && s.uid == 4242;
    pidio_select_free(&s);
    _exit(ok ? 0 : 12);
  }
  int status;
  ck_assert_int_eq(waitpid(c, &status, 0), c);
  unlink(file);
  rmdir(path);
  ck_assert(WIFEXITED(status));
  ck_assert_msg(WEXITSTATUS(status) == 0,
                "child: %d (10 no namespace, 11 no bind mount, 12 the long "
                "entry was not resolved to uid 4242)",
                WEXITSTATUS(status));
}
END_TEST

START_TEST(test_user_twice) {
  ck_assert_int_eq(pidio_select_set_user(&sel, "root", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_user(&sel, "nobody", err, ERRSZ), -EINVAL);
  ck_assert_str_eq(err, "given twice; a block takes each selector once");
  ck_assert_int_eq(pidio_select_set_uid(&sel, 33.0, err, ERRSZ), -EINVAL);
  ck_assert_str_eq(err, "given twice; a block takes each selector once");
  ck_assert_str_eq(sel.user, "root");
  ck_assert_uint_eq(sel.uid, 0);
}
END_TEST

START_TEST(test_cgroup_setter) {
  ck_assert_int_eq(
      pidio_select_set_cgroup(&sel, "system.slice/nginx.service", err, ERRSZ),
      -EINVAL);
  ck_assert_str_eq(err, "needs a cgroup v2 path from the root, like "
                        "\"/system.slice/nginx.service\", not "
                        "\"system.slice/nginx.service\"");
  ck_assert_ptr_null(sel.cgroup);
  ck_assert_int_eq(pidio_select_set_cgroup(&sel, "", err, ERRSZ), -EINVAL);
  ck_assert_ptr_null(sel.cgroup);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), -EINVAL);

  ck_assert_int_eq(
      pidio_select_set_cgroup(&sel, "/system.slice/nginx.service", err, ERRSZ),
      0);
  ck_assert_str_eq(sel.cgroup, "/system.slice/nginx.service");
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_cgroup(&sel, "/", err, ERRSZ), -EINVAL);
  ck_assert_str_eq(err, "given twice; a block takes each selector once");
  ck_assert_str_eq(sel.cgroup, "/system.slice/nginx.service");
}
END_TEST

/* "/a/b/" and "/a/b" are the same cgroup; "/" stays "/". */
START_TEST(test_cgroup_trailing_slash) {
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"/system.slice/nginx.service/", "/system.slice/nginx.service"},
      {"/system.slice/nginx.service///", "/system.slice/nginx.service"},
      {"/system.slice/", "/system.slice"},
      {"/", "/"},
      {"//", "/"},
      {"///", "/"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ck_assert_int_eq(pidio_select_set_cgroup(&sel, cases[i].in, err, ERRSZ), 0);
    ck_assert_msg(strcmp(sel.cgroup, cases[i].out) == 0,
                  "\"%s\" became \"%s\", expected \"%s\"", cases[i].in,
                  sel.cgroup, cases[i].out);
    pidio_select_free(&sel);
  }
}
END_TEST

/* Children widens a selection; it selects nothing by itself. */
START_TEST(test_children_not_a_selector) {
  pidio_select_set_children(&sel, true);
  ck_assert(sel.children);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), -EINVAL);
  /* The list of selectors is built from the option table by
     pidio_opts_check (tests/test_options.c asserts it, All included). */
  ck_assert_str_eq(err, "selects nothing");
  ck_assert_int_eq(pidio_select_set_name(&sel, "nginx", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_check(&sel, err, ERRSZ), 0);
  pidio_select_set_children(&sel, false);
  ck_assert(!sel.children);
}
END_TEST

START_TEST(test_free_new_selectors) {
  ck_assert_int_eq(pidio_select_set_exe(&sel, "/bin/x", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_user(&sel, "root", err, ERRSZ), 0);
  ck_assert_int_eq(pidio_select_set_cgroup(&sel, "/a/", err, ERRSZ), 0);
  pidio_select_set_children(&sel, true);
  pidio_select_free(&sel);
  ck_assert_ptr_null(sel.exe);
  ck_assert_ptr_null(sel.user);
  ck_assert_ptr_null(sel.cgroup);
  ck_assert_uint_eq(sel.uid, 0);
  ck_assert(!sel.children);
  /* Settable again after a free. */
  ck_assert_int_eq(pidio_select_set_uid(&sel, 5.0, err, ERRSZ), 0);
  ck_assert_uint_eq(sel.uid, 5);
  ck_assert_int_eq(pidio_select_set_cgroup(&sel, "/b", err, ERRSZ), 0);
  ck_assert_str_eq(sel.cgroup, "/b");
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
  tcase_add_test(tc, test_cmdline_stacked_repetition);
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
  tcase_add_test(tc, test_all);
  tcase_add_test(tc, test_all_real_proc);
  tcase_add_test(tc, test_unreadable_status);
  tcase_add_test(tc, test_unreadable_cgroup);
  tcase_add_test(tc, test_cgroup2_visible);
  tcase_add_test(tc, test_unreadable_cmdline);
  tcase_add_test(tc, test_free_then_reuse);
  suite_add_tcase(s, tc);

  tc = tcase_create("exe-user-cgroup");
  tcase_add_checked_fixture(tc, sel_setup, sel_teardown);
  tcase_add_test(tc, test_exe_setter);
  tcase_add_test(tc, test_user_by_name);
  tcase_add_test(tc, test_user_by_number);
  tcase_add_test(tc, test_uid_refused);
  tcase_add_test(tc, test_user_unknown);
  tcase_add_test(tc, test_user_long_entry);
  tcase_add_test(tc, test_user_twice);
  tcase_add_test(tc, test_cgroup_setter);
  tcase_add_test(tc, test_cgroup_trailing_slash);
  tcase_add_test(tc, test_children_not_a_selector);
  tcase_add_test(tc, test_free_new_selectors);
  suite_add_tcase(s, tc);

  return s;
}
