/*
 * pidio_discover: the listing of a procfs root, kept up to date by looking
 * up new pids. See pidio_discover.h.
 *
 * The last pid is read before the lookups (or the listing): a process born
 * after the reading has a later pid and is found next interval. A pid in
 * the range that is not there yet (allocated, its process not yet set up)
 * is looked up once more next interval, as a listing would see it then.
 */
#include "pidio_build.h"

#include "pidio_discover.h"

#include <errno.h>
#include <stdlib.h>

void pidio_discover_init(pidio_discover_t *d) { *d = (pidio_discover_t){0}; }

void pidio_discover_free(pidio_discover_t *d) {
  pidio_pidlist_free(&d->list);
  free(d->pending);
  *d = (pidio_discover_t){0};
}

void pidio_discover_distrust(pidio_discover_t *d) { d->list_ok = 0; }

/* At most this many new pids are looked up instead of listing. */
static size_t probe_limit(const pidio_discover_t *d) {
  return 32 + d->list.n / 8;
}

static int pending_add(pidio_discover_t *d, pid_t pid) {
  if (d->npending == d->pending_cap) {
    size_t cap = d->pending_cap ? d->pending_cap * 2 : 16;
    pid_t *p = realloc(d->pending, cap * sizeof(*p));
    if (p == NULL)
      return -ENOMEM;
    d->pending = p;
    d->pending_cap = cap;
  }
  d->pending[d->npending++] = pid;
  return 0;
}

/* Add the found processes (sorted) to the sorted listing: a pid already
 * listed (reused since) takes the new inode, the others are merged in
 * from the back. */
static int list_insert(pidio_pidlist_t *l, pidio_pident_t *found, size_t nf) {
  size_t add = 0;
  for (size_t f = 0; f < nf; f++) {
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (l->e[mid].pid < found[f].pid)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo < l->n && l->e[lo].pid == found[f].pid) {
      l->e[lo].ino = found[f].ino;
      found[f].pid = 0; /* done: not added */
    } else {
      add++;
    }
  }
  if (add == 0)
    return 0;
  if (l->n + add > l->cap) {
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->n + add)
      cap *= 2;
    pidio_pident_t *e = realloc(l->e, cap * sizeof(*e));
    if (e == NULL)
      return -ENOMEM;
    l->e = e;
    l->cap = cap;
  }
  size_t i = l->n, out = l->n + add, f = nf;
  while (f > 0) {
    if (found[f - 1].pid == 0) {
      f--;
    } else if (i > 0 && l->e[i - 1].pid > found[f - 1].pid) {
      l->e[--out] = l->e[--i];
    } else {
      l->e[--out] = found[--f];
    }
  }
  l->n += add;
  return 0;
}

/* Look up the pids after..last and last interval's pending ones. Returns 0,
 * or a negative errno (then a full listing is done instead). */
static int probe_new(pidio_discover_t *d, const pidio_proc_t *proc, pid_t after,
                     pid_t last) {
  size_t nretry = d->npending;
  size_t cap = nretry + (size_t)(last - after);
  pidio_pident_t *found = malloc((cap ? cap : 1) * sizeof(*found));
  if (found == NULL)
    return -ENOMEM;
  size_t nf = 0;
  int rc = 0;
  pid_t *retry = d->pending;
  d->pending = NULL;
  d->npending = d->pending_cap = 0;
  for (size_t i = 0; i < nretry + (size_t)(last - after) && rc == 0; i++) {
    int again = i < nretry;
    pid_t pid = again ? retry[i] : after + 1 + (pid_t)(i - nretry);
    int r = pidio_proc_probe(proc, pid, &found[nf]);
    d->probed++;
    if (r == 1)
      nf++;
    else if (r == 0 && !again)
      rc = pending_add(d, pid); /* maybe not set up yet: once more */
    else if (r < 0)
      rc = r;
  }
  free(retry);
  if (rc == 0) {
    qsort(found, nf, sizeof(*found), pidio_pident_cmp);
    rc = list_insert(&d->list, found, nf);
  }
  free(found);
  return rc;
}

int pidio_discover_update(pidio_discover_t *d, const pidio_proc_t *proc,
                          uint64_t ticks, uint64_t max_age) {
  pid_t last = 0;
  int own = pidio_proc_last_pid(proc, &last) == 0;
  if (own && d->list_ok && ticks - d->listed_ticks < max_age) {
    if (last == d->last_pid && d->npending == 0)
      return 0;
    if (last >= d->last_pid && (size_t)(last - d->last_pid) <= probe_limit(d)) {
      int rc = probe_new(d, proc, d->last_pid, last);
      if (rc == 0) {
        d->last_pid = last;
        return 0;
      }
    }
  }
  d->list_ok = 0;
  d->npending = 0;
  int rc = pidio_proc_list(proc, &d->list);
  if (rc != 0)
    return rc;
  d->full_listings++;
  d->list_ok = own;
  d->last_pid = last;
  d->listed_ticks = ticks;
  return 0;
}

int pidio_discover_target(pidio_discover_t *d, const pidio_proc_t *proc,
                          pid_t target) {
  pidio_pidlist_t *l = &d->list;
  l->n = 0;
  pidio_pident_t found;
  if (target <= 0)
    return 0;
  /* No pid directory (ENOENT, ESRCH, or not a directory) is no candidate,
   * as a listing would not show one. Another error (EACCES, an I/O
   * error) says nothing about the target: told to the caller like a
   * failed listing, so that its member is not taken for gone and made to
   * rejoin from then on. */
  int rc = pidio_proc_lookup(proc, target, &found);
  if (rc == -ENOTDIR)
    rc = 0;
  if (rc <= 0)
    return rc;
  if (l->cap == 0) {
    l->e = malloc(sizeof(*l->e));
    if (l->e == NULL)
      return -ENOMEM;
    l->cap = 1;
  }
  l->e[0] = found;
  l->n = 1;
  return 0;
}
