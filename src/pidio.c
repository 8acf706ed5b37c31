/*
 * pidio: the collectd adapter. The only file that knows collectd: it turns
 * <Plugin pidio> into blocks, registers one read per block, and dispatches
 * what pidio_block and pidio_window compute.
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"
#include "utils_complain.h"

#include "pidio_block.h"
#include "pidio_proc.h"
#include "pidio_select.h"
#include "pidio_window.h"

#include <time.h>

#define PIDIO_PLUGIN "pidio"
#define PIDIO_NAME_MAX 63
#define PIDIO_MAX_PROCESSES_DEFAULT 100

/* A process that has series of its own (PerProcess). */
typedef struct pidio_pp {
  pid_t pid;
  uint64_t start;
  pidio_window_t win;
} pidio_pp_t;

/* A warning of pidio's: logged at once, then reminded after an hour and
 * less often while it lasts (c_complain with a longer first step). When
 * its cause goes away, one line says so, once per warning logged, and the
 * reminder timer is NOT reset: a cause that comes and goes (a process
 * flickering in and out of a block) gives one warning and one "over"
 * line, not a pair each time. */
typedef struct complaint {
  c_complain_t c;
  bool said_over;
} complaint_t;

/* One <Process> block: its configuration and its running state. Owned by
 * collectd (free_ctx) once its read is registered. */
typedef struct pidio_ctx {
  char *name;
  int window; /* -1: not set in the block, the plugin's default applies */
  cdtime_t interval;
  pidio_select_t sel;
  pidio_block_t blk;
  pidio_window_t win;
  complaint_t c_denied, c_pidfile, c_garbled, c_list, c_cap, c_failed;
  bool per_process;
  bool told_no_cgroup2;
  bool told_cmdline_cut;
  unsigned max_processes;
  pidio_pp_t *pp; /* processes with their own series, by pid */
  size_t npp;
  pidio_member_t *mbuf; /* scratch for pidio_block_members */
  size_t mcap;
  struct pidio_ctx *next; /* configured but not yet registered */
} pidio_ctx_t;

/* Set by the config callback, read by init and shutdown: all three run on
 * collectd's main thread, before or after any read. */
static pidio_ctx_t *pending;
static char *proc_root;
static int default_window;
static bool config_failed;
static pidio_proc_t proc = {.root_fd = -1};

static void free_ctx(void *p) {
  pidio_ctx_t *ctx = p;
  if (ctx == NULL)
    return;
  pidio_block_free(&ctx->blk);
  pidio_select_free(&ctx->sel);
  pidio_window_free(&ctx->win);
  for (size_t i = 0; i < ctx->npp; i++)
    pidio_window_free(&ctx->pp[i].win);
  free(ctx->pp);
  free(ctx->mbuf);
  free(ctx->name);
  free(ctx);
}

/* --- configuration ------------------------------------------------------ */

static int bad(const char *block, const oconfig_item_t *ci, const char *fmt,
               ...) __attribute__((format(printf, 3, 4)));
static int bad(const char *block, const oconfig_item_t *ci, const char *fmt,
               ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (block != NULL)
    ERROR(PIDIO_PLUGIN ": <Process \"%s\">: option \"%s\": %s", block, ci->key,
          msg);
  else
    ERROR(PIDIO_PLUGIN ": option \"%s\": %s", ci->key, msg);
  config_failed = true;
  return -1;
}

/* The option's one string argument, or NULL (reported) when it has none. */
static const char *one_string(const char *block, const oconfig_item_t *ci) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
    bad(block, ci, "takes exactly one string argument");
    return NULL;
  }
  return ci->values[0].value.string;
}

static int one_number(const char *block, const oconfig_item_t *ci,
                      double *out) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER)
    return bad(block, ci, "takes exactly one number argument");
  *out = ci->values[0].value.number;
  return 0;
}

static int one_bool(const char *block, const oconfig_item_t *ci, bool *out) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_BOOLEAN)
    return bad(block, ci, "takes exactly one boolean argument (true or false)");
  *out = ci->values[0].value.boolean != 0;
  return 0;
}

