/*
 * pidio_block: one block's members and counters. See pidio_block.h for the
 * rules; the comments here say how they are kept.
 */
#include "pidio_build.h"

#include "pidio_block.h"
#include "pidio_discover.h"
#include "pidio_fdbudget.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
  E_MEMBER = 1u << 0,
  E_FRESH = 1u << 1,     /* non-member first seen as a newborn: look again */
  E_DENIED = 1u << 2,    /* member whose io may not be opened */
  E_REREAD = 1u << 3,    /* member that absorbed a reaped member this round */
  E_READ = 1u << 4,      /* read this round: now is valid */
  E_GONE = 1u << 5,      /* member reaped (ESRCH) this round */
  E_BASELINE = 1u << 6,  /* next good read sets the baseline, adds nothing */
  E_ROOT = 1u << 7,      /* member because the selectors match it */
  E_DESC = 1u << 8,      /* member as a descendant of one (Children) */
  E_UNDECIDED = 1u << 9, /* a selector could not be read (EACCES) */
  E_DEFER = 1u << 10,    /* this round's increment waits (defer_ambiguous) */
  E_SETTLED = 1u << 11,  /* reaped, and its credit passed on (settle) */
};
#define E_ROUND (E_READ | E_GONE | E_REREAD)

struct pidio_entry {
  pid_t pid, ppid;
  uint64_t ino, start;
  uint64_t checked; /* boot ticks of the last evaluation */
  int fd;           /* held io descriptor, or -1 */
  unsigned flags;
  pidio_io_t last; /* raw counters at the last good read */
  pidio_io_t now;  /* this round's read */
  pidio_io_t debt; /* what reaped member children had counted, until the
                      next read of this member takes it off */
  pidio_io_t acc;  /* what this member added to the block (PerProcess) */
};

/* A non-member is looked at again after this long, so that a process that
 * exec()s into something the block selects is found. */
#define PIDIO_RECHECK_SECONDS 60

static void drop_fd(pidio_entry_t *en) {
  pidio_fdbudget_release(en->fd);
  en->fd = -1;
}

void pidio_block_init(pidio_block_t *b, const pidio_proc_t *proc,
                      pidio_select_t *sel) {
  *b = (pidio_block_t){0};
  b->proc = proc;
  b->sel = *sel;
  pidio_select_init(sel);
  pidio_discover_init(&b->disc);
}

void pidio_block_free(pidio_block_t *b) {
  for (size_t i = 0; i < b->n; i++)
    drop_fd(&b->e[i]);
  free(b->e);
  free(b->spare);
  free(b->dead);
  free(b->order);
  pidio_discover_free(&b->disc);
  pidio_select_free(&b->sel);
  *b = (pidio_block_t){0};
}

static int grow(pidio_entry_t **a, size_t *cap, size_t need) {
  if (need <= *cap)
    return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  pidio_entry_t *p = realloc(*a, c * sizeof(*p));
  if (p == NULL)
    return -ENOMEM;
  *a = p;
  *cap = c;
  return 0;
}

static int vanished(int rc) { return rc == -ENOENT || rc == -ESRCH; }

/* Read the io file of a member: through its held descriptor, or, when none
 * could be held, by opening it relative to its (checked) pid directory. */
static int read_member(const pidio_block_t *b, pidio_entry_t *en,
                       pidio_io_t *out) {
  if (en->fd >= 0)
    return pidio_proc_read_io(en->fd, out);
  int dfd = pidio_proc_open_pid(b->proc, en->pid);
  if (dfd < 0)
    return dfd;
  /* Without a held descriptor the pid could have been reused: confirm the
   * start time before trusting what the io file says. */
  pidio_stat_t st;
  int rc = pidio_proc_read_stat(dfd, &st);
  if (rc == 0 && st.start_time != en->start)
    rc = -ESRCH;
  if (rc == 0) {
    int fd = pidio_proc_open_io(dfd);
    if (fd < 0) {
      rc = fd;
    } else {
      rc = pidio_proc_read_io(fd, out);
      if (rc == 0 && !(en->flags & E_DENIED) && pidio_fdbudget_take()) {
        en->fd = fd; /* a slot is free again: hold it from now on */
        fd = -1;
      }
      if (fd >= 0)
        close(fd);
    }
  }
  close(dfd);
  return rc;
}

