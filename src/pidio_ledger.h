/*
 * pidio_ledger: the one place that turns observations of processes into
 * exact totals.
 *
 * A source of observations (today the procfs reader of pidio_block) tells
 * the ledger, per round (interval):
 *  - "process (pid, start) was read with these counters": the counters
 *    the kernel keeps for it since its birth;
 *  - "process (pid, start) is gone": reaped, with its parent (ppid, start)
 *    as last known, and a final read when the source has one;
 *  - "process (pid, start) left": alive, but no longer a member.
 * The ledger answers what each member added this round, per destination:
 * a number the caller chooses for each member when it joins (one block is
 * destination 0; a block split into groups gives each group its own), and
 * keeps per member what it added in all (acc).
 *
 * The rules, numbered as in the README ("How totals are kept"):
 *  1. Totals never go down: a member adds the growth of its counters since
 *     its previous read, never less than nothing. A member that is gone or
 *     left keeps what it added. A counter that went down is not a number to
 *     trust: that member adds nothing this round and counts from it on
 *     (note.garbled).
 *  2. No double counting (one exception: the failed re-read below). With
 *     a source that folds reaped children into
 *     their reaper (procfs: the kernel adds a reaped child's totals into
 *     its reaper's io file), a gone member's credit (what was counted of
 *     it) is taken off the next increment of the member that reaped it, so
 *     the child's I/O counts once. The reaper is the child's parent,
 *     unless the parent had exited first (a zombie reaps nothing: its
 *     children went to the nearest subreaper above it, or init): then the
 *     nearest process above that may have absorbed the child. A process
 *     outside every destination that reaps a member holds its credit
 *     (PIDIO_LEDGER_HOLDS) until it is gone in turn, and passes it on to
 *     its own reaper. The credit of a gone member's own gone children
 *     reaches its reaper only if it had reaped them before it exited: that
 *     share is kept apart (debt_cond). The credit follows the reaper,
 *     whatever the destinations: a child counted in its own destination
 *     keeps it there, and the reaper's destination does not count it
 *     again.
 *  3. Nothing lost from children never seen: a parent's whole increment
 *     counts, including what children that lived less than a round and
 *     were never members added to it when it reaped them.
 *  4. Parents that absorb nothing are not charged less: the first of the
 *     ambiguous cases below.
 *  5. Pid reuse: a process is (pid, start). A parent is a member whose pid
 *     is the child's ppid and that started no later than the child; a
 *     reused pid is a new account (the source must never report the
 *     counters of another process under an account: see pidio_block).
 *  6. Membership changes take effect at a read: a member that leaves gets
 *     its last read and keeps what it added; its successor (a restarted
 *     daemon behind a pidfile) is a new member.
 *  7. A member counts from its join: from birth (all of its counters) when
 *     it started since the previous round, else from the counters at its
 *     join (no spike when pidio starts), or, when those could not be read,
 *     from its next good read.
 * And where a folding source is ambiguous:
 *  - A parent that ignores SIGCHLD or set SA_NOCLDWAIT (or is not the
 *    reaper) does not absorb its children: the credit is taken off only
 *    when the parent's increment is at least the credit in every field and
 *    the source says it may have absorbed it (ops->may_absorb: procfs
 *    checks SIGCHLD ignored, and that what the process absorbed in its
 *    life, its io less its live threads', covers the credit); otherwise
 *    nothing is taken off and the credit is dropped. The uncertain share
 *    (debt_cond) is taken off only when both tests pass with it too. Where
 *    the tests pass and the parent did not absorb it after all, the share
 *    is lost, never counted twice.
 *  - The kernel adds a child into its parent a moment before it releases
 *    the child, so a parent and a child read in the same round may both
 *    show the child's I/O. A parent whose increment is below a child's
 *    counters in some field cannot hold it. Otherwise, when the child is
 *    being reaped ('X') or gone, the parent's increment waits one round,
 *    when the child's credit is settled against the parent's next read.
 *  - When a gone member's parent is gone in the same round, the child's
 *    credit goes to it and passes up with its own (children are settled
 *    before parents; start times have a resolution of one clock tick, and
 *    a parent settled first passes a late child's credit on the same way).
 *  - A gone member's member children are orphans: their new parent is
 *    asked of the source.
 *  - A failed re-read after a fold: an alive member parent that got credit
 *    is read again (ops->reread) so that the credit comes off a figure
 *    that surely holds the child. When that re-read fails for another
 *    reason than the parent's exit (EMFILE, an I/O error), the credit is
 *    judged against the parent's earlier read of this round, which may not
 *    hold the child yet; the child's totals then reach the destination
 *    again with the parent's next read. This is the one way a byte is
 *    counted twice, at most the child's credit, and the source reports
 *    the failed read.
 * With a source that does not fold (it reports each process's own I/O and
 * a final read at exit), no credit is ever passed and no increment waits.
 */
