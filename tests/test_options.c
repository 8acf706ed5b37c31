/*
 * Tests of pidio_options: the table is well formed, every entry is
 * documented where users look (collectd-pidio(5), pidio-stream(1), the
 * stream's --help), and the table's own rules (argument kind, bounds,
 * "given twice") hold.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

START_TEST(t_table_well_formed) {
  for (size_t i = 0; i < pidio_opts_count; i++) {
    const pidio_opt_t *o = &pidio_opts_table[i];
    ck_assert_msg(o->name && o->longopt && o->help && o->set, "entry %zu", i);
    ck_assert_msg((o->metavar == NULL) == (o->arg == PIDIO_ARG_FLAG),
                  "%s: a flag and only a flag has no metavar", o->name);
    ck_assert_msg(!o->selector || o->scope == PIDIO_SCOPE_BLOCK,
                  "%s: a selector belongs to a block", o->name);
    ck_assert_ptr_eq(pidio_opts_find(o->name, o->scope), o);
    for (size_t j = 0; j < i; j++) {
      ck_assert_msg(strcasecmp(o->name, pidio_opts_table[j].name) != 0,
                    "%s given twice", o->name);
      ck_assert_msg(strcmp(o->longopt, pidio_opts_table[j].longopt) != 0,
                    "--%s given twice", o->longopt);
    }
  }
}
END_TEST

/* The man page has a tagged paragraph whose tag starts with word. */
static bool man_has(const char *rel, const char *word) {
  FILE *f = fopen(fixture_path(rel), "r");
  ck_assert_msg(f != NULL, "cannot open %s", fixture_path(rel));
  char line[1024];
  bool found = false;
  size_t n = strlen(word);
  while (!found && fgets(line, sizeof(line), f) != NULL) {
    const char *p = line;
    if (strncmp(p, ".BI ", 4) == 0)
      p += 4;
    else if (strncmp(p, ".B ", 3) == 0)
      p += 3;
    else
      continue;
    if (*p == '"')
      p++;
    found = strncmp(p, word, n) == 0 && strchr(" \"\\\n", p[n]) != NULL;
  }
  fclose(f);
  return found;
}

START_TEST(t_documented_in_man_pages) {
  for (size_t i = 0; i < pidio_opts_count; i++) {
    const pidio_opt_t *o = &pidio_opts_table[i];
    ck_assert_msg(man_has("../doc/collectd-pidio.5", o->name),
                  "%s is not described in doc/collectd-pidio.5", o->name);
    char roff[128] = "\\-\\-";
    for (const char *p = o->longopt; *p; p++)
      strncat(roff, *p == '-' ? "\\-" : (char[]){*p, '\0'},
              sizeof(roff) - strlen(roff) - 1);
    ck_assert_msg(man_has("../doc/pidio-stream.1", roff),
                  "--%s is not described in doc/pidio-stream.1 (as %s)",
                  o->longopt, roff);
  }
}
END_TEST

START_TEST(t_documented_in_help) {
  const char *dir = getenv("PIDIO_BUILDDIR");
  char cmd[4096];
  snprintf(cmd, sizeof(cmd), "'%s/pidio-stream' --help",
           dir != NULL ? dir : ".");
  FILE *p = popen(cmd, "r");
  ck_assert(p != NULL);
  static char help[16384];
  size_t n = fread(help, 1, sizeof(help) - 1, p);
  help[n] = '\0';
  ck_assert_msg(pclose(p) == 0, "%s failed", cmd);
  for (size_t i = 0; i < pidio_opts_count; i++) {
    const pidio_opt_t *o = &pidio_opts_table[i];
    char want[128];
    snprintf(want, sizeof(want), "  --%s%s%s ", o->longopt,
             o->metavar ? " " : "", o->metavar ? o->metavar : "");
    ck_assert_msg(strstr(help, want) != NULL, "--help lacks \"%s\"", want);
  }
}
END_TEST

/* All, GroupBy, MaxGroups and RankBy through the table: the rules of
 * both front ends. */