static int get_window(const char *block, const oconfig_item_t *ci, int *out) {
  double v = 0;
  if (one_number(block, ci, &v) != 0)
    return -1;
  /* The range first: (int)v of a value out of range is undefined. */
  if (!(v >= 0 && v <= PIDIO_WINDOW_MAX) || v != (double)(int)v)
    return bad(block, ci, "needs a whole number of intervals from 0 to %d",
               PIDIO_WINDOW_MAX);
  if (v == 1)
    return bad(block, ci,
               "a window of 1 interval is the DERIVE counters' own rate: "
               "use 0 (no windowed gauges) or at least 2");
  *out = (int)v;
  return 0;
}

static int config_process(const oconfig_item_t *ci) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
    ERROR(PIDIO_PLUGIN ": <Process> needs exactly one name: "
                       "<Process \"web\">");
    config_failed = true;
    return -1;
  }
  const char *name = ci->values[0].value.string;
  size_t len = strlen(name);
  if (len == 0 || len > PIDIO_NAME_MAX || strpbrk(name, "/\\ \t\n") != NULL) {
    ERROR(PIDIO_PLUGIN ": <Process \"%s\">: the block name becomes the "
                       "plugin instance: 1 to %d characters, no '/', '\\' or "
                       "blanks",
          name, PIDIO_NAME_MAX);
    config_failed = true;
    return -1;
  }
  for (pidio_ctx_t *o = pending; o != NULL; o = o->next)
    if (strcmp(o->name, name) == 0) {
      ERROR(PIDIO_PLUGIN ": <Process \"%s\"> is given twice: block names "
                         "must be unique",
            name);
      config_failed = true;
      return -1;
    }

  pidio_ctx_t *ctx = calloc(1, sizeof(*ctx));
  if (ctx == NULL || (ctx->name = strdup(name)) == NULL) {
    free(ctx);
    ERROR(PIDIO_PLUGIN ": out of memory");
    config_failed = true;
    return -1;
  }
  ctx->window = -1;
  ctx->max_processes = PIDIO_MAX_PROCESSES_DEFAULT;
  pidio_select_init(&ctx->sel);
  C_COMPLAIN_INIT(&ctx->c_denied.c);
  C_COMPLAIN_INIT(&ctx->c_pidfile.c);
  C_COMPLAIN_INIT(&ctx->c_garbled.c);
  C_COMPLAIN_INIT(&ctx->c_list.c);
  C_COMPLAIN_INIT(&ctx->c_cap.c);
  C_COMPLAIN_INIT(&ctx->c_failed.c);

  int rc = 0;
  bool have_interval = false, have_children = false, have_pp = false,
       have_max = false;
  for (int i = 0; i < ci->children_num && rc == 0; i++) {
    const oconfig_item_t *c = ci->children + i;
    char err[256] = "";
    const char *s = NULL;
    double v = 0;
    if (c->children_num != 0) {
      rc = bad(name, c, "is not a block inside <Process>");
    } else if (strcasecmp(c->key, "Pid") == 0) {
      if ((rc = one_number(name, c, &v)) == 0 &&
          pidio_select_set_pid(&ctx->sel, v, err, sizeof(err)) != 0)
        rc = bad(name, c, "%s", err);
    } else if (strcasecmp(c->key, "PidFile") == 0) {
      if ((s = one_string(name, c)) == NULL)
        rc = -1;
      else if (pidio_select_set_pidfile(&ctx->sel, s, err, sizeof(err)) != 0)
        rc = bad(name, c, "%s", err);
    } else if (strcasecmp(c->key, "Name") == 0) {
      if ((s = one_string(name, c)) == NULL)
        rc = -1;
      else if (pidio_select_set_name(&ctx->sel, s, err, sizeof(err)) != 0)
        rc = bad(name, c, "%s", err);
    } else if (strcasecmp(c->key, "CommandLine") == 0) {
      if ((s = one_string(name, c)) == NULL)
        rc = -1;
      else if (pidio_select_set_cmdline(&ctx->sel, s, err, sizeof(err)) != 0)
        rc = bad(name, c, "%s", err);
    } else if (strcasecmp(c->key, "Exe") == 0) {
      if ((s = one_string(name, c)) == NULL)
        rc = -1;
      else if (pidio_select_set_exe(&ctx->sel, s, err, sizeof(err)) != 0)
        rc = bad(name, c, "%s", err);
    } else if (strcasecmp(c->key, "User") == 0) {
      if (c->values_num == 1 && c->values[0].type == OCONFIG_TYPE_NUMBER) {
        if (pidio_select_set_uid(&ctx->sel, c->values[0].value.number, err,
                                 sizeof(err)) != 0)
          rc = bad(name, c, "%s", err);
      } else if ((s = one_string(name, c)) == NULL) {
        rc = -1;
      } else if (pidio_select_set_user(&ctx->sel, s, err, sizeof(err)) != 0) {
        rc = bad(name, c, "%s", err);
      }
    } else if (strcasecmp(c->key, "Cgroup") == 0) {
      if ((s = one_string(name, c)) == NULL)
        rc = -1;
      else if (pidio_select_set_cgroup(&ctx->sel, s, err, sizeof(err)) != 0)
        rc = bad(name, c, "%s", err);
    } else if (strcasecmp(c->key, "Children") == 0) {
      bool on = false;
      if (have_children)
        rc = bad(name, c, "given twice");
      else if ((rc = one_bool(name, c, &on)) == 0)
        pidio_select_set_children(&ctx->sel, on);
      have_children = true;
    } else if (strcasecmp(c->key, "PerProcess") == 0) {
      if (have_pp)
        rc = bad(name, c, "given twice");
      else
        rc = one_bool(name, c, &ctx->per_process);
      have_pp = true;
    } else if (strcasecmp(c->key, "MaxProcesses") == 0) {
      if (have_max)
        rc = bad(name, c, "given twice");
      else if ((rc = one_number(name, c, &v)) == 0) {
        if (!(v >= 1 && v <= 100000) || v != (double)(int)v)
          rc = bad(name, c, "needs a whole number from 1 to 100000");
        else
          ctx->max_processes = (unsigned)v;
      }
      have_max = true;
    } else if (strcasecmp(c->key, "Window") == 0) {
      if (ctx->window >= 0)
        rc = bad(name, c, "given twice");
      else
        rc = get_window(name, c, &ctx->window);
    } else if (strcasecmp(c->key, "Interval") == 0) {
      if (have_interval)
        rc = bad(name, c, "given twice");
      else if ((rc = one_number(name, c, &v)) == 0) {
        if (!(v > 0) || v > 86400)
          rc = bad(name, c, "needs a positive number of seconds");
        else
          ctx->interval = DOUBLE_TO_CDTIME_T(v);
        have_interval = true;
      }
    } else {
      rc = bad(name, c,
               "is not a pidio option; a <Process> block takes Pid, "
               "PidFile, Name, CommandLine, Exe, User, Cgroup, Children, "
               "PerProcess, MaxProcesses, Window, Interval");
    }
  }
  if (rc == 0) {
    char err[256];
    if (pidio_select_check(&ctx->sel, err, sizeof(err)) != 0) {
      ERROR(PIDIO_PLUGIN ": <Process \"%s\"> %s", name, err);
      config_failed = true;
      rc = -1;
    }
  }
  if (rc != 0) {
    free_ctx(ctx);
    return -1;
  }
  /* Keep the configured order: append. */
  pidio_ctx_t **tail = &pending;
  while (*tail != NULL)
    tail = &(*tail)->next;
  *tail = ctx;
  return 0;
}

