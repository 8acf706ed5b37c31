/*
 * pidio_window: the moving window behind the pidio_rate gauges.
 *
 * A ring of the last N+1 samples (time, counters). The rate of a field is
 * (counter now - counter N intervals ago) / elapsed time; with fewer than N
 * intervals seen it is taken over those there are, from the second sample
 * on. Counters pushed must never go down (the block's sums guarantee that),
 * so a rate is never negative.
 */
#ifndef PIDIO_WINDOW_H
#define PIDIO_WINDOW_H

#include "pidio_parse.h"

#include <stdbool.h>
#include <stddef.h>

#define PIDIO_WINDOW_MAX 10000

typedef struct pidio_window {
  unsigned n;     /* window length in intervals (>= 2) */
  unsigned count; /* samples held, at most n + 1 */
  unsigned head;  /* index of the newest sample */
  double *t;      /* n + 1 times, seconds of a monotonic clock */
  pidio_io_t *c;  /* n + 1 counter sets */
} pidio_window_t;

/* 0, or -EINVAL for n < 2 or n > PIDIO_WINDOW_MAX, or -ENOMEM. */
int pidio_window_init(pidio_window_t *w, unsigned n);
void pidio_window_free(pidio_window_t *w);

/* Add a sample. A time that does not advance replaces the newest sample. */
void pidio_window_push(pidio_window_t *w, double t, const pidio_io_t *c);

/* Fill rate[] (per second) and return 0; -EAGAIN while fewer than two
 * samples are held. */
int pidio_window_rates(const pidio_window_t *w, double rate[PIDIO_NFIELDS]);

/* Rates per second as both front ends give them for a window of n
 * intervals: over a pidio_window for n >= 2, or, for n < 2 (which a window
 * does not take), over the last interval alone. */
typedef struct pidio_window_rater {
  unsigned n;
  pidio_window_t win; /* n >= 2 */
  bool have_prev;     /* n < 2: the previous sample */
  double t_prev;
  pidio_io_t prev;
} pidio_window_rater_t;

/* 0, or as pidio_window_init for n >= 2. */
int pidio_window_rater_init(pidio_window_rater_t *r, unsigned n);
void pidio_window_rater_free(pidio_window_rater_t *r);

/* Add the sample (t, c) and fill rate[]: true when there are rates, false
 * while fewer than two samples are held (rate[] untouched). With n < 2 a
 * time that does not advance is no sample. */
bool pidio_window_rater_push(pidio_window_rater_t *r, double t,
                             const pidio_io_t *c, double rate[PIDIO_NFIELDS]);

#endif /* PIDIO_WINDOW_H */
