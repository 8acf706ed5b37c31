/*
 * pidio_select: selectors and matching. See pidio_select.h.
 */
#include "pidio_build.h"

#include "pidio_select.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pidio_select_init(pidio_select_t *s) { *s = (pidio_select_t){0}; }

void pidio_select_free(pidio_select_t *s) {
  free(s->pidfile);
  free(s->name);
  if (s->cmdline != NULL)
    regfree(&s->cmdline_re);
  free(s->cmdline);
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

int pidio_select_set_cmdline(pidio_select_t *s, const char *regex, char *err,
                             size_t errsz) {
  if (already(s->cmdline, err, errsz) != 0)
    return -EINVAL;
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

int pidio_select_check(const pidio_select_t *s, char *err, size_t errsz) {
  if (s->pid == 0 && s->pidfile == NULL && s->name == NULL &&
      s->cmdline == NULL) {
    snprintf(err, errsz,
             "selects nothing: give at least one of Pid, PidFile, Name, "
             "CommandLine");
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
