/*
 * pidio-stream: a live stream of the io counters of running processes.
 *
 * The same core as the collectd plugin (pidio_options, pidio_block,
 * pidio_trouble, pidio_tell, pidio_perproc, pidio_window), without collectd:
 * every interval it updates one block and writes one record on standard
 * output, as a table for people, as JSON lines for programs, or as InfluxDB
 * line protocol for Telegraf's inputs.execd. The counters are the block's exact sums since the
 * stream started (see pidio_block.h for the accounting rules).
 */
#include "pidio_build.h"

#include "pidio_block.h"
#include "pidio_group.h"
#include "pidio_groups.h"
#include "pidio_options.h"
#include "pidio_parse.h"
#include "pidio_perproc.h"
#include "pidio_proc.h"
#include "pidio_reader.h"
#include "pidio_select.h"
#include "pidio_tell.h"
#include "pidio_trouble.h"
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
#include <sys/ioctl.h>
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
  pidio_opts_t o;              /* the block options of pidio_options' table */
  char *given[PIDIO_OPTS_MAX]; /* each table option's argument as taken (a flag:
                                  "") */
  const char *proc_root;
  uint64_t interval_ms;
  unsigned window;
  uint64_t count; /* 0: unlimited */
  enum format format;
  const char *measurement;
  bool follow;
} options_t;

/* One interval's result, as the writers see it: the block's, or with
 * --per-process one process's (pid not 0). */
