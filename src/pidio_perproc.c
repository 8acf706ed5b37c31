/*
 * pidio_perproc: PerProcess policy. See pidio_perproc.h.
 */
#include "pidio_build.h"

#include "pidio_perproc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pidio_perproc_init(pidio_perproc_t *pp, unsigned max, unsigned window) {
  *pp = (pidio_perproc_t){.max = max, .window = window};
}

static void entry_free(pidio_perproc_entry_t *e) {
  pidio_window_rater_free(&e->rater);
}

void pidio_perproc_free(pidio_perproc_t *pp) {
  for (size_t i = 0; i < pp->n; i++)
    entry_free(&pp->e[i]);
  free(pp->e);
  free(pp->mbuf);
  *pp = (pidio_perproc_t){0};
}

static int by_pid(const void *x, const void *y) {
  pid_t a = ((const pidio_perproc_entry_t *)x)->pid;
  pid_t b = ((const pidio_perproc_entry_t *)y)->pid;
  return (a > b) - (a < b);
}

/* The comm of a newcomer, if it is still the process the block counted. */
static void read_comm(const pidio_proc_t *proc, pidio_perproc_entry_t *e) {
  int dfd = pidio_proc_open_pid(proc, e->pid);
  if (dfd < 0)
    return;
  pidio_stat_t st;
  if (pidio_proc_read_stat(dfd, &st) == 0 && st.start_time == e->start)
    memcpy(e->comm, st.comm, sizeof(e->comm));
  close(dfd);
}

static void push(const pidio_perproc_t *pp, pidio_perproc_entry_t *e,
                 double t) {
  /* N = 0: no rates, and no state kept for them. */
  e->have_rates =
      pp->window > 0 && pidio_window_rater_push(&e->rater, t, &e->acc, e->rate);
}

int pidio_perproc_update(pidio_perproc_t *pp, const pidio_block_t *b,
                         unsigned matched, const pidio_proc_t *proc, double t) {
  if (matched > pp->mcap) {
    pidio_member_t *m = realloc(pp->mbuf, matched * sizeof(*m));
    if (m == NULL)
      return -ENOMEM;
    pp->mbuf = m;
    pp->mcap = matched;
  }
  if (pp->e == NULL) {
    pp->e = calloc(pp->max, sizeof(*pp->e));
    if (pp->e == NULL)
      return -ENOMEM;
  }
  size_t n = pidio_block_members(b, pp->mbuf, pp->mcap);
  bool *kept = calloc(n + 1, sizeof(*kept));
  if (kept == NULL)
    return -ENOMEM;

  /* Keep the members that already have figures; both lists are by pid. */
  size_t k = 0, j = 0;
  for (size_t i = 0; i < pp->n; i++) {
    pidio_perproc_entry_t *e = &pp->e[i];
    while (j < n && pp->mbuf[j].pid < e->pid)
      j++;
    if (j < n && pp->mbuf[j].pid == e->pid && pp->mbuf[j].start == e->start) {
      kept[j] = true;
      e->acc = pp->mbuf[j].acc;
      pp->e[k++] = *e;
    } else {
      entry_free(e); /* exited or left: its figures stop */
    }
  }
  /* Newcomers take the free places, in pid order. */
  size_t over = 0;
  for (j = 0; j < n; j++) {
    if (kept[j])
      continue;
    if (k == pp->max) {
      over++;
      continue;
    }
    pidio_perproc_entry_t *e = &pp->e[k];
    *e = (pidio_perproc_entry_t){.pid = pp->mbuf[j].pid,
                                 .start = pp->mbuf[j].start,
                                 .acc = pp->mbuf[j].acc};
    if (pidio_window_rater_init(&e->rater, pp->window) != 0)
      continue; /* no memory for its window: it gets no place this time */
    if (proc != NULL)
      read_comm(proc, e);
    kept[j] = true;
    k++;
  }
  free(kept);
  pp->n = k;
  qsort(pp->e, k, sizeof(*pp->e), by_pid);
  pp->members = n;
  pp->over = over;
  for (size_t i = 0; i < pp->n; i++)
    push(pp, &pp->e[i], t);
  return 0;
}
