/*
 * Unit tests of the collectd adapter (src/pidio.c) against the recording
 * stand-in of the daemon (collectd_stub.c): configuration errors, the
 * registered reads, and the exact series dispatched for a copy of
 * fixtures/proc-basic whose io files the tests change between reads.
 */
#include "collectd_stub.h"

#include "fixture_tree.h"
#include "unit.h"

#include "pidio_parse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PATHSZ TREE_PATHSZ

static char base[PATHSZ]; /* mkdtemp directory: proc/ and pidfiles */
static char root[PATHSZ]; /* base/proc: a copy of fixtures/proc-basic */

/* --- files and trees ----------------------------------------------------- */

/* A writable copy of fixtures/proc-basic in base/proc. */
static void open_tree(void) { tree_open("proc-basic", base, root); }

static void io_path(char *out, pid_t pid) {
  char rel[32];
  snprintf(rel, sizeof(rel), "%d/io", (int)pid);
  tree_join(out, root, rel);
}

static void io_get(pid_t pid, pidio_io_t *io) { tree_io_get(root, pid, io); }

/* In place: the plugin holds the io files open. */
static void io_put(pid_t pid, const pidio_io_t *io) {
  tree_io_put(root, pid, io);
}

/* Raise pid's counters by inc (different for every field and seed); add
 * inc to *sum. */
static void io_bump(pid_t pid, uint64_t seed, pidio_io_t *sum) {
  pidio_io_t io;
  io_get(pid, &io);
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    uint64_t inc = seed * 1000 * (uint64_t)(f + 1) + (uint64_t)f + 1;
    io.v[f] += inc;
    if (sum != NULL)
      sum->v[f] += inc;
  }
  io_put(pid, &io);
}

/* --- configuration trees ------------------------------------------------- */

static oconfig_item_t *plugin_ci(void) {
  oconfig_item_t *ci = stub_ci("Plugin");
  stub_ci_str(ci, "pidio");
  return ci;
}

static oconfig_item_t *process_ci(oconfig_item_t *plugin, const char *name) {
  oconfig_item_t *p = stub_ci_child(plugin, "Process");
  stub_ci_str(p, name);
  return p;
}

static void opt_str(oconfig_item_t *ci, const char *key, const char *value) {
  stub_ci_str(stub_ci_child(ci, key), value);
}

static void opt_num(oconfig_item_t *ci, const char *key, double value) {
  stub_ci_num(stub_ci_child(ci, key), value);
}

/* --- the log ------------------------------------------------------------- */

/* Lines logged at this level holding every given substring (NULL ones are
 * skipped). */
static unsigned count_logged(int level, const char *a, const char *b,
                             const char *c) {
  unsigned n = 0;
  for (size_t i = 0; i < stub_nlog; i++)
    if (stub_log_level[i] == level &&
        (a == NULL || strstr(stub_log[i], a) != NULL) &&
        (b == NULL || strstr(stub_log[i], b) != NULL) &&
        (c == NULL || strstr(stub_log[i], c) != NULL))
      n++;
  return n;
}

static const char *log_text(void) {
  static char text[8192];
  size_t len = 0;
  text[0] = '\0';
  for (size_t i = 0; i < stub_nlog && len < sizeof(text) - 1; i++) {
    int n = snprintf(text + len, sizeof(text) - len, "\n  [%d] %s",
                     stub_log_level[i], stub_log[i]);
    if (n < 0)
      break;
    len += (size_t)n;
  }
  return text;
}

/* The monotonic clock (the plugin's own) just before and just after each
 * read of the test, so that a windowed rate can be checked against the
 * elapsed time between two reads: it lies between those brackets. */
#define MAX_READS 64
static double read_before[MAX_READS], read_after[MAX_READS];
static size_t nreads;

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One read of every block. The reads are 20 ms apart at least, so that the
 * brackets (microseconds) are small against the time between reads. */
/* Every value list one read dispatches carries the time of that read
 * (README "Series"): the stub's clock, moved on a second for each read. */
static void assert_one_time(cdtime_t want) {
  for (size_t i = 0; i < stub_nvalues; i++)
    ck_assert_msg(stub_values[i].time == want,
                  "%s/%s-%s dispatched at %llu, the read at %llu",
                  stub_values[i].plugin_instance, stub_values[i].type,
                  stub_values[i].type_instance,
                  (unsigned long long)stub_values[i].time,
                  (unsigned long long)want);
}

static void read_once(void) {
  stub_nvalues = 0;
  usleep(20000);
  ck_assert_uint_lt(nreads, MAX_READS);
  stub_now += TIME_T_TO_CDTIME_T_STATIC(1);
  read_before[nreads] = mono();
  ck_assert_int_eq(stub_read_all(), 0);
  read_after[nreads++] = mono();
  assert_one_time(stub_now);
}

/* --- dispatched values --------------------------------------------------- */

static size_t count_type(const char *plugin_instance, const char *type) {
  size_t n = 0;
  for (size_t i = 0; i < stub_nvalues; i++)
    if ((plugin_instance == NULL ||
         strcmp(stub_values[i].plugin_instance, plugin_instance) == 0) &&
        strcmp(stub_values[i].type, type) == 0)
      n++;
  return n;
}

static const stub_value_t *must_find(const char *pi, const char *type,
                                     const char *ti, size_t values_len) {
  const stub_value_t *v = stub_find(pi, type, ti);
  ck_assert_msg(v != NULL, "no value %s/%s-%s dispatched", pi, type,
                ti != NULL ? ti : "");
  ck_assert_str_eq(v->plugin, "pidio");
  ck_assert_uint_eq(v->values_len, values_len);
  return v;
}

/* The seven pidio_rate gauges of pi, exactly: each is inc (the increment
 * of its field over the window) divided by the time between read `from`
 * and read `to` (counted from 0) by the plugin's monotonic clock. That time
 * is known to lie between the brackets of the two reads; and it is the same
 * time for all seven, which fixes their ratios to within rounding. */