static int due(const pidio_entry_t *en, uint64_t ticks) {
  return ticks - en->checked >= (uint64_t)(PIDIO_RECHECK_SECONDS * pidio_proc_hz());
}

/* The start of this pid's current recheck period. Periods are spread over
 * the minute by pid, so that the processes found at start-up are not all
 * looked at again in the same interval. */
static uint64_t recheck_slot(pid_t pid, uint64_t ticks) {
  uint64_t period = (uint64_t)(PIDIO_RECHECK_SECONDS * pidio_proc_hz());
  uint64_t off = ((uint64_t)pid * 2654435761u) % period;
  return ticks - (ticks + off) % period;
}

/* True when <pid> is still the process that started at `start`, with its
 * stat in *st: the check that a pid was not reused. */
static int same_process(const pidio_block_t *b, pid_t pid, uint64_t start,
                        pidio_stat_t *st) {
  int dfd = pidio_proc_open_pid(b->proc, pid);
  if (dfd < 0)
    return 0;
  int same = pidio_proc_read_stat(dfd, st) == 0 && st->start_time == start;
  close(dfd);
  return same;
}

/* Make a tracked process a member: hold its io descriptor and set where
 * its counting starts. from_birth: it started since the previous interval,
 * so all of its counters count. Returns 0 when it vanished meanwhile. */
static int join(pidio_entry_t *en, int dfd, int from_birth) {
  memset(&en->last, 0, sizeof(en->last));
  memset(&en->acc, 0, sizeof(en->acc));
  en->flags |= E_MEMBER;
  int fd = pidio_proc_open_io(dfd);
  if (fd < 0) {
    if (vanished(fd))
      return 0;
    if (fd == -EACCES || fd == -EPERM)
      en->flags |= E_DENIED;
    else if (!from_birth)
      en->flags |= E_BASELINE; /* EMFILE: opened each interval instead */
    return 1;
  }
  if (!from_birth) {
    /* Already running: count from now on, not what it did before. */
    int rc = pidio_proc_read_io(fd, &en->last);
    if (rc != 0) {
      close(fd);
      if (vanished(rc))
        return 0;
      en->flags |= rc == -EACCES ? E_DENIED : E_BASELINE;
      return 1; /* garbled: baselined by a later good read */
    }
  }
  if (pidio_fdbudget_take())
    en->fd = fd;
  else
    close(fd);
  return 1;
}

/* Look at a process for the first time (or again). Returns 1 and fills *out
 * when it is to be tracked, 0 when it vanished, -1 when it could not be
 * looked at (EMFILE...): not tracked, offered again next interval.
 * force_fresh: it was first seen as a newborn last interval, so from-birth
 * counting still applies. */
static int evaluate(pidio_block_t *b, pid_t pid, uint64_t ino, uint64_t ticks,
                    int force_fresh, pidio_entry_t *out) {
  int dfd = pidio_proc_open_pid(b->proc, pid);
  if (dfd < 0)
    return vanished(dfd) ? 0 : -1;
  pidio_stat_t st;
  int src = pidio_proc_read_stat(dfd, &st);
  if (src != 0) {
    close(dfd);
    return vanished(src) ? 0 : -1;
  }
  int fresh = b->rounds > 0 && st.start_time >= b->prev_ticks;
  *out = (pidio_entry_t){.pid = pid,
                         .ppid = st.ppid,
                         .ino = ino,
                         .start = st.start_time,
                         .checked = recheck_slot(pid, ticks),
                         .fd = -1};
  enum pidio_match m =
      pidio_select_match_proc(&b->sel, dfd, pid, &st, b->target);
  int rc = 1;
  if (m == PIDIO_MATCH_YES) {
    out->flags |= E_ROOT;
    rc = join(out, dfd, fresh || force_fresh);
  } else {
    if (m == PIDIO_MATCH_DENIED)
      out->flags |= E_UNDECIDED; /* looked at again every interval */
    if (m == PIDIO_MATCH_NO_V2 && b->no_cgroup2_pid == 0)
      b->no_cgroup2_pid = pid;
    if (fresh && !force_fresh)
      out->flags |= E_FRESH;
  }
  close(dfd);
  return rc;
}

/* A member that is no longer listed (or no longer selected): it gets a last
 * read in this round, then leaves. */
