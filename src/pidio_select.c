/*
 * pidio_select: selectors and matching. See pidio_select.h.
 */
#include "pidio_build.h"

#include "pidio_select.h"

#include "pidio_group.h"
#include "pidio_proc.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pidio_select_init(pidio_select_t *s) { *s = (pidio_select_t){0}; }

void pidio_select_free(pidio_select_t *s) {
  free(s->pidfile);
  free(s->name);
  if (s->cmdline != NULL)
    regfree(&s->cmdline_re);
  free(s->cmdline);
  free(s->exe);
  free(s->user);
  free(s->cgroup);
  *s = (pidio_select_t){0};
}

static int already(const void *set, char *err, size_t errsz) {
  if (set == NULL)
    return 0;
  snprintf(err, errsz, "given twice; a block takes each selector once");
  return -EINVAL;
}

int pidio_select_set_pid(pidio_select_t *s, double value, char *err,
                         size_t errsz) {
  if (s->pid != 0)
    return already(s, err, errsz);
  if (!(value >= 1 && value <= PIDIO_PID_MAX) || value != floor(value)) {
    snprintf(err, errsz, "needs a process id from 1 to %d", PIDIO_PID_MAX);
    return -EINVAL;
  }
  s->pid = (pid_t)value;
  return 0;
}

static int set_string(char **dst, const char *value, char *err, size_t errsz) {
  if (already(*dst, err, errsz) != 0)
    return -EINVAL;
  *dst = strdup(value);
  if (*dst == NULL) {
    snprintf(err, errsz, "out of memory");
    return -ENOMEM;
  }
  return 0;
}

int pidio_select_set_pidfile(pidio_select_t *s, const char *path, char *err,
                             size_t errsz) {
  if (path[0] != '/') {
    snprintf(err, errsz, "needs an absolute path, not \"%s\"", path);
    return -EINVAL;
  }
  return set_string(&s->pidfile, path, err, errsz);
}

int pidio_select_set_name(pidio_select_t *s, const char *name, char *err,
                          size_t errsz) {
  size_t len = strlen(name);
  if (len == 0 || len > 15) {
    /* The kernel keeps at most 15 bytes of a process name: a longer one
     * could never match, which would be a silent empty block. */
    snprintf(err, errsz,
             "\"%s\" can never match: a process name (comm) has 1 to 15 "
             "characters; use CommandLine for longer names",
             name);
    return -EINVAL;
  }
  return set_string(&s->name, name, err, errsz);
}

/* A repetition applied to a repetition ("a**", ".*+", "x{2}{3}"): POSIX
 * leaves it undefined, and glibc compiles some of them in time and memory
 * exponential in their count, which would hold collectd up at start. */
static bool stacked_repetition(const char *re) {
  bool after_rep = false;
  for (const char *p = re; *p != '\0'; p++) {
    if (*p == '\\') {
      if (p[1] != '\0')
        p++;
      after_rep = false;
    } else if (*p == '[') {
      /* A bracket expression: ']' first (after an optional '^') is a
       * member, and so is anything up to the closing ']'. */
      p++;
      if (*p == '^')
        p++;
      if (*p == ']')
        p++;
      while (*p != '\0' && *p != ']')
        p++;
      if (*p == '\0')
        return false; /* unbalanced: regcomp says so */
      after_rep = false;
    } else if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
      if (after_rep)
        return true;
      if (*p == '{')
        while (p[1] != '\0' && *p != '}')
          p++;
      after_rep = true;
    } else {
      after_rep = false;
    }
  }
  return false;
}

int pidio_select_set_cmdline(pidio_select_t *s, const char *regex, char *err,
                             size_t errsz) {
  if (already(s->cmdline, err, errsz) != 0)
    return -EINVAL;
  if (stacked_repetition(regex)) {
    snprintf(err, errsz,
             "invalid regular expression \"%s\": a repetition of a "
             "repetition (like \"a**\" or \".*+\") is undefined in POSIX "
             "extended regular expressions",
             regex);
    return -EINVAL;
  }
  int rc = regcomp(&s->cmdline_re, regex, REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char msg[128];
    regerror(rc, &s->cmdline_re, msg, sizeof(msg));
    snprintf(err, errsz, "invalid regular expression \"%s\": %s", regex, msg);
    return -EINVAL;
  }
  s->cmdline = strdup(regex);
  if (s->cmdline == NULL) {
    regfree(&s->cmdline_re);
    snprintf(err, errsz, "out of memory");
    return -ENOMEM;
  }
  return 0;
}

int pidio_select_set_exe(pidio_select_t *s, const char *path, char *err,
                         size_t errsz) {
  if (path[0] != '/') {
    snprintf(err, errsz, "needs an absolute path, not \"%s\"", path);
    return -EINVAL;
  }
  return set_string(&s->exe, path, err, errsz);
}

