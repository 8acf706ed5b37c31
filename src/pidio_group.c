/*
 * pidio_group: group keys and names. See pidio_group.h.
 */
#include "pidio_build.h"

#include "pidio_group.h"

#include "pidio_parse.h"
#include "pidio_proc.h"

#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *const pidio_group_key_names[PIDIO_GROUP_NKEYS] = {
    "comm", "exe", "user", "cgroup", "unit"};

int pidio_group_key_parse(const char *s, enum pidio_group_key *out) {
  for (int k = 0; k < PIDIO_GROUP_NKEYS; k++)
    if (strcasecmp(s, pidio_group_key_names[k]) == 0) {
      *out = (enum pidio_group_key)k;
      return 0;
    }
  return -EINVAL;
}

/* Unit types whose cgroups hold processes: a slice holds only cgroups, a
 * target, timer, path or device unit none. */
static bool is_unit(const char *s, size_t len) {
  static const char *const suffix[] = {".service", ".scope", ".socket",
                                       ".mount", ".swap"};
  for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
    size_t n = strlen(suffix[i]);
    /* A bare ".service" is no unit name. */
    if (len > n && memcmp(s + len - n, suffix[i], n) == 0)
      return true;
  }
  return false;
}

void pidio_group_unit(const char *path, size_t len, size_t *off,
                      size_t *ulen) {
  /* From the last component back: the deepest unit wins, so a scope
   * started by a user's service manager is that scope, and a cgroup a
   * delegated service made below itself is still that service. */
  size_t end = len;
  while (end > 0) {
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
      start--;
    if (is_unit(path + start, end - start)) {
      *off = start;
      *ulen = end - start;
      return;
    }
    if (start == 0)
      break;
    end = start - 1;
  }
  *off = 0;
  *ulen = len;
}

size_t pidio_group_exe_len(const char *target, size_t len) {
  static const char deleted[] = " (deleted)";
  size_t n = sizeof(deleted) - 1;
  if (len > n && memcmp(target + len - n, deleted, n) == 0)
    return len - n;
  return len;
}

/* A passwd entry by name (name != NULL) or by uid, into a buffer that
 * grows while the C library says ERANGE (an entry with a long gecos or
 * home does not fit a fixed one), within reason. *heap is the caller's to
 * free. 0, -ENOENT when there is no such entry, or another negative
 * errno. */
static int passwd_lookup(const char *name, uid_t uid, struct passwd *pw,
                         char *stackbuf, size_t stacksz, char **heap) {
  struct passwd *res = NULL;
  char *buf = stackbuf;
  size_t bufsz = stacksz;
  int rc;
  *heap = NULL;
  for (;;) {
    rc = name != NULL ? getpwnam_r(name, pw, buf, bufsz, &res)
                      : getpwuid_r(uid, pw, buf, bufsz, &res);
    if (rc != ERANGE || bufsz >= (1u << 20))
      break;
    bufsz *= 2;
    char *p = realloc(*heap, bufsz);
    if (p == NULL)
      return -ENOMEM;
    *heap = buf = p;
  }
  /* Some backends say "not found" with an errno rather than res NULL. */
  if (rc == ESRCH || rc == EBADF || rc == EPERM)
    rc = ENOENT;
  if (rc != 0)
    return -rc;
  return res != NULL ? 0 : -ENOENT;
}

int pidio_group_uid_of(const char *name, uid_t *uid) {
  struct passwd pw;
  char stackbuf[1024], *heap;
  int rc = passwd_lookup(name, 0, &pw, stackbuf, sizeof(stackbuf), &heap);
  if (rc == 0)
    *uid = pw.pw_uid;
  free(heap);
  return rc;
}

size_t pidio_group_user(uid_t uid, char *out, size_t outsz) {
  struct passwd pw;
  char stackbuf[1024], *heap;
  int rc = passwd_lookup(NULL, uid, &pw, stackbuf, sizeof(stackbuf), &heap);
  int n;
  if (rc == 0 && pw.pw_name != NULL && pw.pw_name[0] != '\0')
    n = snprintf(out, outsz, "%s", pw.pw_name);
  else
    n = snprintf(out, outsz, "%lu", (unsigned long)uid);
  free(heap);
  if (n < 0)
    n = 0;
  return (size_t)n < outsz ? (size_t)n : outsz - 1;
}

static int put(char *out, size_t outsz, size_t *len, const char *s, size_t n) {
  if (n > outsz)
    return -ENAMETOOLONG;
  memcpy(out, s, n);
  *len = n;
  return 0;
}

static int users_cmp(const void *k, const void *e) {
  uid_t a = *(const uid_t *)k, b = ((const pidio_group_user_entry_t *)e)->uid;
  return (a > b) - (a < b);
}