static int retire(pidio_block_t *b, const pidio_entry_t *en) {
  if (!(en->flags & E_MEMBER))
    return 0;
  if (grow(&b->dead, &b->dead_cap, b->ndead + 1) != 0)
    return -ENOMEM;
  b->dead[b->ndead++] = *en;
  return 0;
}

/* Read order: parents before children. A child reaped after its parent
 * was read is then seen gone in the same round and its share settled
 * against a fresh read of the parent; reading the child first (pids wrap,
 * so pid order is not birth order) would count it twice. */
static int by_start(const void *x, const void *y) {
  const pidio_entry_t *a = *(pidio_entry_t *const *)x;
  const pidio_entry_t *c = *(pidio_entry_t *const *)y;
  if (a->start != c->start)
    return (a->start > c->start) - (a->start < c->start);
  return (a->pid > c->pid) - (a->pid < c->pid);
}

/* Walk the sorted listing and the sorted entries side by side. A listed
 * pid found gone is dropped from the listing too: between full listings
 * (see pidio_discover.h) the listing is kept, and would otherwise offer it again
 * every interval. */
static int merge(pidio_block_t *b, uint64_t ticks) {
  pidio_pidlist_t *l = &b->disc.list;
  if (grow(&b->spare, &b->spare_cap, b->n + l->n) != 0)
    return -ENOMEM;
  size_t i = 0, j = 0, k = 0, w = 0;
  while (i < l->n || j < b->n) {
    if (j == b->n || (i < l->n && l->e[i].pid < b->e[j].pid)) {
      int kept =
          evaluate(b, l->e[i].pid, l->e[i].ino, ticks, 0, &b->spare[k]);
      k += kept > 0;
      if (kept != 0)
        l->e[w++] = l->e[i];
      i++;
    } else if (i == l->n || b->e[j].pid < l->e[i].pid) {
      if (retire(b, &b->e[j]) != 0)
        return -ENOMEM;
      j++;
    } else {
      pidio_entry_t *en = &b->e[j];
      const pidio_pident_t le = l->e[i];
      int kept = 1;
      if (en->ino != le.ino) {
        /* Same pid, new inode: reused, or only a re-created dentry. The
         * start time tells which. */
        pidio_stat_t st;
        if (same_process(b, le.pid, en->start, &st)) {
          en->ino = le.ino;
        } else {
          if (retire(b, en) != 0)
            return -ENOMEM;
          kept = evaluate(b, le.pid, le.ino, ticks, 0, &b->spare[k]);
          k += kept > 0;
          if (kept != 0)
            l->e[w++] = le;
          i++;
          j++;
          continue;
        }
      }
      if (!(en->flags & E_MEMBER) &&
          (en->flags & (E_FRESH | E_UNDECIDED) || due(en, ticks))) {
        kept = evaluate(b, le.pid, le.ino, ticks, (en->flags & E_FRESH) != 0,
                        &b->spare[k]);
        k += kept > 0;
      } else {
        b->spare[k++] = *en;
      }
      if (kept != 0)
        l->e[w++] = le;
      i++;
      j++;
    }
  }
  l->n = w;
  pidio_entry_t *t = b->e;
  size_t tcap = b->cap;
  b->e = b->spare;
  b->cap = b->spare_cap;
  b->n = k;
  b->spare = t;
  b->spare_cap = tcap;
  return 0;
}

/* This interval's pid for a Pid/PidFile block: the Pid, the pidfile's pid,
 * or -1 when the pidfile cannot be read or disagrees with Pid. */
static pid_t find_target(pidio_block_t *b, pidio_report_t *rep) {
  pid_t target = b->sel.pid;
  if (b->sel.pidfile != NULL) {
    pid_t pf = 0;
    int rc = pidio_read_pidfile(b->sel.pidfile, &pf);
    if (rc != 0) {
      rep->pidfile_err = rc;
      return -1;
    }
    if (target != 0 && target != pf)
      return -1; /* Pid and PidFile disagree: nothing matches both */
    target = pf;
  }
  return target;
}

static pidio_entry_t *find(pidio_entry_t *a, size_t n, pid_t pid) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a[mid].pid < pid)
      lo = mid + 1;
    else if (a[mid].pid > pid)
      hi = mid;
    else
      return &a[mid];
  }
  return NULL;
}