static int set_uid(pidio_select_t *s, uid_t uid, const char *label, char *err,
                   size_t errsz) {
  if (already(s->user, err, errsz) != 0)
    return -EINVAL;
  if (set_string(&s->user, label, err, errsz) != 0)
    return -ENOMEM;
  s->uid = uid;
  return 0;
}

int pidio_select_set_user(pidio_select_t *s, const char *user, char *err,
                          size_t errsz) {
  uint64_t v;
  if (pidio_parse_u64(user, strlen(user), &v) == 0) {
    if (v >= (uid_t)-1) {
      snprintf(err, errsz, "uid %s is out of range", user);
      return -EINVAL;
    }
    return set_uid(s, (uid_t)v, user, err, errsz);
  }
  /* Resolved once, at configuration time: a user that does not exist now
   * is a typo, better refused than a block that never matches. */
  uid_t uid;
  int rc = pidio_group_uid_of(user, &uid);
  if (rc == -ENOENT) {
    snprintf(err, errsz, "no such user \"%s\"", user);
    return -EINVAL;
  }
  if (rc != 0) {
    snprintf(err, errsz, "user \"%s\" could not be looked up: %s", user,
             strerror(-rc));
    return -EINVAL;
  }
  return set_uid(s, uid, user, err, errsz);
}

int pidio_select_set_uid(pidio_select_t *s, double uid, char *err,
                         size_t errsz) {
  if (!(uid >= 0 && uid < 4294967295.0) || uid != floor(uid)) {
    snprintf(err, errsz, "needs a user name or a uid from 0 to 4294967294");
    return -EINVAL;
  }
  char label[16];
  snprintf(label, sizeof(label), "%u", (unsigned)uid);
  return set_uid(s, (uid_t)uid, label, err, errsz);
}

int pidio_select_set_cgroup(pidio_select_t *s, const char *path, char *err,
                            size_t errsz) {
  if (path[0] != '/') {
    snprintf(err, errsz,
             "needs a cgroup v2 path from the root, like "
             "\"/system.slice/nginx.service\", not \"%s\"",
             path);
    return -EINVAL;
  }
  if (set_string(&s->cgroup, path, err, errsz) != 0)
    return -EINVAL;
  /* "/a/b/" and "/a/b" are the same cgroup; "/" stays "/". */
  size_t len = strlen(s->cgroup);
  while (len > 1 && s->cgroup[len - 1] == '/')
    s->cgroup[--len] = '\0';
  return 0;
}

void pidio_select_set_children(pidio_select_t *s, bool on) { s->children = on; }

int pidio_select_set_all(pidio_select_t *s, bool on, char *err, size_t errsz) {
  if (s->all) {
    snprintf(err, errsz, "given twice; a block takes each selector once");
    return -EINVAL;
  }
  if (!on) {
    snprintf(err, errsz,
             "All false would select nothing; leave All out, or give "
             "All true for every process");
    return -EINVAL;
  }
  s->all = true;
  return 0;
}

int pidio_select_check(const pidio_select_t *s, char *err, size_t errsz) {
  if (!s->all && s->pid == 0 && s->pidfile == NULL && s->name == NULL &&
      s->cmdline == NULL && s->exe == NULL && s->user == NULL &&
      s->cgroup == NULL) {
    /* The selectors' names are the option table's to spell (a front end
       lists them from there): a list kept here would fall behind it. */
    snprintf(err, errsz, "selects nothing");
    return -EINVAL;
  }
  return 0;
}

bool pidio_select_by_pid(const pidio_select_t *s) {
  return s->pid != 0 || s->pidfile != NULL;
}

bool pidio_select_wants_cmdline(const pidio_select_t *s) {
  return s->cmdline != NULL;
}

bool pidio_select_match(const pidio_select_t *s, const pidio_stat_t *st,
                        const char *cmdline) {
  if (s->name != NULL && strcmp(s->name, st->comm) != 0)
    return false;
  if (s->cmdline != NULL &&
      (cmdline == NULL || regexec(&s->cmdline_re, cmdline, 0, NULL, 0) != 0))
    return false;
  return true;
}

static bool cgroup_within(const char *want, const char *path, size_t plen) {
  size_t wlen = strlen(want);
  if (wlen == 1)
    return true; /* "/" holds everything */
  if (plen < wlen || memcmp(path, want, wlen) != 0)
    return false;
  return plen == wlen || path[wlen] == '/';
}

bool pidio_select_cgroup_match(const pidio_select_t *s, const char *path,
                               size_t plen) {
  return s->cgroup == NULL || cgroup_within(s->cgroup, path, plen);
}

/* What a failed read of a selector's file decides: a process that is gone
 * matches nothing (its exit is found by the block), one that may not be
 * read is not decided and is counted unreadable, and any other error
 * (EMFILE, ENOMEM) decides nothing yet: it is looked at again. */
static enum pidio_match unread(int err) {
  if (err == -ENOENT || err == -ESRCH)
    return PIDIO_MATCH_NO;
  if (err == -EACCES || err == -EPERM)
    return PIDIO_MATCH_DENIED;
  return PIDIO_MATCH_ERROR;
}