typedef struct record {
  struct timespec wall; /* CLOCK_REALTIME when the interval was read */
  unsigned matched;
  unsigned unreadable; /* pidio_trouble's count, as the plugin's */
  pid_t pid;           /* a process's record: its pid and comm */
  const char *comm;
  const char *group; /* a group's record (--group-by): its name */
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

/* --group-by: records per group as well (the table gets a Group column). */
static bool group_mode;

static void on_stop_signal(int sig) { stop_signal = sig; }

/* --- options ------------------------------------------------------------- */

/* "  --name COMM        text", the text wrapped at 78 columns. */
static void usage_line(FILE *f, const char *opt, const char *metavar,
                       const char *text) {
  char head[64];
  snprintf(head, sizeof(head), "--%s%s%s", opt, metavar ? " " : "",
           metavar ? metavar : "");
  fprintf(f, "  %-20s", head);
  if (strlen(head) > 19)
    fputs("\n                      ", f);
  size_t col = 22;
  const char *p = text;
  while (*p != '\0') {
    size_t w = strcspn(p, " ");
    if (col > 22 && col + 1 + w > 78) {
      fputs("\n                      ", f);
      col = 22;
    } else if (col > 22) {
      fputc(' ', f);
      col++;
    }
    fwrite(p, 1, w, f);
    col += w;
    p += w;
    p += strspn(p, " ");
  }
  fputc('\n', f);
}

static void usage(FILE *f) {
  fputs("Usage: " PROG " SELECTOR... [OPTION]...\n"
        "Stream the I/O of running processes: every interval, one record "
        "with\n"
        "the summed /proc/<pid>/io counters of the processes the selectors\n"
        "match, counted exactly from the start of the stream, and their "
        "rates\n"
        "per second.\n"
        "\n"
        "Selectors (at least one; a process must match every one given) and\n"
        "what to report of them:\n",
        f);
  for (size_t i = 0; i < pidio_opts_count; i++) {
    const pidio_opt_t *o = &pidio_opts_table[i];
    usage_line(f, o->longopt, o->metavar, o->help);
  }
  fputs("\nOptions:\n", f);
  usage_line(f, "interval", "MS",
             "milliseconds between records (default "
             "1000)");
  usage_line(f, "window", "N",
             "rates over the last N intervals (default 5); 0 or 1: over the "
             "last interval alone");
  usage_line(f, "count", "N", "stop after N records (default: never)");
  usage_line(f, "format", "FORMAT",
             "table, json or influx (default: table when standard output "
             "is a terminal, else json)");
  usage_line(f, "measurement", "NAME",
             "the measurement of the influx format (default pidio)");
  usage_line(f, "follow", NULL,
             "with --pid or --pidfile, keep going after the process exits "
             "(a pidfile across restarts); without it the stream writes a "
             "last record and exits with status 0");
  usage_line(f, "proc-root", "DIR",
             "read processes under DIR (default "
             "/proc)");
  usage_line(f, "help", NULL, "show this help and exit");
  usage_line(f, "version", NULL, "show the version and exit");
  fputs("\n"
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
 * the user's; here the current directory is the user's, so a relative file
 * name is taken from it. The setter validates the result. Returns what to
 * free. */
static char *absolute(const char *path) {
  if (path[0] == '/' || path[0] == '\0')
    return NULL;
  char *cwd = getcwd(NULL, 0);
  if (cwd == NULL)
    return NULL;
  size_t n = strlen(cwd) + strlen(path) + 2;
  char *abs = malloc(n);
  if (abs != NULL)
    snprintf(abs, n, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, path);
  free(cwd);
  return abs;
}

/* A table option from the command line: argv's text as the argument the
 * table takes, then the table's own checks and setter. */
static void apply_table_option(options_t *opts, const pidio_opt_t *opt,
                               const char *arg) {
  pidio_opts_t *o = &opts->o;
  pidio_optarg_t a = {.kind = opt->arg, .s = arg, .on = true};
  char *abs = NULL;
  char err[512];
  uint64_t v = 0;
  if (opt->arg == PIDIO_ARG_NUMBER)
    /* Digits only: the table or the setter then checks the range.
     * Anything else ("0x10", "-3", "1e3") gets their message too. */
    a.num = parse_count(arg, UINT64_MAX, &v) ? (double)v : (double)NAN;
  else if (opt->arg == PIDIO_ARG_FILE && (abs = absolute(arg)) != NULL)
    a.s = abs;
  int rc = pidio_opts_apply(o, opt, &a, err, sizeof(err));
  if (rc == 0) {
    char **g = &opts->given[opt - pidio_opts_table];
    free(*g);
    *g = strdup(opt->arg == PIDIO_ARG_FLAG ? "" : a.s);
    free(abs);
    if (*g == NULL) {
      fputs(PROG ": out of memory\n", stderr);
      exit(1);
    }
    return;
  }
  free(abs);
  if (opt->arg == PIDIO_ARG_NUMBER)
    die_usage(opt->longopt, "\"%s\": %s", arg, err);
  die_usage(opt->longopt, "%s", err);
}

static void parse_options(int argc, char **argv, options_t *o) {
  enum {
    O_PROC_ROOT = 256,
    O_INTERVAL,
    O_WINDOW,
    O_COUNT,
    O_FORMAT,
    O_MEASUREMENT,
    O_FOLLOW,
    O_VERSION,
    O_TABLE, /* O_TABLE + i: entry i of pidio_opts_table */
  };
  static const struct option own[] = {
      {"proc-root", required_argument, NULL, O_PROC_ROOT},
      {"interval", required_argument, NULL, O_INTERVAL},
      {"window", required_argument, NULL, O_WINDOW},
      {"count", required_argument, NULL, O_COUNT},
      {"format", required_argument, NULL, O_FORMAT},
      {"measurement", required_argument, NULL, O_MEASUREMENT},
      {"follow", no_argument, NULL, O_FOLLOW},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, O_VERSION},
  };
  const size_t nown = sizeof(own) / sizeof(own[0]);
  struct option *longopts =
      calloc(pidio_opts_count + nown + 1, sizeof(*longopts));
  if (longopts == NULL) {
    fputs(PROG ": out of memory\n", stderr);
    exit(1);
  }
  for (size_t i = 0; i < pidio_opts_count; i++) {
    const pidio_opt_t *t = &pidio_opts_table[i];
    longopts[i] = (struct option){
        t->longopt, t->arg == PIDIO_ARG_FLAG ? no_argument : required_argument,
        NULL, O_TABLE + (int)i};
  }
  memcpy(longopts + pidio_opts_count, own, sizeof(own));

  *o = (options_t){.proc_root = "/proc",
                   .interval_ms = 1000,
                   .window = 5,
                   .format = FMT_AUTO,
                   .measurement = "pidio"};
  pidio_opts_init(&o->o);

  int c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    uint64_t v = 0;
    if (c >= O_TABLE && (size_t)(c - O_TABLE) < pidio_opts_count) {
      apply_table_option(o, &pidio_opts_table[c - O_TABLE], optarg);
      continue;
    }
    switch (c) {
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
      free(longopts); /* LeakSanitizer checks --help in the ASan build */
      exit(0);
    case O_VERSION:
      printf(PROG " (" PACKAGE_NAME ") " PACKAGE_VERSION "\n");
      free(longopts);
      exit(0);
    default:
      /* getopt has named the option. */
      fputs("Try '" PROG " --help' for more information.\n", stderr);
      exit(EXIT_USAGE);
    }
  }
  free(longopts);
  if (optind < argc)
    die_usage(NULL, "unexpected argument \"%s\"", argv[optind]);
  char err[512];
  if (pidio_opts_check(&o->o, true, err, sizeof(err)) != 0)
    die_usage(NULL, "%s", err);
}

/* "pid=1 pidfile=/run/x.pid name=nginx ... children": the options of the
 * table that say which processes are taken, as given (a relative pidfile
 * made absolute), in the table's order, for messages and the influx tag. */
static char *describe(char *const given[]) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  const char *sep = "";
  for (size_t i = 0; i < pidio_opts_count; i++) {
    const pidio_opt_t *o = &pidio_opts_table[i];
    if (!o->selection || given[i] == NULL)
      continue;
    if (o->arg == PIDIO_ARG_FLAG)
      fprintf(f, "%s%s", sep, o->longopt);
    else
      fprintf(f, "%s%s=%s", sep, o->longopt, given[i]);
    sep = " ";
  }
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* --- writers ------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0 when the
 * byte at p starts none: a comm is any 15 bytes, not always UTF-8, and
 * JSON and the line protocol must be. A NUL ends every sequence early. */
static size_t utf8_valid(const unsigned char *p) {
  unsigned char c = p[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0)
      lo = 0xa0; /* no overlong forms */
    else if (c == 0xed)
      hi = 0x9f; /* no surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f; /* nothing past U+10FFFF */
  } else {
    return 0;
  }
  if (p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xbf)
      return 0;
  return n;
}