static void io_add(pidio_io_t *a, const pidio_io_t *b) {
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    a->v[f] += b->v[f];
}

static int io_nonzero(const pidio_io_t *a) {
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    if (a->v[f] != 0)
      return 1;
  return 0;
}

static void note_read(pidio_entry_t *en, int rc, pidio_report_t *rep) {
  if (rc == 0) {
    en->flags |= E_READ;
  } else if (vanished(rc)) {
    en->flags |= E_GONE;
  } else if (rc == -EACCES || rc == -EPERM) {
    rep->unreadable++;
    if (rep->denied_pid == 0)
      rep->denied_pid = en->pid;
  } else if (rc == -EINVAL || rc == -ERANGE) {
    rep->garbled++;
    if (rep->garbled_pid == 0)
      rep->garbled_pid = en->pid;
  } else {
    /* Out of descriptors (EMFILE, ENFILE), or an I/O error: this member
     * is left out of this interval and said so. */
    rep->failed++;
    if (rep->failed_pid == 0) {
      rep->failed_pid = en->pid;
      rep->failed_err = rc;
    }
  }
}

/* A reaped member's parent, if the parent is a member too: alive, or reaped
 * in this same round. The start times guard against a reused ppid. */
static pidio_entry_t *member_parent(pidio_block_t *b, const pidio_entry_t *c) {
  pidio_entry_t *p = find(b->e, b->n, c->ppid);
  if (p != NULL && (p->flags & E_MEMBER) && !(p->flags & E_GONE) &&
      p->start <= c->start)
    return p;
  for (size_t i = 0; i < b->ndead; i++) {
    p = &b->dead[i];
    if (p->pid == c->ppid && p->start <= c->start && p != c)
      return p;
  }
  return NULL;
}

static int by_start_desc(const void *x, const void *y) {
  const pidio_entry_t *a = x, *c = y;
  if (a->start != c->start)
    return (a->start < c->start) - (a->start > c->start);
  /* Start times have a resolution of a clock tick: a child forked in the
   * same tick is usually the higher pid. pass_on() covers the rest. */
  return (a->pid < c->pid) - (a->pid > c->pid);
}

/* Give a reaped member's credit to its member parent: alive, it takes it
 * off its next increment; reaped in this round and not settled yet, it
 * passes it on with its own. A parent already settled has passed its
 * credit up, so this one follows the same way. */
static void pass_on(pidio_block_t *b, const pidio_entry_t *from,
                    const pidio_io_t *credit) {
  const pidio_entry_t *c = from;
  for (int depth = 0; depth < 64; depth++) {
    pidio_entry_t *p = member_parent(b, c);
    if (p == NULL)
      return;
    if (p->flags & E_SETTLED) {
      c = p;
      continue;
    }
    io_add(&p->debt, credit);
    if (p >= b->e && p < b->e + b->n && !(p->flags & E_DENIED))
      p->flags |= E_REREAD;
    return;
  }
}

/* Move an alive-table member that turned out reaped into the dead list,
 * with its descriptor. */
static void to_dead(pidio_block_t *b, pidio_entry_t *en) {
  en->flags |= E_GONE;
  if (grow(&b->dead, &b->dead_cap, b->ndead + 1) != 0)
    return; /* out of memory: it is dropped by compact() without credit */
  b->dead[b->ndead++] = *en;
  en->fd = -1;
}

/* Its member children now belong to another reaper: learn which. */
static void reparent_orphans(pidio_block_t *b, const pidio_entry_t *d) {
  for (size_t k = 0; k < b->n; k++) {
    pidio_entry_t *o = &b->e[k];
    if (!(o->flags & E_MEMBER) || (o->flags & E_GONE) || o->ppid != d->pid ||
        o->start < d->start)
      continue;
    pidio_stat_t st;
    if (same_process(b, o->pid, o->start, &st))
      o->ppid = st.ppid;
  }
}

/* Re-read a member parent whose member children were reaped: those were
 * reaped before this point, so its counters now surely hold them. */
static void reread_parent(pidio_block_t *b, pidio_entry_t *p,
                          pidio_report_t *rep) {
  pidio_io_t v;
  int rc = read_member(b, p, &v);
  if (rc == 0) {
    p->now = v;
    p->flags |= E_READ;
  } else if (vanished(rc)) {
    to_dead(b, p);
  } else {
    note_read(p, rc, rep);
  }
}

