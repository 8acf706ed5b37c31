/*
 * pidio_options: the option table. See pidio_options.h.
 */
#include "pidio_build.h"

#include "pidio_options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* --- setters ------------------------------------------------------------- */

static int set_pid(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                   size_t errsz) {
  return pidio_select_set_pid(&o->sel, a->num, err, errsz);
}

static int set_pidfile(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                       size_t errsz) {
  return pidio_select_set_pidfile(&o->sel, a->s, err, errsz);
}

static int set_name(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                    size_t errsz) {
  return pidio_select_set_name(&o->sel, a->s, err, errsz);
}

static int set_cmdline(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                       size_t errsz) {
  return pidio_select_set_cmdline(&o->sel, a->s, err, errsz);
}

static int set_exe(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                   size_t errsz) {
  return pidio_select_set_exe(&o->sel, a->s, err, errsz);
}

static int set_user(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                    size_t errsz) {
  if (a->kind == PIDIO_ARG_NUMBER)
    return pidio_select_set_uid(&o->sel, a->num, err, errsz);
  return pidio_select_set_user(&o->sel, a->s, err, errsz);
}

static int set_cgroup(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                      size_t errsz) {
  return pidio_select_set_cgroup(&o->sel, a->s, err, errsz);
}

static int set_children(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                        size_t errsz) {
  (void)err, (void)errsz;
  pidio_select_set_children(&o->sel, a->on);
  return 0;
}

static int set_per_process(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                           size_t errsz) {
  (void)err, (void)errsz;
  o->per_process = a->on;
  return 0;
}

static int set_max_processes(pidio_opts_t *o, const pidio_optarg_t *a,
                             char *err, size_t errsz) {
  (void)err, (void)errsz;
  o->max_processes = (unsigned)a->num; /* within the entry's bounds */
  return 0;
}

static int set_reader(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                      size_t errsz) {
  if (strcasecmp(a->s, "procfs") == 0)
    o->reader = PIDIO_READER_PROCFS;
  else if (strcasecmp(a->s, "bpf") == 0)
    o->reader = PIDIO_READER_BPF;
  else if (strcasecmp(a->s, "auto") == 0)
    o->reader = PIDIO_READER_AUTO;
  else {
    snprintf(err, errsz, "is \"procfs\", \"bpf\" or \"auto\", not \"%s\"",
             a->s);
    return -EINVAL;
  }
  return 0;
}

static int set_ring_size(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                         size_t errsz) {
  size_t n = (size_t)a->num; /* within the entry's bounds */
  if ((n & (n - 1)) != 0) {
    snprintf(err, errsz, "needs a power of two (4096, 8192, ... 1073741824)");
    return -EINVAL;
  }
  o->ring_bytes = n;
  return 0;
}

static int set_all(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                   size_t errsz) {
  return pidio_select_set_all(&o->sel, a->on, err, errsz);
}

static int set_group_by(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                        size_t errsz) {
  return pidio_groups_set_by(&o->groups, a->s, err, errsz);
}

static int set_max_groups(pidio_opts_t *o, const pidio_optarg_t *a,
                          char *err, size_t errsz) {
  return pidio_groups_set_max(&o->groups, a->num, err, errsz);
}

static int set_rank_by(pidio_opts_t *o, const pidio_optarg_t *a, char *err,
                       size_t errsz) {
  return pidio_groups_set_rank(&o->groups, a->s, err, errsz);
}

/* --- the table ----------------------------------------------------------- */

/* The order is the order of the manual pages and of --help. Unset
 * fields: scope PIDIO_SCOPE_BLOCK, given at most once, no bounds. */