/* Write s escaped for Telegraf's line protocol parser, as its own
 * serializer does: commas and spaces (and in a tag value, equals signs) get
 * a backslash; tabs, newlines, form feeds and carriage returns become \t,
 * \n, \f, \r. Backslashes need care where they meet an escape:
 *  - a measurement reads a backslash and the character after it as a pair,
 *    so a run of backslashes before an escaped character, or at the end,
 *    is doubled;
 *  - a tag value takes "\\" as a literal backslash that still escapes what
 *    follows, so one at the end would escape the space after the tag set:
 *    it is followed by an escaped space instead.
 * A byte that is no part of valid UTF-8 is written as the character of the
 * same number (U+0080 to U+00FF), in UTF-8, as the JSON format does. */
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
      if ((unsigned char)*p >= 0x80) {
        size_t n = utf8_valid((const unsigned char *)p);
        if (n == 0) {
          unsigned char c = (unsigned char)*p;
          fputc(0xc0 | (c >> 6), f);
          fputc(0x80 | (c & 0x3f), f);
        } else {
          fwrite(p, 1, n, f);
          p += n - 1;
        }
        break;
      }
      fputc(*p, f);
    }
  }
  size_t n = strlen(s);
  if (tag && n > 0 && s[n - 1] == '\\')
    fputs("\\ ", f);
}

/* s as a JSON string: a comm may hold quotes, backslashes, control
 * characters and bytes that are not UTF-8; such a byte is written as
 * \u00XX, the character of the same number. */
