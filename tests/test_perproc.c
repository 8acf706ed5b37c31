/*
 * Tests of pidio_perproc: which members get figures of their own (the cap,
 * a stable set, newcomers in pid order), their exact figures, their rates
 * over one interval and over a window, and their comm; on a procfs tree
 * built here whose io files the test rewrites between intervals.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_block.h"
#include "pidio_perproc.h"
#include "pidio_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tree[256]; /* mkdtemp directory; tree/proc is the ProcRoot */

static void put(int pid, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof(path), "%s/proc/%d/%s", tree, pid, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
  ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
}

/* A process of the tree, named comm, whose io says wchar and nothing
 * else: rewriting it in place is what a held descriptor reads next. */
static void proc_put(int pid, const char *comm, unsigned long wchar) {
  char text[512];
  snprintf(text, sizeof(text), "%s/proc/%d", tree, pid);
  mkdir(text, 0755);
  snprintf(text, sizeof(text),
           "%d (%s) S 1 %d %d 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 0 %d 1000 "
           "10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
           pid, comm, pid, pid, 1000 + pid);
  put(pid, "stat", text);
  put(pid, "cmdline", comm);
  snprintf(text, sizeof(text),
           "rchar: 0\nwchar: %lu\nsyscr: 0\nsyscw: 0\nread_bytes: 0\n"
           "write_bytes: 0\ncancelled_write_bytes: 0\n",
           wchar);
  put(pid, "io", text);
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static void proc_remove(int pid) {
  char path[512];
  snprintf(path, sizeof(path), "%s/proc/%d", tree, pid);
  ck_assert(nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS) == 0);
}

typedef struct fixture {
  pidio_proc_t proc;
  pidio_block_t blk;
  pidio_perproc_t pp;
} fixture_t;

static void setup(fixture_t *f, unsigned max, unsigned window) {
  const char *tmp = getenv("TMPDIR");
  snprintf(tree, sizeof(tree), "%s/pidio-perproc.XXXXXX",
           tmp != NULL && tmp[0] == '/' && strlen(tmp) < 128 ? tmp : "/tmp");
  ck_assert(mkdtemp(tree) != NULL);
  char path[512];
  snprintf(path, sizeof(path), "%s/proc", tree);
  ck_assert(mkdir(path, 0755) == 0);
  proc_put(100, "web", 0);
  proc_put(101, "web", 0);
  proc_put(102, "web", 0);
  proc_put(103, "db", 0);
  f->proc = (pidio_proc_t){.root_fd = -1};
  ck_assert_int_eq(pidio_proc_open(&f->proc, path), 0);
  pidio_select_t sel;
  char err[256];
  pidio_select_init(&sel);
  ck_assert_int_eq(pidio_select_set_name(&sel, "web", err, sizeof(err)), 0);
  pidio_block_init(&f->blk, &f->proc, &sel);
  pidio_perproc_init(&f->pp, max, window);
}

