/*
 * Tests of pidio_trouble: the classifier on hand-made reports, then on
 * reports that pidio_block_update produced from a procfs tree built here
 * with every kind of trouble (EACCES, EMFILE, a garbled io file, a missing
 * pidfile, no cgroup v2 line), and the plugin's rendering of the same tree:
 * the same causes with the same counts. tests/stream.py renders the same
 * tree with pidio-stream.
 */
#include "pidio_build.h"

#include "collectd_stub.h"

#include "unit.h"

#include "pidio_block.h"
#include "pidio_fdbudget.h"
#include "pidio_proc.h"
#include "pidio_trouble.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* === the classifier alone ================================================ */

START_TEST(t_classify_counts) {
  pidio_report_t r = {.matched = 9,
                      .unreadable = 2,
                      .denied_pid = 11,
                      .undecided = 3,
                      .undecided_pid = 12,
                      .failed = 4,
                      .failed_pid = 13,
                      .failed_err = -EMFILE,
                      .garbled = 5,
                      .garbled_pid = 14,
                      .pidfile_err = -ENOENT,
                      .no_cgroup2_pid = 15};
  pidio_trouble_t t;
  pidio_trouble_classify(&r, 0, &t);
  /* The one definition: denied + undecided + failed, not garbled. */
  ck_assert_uint_eq(t.unreadable, 2 + 3 + 4);
  static const struct {
    enum pidio_trouble_kind k;
    unsigned count;
    pid_t pid;
    int err;
  } want[] = {
      {PIDIO_TROUBLE_DENIED, 2, 11, -EACCES},
      {PIDIO_TROUBLE_UNDECIDED, 3, 12, -EACCES},
      {PIDIO_TROUBLE_FAILED, 4, 13, -EMFILE},
      {PIDIO_TROUBLE_GARBLED, 5, 14, -EINVAL},
      {PIDIO_TROUBLE_PIDFILE, 1, 0, -ENOENT},
      {PIDIO_TROUBLE_LIST, 0, 0, 0},
      {PIDIO_TROUBLE_NO_CGROUP2, 1, 15, -ENOENT},
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    const pidio_cause_t *c = &t.cause[want[i].k];
    ck_assert_msg(c->kind == want[i].k && c->count == want[i].count &&
                      c->pid == want[i].pid && c->err == want[i].err,
                  "%s: count %u pid %d err %d",
                  pidio_trouble_info[c->kind].name, c->count, (int)c->pid,
                  c->err);
  }
  /* Denied and undecided share one warning, about denied first. */
  ck_assert_ptr_eq(pidio_trouble_first(&t, PIDIO_TROUBLE_DENIED),
                   &t.cause[PIDIO_TROUBLE_DENIED]);
  r.unreadable = 0;
  pidio_trouble_classify(&r, 0, &t);
  ck_assert_ptr_eq(pidio_trouble_first(&t, PIDIO_TROUBLE_DENIED),
                   &t.cause[PIDIO_TROUBLE_UNDECIDED]);
  ck_assert_uint_eq(t.unreadable, 3 + 4);
}
END_TEST

START_TEST(t_classify_failed_update) {
  /* Nothing was read: the listing is the one cause, whatever else the
   * report holds. */
  pidio_report_t r = {.pidfile_err = -ENOENT, .list_err = -EACCES};
  pidio_trouble_t t;
  pidio_trouble_classify(&r, -EACCES, &t);
  for (int k = 0; k < PIDIO_TROUBLE_NKINDS; k++)
    ck_assert_uint_eq(t.cause[k].count, k == PIDIO_TROUBLE_LIST ? 1 : 0);
  ck_assert_int_eq(t.cause[PIDIO_TROUBLE_LIST].err, -EACCES);
  ck_assert_uint_eq(t.unreadable, 0);
  /* A failure without list_err (out of memory) is a listing failure too. */
  r = (pidio_report_t){0};
  pidio_trouble_classify(&r, -ENOMEM, &t);
  ck_assert_int_eq(t.cause[PIDIO_TROUBLE_LIST].err, -ENOMEM);
  /* A clean interval has no cause. */
  pidio_trouble_classify(&r, 0, &t);
  for (int k = 0; k < PIDIO_TROUBLE_NKINDS; k++)
    ck_assert(pidio_trouble_first(&t, (enum pidio_trouble_kind)k) == NULL);
}
END_TEST

