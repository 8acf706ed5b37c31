/*
 * pidio-stream: a live stream of the io counters of running processes.
 *
 * The same core as the collectd plugin (pidio_select, pidio_block,
 * pidio_window), without collectd: every interval it updates one block and
 * writes one record on standard output, as a table for people, as JSON
 * lines for programs, or as InfluxDB line protocol for Telegraf's
 * inputs.execd. The counters are the block's exact sums since the stream
 * started (see pidio_block.h for the accounting rules).
 */
#include "pidio_build.h"

#include "pidio_block.h"
#include "pidio_parse.h"
#include "pidio_proc.h"
#include "pidio_select.h"
#include "pidio_window.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "pidio-stream"
#define EXIT_USAGE 2
#define HEADER_EVERY 20
#define INTERVAL_MAX_MS 86400000ULL
/* A lasting problem (permissions, a bad pidfile) is reported when it
 * starts, and again at most this often. */
#define REMIND_SECONDS 3600.0

enum format { FMT_AUTO, FMT_TABLE, FMT_JSON, FMT_INFLUX };

typedef struct options {
  pidio_select_t sel;
  const char *proc_root;
  uint64_t interval_ms;
  unsigned window;
  uint64_t count; /* 0: unlimited */
  enum format format;
  const char *measurement;
  bool follow;
} options_t;

/* Rates per second: over pidio_window's last N intervals, or over the last
 * interval alone when N < 2 (which pidio_window does not take). */
typedef struct rater {
  unsigned n;
  pidio_window_t win;
  bool have_prev;
  double t_prev;
  pidio_io_t prev;
} rater_t;

/* One interval's result, as the writers see it. */
typedef struct record {
  struct timespec wall; /* CLOCK_REALTIME when the interval was read */
  unsigned matched;
  unsigned unreadable; /* members not read, and processes --exe could not
                          decide on, as the plugin counts them */
  const pidio_io_t *total;
  bool have_rates;
  double rate[PIDIO_NFIELDS];
} record_t;

/* A problem reported once when it starts, then reminded at most hourly. */
typedef struct complaint {
  bool active;
  bool told;
  double last;
} complaint_t;

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) { stop_signal = sig; }

/* --- options ------------------------------------------------------------- */

static void usage(FILE *f) {
  fputs(
      "Usage: " PROG " SELECTOR... [OPTION]...\n"
      "Stream the I/O of running processes: every interval, one record with\n"
      "the summed /proc/<pid>/io counters of the processes the selectors\n"
      "match, counted exactly from the start of the stream, and their rates\n"
      "per second.\n"
      "\n"
      "Selectors (at least one; a process must match every one given):\n"
      "  --pid N             the process with id N\n"
      "  --pidfile PATH      the process whose id PATH holds (read every\n"
      "                      interval)\n"
      "  --name COMM         processes named COMM (exactly, as in\n"
      "                      /proc/<pid>/comm: at most 15 characters)\n"
      "  --cmdline REGEX     processes whose command line, arguments joined\n"
      "                      by spaces, matches this POSIX extended regex\n"
      "  --exe PATH          processes running the program PATH (absolute)\n"
      "  --user USER         processes of USER (a name or a uid; the real\n"
      "                      uid)\n"
      "  --cgroup PATH       processes in the cgroup v2 PATH (from the root,\n"
      "                      like /system.slice/nginx.service) or below it\n"
      "  --children          also every descendant of a matching process\n"
      "\n"
      "Options:\n"
      "  --interval MS       milliseconds between records (default 1000)\n"
      "  --window N          rates over the last N intervals (default 5);\n"
      "                      0 or 1: over the last interval alone\n"
      "  --count N           stop after N records (default: never)\n"
      "  --format FORMAT     table, json or influx (default: table when\n"
      "                      standard output is a terminal, else json)\n"
      "  --measurement NAME  the measurement of the influx format (default\n"
      "                      pidio)\n"
      "  --follow            with --pid or --pidfile, keep going after the\n"
      "                      process exits (a pidfile across restarts);\n"
      "                      without it the stream writes a last record and\n"
      "                      exits with status 0\n"
      "  --proc-root DIR     read processes under DIR (default /proc)\n"
      "  --help              show this help and exit\n"
      "  --version           show the version and exit\n"
      "\n"
      "Exit status: 0 when done (--count reached, the watched process\n"
      "exited, SIGINT or SIGTERM), 1 on a run-time error, 2 on invalid\n"
      "options.\n",
      f);
}