static void assert_rates(const char *pi, const pidio_io_t *inc, size_t from,
                         size_t to) {
  ck_assert_uint_lt(to, nreads);
  ck_assert_uint_lt(from, to);
  double lo = read_before[to] - read_after[from];
  double hi = read_after[to] - read_before[from];
  ck_assert_uint_eq(count_type(pi, "pidio_rate"), PIDIO_NFIELDS);
  const stub_value_t *r0 =
      must_find(pi, "pidio_rate", pidio_field_names[PIDIO_RCHAR], 1);
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    const stub_value_t *v =
        must_find(pi, "pidio_rate", pidio_field_names[f], 1);
    double rate = v->values[0].gauge, n = (double)inc->v[f];
    ck_assert_msg(rate * lo <= n * (1 + 1e-12) && rate * hi >= n * (1 - 1e-12),
                  "%s: rate %s is %.9g, expected %" PRIu64
                  " over %.6f to %.6f s (%.9g to %.9g)",
                  pi, pidio_field_names[f], rate, inc->v[f], lo, hi, n / hi,
                  n / lo);
    double got = rate * (double)inc->v[PIDIO_RCHAR];
    double want = r0->values[0].gauge * n;
    ck_assert_msg(got >= want * (1 - 1e-9) && got <= want * (1 + 1e-9),
                  "%s: rate %s is %.9g, rchar's is %.9g: not the ratio "
                  "%" PRIu64 "/%" PRIu64 " of one elapsed time",
                  pi, pidio_field_names[f], rate, r0->values[0].gauge,
                  inc->v[f], inc->v[PIDIO_RCHAR]);
  }
}

static void assert_derive(const char *pi, const char *type, const char *ti,
                          uint64_t a, uint64_t b, size_t n) {
  const stub_value_t *v = must_find(pi, type, ti, n);
  ck_assert_msg(v->values[0].derive == (derive_t)a,
                "%s/%s: values[0] %" PRId64 ", expected %" PRIu64, pi, type,
                (int64_t)v->values[0].derive, a);
  if (n > 1)
    ck_assert_msg(v->values[1].derive == (derive_t)b,
                  "%s/%s: values[1] %" PRId64 ", expected %" PRIu64, pi, type,
                  (int64_t)v->values[1].derive, b);
}

/* The block's six series hold exactly these totals and counts. */
static void assert_series(const char *pi, const pidio_io_t *t,
                          unsigned processes) {
  assert_derive(pi, "io_octets", NULL, t->v[PIDIO_RCHAR], t->v[PIDIO_WCHAR], 2);
  assert_derive(pi, "io_ops", NULL, t->v[PIDIO_SYSCR], t->v[PIDIO_SYSCW], 2);
  assert_derive(pi, "disk_octets", NULL, t->v[PIDIO_READ_BYTES],
                t->v[PIDIO_WRITE_BYTES], 2);
  assert_derive(pi, "total_bytes", "cancelled_write_bytes",
                t->v[PIDIO_CANCELLED_WRITE_BYTES], 0, 1);
  const stub_value_t *v = must_find(pi, "count", "processes", 1);
  ck_assert_msg(v->values[0].gauge == (gauge_t)processes,
                "%s: count-processes %g, expected %u", pi, v->values[0].gauge,
                processes);
  v = must_find(pi, "count", "unreadable", 1);
  ck_assert_msg(v->values[0].gauge == 0.0, "%s: count-unreadable %g", pi,
                v->values[0].gauge);
}

/* One read of every block, recording only what it dispatches. */

/* --- setup and teardown ------------------------------------------------- */

static void setup(void) {
  base[0] = root[0] = '\0';
  nreads = 0;
}

static void teardown(void) {
  stub_shutdown(); /* harmless when the test did it already */
  if (base[0] != '\0')
    tree_remove(base);
  base[0] = '\0';
}

/* === configuration errors ================================================= */

/* Every case has a valid block first: one bad option refuses the lot. */
static oconfig_item_t *with_valid_block(void) {
  oconfig_item_t *ci = plugin_ci();
  opt_str(process_ci(ci, "ok"), "Name", "nginx");
  return ci;
}

static void bad_unknown_in_block(oconfig_item_t *ci) {
  oconfig_item_t *p = process_ci(ci, "web");
  opt_str(p, "Name", "nginx");
  opt_str(p, "Bogus", "x");
}

static void bad_unknown_plugin_option(oconfig_item_t *ci) {
  opt_num(ci, "Frobnicate", 1);
}

static void bad_pid_string(oconfig_item_t *ci) {
  opt_str(process_ci(ci, "web"), "Pid", "abc");
}

static void bad_name_number(oconfig_item_t *ci) {
  opt_num(process_ci(ci, "web"), "Name", 5);
}

static void bad_regex(oconfig_item_t *ci) {
  opt_str(process_ci(ci, "web"), "CommandLine", "worker([");
}

static void bad_duplicate_block(oconfig_item_t *ci) {
  opt_str(process_ci(ci, "web"), "Name", "nginx");
  opt_str(process_ci(ci, "web"), "Name", "python3");
}

static void bad_no_selector(oconfig_item_t *ci) {
  opt_num(process_ci(ci, "web"), "Window", 3);
}

static void bad_window_negative(oconfig_item_t *ci) {
  oconfig_item_t *p = process_ci(ci, "web");
  opt_str(p, "Name", "nginx");
  opt_num(p, "Window", -1);
}

static void bad_window_one(oconfig_item_t *ci) {
  oconfig_item_t *p = process_ci(ci, "web");
  opt_str(p, "Name", "nginx");
  opt_num(p, "Window", 1);
}

static void bad_window_fraction(oconfig_item_t *ci) {
  oconfig_item_t *p = process_ci(ci, "web");
  opt_str(p, "Name", "nginx");
  opt_num(p, "Window", 1.5);
}

static void bad_plugin_window_one(oconfig_item_t *ci) {
  opt_num(ci, "Window", 1);
}

static void bad_procroot_relative(oconfig_item_t *ci) {
  opt_str(ci, "ProcRoot", "proc");
}

static void bad_name_too_long(oconfig_item_t *ci) {
  opt_str(process_ci(ci, "web"), "Name", "averyveryverylongname");
}

static void bad_pidfile_relative(oconfig_item_t *ci) {
  opt_str(process_ci(ci, "web"), "PidFile", "run/web.pid");
}

static void bad_interval_zero(oconfig_item_t *ci) {
  oconfig_item_t *p = process_ci(ci, "web");
  opt_str(p, "Name", "nginx");
  opt_num(p, "Interval", 0);
}

static void bad_block_name(oconfig_item_t *ci) {
  opt_str(process_ci(ci, "we/b"), "Name", "nginx");
}

static void bad_exe_relative(oconfig_item_t *ci) {
  opt_str(process_ci(ci, "web"), "Exe", "sbin/nginx");
}

static void bad_user_unknown(oconfig_item_t *ci) {
  opt_str(process_ci(ci, "web"), "User", "no-such-user-pidio");
}

static void bad_cgroup_relative(oconfig_item_t *ci) {
  opt_str(process_ci(ci, "web"), "Cgroup", "system.slice/nginx.service");
}

