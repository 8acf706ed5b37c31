/*
 * pidio_ledger: observations to exact totals. See pidio_ledger.h for the
 * rules; the comments here say how they are kept.
 */
#include "pidio_build.h"

#include "pidio_ledger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on walks up a family, against a cycle of reused pids. */
#define PIDIO_LEDGER_DEPTH 64
#define PIDIO_LEDGER_SETTLE_PASSES 16

void pidio_ledger_init(pidio_ledger_t *l, bool folds) {
  *l = (pidio_ledger_t){.folds = folds};
}

void pidio_ledger_free(pidio_ledger_t *l) {
  free(l->alive);
  free(l->gone);
  *l = (pidio_ledger_t){0};
}

/* --- counters ------------------------------------------------------------ */

static void io_add(pidio_io_t *a, const pidio_io_t *b) {
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    a->v[f] += b->v[f];
}

static bool io_nonzero(const pidio_io_t *a) {
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    if (a->v[f] != 0)
      return true;
  return false;
}

/* --- one account --------------------------------------------------------- */

void pidio_ledger_join(pidio_ledger_acct_t *a, unsigned dest,
                       const pidio_io_t *base) {
  a->dest = dest;
  a->state = 0;
  if (base != NULL)
    a->last = *base;
  else
    memset(&a->last, 0, sizeof(a->last));
  memset(&a->debt, 0, sizeof(a->debt));
  memset(&a->acc, 0, sizeof(a->acc));
}

void pidio_ledger_rebase(pidio_ledger_acct_t *a) {
  a->state |= PIDIO_LEDGER_BASELINE;
}

void pidio_ledger_new_round(pidio_ledger_acct_t *a) {
  a->state &=
      ~(unsigned)(PIDIO_LEDGER_READ | PIDIO_LEDGER_GONE | PIDIO_LEDGER_REREAD);
}

void pidio_ledger_read(pidio_ledger_acct_t *a) {
  a->state |= PIDIO_LEDGER_READ;
}

void pidio_ledger_gone(pidio_ledger_acct_t *a) {
  a->state |= PIDIO_LEDGER_GONE;
}

/* --- one round ----------------------------------------------------------- */

int pidio_ledger_member(pidio_ledger_t *l, pidio_ledger_acct_t *a) {
  if (l->nalive == l->alive_cap) {
    size_t cap = l->alive_cap ? l->alive_cap * 2 : 64;
    pidio_ledger_acct_t **p = realloc(l->alive, cap * sizeof(*p));
    if (p == NULL)
      return -ENOMEM;
    l->alive = p;
    l->alive_cap = cap;
  }
  l->alive[l->nalive++] = a;
  return 0;
}

int pidio_ledger_depart(pidio_ledger_t *l, const pidio_ledger_acct_t *a) {
  if (l->ngone == l->gone_cap) {
    size_t cap = l->gone_cap ? l->gone_cap * 2 : 16;
    pidio_ledger_acct_t *p = realloc(l->gone, cap * sizeof(*p));
    if (p == NULL)
      return -ENOMEM;
    l->gone = p;
    l->gone_cap = cap;
  }
  l->gone[l->ngone++] = *a;
  return 0;
}

/* The alive member with this pid (not found gone since), or NULL. */
static pidio_ledger_acct_t *alive_member(const pidio_ledger_t *l, pid_t pid) {
  size_t lo = 0, hi = l->nalive;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    pidio_ledger_acct_t *a = l->alive[mid];
    if (a->pid < pid)
      lo = mid + 1;
    else if (a->pid > pid)
      hi = mid;
    else
      return (a->state & PIDIO_LEDGER_GONE) ? NULL : a;
  }
  return NULL;
}

/* A gone member's parent, if the parent is a member too: alive, or departed
 * in this same round. The start times guard against a reused ppid. */
static pidio_ledger_acct_t *member_parent(const pidio_ledger_t *l,
                                          const pidio_ledger_acct_t *c,
                                          bool *alive) {
  pidio_ledger_acct_t *p = alive_member(l, c->ppid);
  *alive = p != NULL && p->start <= c->start;
  if (*alive)
    return p;
  for (size_t i = 0; i < l->ngone; i++) {
    p = &l->gone[i];
    if (p->pid == c->ppid && p->start <= c->start && p != c)
      return p;
  }
  return NULL;
}