static void die_usage(const char *opt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void die_usage(const char *opt, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (opt != NULL)
    fprintf(stderr, PROG ": --%s: ", opt);
  else
    fputs(PROG ": ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry '" PROG " --help' for more information.\n", stderr);
  exit(EXIT_USAGE);
}

/* A decimal number of digits only, without overflow, up to max. */
static bool parse_count(const char *s, uint64_t max, uint64_t *out) {
  size_t len = strlen(s);
  uint64_t v = 0;
  if (len == 0 || strspn(s, "0123456789") != len ||
      pidio_parse_u64(s, len, &v) != 0 || v > max)
    return false;
  *out = v;
  return true;
}

/* The plugin needs an absolute PidFile because collectd's directory is not
 * the user's; here the current directory is the user's, so a relative path
 * is taken from it. The setter validates the result. */
static void set_pidfile(pidio_select_t *sel, const char *path) {
  char err[512];
  char *abs = NULL;
  if (path[0] != '/' && path[0] != '\0') {
    char *cwd = getcwd(NULL, 0);
    if (cwd != NULL) {
      size_t n = strlen(cwd) + strlen(path) + 2;
      abs = malloc(n);
      if (abs != NULL)
        snprintf(abs, n, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, path);
      free(cwd);
    }
  }
  int rc =
      pidio_select_set_pidfile(sel, abs != NULL ? abs : path, err, sizeof(err));
  free(abs);
  if (rc != 0)
    die_usage("pidfile", "%s", err);
}

static void parse_options(int argc, char **argv, options_t *o) {
  enum {
    O_PID = 256,
    O_PIDFILE,
    O_NAME,
    O_CMDLINE,
    O_EXE,
    O_USER,
    O_CGROUP,
    O_CHILDREN,
    O_PROC_ROOT,
    O_INTERVAL,
    O_WINDOW,
    O_COUNT,
    O_FORMAT,
    O_MEASUREMENT,
    O_FOLLOW,
    O_VERSION,
  };
  static const struct option longopts[] = {
      {"pid", required_argument, NULL, O_PID},
      {"pidfile", required_argument, NULL, O_PIDFILE},
      {"name", required_argument, NULL, O_NAME},
      {"cmdline", required_argument, NULL, O_CMDLINE},
      {"exe", required_argument, NULL, O_EXE},
      {"user", required_argument, NULL, O_USER},
      {"cgroup", required_argument, NULL, O_CGROUP},
      {"children", no_argument, NULL, O_CHILDREN},
      {"proc-root", required_argument, NULL, O_PROC_ROOT},
      {"interval", required_argument, NULL, O_INTERVAL},
      {"window", required_argument, NULL, O_WINDOW},
      {"count", required_argument, NULL, O_COUNT},
      {"format", required_argument, NULL, O_FORMAT},
      {"measurement", required_argument, NULL, O_MEASUREMENT},
      {"follow", no_argument, NULL, O_FOLLOW},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, O_VERSION},
      {NULL, 0, NULL, 0},
  };

  *o = (options_t){.proc_root = "/proc",
                   .interval_ms = 1000,
                   .window = 5,
                   .format = FMT_AUTO,
                   .measurement = "pidio"};
  pidio_select_init(&o->sel);

  int c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    char err[512];
    uint64_t v = 0;
    switch (c) {
    case O_PID:
      /* Digits only: the setter then checks the range. Anything else
       * ("0x10", "-3", "1e3") gets the setter's message too. */
      if (pidio_select_set_pid(
              &o->sel,
              parse_count(optarg, UINT32_MAX, &v) ? (double)v : (double)NAN,
              err, sizeof(err)) != 0)
        die_usage("pid", "\"%s\": %s", optarg, err);
      break;
    case O_PIDFILE:
      set_pidfile(&o->sel, optarg);
      break;
    case O_NAME:
      if (pidio_select_set_name(&o->sel, optarg, err, sizeof(err)) != 0)
        die_usage("name", "%s", err);
      break;
    case O_CMDLINE:
      if (pidio_select_set_cmdline(&o->sel, optarg, err, sizeof(err)) != 0)
        die_usage("cmdline", "%s", err);
      break;
    case O_EXE:
      if (pidio_select_set_exe(&o->sel, optarg, err, sizeof(err)) != 0)
        die_usage("exe", "%s", err);
      break;
    case O_USER:
      if (pidio_select_set_user(&o->sel, optarg, err, sizeof(err)) != 0)
        die_usage("user", "%s", err);
      break;
    case O_CGROUP:
      if (pidio_select_set_cgroup(&o->sel, optarg, err, sizeof(err)) != 0)
        die_usage("cgroup", "%s", err);
      break;
    case O_CHILDREN:
      pidio_select_set_children(&o->sel, true);
      break;
    case O_PROC_ROOT:
      if (optarg[0] == '\0')
        die_usage("proc-root", "needs a directory");
      o->proc_root = optarg;
      break;
    case O_INTERVAL:
      if (!parse_count(optarg, INTERVAL_MAX_MS, &o->interval_ms) ||
          o->interval_ms == 0)
        die_usage("interval",
                  "\"%s\": needs a whole number of milliseconds from 1 to "
                  "%llu",
                  optarg, INTERVAL_MAX_MS);
      break;
    case O_WINDOW:
      if (!parse_count(optarg, PIDIO_WINDOW_MAX, &v))
        die_usage("window",
                  "\"%s\": needs a whole number of intervals from 0 to %d",
                  optarg, PIDIO_WINDOW_MAX);
      o->window = (unsigned)v;
      break;
    case O_COUNT:
      if (!parse_count(optarg, UINT64_MAX, &o->count) || o->count == 0)
        die_usage("count",
                  "\"%s\": needs a whole number of records, at "
                  "least 1",
                  optarg);
      break;
    case O_FORMAT:
      if (strcmp(optarg, "table") == 0)
        o->format = FMT_TABLE;
      else if (strcmp(optarg, "json") == 0)
        o->format = FMT_JSON;
      else if (strcmp(optarg, "influx") == 0)
        o->format = FMT_INFLUX;
      else
        die_usage("format", "\"%s\" is not one of table, json, influx", optarg);
      break;
    case O_MEASUREMENT:
      if (optarg[0] == '\0')
        die_usage("measurement", "needs a name");
      if (optarg[0] == '#')
        die_usage("measurement",
                  "\"%s\": a line starting with '#' is a comment in line "
                  "protocol",
                  optarg);
      o->measurement = optarg;
      break;
    case O_FOLLOW:
      o->follow = true;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    case O_VERSION:
      printf(PROG " (" PACKAGE_NAME ") " PACKAGE_VERSION "\n");
      exit(0);
    default:
      /* getopt has named the option. */
      fputs("Try '" PROG " --help' for more information.\n", stderr);
      exit(EXIT_USAGE);
    }
  }
  if (optind < argc)
    die_usage(NULL, "unexpected argument \"%s\"", argv[optind]);
  char err[512];
  if (pidio_select_check(&o->sel, err, sizeof(err)) != 0)
    die_usage(NULL, "no selector: give at least one of --pid, --pidfile, "
                    "--name, --cmdline, --exe, --user, --cgroup");
}