static void bad_children_string(oconfig_item_t *ci) {
  oconfig_item_t *p = process_ci(ci, "web");
  opt_str(p, "Name", "nginx");
  opt_str(p, "Children", "yes");
}

static void bad_max_processes_zero(oconfig_item_t *ci) {
  oconfig_item_t *p = process_ci(ci, "web");
  opt_str(p, "Name", "nginx");
  opt_num(p, "MaxProcesses", 0);
}

typedef struct bad_case {
  const char *what;
  void (*build)(oconfig_item_t *plugin);
  const char *want[3]; /* substrings of one ERROR line */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"unknown option in a block",
     bad_unknown_in_block,
     {"<Process \"web\">", "option \"Bogus\"", "not a pidio option"}},
    {"unknown option at plugin level",
     bad_unknown_plugin_option,
     {"option \"Frobnicate\"", "not a pidio option", "<Plugin pidio>"}},
    {"Pid given as a string",
     bad_pid_string,
     {"<Process \"web\">", "option \"Pid\"", "number"}},
    {"Name given as a number",
     bad_name_number,
     {"<Process \"web\">", "option \"Name\"", "string"}},
    {"invalid regex in CommandLine",
     bad_regex,
     {"<Process \"web\">", "option \"CommandLine\"",
      "invalid regular expression"}},
    {"duplicate block name",
     bad_duplicate_block,
     {"<Process \"web\">", "given twice", "unique"}},
    {"block without a selector",
     bad_no_selector,
     {"<Process \"web\">", "selects nothing", "Pid, PidFile, Name"}},
    {"negative Window",
     bad_window_negative,
     {"<Process \"web\">", "option \"Window\"", "whole number"}},
    {"Window 1",
     bad_window_one,
     {"<Process \"web\">", "option \"Window\"", "window of 1"}},
    {"Window 1.5",
     bad_window_fraction,
     {"<Process \"web\">", "option \"Window\"", "whole number"}},
    {"plugin-level Window 1",
     bad_plugin_window_one,
     {"pidio: option \"Window\"", "window of 1", NULL}},
    {"relative ProcRoot",
     bad_procroot_relative,
     {"option \"ProcRoot\"", "absolute path", "\"proc\""}},
    {"Name longer than 15 characters",
     bad_name_too_long,
     {"<Process \"web\">", "option \"Name\"", "averyveryverylongname"}},
    {"relative PidFile",
     bad_pidfile_relative,
     {"<Process \"web\">", "option \"PidFile\"", "absolute path"}},
    {"Interval 0",
     bad_interval_zero,
     {"<Process \"web\">", "option \"Interval\"", "positive"}},
    {"block name with a slash", bad_block_name, {"<Process \"we/b\">", NULL}},
    {"relative Exe",
     bad_exe_relative,
     {"<Process \"web\">", "option \"Exe\"", "absolute path"}},
    {"unknown User",
     bad_user_unknown,
     {"<Process \"web\">", "option \"User\"", "no such user"}},
    {"relative Cgroup",
     bad_cgroup_relative,
     {"<Process \"web\">", "option \"Cgroup\"", "cgroup v2 path"}},
    {"Children given as a string",
     bad_children_string,
     {"<Process \"web\">", "option \"Children\"", "boolean"}},
    {"MaxProcesses 0",
     bad_max_processes_zero,
     {"<Process \"web\">", "option \"MaxProcesses\"", "whole number"}},
};

START_TEST(t_bad_config) {
  const bad_case_t *c = &bad_cases[_i];
  stub_reset();
  oconfig_item_t *ci = with_valid_block();
  c->build(ci);
  int rc = stub_config_cb(ci);
  stub_ci_free(ci);
  ck_assert_msg(rc != 0, "%s: the configuration was accepted", c->what);
  ck_assert_msg(count_logged(LOG_ERR, c->want[0], c->want[1], c->want[2]) == 1,
                "%s: no single ERROR with \"%s\", \"%s\", \"%s\"; log:%s",
                c->what, c->want[0], c->want[1] ? c->want[1] : "",
                c->want[2] ? c->want[2] : "", log_text());
  ck_assert_msg(stub_init_cb() != 0, "%s: init started anyway", c->what);
  ck_assert_msg(count_logged(LOG_ERR, "pidio", "not starting", NULL) == 1,
                "%s: init refused without saying so; log:%s", c->what,
                log_text());
  ck_assert_uint_eq(stub_nreads, 0);
  stub_shutdown();
}
END_TEST

/* After a refused configuration and shutdown, a good one starts: no state
 * of the first survives. */
