/*
 * pidio_discover: which processes a procfs root holds, kept up to date
 * from interval to interval at the least cost.
 *
 * A full listing of the root costs about a microsecond per process, as
 * much as reading an idle member, yet between two intervals few processes
 * are born, often none. When the root is this process's own procfs, the
 * kernel's last allocated pid says which pids are new, and only those are
 * looked up. Processes that exit stay in the listing until the caller
 * finds them gone and drops them (see pidio_discover_t.list).
 *
 * Uses only pidio_proc. Not thread-safe: one discoverer per block, updated
 * by one thread at a time.
 */
#ifndef PIDIO_DISCOVER_H
#define PIDIO_DISCOVER_H

#include "pidio_proc.h"

#include <stdint.h>
#include <sys/types.h>

typedef struct pidio_discover {
  /* The processes of the root, sorted by pid: the result. The caller may
   * remove the entries of processes it found gone (keeping the order),
   * and never adds any. */
  pidio_pidlist_t list;

  /* Between full listings, the list is brought up to date by looking up
   * only the pids handed out since. */
  int list_ok;           /* list is a full listing kept up to date */
  pid_t last_pid;        /* the kernel's last pid when it last was */
  uint64_t listed_ticks; /* boot ticks of the last full listing */
  pid_t *pending;        /* pids not found last time: looked up once more */
  size_t npending, pending_cap;
  uint64_t full_listings, probed; /* how often, for tests and benchmarks */
} pidio_discover_t;

/* An empty discoverer; the first update lists the root in full. */
void pidio_discover_init(pidio_discover_t *d);
void pidio_discover_free(pidio_discover_t *d);

/* Bring the list up to date for this interval (ticks: boot ticks now):
 * by looking up the pids handed out since the previous update, or by
 * listing the root in full, which is done at least every max_age ticks,
 * when more pids were handed out than lookups are worth, when pids wrapped
 * around, and every time for a root that is not this process's procfs.
 * Returns 0 or a negative errno (the root cannot be listed). */
int pidio_discover_update(pidio_discover_t *d, const pidio_proc_t *proc,
                          uint64_t ticks, uint64_t max_age);

/* Make the list that of one candidate pid (target <= 0: none), without
 * listing the root: a block that follows one pid needs no other. Returns
 * 0, -ENOMEM, or the error of a look-up that failed for another reason
 * than the pid's absence (the list is then empty and not to be used). */
int pidio_discover_target(pidio_discover_t *d, const pidio_proc_t *proc,
                          pid_t target);

/* The caller changed the list in a way that may have left it incomplete
 * (an update of its own stopped half-way): list in full next time. */
void pidio_discover_distrust(pidio_discover_t *d);

#endif /* PIDIO_DISCOVER_H */