/* The kernel adds a child's totals to its parent's in wait() a moment
 * BEFORE it releases the child: for a few microseconds the child is still
 * readable with its final counters while the parent already holds them. A
 * parent read and a child read can both fall inside that moment, which
 * would count the child twice. A fold adds the child's whole counters to
 * every field of the parent at once, so a parent whose increment is below
 * a child's counters in any field cannot hold it: the usual case, decided
 * without a read. Otherwise the child's state says: running or a zombie,
 * not reaped yet; being reaped ('X') or gone, the parent's figure may hold
 * it, and the parent's increment waits one interval, by when the child is
 * gone and its share is settled against the parent's next read. */
static void defer_ambiguous(pidio_block_t *b) {
  /* Decided on every read of the round first, applied after: a member
   * deferred for its own child is still a child whose read tells about
   * its parent. */
  for (size_t i = 0; i < b->n; i++) {
    pidio_entry_t *c = &b->e[i];
    if (!(c->flags & E_MEMBER) || !(c->flags & E_READ))
      continue;
    pidio_entry_t *p = find(b->e, b->n, c->ppid);
    if (p == NULL || p == c || !(p->flags & E_MEMBER) || !(p->flags & E_READ) ||
        (p->flags & E_DEFER) || p->start > c->start)
      continue;
    int may_hold = 1;
    for (int f = 0; f < PIDIO_NFIELDS && may_hold; f++)
      if (p->now.v[f] < p->last.v[f] ||
          p->now.v[f] - p->last.v[f] < c->now.v[f])
        may_hold = 0;
    if (!may_hold)
      continue;
    int dfd = pidio_proc_open_pid(b->proc, c->pid);
    pidio_stat_t st;
    int reaped = dfd < 0;
    if (dfd >= 0) {
      int rc = pidio_proc_read_stat(dfd, &st);
      reaped =
          vanished(rc) || (rc == 0 && (st.state == 'X' || st.state == 'x'));
      close(dfd);
    }
    if (reaped)
      p->flags |= E_DEFER;
  }
  for (size_t i = 0; i < b->n; i++)
    if (b->e[i].flags & E_DEFER)
      b->e[i].flags &= ~(unsigned)(E_DEFER | E_READ);
}

/* Pass what reaped members had counted on to their member parents, whose
 * io files now hold those totals again. Children before parents, so that a
 * parent reaped in the same round passes its children's share on too. */
#define PIDIO_SETTLE_PASSES 16
static void settle(pidio_block_t *b, pidio_report_t *rep) {
  size_t done = 0;
  for (int pass = 0; done < b->ndead && pass < PIDIO_SETTLE_PASSES; pass++) {
    size_t from = done;
    done = b->ndead;
    qsort(b->dead + from, done - from, sizeof(*b->dead), by_start_desc);
    for (size_t i = from; i < done; i++) {
      pidio_entry_t *d = &b->dead[i];
      if (!(d->flags & E_GONE))
        continue; /* left the block alive: nothing folds anywhere */
      /* What the block counted of it: its latest read (its increment is
       * accounted below) plus what its own reaped children had. */
      pidio_io_t credit = (d->flags & E_READ) ? d->now : d->last;
      io_add(&credit, &d->debt);
      memset(&d->debt, 0, sizeof(d->debt));
      reparent_orphans(b, d);
      pass_on(b, d, &credit);
      d->flags |= E_SETTLED;
    }
    for (size_t k = 0; k < b->n; k++)
      if (b->e[k].flags & E_REREAD) {
        b->e[k].flags &= ~(unsigned)E_REREAD;
        reread_parent(b, &b->e[k], rep);
      }
  }
}

/* What a member added since its last read, less what its reaped member
 * children had already counted. */
