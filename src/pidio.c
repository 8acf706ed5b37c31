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
#include "pidio_group.h"
#include "pidio_groups.h"
#include "pidio_options.h"
#include "pidio_perproc.h"
#include "pidio_proc.h"
#include "pidio_reader.h"
#include "pidio_select.h"
#include "pidio_tell.h"
#include "pidio_trouble.h"
#include "pidio_window.h"

#include <time.h>

#define PIDIO_PLUGIN "pidio"
#define PIDIO_NAME_MAX 63

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
  pidio_opts_t opts; /* the table's options; opts.sel goes to blk */
  pidio_block_t blk;
  pidio_window_t win;
  pidio_perproc_t perproc;                     /* PerProcess */
  complaint_t c_trouble[PIDIO_TROUBLE_NKINDS]; /* by slot */
  bool told[PIDIO_TROUBLE_NKINDS];             /* kinds said once */
  complaint_t c_cap;                           /* MaxProcesses */
  complaint_t c_lost;                          /* exit records lost */
  uint64_t delay_prev_ns; /* the block's blkio delay at the last read */
  double delay_prev_t;    /* ... and when (0: none yet) */
  struct pidio_ctx *next; /* configured but not yet registered */
} pidio_ctx_t;

/* Set by the config callback, read by init and shutdown: all three run on
 * collectd's main thread, before or after any read. */
static pidio_ctx_t *pending;
static char *proc_root;
static int default_window;
static pidio_opts_t plugin_opts; /* the table's options of <Plugin pidio> */
static bool config_failed;
static pidio_proc_t proc = {.root_fd = -1};
static pidio_reader_t *reader; /* Reader: opened at init */

