/*
 * pidio_options: the options a block takes, declared once for both front
 * ends.
 *
 * Each entry names the option twice (as <Process> takes it in the plugin's
 * configuration, and as pidio-stream's long option), says what argument it
 * takes, how to set it, its bounds, whether it may be given twice, and
 * what it does in one line. The plugin converts collectd's configuration
 * values and pidio-stream converts its command line to a pidio_optarg_t,
 * and both hand it to pidio_opts_apply: validation, "given twice" and the
 * messages are the same in both. An option added here appears in both
 * front ends (and a unit test checks that both manual pages and the
 * stream's --help describe it).
 *
 * Options whose meaning differs between the front ends (the plugin's
 * Interval is in seconds and its Window refuses 1; the stream's --interval
 * is in milliseconds and its --window 1 is the last interval) stay with
 * their front end.
 */
#ifndef PIDIO_OPTIONS_H
#define PIDIO_OPTIONS_H

#include "pidio_groups.h"
#include "pidio_select.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PIDIO_MAX_PROCESSES_DEFAULT 100
/* At most this many options in the table (pidio_opts_t.seen has a bit
 * for each). */
#define PIDIO_OPTS_MAX 64

/* What an option takes. */
enum pidio_argkind {
  PIDIO_ARG_FLAG,   /* true or false; the stream's option takes none: true */
  PIDIO_ARG_NUMBER, /* a number; the stream takes decimal digits only */
  PIDIO_ARG_STRING,
  PIDIO_ARG_FILE, /* a file name; the stream makes a relative one absolute
                     from its working directory (collectd's is not the
                     user's: the plugin passes it on as written) */
  PIDIO_ARG_USER, /* a user name, or a number (uid) */
};

/* Where an option is given in the plugin's configuration. The stream has
 * no blocks: every option is its own. */
enum pidio_optscope {
  PIDIO_SCOPE_BLOCK = 0, /* inside <Process "NAME"> */
  PIDIO_SCOPE_PLUGIN,    /* directly in <Plugin pidio> */
};

/* Everything the table's options set: a block's selection and settings
 * (and, for options of PIDIO_SCOPE_PLUGIN, the plugin's own). */
/* Reader: how the counters are read. */
enum pidio_reader_kind {
  PIDIO_READER_PROCFS = 0, /* /proc/<pid>/io (the default) */
  PIDIO_READER_AUTO,       /* the BPF reader where it loads, else procfs */
  PIDIO_READER_BPF,        /* the BPF reader, or refuse to start */
};

typedef struct pidio_opts {
  pidio_select_t sel;
  enum pidio_reader_kind reader; /* Reader (PIDIO_SCOPE_PLUGIN) */
  size_t ring_bytes;              /* RingSize (PIDIO_SCOPE_PLUGIN); 0: default */
  bool per_process;
  unsigned max_processes;
  pidio_groups_opts_t groups; /* GroupBy, MaxGroups, RankBy */
  uint64_t seen; /* bit i: option i of the table was given */
} pidio_opts_t;

/* One option's argument as a front end found it. kind is what was given:
 * the plugin gives NUMBER, STRING or FLAG as collectd parsed the value; the
 * stream gives the kind the option takes (a NUMBER that is not decimal
 * digits as NAN, which every bound refuses). */
typedef struct pidio_optarg {
  enum pidio_argkind kind;
  const char *s; /* STRING, FILE, USER */
  double num;    /* NUMBER */
  bool on;       /* FLAG */
} pidio_optarg_t;

typedef struct pidio_opt {
  const char *name;    /* as in the plugin's configuration: "PidFile" */
  const char *longopt; /* pidio-stream's long option: "pidfile" */
  const char *metavar; /* the argument in help texts: "PATH" (NULL: flag) */
  enum pidio_argkind arg;
  enum pidio_optscope scope;
  bool selector;   /* counts as a selector: a block needs one of them */
  bool selection;  /* says which processes are taken (the selectors and
                      Children): pidio-stream names them in its messages
                      and its influx tag */
  bool repeat;     /* may be given more than once (the last one counts);
                      otherwise a second one is refused */
  double min, max; /* bounds of a NUMBER handled by pidio_opts_apply itself */
  /* Set the option from a checked argument, or write the reason it is
   * refused (without option or block name) into err. NULL: a number within
   * [min, max] stored by the entry's own rule (see pidio_options.c). */
  int (*set)(pidio_opts_t *o, const pidio_optarg_t *a, char *err, size_t errsz);
  const char *help; /* one line: what it selects or does */
} pidio_opt_t;

extern const pidio_opt_t pidio_opts_table[];
extern const size_t pidio_opts_count;

void pidio_opts_init(pidio_opts_t *o);
void pidio_opts_free(pidio_opts_t *o);

/* What the BPF reader must keep of every process, at its exec or its
 * exit, for a block with these options to select and group a process it
 * knows only from its exit record. Each costs the kernel side work at
 * every exec or exit of the machine, so it is kept only when a block
 * asks: */
/* The cgroup path: Cgroup, GroupBy cgroup or unit. */
#define PIDIO_NEED_CGROUP 0x1u
/* The program and arguments an exec showed: Exe, CommandLine, GroupBy exe. */
#define PIDIO_NEED_EXEC 0x2u
unsigned pidio_opts_kernel_needs(const pidio_opts_t *o);

/* The entry named key (case-insensitive, as collectd's keys are) in the
 * given scope, or NULL. */
const pidio_opt_t *pidio_opts_find(const char *key, enum pidio_optscope scope);

/* Check a's kind against what the option takes, the "given twice" rule,
 * the bounds, and set it. 0, or -EINVAL/-ENOMEM with the reason in err. */
int pidio_opts_apply(pidio_opts_t *o, const pidio_opt_t *opt,
                     const pidio_optarg_t *a, char *err, size_t errsz);

/* What the option takes, as a phrase: "takes exactly one number argument". */
const char *pidio_opts_takes(const pidio_opt_t *opt);

/* A block needs at least one selector: 0, or -EINVAL with a message that
 * names them (as options of the plugin, or long options of the stream).
 * MaxGroups and RankBy need GroupBy; PerProcess and GroupBy are not taken
 * together (a group's series and a process's would share the plugin
 * instance "<block>-<...>": a user without a name is a number). */
int pidio_opts_check(const pidio_opts_t *o, bool longopts, char *err,
                     size_t errsz);

/* The names of the table's options of a scope, joined by ", " (for "takes
 * ..." messages); selectors only when selectors_only. Returns buf. */
const char *pidio_opts_names(enum pidio_optscope scope, bool selectors_only,
                             bool longopts, char *buf, size_t bufsz);

#endif /* PIDIO_OPTIONS_H */