START_TEST(t_classify_cmdline_cut) {
  /* A command line longer than PIDIO_CMDLINE_MAX: its own cause, told
   * once, and no process is missing from the figures for it. */
  pidio_report_t r = {.matched = 1, .cmdline_cut_pid = 42};
  pidio_trouble_t t;
  pidio_trouble_classify(&r, 0, &t);
  const pidio_cause_t *c = pidio_trouble_first(&t, PIDIO_TROUBLE_CMDLINE_CUT);
  ck_assert_ptr_nonnull(c);
  ck_assert_uint_eq(c->count, 1);
  ck_assert_int_eq(c->pid, 42);
  ck_assert_uint_eq(t.unreadable, 0);
  ck_assert(pidio_trouble_info[PIDIO_TROUBLE_CMDLINE_CUT].once);
  ck_assert_str_eq(pidio_trouble_info[PIDIO_TROUBLE_CMDLINE_CUT].name,
                   "cmdline-cut");
}
END_TEST

/* What pidio_trouble_each handed on, by slot. */
typedef struct walked {
  int calls[PIDIO_TROUBLE_NKINDS];
  const pidio_cause_t *first[PIDIO_TROUBLE_NKINDS];
} walked_t;

static void note_slot(void *arg, enum pidio_trouble_kind slot,
                      const pidio_cause_t *first) {
  walked_t *w = arg;
  w->calls[slot]++;
  w->first[slot] = first;
}

START_TEST(t_each_walk) {
  pidio_report_t r = {
      .matched = 2, .undecided = 1, .undecided_pid = 7, .no_cgroup2_pid = 8};
  pidio_trouble_t t;
  bool told[PIDIO_TROUBLE_NKINDS] = {false};
  walked_t w;
  memset(&w, 0, sizeof(w));
  pidio_trouble_classify(&r, 0, &t);
  pidio_trouble_each(&t, 0, told, note_slot, &w);
  /* Every slot once; undecided under the denied slot; no own call for it. */
  ck_assert_int_eq(w.calls[PIDIO_TROUBLE_DENIED], 1);
  ck_assert_ptr_eq(w.first[PIDIO_TROUBLE_DENIED],
                   &t.cause[PIDIO_TROUBLE_UNDECIDED]);
  ck_assert_int_eq(w.calls[PIDIO_TROUBLE_UNDECIDED], 0);
  ck_assert_int_eq(w.calls[PIDIO_TROUBLE_GARBLED], 1);
  ck_assert_ptr_eq(w.first[PIDIO_TROUBLE_GARBLED], NULL); /* absent */
  ck_assert_int_eq(w.calls[PIDIO_TROUBLE_NO_CGROUP2], 1);
  /* A kind told once is not handed on again, not even as absent. */
  memset(&w, 0, sizeof(w));
  pidio_trouble_each(&t, 0, told, note_slot, &w);
  ck_assert_int_eq(w.calls[PIDIO_TROUBLE_NO_CGROUP2], 0);
  ck_assert_int_eq(w.calls[PIDIO_TROUBLE_DENIED], 1);
  /* A failed update: the listing slot alone. */
  memset(&w, 0, sizeof(w));
  pidio_trouble_classify(&r, -ENOENT, &t);
  pidio_trouble_each(&t, -ENOENT, told, note_slot, &w);
  for (int k = 0; k < PIDIO_TROUBLE_NKINDS; k++)
    ck_assert_int_eq(w.calls[k], k == PIDIO_TROUBLE_LIST);
  ck_assert_int_eq(w.first[PIDIO_TROUBLE_LIST]->err, -ENOENT);
}
END_TEST

/* === a tree with every kind of trouble ===================================
 *
 * proc/100..103, comm "web", started at ticks 1000..1003, cgroup files
 * with a cgroup v1 line only:
 *   100  readable io          101  io that does not parse
 *   102  io of mode 0 (EACCES for a non-root reader)
 *   103  readable io
 * Blocks: A = Name web (4 members: 1 denied, 1 garbled), B = PidFile of a
 * missing file, C = Cgroup /a (no cgroup v2 line: 100 is the first seen).
 * Then A again with no descriptor left to open a member's files (EMFILE):
 * 100, 101 and 103 fail; 102, known to be denied, is only retried and
 * stays denied. */

#define TREE_PIDS 4
static char tree[256]; /* mkdtemp directory; tree/proc is the ProcRoot */