static void free_ctx(void *p) {
  pidio_ctx_t *ctx = p;
  if (ctx == NULL)
    return;
  pidio_reader_detach(reader, &ctx->blk);
  pidio_block_free(&ctx->blk);
  pidio_opts_free(&ctx->opts);
  pidio_window_free(&ctx->win);
  pidio_perproc_free(&ctx->perproc);
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

/* collectd's value as the table's argument: the table checks the kind. */
static int optarg_of(const char *block, const oconfig_item_t *ci,
                     const pidio_opt_t *opt, pidio_optarg_t *a) {
  if (ci->values_num != 1)
    return bad(block, ci, "%s", pidio_opts_takes(opt));
  const oconfig_value_t *v = &ci->values[0];
  switch (v->type) {
  case OCONFIG_TYPE_STRING:
    *a = (pidio_optarg_t){.kind = PIDIO_ARG_STRING, .s = v->value.string};
    break;
  case OCONFIG_TYPE_NUMBER:
    *a = (pidio_optarg_t){.kind = PIDIO_ARG_NUMBER, .num = v->value.number};
    break;
  default:
    *a = (pidio_optarg_t){.kind = PIDIO_ARG_FLAG, .on = v->value.boolean != 0};
  }
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
  pidio_opts_init(&ctx->opts);
  C_COMPLAIN_INIT(&ctx->c_cap.c);
  C_COMPLAIN_INIT(&ctx->c_lost.c);
  for (size_t k = 0; k < PIDIO_TROUBLE_NKINDS; k++) {
    C_COMPLAIN_INIT(&ctx->c_trouble[k].c);
  }

  int rc = 0;
  bool have_interval = false;
  for (int i = 0; i < ci->children_num && rc == 0; i++) {
    const oconfig_item_t *c = ci->children + i;
    const pidio_opt_t *opt = pidio_opts_find(c->key, PIDIO_SCOPE_BLOCK);
    char err[256] = "";
    double v = 0;
    if (c->children_num != 0) {
      rc = bad(name, c, "is not a block inside <Process>");
    } else if (opt != NULL) {
      pidio_optarg_t a;
      if ((rc = optarg_of(name, c, opt, &a)) == 0 &&
          pidio_opts_apply(&ctx->opts, opt, &a, err, sizeof(err)) != 0)
        rc = bad(name, c, "%s", err);
    } else if (strcasecmp(c->key, "Window") == 0) {
      /* Window and Interval mean other things in pidio-stream: they are
       * the adapter's own. */
      if (ctx->window >= 0)
        rc = bad(name, c, "given twice; each option is taken once");
      else
        rc = get_window(name, c, &ctx->window);
    } else if (strcasecmp(c->key, "Interval") == 0) {
      if (have_interval)
        rc = bad(name, c, "given twice; each option is taken once");
      else if ((rc = one_number(name, c, &v)) == 0) {
        if (!(v > 0) || v > 86400)
          rc = bad(name, c, "needs a positive number of seconds");
        else
          ctx->interval = DOUBLE_TO_CDTIME_T(v);
        have_interval = true;
      }
    } else {
      char names[512];
      rc = bad(name, c,
               "is not a pidio option; a <Process> block takes %s, Window, "
               "Interval",
               pidio_opts_names(PIDIO_SCOPE_BLOCK, false, false, names,
                                sizeof(names)));
    }
  }
  if (rc == 0) {
    char err[512];
    if (pidio_opts_check(&ctx->opts, false, err, sizeof(err)) != 0) {
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
    const pidio_opt_t *opt = NULL;
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
    } else if ((opt = pidio_opts_find(c->key, PIDIO_SCOPE_PLUGIN)) != NULL) {
      pidio_optarg_t a;
      char err[256] = "";
      if (optarg_of(NULL, c, opt, &a) != 0)
        rc = -1;
      else if (pidio_opts_apply(&plugin_opts, opt, &a, err, sizeof(err)) != 0)
        rc = bad(NULL, c, "%s", err);
    } else {
      char names[512];
      pidio_opts_names(PIDIO_SCOPE_PLUGIN, false, false, names, sizeof(names));
      rc = bad(NULL, c,
               "is not a pidio option; <Plugin pidio> takes ProcRoot, "
               "Window, %s%s<Process> blocks",
               names, names[0] != '\0' ? ", " : "");
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

/* The time of the read being dispatched: every value list of one read of a
 * block (its counters, rates, counts, groups, processes) carries the same
 * time, so that a writer or a query can line up the groups and "other"
 * with the block they add up to. Left to collectd, each would get the
 * moment of its own dispatch. Per thread: collectd reads blocks on several
 * threads at once, each block on one at a time. */
static _Thread_local cdtime_t read_time;

static void submit(const char *instance, const char *type,
                   const char *type_instance, value_t *values, size_t n) {
  value_list_t vl = VALUE_LIST_INIT;
  vl.time = read_time;
  vl.values = values;
  vl.values_len = n;
  sstrncpy(vl.plugin, PIDIO_PLUGIN, sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, instance, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  if (type_instance != NULL)
    sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

/* DERIVE is signed: a total above INT64_MAX goes out negative, as in
   collectd's processes plugin. Not clamped: a clamped counter would stand
   still (README "Series" says so). */
static void submit_pair(const char *instance, const char *type,
                        const pidio_io_t *c, enum pidio_field a,
                        enum pidio_field b) {
  value_t v[2] = {{.derive = (derive_t)c->v[a]}, {.derive = (derive_t)c->v[b]}};
  submit(instance, type, NULL, v, 2);
}

static void submit_counters(const char *instance, const pidio_io_t *c) {
  submit_pair(instance, "io_octets", c, PIDIO_RCHAR, PIDIO_WCHAR);
  submit_pair(instance, "io_ops", c, PIDIO_SYSCR, PIDIO_SYSCW);
  submit_pair(instance, "disk_octets", c, PIDIO_READ_BYTES, PIDIO_WRITE_BYTES);
  value_t v = {.derive = (derive_t)c->v[PIDIO_CANCELLED_WRITE_BYTES]};
  submit(instance, "total_bytes", "cancelled_write_bytes", &v, 1);
}

static void submit_rates(const char *instance,
                         const double rate[PIDIO_NFIELDS]) {
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    value_t v = {.gauge = rate[f]};
    submit(instance, "pidio_rate", pidio_field_names[f], &v, 1);
  }
}

/* PerProcess: series <block>-<pid> for the processes pidio_perproc gives
 * figures of their own. */
static void submit_processes(pidio_ctx_t *ctx, const pidio_report_t *rep,
                             double t) {
  pidio_perproc_t *pp = &ctx->perproc;
  if (pidio_perproc_update(pp, &ctx->blk, rep->matched, NULL, t) != 0)
    return;
  if (pp->over > 0)
    complain(LOG_WARNING, &ctx->c_cap,
             PIDIO_PLUGIN
             ": <Process \"%s\">: %zu processes match, only "
             "MaxProcesses %u get series of their own (the block's series "
             "still count them all); raise MaxProcesses to see more",
             ctx->name, pp->members, pp->max);
  else
    complaint_over(&ctx->c_cap,
                   PIDIO_PLUGIN ": <Process \"%s\">: every process has its own "
                                "series again",
                   ctx->name);
  for (size_t i = 0; i < pp->n; i++) {
    const pidio_perproc_entry_t *e = &pp->e[i];
    char inst[DATA_MAX_NAME_LEN];
    snprintf(inst, sizeof(inst), "%s-%d", ctx->name, (int)e->pid);
    submit_counters(inst, &e->acc);
    if (e->have_rates)
      submit_rates(inst, e->rate);
  }
}

/* GroupBy: series <block>-<group> for the groups holding a slot, and
 * <block>-other for every other group (pidio_groups). */
static void submit_one_group(const char *block, const char *name,
                             const pidio_io_t *c, const pidio_window_t *win,
                             unsigned processes, unsigned unreadable) {
  char inst[DATA_MAX_NAME_LEN];
  if (pidio_group_instance(block, name, inst, sizeof(inst)) != 0)
    return; /* cannot be: names are cut to the room the block leaves */
  submit_counters(inst, c);
  double rate[PIDIO_NFIELDS];
  if (win->n >= 2 && pidio_window_rates(win, rate) == 0)
    submit_rates(inst, rate);
  value_t v = {.gauge = (gauge_t)processes};
  submit(inst, "count", "processes", &v, 1);
  v = (value_t){.gauge = (gauge_t)unreadable};
  submit(inst, "count", "unreadable", &v, 1);
}

static void submit_groups(const pidio_ctx_t *ctx) {
  const pidio_groups_t *t = ctx->blk.groups;
  for (size_t i = 0; i < t->nslot; i++) {
    const pidio_groups_entry_t *g = t->slot[i];
    submit_one_group(ctx->name, g->name, &g->series, &g->win, g->processes,
                     g->unreadable);
  }
  submit_one_group(ctx->name, PIDIO_GROUP_OTHER, &t->other, &t->other_win,
                   t->other_processes, t->other_unreadable);
}

/* The plugin's words for pidio_tell. */
static const pidio_tell_words_t tell_words = {
    .prog = "pidio",
    .scope = "this block",
    .remedy = "Give collectd the capabilities CAP_DAC_READ_SEARCH and "
              "CAP_SYS_PTRACE, or run it as the user of those processes.",
    .fd_remedy = "Raise collectd's open-file limit (LimitNOFILE in its "
                 "systemd unit, ulimit -n)",
    .pidfile = "PidFile",
    .proc_root = "ProcRoot",
    .cgroup = "Cgroup",
    .cmdline = "CommandLine",
};

/* One cause, as this block's warning (the classifier decided what it is). */
static void tell(pidio_ctx_t *ctx, const pidio_cause_t *c,
                 const pidio_report_t *r) {
  char text[PIDIO_TELL_MAX];
  pidio_tell_text(text, sizeof(text), &tell_words, c, r,
                  proc.root != NULL ? proc.root : "/proc", &ctx->blk.sel);
  if (pidio_trouble_info[c->kind].once) {
    /* Told once for the life of the block: no rate limit to keep. */
    WARNING(PIDIO_PLUGIN ": <Process \"%s\">: %s", ctx->name, text);
    return;
  }
  complain(c->kind == PIDIO_TROUBLE_LIST ? LOG_ERR : LOG_WARNING,
           &ctx->c_trouble[pidio_trouble_info[c->kind].slot],
           PIDIO_PLUGIN ": <Process \"%s\">: %s", ctx->name, text);
}

/* A slot's cause went away: say so once after its warning. */
static void tell_over(pidio_ctx_t *ctx, enum pidio_trouble_kind slot) {
  complaint_t *pc = &ctx->c_trouble[slot];
  switch (slot) {
  case PIDIO_TROUBLE_DENIED:
    complaint_over(pc,
                   PIDIO_PLUGIN ": <Process \"%s\">: every matched process is "
                                "readable again",
                   ctx->name);
    break;
  case PIDIO_TROUBLE_FAILED:
    complaint_over(
        pc, PIDIO_PLUGIN ": <Process \"%s\">: every process is read again",
        ctx->name);
    break;
  case PIDIO_TROUBLE_GARBLED:
    complaint_over(pc, PIDIO_PLUGIN ": <Process \"%s\">: io files parse again",
                   ctx->name);
    break;
  case PIDIO_TROUBLE_PIDFILE:
    complaint_over(
        pc, PIDIO_PLUGIN ": <Process \"%s\">: PidFile \"%s\" is valid again",
        ctx->name, ctx->blk.sel.pidfile);
    break;
  case PIDIO_TROUBLE_LIST:
    complaint_over(pc,
                   PIDIO_PLUGIN ": <Process \"%s\">: ProcRoot readable again",
                   ctx->name);
    break;
  default:
    break;
  }
}

/* Tell this interval's trouble: one warning per slot, rate-limited by
 * c_complain, and a line when it is over. */
typedef struct tell_arg {
  pidio_ctx_t *ctx;
  const pidio_report_t *r;
} tell_arg_t;

static void tell_slot(void *arg, enum pidio_trouble_kind slot,
                      const pidio_cause_t *first) {
  const tell_arg_t *a = arg;
  if (first != NULL)
    tell(a->ctx, first, a->r);
  else
    tell_over(a->ctx, slot);
}

static int pidio_read(user_data_t *ud) {
  pidio_ctx_t *ctx = ud->data;
  pidio_report_t rep;
  pidio_trouble_t t;
  int rc = pidio_block_update(&ctx->blk, &rep);
  pidio_trouble_classify(&rep, rc, &t);
  pidio_trouble_each(&t, rc, ctx->told, tell_slot,
                     &(tell_arg_t){.ctx = ctx, .r = &rep});
  if (rc != 0)
    return -1;

  read_time = cdtime();
  double now = rep.read_at;
  submit_counters(ctx->name, &ctx->blk.total);
  if (ctx->win.n >= 2) {
    double rate[PIDIO_NFIELDS];
    pidio_window_push(&ctx->win, now, &ctx->blk.total);
    if (pidio_window_rates(&ctx->win, rate) == 0)
      submit_rates(ctx->name, rate);
  }
  value_t v = {.gauge = (gauge_t)rep.matched};
  submit(ctx->name, "count", "processes", &v, 1);
  v = (value_t){.gauge = (gauge_t)t.unreadable};
  submit(ctx->name, "count", "unreadable", &v, 1);
  if (pidio_reader_is_bpf(reader)) {
    /* Exits whose record the kernel side could not send (its ring buffer
     * was full when they came), and members that ended without one: the
     * block's figures miss what they did since their last read. */
    unsigned lost = rep.lost + rep.lost_members;
    v = (value_t){.gauge = (gauge_t)lost};
    submit(ctx->name, "count", "lost", &v, 1);
    /* Seconds spent waiting for block I/O per second, over the interval,
     * summed over the members (from the second interval on). */
    if (ctx->delay_prev_t > 0 && now > ctx->delay_prev_t) {
      v = (value_t){.gauge = (gauge_t)(ctx->blk.blkio_delay_ns -
                                       ctx->delay_prev_ns) /
                             1e9 / (now - ctx->delay_prev_t)};
      submit(ctx->name, "pidio_delay", "blkio", &v, 1);
    }
    ctx->delay_prev_ns = ctx->blk.blkio_delay_ns;
    ctx->delay_prev_t = now;
    if (lost > 0)
      complain(LOG_WARNING, &ctx->c_lost,
               PIDIO_PLUGIN ": <Process \"%s\">: %u process exit(s) were "
                            "lost by the BPF reader (its ring buffer was "
                            "full): what they did since their last read is "
                            "missing from this block's figures",
               ctx->name, lost);
  }
  if (ctx->opts.per_process)
    submit_processes(ctx, &rep, now);
  if (ctx->blk.groups != NULL)
    submit_groups(ctx);
  return 0;
}

/* --- life cycle ---------------------------------------------------------- */

/* True unless /proc/sys/kernel/task_delayacct says 0 (off by default
 * since Linux 5.14): without it the kernel keeps no block-I/O delay. */
static bool delayacct_on(void) {
  char buf[8] = "";
  FILE *f = fopen("/proc/sys/kernel/task_delayacct", "re");
  if (f == NULL)
    return true; /* older kernels: on unless booted with nodelayacct */
  bool on = fgets(buf, sizeof(buf), f) == NULL || buf[0] != '0';
  fclose(f);
  return on;
}

/* libbpf's messages: its warnings as collectd's INFO (pidio says itself,
 * once, what a failed load means), the rest as DEBUG. */
static void libbpf_log(int level, const char *msg, void *ctx) {
  (void)ctx;
  if (level == 0) {
    INFO(PIDIO_PLUGIN ": libbpf: %s", msg);
  } else {
    DEBUG(PIDIO_PLUGIN ": libbpf: %s", msg);
  }
}

/* A block with GroupBy names its series "<block>-<group>": another block
 * named "<block>-..." could meet one of them. Refused, naming both. */
static bool groups_clash(void) {
  for (const pidio_ctx_t *a = pending; a != NULL; a = a->next) {
    if (!a->opts.groups.by)
      continue;
    size_t len = strlen(a->name);
    for (const pidio_ctx_t *b = pending; b != NULL; b = b->next)
      if (b != a && strncmp(b->name, a->name, len) == 0 &&
          b->name[len] == '-') {
        ERROR(PIDIO_PLUGIN ": <Process \"%s\">: GroupBy names its series "
                           "\"%s-<group>\", which <Process \"%s\"> could "
                           "meet; rename one of the two blocks",
              a->name, a->name, b->name);
        return true;
      }
  }
  return false;
}

static int pidio_init(void) {
  if (config_failed) {
    ERROR(PIDIO_PLUGIN ": not starting: the configuration has errors (see "
                       "above)");
    return -1;
  }

  static data_source_t rate_ds = {"value", DS_TYPE_GAUGE, 0.0, (double)NAN};
  static data_set_t rate_set = {"pidio_rate", 1, &rate_ds};
  static data_set_t delay_set = {"pidio_delay", 1, &rate_ds};
  if (plugin_register_data_set(&rate_set) != 0 ||
      plugin_register_data_set(&delay_set) != 0) {
    ERROR(PIDIO_PLUGIN ": cannot register the types \"pidio_rate\" and "
                       "\"pidio_delay\"");
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
  if (groups_clash())
    return -1;

  char why[512];
  enum pidio_reader_kind want = plugin_opts.reader;
  unsigned needs = 0;
  for (const pidio_ctx_t *c = pending; c != NULL; c = c->next)
    needs |= pidio_opts_kernel_needs(&c->opts);
  pidio_reader_set_logger(libbpf_log, NULL);
  rc = pidio_reader_open(&reader, want, plugin_opts.ring_bytes, needs, &proc,
                         why, sizeof(why));
  if (rc != 0) {
    ERROR(PIDIO_PLUGIN ": Reader \"bpf\": not starting: %s", why);
    return -1;
  }
  if (want == PIDIO_READER_AUTO && !pidio_reader_is_bpf(reader))
    NOTICE(PIDIO_PLUGIN ": Reader \"auto\": reading /proc/<pid>/io, "
                        "because %s",
           why);
  else if (want != PIDIO_READER_PROCFS)
    INFO(PIDIO_PLUGIN ": Reader \"%s\": each process's own I/O and every "
                      "exit, from the kernel (BPF)",
         want == PIDIO_READER_AUTO ? "auto" : "bpf");
  if (pidio_reader_is_bpf(reader) && !delayacct_on())
    NOTICE(PIDIO_PLUGIN ": kernel.task_delayacct is off: pidio_delay-blkio "
                        "stays 0. Switch it on with \"sysctl "
                        "kernel.task_delayacct=1\"; only processes started "
                        "after that have figures");

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
    pidio_perproc_init(&ctx->perproc, ctx->opts.max_processes,
                       w >= 2 ? (unsigned)w : 0);
    pidio_block_init(&ctx->blk, &proc, &ctx->opts.sel);
    if (pidio_reader_attach(reader, &ctx->blk) != 0) {
      ERROR(PIDIO_PLUGIN ": <Process \"%s\">: out of memory", ctx->name);
      free_ctx(ctx);
      continue;
    }
    if (ctx->opts.groups.by) {
      pidio_groups_conf_t gc;
      pidio_groups_conf_of(&ctx->opts.groups, ctx->name,
                           w >= 2 ? (unsigned)w : 0, &gc);
      if (pidio_block_group_by(&ctx->blk, ctx->opts.groups.key, &gc) != 0) {
        ERROR(PIDIO_PLUGIN ": <Process \"%s\">: out of memory", ctx->name);
        free_ctx(ctx);
        continue;
      }
    }

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
  /* The blocks were detached from it by their free_ctx. */
  pidio_reader_close(reader);
  reader = NULL;
  pidio_proc_close(&proc);
  free(proc_root);
  proc_root = NULL;
  default_window = 0;
  pidio_opts_free(&plugin_opts);
  pidio_opts_init(&plugin_opts);
  config_failed = false;
  return 0;
}

void module_register(void);
void module_register(void) {
  plugin_register_complex_config(PIDIO_PLUGIN, pidio_config);
  plugin_register_init(PIDIO_PLUGIN, pidio_init);
  plugin_register_shutdown(PIDIO_PLUGIN, pidio_shutdown);
}
