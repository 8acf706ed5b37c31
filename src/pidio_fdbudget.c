/*
 * pidio_fdbudget: the process-wide budget of held io descriptors. See
 * pidio_fdbudget.h.
 */
#include "pidio_build.h"

#include "pidio_fdbudget.h"

#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

/* Slots left; -1 until set or first taken (then the default applies). */
static atomic_long fd_budget = -1;

void pidio_fdbudget_set(long n) { atomic_store(&fd_budget, n); }

bool pidio_fdbudget_take(void) {
  long cur = atomic_load(&fd_budget);
  if (cur == -1) {
    /* Not set by the caller: half of the soft limit, leaving the other
     * half to collectd and its other plugins. */
    struct rlimit rl;
    long dflt = 512;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
      dflt = (long)(rl.rlim_cur / 2);
    atomic_compare_exchange_strong(&fd_budget, &cur, dflt);
    cur = atomic_load(&fd_budget);
  }
  while (cur > 0)
    if (atomic_compare_exchange_weak(&fd_budget, &cur, cur - 1))
      return true;
  return false;
}

void pidio_fdbudget_release(int fd) {
  if (fd < 0)
    return;
  close(fd);
  atomic_fetch_add(&fd_budget, 1);
}
