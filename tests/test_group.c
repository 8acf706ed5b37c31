/*
 * Unit tests of pidio_group: group keys, the escaping of group names and
 * the plugin instance.
 *
 * The escaping is checked against a decoder written here from the rules in
 * pidio_group.h: every uncut name must decode back to its key, which proves
 * two keys never share a name.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_group.h"
#include "pidio_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- keys --------------------------------------------------------------- */

START_TEST(test_key_parse) {
  enum pidio_group_key k;
  for (int i = 0; i < PIDIO_GROUP_NKEYS; i++) {
    ck_assert_int_eq(pidio_group_key_parse(pidio_group_key_names[i], &k), 0);
    ck_assert_int_eq(k, i);
  }
  ck_assert_int_eq(pidio_group_key_parse("Comm", &k), 0);
  ck_assert_int_eq(k, PIDIO_GROUP_COMM);
  ck_assert_int_eq(pidio_group_key_parse("UNIT", &k), 0);
  ck_assert_int_eq(k, PIDIO_GROUP_UNIT);
  const char *bad[] = {"", "pid", "name", "command", "comm ", "users"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_int_eq(pidio_group_key_parse(bad[i], &k), -EINVAL);
}
END_TEST

static const struct {
  const char *path, *unit;
} units[] = {
    {"/system.slice/nginx.service", "nginx.service"},
    {"/user.slice/user-1000.slice/session-3.scope", "session-3.scope"},
    {"/init.scope", "init.scope"},
    /* a delegated service's own sub-cgroup is still that service */
    {"/system.slice/nginx.service/worker", "nginx.service"},
    /* the deepest unit: a scope of a user's service manager */
    {"/user.slice/user-1000.slice/user@1000.service/app.slice/"
     "app-firefox-42.scope",
     "app-firefox-42.scope"},
    {"/user.slice/user-1000.slice/user@1000.service/init.scope",
     "init.scope"},
    {"/system.slice/docker-0123abcd.scope", "docker-0123abcd.scope"},
    {"/system.slice/systemd-journald.socket", "systemd-journald.socket"},
    {"/system.slice/home.mount", "home.mount"},
    {"/system.slice/dev-sda2.swap", "dev-sda2.swap"},
    {"/machine.slice/machine-qemu\\x2d1.scope/libvirt/emulator",
     "machine-qemu\\x2d1.scope"},
    /* no unit: the path itself */
    {"/", "/"},
    {"/system.slice", "/system.slice"},
    {"/user.slice/user-1000.slice", "/user.slice/user-1000.slice"},
    {"/mygroup/a", "/mygroup/a"},
    {"/x/.service", "/x/.service"}, /* a bare suffix is no unit name */
    {"/a.services/b", "/a.services/b"},
    {"", ""},
};

START_TEST(test_unit) {
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    size_t off = 99, len = 99;
    pidio_group_unit(units[i].path, strlen(units[i].path), &off, &len);
    ck_assert_msg(len == strlen(units[i].unit) &&
                      memcmp(units[i].path + off, units[i].unit, len) == 0,
                  "%s: got \"%.*s\", expected \"%s\"", units[i].path,
                  (int)len, units[i].path + off, units[i].unit);
  }
}
END_TEST

START_TEST(test_exe_len) {
  const char *a = "/usr/sbin/nginx (deleted)";
  ck_assert_uint_eq(pidio_group_exe_len(a, strlen(a)), strlen("/usr/sbin/nginx"));
  const char *b = "/usr/sbin/nginx";
  ck_assert_uint_eq(pidio_group_exe_len(b, strlen(b)), strlen(b));
  const char *c = " (deleted)"; /* nothing before it: not a suffix */
  ck_assert_uint_eq(pidio_group_exe_len(c, strlen(c)), strlen(c));
  ck_assert_uint_eq(pidio_group_exe_len("", 0), 0);
}
END_TEST

/* A uid with no user: the first from a large one up. */
static uid_t nameless_uid(void) {
  for (uid_t u = 2000000000u;; u++)
    if (getpwuid(u) == NULL)
      return u;
}

START_TEST(test_user) {
  char out[64];
  struct passwd *pw = getpwuid(0);
  ck_assert_ptr_nonnull(pw);
  ck_assert_uint_eq(pidio_group_user(0, out, sizeof(out)), strlen(pw->pw_name));
  ck_assert_str_eq(out, pw->pw_name);

  uid_t u = nameless_uid();
  char expect[32];
  snprintf(expect, sizeof(expect), "%lu", (unsigned long)u);
  ck_assert_uint_eq(pidio_group_user(u, out, sizeof(out)), strlen(expect));
  ck_assert_str_eq(out, expect);

  /* Cut to the buffer, always terminated. */
  ck_assert_uint_eq(pidio_group_user(u, out, 4), 3);
  ck_assert_str_eq(out, "200");
}
END_TEST

