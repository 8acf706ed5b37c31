/*
 * pidio_ledger: observations to exact totals. See pidio_ledger.h for the
 * rules; the comments here say how they are kept.
 */
#include "pidio_build.h"

#include "pidio_ledger.h"

#include "pidio_array.h"

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
  memset(&a->debt_cond, 0, sizeof(a->debt_cond));
  memset(&a->acc, 0, sizeof(a->acc));
}

void pidio_ledger_rebase(pidio_ledger_acct_t *a) {
  a->state |= PIDIO_LEDGER_BASELINE;
}

void pidio_ledger_new_round(pidio_ledger_acct_t *a) {
  a->state &= ~(unsigned)(PIDIO_LEDGER_READ | PIDIO_LEDGER_GONE |
                          PIDIO_LEDGER_REREAD | PIDIO_LEDGER_CHECKED |
                          PIDIO_LEDGER_EXITED | PIDIO_LEDGER_VANISHED);
}

void pidio_ledger_read(pidio_ledger_acct_t *a) {
  a->state |= PIDIO_LEDGER_READ;
}

void pidio_ledger_gone(pidio_ledger_acct_t *a) {
  a->state |= PIDIO_LEDGER_GONE;
}

/* --- one round ----------------------------------------------------------- */

int pidio_ledger_member(pidio_ledger_t *l, pidio_ledger_acct_t *a) {
  pidio_ledger_acct_t **p =
      pidio_array_grow(l->alive, &l->alive_cap, l->nalive + 1, sizeof(*p), 64);
  if (p == NULL)
    return -ENOMEM;
  l->alive = p;
  l->alive[l->nalive++] = a;
  return 0;
}

