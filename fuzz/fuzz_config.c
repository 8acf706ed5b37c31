/*
 * Fuzz target: the adapter's configuration handling, through the recording
 * stand-in of the daemon (tests/collectd_stub.c), as collectd drives it:
 * the config callback gets a tree, the tree is freed, then init, two
 * reads of every registered block, and shutdown. Nothing may crash, leak
 * memory or a descriptor, or keep a pointer into the freed tree, and a
 * configuration the callback refused must not start.
 *
 * The input is text shaped like collectd's configuration and decoded
 * loosely, so that any bytes make some tree:
 *
 *   Key value value ...        an option
 *   <Key value ...>            a block, up to </...> or the end
 *   "a \"quoted\" string"      a string; a backslash takes the next byte
 *   true, no, on, ...          a boolean
 *   1.5, -3, 1e10, nan, ...    a number (whatever strtod takes whole)
 *   anything else              a string
 *
 * Keys are whatever the input says: the real option names (see
 * fuzz/config.dict) as well as garbage. The tree always starts with a
 * ProcRoot naming a small procfs tree this target makes in a temporary
 * directory, so the reads look at known files and never at the real /proc;
 * an input's own ProcRoot overrides it. Strings may name that directory's
 * files with @tokens (@proc, @basic, @pidfile, ...); any other absolute
 * path given to an option that opens files is moved inside the temporary
 * directory, so that a fuzzed path opens nothing else on the machine.
 */
#include "collectd_stub.h"

#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ITEMS 64
#define MAX_VALUES 8
#define MAX_DEPTH 4
#define MAX_STRING 512
#define PATHSZ 4096

static char base[1024];    /* the temporary directory */
static char basic[PATHSZ]; /* fixtures/proc-basic, or base/proc */

/* --- the sandbox ------------------------------------------------------- */

static void put(const char *rel, const char *text, size_t len) {
  char path[PATHSZ];
  snprintf(path, sizeof(path), "%s/%s", base, rel);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(write(fd, text, len) == (ssize_t)len);
  close(fd);
}

static void put_str(const char *rel, const char *text) {
  put(rel, text, strlen(text));
}

static void dir(const char *rel) {
  char path[PATHSZ];
  snprintf(path, sizeof(path), "%s/%s", base, rel);
  FUZZ_CHECK(mkdir(path, 0755) == 0);
}

static const char io_text[] = "rchar: 1000\nwchar: 2000\nsyscr: 10\n"
                              "syscw: 20\nread_bytes: 4096\n"
                              "write_bytes: 8192\ncancelled_write_bytes: 0\n";

/* One process: proc/<pid>/{stat,io,cmdline,status,cgroup,exe}. cmdline
 * holds NUL-separated arguments; io NULL leaves the io file out. */
static void proc(int pid, const char *comm, int ppid, unsigned start,
                 const char *cmdline, size_t cmdlen, const char *io,
                 unsigned uid, const char *cgroup, const char *exe) {
  char rel[64], text[1024];
  snprintf(rel, sizeof(rel), "proc/%d", pid);
  dir(rel);
  snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
  snprintf(text, sizeof(text),
           "%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %u "
           "1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 "
           "0 0 0\n",
           pid, comm, ppid, pid, pid, start);
  put_str(rel, text);
  if (io != NULL) {
    snprintf(rel, sizeof(rel), "proc/%d/io", pid);
    put_str(rel, io);
  }
  snprintf(rel, sizeof(rel), "proc/%d/cmdline", pid);
  put(rel, cmdline, cmdlen);
  snprintf(rel, sizeof(rel), "proc/%d/status", pid);
  snprintf(text, sizeof(text),
           "Name:\t%s\nState:\tS (sleeping)\nPid:\t%d\nPPid:\t%d\n"
           "Uid:\t%u\t%u\t%u\t%u\n",
           comm, pid, ppid, uid, uid, uid, uid);
  put_str(rel, text);
  snprintf(rel, sizeof(rel), "proc/%d/cgroup", pid);
  snprintf(text, sizeof(text), "0::%s\n", cgroup);
  put_str(rel, text);
  /* Only ever read with readlink: the target need not exist. */
  char path[PATHSZ];
  snprintf(path, sizeof(path), "%s/proc/%d/exe", base, pid);
  FUZZ_CHECK(symlink(exe, path) == 0);
}