static int by_start_desc(const void *x, const void *y) {
  const pidio_ledger_acct_t *a = x, *c = y;
  if (a->start != c->start)
    return (a->start < c->start) - (a->start > c->start);
  /* Start times have a resolution of a clock tick: a child forked in the
   * same tick is usually the higher pid. pass_on() covers the rest. */
  return (a->pid < c->pid) - (a->pid > c->pid);
}

/* Give a gone member's credit to its member parent: alive, it takes it off
 * its next increment (read again to be sure it holds it); departed in this
 * round and not settled yet, it passes it on with its own. A parent already
 * settled has passed its credit up, so this one follows the same way. */
static void pass_on(const pidio_ledger_t *l, const pidio_ledger_acct_t *from,
                    const pidio_io_t *credit) {
  const pidio_ledger_acct_t *c = from;
  for (int depth = 0; depth < PIDIO_LEDGER_DEPTH; depth++) {
    bool alive;
    pidio_ledger_acct_t *p = member_parent(l, c, &alive);
    if (p == NULL)
      return;
    if (p->state & PIDIO_LEDGER_SETTLED) {
      c = p;
      continue;
    }
    io_add(&p->debt, credit);
    if (alive)
      p->state |= PIDIO_LEDGER_REREAD;
    return;
  }
}

/* Its alive member children now belong to another reaper: learn which. */
static void reparent_orphans(const pidio_ledger_t *l,
                             const pidio_ledger_ops_t *ops,
                             const pidio_ledger_acct_t *d) {
  for (size_t k = 0; k < l->nalive; k++) {
    pidio_ledger_acct_t *o = l->alive[k];
    if ((o->state & PIDIO_LEDGER_GONE) || o->ppid != d->pid ||
        o->start < d->start)
      continue;
    pid_t ppid;
    if (ops->parent(ops->ctx, o, &ppid))
      o->ppid = ppid;
  }
}

/* Re-read an alive member parent that got credit: its children were
 * reaped before this point, so its counters now surely hold them. Found
 * gone, it departs and settles in the next pass. */
static void reread_parent(pidio_ledger_t *l, const pidio_ledger_ops_t *ops,
                          pidio_ledger_acct_t *p) {
  pidio_io_t v;
  int rc = ops->reread(ops->ctx, p, &v);
  if (rc == 0) {
    p->now = v;
    p->state |= PIDIO_LEDGER_READ;
  } else if (rc == -ENOENT || rc == -ESRCH) {
    p->state |= PIDIO_LEDGER_GONE;
    /* Out of memory: it is lost without credit, as it would be unseen. */
    (void)pidio_ledger_depart(l, p);
  }
}

/* Pass what gone members had counted on to their member parents, whose
 * counters now hold those totals again. Children before parents, so that
 * a parent gone in the same round passes its children's share on too. */
static void settle(pidio_ledger_t *l, const pidio_ledger_ops_t *ops) {
  size_t done = 0;
  for (int pass = 0; done < l->ngone && pass < PIDIO_LEDGER_SETTLE_PASSES;
       pass++) {
    size_t from = done;
    done = l->ngone;
    qsort(l->gone + from, done - from, sizeof(*l->gone), by_start_desc);
    for (size_t i = from; i < done; i++) {
      pidio_ledger_acct_t *d = &l->gone[i];
      if (!(d->state & PIDIO_LEDGER_GONE))
        continue; /* left alive: nothing folds anywhere */
      /* What was counted of it: its latest read (its increment is
       * accounted below) plus what its own gone children had. */
      pidio_io_t credit = (d->state & PIDIO_LEDGER_READ) ? d->now : d->last;
      io_add(&credit, &d->debt);
      memset(&d->debt, 0, sizeof(d->debt));
      reparent_orphans(l, ops, d);
      pass_on(l, d, &credit);
      d->state |= PIDIO_LEDGER_SETTLED;
    }
    for (size_t k = 0; k < l->nalive; k++)
      if (l->alive[k]->state & PIDIO_LEDGER_REREAD) {
        l->alive[k]->state &= ~(unsigned)PIDIO_LEDGER_REREAD;
        reread_parent(l, ops, l->alive[k]);
      }
  }
}

