/*
 * pidio_window: moving-window rates. See pidio_window.h.
 */
#include "pidio_build.h"

#include "pidio_window.h"

#include <errno.h>
#include <stdlib.h>

int pidio_window_init(pidio_window_t *w, unsigned n) {
  *w = (pidio_window_t){0};
  if (n < 2 || n > PIDIO_WINDOW_MAX)
    return -EINVAL;
  w->t = calloc(n + 1, sizeof(*w->t));
  w->c = calloc(n + 1, sizeof(*w->c));
  if (w->t == NULL || w->c == NULL) {
    pidio_window_free(w);
    return -ENOMEM;
  }
  w->n = n;
  return 0;
}

void pidio_window_free(pidio_window_t *w) {
  free(w->t);
  free(w->c);
  *w = (pidio_window_t){0};
}

void pidio_window_push(pidio_window_t *w, double t, const pidio_io_t *c) {
  unsigned size = w->n + 1;
  if (w->count > 0 && !(t > w->t[w->head])) {
    /* Same instant (or a clock that did not move): a rate over zero time
     * has no meaning, keep only the newer counters. */
    w->c[w->head] = *c;
    return;
  }
  w->head = w->count == 0 ? 0 : (w->head + 1) % size;
  w->t[w->head] = t;
  w->c[w->head] = *c;
  if (w->count < size)
    w->count++;
}

int pidio_window_rates(const pidio_window_t *w, double rate[PIDIO_NFIELDS]) {
  if (w->count < 2)
    return -EAGAIN;
  unsigned size = w->n + 1;
  unsigned oldest = (w->head + size - (w->count - 1)) % size;
  double dt = w->t[w->head] - w->t[oldest];
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    uint64_t now = w->c[w->head].v[f], then = w->c[oldest].v[f];
    /* Unsigned difference first: exact for any counter size. */
    rate[f] = now >= then ? (double)(now - then) / dt : 0.0;
  }
  return 0;
}

int pidio_window_rater_init(pidio_window_rater_t *r, unsigned n) {
  *r = (pidio_window_rater_t){.n = n};
  return n >= 2 ? pidio_window_init(&r->win, n) : 0;
}

void pidio_window_rater_free(pidio_window_rater_t *r) {
  if (r->n >= 2)
    pidio_window_free(&r->win);
}

bool pidio_window_rater_push(pidio_window_rater_t *r, double t,
                             const pidio_io_t *c, double rate[PIDIO_NFIELDS]) {
  if (r->n >= 2) {
    pidio_window_push(&r->win, t, c);
    return pidio_window_rates(&r->win, rate) == 0;
  }
  bool ok = r->have_prev && t > r->t_prev;
  if (ok)
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      rate[f] = (double)(c->v[f] - r->prev.v[f]) / (t - r->t_prev);
  if (!r->have_prev || t > r->t_prev) {
    r->prev = *c;
    r->t_prev = t;
    r->have_prev = true;
  }
  return ok;
}