/* The sandbox holds directories, files, a fifo and symlinks, no deeper
 * than proc/<pid>/<file>. */
static void remove_tree(const char *path) {
  DIR *d = opendir(path);
  if (d != NULL) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      char sub[PATHSZ];
      int w = snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
      if (w < 0 || (size_t)w >= sizeof(sub))
        continue; /* a cut path names another file: never unlink it */
      struct stat st;
      if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
        remove_tree(sub);
      else
        unlink(sub);
    }
    closedir(d);
  }
  rmdir(path);
}

static void remove_sandbox(void) {
  if (base[0] != '\0')
    remove_tree(base);
}

/* A crash ends the process without atexit: the next run removes what runs
 * that are gone left behind (pidio-fuzz.<pid>.XXXXXX). */
static void remove_stale_sandboxes(const char *tmp) {
  DIR *d = opendir(tmp);
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    long pid = 0;
    int end = 0;
    if (sscanf(de->d_name, "pidio-fuzz.%ld.%n", &pid, &end) != 1 || end == 0 ||
        pid <= 0)
      continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue; /* its process is still there */
    char path[PATHSZ];
    int w = snprintf(path, sizeof(path), "%s/%s", tmp, de->d_name);
    if (w < 0 || (size_t)w >= sizeof(path))
      continue; /* cut: not the directory found */
    remove_tree(path);
  }
  closedir(d);
}

#define ARGS(s) s, sizeof(s)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *tmp = getenv("TMPDIR");
  if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > sizeof(base) - 32)
    tmp = "/tmp";
  remove_stale_sandboxes(tmp);
  snprintf(base, sizeof(base), "%s/pidio-fuzz.%ld.XXXXXX", tmp, (long)getpid());
  FUZZ_CHECK(mkdtemp(base) != NULL);
  atexit(remove_sandbox);

  dir("proc");
  put_str("proc/uptime", "1000.00 900.00\n");
  proc(1, "init", 0, 1, ARGS("/sbin/init\0splash"), io_text, 0, "/init.scope",
       "/usr/lib/systemd/systemd");
  proc(100, "nginx", 1, 500, ARGS("nginx: master process"), io_text, 0,
       "/system.slice/nginx.service", "/usr/sbin/nginx");
  proc(101, "nginx", 100, 510, ARGS("nginx: worker process"), io_text, 33,
       "/system.slice/nginx.service", "/usr/sbin/nginx (deleted)");
  proc(102, "sh", 101, 520, ARGS("/bin/sh\0-c\0sleep 1"), io_text, 33,
       "/system.slice/nginx.service/child", "/usr/bin/dash");
  proc(200, "python3", 1, 600, ARGS("/usr/bin/python3\0/srv/app.py\0\0"),
       io_text, 1000, "/user.slice/user-1000.slice", "/usr/bin/python3.11");
  proc(300, "garbled", 1, 700, ARGS("garbled"), "rchar: x\n", 0, "/", "/bin/x");
  proc(301, "noio", 1, 710, ARGS(""), NULL, 0, "/", "/bin/y");
  proc(302, "max", 1, 720, ARGS("max"),
       "rchar: 18446744073709551615\nwchar: 0\nsyscr: 0\nsyscw: 0\n"
       "read_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
       0, "/", "/bin/z");
  dir("proc/303"); /* a process whose files are gone */
  put_str("proc/304", "not a directory\n");
  dir("proc/self");

  put_str("good.pid", "100\n");
  put_str("worker.pid", "  101 \n");
  put_str("bad.pid", "one hundred\n");
  put_str("empty.pid", "");
  put_str("big.pid", "100                                                    "
                     "                                                     \n");
  char path[PATHSZ];
  snprintf(path, sizeof(path), "%s/fifo", base);
  FUZZ_CHECK(mkfifo(path, 0600) == 0);

  const char *top = getenv("PIDIO_SRCDIR");
  struct stat st;
  snprintf(basic, sizeof(basic), "%s/fixtures/proc-basic",
           top != NULL ? top : ".");
  if (stat(basic, &st) != 0 || !S_ISDIR(st.st_mode))
    snprintf(basic, sizeof(basic), "%s/proc", base);
  return 0;
}