bool pidio_select_may_match(const pidio_select_t *s, pid_t pid,
                            const char *comm, uid_t uid, pid_t target) {
  if (pidio_select_by_pid(s) && pid != target)
    return false;
  if (s->name != NULL && strcmp(s->name, comm) != 0)
    return false;
  return s->user == NULL || uid == s->uid;
}

bool pidio_select_needs_dir(const pidio_select_t *s) {
  return s->cgroup != NULL || s->exe != NULL || s->cmdline != NULL;
}

/* known_uid: the real uid when the caller has it (a kernel-side pass
 * gives it), so that status is not read for User; NULL to read it. */
static enum pidio_match match_proc(const pidio_select_t *s, int pid_dirfd,
                                   pid_t pid, const pidio_stat_t *st,
                                   const uid_t *known_uid, pid_t target,
                                   bool *cmdline_cut) {
  if (st->flags & PIDIO_PF_KTHREAD)
    return PIDIO_MATCH_NO;
  if (pidio_select_by_pid(s) && pid != target)
    return PIDIO_MATCH_NO;
  if (s->name != NULL && strcmp(s->name, st->comm) != 0)
    return PIDIO_MATCH_NO;

  char buf[4096];
  size_t len = 0;
  if (s->user != NULL && known_uid != NULL) {
    if (*known_uid != s->uid)
      return PIDIO_MATCH_NO;
  } else if (s->user != NULL) {
    uid_t uid;
    int trunc = 0; /* the Uid line is near the top of a long status */
    int rc = pidio_proc_read_at(pid_dirfd, "status", buf, sizeof(buf), &len,
                                &trunc);
    if (rc != 0)
      return unread(rc);
    if (pidio_parse_status_uid(buf, len, &uid) != 0 || uid != s->uid)
      return PIDIO_MATCH_NO;
  }
  if (s->cgroup != NULL) {
    const char *path;
    size_t plen;
    int trunc = 0;
    int rc = pidio_proc_read_at(pid_dirfd, "cgroup", buf, sizeof(buf), &len,
                                &trunc);
    if (rc != 0)
      return unread(rc);
    rc = pidio_parse_cgroup(buf, len, &path, &plen);
    if (rc == -ENOENT)
      return PIDIO_MATCH_NO_V2; /* a cgroup v1 only host */
    if (rc != 0 || !cgroup_within(s->cgroup, path, plen))
      return PIDIO_MATCH_NO;
  }
  if (s->exe != NULL) {
    ssize_t n = readlinkat(pid_dirfd, "exe", buf, sizeof(buf) - 1);
    if (n < 0)
      return unread(-errno); /* ENOENT also for a process on its way out */
    /* A binary replaced by a package upgrade reads "<path> (deleted)":
     * it is still the program the user named. */
    buf[pidio_group_exe_len(buf, (size_t)n)] = '\0';
    if (strcmp(buf, s->exe) != 0)
      return PIDIO_MATCH_NO;
  }
  char *line = NULL;
  if (s->cmdline != NULL) {
    /* Most command lines fit in buf; a longer one is read whole, up to
     * PIDIO_CMDLINE_MAX, so that a regex for its later words matches. */
    int trunc = 0;
    int rc = pidio_proc_read_long(pid_dirfd, "cmdline", buf, sizeof(buf),
                                  PIDIO_CMDLINE_MAX, &line, &len, &trunc);
    if (rc != 0) {
      /* Only a process that exited meanwhile has an empty command line (it
       * is found gone); one that could not be read is not matched as one,
       * or "^$" and ".*" would select it. */
      enum pidio_match m = unread(rc);
      if (m != PIDIO_MATCH_NO)
        return m;
      line = buf;
      len = 0;
    }
    if (trunc && cmdline_cut != NULL)
      *cmdline_cut = true;
    pidio_parse_cmdline(line, len, line, len + 1); /* in place */
  }
  /* The text rules (name, command line) are pidio_select_match's; the
   * name was also checked first above only to spare the reads. */
  bool yes = pidio_select_match(s, st, line);
  if (line != buf)
    free(line);
  return yes ? PIDIO_MATCH_YES : PIDIO_MATCH_NO;
}

enum pidio_match pidio_select_match_proc(const pidio_select_t *s, int pid_dirfd,
                                         pid_t pid, const pidio_stat_t *st,
                                         pid_t target, bool *cmdline_cut) {
  return match_proc(s, pid_dirfd, pid, st, NULL, target, cmdline_cut);
}

enum pidio_match pidio_select_match_known(const pidio_select_t *s,
                                          int pid_dirfd, pid_t pid,
                                          const pidio_stat_t *st, uid_t uid,
                                          pid_t target, bool *cmdline_cut) {
  return match_proc(s, pid_dirfd, pid, st, &uid, target, cmdline_cut);
}