void pidio_group_users_free(pidio_group_users_t *c) {
  free(c->e);
  *c = (pidio_group_users_t){0};
}

size_t pidio_group_users_name(pidio_group_users_t *c, uid_t uid, double now,
                              char *out, size_t outsz) {
  if (c == NULL)
    return pidio_group_user(uid, out, outsz);
  pidio_group_user_entry_t *e =
      c->n > 0 ? bsearch(&uid, c->e, c->n, sizeof(*c->e), users_cmp) : NULL;
  if (e == NULL) {
    if (c->n == PIDIO_GROUP_USERS_MAX)
      c->n = 0;
    if (c->n == c->cap) {
      size_t cap = c->cap ? 2 * c->cap : 16;
      pidio_group_user_entry_t *p = realloc(c->e, cap * sizeof(*p));
      if (p == NULL)
        return pidio_group_user(uid, out, outsz);
      c->e = p;
      c->cap = cap;
    }
    size_t at = 0;
    while (at < c->n && c->e[at].uid < uid)
      at++;
    memmove(c->e + at + 1, c->e + at, (c->n - at) * sizeof(*c->e));
    c->n++;
    e = &c->e[at];
    e->uid = uid;
    e->at = now - 2 * PIDIO_GROUP_USERS_TTL; /* stale: look it up */
  }
  if (!(now - e->at < PIDIO_GROUP_USERS_TTL) || now < e->at) {
    pidio_group_user(uid, e->name, sizeof(e->name));
    e->at = now;
    c->lookups++;
  }
  int n = snprintf(out, outsz, "%s", e->name);
  if (n < 0)
    n = 0;
  return (size_t)n < outsz ? (size_t)n : outsz - 1;
}

int pidio_group_key(enum pidio_group_key key, const pidio_group_facts_t *f,
                    char *out, size_t outsz, size_t *len) {
  return pidio_group_key_cached(key, f, NULL, 0.0, out, outsz, len);
}

int pidio_group_key_cached(enum pidio_group_key key,
                           const pidio_group_facts_t *f,
                           pidio_group_users_t *users, double now, char *out,
                           size_t outsz, size_t *len) {
  size_t off = 0, n = 0;
  char user[256];
  switch (key) {
  case PIDIO_GROUP_COMM:
    if (f->comm == NULL)
      return -ENODATA;
    return put(out, outsz, len, f->comm, strlen(f->comm));
  case PIDIO_GROUP_EXE:
    if (f->exe == NULL)
      return -ENODATA;
    return put(out, outsz, len, f->exe, pidio_group_exe_len(f->exe, f->exe_len));
  case PIDIO_GROUP_USER:
    if (!f->have_uid)
      return -ENODATA;
    n = pidio_group_users_name(users, f->uid, now, user, sizeof(user));
    return put(out, outsz, len, user, n);
  case PIDIO_GROUP_CGROUP:
    if (f->cgroup == NULL)
      return -ENODATA;
    return put(out, outsz, len, f->cgroup, f->cgroup_len);
  case PIDIO_GROUP_UNIT:
    if (f->cgroup == NULL)
      return -ENODATA;
    pidio_group_unit(f->cgroup, f->cgroup_len, &off, &n);
    return put(out, outsz, len, f->cgroup + off, n);
  case PIDIO_GROUP_NKEYS:
    break;
  }
  return -EINVAL;
}

int pidio_group_read_key(enum pidio_group_key key, int pid_dirfd,
                         const char *comm, pidio_group_users_t *users,
                         double now, char *out, size_t outsz, size_t *len) {
  char buf[PIDIO_GROUP_KEY_MAX + 64];
  size_t n = 0;
  int trunc = 0, rc = 0;
  pidio_group_facts_t f = {.comm = comm};
  switch (key) {
  case PIDIO_GROUP_COMM:
    break;
  case PIDIO_GROUP_USER:
    /* The Uid line is near the top of a long status: a cut read is fine. */
    rc = pidio_proc_read_at(pid_dirfd, "status", buf, sizeof(buf), &n, &trunc);
    if (rc != 0)
      return rc;
    if (pidio_parse_status_uid(buf, n, &f.uid) != 0)
      return -ENODATA;
    f.have_uid = true;
    break;
  case PIDIO_GROUP_CGROUP:
  case PIDIO_GROUP_UNIT:
    rc = pidio_proc_read_at(pid_dirfd, "cgroup", buf, sizeof(buf), &n, &trunc);
    if (rc != 0)
      return rc;
    rc = pidio_parse_cgroup(buf, n, &f.cgroup, &f.cgroup_len);
    if (rc != 0)
      return -ENODATA; /* no v2 line, or a line cut short */
    break;
  case PIDIO_GROUP_EXE: {
    ssize_t r = readlinkat(pid_dirfd, "exe", buf, sizeof(buf));
    /* No link: a kernel thread, or a process on its way out. */
    if (r < 0)
      return errno == EPERM     ? -EACCES
             : errno == ENOENT ? -ENODATA
                               : -errno;
    if ((size_t)r == sizeof(buf))
      return -ENAMETOOLONG;
    f.exe = buf;
    f.exe_len = (size_t)r;
    break;
  }
  case PIDIO_GROUP_NKEYS:
    return -EINVAL;
  }
  return pidio_group_key_cached(key, &f, users, now, out, outsz, len);
}