START_TEST(t_good_config_after_bad) {
  stub_reset();
  oconfig_item_t *ci = with_valid_block();
  bad_window_one(ci);
  ck_assert_int_ne(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_ne(stub_init_cb(), 0);
  stub_shutdown();

  open_tree();
  stub_reset();
  ci = plugin_ci();
  opt_str(ci, "ProcRoot", root);
  opt_str(process_ci(ci, "web"), "Name", "nginx");
  ck_assert_int_eq(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_eq(stub_init_cb(), 0);
  ck_assert_uint_eq(stub_nreads, 1);
  read_once();
  pidio_io_t zero = {{0}};
  assert_series("web", &zero, 3);
  ck_assert_uint_eq(count_logged(LOG_ERR, NULL, NULL, NULL), 0);
  stub_shutdown();
}
END_TEST

START_TEST(t_procroot_missing) {
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(ci, "ProcRoot", "/nonexistent-pidio-root/proc");
  opt_str(process_ci(ci, "web"), "Name", "nginx");
  ck_assert_int_eq(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_ne(stub_init_cb(), 0);
  ck_assert_msg(count_logged(LOG_ERR, "ProcRoot",
                             "/nonexistent-pidio-root/proc", NULL) == 1,
                "log:%s", log_text());
  ck_assert_uint_eq(stub_nreads, 0);
  stub_shutdown();
}
END_TEST

/* === reads and dispatched series ========================================= */

/* <Plugin pidio>
 *   ProcRoot <copy>; Window 3
 *   <Process "web"> Name "nginx" </Process>            default Window 3
 *   <Process "py"> CommandLine "worker\.py"; Window 0; Interval 10
 *   <Process "pg"> Name "postgres"; Window 2 </Process>
 */
START_TEST(t_good_config_series) {
  static const char *const names[PIDIO_NFIELDS] = {"rchar",
                                                   "wchar",
                                                   "syscr",
                                                   "syscw",
                                                   "read_bytes",
                                                   "write_bytes",
                                                   "cancelled_write_bytes"};
  open_tree();
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(ci, "ProcRoot", root);
  opt_num(ci, "Window", 3);
  opt_str(process_ci(ci, "web"), "Name", "nginx");
  oconfig_item_t *p = process_ci(ci, "py");
  opt_str(p, "CommandLine", "worker\\.py");
  opt_num(p, "Window", 0);
  opt_num(p, "Interval", 10);
  p = process_ci(ci, "pg");
  opt_str(p, "Name", "postgres");
  opt_num(p, "Window", 2);
  ck_assert_int_eq(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_eq(stub_init_cb(), 0);
  ck_assert_msg(count_logged(LOG_ERR, NULL, NULL, NULL) == 0, "log:%s",
                log_text());

  /* What init registered. */
  ck_assert(stub_has_rate_type);
  ck_assert_uint_eq(stub_nreads, 3);
  ck_assert_str_eq(stub_reads[0].name, "pidio/web");
  ck_assert_str_eq(stub_reads[1].name, "pidio/py");
  ck_assert_str_eq(stub_reads[2].name, "pidio/pg");
  for (size_t i = 0; i < 3; i++)
    ck_assert_str_eq(stub_reads[i].group, "pidio");
  ck_assert(stub_reads[0].interval == 0);
  ck_assert(stub_reads[1].interval == TIME_T_TO_CDTIME_T_STATIC(10));
  ck_assert(stub_reads[2].interval == 0);

  /* First read: the baseline; no rate yet. */
  pidio_io_t web = {{0}}, py = {{0}}, pg = {{0}};
  read_once();
  assert_series("web", &web, 3);
  assert_series("py", &py, 1);
  assert_series("pg", &pg, 1);
  ck_assert_uint_eq(count_type(NULL, "pidio_rate"), 0);
  ck_assert_uint_eq(stub_nvalues, 3 * 6);

  /* Members move; so do non-members (not counted anywhere). */
  io_bump(410, 1, &web);
  io_bump(411, 22, &web);
  io_bump(412, 333, &web);
  io_bump(520, 4444, &py);
  io_bump(521, 5, NULL);
  io_bump(630, 6, NULL);
  read_once();
  assert_series("web", &web, 3);
  assert_series("py", &py, 1);
  assert_series("pg", &pg, 1);
  /* Window 3, two reads so far: over the one interval there is. */
  assert_rates("web", &web, 0, 1);
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    const stub_value_t *v = must_find("pg", "pidio_rate", names[f], 1);
    ck_assert_msg(v->values[0].gauge == 0, "pg rate %s is %g", names[f],
                  v->values[0].gauge);
  }
  ck_assert_uint_eq(count_type("py", "pidio_rate"), 0); /* Window 0 */
  ck_assert_uint_eq(stub_nvalues, 3 * 6 + 2 * PIDIO_NFIELDS);

  /* Third read, nothing moved: same totals; the rates are the same
   * increments over both intervals (Window 3 reaches back to read 0). */
  read_once();
  assert_series("web", &web, 3);
  assert_series("py", &py, 1);
  assert_rates("web", &web, 0, 2);
  ck_assert_uint_eq(count_type("py", "pidio_rate"), 0);
  stub_shutdown();
}
END_TEST

/* No Window anywhere: no pidio_rate at all. A block's Window 2 is its
 * own, not the others'. */
START_TEST(t_window_off_by_default) {
  open_tree();
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(ci, "ProcRoot", root);
  opt_str(process_ci(ci, "web"), "Name", "nginx");
  opt_str(process_ci(ci, "py"), "Name", "python3");
  oconfig_item_t *p = process_ci(ci, "pg");
  opt_str(p, "Name", "postgres");
  opt_num(p, "Window", 2);
  ck_assert_int_eq(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_eq(stub_init_cb(), 0);
  pidio_io_t web = {{0}}, py = {{0}};
  for (int i = 0; i < 3; i++) {
    read_once();
    io_bump(411, (uint64_t)i + 1, &web);
    io_bump(521, (uint64_t)i + 7, &py);
  }
  read_once();
  assert_series("web", &web, 3);
  assert_series("py", &py, 2);
  ck_assert_uint_eq(count_type("web", "pidio_rate"), 0);
  ck_assert_uint_eq(count_type("py", "pidio_rate"), 0);
  ck_assert_uint_eq(count_type("pg", "pidio_rate"), PIDIO_NFIELDS);
  stub_shutdown();
}
END_TEST

START_TEST(t_pidfile_missing_warns_once) {
  char pf[PATHSZ];
  open_tree();
  tree_join(pf, base, "svc.pid");
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(ci, "ProcRoot", root);
  opt_str(process_ci(ci, "svc"), "PidFile", pf);
  ck_assert_int_eq(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_eq(stub_init_cb(), 0);
  pidio_io_t zero = {{0}};
  for (int i = 0; i < 5; i++) {
    read_once();
    assert_series("svc", &zero, 0);
  }
  ck_assert_msg(count_logged(LOG_WARNING, "<Process \"svc\">", "PidFile", pf) ==
                    1,
                "log:%s", log_text());
  ck_assert_uint_eq(count_logged(LOG_WARNING, NULL, NULL, NULL), 1);

  /* The pidfile appears: the process is found, the recovery is said once.
   */
  int fd = open(pf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_int_ge(fd, 0);
  tree_write_all(fd, "520\n", 4, pf);
  close(fd);
  read_once();
  assert_series("svc", &zero, 1);
  pidio_io_t want = {{0}};
  io_bump(520, 9, &want);
  read_once();
  assert_series("svc", &want, 1);
  ck_assert_uint_eq(
      count_logged(LOG_INFO, "<Process \"svc\">", "valid again", NULL), 1);
  ck_assert_uint_eq(count_logged(LOG_WARNING, NULL, NULL, NULL), 1);
  stub_shutdown();
}
END_TEST

/* A garbled io file: one WARNING naming the block and the file, the other
 * members still counted. */
START_TEST(t_garbled_io_warns) {
  open_tree();
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(ci, "ProcRoot", root);
  opt_str(process_ci(ci, "web"), "Name", "nginx");
  ck_assert_int_eq(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_eq(stub_init_cb(), 0);
  read_once();
  pidio_io_t want = {{0}};
  char p[PATHSZ];
  io_path(p, 412);
  for (int i = 0; i < 3; i++) {
    io_bump(410, (uint64_t)i + 1, &want);
    int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    tree_write_all(fd, "garbage\n", 8, p);
    close(fd);
    read_once();
    assert_series("web", &want, 3);
  }
  ck_assert_msg(count_logged(LOG_WARNING, "<Process \"web\">", "412/io",
                             "does not parse") == 1,
                "log:%s", log_text());
  stub_shutdown();
}
END_TEST

/* A Cgroup block on a host with cgroup v1 only (no 0:: line in any
 * process's cgroup file): it matches nothing, and one warning says why,
 * however many reads. */
START_TEST(t_cgroup_v1_only_warns_once) {
  static const char v1[] = "4:memory:/system.slice/nginx.service\n"
                           "1:name=systemd:/system.slice/nginx.service\n";
  static const pid_t pids[] = {1, 410, 411, 412, 520, 521, 630, 740};
  open_tree();
  for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
    char rel[32];
    snprintf(rel, sizeof(rel), "%d/cgroup", (int)pids[i]);
    tree_put(root, rel, v1, sizeof(v1) - 1);
  }
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(ci, "ProcRoot", root);
  opt_str(process_ci(ci, "svc"), "Cgroup", "/system.slice/nginx.service");
  ck_assert_int_eq(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_eq(stub_init_cb(), 0);
  pidio_io_t zero = {{0}};
  for (int i = 0; i < 5; i++) {
    read_once();
    assert_series("svc", &zero, 0);
  }
  ck_assert_msg(count_logged(LOG_WARNING, "<Process \"svc\">",
                             "cgroup v1 only host", "matches nothing") == 1,
                "log:%s", log_text());
  ck_assert_msg(count_logged(LOG_WARNING, NULL, NULL, NULL) == 1, "log:%s",
                log_text());
  stub_shutdown();
}
END_TEST

/* The permission warning as collectd's clock moves on (the stand-in's
 * clock, a read every minute for 55 hours): logged at the first read,
 * reminded after an hour, then after 2, 4, 8 and 16 hours, then once a day
 * (collectd's c_complain doubles the interval up to a day); when the file
 * is readable again, one line says so, and a cause that comes back before
 * the next reminder is due is neither warned about again nor said over
 * again. The reads run in a child process that cannot read 412's io file
 * (mode 0): as root, the child runs as nobody (its effective uid), keeping
 * root as its real and saved uid to change the file's mode. */
#define CHILD_CHECK(cond, ...)                                                 \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\nlog:%s\n", log_text());                               \
      _exit(1);                                                                \
    }                                                                          \
  } while (0)

static bool child_is_root;

static void child_chmod(const char *path, mode_t mode) {
  if (child_is_root)
    CHILD_CHECK(seteuid(0) == 0, "seteuid(0): %s", strerror(errno));
  CHILD_CHECK(chmod(path, mode) == 0, "chmod %s: %s", path, strerror(errno));
  if (child_is_root)
    CHILD_CHECK(seteuid(65534) == 0, "seteuid: %s", strerror(errno));
}

static unsigned denied_warnings(void) {
  return count_logged(LOG_WARNING, "<Process \"web\">", "permission denied",
                      "412/io");
}

static unsigned readable_lines(void) {
  return count_logged(LOG_INFO, "<Process \"web\">", "readable again", NULL);
}

static double unreadable_gauge(void) {
  const stub_value_t *v = stub_find("web", "count", "unreadable");
  return v != NULL ? v->values[0].gauge : -1;
}

static void reminders_child(const char *io412) {
  child_is_root = geteuid() == 0;
  if (child_is_root) {
    char dir[PATHSZ];
    snprintf(dir, sizeof(dir), "%s", base);
    CHILD_CHECK(chmod(base, 0755) == 0, "chmod %s", base);
    *strrchr(dir, '/') = '\0';
    CHILD_CHECK(chmod(dir, 0755) == 0, "chmod %s", dir);
    /* Only the effective ids: the real and saved uid stay root, so
     * that child_chmod can take root's back for a moment. */
    CHILD_CHECK(setegid(65534) == 0, "setegid: %s", strerror(errno));
    CHILD_CHECK(seteuid(65534) == 0, "seteuid: %s", strerror(errno));
  }
  child_chmod(io412, 0);
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(ci, "ProcRoot", root);
  opt_str(process_ci(ci, "web"), "Name", "nginx");
  CHILD_CHECK(stub_config_cb(ci) == 0, "config refused");
  stub_ci_free(ci);
  CHILD_CHECK(stub_init_cb() == 0, "init failed");

  static const unsigned want[] = {0, 3600, 10800, 25200, 54000, 111600, 198000};
  const size_t nwant = sizeof(want) / sizeof(want[0]);
  unsigned got[16];
  size_t ngot = 0;
  const cdtime_t t0 = stub_now;
  unsigned t = 0;
  for (; t <= want[nwant - 1] + 600; t += 60) {
    stub_now = t0 + TIME_T_TO_CDTIME_T_STATIC(t);
    unsigned before = denied_warnings();
    stub_nvalues = 0;
    CHILD_CHECK(stub_read_all() == 0, "a read failed at %u s", t);
    CHILD_CHECK(unreadable_gauge() == 1, "count-unreadable %g at %u s",
                unreadable_gauge(), t);
    if (denied_warnings() != before && ngot < 16)
      got[ngot++] = t;
  }
  CHILD_CHECK(ngot == nwant, "%zu warnings, expected %zu", ngot, nwant);
  for (size_t i = 0; i < nwant; i++)
    CHILD_CHECK(got[i] == want[i], "warning %zu at %u s, expected at %u s", i,
                got[i], want[i]);
  CHILD_CHECK(readable_lines() == 0, "readable again while unreadable");

  /* Readable again: one line, however long it stays readable. */
  child_chmod(io412, 0644);
  for (int i = 0; i < 10; i++, t += 60) {
    stub_now = t0 + TIME_T_TO_CDTIME_T_STATIC(t);
    stub_nvalues = 0;
    CHILD_CHECK(stub_read_all() == 0, "a read failed at %u s", t);
    CHILD_CHECK(unreadable_gauge() == 0, "count-unreadable %g at %u s",
                unreadable_gauge(), t);
  }
  CHILD_CHECK(readable_lines() == 1, "%u 'readable again' lines",
              readable_lines());
  /* Unreadable for an hour, readable again, well before the next reminder
   * (due a day after the last one): no new warning, no new line. */
  child_chmod(io412, 0);
  for (int i = 0; i < 60; i++, t += 60) {
    stub_now = t0 + TIME_T_TO_CDTIME_T_STATIC(t);
    CHILD_CHECK(stub_read_all() == 0, "a read failed at %u s", t);
  }
  child_chmod(io412, 0644);
  for (int i = 0; i < 10; i++, t += 60) {
    stub_now = t0 + TIME_T_TO_CDTIME_T_STATIC(t);
    CHILD_CHECK(stub_read_all() == 0, "a read failed at %u s", t);
  }
  CHILD_CHECK(denied_warnings() == nwant, "%u warnings after a flicker",
              denied_warnings());
  CHILD_CHECK(readable_lines() == 1, "%u 'readable again' lines",
              readable_lines());
  stub_shutdown();
  _exit(0);
}

START_TEST(t_permission_reminders) {
  open_tree();
  char io412[PATHSZ];
  io_path(io412, 412);
  fflush(NULL);
  pid_t kid = fork();
  ck_assert_int_ge(kid, 0);
  if (kid == 0)
    reminders_child(io412);
  int status = 0;
  ck_assert_int_eq(waitpid(kid, &status, 0), kid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "the reads as an unprivileged user failed (status 0x%x): "
                "see its messages above",
                status);
}
END_TEST

/* === PerProcess and MaxProcesses ========================================== */

static void opt_bool(oconfig_item_t *ci, const char *key, bool value) {
  stub_ci_bool(stub_ci_child(ci, key), value);
}

/* What io_bump(pid, seed, ...) adds. */
static pidio_io_t seed_inc(uint64_t seed) {
  pidio_io_t io;
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    io.v[f] = seed * 1000 * (uint64_t)(f + 1) + (uint64_t)f + 1;
  return io;
}

static void io_plus(pidio_io_t *a, const pidio_io_t *b) {
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    a->v[f] += b->v[f];
}

/* io_bump that also adds the increment to a process's own sum. */
static void bump_pp(pid_t pid, uint64_t seed, pidio_io_t *block,
                    pidio_io_t *own) {
  io_bump(pid, seed, block);
  pidio_io_t inc = seed_inc(seed);
  io_plus(own, &inc);
}

static void remove_pid_dir(pid_t pid) {
  char rel[32], p[PATHSZ];
  snprintf(rel, sizeof(rel), "%d", (int)pid);
  tree_join(p, root, rel);
  tree_remove(p);
  ck_assert_msg(access(p, F_OK) != 0, "%s still there", p);
}

/* A process's own four series hold exactly these counters. */
static void assert_pp_series(const char *pi, const pidio_io_t *t) {
  assert_derive(pi, "io_octets", NULL, t->v[PIDIO_RCHAR], t->v[PIDIO_WCHAR], 2);
  assert_derive(pi, "io_ops", NULL, t->v[PIDIO_SYSCR], t->v[PIDIO_SYSCW], 2);
  assert_derive(pi, "disk_octets", NULL, t->v[PIDIO_READ_BYTES],
                t->v[PIDIO_WRITE_BYTES], 2);
  assert_derive(pi, "total_bytes", "cancelled_write_bytes",
                t->v[PIDIO_CANCELLED_WRITE_BYTES], 0, 1);
  ck_assert_msg(stub_find(pi, "count", "processes") == NULL,
                "%s has a count of its own", pi);
}

static size_t count_instance(const char *pi) {
  size_t n = 0;
  for (size_t i = 0; i < stub_nvalues; i++)
    if (strcmp(stub_values[i].plugin_instance, pi) == 0)
      n++;
  return n;
}

/* <Process "web"> Name "nginx"; PerProcess true; MaxProcesses 2 selects
 * 410, 411 and 412: the two lowest pids get series of their own, a single
 * WARNING says why the third has none, the block still counts all three.
 * When 411 leaves, 412 takes its place. <Process "py"> has no PerProcess:
 * no series per process. */
START_TEST(t_per_process_max) {
  open_tree();
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(ci, "ProcRoot", root);
  oconfig_item_t *p = process_ci(ci, "web");
  opt_str(p, "Name", "nginx");
  opt_bool(p, "PerProcess", true);
  opt_num(p, "MaxProcesses", 2);
  opt_str(process_ci(ci, "py"), "Name", "python3");
  ck_assert_int_eq(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_eq(stub_init_cb(), 0);

  pidio_io_t web = {{0}}, py = {{0}}, p410 = {{0}}, p411 = {{0}}, p412 = {{0}};
  read_once();
  assert_series("web", &web, 3);
  assert_series("py", &py, 2);
  assert_pp_series("web-410", &p410);
  assert_pp_series("web-411", &p411);
  ck_assert_uint_eq(count_instance("web-412"), 0);
  ck_assert_uint_eq(count_instance("py-520"), 0);
  ck_assert_uint_eq(count_instance("py-521"), 0);
  ck_assert_uint_eq(stub_nvalues, 6 + 2 * 4 + 6);
  ck_assert_msg(count_logged(LOG_WARNING, "<Process \"web\">",
                             "3 processes match", "MaxProcesses 2") == 1,
                "log:%s", log_text());
  ck_assert_uint_eq(count_logged(LOG_WARNING, NULL, NULL, NULL), 1);

  bump_pp(410, 1, &web, &p410);
  bump_pp(411, 2, &web, &p411);
  bump_pp(412, 3, &web, &p412);
  io_bump(520, 4, &py);
  read_once();
  assert_series("web", &web, 3);
  assert_series("py", &py, 2);
  assert_pp_series("web-410", &p410);
  assert_pp_series("web-411", &p411);
  ck_assert_uint_eq(count_instance("web-412"), 0);
  ck_assert_uint_eq(count_instance("py-520"), 0);
  ck_assert_uint_eq(stub_nvalues, 6 + 2 * 4 + 6);
  ck_assert_uint_eq(count_type(NULL, "pidio_rate"), 0);
  ck_assert_msg(count_logged(LOG_WARNING, NULL, NULL, NULL) == 1, "log:%s",
                log_text());

  /* 411 does some more I/O and exits: its series stop, 412 gets series
   * holding everything it did since it became a member. */
  bump_pp(411, 5, &web, &p411);
  bump_pp(412, 6, &web, &p412);
  remove_pid_dir(411);
  read_once();
  assert_series("web", &web, 2);
  assert_pp_series("web-410", &p410);
  assert_pp_series("web-412", &p412);
  ck_assert_uint_eq(count_instance("web-411"), 0);
  ck_assert_uint_eq(stub_nvalues, 6 + 2 * 4 + 6);
  ck_assert_msg(count_logged(LOG_INFO, "<Process \"web\">",
                             "every process has its own series again",
                             NULL) == 1,
                "log:%s", log_text());
  ck_assert_uint_eq(count_logged(LOG_WARNING, NULL, NULL, NULL), 1);

  bump_pp(410, 7, &web, &p410);
  bump_pp(412, 8, &web, &p412);
  read_once();
  assert_series("web", &web, 2);
  assert_pp_series("web-410", &p410);
  assert_pp_series("web-412", &p412);
  ck_assert_uint_eq(count_instance("web-411"), 0);
  ck_assert_uint_eq(count_logged(LOG_WARNING, NULL, NULL, NULL), 1);
  ck_assert_uint_eq(count_logged(LOG_INFO, NULL, "series again", NULL), 1);
  stub_shutdown();
}
END_TEST

/* With Window 3 a process's series carry pidio_rate gauges from its second
 * read with series on. */
START_TEST(t_per_process_window) {
  open_tree();
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(ci, "ProcRoot", root);
  oconfig_item_t *p = process_ci(ci, "web");
  opt_str(p, "Name", "nginx");
  opt_bool(p, "PerProcess", true);
  opt_num(p, "MaxProcesses", 2);
  opt_num(p, "Window", 3);
  ck_assert_int_eq(stub_config_cb(ci), 0);
  stub_ci_free(ci);
  ck_assert_int_eq(stub_init_cb(), 0);

  pidio_io_t web = {{0}}, p410 = {{0}}, p411 = {{0}}, p412 = {{0}};
  read_once();
  ck_assert_uint_eq(count_type(NULL, "pidio_rate"), 0);
  ck_assert_uint_eq(stub_nvalues, 6 + 2 * 4);

  bump_pp(410, 1, &web, &p410);
  bump_pp(411, 2, &web, &p411);
  bump_pp(412, 3, &web, &p412);
  read_once();
  assert_series("web", &web, 3);
  assert_pp_series("web-410", &p410);
  assert_pp_series("web-411", &p411);
  assert_rates("web", &web, 0, 1);
  assert_rates("web-410", &p410, 0, 1);
  assert_rates("web-411", &p411, 0, 1);
  ck_assert_uint_eq(count_instance("web-412"), 0);
  ck_assert_uint_eq(stub_nvalues,
                    (6 + PIDIO_NFIELDS) + 2 * (4 + PIDIO_NFIELDS));

  /* 411 leaves; 412 gets series, without rates at its first read. */
  remove_pid_dir(411);
  pidio_io_t inc412 = {{0}};
  bump_pp(412, 4, &web, &inc412);
  io_plus(&p412, &inc412);
  read_once();
  assert_pp_series("web-410", &p410);
  assert_pp_series("web-412", &p412);
  ck_assert_uint_eq(count_type("web-412", "pidio_rate"), 0);
  ck_assert_uint_eq(count_instance("web-411"), 0);
  assert_rates("web-410", &p410, 0, 2); /* its window still holds read 0 */
  ck_assert_uint_eq(count_type(NULL, "pidio_rate"), 2 * PIDIO_NFIELDS);

  /* Its second read: rates over what it did in between. */
  pidio_io_t inc412b = {{0}};
  bump_pp(412, 5, &web, &inc412b);
  io_plus(&p412, &inc412b);
  read_once();
  assert_pp_series("web-412", &p412);
  assert_rates("web-412", &inc412b, 2, 3);
  ck_assert_uint_eq(count_type(NULL, "pidio_rate"), 3 * PIDIO_NFIELDS);
  stub_shutdown();
}
END_TEST

/* === memory under churn =================================================== */

/* The plugin's heap stays flat after warm-up however many processes come
 * and go: it follows the processes present, not those that came and went.
 * In a pid namespace of its own with its own /proc (so that the machine's
 * other processes are not listed), the plugin reads five blocks (Name,
 * PerProcess with a Window, Children of the namespace's first process,
 * GroupBy comm, All with a Window) every second of its clock, which the
 * test moves on (unit_clock_ahead) faster than real time, while every
 * second 20 processes are born to live one read and 10 more live and end
 * between two reads. Once, early in the warm-up, 150 more live through a
 * read: the most processes present in the run, whose tables the plugin
 * keeps (its tables grow to the largest number of processes present, and
 * those that came and went in one interval, and do not shrink). After a
 * warm-up longer than anything the plugin keeps by time (a vacated pid is
 * remembered two minutes), the heap it holds (unit_heap_live: usable
 * sizes of its allocations less its frees) may move by at most
 * CHURN_HEAP_SLACK bytes over CHURN_MEASURED seconds, 6000 processes:
 * 0.7 bytes per process, where an allocation leaked for every process,
 * or for every read of a block (1000), would add at least 24 bytes each. */
#define CHURN_LIVE 20
#define CHURN_SHORT 10
#define CHURN_BURST 150
#define CHURN_BURST_AT 5
#define CHURN_WARMUP 140
#define CHURN_MEASURED 200
/* Under valgrind (every fork copies the tool): one recheck minute. */
#define CHURN_MEASURED_VALGRIND 60
#define CHURN_HEAP_SLACK 4096

static unsigned churn_measured(void) {
  return unit_under_valgrind() ? CHURN_MEASURED_VALGRIND : CHURN_MEASURED;
}

typedef struct churn_result {
  int err;                       /* 0, or the step that failed */
  long long heap_warm;           /* after the warm-up */
  long long heap_end;            /* after the measured seconds */
  long long heap_low, heap_high; /* over the measured seconds */
  unsigned long churned;         /* processes born in the measured seconds */
  unsigned members_last; /* count-processes of the Name block at the end */
} churn_result_t;

static void churn_kid(int devnull, bool linger) {
  static const char buf[1000];
  if (write(devnull, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
    _exit(1);
  if (!linger)
    _exit(0);
  for (;;)
    pause();
}

/* In the namespace's first process: the whole run. */
static void churn_run(churn_result_t *res) {
  if (unit_private_proc() != 0) {
    res->err = 1;
    return;
  }
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0) {
    res->err = 2;
    return;
  }
  char comm[16];
  snprintf(comm, sizeof(comm), "churn%d", (int)(getppid() % 100000));
  /* Its children are born with the name, never seen without it. */
  prctl(PR_SET_NAME, comm, 0, 0, 0);
  stub_reset();
  oconfig_item_t *ci = plugin_ci();
  opt_str(process_ci(ci, "name"), "Name", comm);
  oconfig_item_t *p = process_ci(ci, "pp");
  opt_str(p, "Name", comm);
  stub_ci_bool(stub_ci_child(p, "PerProcess"), true);
  opt_num(p, "MaxProcesses", 1000);
  opt_num(p, "Window", 3);
  p = process_ci(ci, "kids");
  opt_num(p, "Pid", 1);
  stub_ci_bool(stub_ci_child(p, "Children"), true);
  p = process_ci(ci, "groups");
  stub_ci_bool(stub_ci_child(p, "All"), true);
  opt_str(p, "GroupBy", "comm");
  p = process_ci(ci, "all");
  stub_ci_bool(stub_ci_child(p, "All"), true);
  opt_num(p, "Window", 5);
  int rc = stub_config_cb(ci);
  stub_ci_free(ci);
  if (rc != 0 || stub_init_cb() != 0 || stub_nreads != 5) {
    res->err = 3;
    return;
  }
  const uint64_t hz = (uint64_t)sysconf(_SC_CLK_TCK);
  pid_t live[CHURN_LIVE] = {0};
  unsigned total = CHURN_WARMUP + churn_measured();
  for (unsigned sec = 1; sec <= total; sec++) {
    pid_t born[CHURN_LIVE], burst[CHURN_BURST];
    int nburst = sec == CHURN_BURST_AT ? CHURN_BURST : 0;
    for (int i = 0; i < nburst; i++) {
      if ((burst[i] = fork()) < 0) {
        res->err = 4;
        return;
      }
      if (burst[i] == 0)
        churn_kid(devnull, true);
    }
    for (int i = 0; i < CHURN_LIVE + CHURN_SHORT; i++) {
      pid_t k = fork();
      if (k < 0) {
        res->err = 4;
        return;
      }
      if (k == 0)
        churn_kid(devnull, i < CHURN_LIVE);
      if (i < CHURN_LIVE)
        born[i] = k;
      else
        while (waitpid(k, NULL, 0) < 0 && errno == EINTR)
          ;
    }
    unit_clock_ahead += hz;
    stub_nvalues = 0;
    if (stub_read_all() != 0) {
      res->err = 5;
      return;
    }
    for (int i = 0; i < nburst; i++) {
      kill(burst[i], SIGKILL);
      while (waitpid(burst[i], NULL, 0) < 0 && errno == EINTR)
        ;
    }
    for (int i = 0; i < CHURN_LIVE; i++) {
      if (live[i] > 0) {
        kill(live[i], SIGKILL);
        while (waitpid(live[i], NULL, 0) < 0 && errno == EINTR)
          ;
      }
      live[i] = born[i];
    }
    long long h = unit_heap_live();
    if (sec == CHURN_WARMUP)
      res->heap_warm = res->heap_low = res->heap_high = h;
    if (sec > CHURN_WARMUP) {
      res->churned += CHURN_LIVE + CHURN_SHORT;
      res->heap_low = h < res->heap_low ? h : res->heap_low;
      res->heap_high = h > res->heap_high ? h : res->heap_high;
    }
  }
  res->heap_end = unit_heap_live();
  const stub_value_t *v = stub_find("name", "count", "processes");
  res->members_last = v != NULL ? (unsigned)v->values[0].gauge : 0;
  for (int i = 0; i < CHURN_LIVE; i++)
    if (live[i] > 0)
      kill(live[i], SIGKILL);
}

START_TEST(t_churn_heap_flat) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t c = fork();
  ck_assert_int_ge(c, 0);
  if (c == 0) {
    /* The next child is the first process of a new pid namespace. */
    churn_result_t res = {0};
    if (unit_new_pid_namespace() != 0) {
      res.err = 10;
    } else {
      pid_t d = fork();
      if (d == 0) {
        churn_run(&res);
        if (write(fds[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
          _exit(1);
        _exit(0);
      }
      int st;
      if (d < 0 || waitpid(d, &st, 0) != d || !WIFEXITED(st) ||
          WEXITSTATUS(st) != 0)
        res.err = 11;
      else
        _exit(0);
    }
    if (write(fds[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
      _exit(1);
    _exit(0);
  }
  close(fds[1]);
  churn_result_t res = {0};
  ssize_t n = read(fds[0], &res, sizeof(res));
  close(fds[0]);
  int st;
  ck_assert_int_eq(waitpid(c, &st, 0), c);
  ck_assert_msg(n == (ssize_t)sizeof(res), "no result from the namespace");
  ck_assert_msg(res.err == 0,
                "churn failed at step %d (1 the namespace's /proc, 2 "
                "/dev/null, 3 config, 4 fork, 5 a read, 10-11 the pid "
                "namespace)",
                res.err);
  fprintf(stderr,
          "t_churn_heap_flat: heap %lld bytes after %d s of warm-up, %lld "
          "after %lu more processes (%lld..%lld between)\n",
          res.heap_warm, CHURN_WARMUP, res.heap_end, res.churned, res.heap_low,
          res.heap_high);
  ck_assert_uint_eq(res.churned,
                    (unsigned long)churn_measured() * (CHURN_LIVE + CHURN_SHORT));
  /* the churn was seen: this second's processes, the last second's and
   * the namespace's first process, which has their name */
  ck_assert_uint_eq(res.members_last, 2 * CHURN_LIVE + 1);
  ck_assert_msg(res.heap_warm > 10000, "heap %lld: not counted", res.heap_warm);
  ck_assert_msg(res.heap_high - res.heap_warm <= CHURN_HEAP_SLACK &&
                    res.heap_warm - res.heap_low <= CHURN_HEAP_SLACK,
                "heap %lld after warm-up, then %lld..%lld: more than %d "
                "bytes apart",
                res.heap_warm, res.heap_low, res.heap_high, CHURN_HEAP_SLACK);
}
END_TEST

Suite *make_adapter_suite(void) {
  Suite *s = suite_create("adapter");

  TCase *tc = tcase_create("config");
  tcase_add_unchecked_fixture(tc, tree_case_dir_make, tree_case_dir_remove);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, t_bad_config, 0,
                      (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
  tcase_add_test(tc, t_good_config_after_bad);
  tcase_add_test(tc, t_procroot_missing);
  suite_add_tcase(s, tc);

  tc = tcase_create("read");
  tcase_add_unchecked_fixture(tc, tree_case_dir_make, tree_case_dir_remove);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, t_good_config_series);
  tcase_add_test(tc, t_window_off_by_default);
  tcase_add_test(tc, t_pidfile_missing_warns_once);
  tcase_add_test(tc, t_garbled_io_warns);
  tcase_add_test(tc, t_permission_reminders);
  tcase_add_test(tc, t_cgroup_v1_only_warns_once);
  suite_add_tcase(s, tc);
  tc = tcase_create("per-process");
  tcase_add_unchecked_fixture(tc, tree_case_dir_make, tree_case_dir_remove);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, t_per_process_max);
  tcase_add_test(tc, t_per_process_window);
  suite_add_tcase(s, tc);
  tc = tcase_create("churn");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, t_churn_heap_flat);
  suite_add_tcase(s, tc);

  return s;
}