static void put_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    size_t n;
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(f, "\\u%04x", *p);
    else if (*p < 0x80)
      fputc(*p, f);
    else if ((n = utf8_valid(p)) == 0)
      fprintf(f, "\\u%04x", *p);
    else {
      fwrite(p, 1, n, f);
      p += n - 1;
    }
  }
  fputc('"', f);
}

static void put_json(FILE *f, const record_t *r) {
  fprintf(f, "{\"time\": %lld.%06ld, ", (long long)r->wall.tv_sec,
          r->wall.tv_nsec / 1000L);
  if (r->pid != 0) {
    fprintf(f, "\"pid\": %d, \"comm\": ", (int)r->pid);
    put_json_string(f, r->comm);
  } else if (r->group != NULL) {
    fputs("\"group\": ", f);
    put_json_string(f, r->group);
    fprintf(f, ", \"processes\": %u, \"unreadable\": %u", r->matched,
            r->unreadable);
  } else {
    fprintf(f, "\"processes\": %u, \"unreadable\": %u", r->matched,
            r->unreadable);
  }
  fputs(", \"counters\": {", f);
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
  if (r->pid != 0) {
    fprintf(f, ",pid=%d,comm=", (int)r->pid);
    put_escaped(f, r->comm[0] != '\0' ? r->comm : "?", true);
    fputc(' ', f);
  } else if (r->group != NULL) {
    /* The name is a tag, to group by, and a field, to read in a row. */
    fputs(",group=", f);
    put_escaped(f, r->group, true);
    fputs(" group=", f);
    put_json_string(f, r->group); /* a string field: quotes, \\ and \" */
    fprintf(f, ",processes=%ui,unreadable=%ui,", r->matched, r->unreadable);
  } else {
    fprintf(f, " processes=%ui,unreadable=%ui,", r->matched, r->unreadable);
  }
  for (int i = 0; i < PIDIO_NFIELDS; i++)
    fprintf(f, "%s%s=%" PRIu64 "i", i ? "," : "", pidio_field_names[i],
            r->total->v[i]);
  if (r->have_rates)
    for (int i = 0; i < PIDIO_NFIELDS; i++)
      if (isfinite(r->rate[i]))
        fprintf(f, ",%s_rate=%.3f", pidio_field_names[i], r->rate[i]);
  fprintf(f, " %lld%09ld\n", (long long)r->wall.tv_sec, r->wall.tv_nsec);
}

/* A row; rows counts the rows written, for the header every 20. With
 * --per-process the second column is the pid ("all" on the block's row)
 * and the last one the comm (the number of processes on the block's). */
static void put_table(FILE *f, const record_t *r, uint64_t *rows,
                      bool per_process) {
  per_process = per_process || group_mode;
  if (*rows % HEADER_EVERY == 0)
    fprintf(f,
            "%s%-8s %5s %9s %9s %9s %11s %11s %9s %9s %12s %12s %12s %12s "
            "%10s %10s%s\n",
            *rows ? "\n" : "", "Time",
            per_process && !group_mode ? "PID" : "Procs", "kB_rd/s",
            "kB_wr/s", "kB_ccwr/s", "rchar/s", "wchar/s", "syscr/s", "syscw/s",
            "read_bytes", "write_bytes", "rchar", "wchar", "syscr", "syscw",
            !per_process       ? ""
            : group_mode ? " Group"
                              : " Command");
  (*rows)++;
  struct tm tm;
  char hms[16] = "?";
  time_t sec = r->wall.tv_sec;
  if (localtime_r(&sec, &tm) != NULL)
    strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
  if (!per_process || r->group != NULL)
    fprintf(f, "%-8s %5u", hms, r->matched);
  else if (r->pid != 0)
    fprintf(f, "%-8s %5d", hms, (int)r->pid);
  else
    fprintf(f, "%-8s %5s", hms, "all");
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
          " %10" PRIu64,
          v[PIDIO_READ_BYTES], v[PIDIO_WRITE_BYTES], v[PIDIO_RCHAR],
          v[PIDIO_WCHAR], v[PIDIO_SYSCR], v[PIDIO_SYSCW]);
  if (per_process && r->pid != 0)
    fprintf(f, " %s", r->comm);
  else if (r->group != NULL)
    fprintf(f, " %s", r->group);
  else if (per_process)
    fprintf(f, " (%u processes)", r->matched);
  fputc('\n', f);
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
  complaint_t slot[PIDIO_TROUBLE_NKINDS]; /* by pidio_trouble slot */
  bool told[PIDIO_TROUBLE_NKINDS];        /* kinds said once */
  complaint_t cap;                        /* --max-processes */
  bool told_nomatch;
} trouble_t;