const pidio_opt_t pidio_opts_table[] = {
    {.name = "Pid",
     .longopt = "pid",
     .metavar = "N",
     .arg = PIDIO_ARG_NUMBER,
     .selector = true,
     .selection = true,
     .set = set_pid,
     .help = "the process with id N"},
    {.name = "PidFile",
     .longopt = "pidfile",
     .metavar = "PATH",
     .arg = PIDIO_ARG_FILE,
     .selector = true,
     .selection = true,
     .set = set_pidfile,
     .help = "the process whose id PATH holds (read every interval)"},
    {.name = "Name",
     .longopt = "name",
     .metavar = "COMM",
     .arg = PIDIO_ARG_STRING,
     .selector = true,
     .selection = true,
     .set = set_name,
     .help = "processes named COMM (exactly, as in /proc/<pid>/comm: at "
             "most 15 characters)"},
    {.name = "CommandLine",
     .longopt = "cmdline",
     .metavar = "REGEX",
     .arg = PIDIO_ARG_STRING,
     .selector = true,
     .selection = true,
     .set = set_cmdline,
     .help = "processes whose command line, arguments joined by spaces, "
             "matches this POSIX extended regex"},
    {.name = "Exe",
     .longopt = "exe",
     .metavar = "PATH",
     .arg = PIDIO_ARG_STRING,
     .selector = true,
     .selection = true,
     .set = set_exe,
     .help = "processes running the program PATH (absolute)"},
    {.name = "User",
     .longopt = "user",
     .metavar = "USER",
     .arg = PIDIO_ARG_USER,
     .selector = true,
     .selection = true,
     .set = set_user,
     .help = "processes of USER (a name or a uid; the real uid)"},
    {.name = "Cgroup",
     .longopt = "cgroup",
     .metavar = "PATH",
     .arg = PIDIO_ARG_STRING,
     .selector = true,
     .selection = true,
     .set = set_cgroup,
     .help = "processes in the cgroup v2 PATH (from the root, like "
             "/system.slice/nginx.service) or below it"},
    {.name = "All",
     .longopt = "all",
     .arg = PIDIO_ARG_FLAG,
     .selector = true,
     .selection = true,
     .set = set_all,
     .help = "every process (but kernel threads); All false is refused"},
    {.name = "Children",
     .longopt = "children",
     .arg = PIDIO_ARG_FLAG,
     .selection = true,
     .set = set_children,
     .help = "also every descendant of a matching process"},
    {.name = "PerProcess",
     .longopt = "per-process",
     .arg = PIDIO_ARG_FLAG,
     .set = set_per_process,
     .help = "also the figures of each matched process, with its pid (and "
             "comm), for up to 100 of them by default"},
    {.name = "MaxProcesses",
     .longopt = "max-processes",
     .metavar = "N",
     .arg = PIDIO_ARG_NUMBER,
     .min = 1,
     .max = 100000,
     .set = set_max_processes,
     .help = "at most N processes get figures of their own (1 to 100000, "
             "default 100)"},
    {.name = "Reader",
     .longopt = "reader",
     .metavar = "KIND",
     .arg = PIDIO_ARG_STRING,
     .scope = PIDIO_SCOPE_PLUGIN,
     .set = set_reader,
     .help = "procfs (default): /proc/<pid>/io; bpf: each process's own I/O "
             "and every exit, from the kernel (or refuse to start); auto: "
             "bpf where it loads, else procfs"},
    {.name = "RingSize",
     .longopt = "ring-size",
     .metavar = "BYTES",
     .arg = PIDIO_ARG_NUMBER,
     .scope = PIDIO_SCOPE_PLUGIN,
     .min = 4096,
     .max = 1073741824,
     .set = set_ring_size,
     .help = "the BPF reader's ring buffer of exit records: a power of two "
             "from 4096 to 1073741824 bytes (default 4194304, about 13000 "
             "exits)"},
    {.name = "GroupBy",
     .longopt = "group-by",
     .metavar = "KEY",
     .arg = PIDIO_ARG_STRING,
     .set = set_group_by,
     .help = "also the figures of each group of processes with the same "
             "KEY: comm, exe, user, cgroup or unit"},
    {.name = "MaxGroups",
     .longopt = "top",
     .metavar = "N",
     .arg = PIDIO_ARG_NUMBER,
     .min = 1,
     .max = PIDIO_GROUPS_MAX,
     .set = set_max_groups,
     .help = "at most N groups get figures of their own, the busiest; the "
             "others are summed as \"other\" (1 to 1000)"},
    {.name = "RankBy",
     .longopt = "sort",
     .metavar = "FIELD",
     .arg = PIDIO_ARG_STRING,
     .set = set_rank_by,
     .help = "rank groups by FIELD over the window: bytes (read_bytes + "
             "write_bytes, the default) or a counter"},
};
const size_t pidio_opts_count =
    sizeof(pidio_opts_table) / sizeof(pidio_opts_table[0]);

_Static_assert(sizeof(pidio_opts_table) / sizeof(pidio_opts_table[0]) <=
                   PIDIO_OPTS_MAX,
               "pidio_opts_t.seen has one bit per option");

void pidio_opts_init(pidio_opts_t *o) {
  *o = (pidio_opts_t){.max_processes = PIDIO_MAX_PROCESSES_DEFAULT};
  pidio_select_init(&o->sel);
  pidio_groups_opts_init(&o->groups);
}

void pidio_opts_free(pidio_opts_t *o) {
  pidio_select_free(&o->sel);
  *o = (pidio_opts_t){0};
}

const pidio_opt_t *pidio_opts_find(const char *key, enum pidio_optscope scope) {
  for (size_t i = 0; i < pidio_opts_count; i++)
    if (pidio_opts_table[i].scope == scope &&
        strcasecmp(pidio_opts_table[i].name, key) == 0)
      return &pidio_opts_table[i];
  return NULL;
}