START_TEST(t_group_options) {
  pidio_opts_t o;
  char err[256];
  const pidio_opt_t *all = pidio_opts_find("all", PIDIO_SCOPE_BLOCK);
  const pidio_opt_t *by = pidio_opts_find("GroupBy", PIDIO_SCOPE_BLOCK);
  const pidio_opt_t *max = pidio_opts_find("MaxGroups", PIDIO_SCOPE_BLOCK);
  const pidio_opt_t *rank = pidio_opts_find("RankBy", PIDIO_SCOPE_BLOCK);
  const pidio_opt_t *pp = pidio_opts_find("PerProcess", PIDIO_SCOPE_BLOCK);
  ck_assert(all && by && max && rank && pp);
  ck_assert_str_eq(max->longopt, "top");
  ck_assert_str_eq(rank->longopt, "sort");
  pidio_optarg_t yes = {.kind = PIDIO_ARG_FLAG, .on = true};
  pidio_optarg_t no = {.kind = PIDIO_ARG_FLAG, .on = false};

  pidio_opts_init(&o);
  ck_assert_int_eq(pidio_opts_apply(&o, all, &no, err, sizeof(err)), -EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "All false would select nothing"));
  ck_assert_int_eq(pidio_opts_apply(&o, all, &yes, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_opts_check(&o, false, err, sizeof(err)), 0);
  pidio_optarg_t key = {.kind = PIDIO_ARG_STRING, .s = "comm"};
  pidio_optarg_t bad = {.kind = PIDIO_ARG_STRING, .s = "pid"};
  ck_assert_int_eq(pidio_opts_apply(&o, by, &bad, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "unknown key \"pid\": use comm, exe, user, cgroup "
                        "or unit");
  ck_assert_int_eq(pidio_opts_apply(&o, by, &key, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_opts_apply(&o, by, &key, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "given twice; each option is taken once");
  pidio_optarg_t zero = {.kind = PIDIO_ARG_NUMBER, .num = 0};
  ck_assert_int_eq(pidio_opts_apply(&o, max, &zero, err, sizeof(err)),
                   -EINVAL);
  ck_assert_str_eq(err, "needs a whole number from 1 to 1000");
  pidio_optarg_t five = {.kind = PIDIO_ARG_NUMBER, .num = 5};
  ck_assert_int_eq(pidio_opts_apply(&o, max, &five, err, sizeof(err)), 0);
  pidio_optarg_t field = {.kind = PIDIO_ARG_STRING, .s = "wchar"};
  ck_assert_int_eq(pidio_opts_apply(&o, rank, &bad, err, sizeof(err)),
                   -EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "unknown field \"pid\""));
  ck_assert_int_eq(pidio_opts_apply(&o, rank, &field, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_opts_check(&o, false, err, sizeof(err)), 0);
  ck_assert(o.groups.by && o.groups.key == PIDIO_GROUP_COMM);
  ck_assert_uint_eq(o.groups.max_groups, 5);
  ck_assert_int_eq(o.groups.rank, PIDIO_WCHAR);
  /* PerProcess and GroupBy: refused together. */
  ck_assert_int_eq(pidio_opts_apply(&o, pp, &yes, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_opts_check(&o, false, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "takes PerProcess or GroupBy, not both: use two "
                        "blocks, one with each");
  ck_assert_int_eq(pidio_opts_check(&o, true, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "takes --per-process or --group-by, not both: use "
                        "two blocks, one with each");
  pidio_opts_free(&o);

  /* MaxGroups or RankBy without GroupBy. */
  pidio_opts_init(&o);
  ck_assert_int_eq(pidio_opts_apply(&o, all, &yes, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_opts_apply(&o, max, &five, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_opts_check(&o, false, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "MaxGroups needs GroupBy: without groups there is "
                        "nothing to rank or cap");
  pidio_opts_free(&o);
  pidio_opts_init(&o);
  ck_assert_int_eq(pidio_opts_apply(&o, all, &yes, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_opts_apply(&o, rank, &field, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_opts_check(&o, true, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "--sort needs --group-by: without groups there is "
                        "nothing to rank or cap");
  pidio_opts_free(&o);
}
END_TEST

START_TEST(t_apply_rules) {
  pidio_opts_t o;
  pidio_opts_init(&o);
  char err[256];
  const pidio_opt_t *pid = pidio_opts_find("pid", PIDIO_SCOPE_BLOCK);
  const pidio_opt_t *max = pidio_opts_find("MAXPROCESSES", PIDIO_SCOPE_BLOCK);
  const pidio_opt_t *children = pidio_opts_find("Children", PIDIO_SCOPE_BLOCK);
  const pidio_opt_t *user = pidio_opts_find("User", PIDIO_SCOPE_BLOCK);
  ck_assert(pid && max && children && user);
  ck_assert(pidio_opts_find("Window", PIDIO_SCOPE_BLOCK) == NULL);

  /* The kind first. */
  pidio_optarg_t s = {.kind = PIDIO_ARG_STRING, .s = "12"};
  ck_assert_int_eq(pidio_opts_apply(&o, pid, &s, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "takes exactly one number argument");
  pidio_optarg_t yes = {.kind = PIDIO_ARG_FLAG, .on = true};
  ck_assert_int_eq(pidio_opts_apply(&o, max, &yes, err, sizeof(err)), -EINVAL);
  /* Bounds of a number the table checks itself. */
  pidio_optarg_t num = {.kind = PIDIO_ARG_NUMBER, .num = 0};
  ck_assert_int_eq(pidio_opts_apply(&o, max, &num, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "needs a whole number from 1 to 100000");
  num.num = 2.5;
  ck_assert_int_eq(pidio_opts_apply(&o, max, &num, err, sizeof(err)), -EINVAL);
  num.num = 100001;
  ck_assert_int_eq(pidio_opts_apply(&o, max, &num, err, sizeof(err)), -EINVAL);
  ck_assert_uint_eq(o.max_processes, PIDIO_MAX_PROCESSES_DEFAULT);
  num.num = 7;
  ck_assert_int_eq(pidio_opts_apply(&o, max, &num, err, sizeof(err)), 0);
  ck_assert_uint_eq(o.max_processes, 7);
  /* Given twice: refused the same way for every option. */
  ck_assert_int_eq(pidio_opts_apply(&o, max, &num, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "given twice; each option is taken once");
  ck_assert_int_eq(pidio_opts_apply(&o, children, &yes, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_opts_apply(&o, children, &yes, err, sizeof(err)),
                   -EINVAL);
  ck_assert_str_eq(err, "given twice; each option is taken once");
  /* A user by name or by number. */
  num.num = 0;
  ck_assert_int_eq(pidio_opts_apply(&o, user, &num, err, sizeof(err)), 0);
  ck_assert_str_eq(o.sel.user, "0");

  /* A block needs a selector; the message names them all. */
  pidio_opts_t none;
  pidio_opts_init(&none);
  ck_assert_int_eq(pidio_opts_check(&none, true, err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "selects nothing: give at least one of --pid, "
                        "--pidfile, --name, --cmdline, --exe, --user, "
                        "--cgroup, --all");
  ck_assert_int_eq(pidio_opts_check(&o, false, err, sizeof(err)), 0);
  pidio_opts_free(&none);
  pidio_opts_free(&o);
}
END_TEST

/* What each block asks the BPF reader to keep at exec and exit: only the
 * options that read a process's cgroup or its exec identity. */
static unsigned needs_of(const char *const *kv) {
  pidio_opts_t o;
  char err[256];
  pidio_opts_init(&o);
  for (; kv[0] != NULL; kv += 2) {
    const pidio_opt_t *opt = pidio_opts_find(kv[0], PIDIO_SCOPE_BLOCK);
    ck_assert_msg(opt != NULL, "%s", kv[0]);
    pidio_optarg_t a = {.kind = PIDIO_ARG_STRING, .s = kv[1]};
    if (kv[1] == NULL)
      a = (pidio_optarg_t){.kind = PIDIO_ARG_FLAG, .on = true};
    ck_assert_msg(pidio_opts_apply(&o, opt, &a, err, sizeof(err)) == 0,
                  "%s: %s", kv[0], err);
  }
  unsigned n = pidio_opts_kernel_needs(&o);
  pidio_opts_free(&o);
  return n;
}

START_TEST(t_kernel_needs) {
  const unsigned C = PIDIO_NEED_CGROUP, X = PIDIO_NEED_EXEC;
  ck_assert_uint_eq(needs_of((const char *[]){"Name", "nginx", NULL}), 0);
  ck_assert_uint_eq(
      needs_of((const char *[]){"User", "root", "Children", NULL, NULL}), 0);
  ck_assert_uint_eq(
      needs_of((const char *[]){"All", NULL, "GroupBy", "comm", NULL}), 0);
  ck_assert_uint_eq(
      needs_of((const char *[]){"All", NULL, "GroupBy", "user", NULL}), 0);
  ck_assert_uint_eq(needs_of((const char *[]){"Cgroup", "/a.slice", NULL}),
                    C);
  ck_assert_uint_eq(
      needs_of((const char *[]){"All", NULL, "GroupBy", "cgroup", NULL}), C);
  ck_assert_uint_eq(
      needs_of((const char *[]){"All", NULL, "GroupBy", "unit", NULL}), C);
  ck_assert_uint_eq(needs_of((const char *[]){"Exe", "/usr/bin/dd", NULL}),
                    X);
  ck_assert_uint_eq(
      needs_of((const char *[]){"CommandLine", "^dd ", NULL}), X);
  ck_assert_uint_eq(
      needs_of((const char *[]){"All", NULL, "GroupBy", "exe", NULL}), X);
  ck_assert_uint_eq(needs_of((const char *[]){"Exe", "/usr/bin/dd", "Cgroup",
                                              "/a.slice", NULL}),
                    C | X);
}
END_TEST

Suite *make_options_suite(void) {
  Suite *s = suite_create("options");
  TCase *tc = tcase_create("table");
  tcase_add_test(tc, t_table_well_formed);
  tcase_add_test(tc, t_documented_in_man_pages);
  tcase_add_test(tc, t_documented_in_help);
  tcase_add_test(tc, t_apply_rules);
  tcase_add_test(tc, t_group_options);
  tcase_add_test(tc, t_kernel_needs);
  suite_add_tcase(s, tc);
  return s;
}