START_TEST(test_key_of) {
  static char out[PIDIO_GROUP_KEY_MAX];
  size_t len = 0;
  const char *cg = "/system.slice/nginx.service";
  const char *exe = "/usr/sbin/nginx (deleted)";
  pidio_group_facts_t f = {.comm = "nginx",
                           .have_uid = true,
                           .uid = 0,
                           .cgroup = cg,
                           .cgroup_len = strlen(cg),
                           .exe = exe,
                           .exe_len = strlen(exe)};
  struct {
    enum pidio_group_key k;
    const char *expect;
  } want[] = {{PIDIO_GROUP_COMM, "nginx"},
              {PIDIO_GROUP_EXE, "/usr/sbin/nginx"},
              {PIDIO_GROUP_USER, getpwuid(0)->pw_name},
              {PIDIO_GROUP_CGROUP, "/system.slice/nginx.service"},
              {PIDIO_GROUP_UNIT, "nginx.service"}};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    ck_assert_int_eq(pidio_group_key(want[i].k, &f, out, sizeof(out), &len), 0);
    ck_assert_msg(len == strlen(want[i].expect) &&
                      memcmp(out, want[i].expect, len) == 0,
                  "key %s: \"%.*s\"", pidio_group_key_names[want[i].k],
                  (int)len, out);
  }

  /* A fact that could not be read: the unknown group. */
  pidio_group_facts_t none = {0};
  for (int k = 0; k < PIDIO_GROUP_NKEYS; k++)
    ck_assert_int_eq(
        pidio_group_key((enum pidio_group_key)k, &none, out, sizeof(out), &len),
        -ENODATA);

  /* A key is taken whole or not at all. */
  ck_assert_int_eq(pidio_group_key(PIDIO_GROUP_CGROUP, &f, out, 5, &len),
                   -ENAMETOOLONG);
}
END_TEST

START_TEST(test_users_cache) {
  pidio_group_users_t c = {0};
  char out[64], plain[64];
  uid_t u = nameless_uid();
  pidio_group_user(0, plain, sizeof(plain));
  ck_assert_uint_eq(pidio_group_users_name(&c, 0, 100.0, out, sizeof(out)),
                    strlen(plain));
  ck_assert_str_eq(out, plain);
  ck_assert_uint_eq(c.lookups, 1);
  pidio_group_users_name(&c, 0, 100.0 + PIDIO_GROUP_USERS_TTL - 1, out,
                         sizeof(out));
  ck_assert_uint_eq(c.lookups, 1); /* from the cache */
  pidio_group_users_name(&c, u, 101.0, out, sizeof(out));
  ck_assert_uint_eq(c.lookups, 2);
  pidio_group_users_name(&c, 5, 101.0, out, sizeof(out));
  ck_assert_uint_eq(c.n, 3);
  ck_assert(c.e[0].uid == 0 && c.e[1].uid == 5 && c.e[2].uid == u);
  pidio_group_users_name(&c, u, 102.0, out, sizeof(out));
  ck_assert_uint_eq(c.lookups, 3);
  /* Stale after the TTL, and when the clock went back. */
  pidio_group_users_name(&c, 0, 100.0 + PIDIO_GROUP_USERS_TTL, out,
                         sizeof(out));
  ck_assert_uint_eq(c.lookups, 4);
  pidio_group_users_name(&c, 0, 50.0, out, sizeof(out));
  ck_assert_uint_eq(c.lookups, 5);
  ck_assert_str_eq(out, plain);
  /* Bounded: past PIDIO_GROUP_USERS_MAX uids it starts afresh. */
  for (uid_t i = 0; i < PIDIO_GROUP_USERS_MAX + 10; i++)
    pidio_group_users_name(&c, u + 1 + i, 200.0, out, sizeof(out));
  ck_assert_uint_le(c.n, PIDIO_GROUP_USERS_MAX);
  for (size_t i = 1; i < c.n; i++)
    ck_assert(c.e[i - 1].uid < c.e[i].uid);
  /* Cut to the caller's buffer. */
  ck_assert_uint_eq(pidio_group_users_name(&c, u, 200.0, out, 3), 2);
  pidio_group_users_free(&c);
  ck_assert_ptr_null(c.e);
  /* No cache at all. */
  ck_assert_uint_eq(pidio_group_users_name(NULL, 0, 0.0, out, sizeof(out)),
                    strlen(plain));
}
END_TEST

