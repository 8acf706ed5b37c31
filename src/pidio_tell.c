/*
 * pidio_tell: the text of a trouble cause. See pidio_tell.h.
 */
#include "pidio_build.h"

#include "pidio_tell.h"

#include "pidio_proc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void pidio_tell_text(char *buf, size_t n, const pidio_tell_words_t *w,
                     const pidio_cause_t *c, const pidio_report_t *r,
                     const char *root, const pidio_select_t *sel) {
  /* strerror_r, not strerror: the plugin tells from several read threads. */
  char ebuf[128];
  const char *err = strerror_r(-c->err, ebuf, sizeof(ebuf));
  if (n > 0)
    buf[0] = '\0';
  switch (c->kind) {
  case PIDIO_TROUBLE_DENIED:
    snprintf(buf, n,
             "permission denied reading %s/%d/io; %u of %u matched "
             "process(es) are left out of %s's figures. %s",
             root, (int)c->pid, c->count, r->matched, w->scope, w->remedy);
    break;
  case PIDIO_TROUBLE_UNDECIDED:
    snprintf(buf, n,
             "permission denied reading %s/%d (its exe, status, cgroup or "
             "cmdline, as a selector needs), so %s cannot tell whether %u "
             "process(es) belong to %s. %s",
             root, (int)c->pid, w->prog, c->count, w->scope, w->remedy);
    break;
  case PIDIO_TROUBLE_FAILED:
    snprintf(buf, n,
             "cannot read %s/%d/io: %s; %u process(es) left out of this "
             "interval%s%s",
             root, (int)c->pid, err, c->count,
             c->err == -EMFILE || c->err == -ENFILE ? ". " : "",
             c->err == -EMFILE || c->err == -ENFILE ? w->fd_remedy : "");
    break;
  case PIDIO_TROUBLE_GARBLED:
    snprintf(buf, n,
             "%s/%d/io does not parse as the kernel's io file; %u "
             "process(es) skipped this interval",
             root, (int)c->pid, c->count);
    break;
  case PIDIO_TROUBLE_PIDFILE:
    snprintf(buf, n,
             "%s \"%s\" %s; no process matches until it holds a valid pid",
             w->pidfile, sel->pidfile, pidio_pidfile_strerror(c->err));
    break;
  case PIDIO_TROUBLE_LIST:
    snprintf(buf, n, "cannot read %s \"%s\": %s", w->proc_root, root, err);
    break;
  case PIDIO_TROUBLE_NO_CGROUP2:
    snprintf(buf, n,
             "%s \"%s\" selects on cgroup v2, but %s/%d/cgroup has no cgroup "
             "v2 (0::) line: on a cgroup v1 only host %s matches nothing",
             w->cgroup, sel->cgroup, root, (int)c->pid, w->scope);
    break;
  case PIDIO_TROUBLE_CMDLINE_CUT:
    snprintf(buf, n,
             "%s: %s/%d/cmdline is longer than %d bytes; only its first %d "
             "bytes are matched (%s may miss such processes)",
             w->cmdline, root, (int)c->pid, PIDIO_CMDLINE_MAX,
             PIDIO_CMDLINE_MAX, w->scope);
    break;
  default:
    break;
  }
}