/* --- decoding the input into a tree ------------------------------------ */

typedef struct decoder {
  const uint8_t *p, *end;
  unsigned items;
} decoder_t;

static bool blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\r'; }

static void skip_blanks(decoder_t *d) {
  while (d->p < d->end && blank(*d->p))
    d->p++;
}

static bool at_eol(const decoder_t *d) {
  return d->p == d->end || *d->p == '\n';
}

/* Options that only compare their string: anything else with an absolute
 * path might open it. */
static bool compare_only(const char *key) {
  static const char *const keys[] = {"Name", "CommandLine", "Exe", "User",
                                     "Cgroup"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    if (strcasecmp(key, keys[i]) == 0)
      return true;
  return false;
}

/* glibc's regcomp takes time and memory that grow with the product of the
 * bounds of nested repetitions ("((a{99}){99}){99}" takes gigabytes): a
 * CommandLine whose bounds multiply to more than 1000 becomes ".". Every
 * other expression reaches pidio as it is, so stacked repetitions
 * (".*++++++++++++++", which glibc compiles in exponential time) meet
 * pidio's own refusal, and the replay's time limit catches a regression. */
static bool costly_regex(const char *s) {
  unsigned long product = 1;
  for (; *s != '\0'; s++) {
    if (*s != '{')
      continue;
    unsigned long bound = 0, n = 0;
    for (s++; *s != '\0' && *s != '}'; s++) {
      if (*s >= '0' && *s <= '9') {
        n = n * 10 + (unsigned long)(*s - '0');
        if (n > 100000)
          return true;
      } else {
        bound = n > bound ? n : bound;
        n = 0;
      }
    }
    bound = n > bound ? n : bound;
    product *= bound > 0 ? bound : 1;
    if (product > 1000)
      return true;
    if (*s == '\0')
      break;
  }
  return false;
}

static void add_string(oconfig_item_t *ci, const char *s) {
  static const struct {
    const char *token, *rel;
  } tokens[] = {
      {"@proc", "proc"},          {"@pidfile", "good.pid"},
      {"@worker", "worker.pid"},  {"@badpid", "bad.pid"},
      {"@emptypid", "empty.pid"}, {"@bigpid", "big.pid"},
      {"@fifo", "fifo"},          {"@dir", "proc/100"},
      {"@missing", "missing"},
  };
  char path[PATHSZ + MAX_STRING];
  if (strcasecmp(ci->key, "CommandLine") == 0 && costly_regex(s)) {
    stub_ci_str(ci, ".");
    return;
  }
  if (strcmp(s, "@basic") == 0) {
    stub_ci_str(ci, basic);
    return;
  }
  for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
    if (strcmp(s, tokens[i].token) == 0) {
      snprintf(path, sizeof(path), "%s/%s", base, tokens[i].rel);
      stub_ci_str(ci, path);
      return;
    }
  if (s[0] == '/' && !compare_only(ci->key)) {
    /* Inside the sandbox, and no way out of it through "..". */
    int off = snprintf(path, sizeof(path), "%s/outside", base);
    FUZZ_CHECK(off > 0 && (size_t)off < PATHSZ);
    snprintf(path + off, sizeof(path) - (size_t)off, "%s", s);
    for (char *c = strstr(path + off, ".."); c != NULL; c = strstr(c, ".."))
      c[0] = c[1] = '_';
    stub_ci_str(ci, path);
    return;
  }
  stub_ci_str(ci, s);
}

static void add_word(oconfig_item_t *ci, const char *w) {
  static const char *const yes[] = {"true", "yes", "on"};
  static const char *const no[] = {"false", "no", "off"};
  for (size_t i = 0; i < 3; i++) {
    if (strcasecmp(w, yes[i]) == 0) {
      stub_ci_bool(ci, true);
      return;
    }
    if (strcasecmp(w, no[i]) == 0) {
      stub_ci_bool(ci, false);
      return;
    }
  }
  char *end = NULL;
  double v = strtod(w, &end);
  if (w[0] != '\0' && end != NULL && *end == '\0') {
    stub_ci_num(ci, v);
    return;
  }
  add_string(ci, w);
}

/* A token: a quoted string (quoted true) or a run of bytes up to a blank,
 * the end of the line, or, in a block's header, '>'. A NUL ends it as C
 * ends the string. */
static void token(decoder_t *d, bool header, char *out, bool *quoted) {
  size_t n = 0;
  *quoted = d->p < d->end && *d->p == '"';
  if (*quoted) {
    d->p++;
    while (d->p < d->end && *d->p != '"' && *d->p != '\n') {
      if (*d->p == '\\' && d->p + 1 < d->end)
        d->p++;
      if (n < MAX_STRING)
        out[n++] = (char)*d->p;
      d->p++;
    }
    if (d->p < d->end && *d->p == '"')
      d->p++;
  } else {
    while (d->p < d->end && !blank(*d->p) && *d->p != '\n' &&
           !(header && *d->p == '>')) {
      if (n < MAX_STRING)
        out[n++] = (char)*d->p;
      d->p++;
    }
  }
  out[n] = '\0';
}

/* The values after a key, up to the end of the line (or '>'). */
static void values(decoder_t *d, oconfig_item_t *ci, bool header) {
  char buf[MAX_STRING + 1];
  for (;;) {
    skip_blanks(d);
    if (at_eol(d) || (header && *d->p == '>'))
      break;
    bool quoted;
    token(d, header, buf, &quoted);
    if (ci->values_num >= MAX_VALUES)
      continue;
    if (quoted)
      add_string(ci, buf);
    else
      add_word(ci, buf);
  }
}

static void skip_line(decoder_t *d) {
  while (d->p < d->end && *d->p != '\n')
    d->p++;
  if (d->p < d->end)
    d->p++;
}

static void decode(decoder_t *d, oconfig_item_t *root) {
  oconfig_item_t *stack[MAX_DEPTH + 1] = {root};
  int depth = 0;
  char key[MAX_STRING + 1];
  while (d->p < d->end && d->items < MAX_ITEMS) {
    skip_blanks(d);
    if (at_eol(d) || *d->p == '#') {
      skip_line(d);
      continue;
    }
    if (*d->p == '<' && d->p + 1 < d->end && d->p[1] == '/') {
      if (depth > 0)
        depth--;
      skip_line(d);
      continue;
    }
    bool block = *d->p == '<';
    if (block)
      d->p++;
    bool quoted;
    token(d, block, key, &quoted);
    oconfig_item_t *ci = stub_ci_child(stack[depth], key);
    d->items++;
    values(d, ci, block);
    skip_line(d);
    if (block && depth < MAX_DEPTH)
      stack[++depth] = ci;
  }
}

/* --- the target -------------------------------------------------------- */

/* Descriptors open in this process. */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return -1;
  int n = 0;
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fds = count_fds();
  stub_reset();
  FUZZ_CHECK(stub_config_cb != NULL && stub_init_cb != NULL &&
             stub_shutdown_cb != NULL);

  oconfig_item_t *root = stub_ci("Plugin");
  stub_ci_str(root, "pidio");
  char path[PATHSZ + 8];
  snprintf(path, sizeof(path), "%s/proc", base);
  stub_ci_str(stub_ci_child(root, "ProcRoot"), path);
  decoder_t d = {.p = data, .end = data + size};
  decode(&d, root);

  int config_rc = stub_config_cb(root);
  /* collectd frees the tree once the config callbacks are done. */
  stub_ci_free(root);

  int init_rc = stub_init_cb();
  /* A configuration with errors must not start. */
  FUZZ_CHECK(config_rc == 0 || init_rc != 0);
  if (init_rc == 0) {
    stub_read_all();
    stub_read_all();
  }
  stub_shutdown();
  /* Shutdown closes every descriptor pidio opened. */
  FUZZ_CHECK(count_fds() == fds);
  return 0;
}