static void assert_read_key(const pidio_proc_t *p, pid_t pid,
                            enum pidio_group_key k, const char *comm,
                            int rc, const char *expect) {
  static char out[PIDIO_GROUP_KEY_MAX];
  size_t len = 0;
  int dfd = pidio_proc_open_pid(p, pid);
  ck_assert_int_ge(dfd, 0);
  int got = pidio_group_read_key(k, dfd, comm, NULL, 0.0, out, sizeof(out),
                                 &len);
  close(dfd);
  ck_assert_msg(got == rc, "pid %d key %s: %d, expected %d", (int)pid,
                pidio_group_key_names[k], got, rc);
  if (rc == 0)
    ck_assert_msg(len == strlen(expect) && memcmp(out, expect, len) == 0,
                  "pid %d key %s: \"%.*s\", expected \"%s\"", (int)pid,
                  pidio_group_key_names[k], (int)len, out, expect);
}

START_TEST(test_read_key_fixtures) {
  pidio_proc_t p;
  ck_assert_int_eq(pidio_proc_open(&p, fixture_path("proc-select")), 0);
  char u33[64], u1000[64];
  pidio_group_user(33, u33, sizeof(u33));
  pidio_group_user(1000, u1000, sizeof(u1000));
  /* A v1+v2 hybrid: the 0:: line counts. */
  assert_read_key(&p, 101, PIDIO_GROUP_UNIT, "sh", 0, "nginx.service");
  assert_read_key(&p, 101, PIDIO_GROUP_CGROUP, "sh", 0,
                  "/system.slice/nginx.service/worker");
  assert_read_key(&p, 101, PIDIO_GROUP_USER, "sh", 0, u33);
  assert_read_key(&p, 101, PIDIO_GROUP_COMM, "sh", 0, "sh");
  assert_read_key(&p, 300, PIDIO_GROUP_UNIT, "bash", 0, "/system.slice");
  assert_read_key(&p, 300, PIDIO_GROUP_USER, "bash", 0, u1000);
  assert_read_key(&p, 400, PIDIO_GROUP_UNIT, "x", 0, "session-2.scope");
  assert_read_key(&p, 1, PIDIO_GROUP_UNIT, "systemd", 0, "init.scope");
  assert_read_key(&p, 2, PIDIO_GROUP_UNIT, "kthreadd", 0, "/");
  /* A fixture has no exe link: the unknown group. */
  assert_read_key(&p, 100, PIDIO_GROUP_EXE, "nginx", -ENODATA, NULL);
  pidio_proc_close(&p);
}
END_TEST

START_TEST(test_read_key_real) {
  /* A child that runs sleep: its exe key is the program's real path. */
  char want[4096];
  ck_assert_ptr_nonnull(realpath("/bin/sleep", want));
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) {
    execl("/bin/sleep", "sleep", "30", (char *)NULL);
    _exit(127);
  }
  pidio_proc_t p;
  ck_assert_int_eq(pidio_proc_open(&p, "/proc"), 0);
  /* Wait for the exec: until then the child runs this test's program. */
  for (int i = 0; i < 500; i++) {
    char link[4096], path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)child);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n > 0 && (size_t)n == strlen(want) && memcmp(link, want, (size_t)n) == 0)
      break;
    usleep(10000);
  }
  assert_read_key(&p, child, PIDIO_GROUP_EXE, "sleep", 0, want);
  assert_read_key(&p, child, PIDIO_GROUP_COMM, "sleep", 0, "sleep");
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  pidio_proc_close(&p);

  /* A directory with a v1-only cgroup file and a status without a Uid
   * line. */
  const char *tmp = getenv("TMPDIR");
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/pidio-group-XXXXXX",
           tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[600];
  snprintf(path, sizeof(path), "%s/cgroup", dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("12:cpuset:/\n1:name=systemd:/system.slice/a.service\n", f);
  fclose(f);
  snprintf(path, sizeof(path), "%s/status", dir);
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("Name:\tx\nTgid:\t5\n", f);
  fclose(f);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  ck_assert_int_ge(dfd, 0);
  static char out[PIDIO_GROUP_KEY_MAX];
  size_t len;
  ck_assert_int_eq(pidio_group_read_key(PIDIO_GROUP_UNIT, dfd, "x", NULL, 0,
                                        out, sizeof(out), &len),
                   -ENODATA);
  ck_assert_int_eq(pidio_group_read_key(PIDIO_GROUP_USER, dfd, "x", NULL, 0,
                                        out, sizeof(out), &len),
                   -ENODATA);
  /* No exe link and a file gone: the process is gone. */
  ck_assert_int_eq(pidio_group_read_key(PIDIO_GROUP_EXE, dfd, "x", NULL, 0,
                                        out, sizeof(out), &len),
                   -ENODATA);
  unlink(path);
  ck_assert_int_eq(pidio_group_read_key(PIDIO_GROUP_USER, dfd, "x", NULL, 0,
                                        out, sizeof(out), &len),
                   -ENOENT);
  close(dfd);
  snprintf(path, sizeof(path), "%s/cgroup", dir);
  unlink(path);
  rmdir(dir);
}
END_TEST