/* pidio-stream's words for pidio_tell. */
static const pidio_tell_words_t tell_words = {
    .prog = PROG,
    .scope = "the selection",
    .remedy = "Give " PROG " the capabilities CAP_DAC_READ_SEARCH and "
              "CAP_SYS_PTRACE (setcap cap_dac_read_search,cap_sys_ptrace+ep), "
              "or run it as the user of those processes.",
    .fd_remedy = "Raise the open-file limit (ulimit -n)",
    .pidfile = "--pidfile",
    .proc_root = "--proc-root",
    .cgroup = "--cgroup",
    .cmdline = "--cmdline",
};

/* The last cause told, for the top screen: its redraw clears the terminal
 * right after the line on standard error, so the screen shows it under the
 * total until another is told. */
static char top_note[PIDIO_TELL_MAX];

/* One cause as a line on standard error (the classifier decided what it
 * is; the same causes, with the same counts and words, as the plugin
 * logs). */
static void tell(const pidio_cause_t *c, const pidio_block_t *b,
                 const pidio_proc_t *proc, const pidio_report_t *r) {
  pidio_tell_text(top_note, sizeof(top_note), &tell_words, c, r, proc->root,
                  &b->sel);
  warn("%s", top_note);
}

typedef struct tell_arg {
  trouble_t *t;
  const pidio_block_t *b;
  const pidio_proc_t *proc;
  const pidio_report_t *r;
  double now;
} tell_arg_t;

/* A slot's cause: told when it starts, and again at most hourly. */
static void tell_slot(void *arg, enum pidio_trouble_kind slot,
                      const pidio_cause_t *first) {
  const tell_arg_t *a = arg;
  if (complain(&a->t->slot[slot], first != NULL, a->now))
    tell(first, a->b, a->proc, a->r);
}

