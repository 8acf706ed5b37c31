/*
 * pidio_perproc: PerProcess, the figures of each member of a block.
 *
 * Which processes get figures of their own: at most max of a block's
 * members. The set is kept stable: a process keeps its place until it
 * exits (or leaves the block), and newcomers fill the free places in pid
 * order; members beyond the cap are counted in `over` and get none (the
 * block's own figures still count them). Each process has its own rates,
 * as the block has: over a window of N intervals (N >= 2, pidio_window),
 * over the last interval (N = 1), or none (N = 0).
 *
 * A process's figures are what it added to its block (pidio_member_t.acc):
 * they start at 0 when it joined the block, or at its whole counters when
 * it was born after the previous interval.
 */
#ifndef PIDIO_PERPROC_H
#define PIDIO_PERPROC_H

#include "pidio_block.h"
#include "pidio_parse.h"
#include "pidio_proc.h"
#include "pidio_window.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct pidio_perproc_entry {
  pid_t pid;
  uint64_t start;
  char comm[16];   /* read when it got its place; "" when not asked for */
  pidio_io_t acc;  /* its figures */
  bool have_rates; /* false until two samples are held */
  double rate[PIDIO_NFIELDS];
  pidio_window_rater_t rater; /* the rates' state (none kept for N = 0) */
} pidio_perproc_entry_t;

typedef struct pidio_perproc {
  unsigned max;             /* at most this many processes get figures */
  unsigned window;          /* 0, 1, or 2 to PIDIO_WINDOW_MAX intervals */
  pidio_perproc_entry_t *e; /* the processes with figures, by pid */
  size_t n;
  size_t members;       /* the block's members at the last update */
  size_t over;          /* members beyond max at the last update */
  pidio_member_t *mbuf; /* scratch for pidio_block_members */
  size_t mcap;
} pidio_perproc_t;

void pidio_perproc_init(pidio_perproc_t *pp, unsigned max, unsigned window);
void pidio_perproc_free(pidio_perproc_t *pp);

/* Bring the set up to date after pidio_block_update: matched is its
 * report's matched, t its read_at (the time the counters are of). With
 * proc non-NULL a newcomer's comm is read from it. 0, or -ENOMEM (the set
 * is then as before). */
int pidio_perproc_update(pidio_perproc_t *pp, const pidio_block_t *b,
                         unsigned matched, const pidio_proc_t *proc, double t);

#endif /* PIDIO_PERPROC_H */