int pidio_ledger_depart(pidio_ledger_t *l, const pidio_ledger_acct_t *a) {
  pidio_ledger_acct_t *p =
      pidio_array_grow(l->gone, &l->gone_cap, l->ngone + 1, sizeof(*p), 16);
  if (p == NULL)
    return -ENOMEM;
  l->gone = p;
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

static bool io_covers(const pidio_io_t *a, const pidio_io_t *b) {
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    if (a->v[f] < b->v[f])
      return false;
  return true;
}

/* False only when the source says a's process cannot have absorbed a child
 * with these totals (a source that cannot tell says nothing). */
static bool may_absorb(const pidio_ledger_ops_t *ops,
                       const pidio_ledger_acct_t *a, const pidio_io_t *credit) {
  return ops == NULL || ops->may_absorb == NULL ||
         ops->may_absorb(ops->ctx, a, credit);
}

/* Whether a tracked process has exited (a zombie, or gone): asked of the
 * source once per round. */
static bool exited(const pidio_ledger_ops_t *ops, pidio_ledger_acct_t *p) {
  if (!(p->state & PIDIO_LEDGER_CHECKED)) {
    p->state |= PIDIO_LEDGER_CHECKED;
    enum pidio_ledger_life life = ops->exited(ops->ctx, p);
    if (life != PIDIO_LEDGER_RUNS)
      p->state |= PIDIO_LEDGER_EXITED;
    if (life == PIDIO_LEDGER_REAPED)
      p->state |= PIDIO_LEDGER_VANISHED;
  }
  return (p->state & PIDIO_LEDGER_EXITED) != 0;
}

/* An exited member parent folded its child before it exited only if its
 * counters grew by the child's totals since its last read: its final
 * counters are read again (a zombie's stay readable). */
static bool exited_parent_folded(const pidio_ledger_ops_t *ops,
                                 pidio_ledger_acct_t *p,
                                 const pidio_io_t *credit) {
  pidio_io_t v;
  if (ops->reread(ops->ctx, p, &v) != 0) {
    if (!(p->state & PIDIO_LEDGER_READ))
      return true; /* unknown: the rule that never counts twice */
    v = p->now;
  }
  if (p->state & PIDIO_LEDGER_BASELINE)
    return false; /* it counts from its next read: nothing to take off */
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    if (v.v[f] < p->last.v[f] || v.v[f] - p->last.v[f] < credit->v[f])
      return false;
  return may_absorb(ops, p, credit);
}

/* The account whose counters a gone member's totals went to, if it is
 * tracked: its parent, alive, or departed in this same round (*alive
 * false). The start times guard against a reused ppid. *cond is set when
 * that is not certain: the totals reach it only if some process between
 * them folded the child first. A parent that had exited before the child
 * did not reap it (unless its counters grew by the child's totals since
 * its last read): the child was handed to the nearest subreaper above it
 * (or init), which the source does not name, so the walk goes up to the
 * nearest process that may have absorbed it. A parent outside every
 * destination holds the credit (*member false). */
static pidio_ledger_acct_t *reaper_of(const pidio_ledger_t *l,
                                      const pidio_ledger_ops_t *ops,
                                      const pidio_ledger_acct_t *c,
                                      const pidio_io_t *credit, bool *alive,
                                      bool *member, bool *cond) {
  pid_t ppid = c->ppid;
  uint64_t start = c->start;
  for (int depth = 0; depth < PIDIO_LEDGER_DEPTH; depth++) {
    bool m = true;
    pidio_ledger_acct_t *p = ops->tracked != NULL
                                 ? ops->tracked(ops->ctx, ppid, &m)
                                 : alive_member(l, ppid);
    *alive = p != NULL && p != c && !(p->state & PIDIO_LEDGER_GONE) &&
             p->start <= start;
    *member = m;
    if (*alive) {
      if (ops->exited == NULL || !exited(ops, p)) {
        if (!*cond) {
          /* The child's own parent reaped it, or the kernel did. */
          if (m)
            return p;
          return may_absorb(ops, p, credit) ? p : NULL;
        }
        /* Above a parent that exited first: one that cannot have
         * absorbed the orphan is not its reaper. */
        if (may_absorb(ops, p, credit))
          return p;
      } else if (m ? exited_parent_folded(ops, p, credit)
                   : !(p->state & PIDIO_LEDGER_VANISHED) &&
                         may_absorb(ops, p, credit)) {
        /* (One outside every destination that is gone already passed
         * whatever it held on to its reaper, in this very interval
         * maybe: the credit goes up at once.) */
        return p;
      }
      *cond = true;
      ppid = p->ppid;
      start = p->start;
      continue;
    }
    for (size_t i = 0; i < l->ngone; i++) {
      p = &l->gone[i];
      if (p->pid == ppid && p->start <= start && p != c) {
        *member = !(p->state & PIDIO_LEDGER_HOLDS);
        return p;
      }
    }
    return NULL;
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

/* Give a gone member's credit to the account that now holds its totals:
 * alive, a member takes it off its next increment (read again to be sure
 * it holds it) and one outside every destination holds it; departed in
 * this round and not settled yet, it passes it on with its own. One
 * already settled has passed its credit up, so this one follows the same
 * way, as uncertain. */
static void pass_on(const pidio_ledger_t *l, const pidio_ledger_ops_t *ops,
                    const pidio_ledger_acct_t *from, const pidio_io_t *credit,
                    const pidio_io_t *credit_cond) {
  const pidio_ledger_acct_t *c = from;
  bool cond = false;
  pidio_io_t all = *credit;
  io_add(&all, credit_cond);
  for (int depth = 0; depth < PIDIO_LEDGER_DEPTH; depth++) {
    bool alive, member;
    pidio_ledger_acct_t *p =
        reaper_of(l, ops, c, &all, &alive, &member, &cond);
    if (p == NULL)
      return;
    if (p->state & PIDIO_LEDGER_SETTLED) {
      cond = true;
      c = p;
      continue;
    }
    if (cond) {
      io_add(&p->debt_cond, &all);
    } else {
      io_add(&p->debt, credit);
      io_add(&p->debt_cond, credit_cond);
    }
    if (!member)
      p->state |= PIDIO_LEDGER_HOLDS;
    else if (alive)
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
       * accounted below). What its own gone children had is in its
       * counters only if it reaped them before it exited: uncertain. */
      pidio_io_t credit = (d->state & PIDIO_LEDGER_READ) ? d->now : d->last;
      pidio_io_t credit_cond = d->debt;
      io_add(&credit_cond, &d->debt_cond);
      bool own_read_holds = false;
      if ((d->state & (PIDIO_LEDGER_READ | PIDIO_LEDGER_BASELINE |
                       PIDIO_LEDGER_HOLDS)) == PIDIO_LEDGER_READ &&
          io_nonzero(&d->debt)) {
        /* Read this round, then found gone at its re-read: its read may
         * already hold the children it reaped. When its increment covers
         * them they come off that increment (account()), and only their
         * own children's credit goes up as uncertain. Were they not in
         * the read after all, its reaper absorbs them with it, and the
         * credit passed up (that read) lacks them: exact either way. */
        own_read_holds = true;
        for (int f = 0; f < PIDIO_NFIELDS && own_read_holds; f++)
          if (d->now.v[f] < d->last.v[f] ||
              d->now.v[f] - d->last.v[f] < d->debt.v[f])
            own_read_holds = false;
        if (own_read_holds)
          credit_cond = d->debt_cond;
      }
      if (d->state & PIDIO_LEDGER_HOLDS) {
        /* A holder outside every destination: none of its own was
         * counted, and the credit it holds is in its counters for sure. */
        credit = d->debt;
        credit_cond = d->debt_cond;
      }
      if (!own_read_holds)
        memset(&d->debt, 0, sizeof(d->debt));
      memset(&d->debt_cond, 0, sizeof(d->debt_cond));
      reparent_orphans(l, ops, d);
      pass_on(l, ops, d, &credit, &credit_cond);
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
static void account(const pidio_ledger_ops_t *ops, pidio_ledger_acct_t *a,
                    pidio_io_t *gain, pidio_ledger_note_t *note) {
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
  if (io_nonzero(&a->debt) || io_nonzero(&a->debt_cond)) {
    /* Absorption adds the child's whole totals to every field at once, and
     * to what the parent absorbed in its life. If some field of either
     * grew by less than the children counted, this parent did not absorb
     * them (it ignores SIGCHLD, set SA_NOCLDWAIT, or was not their
     * reaper): take nothing off. The uncertain share is taken off only
     * when both tests pass with it too. */
    pidio_io_t all = a->debt;
    io_add(&all, &a->debt_cond);
    const pidio_io_t *take = NULL;
    if (io_nonzero(&a->debt_cond) && io_covers(&d, &all) &&
        may_absorb(ops, a, &all))
      take = &all;
    else if (io_nonzero(&a->debt) && io_covers(&d, &a->debt) &&
             may_absorb(ops, a, &a->debt))
      take = &a->debt;
    if (take != NULL)
      for (int f = 0; f < PIDIO_NFIELDS; f++)
        d.v[f] -= take->v[f];
    memset(&a->debt, 0, sizeof(a->debt));
    memset(&a->debt_cond, 0, sizeof(a->debt_cond));
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
  const pidio_ledger_ops_t *fold_ops = l->folds ? ops : NULL;
  for (size_t i = 0; i < l->nalive; i++)
    if (!(l->alive[i]->state & PIDIO_LEDGER_GONE))
      account(fold_ops, l->alive[i], gain, note);
  for (size_t i = 0; i < l->ngone; i++)
    account(fold_ops, &l->gone[i], gain, note);
  pidio_ledger_discard(l);
}