static void report_trouble(trouble_t *t, const pidio_block_t *b,
                           const pidio_proc_t *proc, const pidio_report_t *r,
                           const pidio_trouble_t *tr, int update_rc,
                           const char *selector, double now) {
  tell_arg_t a = {.t = t, .b = b, .proc = proc, .r = r, .now = now};
  pidio_trouble_each(tr, update_rc, t->told, tell_slot, &a);
  if (update_rc != 0)
    return;
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
static pidio_reader_t *reader; /* --reader */
static pidio_window_rater_t rater;
static pidio_perproc_t perproc;
static char *selector;

static void put_record(const record_t *r, uint64_t *rows) {
  switch (opts.format) {
  case FMT_TABLE:
    put_table(stdout, r, rows, opts.o.per_process);
    break;
  case FMT_INFLUX:
    put_influx(stdout, r, opts.measurement, selector);
    break;
  default:
    put_json(stdout, r);
  }
}

/* --per-process: after the block's record, one per process that has
 * figures of its own (pidio_perproc), in pid order, at the block's time. */
static void put_processes(trouble_t *t, const record_t *block, double read_at,
                          uint64_t *rows, double now) {
  if (pidio_perproc_update(&perproc, &blk, block->matched, &proc, read_at) !=
      0) {
    warn("out of memory: no per-process records this interval");
    return;
  }
  if (complain(&t->cap, perproc.over > 0, now))
    warn("%zu processes match, only --max-processes %u get records of their "
         "own (the totals still count them all); raise --max-processes to "
         "see more",
         perproc.members, perproc.max);
  for (size_t i = 0; i < perproc.n; i++) {
    const pidio_perproc_entry_t *e = &perproc.e[i];
    record_t r = {.wall = block->wall,
                  .pid = e->pid,
                  .comm = e->comm,
                  .total = &e->acc,
                  .have_rates = e->have_rates};
    memcpy(r.rate, e->rate, sizeof(r.rate));
    put_record(&r, rows);
  }
}

/* The group's rates, when its window has two samples. */
static bool group_rates(const pidio_window_t *w, double rate[PIDIO_NFIELDS]) {
  return w->n >= 2 && pidio_window_rates(w, rate) == 0;
}

/* The rate a top screen sorts by: the --sort field's, bytes = read_bytes +
 * write_bytes; 0 before a group has rates. */
static double sort_rate(const record_t *r) {
  if (!r->have_rates)
    return 0;
  int rank = blk.groups->conf.rank;
  if (rank == PIDIO_RANK_BYTES)
    return r->rate[PIDIO_READ_BYTES] + r->rate[PIDIO_WRITE_BYTES];
  return r->rate[rank];
}

static int by_sort_rate(const void *x, const void *y) {
  const record_t *a = x, *b = y;
  double ra = sort_rate(a), rb = sort_rate(b);
  if (ra != rb)
    return ra > rb ? -1 : 1;
  return strcmp(a->group, b->group);
}

/* A group's key as people read it on a terminal (its name is escaped for
 * writers): bytes that are not printable ASCII shown as '?'. */
static void label_of(const pidio_groups_entry_t *g, char *out, size_t outsz) {
  if (g->key == NULL) {
    snprintf(out, outsz, "%s", PIDIO_GROUP_UNKNOWN);
    return;
  }
  size_t n = g->keylen < outsz - 1 ? g->keylen : outsz - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)g->key[i];
    out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  out[n] = '\0';
}

/* One line of the top screen, cut at the terminal's width: a line that
 * wrapped would take two rows, and the screen, sized to the terminal's
 * rows, would scroll its header away. */
static void put_top_line(size_t cols, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put_top_line(size_t cols, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
  fwrite(line, 1, len < cols ? len : cols, stdout);
  fputc('\n', stdout);
}

static void put_top_row(size_t cols, const char *name, const record_t *r) {
  if (r->have_rates)
    put_top_line(
        cols, "%-24.24s %6u %9.2f %9.2f %9.2f %11.1f %11.1f %9.1f %9.1f", name,
        r->matched, r->rate[PIDIO_READ_BYTES] / 1024.0,
        r->rate[PIDIO_WRITE_BYTES] / 1024.0,
        r->rate[PIDIO_CANCELLED_WRITE_BYTES] / 1024.0, r->rate[PIDIO_RCHAR],
        r->rate[PIDIO_WCHAR], r->rate[PIDIO_SYSCR], r->rate[PIDIO_SYSCW]);
  else
    put_top_line(cols, "%-24.24s %6u %9s %9s %9s %11s %11s %9s %9s", name,
                 r->matched, "-", "-", "-", "-", "-", "-", "-");
}

/* A screen like iotop's, redrawn every interval: the groups with a line of
 * their own, busiest first by the --sort field's rate over the window,
 * then "other" and the total, with the count of processes and of those
 * that could not be read. */
static void put_top(const record_t *block, record_t *rec, size_t n) {
  qsort(rec, n - 1, sizeof(*rec), by_sort_rate); /* "other" stays last */
  struct winsize ws;
  size_t room = n - 1, cols = SIZE_MAX;
  bool note = top_note[0] != '\0';
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
    if (ws.ws_row > 7 && room > (size_t)ws.ws_row - 7)
      room = (size_t)ws.ws_row - 7;
    /* The last warning and its blank line only where the rows allow:
     * the groups come first. */
    if (ws.ws_row > 0 && (size_t)ws.ws_row < 7 + room + 2)
      note = false;
    if (ws.ws_col > 0)
      cols = ws.ws_col;
  }
  struct tm tm;
  char hms[16] = "?";
  time_t sec = block->wall.tv_sec;
  if (localtime_r(&sec, &tm) != NULL)
    strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
  const pidio_groups_t *t = blk.groups;
  fputs("\033[H\033[2J", stdout);
  put_top_line(cols, PROG " %s  %s by %s, sorted by %s over %u interval(s)",
               hms, selector, pidio_group_key_names[blk.group_key],
               pidio_groups_rank_name(t->conf.rank), t->conf.rank_window);
  put_top_line(cols,
               "%u processes, %u unreadable; %zu groups with a line of their "
               "own (at most %u)",
               block->matched, block->unreadable, n - 1, t->conf.max_groups);
  put_top_line(cols, "%s", "");
  put_top_line(cols, "%-24s %6s %9s %9s %9s %11s %11s %9s %9s", "GROUP",
               "PROCS", "kB_rd/s", "kB_wr/s", "kB_ccwr/s", "rchar/s", "wchar/s",
               "syscr/s", "syscw/s");
  for (size_t i = 0; i < room; i++)
    put_top_row(cols, rec[i].comm, &rec[i]); /* the label (see put_groups) */
  if (room < n - 1)
    put_top_line(cols, "(%zu more groups: a taller terminal shows them)",
                 n - 1 - room);
  put_top_row(cols, PIDIO_GROUP_OTHER, &rec[n - 1]);
  put_top_row(cols, "total", block);
  if (note) {
    put_top_line(cols, "%s", "");
    put_top_line(cols, "last warning: %s", top_note);
  }
}