/* A fold adds a child's whole counters to every field of its parent at
 * once, so a parent whose increment is below a child's counters in any
 * field cannot hold it: the usual case, decided without asking. Otherwise
 * the child's state says: running or a zombie, not reaped yet; being
 * reaped or gone, the parent's figure may hold it, and the parent's
 * increment waits one round, by when the child is gone and its credit is
 * settled against the parent's next read. */
static void defer_ambiguous(const pidio_ledger_t *l,
                            const pidio_ledger_ops_t *ops) {
  /* Decided on every read of the round first, applied after: a member
   * deferred for its own child is still a child whose read tells about
   * its parent. */
  for (size_t i = 0; i < l->nalive; i++) {
    const pidio_ledger_acct_t *c = l->alive[i];
    if ((c->state & (PIDIO_LEDGER_READ | PIDIO_LEDGER_GONE)) !=
        PIDIO_LEDGER_READ)
      continue;
    pidio_ledger_acct_t *p = alive_member(l, c->ppid);
    if (p == NULL || p == c || !(p->state & PIDIO_LEDGER_READ) ||
        (p->state & PIDIO_LEDGER_DEFER) || p->start > c->start)
      continue;
    bool may_hold = true;
    for (int f = 0; f < PIDIO_NFIELDS && may_hold; f++)
      if (p->now.v[f] < p->last.v[f] ||
          p->now.v[f] - p->last.v[f] < c->now.v[f])
        may_hold = false;
    if (may_hold && ops->reaped(ops->ctx, c))
      p->state |= PIDIO_LEDGER_DEFER;
  }
  for (size_t i = 0; i < l->nalive; i++)
    if (l->alive[i]->state & PIDIO_LEDGER_DEFER)
      l->alive[i]->state &= ~(unsigned)(PIDIO_LEDGER_DEFER | PIDIO_LEDGER_READ);
}

/* What a member added since its last read, less what its gone member
 * children had already counted. */
static void account(pidio_ledger_acct_t *a, pidio_io_t *gain,
                    pidio_ledger_note_t *note) {
  if (!(a->state & PIDIO_LEDGER_READ))
    return; /* unread or deferred: its debt waits for its next read */
  if (a->state & PIDIO_LEDGER_BASELINE) {
    a->state &= ~(unsigned)PIDIO_LEDGER_BASELINE;
    a->last = a->now;
    return;
  }
  pidio_io_t d;
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    if (a->now.v[f] < a->last.v[f]) {
      /* A kernel counter never goes down for one process: this is not a
       * number to trust. Start again from it, add nothing. */
      note->garbled++;
      if (note->garbled_pid == 0)
        note->garbled_pid = a->pid;
      a->last = a->now;
      return;
    }
    d.v[f] = a->now.v[f] - a->last.v[f];
  }
  if (io_nonzero(&a->debt)) {
    /* Absorption adds the child's whole totals to every field at once. If
     * some field grew by less than the children counted, this parent did
     * not absorb them (it ignores SIGCHLD, or was not their reaper): take
     * nothing off. */
    bool absorbed = true;
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      if (d.v[f] < a->debt.v[f])
        absorbed = false;
    if (absorbed)
      for (int f = 0; f < PIDIO_NFIELDS; f++)
        d.v[f] -= a->debt.v[f];
    memset(&a->debt, 0, sizeof(a->debt));
  }
  io_add(&gain[a->dest], &d);
  io_add(&a->acc, &d);
  a->last = a->now;
}

void pidio_ledger_discard(pidio_ledger_t *l) {
  l->nalive = 0;
  l->ngone = 0;
}

void pidio_ledger_close(pidio_ledger_t *l, const pidio_ledger_ops_t *ops,
                        pidio_io_t *gain, pidio_ledger_note_t *note) {
  if (l->folds) {
    settle(l, ops);
    defer_ambiguous(l, ops);
  }
  for (size_t i = 0; i < l->nalive; i++)
    if (!(l->alive[i]->state & PIDIO_LEDGER_GONE))
      account(l->alive[i], gain, note);
  for (size_t i = 0; i < l->ngone; i++)
    account(&l->gone[i], gain, note);
  pidio_ledger_discard(l);
}