static void account(pidio_entry_t *en, pidio_io_t *gain, pidio_report_t *rep) {
  if (!(en->flags & E_READ))
    return; /* unread or deferred: its debt waits for its next read */
  if (en->flags & E_BASELINE) {
    en->flags &= ~(unsigned)E_BASELINE;
    en->last = en->now;
    return;
  }
  pidio_io_t d;
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    if (en->now.v[f] < en->last.v[f]) {
      /* A kernel counter never goes down for one process: this is not a
       * number to trust. Start again from it, add nothing. */
      rep->garbled++;
      if (rep->garbled_pid == 0)
        rep->garbled_pid = en->pid;
      en->last = en->now;
      return;
    }
    d.v[f] = en->now.v[f] - en->last.v[f];
  }
  if (io_nonzero(&en->debt)) {
    /* Absorption adds the child's whole totals to every field at once. If
     * some field grew by less than the children counted, this parent did
     * not absorb them (it ignores SIGCHLD, or was not their reaper): take
     * nothing off. */
    int absorbed = 1;
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      if (d.v[f] < en->debt.v[f])
        absorbed = 0;
    if (absorbed)
      for (int f = 0; f < PIDIO_NFIELDS; f++)
        d.v[f] -= en->debt.v[f];
    memset(&en->debt, 0, sizeof(en->debt));
  }
  io_add(gain, &d);
  io_add(&en->acc, &d);
  en->last = en->now;
}

/* Children: every process whose parent is a member joins, from birth when
 * it started since the previous interval. Repeated until no one joins, so
 * that a new grandchild joins with its new parent. */
static void adopt_descendants(pidio_block_t *b) {
  if (!b->sel.children)
    return;
  for (int changed = 1, pass = 0; changed && pass < 64; pass++) {
    changed = 0;
    for (size_t i = 0; i < b->n; i++) {
      pidio_entry_t *en = &b->e[i];
      if (en->flags & E_MEMBER)
        continue;
      pidio_entry_t *p = find(b->e, b->n, en->ppid);
      if (p == NULL || !(p->flags & E_MEMBER) || p->start > en->start)
        continue;
      int dfd = pidio_proc_open_pid(b->proc, en->pid);
      if (dfd < 0)
        continue;
      pidio_stat_t st;
      if (pidio_proc_read_stat(dfd, &st) == 0 && st.start_time == en->start) {
        int fresh = (en->flags & E_FRESH) ||
                    (b->rounds > 0 && en->start >= b->prev_ticks);
        en->flags &= ~(unsigned)(E_FRESH | E_UNDECIDED);
        if (join(en, dfd, fresh)) {
          en->flags |= E_DESC;
          changed = 1;
        } else {
          en->flags &= ~(unsigned)E_MEMBER;
        }
      }
      close(dfd);
    }
  }
}

/* A Pid/PidFile member whose pid is no longer the target (the pidfile now
 * names a restarted daemon) leaves: it gets a last read, keeps what it
 * added, and stays tracked as a non-member. */
static int leave_if_untargeted(pidio_block_t *b, uint64_t ticks) {
  if (!pidio_select_by_pid(&b->sel))
    return 0;
  for (size_t i = 0; i < b->n; i++) {
    pidio_entry_t *en = &b->e[i];
    if (!(en->flags & E_ROOT) || en->pid == b->target)
      continue;
    if (retire(b, en) != 0)
      return -ENOMEM;
    en->fd = -1; /* the retired copy owns it now */
    en->flags = 0;
    en->checked = recheck_slot(en->pid, ticks);
  }
  return 0;
}

/* A member's io read of this round, or its retry when it was denied. */
static void read_round(pidio_block_t *b, pidio_entry_t *en,
                       pidio_report_t *rep) {
  if (!(en->flags & E_DENIED)) {
    note_read(en, read_member(b, en, &en->now), rep);
    return;
  }
  /* Try again: capabilities can be granted, a uid can change. */
  int dfd = pidio_proc_open_pid(b->proc, en->pid);
  int fd = dfd >= 0 ? pidio_proc_open_io(dfd) : dfd;
  if (dfd >= 0)
    close(dfd);
  if (fd >= 0 && pidio_proc_read_io(fd, &en->now) == 0) {
    en->flags &= ~(unsigned)E_DENIED;
    en->flags |= E_READ | E_BASELINE; /* counted from now on */
    if (pidio_fdbudget_take())
      en->fd = fd;
    else
      close(fd);
    return;
  }
  if (fd >= 0)
    close(fd);
  if (vanished(fd)) {
    en->flags |= E_GONE;
  } else {
    rep->unreadable++;
    if (rep->denied_pid == 0)
      rep->denied_pid = en->pid;
  }
}

/* Move the members marked gone out of the table, in order. With to_dead,
 * they join the dead list (with their descriptor); without, they are
 * already there. */