/* "pid=1 pidfile=/run/x.pid name=nginx cmdline=REGEX exe=PATH user=USER
 * cgroup=PATH children": the selectors given, for messages and the influx
 * tag. */
static char *describe(const pidio_select_t *s) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  const char *sep = "";
  if (s->pid != 0) {
    fprintf(f, "pid=%d", (int)s->pid);
    sep = " ";
  }
  if (s->pidfile != NULL) {
    fprintf(f, "%spidfile=%s", sep, s->pidfile);
    sep = " ";
  }
  if (s->name != NULL) {
    fprintf(f, "%sname=%s", sep, s->name);
    sep = " ";
  }
  if (s->cmdline != NULL) {
    fprintf(f, "%scmdline=%s", sep, s->cmdline);
    sep = " ";
  }
  if (s->exe != NULL) {
    fprintf(f, "%sexe=%s", sep, s->exe);
    sep = " ";
  }
  if (s->user != NULL) {
    fprintf(f, "%suser=%s", sep, s->user);
    sep = " ";
  }
  if (s->cgroup != NULL) {
    fprintf(f, "%scgroup=%s", sep, s->cgroup);
    sep = " ";
  }
  if (s->children)
    fprintf(f, "%schildren", sep);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* --- writers ------------------------------------------------------------- */

/* Write s escaped for Telegraf's line protocol parser, as its own
 * serializer does: commas and spaces (and in a tag value, equals signs) get
 * a backslash; tabs, newlines, form feeds and carriage returns become \t,
 * \n, \f, \r. Backslashes need care where they meet an escape:
 *  - a measurement reads a backslash and the character after it as a pair,
 *    so a run of backslashes before an escaped character, or at the end,
 *    is doubled;
 *  - a tag value takes "\\" as a literal backslash that still escapes what
 *    follows, so one at the end would escape the space after the tag set:
 *    it is followed by an escaped space instead. */