/* ---- names -------------------------------------------------------------- */

static const char *name_of(const char *key, size_t len, size_t max) {
  static char out[PIDIO_GROUP_INSTANCE_MAX + 1];
  size_t n = pidio_group_name(key, len, 0, max, out);
  ck_assert_uint_eq(n, strlen(out));
  ck_assert_uint_le(n, max);
  return out;
}

static const struct {
  const char *key;
  size_t len; /* 0: strlen */
  const char *name;
} names[] = {
    {"nginx", 0, "nginx"},
    {"nginx.service", 0, "nginx_service"},
    {"session-3.scope", 0, "session-3_scope"},
    {"user@1000.service", 0, "user@1000_service"},
    {"php-fpm8.2", 0, "php-fpm8_2"},
    {"www-data", 0, "www-data"},
    {"/system.slice/nginx.service", 0, "~system_slice~nginx_service"},
    {"/usr/sbin/nginx", 0, "~usr~sbin~nginx"},
    {"Web Content", 0, "Web%20Content"},
    {"a_b", 0, "a%5Fb"},
    {"_apt", 0, "%5Fapt"},
    {"a~b", 0, "a%7Eb"},
    {"100%", 0, "100%25"},
    {"tab\there", 0, "tab%09here"},
    {"nl\n", 0, "nl%0A"},
    {"del\x7f", 0, "del%7F"},
    {"\xc3\xa9t\xc3\xa9", 0, "%C3%A9t%C3%A9"},
    {"(sd-pam)", 0, "%28sd-pam%29"},
    {"a,b=c;d:e", 0, "a%2Cb%3Dc%3Bd%3Ae"},
    {"*?[]{}", 0, "%2A%3F%5B%5D%7B%7D"},
    {"quote\"'\\", 0, "quote%22%27%5C"},
    {"a\0b", 3, "a%00b"},
    {"..", 0, "__"},
    {"//", 0, "~~"},
    /* reserved words */
    {"other", 0, "%6Fther"},
    {"unknown", 0, "%75nknown"},
    {"Other", 0, "Other"},
    {"others", 0, "others"},
    {"unknown.", 0, "unknown_"},
};

START_TEST(test_name_table) {
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    size_t len = names[i].len ? names[i].len : strlen(names[i].key);
    ck_assert_str_eq(name_of(names[i].key, len, 127), names[i].name);
  }
  ck_assert_str_eq(name_of("", 0, 127), "%");
  ck_assert_str_eq(name_of(NULL, 0, 127), "unknown");
}
END_TEST

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The inverse of the escaping of an uncut name, written from the rules in
 * pidio_group.h. Returns the key's length, or -1 for text no key gives. */
static long decode(const char *name, char *out, size_t outsz) {
  size_t n = 0, len = strlen(name);
  if (strcmp(name, "%") == 0)
    return 0;
  if (strcmp(name, PIDIO_GROUP_OTHER) == 0 ||
      strcmp(name, PIDIO_GROUP_UNKNOWN) == 0 || strstr(name, "%%") != NULL)
    return -1;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    ck_assert_uint_lt(n, outsz);
    if (c == '_')
      out[n++] = '.';
    else if (c == '~')
      out[n++] = '/';
    else if (c == '%') {
      if (i + 2 >= len)
        return -1;
      int hi = hexval(name[i + 1]), lo = hi < 0 ? -1 : hexval(name[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      out[n++] = (char)(hi * 16 + lo);
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '-' || c == '@')
      out[n++] = c;
    else
      return -1;
  }
  return (long)n;
}

static bool allowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '@' || c == '_' ||
         c == '~' || c == '%';
}


