/*
 * Unit tests of pidio_parse (and of pidio_read_pidfile, the one file reader
 * that only feeds a parser): real captures and malformed files under
 * fixtures/io, fixtures/stat and fixtures/pidfile.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_parse.h"
#include "pidio_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURE_MAX 8192

/* A copy of s[0..len) in a heap block of exactly len bytes (at least 1), so
 * that a parser reading past len is caught by valgrind or a sanitizer. */
static char *exact_copy(const char *s, size_t len) {
  char *p = malloc(len > 0 ? len : 1);
  ck_assert_ptr_nonnull(p);
  if (len > 0)
    memcpy(p, s, len);
  return p;
}

static int parse_io_fixture(const char *rel, pidio_io_t *out) {
  static char buf[FIXTURE_MAX];
  size_t n = fixture_read(rel, buf, sizeof(buf));
  char *copy = exact_copy(buf, n);
  int rc = pidio_parse_io(copy, n, out);
  free(copy);
  return rc;
}

static int parse_stat_fixture(const char *rel, pidio_stat_t *out) {
  static char buf[FIXTURE_MAX];
  size_t n = fixture_read(rel, buf, sizeof(buf));
  char *copy = exact_copy(buf, n);
  int rc = pidio_parse_stat(copy, n, out);
  free(copy);
  return rc;
}

static int parse_u64_str(const char *s, uint64_t *out) {
  size_t len = strlen(s);
  char *copy = exact_copy(s, len);
  int rc = pidio_parse_u64(copy, len, out);
  free(copy);
  return rc;
}

static int parse_pidfile_str(const char *s, pid_t *out) {
  size_t len = strlen(s);
  char *copy = exact_copy(s, len);
  int rc = pidio_parse_pidfile(copy, len, out);
  free(copy);
  return rc;
}

static void assert_io(const pidio_io_t *io, uint64_t rchar, uint64_t wchar,
                      uint64_t syscr, uint64_t syscw, uint64_t read_bytes,
                      uint64_t write_bytes, uint64_t cancelled) {
  ck_assert_uint_eq(io->v[PIDIO_RCHAR], rchar);
  ck_assert_uint_eq(io->v[PIDIO_WCHAR], wchar);
  ck_assert_uint_eq(io->v[PIDIO_SYSCR], syscr);
  ck_assert_uint_eq(io->v[PIDIO_SYSCW], syscw);
  ck_assert_uint_eq(io->v[PIDIO_READ_BYTES], read_bytes);
  ck_assert_uint_eq(io->v[PIDIO_WRITE_BYTES], write_bytes);
  ck_assert_uint_eq(io->v[PIDIO_CANCELLED_WRITE_BYTES], cancelled);
}

/* Poison the output so that a field the parser forgot shows. */
static void poison_io(pidio_io_t *io) { memset(io, 0xa5, sizeof(*io)); }

/* ---- pidio_parse_u64 ---------------------------------------------------- */

/* 20 characters, leading zeros included, is the most there may be. */
static const struct {
  const char *text;
  uint64_t value;
} u64_good[] = {
    {"0", 0},
    {"1", 1},
    {"4096", 4096},
    {"007", 7},
    {"00000000000000000042", 42},
    {"18446744073709551615", UINT64_MAX},
    {"18446744073709551610", UINT64_MAX - 5},
    {"9999999999999999999", UINT64_C(9999999999999999999)},
};

START_TEST(test_u64_valid) {
  uint64_t v = 7;
  ck_assert_msg(parse_u64_str(u64_good[_i].text, &v) == 0, "\"%s\" refused",
                u64_good[_i].text);
  ck_assert_uint_eq(v, u64_good[_i].value);
}
END_TEST

START_TEST(test_u64_uses_len_only) {
  uint64_t v = 0;
  /* Only s[0..len) counts: what follows is not looked at. */
  ck_assert_int_eq(pidio_parse_u64("12345", 3, &v), 0);
  ck_assert_uint_eq(v, 123);
  ck_assert_int_eq(pidio_parse_u64("9x", 1, &v), 0);
  ck_assert_uint_eq(v, 9);
  /* A NUL inside the slice is not a digit. */
  ck_assert_int_eq(pidio_parse_u64("12\0", 3, &v), -EINVAL);
}
END_TEST

START_TEST(test_u64_empty) {
  uint64_t v = 0;
  ck_assert_int_eq(pidio_parse_u64("", 0, &v), -EINVAL);
  ck_assert_int_eq(pidio_parse_u64("123", 0, &v), -EINVAL);
}
END_TEST

START_TEST(test_u64_not_digits) {
  static const char *const bad[] = {
      "12a", "a12", "-5",  "+5",   " 5",       "5 ",    "0x10",
      "1.5", "1e3", "\t1", "1\n",  "1\r",      "1,000", "--1",
      "-0",  "+0",  ":",   "\xb9", "\xd9\xa3", "/",     "12:34",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint64_t v = 0;
    ck_assert_msg(parse_u64_str(bad[i], &v) == -EINVAL,
                  "\"%s\" should be -EINVAL", bad[i]);
  }
}
END_TEST

START_TEST(test_u64_overflow) {
  uint64_t v = 0;
  ck_assert_int_eq(parse_u64_str("18446744073709551616", &v), -ERANGE);
  ck_assert_int_eq(parse_u64_str("18446744073709551619", &v), -ERANGE);
  ck_assert_int_eq(parse_u64_str("18446744073709551620", &v), -ERANGE);
  ck_assert_int_eq(parse_u64_str("18446744073709552000", &v), -ERANGE);
  ck_assert_int_eq(parse_u64_str("99999999999999999999", &v), -ERANGE);
  ck_assert_int_eq(parse_u64_str("20000000000000000000", &v), -ERANGE);
}
END_TEST

START_TEST(test_u64_too_long) {
  uint64_t v = 0;
  /* Past 20 digits a value overflows: -ERANGE, as for any overflow. Leading
   * zeros do not count towards the value, and a non-digit after a long run
   * is still -EINVAL. */
  ck_assert_int_eq(parse_u64_str("123456789012345678901", &v), -ERANGE);
  ck_assert_int_eq(parse_u64_str("184467440737095516150", &v), -ERANGE);
  ck_assert_int_eq(parse_u64_str("000000000000000000001", &v), 0);
  ck_assert_uint_eq(v, 1);
  ck_assert_int_eq(parse_u64_str("00000000000000000000x", &v), -EINVAL);
}
END_TEST

/* ---- pidio_parse_io ----------------------------------------------------- */

START_TEST(test_io_field_names) {
  ck_assert_str_eq(pidio_field_names[PIDIO_RCHAR], "rchar");
  ck_assert_str_eq(pidio_field_names[PIDIO_WCHAR], "wchar");
  ck_assert_str_eq(pidio_field_names[PIDIO_SYSCR], "syscr");
  ck_assert_str_eq(pidio_field_names[PIDIO_SYSCW], "syscw");
  ck_assert_str_eq(pidio_field_names[PIDIO_READ_BYTES], "read_bytes");
  ck_assert_str_eq(pidio_field_names[PIDIO_WRITE_BYTES], "write_bytes");
  ck_assert_str_eq(pidio_field_names[PIDIO_CANCELLED_WRITE_BYTES],
                   "cancelled_write_bytes");
}
END_TEST