#ifndef PIDIO_LEDGER_H
#define PIDIO_LEDGER_H

#include "pidio_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Account state bits. READ and GONE are set by pidio_ledger_read and
 * pidio_ledger_gone and may be tested by the source; the rest are the
 * ledger's own. */
enum {
  PIDIO_LEDGER_READ = 1u << 0,     /* now holds this round's counters */
  PIDIO_LEDGER_GONE = 1u << 1,     /* reaped this round */
  PIDIO_LEDGER_BASELINE = 1u << 2, /* next good read is the baseline */
  PIDIO_LEDGER_REREAD = 1u << 3,   /* got credit this round: read again */
  PIDIO_LEDGER_DEFER = 1u << 4,    /* this round's increment waits */
  PIDIO_LEDGER_SETTLED = 1u << 5,  /* gone, and its credit passed on */
  PIDIO_LEDGER_HOLDS = 1u << 6,    /* outside every destination, it holds a
                                      gone member's credit in its counters
                                      (debt): the source watches it and
                                      departs it, gone, when it is */
  PIDIO_LEDGER_CHECKED = 1u << 7,  /* ops->exited asked this round */
  PIDIO_LEDGER_EXITED = 1u << 8,   /* ... and it had: it reaps nothing */
  PIDIO_LEDGER_VANISHED = 1u << 9, /* ... and it is gone: what it held went
                                      on to its own reaper already */
};

/* What ops->exited says of a process. */
enum pidio_ledger_life {
  PIDIO_LEDGER_RUNS,   /* it can reap children */
  PIDIO_LEDGER_ZOMBIE, /* exited, not reaped: its counters are final */
  PIDIO_LEDGER_REAPED, /* gone */
};

/* One member's account, kept by the caller (for example inside its own
 * entry for the process) from round to round. */
typedef struct pidio_ledger_acct {
  pid_t pid, ppid;
  uint64_t start;  /* start time, clock ticks since boot */
  unsigned dest;   /* destination of its increments */
  unsigned state;  /* PIDIO_LEDGER_* */
  pidio_io_t last; /* counters at the last good read: the baseline */
  pidio_io_t now;  /* this round's read */
  pidio_io_t debt; /* credit of gone member children, until the next read
                      takes it off */
  pidio_io_t debt_cond; /* credit of their own gone children: in this
                           account's counters only if the child reaped them
                           before it exited, which a source may not tell */
  pidio_io_t acc;  /* what it added to its destination in all */
} pidio_ledger_acct_t;

/* What the ledger asks of the source while it closes a round. Called only
 * with accounts given to pidio_ledger_member in this round, and only by a
 * ledger whose source folds (one that does not may pass NULL ops). */