static void teardown(fixture_t *f) {
  pidio_perproc_free(&f->pp);
  pidio_block_free(&f->blk);
  pidio_proc_close(&f->proc);
  nftw(tree, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void interval(fixture_t *f, double t) {
  pidio_report_t r;
  ck_assert_int_eq(pidio_block_update(&f->blk, &r), 0);
  ck_assert_int_eq(
      pidio_perproc_update(&f->pp, &f->blk, r.matched, &f->proc, t), 0);
}

START_TEST(t_cap_stable_set_and_figures) {
  fixture_t f;
  setup(&f, 2, 1);
  interval(&f, 10.0);
  /* Three members, two places: the lowest pids, the third counted over. */
  ck_assert_uint_eq(f.pp.members, 3);
  ck_assert_uint_eq(f.pp.n, 2);
  ck_assert_uint_eq(f.pp.over, 1);
  ck_assert_int_eq(f.pp.e[0].pid, 100);
  ck_assert_int_eq(f.pp.e[1].pid, 101);
  ck_assert_str_eq(f.pp.e[0].comm, "web");
  ck_assert(!f.pp.e[0].have_rates); /* one sample */

  /* 100 writes 1000 bytes, 101 3000, 102 (without a place) 5000. */
  proc_put(100, "web", 1000);
  proc_put(101, "web", 3000);
  proc_put(102, "web", 5000);
  interval(&f, 12.0);
  ck_assert_uint_eq(f.pp.e[0].acc.v[PIDIO_WCHAR], 1000);
  ck_assert_uint_eq(f.pp.e[1].acc.v[PIDIO_WCHAR], 3000);
  ck_assert(f.pp.e[0].have_rates && f.pp.e[1].have_rates);
  /* Over the last interval (window 1): 2 seconds. */
  ck_assert(f.pp.e[0].rate[PIDIO_WCHAR] == 500.0);
  ck_assert(f.pp.e[1].rate[PIDIO_WCHAR] == 1500.0);
  ck_assert(f.pp.e[1].rate[PIDIO_RCHAR] == 0.0);
  ck_assert_uint_eq(f.blk.total.v[PIDIO_WCHAR], 9000);

  /* 100 exits: 102 takes its place, with what it added so far; 101 keeps
   * its place and its figures. */
  proc_remove(100);
  interval(&f, 13.0);
  ck_assert_uint_eq(f.pp.n, 2);
  ck_assert_uint_eq(f.pp.over, 0);
  ck_assert_int_eq(f.pp.e[0].pid, 101);
  ck_assert_int_eq(f.pp.e[1].pid, 102);
  ck_assert_uint_eq(f.pp.e[0].acc.v[PIDIO_WCHAR], 3000);
  ck_assert_uint_eq(f.pp.e[1].acc.v[PIDIO_WCHAR], 5000);
  ck_assert_str_eq(f.pp.e[1].comm, "web");
  ck_assert(f.pp.e[0].have_rates);
  ck_assert(f.pp.e[0].rate[PIDIO_WCHAR] == 0.0);
  ck_assert(!f.pp.e[1].have_rates); /* its first sample */

  /* A newcomer with a lower pid does not take a held place. */
  proc_put(99, "web", 0);
  interval(&f, 14.0);
  ck_assert_uint_eq(f.pp.members, 3);
  ck_assert_int_eq(f.pp.e[0].pid, 101);
  ck_assert_int_eq(f.pp.e[1].pid, 102);
  ck_assert_uint_eq(f.pp.over, 1);
  teardown(&f);
}
END_TEST

START_TEST(t_window_and_no_rates) {
  fixture_t f;
  setup(&f, 10, 3);
  interval(&f, 0.0);
  proc_put(100, "web", 600);
  interval(&f, 1.0);
  proc_put(100, "web", 1200);
  interval(&f, 2.0);
  /* Over the two intervals there are (window 3, fewer seen). */
  ck_assert_uint_eq(f.pp.n, 3);
  ck_assert(f.pp.e[0].have_rates);
  ck_assert(f.pp.e[0].rate[PIDIO_WCHAR] == 600.0);
  proc_put(100, "web", 1200);
  interval(&f, 3.0);
  interval(&f, 4.0);
  /* (1200 - 600) over the last 3 intervals. */
  ck_assert(f.pp.e[0].rate[PIDIO_WCHAR] == 200.0);
  teardown(&f);

  /* Window 0 (the plugin without Window): figures, no rates. */
  setup(&f, 10, 0);
  interval(&f, 0.0);
  proc_put(101, "web", 10);
  pidio_report_t r;
  ck_assert_int_eq(pidio_block_update(&f.blk, &r), 0);
  ck_assert_int_eq(pidio_perproc_update(&f.pp, &f.blk, r.matched, NULL, 1.0),
                   0);
  ck_assert_uint_eq(f.pp.e[1].acc.v[PIDIO_WCHAR], 10);
  ck_assert(!f.pp.e[1].have_rates);
  ck_assert_str_eq(f.pp.e[1].comm, "web"); /* read when it got its place */
  /* The place itself is not reread: a process that renames itself (or
   * was never asked for its comm) keeps what it had. */
  teardown(&f);
}
END_TEST

Suite *make_perproc_suite(void) {
  Suite *s = suite_create("perproc");
  TCase *tc = tcase_create("perproc");
  tcase_add_test(tc, t_cap_stable_set_and_figures);
  tcase_add_test(tc, t_window_and_no_rates);
  suite_add_tcase(s, tc);
  return s;
}