static int pidio_config(oconfig_item_t *ci) {
  int rc = 0;
  for (int i = 0; i < ci->children_num; i++) {
    const oconfig_item_t *c = ci->children + i;
    const char *s = NULL;
    if (strcasecmp(c->key, "Process") == 0) {
      if (config_process(c) != 0)
        rc = -1;
    } else if (c->children_num != 0) {
      rc = bad(NULL, c, "is not a block pidio knows; use <Process \"name\">");
    } else if (strcasecmp(c->key, "ProcRoot") == 0) {
      if ((s = one_string(NULL, c)) == NULL)
        rc = -1;
      else if (s[0] != '/')
        rc = bad(NULL, c, "needs an absolute path, not \"%s\"", s);
      else {
        free(proc_root);
        proc_root = strdup(s);
      }
    } else if (strcasecmp(c->key, "Window") == 0) {
      if (get_window(NULL, c, &default_window) != 0)
        rc = -1;
    } else {
      rc = bad(NULL, c,
               "is not a pidio option; <Plugin pidio> takes ProcRoot, Window "
               "and <Process> blocks");
    }
  }
  return rc;
}

/* c_complain repeats after 1, 2, 4, ... intervals, which suits a passing
 * fault. pidio's complaints (permissions, a bad pidfile) stay until someone
 * acts: after the first report, remind after an hour, then less often. */