typedef struct pidio_ledger_ops {
  void *ctx;
  /* Read a's counters again: 0 and *out, -ENOENT/-ESRCH when the process
   * is gone, another negative errno when it could not be read (the source
   * reports that itself). */
  int (*reread)(void *ctx, pidio_ledger_acct_t *a, pidio_io_t *out);
  /* True when a's process is being reaped or gone, false while it runs or
   * is a zombie not yet reaped. */
  bool (*reaped)(void *ctx, const pidio_ledger_acct_t *a);
  /* True and *ppid when a's process is still the one that started at
   * a->start: its parent now. */
  bool (*parent)(void *ctx, const pidio_ledger_acct_t *a, pid_t *ppid);
  /* The next three may be NULL: the ledger then knows only its members,
   * takes every parent for running, and every member for one that may
   * have absorbed (never counting twice, losing more).
   * The account of a tracked process with this pid, a member or not
   * (*member says), or NULL: to walk up a family through processes outside
   * every destination, and to let one of them hold a credit. Accounts
   * returned must stay where they are until the round is closed. */
  pidio_ledger_acct_t *(*tracked)(void *ctx, pid_t pid, bool *member);
  /* Whether a's process still runs (it can reap children), has exited
   * (a zombie), or is gone. */
  enum pidio_ledger_life (*exited)(void *ctx, const pidio_ledger_acct_t *a);
  /* False only when a's process cannot have absorbed a child with these
   * totals (it ignores SIGCHLD, or absorbed less in its life). */
  bool (*may_absorb)(void *ctx, const pidio_ledger_acct_t *a,
                     const pidio_io_t *credit);
} pidio_ledger_ops_t;

/* What closing a round found wrong. */
typedef struct pidio_ledger_note {
  unsigned garbled;  /* accounts whose counters went down: re-based */
  pid_t garbled_pid; /* the first of them */
} pidio_ledger_note_t;

/* The members of one round. */
typedef struct pidio_ledger {
  bool folds; /* the source folds reaped children into their parent */
  pidio_ledger_acct_t **alive; /* this round's members, by pid */
  size_t nalive, alive_cap;
  pidio_ledger_acct_t *gone; /* copies of the members gone or left */
  size_t ngone, gone_cap;
} pidio_ledger_t;

void pidio_ledger_init(pidio_ledger_t *l, bool folds);
void pidio_ledger_free(pidio_ledger_t *l);

/* --- one account --------------------------------------------------------- */

/* Start counting a process (a->pid, ppid, start already set) as a member
 * with this destination: from birth when base is NULL, else from the
 * counters *base. */
void pidio_ledger_join(pidio_ledger_acct_t *a, unsigned dest,
                       const pidio_io_t *base);

/* Its counters are not known yet: the next good read is its baseline and
 * adds nothing. */
void pidio_ledger_rebase(pidio_ledger_acct_t *a);

/* A new round: forget the last round's observations. */
void pidio_ledger_new_round(pidio_ledger_acct_t *a);

/* This round's read: the source has stored the counters in a->now. */
void pidio_ledger_read(pidio_ledger_acct_t *a);

/* The process is gone (reaped). A final read, if the source has one, is
 * given with pidio_ledger_read as well. */
void pidio_ledger_gone(pidio_ledger_acct_t *a);

/* --- one round ----------------------------------------------------------- */

/* A member alive at this round's reads. Members are given in pid order.
 * The account must stay where it is until pidio_ledger_close returns.
 * Returns 0 or -ENOMEM. */
int pidio_ledger_member(pidio_ledger_t *l, pidio_ledger_acct_t *a);

/* A member that is gone (pidio_ledger_gone) or that left alive, or a
 * holder (PIDIO_LEDGER_HOLDS) that is gone: the ledger keeps a copy for
 * this round. Returns 0 or -ENOMEM. */
int pidio_ledger_depart(pidio_ledger_t *l, const pidio_ledger_acct_t *a);

/* Forget this round's members and departures without accounting them
 * (the caller could not hand over the whole round: out of memory). */
void pidio_ledger_discard(pidio_ledger_t *l);

/* Close the round: settle the credit of gone members (folding sources),
 * hold back ambiguous increments, and add every member's increment to
 * gain[a->dest] (gain must have an element for every destination in use)
 * and to its acc. A member found gone while this runs (a re-read after
 * credit) has PIDIO_LEDGER_GONE set in the caller's account, and counts
 * as departed. The round's members and departures are then forgotten. */
void pidio_ledger_close(pidio_ledger_t *l, const pidio_ledger_ops_t *ops,
                        pidio_io_t *gain, pidio_ledger_note_t *note);

#endif /* PIDIO_LEDGER_H */