/* Random keys, the characters that matter most likely. */
static size_t random_key(char *k, size_t max) {
  static const char tricky[] = "._/~%@- aZ09\t\n\x7f\xc3";
  size_t len = unit_rand() % (max + 1);
  for (size_t i = 0; i < len; i++)
    k[i] = unit_rand() % 3 ? tricky[unit_rand() % (sizeof(tricky) - 1)] : (char)(unit_rand() % 256);
  return len;
}

START_TEST(test_name_roundtrip_random) {
  unit_srand(0x9e3779b97f4a7c15ULL);
  char key[40], back[64];
  int rounds = unit_under_valgrind() ? 20000 : 200000;
  for (int i = 0; i < rounds; i++) {
    size_t len = random_key(key, 36);
    const char *name = name_of(key, len, 127); /* 36 * 3 < 127: never cut */
    for (const char *p = name; *p; p++)
      ck_assert_msg(allowed(*p), "name \"%s\" has '%c'", name, *p);
    ck_assert_str_ne(name, PIDIO_GROUP_OTHER);
    ck_assert_str_ne(name, PIDIO_GROUP_UNKNOWN);
    long n = decode(name, back, sizeof(back));
    if (n < 0) {
      /* Only a reserved word is escaped otherwise: undo its first byte. */
      ck_assert_msg(name[0] == '%' && (strcmp(name + 3, "ther") == 0 ||
                                       strcmp(name + 3, "nknown") == 0),
                    "name \"%s\" does not decode", name);
      char plain[16];
      snprintf(plain, sizeof(plain), "%c%s", hexval(name[1]) * 16 + hexval(name[2]),
               name + 3);
      ck_assert(strcmp(plain, "other") == 0 || strcmp(plain, "unknown") == 0);
      ck_assert(len == strlen(plain) && memcmp(key, plain, len) == 0);
      continue;
    }
    ck_assert_msg((size_t)n == len && memcmp(back, key, len) == 0,
                  "name \"%s\" decodes to another key", name);
  }
}
END_TEST

typedef struct named {
  char name[128];
  const char *key;
  size_t len;
} named_t;

static int named_cmp(const void *a, const void *b) {
  return strcmp(((const named_t *)a)->name, ((const named_t *)b)->name);
}

/* A room below the hash suffix's 10 characters, or below an escaped
 * reserved name: never more than max characters, and the length returned
 * is the string's. */
START_TEST(test_name_small_room) {
  static const char *const keys[] = {"a-rather-long-process-name", "other",
                                     "unknown", "\x01\x02\x03\x04"};
  for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
    for (size_t max = 1; max < 10; max++) {
      char out[16];
      memset(out, 'X', sizeof(out));
      size_t n = pidio_group_name(keys[k], strlen(keys[k]), 0, max, out);
      ck_assert_msg(n <= max && strlen(out) == n,
                    "key %zu, max %zu: returned %zu, wrote \"%s\"", k, max, n,
                    out);
      ck_assert_int_eq(out[max + 1], 'X');
    }
}
END_TEST

/* Random keys, rooms that force cutting: equal names only for equal keys. */
START_TEST(test_name_injective_random) {
  enum { N = 20000 };
  unit_srand(0x1234567887654321ULL);
  char(*keys)[64] = calloc(N, sizeof(*keys));
  named_t *nm = calloc(N, sizeof(*nm));
  ck_assert(keys != NULL && nm != NULL);
  size_t cut = 0;
  for (size_t max = PIDIO_GROUP_NAME_MIN; max <= 127; max += 37) {
    for (size_t i = 0; i < N; i++) {
      nm[i].key = keys[i];
      nm[i].len = random_key(keys[i], 60);
      pidio_group_name(keys[i], nm[i].len, 0, max, nm[i].name);
      ck_assert_uint_le(strlen(nm[i].name), max);
      cut += strstr(nm[i].name, "%%") != NULL;
    }
    qsort(nm, N, sizeof(*nm), named_cmp);
    for (size_t i = 1; i < N; i++)
      if (strcmp(nm[i - 1].name, nm[i].name) == 0)
        ck_assert_msg(nm[i - 1].len == nm[i].len &&
                          memcmp(nm[i - 1].key, nm[i].key, nm[i].len) == 0,
                      "two keys named \"%s\" (room %zu)", nm[i].name, max);
  }
  ck_assert_uint_gt(cut, N); /* the short rooms did cut */
  free(keys);
  free(nm);
}
END_TEST