/* Real captures and odd but valid files, with the counters each holds:
 * rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled. */
static const struct {
  const char *file;
  uint64_t v[PIDIO_NFIELDS];
} io_good[] = {
    {"io/real-sleep.io", {6976, 0, 10, 0, 0, 0, 0}},
    /* A dd that had copied 5 MiB from a pipe to /dev/null. */
    {"io/real-dd.io", {5249856, 5242880, 510, 500, 0, 0, 0}},
    {"io/real-self.io", {6976, 0, 10, 0, 0, 4096, 0}},
    {"io/ok-uint64-max.io", {1001, UINT64_MAX, 3003, 4004, 5005, 6006, 7007}},
    /* Unknown keys are skipped, whatever their value. */
    {"io/ok-extra-key.io", {1001, 2002, 3003, 4004, 5005, 6006, 7007}},
    {"io/ok-reordered.io", {1001, 2002, 3003, 4004, 5005, 6006, 7007}},
    /* Tabs and spaces after the colon, or none at all. */
    {"io/ok-blanks.io", {1001, 2002, 3003, 4004, 5005, 6006, 7007}},
    {"io/ok-leading-zeros.io", {1001, 2002, 42, 4004, 5005, 6006, 7007}},
};

START_TEST(test_io_good) {
  pidio_io_t io;
  poison_io(&io);
  ck_assert_msg(parse_io_fixture(io_good[_i].file, &io) == 0, "%s refused",
                io_good[_i].file);
  const uint64_t *v = io_good[_i].v;
  assert_io(&io, v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
}
END_TEST

START_TEST(test_io_literal) {
  static const char text[] = "rchar: 1\n"
                             "wchar: 2\n"
                             "syscr: 3\n"
                             "syscw: 4\n"
                             "read_bytes: 5\n"
                             "write_bytes: 6\n"
                             "cancelled_write_bytes: 7\n";
  pidio_io_t io;
  poison_io(&io);
  size_t len = sizeof(text) - 1;
  char *copy = exact_copy(text, len);
  ck_assert_int_eq(pidio_parse_io(copy, len, &io), 0);
  assert_io(&io, 1, 2, 3, 4, 5, 6, 7);
  /* The same text one byte short lacks its final newline. */
  ck_assert_int_eq(pidio_parse_io(copy, len - 1, &io), -EINVAL);
  /* Cut right after a complete line: keys are missing. */
  ck_assert_int_eq(pidio_parse_io(copy, 9, &io), -EINVAL);
  ck_assert_int_eq(pidio_parse_io(copy, 0, &io), -EINVAL);
  free(copy);
}
END_TEST

static const struct {
  const char *file;
  int rc;
} io_bad[] = {
    {"io/bad-truncated-no-newline.io", -EINVAL},
    {"io/bad-truncated-mid-number.io", -EINVAL},
    {"io/bad-truncated-mid-key.io", -EINVAL},
    {"io/bad-missing-key.io", -EINVAL},
    {"io/bad-duplicate-key.io", -EINVAL},
    {"io/bad-value-trailing-letter.io", -EINVAL},
    {"io/bad-value-negative.io", -EINVAL},
    {"io/bad-value-plus.io", -EINVAL},
    {"io/bad-value-hex.io", -EINVAL},
    {"io/bad-value-empty.io", -EINVAL},
    {"io/bad-value-trailing-blank.io", -EINVAL},
    {"io/bad-overflow.io", -ERANGE},
    {"io/bad-overflow-21-digits.io", -ERANGE},
    {"io/bad-crlf.io", -EINVAL},
    {"io/bad-no-colon.io", -EINVAL},
    {"io/empty.io", -EINVAL},
    {"io/bad-binary.io", -EINVAL},
};

START_TEST(test_io_bad) {
  pidio_io_t io;
  int rc = parse_io_fixture(io_bad[_i].file, &io);
  ck_assert_msg(rc == io_bad[_i].rc, "%s: got %d, expected %d", io_bad[_i].file,
                rc, io_bad[_i].rc);
}
END_TEST

/* ---- pidio_parse_stat --------------------------------------------------- */

static const struct {
  const char *file, *comm;
  char state;
  pid_t ppid;
  uint64_t start_time;
} stat_good[] = {
    {"stat/real-sleep.stat", "sleep", 'S', 10191, 57104},
    {"stat/real-dd.stat", "dd", 'S', 1, 56834},
    {"stat/comm-parens.stat", "(a) b) c)", 'R', 17, 99999},
    {"stat/comm-15.stat", "abcdefghijklmno", 'S', 2, 100},
    {"stat/comm-empty.stat", "", 'Z', 0, 0},
    /* tpgid -1, cutime -5, cstime -7, priority -100, nice -20. */
    {"stat/negative-fields.stat", "neg", 'S', 300, 123456},
    {"stat/start-uint64-max.stat", "max", 'S', PIDIO_PID_MAX, UINT64_MAX},
};

START_TEST(test_stat_good) {
  pidio_stat_t st;
  memset(&st, 0xa5, sizeof(st));
  ck_assert_msg(parse_stat_fixture(stat_good[_i].file, &st) == 0, "%s refused",
                stat_good[_i].file);
  ck_assert_str_eq(st.comm, stat_good[_i].comm);
  ck_assert_int_eq(st.state, stat_good[_i].state);
  ck_assert_int_eq(st.ppid, stat_good[_i].ppid);
  ck_assert_uint_eq(st.start_time, stat_good[_i].start_time);
}
END_TEST

START_TEST(test_stat_literal) {
  /* Field 22 is the last one needed: the text may end right after it. */
  static const char text[] =
      "77 (x y) D 5 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 31415";
  pidio_stat_t st;
  memset(&st, 0xa5, sizeof(st));
  size_t len = sizeof(text) - 1;
  char *copy = exact_copy(text, len);
  ck_assert_int_eq(pidio_parse_stat(copy, len, &st), 0);
  ck_assert_str_eq(st.comm, "x y");
  ck_assert_int_eq(st.state, 'D');
  ck_assert_int_eq(st.ppid, 5);
  ck_assert_uint_eq(st.start_time, 31415);
  /* Cut before field 22. */
  ck_assert_int_eq(pidio_parse_stat(copy, len - 6, &st), -EINVAL);
  ck_assert_int_eq(pidio_parse_stat(copy, 0, &st), -EINVAL);
  free(copy);
}
END_TEST

/* Field 9, the flags: a kernel thread has PF_KTHREAD. */
START_TEST(test_stat_flags) {
  pidio_stat_t st;
  memset(&st, 0xa5, sizeof(st));
  ck_assert_int_eq(parse_stat_fixture("stat/real-kthreadd.stat", &st), 0);
  ck_assert_str_eq(st.comm, "kthreadd");
  ck_assert_uint_eq(st.flags, 2129984);
  ck_assert(st.flags & PIDIO_PF_KTHREAD);
  ck_assert_int_eq(parse_stat_fixture("stat/real-sleep.stat", &st), 0);
  ck_assert_uint_eq(st.flags, 4194304);
  ck_assert(!(st.flags & PIDIO_PF_KTHREAD));

  static const char text[] =
      "9 (f) S 1 9 9 0 -1 -5 0 0 0 0 0 0 0 0 20 0 1 0 31415";
  size_t len = sizeof(text) - 1;
  char *copy = exact_copy(text, len);
  ck_assert_int_eq(pidio_parse_stat(copy, len, &st), -EINVAL);
  free(copy);
  static const char big[] = "9 (f) S 1 9 9 0 -1 18446744073709551616 0 0 0 "
                            "0 0 0 0 0 20 0 1 0 31415";
  len = sizeof(big) - 1;
  copy = exact_copy(big, len);
  ck_assert_int_eq(pidio_parse_stat(copy, len, &st), -ERANGE);
  free(copy);
}
END_TEST

static const struct {
  const char *file;
  int rc;
} stat_bad[] = {
    {"stat/comm-16.stat", -EINVAL},
    {"stat/bad-truncated-field21.stat", -EINVAL},
    {"stat/bad-truncated-field21-no-newline.stat", -EINVAL},
    {"stat/bad-truncated-in-comm.stat", -EINVAL},
    {"stat/bad-ppid-letters.stat", -EINVAL},
    {"stat/bad-ppid-negative.stat", -EINVAL},
    {"stat/bad-ppid-over-max.stat", -ERANGE},
    {"stat/bad-start-letters.stat", -EINVAL},
    {"stat/bad-start-overflow.stat", -ERANGE},
    {"stat/bad-state-long.stat", -EINVAL},
    {"stat/bad-no-paren.stat", -EINVAL},
    {"stat/bad-no-close-paren.stat", -EINVAL},
    {"stat/empty.stat", -EINVAL},
};

START_TEST(test_stat_bad) {
  pidio_stat_t st;
  int rc = parse_stat_fixture(stat_bad[_i].file, &st);
  ck_assert_msg(rc == stat_bad[_i].rc, "%s: got %d, expected %d",
                stat_bad[_i].file, rc, stat_bad[_i].rc);
}
END_TEST

/* ---- pidio_parse_pidfile ------------------------------------------------ */

static const struct {
  const char *text;
  pid_t pid;
} pidfile_good[] = {
    {"1234\n", 1234}, {"  1234  \n\n", 1234},     {"\t42\r\n", 42},
    {"1", 1},         {"4194304", PIDIO_PID_MAX},
};

START_TEST(test_pidfile_valid) {
  pid_t pid = 0;
  ck_assert_msg(parse_pidfile_str(pidfile_good[_i].text, &pid) == 0,
                "\"%s\" refused", pidfile_good[_i].text);
  ck_assert_int_eq(pid, pidfile_good[_i].pid);
}
END_TEST

START_TEST(test_pidfile_invalid) {
  static const char *const bad[] = {
      "0",    "0\n", "-1", "+1",   "12 34",   "abc", "",
      "  \n", "\n",  "1x", "0x10", "1234\n5", "1.0",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    pid_t pid = 0;
    ck_assert_msg(parse_pidfile_str(bad[i], &pid) == -EINVAL,
                  "\"%s\" should be -EINVAL", bad[i]);
  }
  /* A NUL byte inside the length is not a blank. */
  pid_t pid = 0;
  ck_assert_int_eq(pidio_parse_pidfile("1234\0", 5, &pid), -EINVAL);
}
END_TEST

START_TEST(test_pidfile_range) {
  pid_t pid = 0;
  ck_assert_int_eq(parse_pidfile_str("4194305", &pid), -ERANGE);
  ck_assert_int_eq(parse_pidfile_str("4294967297\n", &pid), -ERANGE);
  ck_assert_int_eq(parse_pidfile_str("18446744073709551616", &pid), -ERANGE);
}
END_TEST

/* ---- pidio_parse_cmdline ------------------------------------------------ */

START_TEST(test_cmdline_join) {
  static const char in[] = "/usr/bin/python3\0/opt/app/worker.py\0--queue\0"
                           "jobs\0";
  char out[128];
  size_t n = pidio_parse_cmdline(in, sizeof(in) - 1, out, sizeof(out));
  ck_assert_str_eq(out, "/usr/bin/python3 /opt/app/worker.py --queue jobs");
  ck_assert_uint_eq(n, strlen(out));
  ck_assert_uint_eq(n, 48);
}
END_TEST

START_TEST(test_cmdline_trailing_nuls) {
  char out[32];
  /* Several NULs at the end (a process that rewrote its argv): dropped. */
  ck_assert_uint_eq(pidio_parse_cmdline("a\0b\0\0\0", 6, out, sizeof(out)), 3);
  ck_assert_str_eq(out, "a b");
  /* No NUL at all at the end is fine too. */
  ck_assert_uint_eq(pidio_parse_cmdline("a\0b", 3, out, sizeof(out)), 3);
  ck_assert_str_eq(out, "a b");
  /* An empty argument in the middle stays: two spaces. */
  ck_assert_uint_eq(pidio_parse_cmdline("a\0\0b\0", 5, out, sizeof(out)), 4);
  ck_assert_str_eq(out, "a  b");
  /* Only NULs: empty. */
  memset(out, 'X', sizeof(out));
  ck_assert_uint_eq(pidio_parse_cmdline("\0\0\0", 3, out, sizeof(out)), 0);
  ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_cmdline_empty) {
  char out[8];
  memset(out, 'X', sizeof(out));
  ck_assert_uint_eq(pidio_parse_cmdline("", 0, out, sizeof(out)), 0);
  ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_cmdline_truncate) {
  char out[16];
  memset(out, 'X', sizeof(out));
  ck_assert_uint_eq(pidio_parse_cmdline("abcdef\0gh\0", 10, out, 5), 4);
  ck_assert_str_eq(out, "abcd");
  for (size_t i = 5; i < sizeof(out); i++)
    ck_assert_int_eq(out[i], 'X');

  /* Exact fit: len == outsz - 1. */
  memset(out, 'X', sizeof(out));
  ck_assert_uint_eq(pidio_parse_cmdline("ab\0cd\0", 6, out, 6), 5);
  ck_assert_str_eq(out, "ab cd");
  ck_assert_int_eq(out[6], 'X');

  /* Cut right at a separator: it becomes a trailing space. */
  memset(out, 'X', sizeof(out));
  ck_assert_uint_eq(pidio_parse_cmdline("ab\0cd\0", 6, out, 4), 3);
  ck_assert_str_eq(out, "ab ");
  ck_assert_int_eq(out[4], 'X');
}
END_TEST

START_TEST(test_cmdline_tiny_out) {
  char out[4];
  memset(out, 'X', sizeof(out));
  ck_assert_uint_eq(pidio_parse_cmdline("abc\0", 4, out, 1), 0);
  ck_assert_int_eq(out[0], '\0');
  ck_assert_int_eq(out[1], 'X');
  /* outsz 0: nothing may be written at all. */
  memset(out, 'X', sizeof(out));
  ck_assert_uint_eq(pidio_parse_cmdline("abc\0", 4, out, 0), 0);
  ck_assert_int_eq(out[0], 'X');
}
END_TEST

START_TEST(test_cmdline_exact_input) {
  /* The input is read only up to len. */
  static const char in[] = "one\0two\0";
  size_t len = sizeof(in) - 1;
  char *copy = exact_copy(in, len);
  char out[16];
  ck_assert_uint_eq(pidio_parse_cmdline(copy, len, out, sizeof(out)), 7);
  ck_assert_str_eq(out, "one two");
  ck_assert_uint_eq(pidio_parse_cmdline(copy, 5, out, sizeof(out)), 5);
  ck_assert_str_eq(out, "one t");
  free(copy);
}
END_TEST

/* ---- pidio_read_pidfile ------------------------------------------------- */

static char tmpdir[PATH_MAX];

static const char *const tmp_names[] = {"exact64.pid", "big.pid", "zero",
                                        "fifo", "link.pid"};

static void tmp_path(char *out, size_t outsz, const char *name) {
  int n = snprintf(out, outsz, "%s/%s", tmpdir, name);
  ck_assert(n > 0 && (size_t)n < outsz);
}

static void tmpdir_setup(void) {
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0')
    base = "/tmp";
  int n = snprintf(tmpdir, sizeof(tmpdir), "%s/pidio-test-XXXXXX", base);
  ck_assert(n > 0 && (size_t)n < sizeof(tmpdir));
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmpdir_teardown(void) {
  char path[PATH_MAX + 32];
  for (size_t i = 0; i < sizeof(tmp_names) / sizeof(tmp_names[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", tmpdir, tmp_names[i]);
    unlink(path);
  }
  snprintf(path, sizeof(path), "%s/dir", tmpdir);
  rmdir(path);
  rmdir(tmpdir);
}

static void write_file(const char *path, const char *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

static int read_fixture_pidfile(const char *rel, pid_t *pid) {
  return pidio_read_pidfile(fixture_path(rel), pid);
}

START_TEST(test_read_pidfile_good) {
  pid_t pid = 0;
  ck_assert_int_eq(read_fixture_pidfile("pidfile/good.pid", &pid), 0);
  ck_assert_int_eq(pid, 1234);
  pid = 0;
  ck_assert_int_eq(read_fixture_pidfile("pidfile/blanks.pid", &pid), 0);
  ck_assert_int_eq(pid, 1234);
  pid = 0;
  ck_assert_int_eq(read_fixture_pidfile("pidfile/max.pid", &pid), 0);
  ck_assert_int_eq(pid, PIDIO_PID_MAX);
}
END_TEST

START_TEST(test_read_pidfile_bad_content) {
  pid_t pid = 0;
  ck_assert_int_eq(read_fixture_pidfile("pidfile/empty.pid", &pid), -EINVAL);
  ck_assert_int_eq(read_fixture_pidfile("pidfile/garbage.pid", &pid), -EINVAL);
  ck_assert_int_eq(read_fixture_pidfile("pidfile/zero.pid", &pid), -EINVAL);
  ck_assert_int_eq(read_fixture_pidfile("pidfile/over-max.pid", &pid), -ERANGE);
}
END_TEST

START_TEST(test_read_pidfile_missing) {
  pid_t pid = 0;
  ck_assert_int_eq(read_fixture_pidfile("pidfile/no-such.pid", &pid), -ENOENT);
  char path[PATH_MAX + 32];
  tmp_path(path, sizeof(path), "never-created.pid");
  ck_assert_int_eq(pidio_read_pidfile(path, &pid), -ENOENT);
}
END_TEST

START_TEST(test_read_pidfile_size_limit) {
  char data[65];
  char path[PATH_MAX + 32];
  pid_t pid = 0;

  /* 64 bytes: the most accepted. */
  memset(data, ' ', sizeof(data));
  memcpy(data, "4321", 4);
  data[63] = '\n';
  tmp_path(path, sizeof(path), "exact64.pid");
  write_file(path, data, 64);
  ck_assert_int_eq(pidio_read_pidfile(path, &pid), 0);
  ck_assert_int_eq(pid, 4321);

  /* 65 bytes, blanks only after the pid: refused for its size. */
  data[63] = ' ';
  data[64] = '\n';
  tmp_path(path, sizeof(path), "big.pid");
  write_file(path, data, 65);
  ck_assert_int_eq(pidio_read_pidfile(path, &pid), -EFBIG);
}
END_TEST

START_TEST(test_read_pidfile_dev_zero) {
  char path[PATH_MAX + 32];
  pid_t pid = 0;
  tmp_path(path, sizeof(path), "zero");
  ck_assert_int_eq(symlink("/dev/zero", path), 0);
  ck_assert_int_eq(pidio_read_pidfile(path, &pid), -ENOTSUP);
  ck_assert_int_eq(pidio_read_pidfile("/dev/zero", &pid), -ENOTSUP);
}
END_TEST

START_TEST(test_read_pidfile_fifo) {
  /* No writer: a blocking open would hang; it must return at once. */
  char path[PATH_MAX + 32];
  pid_t pid = 0;
  tmp_path(path, sizeof(path), "fifo");
  ck_assert_int_eq(mkfifo(path, 0600), 0);
  ck_assert_int_eq(pidio_read_pidfile(path, &pid), -ENOTSUP);
}
END_TEST

/* A writer blocked in open(O_WRONLY) on a fifo: opening the fifo for
 * reading, even with O_NONBLOCK, would release it. The child exits as soon
 * as its open() returns. */
static pid_t blocked_fifo_writer(const char *fifo) {
  pid_t w = fork();
  ck_assert_int_ge(w, 0);
  if (w == 0) {
    int fd = open(fifo, O_WRONLY);
    _exit(fd >= 0 ? 0 : 1);
  }
  /* Wait until it sleeps in open() (state S), so that the test proves
   * something: a writer not yet there could not be released either. */
  for (int i = 0; i < 200; i++) {
    char st[64], buf[512];
    snprintf(st, sizeof(st), "/proc/%d/stat", (int)w);
    FILE *f = fopen(st, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    if (rp != NULL && rp[1] == ' ' && rp[2] == 'S')
      break;
    usleep(5000);
  }
  return w;
}

START_TEST(test_read_pidfile_fifo_writer_untouched) {
  /* Issue: a PidFile that is (or links to) a fifo was opened every
   * interval, which released a writer blocked in open(). */
  char fifo[PATH_MAX + 32], link[PATH_MAX + 32];
  pid_t pid = 0;
  tmp_path(fifo, sizeof(fifo), "fifo");
  tmp_path(link, sizeof(link), "link.pid");
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  ck_assert_int_eq(symlink(fifo, link), 0);
  pid_t w = blocked_fifo_writer(fifo);
  for (int i = 0; i < 20; i++) {
    ck_assert_int_eq(pidio_read_pidfile(link, &pid), -ENOTSUP);
    ck_assert_int_eq(pidio_read_pidfile(fifo, &pid), -ENOTSUP);
  }
  usleep(100000);
  int status;
  ck_assert_msg(waitpid(w, &status, WNOHANG) == 0,
                "the fifo writer's open() returned: the fifo was opened");
  /* Release it ourselves, which proves it was waiting for exactly that. */
  int rd = open(fifo, O_RDONLY | O_NONBLOCK);
  ck_assert_int_ge(rd, 0);
  ck_assert_int_eq(waitpid(w, &status, 0), w);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(rd);
}
END_TEST

START_TEST(test_read_pidfile_no_proc) {
  /* Without a procfs at /proc the checked inode cannot be reopened through
   * /proc/self/fd; opening the path again could open a fifo swapped in
   * meanwhile, so nothing is opened: -ENODEV, even for a good pidfile. In
   * a child with a mount namespace of its own (a user namespace too when
   * not root), /proc hidden under an empty tmpfs. */
  char path[PATH_MAX + 32];
  tmp_path(path, sizeof(path), "good.pid");
  write_file(path, "4321\n", 5);
  pid_t pid = 0;
  ck_assert_int_eq(pidio_read_pidfile(path, &pid), 0);
  pid_t c = fork();
  ck_assert_int_ge(c, 0);
  if (c == 0) {
    if (unit_private_mounts() != 0)
      _exit(10);
    if (mount("none", "/proc", "tmpfs", 0, NULL) != 0)
      _exit(11);
    pid_t got = 0;
    int rc = pidio_read_pidfile(path, &got);
    _exit(rc == -ENODEV ? 0 : rc == 0 ? 12 : 13);
  }
  int status;
  ck_assert_int_eq(waitpid(c, &status, 0), c);
  ck_assert(WIFEXITED(status));
  ck_assert_msg(WEXITSTATUS(status) == 0,
                "child: %d (10 no namespace, 11 no mount, 12 read without "
                "/proc, 13 other error)",
                WEXITSTATUS(status));
  ck_assert_str_eq(pidio_pidfile_strerror(-ENODEV),
                   "is not read without a procfs at /proc (it is reopened "
                   "through /proc/self/fd, so that a fifo swapped in is "
                   "never opened)");
}
END_TEST

START_TEST(test_read_pidfile_directory) {
  char path[PATH_MAX + 32];
  pid_t pid = 0;
  tmp_path(path, sizeof(path), "dir");
  ck_assert_int_eq(mkdir(path, 0700), 0);
  ck_assert_int_eq(pidio_read_pidfile(path, &pid), -ENOTSUP);
  ck_assert_int_eq(pidio_read_pidfile(tmpdir, &pid), -ENOTSUP);
}
END_TEST

START_TEST(test_read_pidfile_symlink_to_file) {
  /* A symlink to a regular pidfile is followed. */
  char target[PATH_MAX];
  char path[PATH_MAX + 32];
  pid_t pid = 0;
  const char *fx = fixture_path("pidfile/good.pid");
  ck_assert_uint_lt(strlen(fx), sizeof(target));
  strcpy(target, fx);
  if (target[0] != '/') {
    /* symlink targets are relative to the link's directory */
    char cwd[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    char abs[2 * PATH_MAX + 2];
    snprintf(abs, sizeof(abs), "%s/%s", cwd, fx);
    ck_assert_uint_lt(strlen(abs), sizeof(target));
    strcpy(target, abs);
  }
  tmp_path(path, sizeof(path), "link.pid");
  ck_assert_int_eq(symlink(target, path), 0);
  ck_assert_int_eq(pidio_read_pidfile(path, &pid), 0);
  ck_assert_int_eq(pid, 1234);
}
END_TEST

/* ---- pidio_parse_status_uid --------------------------------------------- */

static int parse_status_fixture(const char *rel, uid_t *out) {
  static char buf[FIXTURE_MAX];
  size_t n = fixture_read(rel, buf, sizeof(buf));
  char *copy = exact_copy(buf, n);
  int rc = pidio_parse_status_uid(copy, n, out);
  free(copy);
  return rc;
}

static int parse_status_str(const char *s, uid_t *out) {
  size_t len = strlen(s);
  char *copy = exact_copy(s, len);
  int rc = pidio_parse_status_uid(copy, len, out);
  free(copy);
  return rc;
}

/* The real uid, from fixtures (real captures, a real uid 1000 with
 * effective, saved and filesystem uid 1001, the highest uid, tabs and
 * spaces mixed) and from literal files: tabs (the kernel's separator)
 * and spaces, several of them. */
static const struct {
  const char *file, *text;
  uid_t uid;
} status_good[] = {
    {"status/real.status", NULL, 0},
    {"status/real-nobody.status", NULL, 65534},
    {"status/real-ruid-euid.status", NULL, 1000},
    {"status/ok-uid-4294967294.status", NULL, 4294967294u},
    {"status/ok-uid-mixed-blanks.status", NULL, 1000},
    {NULL, "Uid:\t1\t2\t3\t4\n", 1},
    {NULL, "Uid: 5 6 7 8\n", 5},
    {NULL, "Uid:\t\t\t9\t\t10\t11\t12\n", 9},
    {NULL, "Name:\tx\nUid:\t0\t0\t0\t0\nGid:\t7\n", 0},
};

START_TEST(test_status_good) {
  uid_t uid = 12345;
  const char *what =
      status_good[_i].file ? status_good[_i].file : status_good[_i].text;
  int rc = status_good[_i].file
               ? parse_status_fixture(status_good[_i].file, &uid)
               : parse_status_str(status_good[_i].text, &uid);
  ck_assert_msg(rc == 0, "%s refused: %d", what, rc);
  ck_assert_uint_eq(uid, status_good[_i].uid);
}
END_TEST

/* Only a "Uid:" line at the start of a line counts. */
START_TEST(test_status_uid_key_exact) {
  uid_t uid = 0;
  ck_assert_int_eq(parse_status_str("Gid:\t5\t5\t5\t5\n", &uid), -EINVAL);
  ck_assert_int_eq(parse_status_str("uid:\t5\t5\t5\t5\n", &uid), -EINVAL);
  ck_assert_int_eq(parse_status_str(" Uid:\t5\t5\t5\t5\n", &uid), -EINVAL);
  ck_assert_int_eq(parse_status_str("XUid:\t5\t5\t5\t5\n", &uid), -EINVAL);
  ck_assert_int_eq(parse_status_str("Ui", &uid), -EINVAL);
  ck_assert_int_eq(parse_status_str("", &uid), -EINVAL);
  ck_assert_int_eq(
      parse_status_str("XUid:\t5\t5\t5\t5\nUid:\t6\t6\t6\t6\n", &uid), 0);
  ck_assert_uint_eq(uid, 6);
}
END_TEST

/* A read cut anywhere in or before the Uid line does not give a uid; cut
 * right after its newline it does. */
START_TEST(test_status_cut) {
  static char buf[FIXTURE_MAX];
  size_t n = fixture_read("status/real-ruid-euid.status", buf, sizeof(buf));
  const char *line = strstr(buf, "\nUid:\t1000\t1001\t1001\t1001\n");
  ck_assert_ptr_nonnull(line);
  size_t start = (size_t)(line - buf) + 1;
  size_t end = start + strlen("Uid:\t1000\t1001\t1001\t1001\n");
  for (size_t len = 0; len < end; len++) {
    uid_t uid = 77;
    char *copy = exact_copy(buf, len);
    int rc = pidio_parse_status_uid(copy, len, &uid);
    free(copy);
    ck_assert_msg(rc == -EINVAL, "cut at %zu of %zu: got %d", len, n, rc);
  }
  for (size_t len = end; len <= n; len++) {
    uid_t uid = 77;
    char *copy = exact_copy(buf, len);
    int rc = pidio_parse_status_uid(copy, len, &uid);
    free(copy);
    ck_assert_msg(rc == 0 && uid == 1000, "cut at %zu: got %d, uid %u", len, rc,
                  (unsigned)uid);
  }
}
END_TEST

static const struct {
  const char *file;
  int rc;
} status_bad[] = {
    {"status/bad-no-uid.status", -EINVAL},
    {"status/bad-truncated-in-uid.status", -EINVAL},
    {"status/bad-truncated-uid-no-newline.status", -EINVAL},
    {"status/bad-uid-letters.status", -EINVAL},
    {"status/bad-uid-trailing-letter.status", -EINVAL},
    {"status/bad-uid-negative.status", -EINVAL},
    {"status/bad-uid-empty.status", -EINVAL},
    {"status/bad-uid-4294967295.status", -ERANGE},
    {"status/bad-uid-4294967296.status", -ERANGE},
    {"status/bad-uid-u64-overflow.status", -ERANGE},
};

START_TEST(test_status_bad) {
  uid_t uid = 0;
  int rc = parse_status_fixture(status_bad[_i].file, &uid);
  ck_assert_msg(rc == status_bad[_i].rc, "%s: got %d, expected %d",
                status_bad[_i].file, rc, status_bad[_i].rc);
}
END_TEST

START_TEST(test_status_bad_literal) {
  static const struct {
    const char *text;
    int rc;
  } bad[] = {
      {"Uid:\t4294967295\t0\t0\t0\n", -ERANGE},
      {"Uid:\t4294967296\t0\t0\t0\n", -ERANGE},
      {"Uid:\t99999999999999999999\t0\t0\t0\n", -ERANGE},
      {"Uid:\t0x10\t0\t0\t0\n", -EINVAL},
      {"Uid:\t+1\t0\t0\t0\n", -EINVAL},
      {"Uid:\t\n", -EINVAL},
      {"Uid:\t1000", -EINVAL},
      {"Uid:\t1000\t1000\t1000\t1000", -EINVAL},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uid_t uid = 0;
    int rc = parse_status_str(bad[i].text, &uid);
    ck_assert_msg(rc == bad[i].rc, "case %zu: got %d, expected %d", i, rc,
                  bad[i].rc);
  }
}
END_TEST

/* ---- pidio_parse_status_tgid -------------------------------------------- */

static int parse_tgid_str(const char *s, size_t len, pid_t *out) {
  char *copy = exact_copy(s, len);
  int rc = pidio_parse_status_tgid(copy, len, out);
  free(copy);
  return rc;
}

/* A process's status names itself as its thread group; a thread's names
 * its process, which is how a looked-up pid is told to be a thread. */
START_TEST(test_tgid_process_and_thread) {
  static char buf[FIXTURE_MAX];
  pid_t tgid = 0;
  size_t n = fixture_read("status/real.status", buf, sizeof(buf));
  ck_assert_int_eq(parse_tgid_str(buf, n, &tgid), 0);
  ck_assert_int_eq(tgid, 20421);
  n = fixture_read("status/real-thread.status", buf, sizeof(buf));
  ck_assert_ptr_nonnull(strstr(buf, "\nPid:\t4713\n"));
  ck_assert_int_eq(parse_tgid_str(buf, n, &tgid), 0);
  ck_assert_int_eq(tgid, 4711);
}
END_TEST

START_TEST(test_tgid_literal) {
  static const struct {
    const char *text;
    int rc;
    pid_t want;
  } cases[] = {
      {"Name:\tx\nTgid:\t42\nPid:\t43\n", 0, 42},
      {"Tgid: 7\n", 0, 7},
      {"Tgid:\t4194304\n", 0, 4194304},
      {"Tgid:\t4194305\n", -ERANGE, 0},
      {"Tgid:\t99999999999999999999\n", -ERANGE, 0},
      {"Tgid:\t0\n", -EINVAL, 0},
      {"Tgid:\t-1\n", -EINVAL, 0},
      {"Tgid:\t\n", -EINVAL, 0},
      {"Tgid:\t42", -EINVAL, 0}, /* cut in the line */
      {"Tgidx:\t42\n", -EINVAL, 0},
      {"NStgid:\t42\n", -EINVAL, 0},
      {"Pid:\t42\n", -EINVAL, 0},
      {"", -EINVAL, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pid_t tgid = 0;
    int rc = parse_tgid_str(cases[i].text, strlen(cases[i].text), &tgid);
    ck_assert_msg(rc == cases[i].rc, "case %zu: got %d, expected %d", i, rc,
                  cases[i].rc);
    if (rc == 0)
      ck_assert_int_eq(tgid, cases[i].want);
  }
}
END_TEST

/* ---- pidio_parse_status_sigign ------------------------------------------ */

START_TEST(test_status_sigign) {
  static const char st[] = "Name:\tsh\nState:\tS (sleeping)\n"
                           "SigBlk:\t0000000000000000\n"
                           "SigIgn:\t0000000000010004\n"
                           "SigCgt:\t0000000000000000\n";
  uint64_t m = 0;
  ck_assert_int_eq(pidio_parse_status_sigign(st, sizeof(st) - 1, &m), 0);
  ck_assert_uint_eq(m, 0x10004);
  static const char *const bad[] = {
      "SigIgn:\t000000000001000\n",  "SigIgn:\t00000000000100000\n",
      "SigIgn:\t000000000001000g\n", "SigIgn:\t0000000000010000",
      "SigCgt:\t0000000000010000\n", "SigIgn:\t00000000000X0000\n"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(pidio_parse_status_sigign(bad[i], strlen(bad[i]), &m) != 0,
                  "accepted %s", bad[i]);
}
END_TEST

/* ---- pidio_proc_read_absorbed ------------------------------------------- */

/* A child that writes n bytes to /dev/null and exits. */
static pid_t child_writing(size_t n) {
  pid_t k = fork();
  ck_assert_int_ge(k, 0);
  if (k == 0) {
    static char buf[65536];
    int fd = open("/dev/null", O_WRONLY);
    while (n > 0) {
      size_t len = n < sizeof(buf) ? n : sizeof(buf);
      ssize_t w = write(fd, buf, len);
      if (w <= 0)
        _exit(1);
      n -= (size_t)w;
    }
    _exit(0);
  }
  return k;
}

static void absorbed_of_self(pidio_io_t *out) {
  pidio_proc_t p;
  ck_assert_int_eq(pidio_proc_open(&p, "/proc"), 0);
  int dfd = pidio_proc_open_pid(&p, getpid());
  ck_assert_int_ge(dfd, 0);
  ck_assert_int_eq(pidio_proc_read_absorbed(dfd, out), 0);
  close(dfd);
  pidio_proc_close(&p);
}

START_TEST(test_read_absorbed) {
  /* In a forked test process of its own: a parent that reaps a child
   * absorbs its totals; one that ignores SIGCHLD absorbs nothing. */
  pidio_io_t before, after;
  absorbed_of_self(&before);
  pid_t k = child_writing(300000);
  ck_assert_int_eq(waitpid(k, NULL, 0), k);
  absorbed_of_self(&after);
  ck_assert_uint_ge(after.v[PIDIO_WCHAR] - before.v[PIDIO_WCHAR], 300000);

  signal(SIGCHLD, SIG_IGN);
  absorbed_of_self(&before);
  k = child_writing(300000);
  /* With SIGCHLD ignored the kernel reaps it: wait until it is gone. */
  while (kill(k, 0) == 0)
    usleep(1000);
  absorbed_of_self(&after);
  signal(SIGCHLD, SIG_DFL);
  ck_assert_uint_lt(after.v[PIDIO_WCHAR] - before.v[PIDIO_WCHAR], 300000);
}
END_TEST

/* A pid directory built at run time: io holds whole, task/<name>/io each
 * of tasks[], with every field the same number. */
static int absorbed_dir(char *dir, size_t dirsz, uint64_t whole,
                        const char *const names[], const uint64_t tasks[],
                        size_t n) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, dirsz, "%s/pidio-absorbed.XXXXXX", tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[4096];
  snprintf(path, sizeof(path), "%s/task", dir);
  ck_assert_int_eq(mkdir(path, 0755), 0);
  for (size_t i = 0; i <= n; i++) {
    uint64_t v = i < n ? tasks[i] : whole;
    if (i < n) {
      snprintf(path, sizeof(path), "%s/task/%s", dir, names[i]);
      ck_assert_int_eq(mkdir(path, 0755), 0);
      snprintf(path, sizeof(path), "%s/task/%s/io", dir, names[i]);
    } else {
      snprintf(path, sizeof(path), "%s/io", dir);
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int k = 0; k < PIDIO_NFIELDS; k++)
      fprintf(f, "%s: %" PRIu64 "\n", pidio_field_names[k], v);
    ck_assert_int_eq(fclose(f), 0);
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge(dfd, 0);
  return dfd;
}

static void absorbed_dir_remove(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_read_absorbed_overflow) {
  /* Two threads whose sum passes 2^64: refused, not wrapped to 4 and
   * subtracted from the whole (which would claim 96 absorbed). */
  static const char *const names[] = {"1", "2"};
  const uint64_t tasks[] = {UINT64_MAX - 5, 10};
  char dir[4096];
  int dfd = absorbed_dir(dir, sizeof(dir), 100, names, tasks, 2);
  pidio_io_t out;
  ck_assert_int_eq(pidio_proc_read_absorbed(dfd, &out), -ERANGE);
  close(dfd);
  absorbed_dir_remove(dir);
}
END_TEST

START_TEST(test_read_absorbed_task_names) {
  /* "7x" and "1234567890123" are not task ids: their io is not a live
   * thread's and is not subtracted. 100 - 30 = 70 absorbed. */
  static const char *const names[] = {"3", "7x", "1234567890123"};
  const uint64_t tasks[] = {30, 50, 20};
  char dir[4096];
  int dfd = absorbed_dir(dir, sizeof(dir), 100, names, tasks, 3);
  pidio_io_t out;
  ck_assert_int_eq(pidio_proc_read_absorbed(dfd, &out), 0);
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    ck_assert_uint_eq(out.v[f], 70);
  close(dfd);
  absorbed_dir_remove(dir);
}
END_TEST

/* ---- pidio_parse_loadavg_last_pid --------------------------------------- */

START_TEST(test_loadavg_literal) {
  static const struct {
    const char *text;
    int rc;
    pid_t want;
  } cases[] = {
      {"0.15 0.10 0.05 2/78 12505\n", 0, 12505},
      {"12.00 8.50 3.25 17/2345 4194304\n", 0, 4194304},
      {"0.00 0.00 0.00 1/1 0\n", 0, 0},
      {"0.00 0.00 0.00 1/1 4194305\n", -ERANGE, 0},
      {"0.00 0.00 0.00 1/1 99999999999999999999\n", -ERANGE, 0},
      {"0.15 0.10 0.05 2/78 12505", -EINVAL, 0}, /* cut */
      {"0.15 0.10 0.05 2/78 \n", -EINVAL, 0},
      {"0.15 0.10 0.05 2/78\n", -EINVAL, 0},
      {"0.15 0.10 0.05 2/78 12505 1\n", -EINVAL, 0},
      {"0.15  0.10 0.05 2/78 12505\n", -EINVAL, 0},
      {" 0.15 0.10 0.05 2/78 12505\n", -EINVAL, 0},
      {"0.15 0.10 0.05 2/78 -1\n", -EINVAL, 0},
      {"0.15 0.10 0.05 2/78 12a\n", -EINVAL, 0},
      {"\n", -EINVAL, 0},
      {"", -EINVAL, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t len = strlen(cases[i].text);
    char *copy = exact_copy(cases[i].text, len);
    pid_t last = -1;
    int rc = pidio_parse_loadavg_last_pid(copy, len, &last);
    free(copy);
    ck_assert_msg(rc == cases[i].rc, "case %zu: got %d, expected %d", i, rc,
                  cases[i].rc);
    if (rc == 0)
      ck_assert_int_eq(last, cases[i].want);
  }
}
END_TEST

/* ---- pidio_parse_cgroup ------------------------------------------------- */

/* Parse a cgroup fixture; on success the path is copied into path_out. */
static int parse_cgroup_fixture(const char *rel, char *path_out, size_t outsz,
                                size_t *plen_out, size_t *off_out) {
  static char buf[FIXTURE_MAX];
  size_t n = fixture_read(rel, buf, sizeof(buf));
  char *copy = exact_copy(buf, n);
  const char *path = NULL;
  size_t plen = 99999;
  int rc = pidio_parse_cgroup(copy, n, &path, &plen);
  if (rc == 0) {
    ck_assert_ptr_nonnull(path);
    ck_assert_msg(path >= copy && path + plen <= copy + n,
                  "%s: the path does not point into the buffer", rel);
    ck_assert_uint_lt(plen, outsz);
    memcpy(path_out, path, plen);
    path_out[plen] = '\0';
    *plen_out = plen;
    *off_out = (size_t)(path - copy);
  }
  free(copy);
  return rc;
}

/* The v2 path and where it starts in the file: v2 only, a hybrid system
 * (twelve v1 hierarchies, then the v2 line), and a hybrid one with the
 * process left in the v2 root while a v1 controller has it elsewhere (the
 * v2 line is what counts). */
static const struct {
  const char *file, *path;
  size_t off;
} cgroup_good[] = {
    {"cgroup/v2.cgroup", "/system.slice/nginx.service", 3},
    {"cgroup/v2-root.cgroup", "/", 3},
    {"cgroup/hybrid-systemd.cgroup", "/system.slice/nginx.service", 317},
    {"cgroup/hybrid-root.cgroup", "/", 118},
};

START_TEST(test_cgroup_good) {
  char path[256];
  size_t plen = 0, off = 0;
  ck_assert_msg(parse_cgroup_fixture(cgroup_good[_i].file, path, sizeof(path),
                                     &plen, &off) == 0,
                "%s refused", cgroup_good[_i].file);
  ck_assert_str_eq(path, cgroup_good[_i].path);
  ck_assert_uint_eq(plen, strlen(cgroup_good[_i].path));
  ck_assert_uint_eq(off, cgroup_good[_i].off);
}
END_TEST

START_TEST(test_cgroup_literal) {
  static const char text[] = "1:name=systemd:/a\n0::/a/b c/d\n";
  size_t len = sizeof(text) - 1;
  char *copy = exact_copy(text, len);
  const char *path = NULL;
  size_t plen = 0;
  ck_assert_int_eq(pidio_parse_cgroup(copy, len, &path, &plen), 0);
  ck_assert_ptr_eq(path, copy + 21);
  ck_assert_uint_eq(plen, 8);
  ck_assert_int_eq(memcmp(path, "/a/b c/d", 8), 0);
  /* Cut anywhere before the final newline: no complete v2 line. */
  for (size_t cut = 0; cut < len; cut++) {
    int rc = pidio_parse_cgroup(copy, cut, &path, &plen);
    int want = cut == 0 ? -ENOENT : cut == 18 ? -ENOENT : -EINVAL;
    ck_assert_msg(rc == want, "cut at %zu: got %d, expected %d", cut, rc, want);
  }
  free(copy);
}
END_TEST

static const struct {
  const char *file;
  int rc;
} cgroup_bad[] = {
    {"cgroup/v1.cgroup", -ENOENT},
    {"cgroup/bad-relative.cgroup", -EINVAL},
    {"cgroup/bad-empty-path.cgroup", -EINVAL},
    {"cgroup/bad-no-newline.cgroup", -EINVAL},
    {"cgroup/bad-hybrid-no-newline.cgroup", -EINVAL},
};

START_TEST(test_cgroup_bad) {
  char path[256];
  size_t plen = 0, off = 0;
  int rc = parse_cgroup_fixture(cgroup_bad[_i].file, path, sizeof(path), &plen,
                                &off);
  ck_assert_msg(rc == cgroup_bad[_i].rc, "%s: got %d, expected %d",
                cgroup_bad[_i].file, rc, cgroup_bad[_i].rc);
}
END_TEST

Suite *make_parse_suite(void) {
  Suite *s = suite_create("parse");

  TCase *tc = tcase_create("u64");
  tcase_add_loop_test(tc, test_u64_valid, 0,
                      (int)(sizeof(u64_good) / sizeof(u64_good[0])));
  tcase_add_test(tc, test_u64_uses_len_only);
  tcase_add_test(tc, test_u64_empty);
  tcase_add_test(tc, test_u64_not_digits);
  tcase_add_test(tc, test_u64_overflow);
  tcase_add_test(tc, test_u64_too_long);
  suite_add_tcase(s, tc);

  tc = tcase_create("io");
  tcase_add_test(tc, test_io_field_names);
  tcase_add_loop_test(tc, test_io_good, 0,
                      (int)(sizeof(io_good) / sizeof(io_good[0])));
  tcase_add_test(tc, test_io_literal);
  tcase_add_loop_test(tc, test_io_bad, 0,
                      (int)(sizeof(io_bad) / sizeof(io_bad[0])));
  suite_add_tcase(s, tc);

  tc = tcase_create("stat");
  tcase_add_loop_test(tc, test_stat_good, 0,
                      (int)(sizeof(stat_good) / sizeof(stat_good[0])));
  tcase_add_test(tc, test_stat_literal);
  tcase_add_test(tc, test_stat_flags);
  tcase_add_loop_test(tc, test_stat_bad, 0,
                      (int)(sizeof(stat_bad) / sizeof(stat_bad[0])));
  suite_add_tcase(s, tc);

  tc = tcase_create("pidfile");
  tcase_add_loop_test(tc, test_pidfile_valid, 0,
                      (int)(sizeof(pidfile_good) / sizeof(pidfile_good[0])));
  tcase_add_test(tc, test_pidfile_invalid);
  tcase_add_test(tc, test_pidfile_range);
  suite_add_tcase(s, tc);

  tc = tcase_create("cmdline");
  tcase_add_test(tc, test_cmdline_join);
  tcase_add_test(tc, test_cmdline_trailing_nuls);
  tcase_add_test(tc, test_cmdline_empty);
  tcase_add_test(tc, test_cmdline_truncate);
  tcase_add_test(tc, test_cmdline_tiny_out);
  tcase_add_test(tc, test_cmdline_exact_input);
  suite_add_tcase(s, tc);

  tc = tcase_create("read_pidfile");
  tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
  /* A read that blocks fails by timeout instead of hanging the run. */
  tcase_set_timeout(tc, 5);
  tcase_add_test(tc, test_read_pidfile_good);
  tcase_add_test(tc, test_read_pidfile_bad_content);
  tcase_add_test(tc, test_read_pidfile_missing);
  tcase_add_test(tc, test_read_pidfile_size_limit);
  tcase_add_test(tc, test_read_pidfile_dev_zero);
  tcase_add_test(tc, test_read_pidfile_fifo);
  tcase_add_test(tc, test_read_pidfile_fifo_writer_untouched);
  tcase_add_test(tc, test_read_pidfile_no_proc);
  tcase_add_test(tc, test_read_pidfile_directory);
  tcase_add_test(tc, test_read_pidfile_symlink_to_file);
  suite_add_tcase(s, tc);

  tc = tcase_create("status");
  tcase_add_loop_test(tc, test_status_good, 0,
                      (int)(sizeof(status_good) / sizeof(status_good[0])));
  tcase_add_test(tc, test_status_uid_key_exact);
  tcase_add_test(tc, test_status_cut);
  tcase_add_loop_test(tc, test_status_bad, 0,
                      (int)(sizeof(status_bad) / sizeof(status_bad[0])));
  tcase_add_test(tc, test_status_bad_literal);
  tcase_add_test(tc, test_tgid_process_and_thread);
  tcase_add_test(tc, test_tgid_literal);
  tcase_add_test(tc, test_loadavg_literal);
  tcase_add_test(tc, test_read_absorbed);
  tcase_add_test(tc, test_read_absorbed_overflow);
  tcase_add_test(tc, test_read_absorbed_task_names);
  tcase_add_test(tc, test_status_sigign);
  suite_add_tcase(s, tc);

  tc = tcase_create("cgroup");
  tcase_add_loop_test(tc, test_cgroup_good, 0,
                      (int)(sizeof(cgroup_good) / sizeof(cgroup_good[0])));
  tcase_add_test(tc, test_cgroup_literal);
  tcase_add_loop_test(tc, test_cgroup_bad, 0,
                      (int)(sizeof(cgroup_bad) / sizeof(cgroup_bad[0])));
  suite_add_tcase(s, tc);

  return s;
}