#define PIDIO_REMIND_FIRST TIME_T_TO_CDTIME_T_STATIC(3600)
#define complain(level, pc, ...)                                               \
  do {                                                                         \
    cdtime_t before_ = (pc)->c.last;                                           \
    c_complain(level, &(pc)->c, __VA_ARGS__);                                  \
    if ((pc)->c.last != before_)                                               \
      (pc)->said_over = false;                                                 \
    if ((pc)->c.interval != 0 && (pc)->c.interval < PIDIO_REMIND_FIRST)        \
      (pc)->c.interval = PIDIO_REMIND_FIRST;                                   \
  } while (0)

/* The cause is gone: say so once after a warning. */
#define complaint_over(pc, ...)                                                \
  do {                                                                         \
    if ((pc)->c.last != 0 && !(pc)->said_over) {                               \
      INFO(__VA_ARGS__);                                                       \
      (pc)->said_over = true;                                                  \
    }                                                                          \
  } while (0)

/* --- dispatch ------------------------------------------------------------ */

static void submit(const char *instance, const char *type,
                   const char *type_instance, value_t *values, size_t n) {
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = values;
  vl.values_len = n;
  sstrncpy(vl.plugin, PIDIO_PLUGIN, sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, instance, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  if (type_instance != NULL)
    sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

static void submit_pair(const char *instance, const char *type,
                        const pidio_io_t *c, enum pidio_field a,
                        enum pidio_field b) {
  value_t v[2] = {{.derive = (derive_t)c->v[a]}, {.derive = (derive_t)c->v[b]}};
  submit(instance, type, NULL, v, 2);
}

/* The counters and, with a window, the rates: a block's or a process's. */
static void submit_set(const char *instance, const pidio_io_t *c,
                       pidio_window_t *win, double t) {
  submit_pair(instance, "io_octets", c, PIDIO_RCHAR, PIDIO_WCHAR);
  submit_pair(instance, "io_ops", c, PIDIO_SYSCR, PIDIO_SYSCW);
  submit_pair(instance, "disk_octets", c, PIDIO_READ_BYTES, PIDIO_WRITE_BYTES);
  value_t v = {.derive = (derive_t)c->v[PIDIO_CANCELLED_WRITE_BYTES]};
  submit(instance, "total_bytes", "cancelled_write_bytes", &v, 1);
  if (win->n < 2)
    return;
  double rate[PIDIO_NFIELDS];
  pidio_window_push(win, t, c);
  if (pidio_window_rates(win, rate) != 0)
    return;
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    v = (value_t){.gauge = rate[f]};
    submit(instance, "pidio_rate", pidio_field_names[f], &v, 1);
  }
}

static int pp_cmp(const void *x, const void *y) {
  pid_t a = ((const pidio_pp_t *)x)->pid, b = ((const pidio_pp_t *)y)->pid;
  return (a > b) - (a < b);
}

/* PerProcess: series of their own for up to MaxProcesses members. The set
 * is kept stable: a process keeps its series until it exits, and new ones
 * fill the free places in pid order. */
static void submit_processes(pidio_ctx_t *ctx, const pidio_report_t *rep,
                             double t) {
  size_t need = rep->matched;
  if (need > ctx->mcap) {
    pidio_member_t *m = realloc(ctx->mbuf, need * sizeof(*m));
    if (m == NULL)
      return;
    ctx->mbuf = m;
    ctx->mcap = need;
  }
  size_t n = pidio_block_members(&ctx->blk, ctx->mbuf, ctx->mcap);
  if (ctx->pp == NULL) {
    ctx->pp = calloc(ctx->max_processes, sizeof(*ctx->pp));
    if (ctx->pp == NULL)
      return;
  }
  /* Keep the members that already have series; both lists are by pid. */
  size_t k = 0, j = 0;
  bool *kept = calloc(n + 1, sizeof(*kept));
  if (kept == NULL)
    return;
  for (size_t i = 0; i < ctx->npp; i++) {
    pidio_pp_t *p = &ctx->pp[i];
    while (j < n && ctx->mbuf[j].pid < p->pid)
      j++;
    if (j < n && ctx->mbuf[j].pid == p->pid && ctx->mbuf[j].start == p->start) {
      kept[j] = true;
      ctx->pp[k++] = *p;
    } else {
      pidio_window_free(&p->win); /* exited: its series stop */
    }
  }
  size_t over = 0;
  for (j = 0; j < n; j++) {
    if (kept[j])
      continue;
    if (k == ctx->max_processes) {
      over++;
      continue;
    }
    pidio_pp_t *p = &ctx->pp[k];
    *p = (pidio_pp_t){.pid = ctx->mbuf[j].pid, .start = ctx->mbuf[j].start};
    if (ctx->win.n >= 2 && pidio_window_init(&p->win, ctx->win.n) != 0)
      continue;
    kept[j] = true;
    k++;
  }
  ctx->npp = k;
  qsort(ctx->pp, k, sizeof(*ctx->pp), pp_cmp);
  if (over > 0)
    complain(LOG_WARNING, &ctx->c_cap,
             PIDIO_PLUGIN
             ": <Process \"%s\">: %zu processes match, only "
             "MaxProcesses %u get series of their own (the block's series "
             "still count them all); raise MaxProcesses to see more",
             ctx->name, n, ctx->max_processes);
  else
    complaint_over(&ctx->c_cap,
                   PIDIO_PLUGIN ": <Process \"%s\">: every process has its own "
                                "series again",
                   ctx->name);

  j = 0;
  for (size_t i = 0; i < ctx->npp; i++) {
    pidio_pp_t *p = &ctx->pp[i];
    while (j < n && ctx->mbuf[j].pid < p->pid)
      j++;
    if (j == n || ctx->mbuf[j].pid != p->pid)
      continue;
    char inst[DATA_MAX_NAME_LEN];
    snprintf(inst, sizeof(inst), "%s-%d", ctx->name, (int)p->pid);
    submit_set(inst, &ctx->mbuf[j].acc, &p->win, t);
  }
  free(kept);
}

static void report_trouble(pidio_ctx_t *ctx, const pidio_report_t *r) {
  const char *root = proc.root != NULL ? proc.root : "/proc";
  if (r->unreadable == 0 && r->undecided > 0)
    complain(LOG_WARNING, &ctx->c_denied,
             PIDIO_PLUGIN
             ": <Process \"%s\">: permission denied reading "
             "%s/%d/exe, so Exe cannot tell whether %u process(es) belong to "
             "this block. Give collectd the capabilities CAP_DAC_READ_SEARCH "
             "and CAP_SYS_PTRACE, or run it as the user of those processes.",
             ctx->name, root, (int)r->undecided_pid, r->undecided);
  else if (r->unreadable > 0)
    complain(LOG_WARNING, &ctx->c_denied,
             PIDIO_PLUGIN
             ": <Process \"%s\">: permission denied reading "
             "%s/%d/io; %u of %u matched process(es) are left out of this "
             "block's figures. Give collectd the capabilities "
             "CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, or run it as the "
             "user of those processes.",
             ctx->name, root, (int)r->denied_pid, r->unreadable, r->matched);
  if (r->unreadable == 0 && r->undecided == 0) {
    complaint_over(&ctx->c_denied,
                   PIDIO_PLUGIN ": <Process \"%s\">: every matched process is "
                                "readable again",
                   ctx->name);
  }

  if (r->pidfile_err != 0)
    complain(LOG_WARNING, &ctx->c_pidfile,
             PIDIO_PLUGIN ": <Process \"%s\">: PidFile \"%s\" %s; no "
                          "process matches until it holds a valid pid",
             ctx->name, ctx->blk.sel.pidfile,
             pidio_pidfile_strerror(r->pidfile_err));
  else
    complaint_over(&ctx->c_pidfile,
                   PIDIO_PLUGIN
                   ": <Process \"%s\">: PidFile \"%s\" is valid again",
                   ctx->name, ctx->blk.sel.pidfile);

  if (r->failed > 0)
    complain(LOG_WARNING, &ctx->c_failed,
             PIDIO_PLUGIN ": <Process \"%s\">: cannot read %s/%d/io: %s; %u "
                          "process(es) left out of this interval%s",
             ctx->name, root, (int)r->failed_pid, STRERROR(-r->failed_err),
             r->failed,
             r->failed_err == -EMFILE || r->failed_err == -ENFILE
                 ? ". Raise collectd's open-file limit (LimitNOFILE in its "
                   "systemd unit, ulimit -n)"
                 : "");
  else
    complaint_over(&ctx->c_failed,
                   PIDIO_PLUGIN
                   ": <Process \"%s\">: every process is read again",
                   ctx->name);

  if (r->no_cgroup2_pid != 0 && !ctx->told_no_cgroup2) {
    /* Once: a host does not change its cgroup layout while running. */
    WARNING(PIDIO_PLUGIN ": <Process \"%s\">: Cgroup \"%s\" selects on "
                         "cgroup v2, but %s/%d/cgroup has no cgroup v2 (0::) "
                         "line: on a cgroup v1 only host this block matches "
                         "nothing",
            ctx->name, ctx->blk.sel.cgroup, root, (int)r->no_cgroup2_pid);
    ctx->told_no_cgroup2 = true;
  }

  if (r->cmdline_cut_pid != 0 && !ctx->told_cmdline_cut) {
    /* Once: the lines are what they are; the operator can anchor the
     * regex at the start of the line instead. */
    WARNING(PIDIO_PLUGIN ": <Process \"%s\">: CommandLine: %s/%d/cmdline "
                         "is longer than %d bytes; only its first %d bytes "
                         "are matched (this block may miss such processes)",
            ctx->name, root, (int)r->cmdline_cut_pid, PIDIO_CMDLINE_MAX,
            PIDIO_CMDLINE_MAX);
    ctx->told_cmdline_cut = true;
  }

  if (r->garbled > 0)
    complain(LOG_WARNING, &ctx->c_garbled,
             PIDIO_PLUGIN
             ": <Process \"%s\">: %s/%d/io does not parse as "
             "the kernel's io file; %u process(es) skipped this interval",
             ctx->name, root, (int)r->garbled_pid, r->garbled);
  else
    complaint_over(&ctx->c_garbled,
                   PIDIO_PLUGIN ": <Process \"%s\">: io files parse again",
                   ctx->name);
}

static int pidio_read(user_data_t *ud) {
  pidio_ctx_t *ctx = ud->data;
  pidio_report_t rep;
  int rc = pidio_block_update(&ctx->blk, &rep);
  if (rc != 0) {
    complain(LOG_ERR, &ctx->c_list,
             PIDIO_PLUGIN ": <Process \"%s\">: cannot read ProcRoot "
                          "\"%s\": %s",
             ctx->name, proc.root, STRERROR(-rc));
    return -1;
  }
  complaint_over(&ctx->c_list,
                 PIDIO_PLUGIN ": <Process \"%s\">: ProcRoot readable again",
                 ctx->name);
  report_trouble(ctx, &rep);

  double t = rep.read_at;
  submit_set(ctx->name, &ctx->blk.total, &ctx->win, t);
  value_t v = {.gauge = (gauge_t)rep.matched};
  submit(ctx->name, "count", "processes", &v, 1);
  v = (value_t){.gauge =
                    (gauge_t)(rep.unreadable + rep.undecided + rep.failed)};
  submit(ctx->name, "count", "unreadable", &v, 1);
  if (ctx->per_process)
    submit_processes(ctx, &rep, t);
  return 0;
}

/* --- life cycle ---------------------------------------------------------- */

static int pidio_init(void) {
  if (config_failed) {
    ERROR(PIDIO_PLUGIN ": not starting: the configuration has errors (see "
                       "above)");
    return -1;
  }

  static data_source_t rate_ds = {"value", DS_TYPE_GAUGE, 0.0, (double)NAN};
  static data_set_t rate_set = {"pidio_rate", 1, &rate_ds};
  if (plugin_register_data_set(&rate_set) != 0) {
    ERROR(PIDIO_PLUGIN ": cannot register the type \"pidio_rate\"");
    return -1;
  }

  const char *root = proc_root != NULL ? proc_root : "/proc";
  int rc = pidio_proc_open(&proc, root);
  if (rc != 0) {
    ERROR(PIDIO_PLUGIN ": ProcRoot \"%s\": %s", root, STRERROR(-rc));
    return -1;
  }
  INFO(PIDIO_PLUGIN " " PIDIO_VERSION ": ProcRoot \"%s\"", root);
  if (!pidio_proc_is_procfs(&proc))
    NOTICE(PIDIO_PLUGIN ": ProcRoot \"%s\" is not a proc file system; "
                        "reading it as one (a copy or a test tree)",
           root);
  if (pending == NULL)
    WARNING(PIDIO_PLUGIN ": loaded without any <Process> block: nothing to "
                         "read");

  while (pending != NULL) {
    pidio_ctx_t *ctx = pending;
    pending = ctx->next;
    ctx->next = NULL;
    int w = ctx->window >= 0 ? ctx->window : default_window;
    if (w >= 2 && pidio_window_init(&ctx->win, (unsigned)w) != 0) {
      ERROR(PIDIO_PLUGIN ": <Process \"%s\">: out of memory", ctx->name);
      free_ctx(ctx);
      continue;
    }
    pidio_block_init(&ctx->blk, &proc, &ctx->sel);

    char name[DATA_MAX_NAME_LEN];
    snprintf(name, sizeof(name), PIDIO_PLUGIN "/%s", ctx->name);
    user_data_t ud = {.data = ctx, .free_func = free_ctx};
    /* On failure collectd frees ud itself (since 5.10). */
    if (plugin_register_complex_read(PIDIO_PLUGIN, name, pidio_read,
                                     ctx->interval, &ud) != 0)
      ERROR(PIDIO_PLUGIN ": <Process \"%s\">: cannot register its read",
            ctx->name);
  }
  return 0;
}

static int pidio_shutdown(void) {
  /* The reads are stopped and their contexts freed by now. */
  while (pending != NULL) {
    pidio_ctx_t *ctx = pending;
    pending = ctx->next;
    free_ctx(ctx);
  }
  pidio_proc_close(&proc);
  free(proc_root);
  proc_root = NULL;
  default_window = 0;
  config_failed = false;
  return 0;
}

void module_register(void);
void module_register(void) {
  plugin_register_complex_config(PIDIO_PLUGIN, pidio_config);
  plugin_register_init(PIDIO_PLUGIN, pidio_init);
  plugin_register_shutdown(PIDIO_PLUGIN, pidio_shutdown);
}