static bool hexlower(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

START_TEST(test_name_cut) {
  char key[300];
  memset(key, 'a', sizeof(key));
  const char *n = name_of(key, sizeof(key), 63);
  ck_assert_uint_eq(strlen(n), 63);
  for (int i = 0; i < 53; i++)
    ck_assert_int_eq(n[i], 'a');
  ck_assert(n[53] == '%' && n[54] == '%');
  for (int i = 55; i < 63; i++)
    ck_assert(hexlower(n[i]));
  char first[128];
  strcpy(first, n);
  /* Stable: the same key, the same name. */
  ck_assert_str_eq(name_of(key, sizeof(key), 63), first);
  /* A key differing only past the cut: another name. */
  key[299] = 'b';
  ck_assert_str_ne(name_of(key, sizeof(key), 63), first);
  /* Exactly the room: not cut. */
  ck_assert_ptr_null(strstr(name_of(key, 63, 63), "%%"));
  ck_assert_ptr_nonnull(strstr(name_of(key, 64, 63), "%%"));

  /* A cut never splits an escape: with escapes at every position of the
   * cut, the part before "%%" decodes to a prefix of the key. */
  for (size_t lead = 0; lead < 6; lead++) {
    char k[200];
    memset(k, 'x', lead);
    for (size_t i = lead; i < sizeof(k); i++)
      k[i] = ' ';
    const char *c = name_of(k, sizeof(k), 40);
    const char *cut = strstr(c, "%%");
    ck_assert_ptr_nonnull(cut);
    ck_assert_uint_eq(strlen(cut), 10);
    char prefix[64], back[64];
    memcpy(prefix, c, (size_t)(cut - c));
    prefix[cut - c] = '\0';
    long m = decode(prefix, back, sizeof(back));
    ck_assert_int_ge(m, 0);
    ck_assert_int_eq(memcmp(back, k, (size_t)m), 0);
  }

  /* The salt changes only the hash. */
  char s0[128], s1[128];
  pidio_group_name(key, sizeof(key), 0, 63, s0);
  pidio_group_name(key, sizeof(key), 1, 63, s1);
  ck_assert_str_ne(s0, s1);
  ck_assert_int_eq(memcmp(s0, s1, 53), 0);
}
END_TEST

START_TEST(test_instance) {
  char out[PIDIO_GROUP_INSTANCE_MAX + 1];
  ck_assert_int_eq(pidio_group_instance("web", "nginx_service", out, sizeof(out)), 0);
  ck_assert_str_eq(out, "web-nginx_service");

  /* The longest block name leaves 63 characters: the longest name fits. */
  char block[64];
  memset(block, 'b', 63);
  block[63] = '\0';
  size_t room = pidio_group_name_room(block);
  ck_assert_uint_eq(room, 63);
  char key[500], name[128];
  memset(key, '.', sizeof(key));
  pidio_group_name(key, sizeof(key), 0, room, name);
  ck_assert_int_eq(pidio_group_instance(block, name, out, sizeof(out)), 0);
  ck_assert_uint_eq(strlen(out), 127);

  ck_assert_uint_eq(pidio_group_name_room("web"), 123);
  char longname[125];
  memset(longname, 'n', 124);
  longname[124] = '\0';
  ck_assert_int_eq(pidio_group_instance("web", longname, out, sizeof(out)),
                   -ENAMETOOLONG);
  longname[123] = '\0';
  ck_assert_int_eq(pidio_group_instance("web", longname, out, sizeof(out)), 0);
}
END_TEST

Suite *make_group_suite(void) {
  Suite *s = suite_create("group");
  TCase *tc = tcase_create("keys");
  tcase_add_test(tc, test_key_parse);
  tcase_add_test(tc, test_unit);
  tcase_add_test(tc, test_exe_len);
  tcase_add_test(tc, test_user);
  tcase_add_test(tc, test_key_of);
  tcase_add_test(tc, test_users_cache);
  tcase_add_test(tc, test_read_key_fixtures);
  tcase_add_test(tc, test_read_key_real);
  suite_add_tcase(s, tc);

  tc = tcase_create("names");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_name_table);
  tcase_add_test(tc, test_name_roundtrip_random);
  tcase_add_test(tc, test_name_small_room);
  tcase_add_test(tc, test_name_injective_random);
  tcase_add_test(tc, test_name_cut);
  tcase_add_test(tc, test_instance);
  suite_add_tcase(s, tc);
  return s;
}