/* --group-by: after the block's record, one per group holding a slot (by
 * name) and one for "other" (pidio_groups); on a terminal, the top screen
 * instead of all of them. */
static void put_groups(const record_t *block, uint64_t *rows, bool top) {
  const pidio_groups_t *t = blk.groups;
  size_t n = t->nslot + 1;
  record_t *rec = calloc(n, sizeof(*rec));
  if (rec == NULL) {
    warn("out of memory: no group records this interval");
    return;
  }
  char(*label)[25] = top ? calloc(n, sizeof(*label)) : NULL;
  if (top && label == NULL) {
    free(rec);
    warn("out of memory: no group records this interval");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const pidio_groups_entry_t *g = i < t->nslot ? t->slot[i] : NULL;
    rec[i] = (record_t){.wall = block->wall,
                        .group = g != NULL ? g->name : PIDIO_GROUP_OTHER,
                        .matched = g != NULL ? g->processes
                                             : t->other_processes,
                        .unreadable = g != NULL ? g->unreadable
                                                : t->other_unreadable,
                        .total = g != NULL ? &g->series : &t->other};
    rec[i].have_rates =
        group_rates(g != NULL ? &g->win : &t->other_win, rec[i].rate);
    if (top) {
      /* The top screen shows the key itself; the record keeps it where a
       * group's record has no other use for it. */
      if (g != NULL)
        label_of(g, label[i], sizeof(label[i]));
      else
        snprintf(label[i], sizeof(label[i]), "%s", PIDIO_GROUP_OTHER);
      rec[i].comm = label[i];
    }
  }
  if (top)
    put_top(block, rec, n);
  else
    for (size_t i = 0; i < n; i++)
      put_record(&rec[i], rows);
  free(label);
  free(rec);
}

static void cleanup(void) {
  pidio_reader_detach(reader, &blk);
  pidio_block_free(&blk);
  pidio_reader_close(reader);
  reader = NULL;
  pidio_perproc_free(&perproc);
  pidio_opts_free(&opts.o);
  for (size_t i = 0; i < pidio_opts_count; i++)
    free(opts.given[i]);
  pidio_proc_close(&proc);
  pidio_window_rater_free(&rater);
  free(selector);
  selector = NULL;
}