static bool plain(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '@';
}

/* The escape of one byte into e (at most 3 characters); returns its
 * length. */
static size_t escape(unsigned char c, char e[3]) {
  static const char hex[] = "0123456789ABCDEF";
  if (plain(c)) {
    e[0] = (char)c;
    return 1;
  }
  if (c == '.' || c == '/') {
    e[0] = c == '.' ? '_' : '~';
    return 1;
  }
  e[0] = '%';
  e[1] = hex[c >> 4];
  e[2] = hex[c & 15];
  return 3;
}

/* FNV-1a, 64 bits, folded to 32: a short, stable tag of a whole key. */
static uint32_t key_hash(const char *key, size_t len, unsigned salt) {
  uint64_t h = 14695981039346656037ULL;
  for (int i = 0; i < 4; i++) {
    h ^= (salt >> (8 * i)) & 0xff;
    h *= 1099511628211ULL;
  }
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)key[i];
    h *= 1099511628211ULL;
  }
  return (uint32_t)(h ^ (h >> 32));
}

#define HASH_SUFFIX_LEN 10 /* "%%" and 8 hex digits */

/* What snprintf put into room bytes: its return is what it would have
 * written, more than max when a suffix or an escape does not fit. */
static size_t written(int w, size_t room) {
  if (w < 0 || room == 0)
    return 0;
  return (size_t)w < room ? (size_t)w : room - 1;
}

size_t pidio_group_name(const char *key, size_t len, unsigned salt, size_t max,
                        char *out) {
  if (key == NULL) {
    snprintf(out, max + 1, "%s", PIDIO_GROUP_UNKNOWN);
    return strlen(out);
  }
  if (len == 0) {
    snprintf(out, max + 1, "%%");
    return strlen(out);
  }
  size_t n = 0;
  bool cut = false;
  for (size_t i = 0; i < len; i++) {
    char e[3];
    size_t el = escape((unsigned char)key[i], e);
    if (n + el > max) {
      cut = true;
      break;
    }
    memcpy(out + n, e, el);
    n += el;
  }
  if (cut) {
    /* Room for the suffix, then back off whole escapes only: walk the
     * name again and stop before the escape that would cross it. */
    size_t keep = max > HASH_SUFFIX_LEN ? max - HASH_SUFFIX_LEN : 0, m = 0;
    for (size_t i = 0; i < len; i++) {
      char e[3];
      size_t el = escape((unsigned char)key[i], e);
      if (m + el > keep)
        break;
      m += el;
    }
    n = m;
    n += written(snprintf(out + n, max + 1 - n, "%%%%%08x",
                          key_hash(key, len, salt)),
                 max + 1 - n);
    return n;
  }
  out[n] = '\0';
  if (strcmp(out, PIDIO_GROUP_OTHER) == 0 ||
      strcmp(out, PIDIO_GROUP_UNKNOWN) == 0) {
    /* Reserved: escape the first letter ("%6Fther"). */
    char rest[sizeof(PIDIO_GROUP_UNKNOWN)];
    memcpy(rest, out + 1, n);
    n = written(snprintf(out, max + 1, "%%%02X%s", (unsigned char)key[0],
                         rest),
                max + 1);
  }
  return n;
}

size_t pidio_group_name_room(const char *block) {
  size_t b = strlen(block);
  if (b + 1 + PIDIO_GROUP_NAME_MIN > PIDIO_GROUP_INSTANCE_MAX)
    return PIDIO_GROUP_NAME_MIN;
  return PIDIO_GROUP_INSTANCE_MAX - b - 1;
}

int pidio_group_instance(const char *block, const char *name, char *out,
                         size_t outsz) {
  int n = snprintf(out, outsz, "%s-%s", block, name);
  if (n < 0 || (size_t)n >= outsz || n > PIDIO_GROUP_INSTANCE_MAX)
    return -ENAMETOOLONG;
  return 0;
}