static void put(const char *rel, const char *text, mode_t mode) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", tree, rel);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
  ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
  ck_assert(chmod(path, mode) == 0);
}

static void make_tree(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(tree, sizeof(tree), "%s/pidio-trouble.XXXXXX",
           tmp != NULL && tmp[0] == '/' && strlen(tmp) < 128 ? tmp : "/tmp");
  ck_assert(mkdtemp(tree) != NULL);
  ck_assert(chmod(tree, 0755) == 0); /* the reader may drop to nobody */
  char rel[512], text[512];
  snprintf(rel, sizeof(rel), "%s/proc", tree);
  ck_assert(mkdir(rel, 0755) == 0);
  for (int i = 0; i < TREE_PIDS; i++) {
    int pid = 100 + i;
    snprintf(rel, sizeof(rel), "%s/proc/%d", tree, pid);
    ck_assert(mkdir(rel, 0755) == 0);
    snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
    snprintf(text, sizeof(text),
             "%d (web) S 1 %d %d 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 0 %d "
             "1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 "
             "0 0 0\n",
             pid, pid, pid, 1000 + i);
    put(rel, text, 0644);
    snprintf(rel, sizeof(rel), "proc/%d/cmdline", pid);
    put(rel, "web", 0644);
    snprintf(rel, sizeof(rel), "proc/%d/cgroup", pid);
    put(rel, "1:name=systemd:/a\n", 0644);
    snprintf(rel, sizeof(rel), "proc/%d/io", pid);
    put(rel,
        pid == 101 ? "rchar: 10\nwchar: x\n"
                   : "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\n"
                     "read_bytes: 0\nwrite_bytes: 0\n"
                     "cancelled_write_bytes: 0\n",
        pid == 102 ? 0 : 0644);
  }
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static void remove_tree(void) {
  nftw(tree, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* What the reader (a child that may not read 102's io) saw, for the
 * parent to check. */
typedef struct seen {
  int setup_err; /* 0, or a line number of the child that failed */
  pidio_trouble_t a, b, c, a_emfile;
  unsigned a_matched, a_emfile_matched;
  /* The plugin on the same tree: its count-unreadable, and whether its log
   * has the line of each cause with the classifier's figures. */
  double plug_unreadable, plug_processes, plug_unreadable_emfile;
  bool plug_denied, plug_garbled, plug_pidfile, plug_cgroup, plug_failed;
  size_t plug_warnings, plug_warnings_emfile;
} seen_t;

static size_t warnings(void) {
  size_t n = 0;
  for (size_t i = 0; i < stub_nlog; i++)
    n += stub_log_level[i] == LOG_WARNING;
  return n;
}

static double gauge(const char *inst, const char *ti) {
  const stub_value_t *v = stub_find(inst, "count", ti);
  return v != NULL ? v->values[0].gauge : -1;
}

static void block_run(pidio_proc_t *proc, pidio_select_t *sel, pidio_block_t *b,
                      pidio_trouble_t *t, unsigned *matched) {
  pidio_block_init(b, proc, sel);
  pidio_report_t r;
  int rc = pidio_block_update(b, &r);
  pidio_trouble_classify(&r, rc, t);
  if (matched != NULL)
    *matched = r.matched;
}

#define CHILD_FAIL(s)                                                          \
  do {                                                                         \
    (s)->setup_err = __LINE__;                                                 \
    return;                                                                    \
  } while (0)

/* Run fn(s) in a child (which drops to nobody itself) and copy *s back;
 * the tree is removed afterwards. */
static void in_child(void (*fn)(void *), void *s, size_t len) {
  int fds[2];
  ck_assert(pipe(fds) == 0);
  pid_t child = fork();
  ck_assert(child >= 0);
  if (child == 0) {
    close(fds[0]);
    fn(s);
    ssize_t n = write(fds[1], s, len);
    _exit(n == (ssize_t)len ? 0 : 1);
  }
  close(fds[1]);
  size_t got = 0;
  ssize_t n;
  while (got < len && (n = read(fds[0], (char *)s + got, len - got)) > 0)
    got += (size_t)n;
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  remove_tree();
  ck_assert_msg(got == len && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "the reader died");
}

/* In a reader child: become nobody, then open the tree's procfs. */
static bool nobody_opens(pidio_proc_t *proc, const char *procdir) {
  return setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 &&
         setresuid(65534, 65534, 65534) == 0 &&
         pidio_proc_open(proc, procdir) == 0;
}

/* In a reader child: the procfs procdir opened (as nobody when asked) and
 * a block of Pid 100 on it. */
static bool pid100_block(const char *procdir, bool as_nobody,
                         pidio_proc_t *proc, pidio_select_t *sel,
                         pidio_block_t *b) {
  char err[256];
  if (as_nobody ? !nobody_opens(proc, procdir)
                : pidio_proc_open(proc, procdir) != 0)
    return false;
  pidio_select_init(sel);
  if (pidio_select_set_pid(sel, 100, err, sizeof(err)) != 0)
    return false;
  pidio_block_init(b, proc, sel);
  return true;
}

/* In a reader child: lower the open-file limit to the lowest free
 * descriptor plus one, so that one more open works and the next fails
 * with EMFILE. *was, when not NULL, gets the limit as it was. */
static bool one_descriptor_left(struct rlimit *was) {
  int lowest = dup(0);
  if (lowest < 0)
    return false;
  close(lowest);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return false;
  if (was != NULL)
    *was = rl;
  rl.rlim_cur = (rlim_t)lowest + 1;
  return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* In a reader child: 100's io file rewritten in place (it is held open)
 * with these wchar and syscw; rchar 10, syscr 1, the rest 0. */
static bool put_io100(const char *procdir, unsigned wchar, unsigned syscw) {
  char path[4200], io[256];
  snprintf(path, sizeof(path), "%s/100/io", procdir);
  snprintf(io, sizeof(io),
           "rchar: 10\nwchar: %u\nsyscr: 1\nsyscw: %u\nread_bytes: 0\n"
           "write_bytes: 0\ncancelled_write_bytes: 0\n",
           wchar, syscw);
  int fd = open(path, O_WRONLY | O_TRUNC);
  if (fd < 0)
    return false;
  bool ok = write(fd, io, strlen(io)) == (ssize_t)strlen(io);
  close(fd);
  return ok;
}

static void reader(void *v) {
  seen_t *s = v;
  char procdir[4096], missing[4096], err[256];
  snprintf(procdir, sizeof(procdir), "%s/proc", tree);
  snprintf(missing, sizeof(missing), "%s/missing.pid", tree);
  /* Root reads any file: read as nobody, as collectd without its
   * capabilities would. */
  if (geteuid() == 0 &&
      (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
       setresuid(65534, 65534, 65534) != 0))
    CHILD_FAIL(s);
  /* No held descriptors: every member's files are opened each interval,
   * which is where a lack of descriptors shows. */
  pidio_fdbudget_set(0);

  pidio_proc_t proc = {.root_fd = -1};
  if (pidio_proc_open(&proc, procdir) != 0)
    CHILD_FAIL(s);
  pidio_select_t sa, sb, sc;
  pidio_select_init(&sa);
  pidio_select_init(&sb);
  pidio_select_init(&sc);
  if (pidio_select_set_name(&sa, "web", err, sizeof(err)) != 0 ||
      pidio_select_set_pidfile(&sb, missing, err, sizeof(err)) != 0 ||
      pidio_select_set_cgroup(&sc, "/a", err, sizeof(err)) != 0)
    CHILD_FAIL(s);
  pidio_block_t a, b, c;
  block_run(&proc, &sa, &a, &s->a, &s->a_matched);
  block_run(&proc, &sb, &b, &s->b, NULL);
  block_run(&proc, &sc, &c, &s->c, NULL);

  /* The plugin, on the same tree. */
  stub_reset();
  oconfig_item_t *ci = stub_ci("Plugin");
  stub_ci_str(stub_ci_child(ci, "ProcRoot"), procdir);
  oconfig_item_t *p = stub_ci_child(ci, "Process");
  stub_ci_str(p, "a");
  stub_ci_str(stub_ci_child(p, "Name"), "web");
  p = stub_ci_child(ci, "Process");
  stub_ci_str(p, "b");
  stub_ci_str(stub_ci_child(p, "PidFile"), missing);
  p = stub_ci_child(ci, "Process");
  stub_ci_str(p, "c");
  stub_ci_str(stub_ci_child(p, "Cgroup"), "/a");
  int rc = stub_config_cb(ci);
  stub_ci_free(ci);
  if (rc != 0 || stub_init_cb() != 0)
    CHILD_FAIL(s);
  size_t before = warnings();
  stub_read_all();
  s->plug_warnings = warnings() - before;
  s->plug_unreadable = gauge("a", "unreadable");
  s->plug_processes = gauge("a", "processes");
  s->plug_denied = stub_logged("<Process \"a\">", "permission denied reading",
                               "/102/io", "1 of 4 matched", NULL);
  s->plug_garbled = stub_logged("<Process \"a\">", "/101/io does not parse",
                                "1 process(es) skipped", NULL);
  s->plug_pidfile =
      stub_logged("<Process \"b\">", "missing.pid", "no process matches", NULL);
  s->plug_cgroup = stub_logged("<Process \"c\">", "/100/cgroup",
                               "no cgroup v2 (0::) line", NULL);

  /* Out of descriptors: as many as are open now, plus the one a listing
   * takes, so that opening a member's directory works and its stat does
   * not. */
  if (!one_descriptor_left(NULL))
    CHILD_FAIL(s);
  pidio_report_t r;
  rc = pidio_block_update(&a, &r);
  pidio_trouble_classify(&r, rc, &s->a_emfile);
  s->a_emfile_matched = r.matched;
  before = warnings();
  stub_read_all();
  s->plug_warnings_emfile = warnings() - before;
  s->plug_unreadable_emfile = gauge("a", "unreadable");
  s->plug_failed =
      stub_logged("<Process \"a\">", "cannot read", "/100/io",
                  "3 process(es) left out", "open-file limit", NULL);
  stub_shutdown();
  pidio_block_free(&a);
  pidio_block_free(&b);
  pidio_block_free(&c);
  pidio_proc_close(&proc);
}

static void check_cause(const pidio_trouble_t *t, enum pidio_trouble_kind k,
                        unsigned count, pid_t pid, int err, const char *what) {
  const pidio_cause_t *c = &t->cause[k];
  ck_assert_msg(c->count == count && c->pid == pid && c->err == err,
                "%s: %s: count %u pid %d err %d, want %u %d %d", what,
                pidio_trouble_info[k].name, c->count, (int)c->pid, c->err,
                count, (int)pid, err);
}

START_TEST(t_tree_causes_and_plugin) {
  make_tree();
  seen_t s = {0};
  in_child(reader, &s, sizeof(s));
  ck_assert_msg(s.setup_err == 0, "the reader failed at line %d", s.setup_err);

  /* Block A: 4 members, 102 denied, 101 garbled. */
  ck_assert_uint_eq(s.a_matched, 4);
  check_cause(&s.a, PIDIO_TROUBLE_DENIED, 1, 102, -EACCES, "A");
  check_cause(&s.a, PIDIO_TROUBLE_GARBLED, 1, 101, -EINVAL, "A");
  check_cause(&s.a, PIDIO_TROUBLE_FAILED, 0, 0, 0, "A");
  check_cause(&s.a, PIDIO_TROUBLE_PIDFILE, 0, 0, 0, "A");
  check_cause(&s.a, PIDIO_TROUBLE_NO_CGROUP2, 0, 0, 0, "A");
  ck_assert_uint_eq(s.a.unreadable, 1);
  /* Block B: the missing pidfile, nothing else. */
  check_cause(&s.b, PIDIO_TROUBLE_PIDFILE, 1, 0, -ENOENT, "B");
  check_cause(&s.b, PIDIO_TROUBLE_DENIED, 0, 0, 0, "B");
  ck_assert_uint_eq(s.b.unreadable, 0);
  /* Block C: no cgroup v2 line, first seen on 100. */
  check_cause(&s.c, PIDIO_TROUBLE_NO_CGROUP2, 1, 100, -ENOENT, "C");
  ck_assert_uint_eq(s.c.unreadable, 0);
  /* Block A out of descriptors: the three readable members failed, 100
   * read first; 102 is still denied: 4 unreadable. */
  ck_assert_uint_eq(s.a_emfile_matched, 4);
  check_cause(&s.a_emfile, PIDIO_TROUBLE_FAILED, 3, 100, -EMFILE, "A/EMFILE");
  check_cause(&s.a_emfile, PIDIO_TROUBLE_DENIED, 1, 102, -EACCES, "A/EMFILE");
  check_cause(&s.a_emfile, PIDIO_TROUBLE_GARBLED, 0, 0, 0, "A/EMFILE");
  ck_assert_uint_eq(s.a_emfile.unreadable, 4);

  /* The plugin: the same causes, the same counts. */
  ck_assert_msg(s.plug_processes == 4 && s.plug_unreadable == 1,
                "plugin: processes %g unreadable %g", s.plug_processes,
                s.plug_unreadable);
  ck_assert_msg(s.plug_denied && s.plug_garbled && s.plug_pidfile &&
                    s.plug_cgroup,
                "plugin: denied %d garbled %d pidfile %d cgroup %d",
                s.plug_denied, s.plug_garbled, s.plug_pidfile, s.plug_cgroup);
  /* One warning per cause: denied, garbled, pidfile, no cgroup v2. */
  ck_assert_uint_eq(s.plug_warnings, 4);
  ck_assert_msg(s.plug_unreadable_emfile == 4 && s.plug_failed,
                "plugin out of descriptors: unreadable %g, warning %d",
                s.plug_unreadable_emfile, s.plug_failed);
  /* Only the new cause is told: the others are still within their hour. */
  ck_assert_uint_eq(s.plug_warnings_emfile, 1);
}
END_TEST

/* A denied member's retry holds no descriptor: when its pid now names
 * another process (a new start time), which a full listing would not show
 * before a minute, that process's io file must not be read as the
 * member's. The reader (nobody) owns 102's files so that it can play the
 * reuse: a new stat, an io file it may read. */
typedef struct reuse_seen {
  int setup_err;
  unsigned matched1, matched2, denied1, denied2;
  uint64_t start102; /* the start time of member 102 after the reuse, 0 */
} reuse_seen_t;

static void reuse_reader(void *v) {
  reuse_seen_t *s = v;
  char procdir[4096], path[4200], err[256];
  snprintf(procdir, sizeof(procdir), "%s/proc", tree);
  pidio_proc_t proc = {.root_fd = -1};
  if (!nobody_opens(&proc, procdir))
    CHILD_FAIL(s);
  pidio_select_t sa;
  pidio_select_init(&sa);
  if (pidio_select_set_name(&sa, "web", err, sizeof(err)) != 0)
    CHILD_FAIL(s);
  pidio_block_t a;
  pidio_block_init(&a, &proc, &sa);
  pidio_report_t r;
  if (pidio_block_update(&a, &r) != 0)
    CHILD_FAIL(s);
  s->matched1 = r.matched;
  s->denied1 = r.unreadable;
  /* 102 reused: another process, started later, whose io may be read. */
  snprintf(path, sizeof(path), "%s/102/stat", procdir);
  int fd = open(path, O_WRONLY | O_TRUNC);
  const char *stat = "102 (web) S 1 102 102 0 -1 4194624 0 0 0 0 0 0 0 0 20 "
                     "0 1 0 2002 1000 10 18446744073709551615 0 0 0 0 0 0 0 "
                     "0 0 0 0 0 17 1 0 0 0 0 0\n";
  if (fd < 0 || write(fd, stat, strlen(stat)) != (ssize_t)strlen(stat))
    CHILD_FAIL(s);
  close(fd);
  snprintf(path, sizeof(path), "%s/102/io", procdir);
  if (chmod(path, 0644) != 0)
    CHILD_FAIL(s);
  if (pidio_block_update(&a, &r) != 0)
    CHILD_FAIL(s);
  s->matched2 = r.matched;
  s->denied2 = r.unreadable;
  pidio_member_t m[8];
  size_t n = pidio_block_members(&a, m, 8);
  for (size_t i = 0; i < n; i++)
    if (m[i].pid == 102)
      s->start102 = m[i].start;
  pidio_block_free(&a);
  pidio_proc_close(&proc);
}

START_TEST(t_denied_retry_checks_start_time) {
  /* Giving 102's files to the reader needs root, as make check is run. */
  make_tree();
  char rel[512];
  const char *files[] = {"", "/stat", "/io", "/cmdline", "/cgroup"};
  for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
    snprintf(rel, sizeof(rel), "%s/proc/102%s", tree, files[i]);
    ck_assert_msg(chown(rel, 65534, 65534) == 0, "chown %s", rel);
  }
  reuse_seen_t s = {0};
  in_child(reuse_reader, &s, sizeof(s));
  ck_assert_msg(s.setup_err == 0, "the reader failed at line %d", s.setup_err);
  /* First: 4 members, 102 denied. */
  ck_assert_uint_eq(s.matched1, 4);
  ck_assert_uint_eq(s.denied1, 1);
  /* Then 102 is another process: the member is gone, not read as that
   * process and kept under the old start time. */
  ck_assert_msg(s.start102 == 0, "member 102 kept with start %llu",
                (unsigned long long)s.start102);
  ck_assert_uint_eq(s.matched2, 3);
  ck_assert_uint_eq(s.denied2, 0);
}
END_TEST

/* A Pid block whose look-up of its pid fails for another reason than
 * the pid's absence (here EACCES: the reader may not search the procfs
 * root) does not take its member for gone: the update fails with the
 * error (reported as a listing error) and the member stays, with what it
 * added. */
typedef struct lookup_seen {
  int setup_err;
  int rc1, rc2, rc3;
  unsigned matched1, matched3;
  uint64_t start2, start3;
  pidio_io_t acc3;
} lookup_seen_t;

static uint64_t start_of(const pidio_block_t *b, pid_t pid,
                         pidio_io_t *acc) {
  pidio_member_t m[8];
  size_t n = pidio_block_members(b, m, 8);
  for (size_t i = 0; i < n; i++)
    if (m[i].pid == pid) {
      if (acc != NULL)
        *acc = m[i].acc;
      return m[i].start;
    }
  return 0;
}

static void lookup_reader(void *v) {
  lookup_seen_t *s = v;
  char procdir[4096];
  snprintf(procdir, sizeof(procdir), "%s/proc", tree);
  pidio_proc_t proc = {.root_fd = -1};
  pidio_select_t sel;
  pidio_block_t b;
  if (!pid100_block(procdir, true, &proc, &sel, &b))
    CHILD_FAIL(s);
  pidio_report_t r;
  s->rc1 = pidio_block_update(&b, &r);
  s->matched1 = r.matched;
  if (chmod(procdir, 0600) != 0) /* no search: every look-up EACCES */
    CHILD_FAIL(s);
  s->rc2 = pidio_block_update(&b, &r);
  s->start2 = start_of(&b, 100, NULL);
  if (chmod(procdir, 0755) != 0)
    CHILD_FAIL(s);
  /* 100 writes 5 bytes meanwhile: its member counts them. */
  if (!put_io100(procdir, 25, 3))
    CHILD_FAIL(s);
  s->rc3 = pidio_block_update(&b, &r);
  s->matched3 = r.matched;
  s->start3 = start_of(&b, 100, &s->acc3);
  pidio_block_free(&b);
  pidio_proc_close(&proc);
}

START_TEST(t_target_lookup_error_is_not_gone) {
  make_tree(); /* 100 started at 1000, rchar 10 wchar 20 syscr 1 syscw 2 */
  char rel[512];
  snprintf(rel, sizeof(rel), "%s/proc", tree);
  ck_assert(chown(rel, 65534, 65534) == 0);
  snprintf(rel, sizeof(rel), "%s/proc/100/io", tree);
  ck_assert(chown(rel, 65534, 65534) == 0);
  lookup_seen_t s = {0};
  in_child(lookup_reader, &s, sizeof(s));
  ck_assert_msg(s.setup_err == 0, "the reader failed at line %d", s.setup_err);
  ck_assert_int_eq(s.rc1, 0);
  ck_assert_uint_eq(s.matched1, 1);
  ck_assert_int_eq(s.rc2, -EACCES);
  ck_assert_msg(s.start2 == 1000, "member 100 after the failed look-up: %llu",
                (unsigned long long)s.start2);
  ck_assert_int_eq(s.rc3, 0);
  ck_assert_uint_eq(s.matched3, 1);
  ck_assert_msg(s.start3 == 1000, "member 100 at the end: %llu",
                (unsigned long long)s.start3);
  /* Counted from the first read on: 5 bytes and 1 call written, nothing
   * lost to a rejoin "from now". */
  ck_assert_uint_eq(s.acc3.v[PIDIO_WCHAR], 5);
  ck_assert_uint_eq(s.acc3.v[PIDIO_SYSCW], 1);
  ck_assert_uint_eq(s.acc3.v[PIDIO_RCHAR], 0);
}
END_TEST

/* Out of descriptors, a look that fails says nothing of the process:
 * member 100 of a Pid block, read through its held descriptor, has its
 * pid directory re-created (a new inode, the same process) while no
 * descriptor is left to read its stat. It must stay a member, reported as
 * failed, and go on counting; taken for another process it would leave
 * and rejoin "from now", losing what it wrote in between. */
typedef struct unknown_seen {
  int setup_err;
  int rc2;
  unsigned matched2, failed2;
  pid_t failed_pid2;
  int failed_err2;
  uint64_t start3;
  pidio_io_t acc3;
} unknown_seen_t;

static void unknown_reader(void *v) {
  unknown_seen_t *s = v;
  char procdir[4096], old[4200], neu[4200], from[4300], to[4300];
  snprintf(procdir, sizeof(procdir), "%s/proc", tree);
  pidio_proc_t proc = {.root_fd = -1};
  pidio_select_t sel;
  pidio_block_t b;
  if (!pid100_block(procdir, false, &proc, &sel, &b))
    CHILD_FAIL(s);
  pidio_report_t r;
  if (pidio_block_update(&b, &r) != 0 || r.matched != 1)
    CHILD_FAIL(s);
  /* The same files under a new directory: the dentry re-created. */
  snprintf(old, sizeof(old), "%s/100", procdir);
  snprintf(neu, sizeof(neu), "%s/100.new", procdir);
  if (mkdir(neu, 0755) != 0)
    CHILD_FAIL(s);
  const char *files[] = {"stat", "io", "cmdline", "cgroup"};
  for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
    snprintf(from, sizeof(from), "%s/%s", old, files[i]);
    snprintf(to, sizeof(to), "%s/%s", neu, files[i]);
    if (link(from, to) != 0)
      CHILD_FAIL(s);
  }
  snprintf(to, sizeof(to), "%s/100.old", procdir);
  if (rename(old, to) != 0 || rename(neu, old) != 0)
    CHILD_FAIL(s);
  if (!put_io100(procdir, 25, 2)) /* 5 bytes written */
    CHILD_FAIL(s);
  /* One descriptor free: the pid directory opens, its stat does not. */
  struct rlimit was;
  if (!one_descriptor_left(&was))
    CHILD_FAIL(s);
  s->rc2 = pidio_block_update(&b, &r);
  if (setrlimit(RLIMIT_NOFILE, &was) != 0)
    CHILD_FAIL(s);
  s->matched2 = r.matched;
  s->failed2 = r.failed;
  s->failed_pid2 = r.failed_pid;
  s->failed_err2 = r.failed_err;
  if (!put_io100(procdir, 32, 2)) /* 7 more */
    CHILD_FAIL(s);
  if (pidio_block_update(&b, &r) != 0)
    CHILD_FAIL(s);
  pidio_member_t m[4];
  size_t n = pidio_block_members(&b, m, 4);
  for (size_t i = 0; i < n; i++)
    if (m[i].pid == 100) {
      s->start3 = m[i].start;
      s->acc3 = m[i].acc;
    }
  pidio_block_free(&b);
  pidio_proc_close(&proc);
}

START_TEST(t_unknown_look_keeps_member) {
  make_tree(); /* 100: started at 1000, wchar 20 */
  unknown_seen_t s = {0};
  in_child(unknown_reader, &s, sizeof(s));
  ck_assert_msg(s.setup_err == 0, "the reader failed at line %d", s.setup_err);
  ck_assert_int_eq(s.rc2, 0);
  ck_assert_uint_eq(s.matched2, 1);
  ck_assert_uint_eq(s.failed2, 1);
  ck_assert_int_eq(s.failed_pid2, 100);
  ck_assert_int_eq(s.failed_err2, -EMFILE);
  ck_assert_msg(s.start3 == 1000, "member 100 at the end: %llu",
                (unsigned long long)s.start3);
  /* Everything written since the first read: 5 + 7 bytes. */
  ck_assert_uint_eq(s.acc3.v[PIDIO_WCHAR], 12);
}
END_TEST

Suite *make_trouble_suite(void) {
  Suite *s = suite_create("trouble");
  TCase *tc = tcase_create("classify");
  tcase_add_test(tc, t_classify_counts);
  tcase_add_test(tc, t_classify_failed_update);
  tcase_add_test(tc, t_classify_cmdline_cut);
  tcase_add_test(tc, t_each_walk);
  tcase_add_test(tc, t_tree_causes_and_plugin);
  tcase_add_test(tc, t_denied_retry_checks_start_time);
  tcase_add_test(tc, t_target_lookup_error_is_not_gone);
  tcase_add_test(tc, t_unknown_look_keeps_member);
  suite_add_tcase(s, tc);
  return s;
}