static const char *kind_text(enum pidio_argkind k) {
  switch (k) {
  case PIDIO_ARG_FLAG:
    return "takes exactly one boolean argument (true or false)";
  case PIDIO_ARG_NUMBER:
    return "takes exactly one number argument";
  case PIDIO_ARG_USER:
    return "takes exactly one string argument (a user name) or a number "
           "(a uid)";
  default:
    return "takes exactly one string argument";
  }
}

const char *pidio_opts_takes(const pidio_opt_t *opt) {
  return kind_text(opt->arg);
}

static bool kind_fits(enum pidio_argkind want, enum pidio_argkind given) {
  if (want == PIDIO_ARG_USER)
    return given == PIDIO_ARG_STRING || given == PIDIO_ARG_NUMBER ||
           given == PIDIO_ARG_USER;
  if (want == PIDIO_ARG_FILE)
    return given == PIDIO_ARG_STRING || given == PIDIO_ARG_FILE;
  return want == given;
}

int pidio_opts_apply(pidio_opts_t *o, const pidio_opt_t *opt,
                     const pidio_optarg_t *a, char *err, size_t errsz) {
  uint64_t bit = UINT64_C(1) << (size_t)(opt - pidio_opts_table);
  if (!kind_fits(opt->arg, a->kind)) {
    snprintf(err, errsz, "%s", kind_text(opt->arg));
    return -EINVAL;
  }
  if ((o->seen & bit) && !opt->repeat) {
    snprintf(err, errsz, "given twice; each option is taken once");
    return -EINVAL;
  }
  if (opt->arg == PIDIO_ARG_NUMBER && opt->min < opt->max &&
      (!(a->num >= opt->min && a->num <= opt->max) ||
       a->num != floor(a->num))) {
    snprintf(err, errsz, "needs a whole number from %.0f to %.0f", opt->min,
             opt->max);
    return -EINVAL;
  }
  int rc = opt->set(o, a, err, errsz);
  if (rc == 0)
    o->seen |= bit;
  return rc;
}

const char *pidio_opts_names(enum pidio_optscope scope, bool selectors_only,
                             bool longopts, char *buf, size_t bufsz) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < pidio_opts_count; i++) {
    const pidio_opt_t *opt = &pidio_opts_table[i];
    if (opt->scope != scope || (selectors_only && !opt->selector))
      continue;
    int n = snprintf(buf + len, bufsz - len, "%s%s%s", len ? ", " : "",
                     longopts ? "--" : "", longopts ? opt->longopt : opt->name);
    if (n < 0 || (size_t)n >= bufsz - len)
      break;
    len += (size_t)n;
  }
  return buf;
}

/* An option's name as the front end spells it. */
static const char *spelled(const char *name, bool longopts, char *buf,
                           size_t bufsz) {
  const pidio_opt_t *opt = pidio_opts_find(name, PIDIO_SCOPE_BLOCK);
  if (opt == NULL || !longopts)
    return name;
  snprintf(buf, bufsz, "--%s", opt->longopt);
  return buf;
}

unsigned pidio_opts_kernel_needs(const pidio_opts_t *o) {
  unsigned needs = 0;
  if (o->sel.cgroup != NULL ||
      (o->groups.by && (o->groups.key == PIDIO_GROUP_CGROUP ||
                        o->groups.key == PIDIO_GROUP_UNIT)))
    needs |= PIDIO_NEED_CGROUP;
  if (o->sel.exe != NULL || o->sel.cmdline != NULL ||
      (o->groups.by && o->groups.key == PIDIO_GROUP_EXE))
    needs |= PIDIO_NEED_EXEC;
  return needs;
}

int pidio_opts_check(const pidio_opts_t *o, bool longopts, char *err,
                     size_t errsz) {
  char names[512], a[32], b[32];
  if (pidio_select_check(&o->sel, names, sizeof(names)) != 0) {
    snprintf(err, errsz, "selects nothing: give at least one of %s",
             pidio_opts_names(PIDIO_SCOPE_BLOCK, true, longopts, names,
                              sizeof(names)));
    return -EINVAL;
  }
  if (!o->groups.by && (o->groups.max_groups != 0 || o->groups.rank >= 0)) {
    snprintf(err, errsz, "%s needs %s: without groups there is nothing to "
                         "rank or cap",
             spelled(o->groups.max_groups != 0 ? "MaxGroups" : "RankBy",
                     longopts, a, sizeof(a)),
             spelled("GroupBy", longopts, b, sizeof(b)));
    return -EINVAL;
  }
  if (o->groups.by && o->per_process) {
    snprintf(err, errsz,
             "takes %s or %s, not both: use two blocks, one with each",
             spelled("PerProcess", longopts, a, sizeof(a)),
             spelled("GroupBy", longopts, b, sizeof(b)));
    return -EINVAL;
  }
  return 0;
}