static void put_escaped(FILE *f, const char *s, bool tag) {
  for (const char *p = s; *p != '\0'; p++) {
    if (*p == '\\' && !tag) {
      size_t run = strspn(p, "\\");
      char after = p[run];
      bool twice = after == '\0' || strchr(",\t\n\f\r ", after) != NULL;
      for (size_t i = 0; i < (twice ? 2 * run : run); i++)
        fputc('\\', f);
      p += run - 1;
      continue;
    }
    switch (*p) {
    case '\t':
      fputs("\\t", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\f':
      fputs("\\f", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case ',':
    case ' ':
      fputc('\\', f);
      fputc(*p, f);
      break;
    case '=':
      if (tag)
        fputc('\\', f);
      fputc('=', f);
      break;
    default:
      fputc(*p, f);
    }
  }
  size_t n = strlen(s);
  if (tag && n > 0 && s[n - 1] == '\\')
    fputs("\\ ", f);
}

static void put_json(FILE *f, const record_t *r) {
  fprintf(f,
          "{\"time\": %lld.%06ld, \"processes\": %u, \"unreadable\": %u, "
          "\"counters\": {",
          (long long)r->wall.tv_sec, r->wall.tv_nsec / 1000L, r->matched,
          r->unreadable);
  for (int i = 0; i < PIDIO_NFIELDS; i++)
    fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", pidio_field_names[i],
            r->total->v[i]);
  fputs("}, \"rates\": ", f);
  if (!r->have_rates) {
    fputs("null}\n", f);
    return;
  }
  fputc('{', f);
  for (int i = 0; i < PIDIO_NFIELDS; i++) {
    fprintf(f, "%s\"%s\": ", i ? ", " : "", pidio_field_names[i]);
    if (isfinite(r->rate[i]))
      fprintf(f, "%.3f", r->rate[i]);
    else
      fputs("null", f);
  }
  fputs("}}\n", f);
}

static void put_influx(FILE *f, const record_t *r, const char *measurement,
                       const char *selector) {
  put_escaped(f, measurement, false);
  fputs(",selector=", f);
  put_escaped(f, selector, true);
  fprintf(f, " processes=%ui,unreadable=%ui", r->matched, r->unreadable);
  for (int i = 0; i < PIDIO_NFIELDS; i++)
    fprintf(f, ",%s=%" PRIu64 "i", pidio_field_names[i], r->total->v[i]);
  if (r->have_rates)
    for (int i = 0; i < PIDIO_NFIELDS; i++)
      if (isfinite(r->rate[i]))
        fprintf(f, ",%s_rate=%.3f", pidio_field_names[i], r->rate[i]);
  fprintf(f, " %lld%09ld\n", (long long)r->wall.tv_sec, r->wall.tv_nsec);
}

static void put_table(FILE *f, const record_t *r, uint64_t index) {
  if (index % HEADER_EVERY == 0)
    fprintf(f,
            "%s%-8s %5s %9s %9s %9s %11s %11s %9s %9s %12s %12s %12s %12s "
            "%10s %10s\n",
            index ? "\n" : "", "Time", "Procs", "kB_rd/s", "kB_wr/s",
            "kB_ccwr/s", "rchar/s", "wchar/s", "syscr/s", "syscw/s",
            "read_bytes", "write_bytes", "rchar", "wchar", "syscr", "syscw");
  struct tm tm;
  char hms[16] = "?";
  time_t sec = r->wall.tv_sec;
  if (localtime_r(&sec, &tm) != NULL)
    strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
  fprintf(f, "%-8s %5u", hms, r->matched);
  if (r->have_rates)
    fprintf(f, " %9.2f %9.2f %9.2f %11.1f %11.1f %9.1f %9.1f",
            r->rate[PIDIO_READ_BYTES] / 1024.0,
            r->rate[PIDIO_WRITE_BYTES] / 1024.0,
            r->rate[PIDIO_CANCELLED_WRITE_BYTES] / 1024.0, r->rate[PIDIO_RCHAR],
            r->rate[PIDIO_WCHAR], r->rate[PIDIO_SYSCR], r->rate[PIDIO_SYSCW]);
  else
    fprintf(f, " %9s %9s %9s %11s %11s %9s %9s", "-", "-", "-", "-", "-", "-",
            "-");
  const uint64_t *v = r->total->v;
  fprintf(f,
          " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64
          " %10" PRIu64 "\n",
          v[PIDIO_READ_BYTES], v[PIDIO_WRITE_BYTES], v[PIDIO_RCHAR],
          v[PIDIO_WCHAR], v[PIDIO_SYSCR], v[PIDIO_SYSCW]);
}

/* --- rates --------------------------------------------------------------- */

static int rater_init(rater_t *r, unsigned n) {
  *r = (rater_t){.n = n};
  return n >= 2 ? pidio_window_init(&r->win, n) : 0;
}

static void rater_free(rater_t *r) {
  if (r->n >= 2)
    pidio_window_free(&r->win);
}

static bool rater_push(rater_t *r, double t, const pidio_io_t *c,
                       double rate[PIDIO_NFIELDS]) {
  if (r->n >= 2) {
    pidio_window_push(&r->win, t, c);
    return pidio_window_rates(&r->win, rate) == 0;
  }
  bool ok = r->have_prev && t > r->t_prev;
  if (ok)
    for (int i = 0; i < PIDIO_NFIELDS; i++)
      rate[i] = (double)(c->v[i] - r->prev.v[i]) / (t - r->t_prev);
  if (!r->have_prev || t > r->t_prev) {
    r->prev = *c;
    r->t_prev = t;
    r->have_prev = true;
  }
  return ok;
}

/* --- messages ------------------------------------------------------------ */

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(PROG ": warning: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* True when a problem present now is to be reported now. */
static bool complain(complaint_t *c, bool present, double now) {
  if (!present) {
    c->active = false;
    return false;
  }
  if (c->active)
    return false;
  c->active = true;
  if (c->told && now - c->last < REMIND_SECONDS)
    return false;
  c->told = true;
  c->last = now;
  return true;
}

typedef struct trouble {
  complaint_t denied, pidfile, garbled, list;
  bool told_nomatch, told_cmdline_cut;
} trouble_t;

#define REMEDY                                                                 \
  "Give " PROG " the capabilities CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE "     \
  "(setcap cap_dac_read_search,cap_sys_ptrace+ep), or run it as the user of "  \
  "those processes."

static void report_trouble(trouble_t *t, const pidio_block_t *b,
                           const pidio_proc_t *proc, const pidio_report_t *r,
                           const char *selector, double now) {
  if (complain(&t->denied, r->unreadable > 0 || r->undecided > 0, now)) {
    if (r->unreadable > 0)
      warn("permission denied reading %s/%d/io: %u of %u matched "
           "process(es) are left out of the figures. " REMEDY,
           proc->root, (int)r->denied_pid, r->unreadable, r->matched);
    else
      warn("permission denied reading %s/%d/exe, so --exe cannot tell "
           "whether %u process(es) are selected. " REMEDY,
           proc->root, (int)r->undecided_pid, r->undecided);
  }
  if (complain(&t->pidfile, r->pidfile_err != 0, now))
    warn("--pidfile \"%s\" %s; no process matches until it holds a valid "
         "pid",
         b->sel.pidfile, pidio_pidfile_strerror(r->pidfile_err));
  if (complain(&t->garbled, r->garbled > 0, now))
    warn("%s/%d/io does not parse as the kernel's io file; %u process(es) "
         "skipped",
         proc->root, (int)r->garbled_pid, r->garbled);
  if (r->cmdline_cut_pid != 0 && !t->told_cmdline_cut) {
    warn("--cmdline: %s/%d/cmdline is longer than %d bytes; only its first "
         "%d bytes are matched (such processes may be missed)",
         proc->root, (int)r->cmdline_cut_pid, PIDIO_CMDLINE_MAX,
         PIDIO_CMDLINE_MAX);
    t->told_cmdline_cut = true;
  }
  if (!t->told_nomatch && r->matched == 0 && r->pidfile_err == 0)
    warn("no process matches %s (yet)", selector);
  t->told_nomatch = true;
}

/* --- the loop ------------------------------------------------------------ */

static int64_t ns_of(const struct timespec *ts) {
  return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static struct timespec wall_plus(struct timespec t, double seconds) {
  if (!(seconds > 0) || seconds > 3600)
    return t; /* not a lag this loop can have: keep the wall time */
  int64_t ns = t.tv_nsec + (int64_t)(seconds * 1e9);
  t.tv_sec += (time_t)(ns / 1000000000);
  t.tv_nsec = (long)(ns % 1000000000);
  return t;
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ns_of(&ts);
}

/* Sleep until the monotonic time next (ns), or until SIGINT/SIGTERM.
 * The signals are blocked but while waiting, so none is missed between
 * the check and the wait. */
static void sleep_until(int64_t next, const sigset_t *stopset) {
  sigset_t old;
  sigprocmask(SIG_BLOCK, stopset, &old);
  while (!stop_signal) {
    int64_t left = next - mono_ns();
    if (left <= 0)
      break;
    struct timespec ts = {.tv_sec = (time_t)(left / 1000000000),
                          .tv_nsec = (long)(left % 1000000000)};
    ppoll(NULL, 0, &ts, &old);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
}

static options_t opts;
static pidio_proc_t proc = {.root_fd = -1};
static pidio_block_t blk;
static rater_t rater;
static char *selector;

static void cleanup(void) {
  pidio_block_free(&blk);
  pidio_select_free(&opts.sel);
  pidio_proc_close(&proc);
  rater_free(&rater);
  free(selector);
  selector = NULL;
}

int main(int argc, char **argv) {
  parse_options(argc, argv, &opts);
  if (opts.format == FMT_AUTO)
    opts.format = isatty(STDOUT_FILENO) ? FMT_TABLE : FMT_JSON;

  selector = describe(&opts.sel);
  if (selector == NULL) {
    fputs(PROG ": out of memory\n", stderr);
    cleanup();
    return 1;
  }
  int rc = pidio_proc_open(&proc, opts.proc_root);
  if (rc != 0) {
    fprintf(stderr, PROG ": --proc-root \"%s\": %s\n", opts.proc_root,
            strerror(-rc));
    cleanup();
    return EXIT_USAGE;
  }
  if (rater_init(&rater, opts.window) != 0) {
    fputs(PROG ": out of memory\n", stderr);
    cleanup();
    return 1;
  }
  bool by_pid = pidio_select_by_pid(&opts.sel);
  pidio_block_init(&blk, &proc, &opts.sel);

  sigset_t stopset;
  sigemptyset(&stopset);
  sigaddset(&stopset, SIGINT);
  sigaddset(&stopset, SIGTERM);
  /* SA_RESTART: a signal never cuts a record short; ppoll() returns
   * early whatever the flag says. */
  struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  /* Whole lines, each one flushed as soon as it is written. */
  setvbuf(stdout, NULL, _IOLBF, 0);

  const int64_t step = (int64_t)opts.interval_ms * 1000000;
  const int64_t start = mono_ns();
  int64_t next = start;
  uint64_t written = 0;
  bool seen = false;
  int status = 0;
  trouble_t trouble = {0};

  while (!stop_signal) {
    struct timespec wall, mono;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    double now = (double)mono.tv_sec + (double)mono.tv_nsec / 1e9;
    pidio_report_t rep;
    rc = pidio_block_update(&blk, &rep);
    if (complain(&trouble.list, rc != 0, now))
      warn("cannot read --proc-root \"%s\": %s; no record until it can",
           proc.root, strerror(-rc));
    if (rc == 0) {
      report_trouble(&trouble, &blk, &proc, &rep, selector, now);
      /* The record's time is when its counters were read, the time its
       * rates are computed against, not when the update began. */
      record_t r = {.wall = wall_plus(wall, rep.read_at - now),
                    .matched = rep.matched,
                    .unreadable = rep.unreadable + rep.undecided,
                    .total = &blk.total};
      r.have_rates = rater_push(&rater, rep.read_at, &blk.total, r.rate);
      switch (opts.format) {
      case FMT_TABLE:
        put_table(stdout, &r, written);
        break;
      case FMT_INFLUX:
        put_influx(stdout, &r, opts.measurement, selector);
        break;
      default:
        put_json(stdout, &r);
      }
      if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": writing the output: %s\n", strerror(errno));
        status = 1;
        break;
      }
      written++;
      if (opts.count != 0 && written >= opts.count)
        break;
      if (rep.matched > 0)
        seen = true;
      else if (seen && by_pid && !opts.follow)
        break; /* the watched process is gone: that was its last record */
    }

    /* An absolute schedule: a late interval does not shift the next ones;
     * intervals missed altogether are skipped. */
    next += step;
    int64_t t = mono_ns();
    if (next <= t)
      next += ((t - next) / step + 1) * step;
    sleep_until(next, &stopset);
  }
  cleanup();
  return status;
}