static int compact(pidio_block_t *b, int to_dead) {
  size_t k = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (b->e[i].flags & E_GONE) {
      if (to_dead && retire(b, &b->e[i]) != 0)
        return -ENOMEM;
    } else {
      if (k != i)
        b->e[k] = b->e[i];
      k++;
    }
  }
  b->n = k;
  return 0;
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int pidio_block_update(pidio_block_t *b, pidio_report_t *rep) {
  *rep = (pidio_report_t){0};
  uint64_t ticks = pidio_proc_boot_ticks();
  b->ndead = 0;
  for (size_t i = 0; i < b->n; i++)
    b->e[i].flags &= ~(unsigned)E_ROUND;

  int by_pid = pidio_select_by_pid(&b->sel);
  b->target = by_pid ? find_target(b, rep) : 0;
  /* With Children, descendants of the target are found in the listing. */
  int rc = by_pid && !b->sel.children
               ? pidio_discover_target(&b->disc, b->proc, b->target)
               : pidio_discover_update(&b->disc, b->proc, ticks,
                                       (uint64_t)(PIDIO_RECHECK_SECONDS *
                                                  pidio_proc_hz()));
  if (rc != 0) {
    rep->list_err = rc;
    return rc;
  }
  if ((rc = merge(b, ticks)) != 0 || (rc = leave_if_untargeted(b, ticks)) != 0) {
    /* the merge may have left the listing half compacted */
    pidio_discover_distrust(&b->disc);
    return rc;
  }
  adopt_descendants(b);
  rep->no_cgroup2_pid = b->no_cgroup2_pid;
  for (size_t i = 0; i < b->n; i++)
    if (b->e[i].flags & E_UNDECIDED) {
      rep->undecided++;
      if (rep->undecided_pid == 0)
        rep->undecided_pid = b->e[i].pid;
    }

  /* Members in birth order, parents first (see by_start). */
  size_t m = 0;
  if (b->n > b->order_cap) {
    pidio_entry_t **o = realloc(b->order, b->n * sizeof(*o));
    if (o == NULL)
      return -ENOMEM;
    b->order = o;
    b->order_cap = b->n;
  }
  for (size_t i = 0; i < b->n; i++)
    if (b->e[i].flags & E_MEMBER)
      b->order[m++] = &b->e[i];
  /* Pid order is birth order until pids wrap: sort only when it is not. */
  size_t sorted = 1;
  while (sorted < m && by_start(&b->order[sorted - 1], &b->order[sorted]) <= 0)
    sorted++;
  if (sorted < m)
    qsort(b->order, m, sizeof(*b->order), by_start);
  double t0 = mono_now();
  for (size_t i = 0; i < m; i++)
    read_round(b, b->order[i], rep);
  rep->read_at = t0 + (mono_now() - t0) / 2;
  if ((rc = compact(b, 1)) != 0)
    return rc;

  /* Members that left in the merge get their last read. */
  for (size_t i = 0; i < b->ndead; i++) {
    pidio_entry_t *d = &b->dead[i];
    if (d->flags & (E_READ | E_GONE | E_DENIED))
      continue;
    int r = read_member(b, d, &d->now);
    if (r == 0)
      d->flags |= E_READ;
    else if (vanished(r))
      d->flags |= E_GONE;
  }

  settle(b, rep);
  compact(b, 0);
  defer_ambiguous(b);

  pidio_io_t gain = {{0}};
  for (size_t i = 0; i < b->n; i++)
    account(&b->e[i], &gain, rep);
  for (size_t i = 0; i < b->ndead; i++) {
    account(&b->dead[i], &gain, rep);
    drop_fd(&b->dead[i]);
  }
  io_add(&b->total, &gain);

  for (size_t i = 0; i < b->n; i++)
    if (b->e[i].flags & E_MEMBER)
      rep->matched++;
  b->prev_ticks = ticks;
  b->rounds++;
  return 0;
}

size_t pidio_block_members(const pidio_block_t *b, pidio_member_t *out,
                           size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < b->n && k < max; i++)
    if (b->e[i].flags & E_MEMBER)
      out[k++] = (pidio_member_t){
          .pid = b->e[i].pid, .start = b->e[i].start, .acc = b->e[i].acc};
  return k;
}