int main(int argc, char **argv) {
  parse_options(argc, argv, &opts);
  if (opts.format == FMT_AUTO)
    opts.format = isatty(STDOUT_FILENO) ? FMT_TABLE : FMT_JSON;

  selector = describe(opts.given);
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
  if (pidio_window_rater_init(&rater, opts.window) != 0) {
    fputs(PROG ": out of memory\n", stderr);
    cleanup();
    return 1;
  }
  bool by_pid = pidio_select_by_pid(&opts.o.sel);
  /* Each process's rates as the totals': over the window, or over the
   * last interval for --window 0 and 1. */
  pidio_perproc_init(&perproc, opts.o.max_processes,
                     opts.window >= 2 ? opts.window : 1);
  /* Before the block takes the selection over (opts.o.sel is emptied). */
  unsigned needs = pidio_opts_kernel_needs(&opts.o);
  pidio_block_init(&blk, &proc, &opts.o.sel);
  char why[512];
  rc = pidio_reader_open(&reader, opts.o.reader, opts.o.ring_bytes, needs,
                         &proc, why, sizeof(why));
  if (rc != 0) {
    fprintf(stderr, PROG ": --reader bpf: %s\n", why);
    cleanup();
    return 1;
  }
  if (opts.o.reader == PIDIO_READER_AUTO && !pidio_reader_is_bpf(reader))
    warn("--reader auto: reading /proc/<pid>/io, because %s", why);
  if (pidio_reader_attach(reader, &blk) != 0) {
    fputs(PROG ": out of memory\n", stderr);
    cleanup();
    return 1;
  }
  bool lost_said = false;
  group_mode = opts.o.groups.by;
  /* On a terminal, --group-by redraws a top screen. */
  bool top = group_mode && opts.format == FMT_TABLE && isatty(STDOUT_FILENO);
  if (group_mode) {
    pidio_groups_conf_t gc;
    pidio_groups_conf_of(&opts.o.groups, "", opts.window, &gc);
    /* Without --top every group has a record of its own (up to the
     * largest MaxGroups); ranking over --window (1: the last interval),
     * rates over at least two intervals. */
    if (opts.o.groups.max_groups == 0) {
      gc.max_groups = PIDIO_GROUPS_MAX;
      gc.idle_slots = true; /* a list of every group, busy or not */
    }
    gc.rank_window = opts.window >= 1 ? opts.window : 1;
    gc.rate_window = opts.window >= 2 ? opts.window : 2;
    if (pidio_block_group_by(&blk, opts.o.groups.key, &gc) != 0) {
      fputs(PROG ": out of memory\n", stderr);
      cleanup();
      return 1;
    }
  }

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
  uint64_t written = 0, rows = 0;
  bool seen = false;
  int status = 0;
  trouble_t trouble = {0};

  while (!stop_signal) {
    struct timespec wall, mono;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    double now = (double)mono.tv_sec + (double)mono.tv_nsec / 1e9;
    pidio_report_t rep;
    pidio_trouble_t tr;
    rc = pidio_block_update(&blk, &rep);
    pidio_trouble_classify(&rep, rc, &tr);
    report_trouble(&trouble, &blk, &proc, &rep, &tr, rc, selector, now);
    if (rep.lost + rep.lost_members > 0 && !lost_said) {
      warn("%u process exit(s) were lost by the BPF reader (its ring "
           "buffer was full): what they did since their last read is "
           "missing from the figures",
           rep.lost + rep.lost_members);
      lost_said = true;
    }
    if (rc == 0) {
      /* The record's time is when its counters were read, the time its
       * rates are computed against, not when the update began. */
      record_t r = {.wall = wall_plus(wall, rep.read_at - now),
                    .matched = rep.matched,
                    .unreadable = tr.unreadable,
                    .total = &blk.total};
      r.have_rates =
          pidio_window_rater_push(&rater, rep.read_at, &blk.total, r.rate);
      if (!top)
        put_record(&r, &rows);
      if (opts.o.per_process)
        put_processes(&trouble, &r, rep.read_at, &rows, now);
      if (group_mode)
        put_groups(&r, &rows, top);
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
