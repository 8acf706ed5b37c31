/*
 * pidio_tell: the text of a trouble cause, one renderer for both front
 * ends.
 *
 * The plugin logs a cause through collectd, rate-limited with c_complain;
 * pidio-stream writes it on standard error, rate-limited its own way. What
 * a cause says is the same for both: only the words that belong to a front
 * end differ (its name, its option spellings, its remedies, what its
 * figures are of), and each passes its own.
 */
#ifndef PIDIO_TELL_H
#define PIDIO_TELL_H

#include "pidio_report.h"
#include "pidio_select.h"
#include "pidio_trouble.h"

#include <stddef.h>

/* Room for the longest text: a ProcRoot and a PidFile path of up to
 * PATH_MAX each, and the words around them. */
#define PIDIO_TELL_MAX 16384

typedef struct pidio_tell_words {
  const char *prog;      /* who cannot tell: "pidio" */
  const char *scope;     /* what the figures are of: "this block" */
  const char *remedy;    /* the sentence that gives the permissions */
  const char *fd_remedy; /* the sentence that raises the open-file limit */
  const char *pidfile;   /* the options as the front end spells them */
  const char *proc_root;
  const char *cgroup;
  const char *cmdline;
} pidio_tell_words_t;

/* Write the text of cause c (without a prefix or a newline) into buf of
 * size n, always NUL-terminated, in w's words. r is the interval's report,
 * root the procfs read and sel the block's selectors (for the paths a
 * cause names). */
void pidio_tell_text(char *buf, size_t n, const pidio_tell_words_t *w,
                     const pidio_cause_t *c, const pidio_report_t *r,
                     const char *root, const pidio_select_t *sel);

#endif /* PIDIO_TELL_H */
