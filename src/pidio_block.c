/*
 * pidio_block: one block's members and counters. See pidio_block.h for the
 * rules; the comments here say how they are kept.
 */
#include "pidio_build.h"

#include "pidio_block.h"
#include "pidio_discover.h"
#include "pidio_fdbudget.h"
#include "pidio_ledger.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Membership; the counting state is the ledger's (pidio_ledger_acct_t). */
enum {
  E_MEMBER = 1u << 0,
  E_FRESH = 1u << 1,    /* non-member first seen as a newborn: look again */
  E_DENIED = 1u << 2,   /* member whose io may not be opened */
  E_ROOT = 1u << 3,     /* member because the selectors match it */
  E_DESC = 1u << 4,     /* member as a descendant of one (Children) */
  E_UNDECIDED = 1u << 5, /* a selector could not be read (EACCES) */
  E_MISSED = 1u << 6,    /* member not read this round (unreadable) */
  E_ENDED = 1u << 7,     /* own I/O: ended or not in the pass: its exit
                            record decides */
  E_AWAIT = 1u << 8      /* own I/O: gone from /proc without a record yet:
                            one more round for it */
};

/* A process by its identity. */
struct pidio_ident {
  pid_t pid;
  uint64_t start;
};

/* A set of identities (open addressing; pid 0, never a process's, marks an
 * empty slot): a storm of exits is looked up in constant time each. */
struct pidio_idset {
  struct pidio_ident *slot;
  size_t n, cap; /* cap: 0 or a power of two, at least twice n */
};

/* This round's exit records (own I/O), for the members to find; and what a
 * descendant's record needs to find its parent a member when that parent
 * was never seen alive either. */
struct pidio_exitlist {
  pidio_bpf_exit_t *e;
  size_t n, cap;
  /* Records of processes that ended before a parent the block did not know
   * yet (not tracked: born since the last listing): decided again in the
   * next round, once, when that parent has joined or its own record has
   * come (the drain may fall between a child's exit and its parent's). */
  pidio_bpf_exit_t *held;
  size_t nheld, held_cap;
  /* Members that ended (or left) this round, and in the previous one: a
   * child of theirs that outlived them comes with a record later. */
  struct pidio_idset ended, ended_prev;
  size_t *cand; /* indices into e of records still to decide */
  size_t ncand, cand_cap;
};

/* Records held for the next round at most (each about 1.4 KiB): a storm of
 * processes whose parents are all unknown beyond this is decided at once,
 * as not descendants. */
#define PIDIO_EXITS_HELD_MAX 4096

/* A tracked process: a member, or a non-member looked at again later. */
struct pidio_entry {
  pidio_ledger_acct_t a; /* pid, ppid, start time, and what it counted */
  uint64_t ino;
  uint64_t checked; /* boot ticks of the last evaluation */
  int fd;           /* held io descriptor, or -1 */
  unsigned flags;   /* E_* */
  uint64_t dlast;   /* own I/O: block-I/O delay at the last read, or
                       DELAY_UNKNOWN until a read sets the base */
  pidio_groups_entry_t *grp; /* GroupBy: its group while a member */
};

#define DELAY_UNKNOWN UINT64_MAX

static pidio_entry_t *entry_of(pidio_ledger_acct_t *a) {
  return (pidio_entry_t *)((char *)a - offsetof(pidio_entry_t, a));
}

/* A non-member is looked at again after this long, so that a process that
 * exec()s into something the block selects is found. */
#define PIDIO_RECHECK_SECONDS 60

void pidio_block_init(pidio_block_t *b, const pidio_proc_t *proc,
                      pidio_select_t *sel) {
  *b = (pidio_block_t){0};
  b->proc = proc;
  b->sel = *sel;
  pidio_select_init(sel);
  pidio_discover_init(&b->disc);
  pidio_ledger_init(&b->ledger, true); /* the kernel folds reaped children */
}

void pidio_block_set_ownio(pidio_block_t *b, const pidio_ownio_t *own) {
  b->own = *own;
  b->use_own = true;
  /* Own I/O never holds a reaped child's: nothing to fold. */
  pidio_ledger_free(&b->ledger);
  pidio_ledger_init(&b->ledger, false);
}

int pidio_block_group_by(pidio_block_t *b, enum pidio_group_key key,
                         const pidio_groups_conf_t *conf) {
  pidio_groups_t *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return -ENOMEM;
  int rc = pidio_groups_init(t, conf);
  if (rc != 0) {
    free(t);
    return rc;
  }
  b->groups = t;
  b->group_key = key;
  return 0;
}

void pidio_block_free(pidio_block_t *b) {
  for (size_t i = 0; i < b->n; i++)
    pidio_fdbudget_release(b->e[i].fd);
  if (b->exits != NULL) {
    free(b->exits->e);
    free(b->exits->held);
    free(b->exits->ended.slot);
    free(b->exits->ended_prev.slot);
    free(b->exits->cand);
  }
  free(b->exits);
  if (b->groups != NULL) {
    pidio_groups_free(b->groups);
    free(b->groups);
  }
  pidio_group_users_free(&b->users);
  free(b->gain);
  free(b->e);
  free(b->fresh);
  free(b->dead);
  free(b->order);
  free(b->vacated);
  free(b->left);
  pidio_discover_free(&b->disc);
  pidio_ledger_free(&b->ledger);
  pidio_select_free(&b->sel);
  *b = (pidio_block_t){0};
}

/* --- the table and its descriptors --------------------------------------- */

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

static pidio_entry_t *find(pidio_entry_t *a, size_t n, pid_t pid) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a[mid].a.pid < pid)
      lo = mid + 1;
    else if (a[mid].a.pid > pid)
      hi = mid;
    else
      return &a[mid];
  }
  return NULL;
}

/* The one way an entry leaves the table: a member moves to the dead list
 * with its descriptor, there to get its last read in this round and be
 * accounted; so does a non-member that holds a member's credit
 * (PIDIO_LEDGER_HOLDS), as gone: it leaves only when it is no longer
 * listed or found gone, and its credit moves on to its reaper. Any other
 * non-member's descriptor (none) is closed, and it is remembered for
 * this round (b->left): a member it reaped may be reaped in the same
 * round, and its credit must find the way up past it. Either way en no
 * longer owns a descriptor. */
static int retire(pidio_block_t *b, pidio_entry_t *en) {
  if (en->flags & E_MEMBER || en->a.state & PIDIO_LEDGER_HOLDS) {
    if (grow(&b->dead, &b->dead_cap, b->ndead + 1) != 0)
      return -ENOMEM;
    b->dead[b->ndead++] = *en;
    if (!(en->flags & E_MEMBER))
      pidio_ledger_gone(&b->dead[b->ndead - 1].a);
  } else {
    pidio_fdbudget_release(en->fd);
    if (grow(&b->left, &b->left_cap, b->nleft + 1) == 0) {
      b->left[b->nleft] = *en;
      b->left[b->nleft++].fd = -1;
    }
  }
  en->fd = -1;
  return 0;
}

/* A member no longer: it leaves its group. */
static void ungroup(pidio_block_t *b, pidio_entry_t *en) {
  if (en->grp != NULL)
    pidio_groups_leave(b->groups, en->grp);
  en->grp = NULL;
}

/* Retire the members found gone (reaped), keeping the table in order. Out
 * of memory, a gone member is dropped without its last accounting, as if
 * it had never been seen. */
static void compact(pidio_block_t *b) {
  size_t k = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (b->e[i].a.state & PIDIO_LEDGER_GONE) {
      if (retire(b, &b->e[i]) != 0) {
        pidio_fdbudget_release(b->e[i].fd);
        ungroup(b, &b->e[i]);
      }
    } else {
      if (k != i)
        b->e[k] = b->e[i];
      k++;
    }
  }
  b->n = k;
}

/* Close the dead list's descriptors: its members have been accounted. */
static void bury(pidio_block_t *b) {
  for (size_t i = 0; i < b->ndead; i++) {
    pidio_fdbudget_release(b->dead[i].fd);
    ungroup(b, &b->dead[i]);
  }
  b->ndead = 0;
}

/* --- reading a member ---------------------------------------------------- */

static int vanished(int rc) { return rc == -ENOENT || rc == -ESRCH; }

/* The record of pid in this round's pass, or NULL. */
static const pidio_bpf_proc_t *pass_find(const pidio_block_t *b, pid_t pid) {
  return pidio_ownio_find(b->pass, b->npass, pid);
}

/* Read the io file of a member: through its held descriptor, or, when none
 * could be held, by opening it relative to its (checked) pid directory. */
static int read_member(const pidio_block_t *b, pidio_entry_t *en,
                       pidio_io_t *out) {
  if (en->fd >= 0)
    return pidio_proc_read_io(en->fd, out);
  int dfd = pidio_proc_open_pid(b->proc, en->a.pid);
  if (dfd < 0)
    return dfd;
  /* Without a held descriptor the pid could have been reused: confirm the
   * start time before trusting what the io file says. */
  pidio_stat_t st;
  int rc = pidio_proc_read_stat(dfd, &st);
  if (rc == 0 && st.start_time != en->a.start)
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

/* A look at a process that failed for another reason than its exit (out
 * of descriptors, EMFILE or ENFILE, or an I/O error): it is left out of
 * this interval and said so, once per round. */
static void note_failed(pidio_entry_t *en, int rc, pidio_report_t *rep) {
  if (en->flags & E_MISSED)
    return;
  en->flags |= E_MISSED;
  rep->failed++;
  if (rep->failed_pid == 0) {
    rep->failed_pid = en->a.pid;
    rep->failed_err = rc;
  }
}

/* A read of a member's io file, told to the ledger or to the report. */
static void note_read(pidio_entry_t *en, int rc, pidio_report_t *rep) {
  if (rc == 0) {
    pidio_ledger_read(&en->a);
  } else if (vanished(rc)) {
    pidio_ledger_gone(&en->a);
  } else if (rc == -EACCES || rc == -EPERM) {
    en->flags |= E_MISSED;
    rep->unreadable++;
    if (rep->denied_pid == 0)
      rep->denied_pid = en->a.pid;
  } else if (rc == -EINVAL || rc == -ERANGE) {
    rep->garbled++;
    if (rep->garbled_pid == 0)
      rep->garbled_pid = en->a.pid;
  } else {
    note_failed(en, rc, rep);
  }
}

/* A member's io read of this round, or its retry when it was denied. */
static void read_round(pidio_block_t *b, pidio_entry_t *en,
                       pidio_report_t *rep) {
  if (!(en->flags & E_DENIED)) {
    note_read(en, read_member(b, en, &en->a.now), rep);
    return;
  }
  /* Try again: capabilities can be granted, a uid can change. No
   * descriptor is held, so the pid could have been reused since the last
   * full listing: the start time is checked before the io file is
   * trusted, and each failure is told by its own error. */
  int rc = pidio_proc_open_pid(b->proc, en->a.pid);
  if (rc >= 0) {
    int dfd = rc;
    pidio_stat_t st;
    rc = pidio_proc_read_stat(dfd, &st);
    if (rc == 0 && st.start_time != en->a.start)
      rc = -ESRCH; /* another process: this member is gone */
    int fd = rc == 0 ? pidio_proc_open_io(dfd) : -1;
    if (rc == 0 && fd < 0)
      rc = fd;
    close(dfd);
    if (rc == 0 && (rc = pidio_proc_read_io(fd, &en->a.now)) == 0) {
      en->flags &= ~(unsigned)E_DENIED;
      pidio_ledger_read(&en->a); /* counted from now on */
      pidio_ledger_rebase(&en->a);
      if (pidio_fdbudget_take())
        en->fd = fd;
      else
        close(fd);
      return;
    }
    if (fd >= 0)
      close(fd);
  }
  /* Gone, or garbled, is told as such; any other failure (EMFILE...)
   * learnt nothing new: the member is still the denied one it was. */
  if (!vanished(rc) && rc != -EINVAL && rc != -ERANGE)
    rc = -EACCES;
  note_read(en, rc, rep);
}

/* --- own I/O: a kernel-side reader ----------------------------------------- */

static int same_process(const pidio_block_t *b, pid_t pid, uint64_t start,
                        pidio_stat_t *st);
static unsigned group_of_exit(pidio_block_t *b, pidio_entry_t *en,
                              const pidio_bpf_exit_t *e);
static void vacated_add(pidio_block_t *b, pid_t pid, uint64_t since);

/* Join with own I/O, to the ledger destination dest (its group): from
 * birth, or from this round's pass. A process that has ended is not joined
 * (returns 0): its exit record, in this round or an earlier one, is its
 * whole story. */
static int join_own(pidio_block_t *b, pidio_entry_t *en, unsigned dest,
                    int from_birth) {
  pidio_io_t base;
  uint64_t delay = 0;
  int rc = b->own.read(b->own.ctx, en->a.pid, en->a.start, &base, &delay);
  if (rc == -ESRCH)
    return 0;
  en->flags |= E_MEMBER;
  if (from_birth) {
    pidio_ledger_join(&en->a, dest, NULL);
    en->dlast = 0;
  } else if (rc == 0) {
    pidio_ledger_join(&en->a, dest, &base);
    en->dlast = delay;
  } else {
    /* not in the pass, or not settled: the next good read is the base */
    pidio_ledger_join(&en->a, dest, NULL);
    pidio_ledger_rebase(&en->a);
    en->dlast = DELAY_UNKNOWN;
  }
  return 1;
}

/* A member's block-I/O delay now: what it added since its last read. */
static void add_delay(pidio_block_t *b, pidio_entry_t *en, uint64_t delay) {
  if (en->dlast != DELAY_UNKNOWN && delay >= en->dlast)
    b->blkio_delay_ns += delay - en->dlast;
  en->dlast = delay;
}

/* This round's read of a member's own I/O. */
static void read_own(pidio_block_t *b, pidio_entry_t *en) {
  uint64_t delay = 0;
  int rc = b->own.read(b->own.ctx, en->a.pid, en->a.start, &en->a.now, &delay);
  if (rc == 0) {
    pidio_ledger_read(&en->a);
    add_delay(b, en, delay);
  } else if (rc == -ESRCH || rc == -ENOENT) {
    en->flags |= E_ENDED;
  }
  /* -EAGAIN: its snapshot never settled: no value this round */
}

static size_t idset_home(const struct pidio_idset *s, pid_t pid,
                         uint64_t start) {
  uint64_t h = (uint64_t)(uint32_t)pid * 0x9E3779B97F4A7C15ULL ^
               start * 0xC2B2AE3D27D4EB4FULL;
  return (size_t)(h ^ h >> 29) & (s->cap - 1);
}

static bool idset_has(const struct pidio_idset *s, pid_t pid,
                      uint64_t start) {
  if (s->cap == 0)
    return false;
  for (size_t i = idset_home(s, pid, start); s->slot[i].pid != 0;
       i = (i + 1) & (s->cap - 1))
    if (s->slot[i].pid == pid && s->slot[i].start == start)
      return true;
  return false;
}

static void idset_put(struct pidio_idset *s, pid_t pid, uint64_t start) {
  size_t i = idset_home(s, pid, start);
  while (s->slot[i].pid != 0)
    i = (i + 1) & (s->cap - 1);
  s->slot[i] = (struct pidio_ident){pid, start};
  s->n++;
}

static int idset_add(struct pidio_idset *s, pid_t pid, uint64_t start) {
  if (idset_has(s, pid, start))
    return 0;
  if (2 * (s->n + 1) > s->cap) {
    struct pidio_idset g = {.cap = s->cap ? s->cap * 2 : 64};
    if ((g.slot = calloc(g.cap, sizeof(*g.slot))) == NULL)
      return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++)
      if (s->slot[i].pid != 0)
        idset_put(&g, s->slot[i].pid, s->slot[i].start);
    free(s->slot);
    *s = g;
  }
  idset_put(s, pid, start);
  return 0;
}

/* Empty, and give back the memory a storm took. */
static void idset_clear(struct pidio_idset *s) {
  if (s->cap > 1024 && s->n < s->cap / 16) {
    free(s->slot);
    *s = (struct pidio_idset){0};
  } else if (s->cap > 0) {
    memset(s->slot, 0, s->cap * sizeof(*s->slot));
    s->n = 0;
  }
}

/* Whether (pid, start) is a member, or was one until it ended (or left)
 * in this round or the previous one. */
static bool was_member(const pidio_block_t *b, pid_t pid, uint64_t start) {
  const pidio_entry_t *p = find(b->e, b->n, pid);
  if (p != NULL && (p->flags & E_MEMBER) && p->a.start == start)
    return true;
  const struct pidio_exitlist *l = b->exits;
  return idset_has(&l->ended, pid, start) ||
         idset_has(&l->ended_prev, pid, start);
}

/* Whether the block knows nothing of (pid, start) yet: not tracked, and no
 * member that ended. Its record may still come. */
static bool unknown_process(const pidio_block_t *b, pid_t pid,
                            uint64_t start) {
  const pidio_entry_t *p = find(b->e, b->n, pid);
  return pid > 1 && !(p != NULL && p->a.start == start) &&
         !was_member(b, pid, start);
}

/* Would the block have selected this process, seen only at its end? */
static bool exit_selected(const pidio_block_t *b, const pidio_bpf_exit_t *e) {
  const pidio_select_t *s = &b->sel;
  bool root = true;
  bool exec_seen = (e->p.flags & PIDIO_BPF_F_EXEC_SEEN) != 0;
  if (pidio_select_by_pid(s) && e->p.pid != b->target)
    root = false;
  else if (s->user != NULL && e->p.uid != s->uid)
    root = false;
  else if (s->cgroup != NULL &&
           (!(e->p.flags & PIDIO_BPF_F_CGROUP) ||
            !pidio_select_cgroup_match(s, e->cgroup, strlen(e->cgroup))))
    root = false; /* a path the record could not hold decides no match */
  else if (s->exe != NULL && (!(e->p.flags & PIDIO_BPF_F_EXE) ||
                               strcmp(e->exe, s->exe) != 0))
    root = false;
  else if (s->cmdline != NULL && !exec_seen)
    root = false;
  else {
    pidio_stat_t st = {.ppid = e->p.ppid, .start_time = e->p.start};
    memcpy(st.comm, e->p.comm, sizeof(st.comm));
    root = pidio_select_match(s, &st, e->cmdline);
  }
  if (root || !s->children)
    return root;
  /* A descendant: its parent is a member, or was one until its end. The
   * parent that forked it counts too: once that parent has exited, ppid
   * names the reaper it was handed to. */
  return was_member(b, e->p.ppid, e->p.pstart) ||
         (e->fork_ppid != 0 && was_member(b, e->fork_ppid, e->fork_pstart));
}

static int ended_add(struct pidio_exitlist *l, pid_t pid, uint64_t start) {
  return idset_add(&l->ended, pid, start);
}

static void collect_exit(const pidio_bpf_exit_t *e, void *ctx) {
  struct pidio_exitlist *l = ctx;
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 64;
    pidio_bpf_exit_t *ne = realloc(l->e, ncap * sizeof(*ne));
    if (ne == NULL)
      return; /* out of memory: as if lost */
    l->e = ne;
    l->cap = ncap;
  }
  l->e[l->n++] = *e;
}

/* Count a process never a member from its exit record, from birth. */
static int count_from_exit(pidio_block_t *b, const pidio_bpf_exit_t *e) {
  if (grow(&b->dead, &b->dead_cap, b->ndead + 1) != 0 ||
      ended_add(b->exits, e->p.pid, e->p.start) != 0)
    return -ENOMEM;
  pidio_entry_t *d = &b->dead[b->ndead++];
  *d = (pidio_entry_t){
      .a = {.pid = e->p.pid, .ppid = e->p.ppid, .start = e->p.start},
      .fd = -1,
      .flags = E_MEMBER | E_ROOT};
  pidio_ledger_join(&d->a, group_of_exit(b, d, e), NULL);
  d->a.now = e->p.io;
  pidio_ledger_read(&d->a);
  pidio_ledger_gone(&d->a);
  b->blkio_delay_ns += e->p.blkio_delay_ns; /* from birth */
  return 0;
}

/* Append n records to l->e. */
static int exits_append(struct pidio_exitlist *l, const pidio_bpf_exit_t *e,
                        size_t n) {
  if (n == 0)
    return 0;
  if (l->n + n > l->cap) {
    size_t ncap = l->cap ? l->cap : 64;
    while (ncap < l->n + n)
      ncap *= 2;
    pidio_bpf_exit_t *ne = realloc(l->e, ncap * sizeof(*ne));
    if (ne == NULL)
      return -ENOMEM;
    l->e = ne;
    l->cap = ncap;
  }
  memcpy(l->e + l->n, e, n * sizeof(*e));
  l->n += n;
  return 0;
}

/* The exit records of this round: a member's final figures (what it did
 * after its last read included), and the processes that started and ended
 * between two rounds and that the block selects, counted from birth. */
static int apply_exits(pidio_block_t *b, pidio_report_t *rep) {
  struct pidio_exitlist *l = b->exits;
  if (l == NULL) {
    if ((l = b->exits = calloc(1, sizeof(*l))) == NULL)
      return -ENOMEM;
  }
  /* The ends counted last round become the previous round's. */
  struct pidio_idset t = l->ended_prev;
  l->ended_prev = l->ended;
  l->ended = t;
  idset_clear(&l->ended);
  /* The members the merge retired this round were members until then. */
  for (size_t k = 0; k < b->ndead; k++)
    if ((b->dead[k].flags & E_MEMBER) &&
        ended_add(l, b->dead[k].a.pid, b->dead[k].a.start) != 0)
      return -ENOMEM;
  /* Last round's held records first: they ended earlier. */
  l->n = 0;
  if (exits_append(l, l->held, l->nheld) != 0)
    return -ENOMEM;
  size_t nheld = l->nheld;
  l->nheld = 0;
  uint64_t lost = 0;
  b->own.exits(b->own.ctx, collect_exit, l, &lost);
  rep->lost = lost > UINT32_MAX ? UINT32_MAX : (unsigned)lost;
  if (l->n > l->cand_cap) {
    size_t *nc = realloc(l->cand, l->n * sizeof(*nc));
    if (nc == NULL)
      return -ENOMEM;
    l->cand = nc;
    l->cand_cap = l->n;
  }
  l->ncand = 0;
  size_t ndead = b->ndead; /* the merge's; those added below are done */
  for (size_t i = nheld; i < l->n; i++) {
    const pidio_bpf_exit_t *e = &l->e[i];
    /* A member the merge retired (gone from the listing, or no longer
     * the target) gets its final figures. */
    bool done = false;
    for (size_t k = 0; k < ndead && !done; k++) {
      pidio_entry_t *d = &b->dead[k];
      if (d->a.pid == e->p.pid && d->a.start == e->p.start) {
        d->a.now = e->p.io;
        pidio_ledger_read(&d->a);
        pidio_ledger_gone(&d->a);
        add_delay(b, d, e->p.blkio_delay_ns);
        if (d->flags & E_MEMBER)
          vacated_add(b, d->a.pid, b->prev_ticks); /* in ended already */
        done = true;
      }
    }
    if (done)
      continue;
    pidio_entry_t *en = find(b->e, b->n, e->p.pid);
    if (en != NULL && en->a.start == e->p.start) {
      pidio_ledger_gone(&en->a);
      if (en->flags & E_MEMBER) {
        en->a.now = e->p.io;
        pidio_ledger_read(&en->a);
        add_delay(b, en, e->p.blkio_delay_ns);
        if (ended_add(l, en->a.pid, en->a.start) != 0)
          return -ENOMEM;
        continue;
      }
    }
    /* Never a member (not found yet, or not matching when looked at: a
     * new name or an exec came later): none of its I/O was counted, so
     * a process that started after the block's first interval and that
     * the block selects at its end counts from birth. */
    if (b->rounds == 0 || e->p.start < b->first_ticks)
      continue;
    l->cand[l->ncand++] = i;
  }
  /* Held records are decided by their parent only. Repeated until no one
   * is added: a child's record comes before its parent's when the parent
   * waited for it, and the parent, never seen alive either, must be
   * counted first. */
  for (size_t i = 0; i < nheld; i++)
    l->cand[l->ncand++] = i;
  for (bool changed = true; changed;) {
    changed = false;
    size_t keep = 0;
    for (size_t c = 0; c < l->ncand; c++) {
      const pidio_bpf_exit_t *e = &l->e[l->cand[c]];
      if (exit_selected(b, e)) {
        if (count_from_exit(b, e) != 0)
          return -ENOMEM;
        changed = true;
      } else {
        l->cand[keep++] = l->cand[c];
      }
    }
    l->ncand = keep;
    if (!b->sel.children)
      break; /* nothing else depends on what was added */
  }
  /* A record whose parents the block does not know yet waits one round
   * (see held). */
  for (size_t c = 0; c < l->ncand && b->sel.children; c++) {
    const pidio_bpf_exit_t *e = &l->e[l->cand[c]];
    if (l->cand[c] < nheld || l->nheld >= PIDIO_EXITS_HELD_MAX)
      continue;
    if (!unknown_process(b, e->p.ppid, e->p.pstart) &&
        !(e->fork_ppid != 0 &&
          unknown_process(b, e->fork_ppid, e->fork_pstart)))
      continue;
    if (l->nheld == l->held_cap) {
      size_t ncap = l->held_cap ? l->held_cap * 2 : 16;
      pidio_bpf_exit_t *nh = realloc(l->held, ncap * sizeof(*nh));
      if (nh == NULL)
        return -ENOMEM;
      l->held = nh;
      l->held_cap = ncap;
    }
    l->held[l->nheld++] = *e;
  }
  /* Members that ended without a record yet: while the pass still has
   * them (exiting, or a zombie) the record is to come; once it no longer
   * has them, the merge retires them and a record that never came makes
   * them lost. One missing from the pass without being retired (never
   * expected) gets one more round, then is gone without its last
   * figures. */
  for (size_t i = 0; i < b->n; i++) {
    pidio_entry_t *en = &b->e[i];
    if (!(en->flags & E_ENDED) || (en->a.state & PIDIO_LEDGER_GONE))
      continue;
    en->flags &= ~(unsigned)E_ENDED;
    /* Still in the pass, ended (exiting, or a zombie): its record is
     * still to come. (One no longer in it was retired by the merge.) */
    const pidio_bpf_proc_t *rec = pass_find(b, en->a.pid);
    if (rec != NULL && rec->start == en->a.start) {
      en->flags &= ~(unsigned)E_AWAIT;
    } else if (!(en->flags & E_AWAIT)) {
      en->flags |= E_AWAIT;
    } else {
      pidio_ledger_gone(&en->a);
      rep->lost_members++;
    }
  }
  return 0;
}

/* --- membership ---------------------------------------------------------- */

static uint64_t recheck_period(void) {
  return (uint64_t)(PIDIO_RECHECK_SECONDS * pidio_proc_hz());
}

static int due(const pidio_entry_t *en, uint64_t ticks) {
  return ticks - en->checked >= recheck_period();
}

/* The start of this pid's current recheck period. Periods are spread over
 * the minute by pid, so that the processes found at start-up are not all
 * looked at again in the same interval. */
static uint64_t recheck_slot(pid_t pid, uint64_t ticks) {
  uint64_t period = recheck_period();
  uint64_t off = ((uint64_t)pid * 2654435761u) % period;
  return ticks - (ticks + off) % period;
}

/* Whether <pid> is still the process that started at `start`, with its
 * stat in *st: the check that a pid was not reused. 1: the same; 0: gone,
 * or another process; a negative errno: unknown, the look failed for
 * another reason (EMFILE, ENFILE, EIO). Only a vanished process is gone:
 * each caller takes unknown the way that cannot count a byte twice, and
 * reports it (note_failed). */
static int same_process(const pidio_block_t *b, pid_t pid, uint64_t start,
                        pidio_stat_t *st) {
  int dfd = pidio_proc_open_pid(b->proc, pid);
  if (dfd < 0)
    return vanished(dfd) ? 0 : dfd;
  int rc = pidio_proc_read_stat(dfd, st);
  close(dfd);
  if (rc != 0)
    return vanished(rc) ? 0 : rc;
  return st->start_time == start;
}

/* A process is counted from birth when it started since the previous
 * interval: discovery finds it within one. But a pid can be handed out
 * again below the last one (ns_last_pid, clone3 with set_tid), which the
 * last-pid shortcut of pidio_discover does not see: a newcomer at a
 * member's pid is then found when the merge looks at that pid again (the
 * listing keeps it until it is found empty), or by the next full listing,
 * perhaps an interval or more after its birth. Every pid a member vacates
 * is therefore remembered with the time before its last good read: the
 * first process found at it that started later was born after that member
 * was reaped, and counts from birth. Kept two recheck periods, longer than
 * it takes a full listing to come. (The kernel's fork count in /proc/stat
 * could tell that a pid was chosen, but forks under way when it is read
 * make it disagree with the last pid often enough on a busy machine to
 * cost many needless full listings.) */
#define PIDIO_VACATED_SECONDS (2 * PIDIO_RECHECK_SECONDS)

static void vacated_add(pidio_block_t *b, pid_t pid, uint64_t since) {
  if (b->nvacated == b->vacated_cap) {
    size_t cap = b->vacated_cap ? b->vacated_cap * 2 : 16;
    struct pidio_vacated *v = realloc(b->vacated, cap * sizeof(*v));
    if (v == NULL)
      return; /* only a newcomer's first moments are at stake */
    b->vacated = v;
    b->vacated_cap = cap;
  }
  b->vacated[b->nvacated++] = (struct pidio_vacated){pid, since};
}

static void vacated_expire(pidio_block_t *b, uint64_t ticks) {
  uint64_t keep = (uint64_t)(PIDIO_VACATED_SECONDS * pidio_proc_hz());
  size_t k = 0;
  for (size_t i = 0; i < b->nvacated; i++)
    if (ticks - b->vacated[i].since < keep)
      b->vacated[k++] = b->vacated[i];
  b->nvacated = k;
}

/* True (and forgotten) when pid was vacated by a member and this process
 * started after that member's last read. */
static int vacated_take(pidio_block_t *b, pid_t pid, uint64_t start) {
  for (size_t i = 0; i < b->nvacated; i++)
    if (b->vacated[i].pid == pid && start >= b->vacated[i].since) {
      b->vacated[i] = b->vacated[--b->nvacated];
      return 1;
    }
  return 0;
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* GroupBy: whether the key is read from a file of the process (exe,
 * cgroup, unit) rather than known from a pass (comm, user). */
static bool group_needs_dir(const pidio_block_t *b) {
  return b->groups != NULL && b->group_key != PIDIO_GROUP_COMM &&
         b->group_key != PIDIO_GROUP_USER;
}

/* Open the /proc directory of a process the pass reported, for a file the
 * pass does not have, and check by its start time that the pid still
 * names that process. A descriptor; 0 when it is gone (or the pid names
 * another process now); -1 when it could not be looked at (EMFILE...). */
static int pass_dir(const pidio_block_t *b, const pidio_bpf_proc_t *rec,
                    int *dfd) {
  *dfd = pidio_proc_open_pid(b->proc, rec->pid);
  if (*dfd < 0)
    return vanished(*dfd) ? 0 : -1;
  pidio_stat_t st;
  int rc = pidio_proc_read_stat(*dfd, &st);
  if (rc == 0 && st.start_time == rec->start)
    return 1;
  close(*dfd);
  *dfd = -1;
  return rc == 0 || vanished(rc) ? 0 : -1;
}

/* GroupBy: the group of a joining member, by the key read from its pid
 * directory; a key that is not there, may not be read, or whose process
 * is gone is the unknown group. *dest is its ledger destination, the
 * group's id; 0 ("other") when out of memory. -1 when the key could not
 * be read for another reason (EMFILE): nothing is decided, and the
 * process, not joined, is offered again, rather than put in unknown for
 * good. */
static int group_of(pidio_block_t *b, pidio_entry_t *en, int dfd,
                    const char *comm, const pidio_bpf_proc_t *rec,
                    unsigned *dest) {
  *dest = 0;
  if (b->groups == NULL)
    return 0;
  char key[PIDIO_GROUP_KEY_MAX];
  size_t len = 0;
  int rc;
  if (rec != NULL && !group_needs_dir(b)) {
    /* The pass has the comm and the uid: no file to read. */
    pidio_group_facts_t f = {.comm = comm, .have_uid = true, .uid = rec->uid};
    rc = pidio_group_key_cached(b->group_key, &f, &b->users, mono_now(), key,
                                sizeof(key), &len);
  } else {
    rc = pidio_group_read_key(b->group_key, dfd, comm, &b->users, mono_now(),
                              key, sizeof(key), &len);
  }
  if (rc != 0 && rc != -ENODATA && rc != -EACCES && rc != -EPERM &&
      rc != -ENAMETOOLONG && rc != -EINVAL && !vanished(rc))
    return -1;
  en->grp = pidio_groups_join(b->groups, rc == 0 ? key : NULL, len);
  if (en->grp != NULL)
    *dest = en->grp->id;
  return 0;
}

/* GroupBy, own I/O: the group of a process seen only in its exit record,
 * by the key the record holds: its comm, its uid's user name, its cgroup v2
 * path (and the unit in it), the program its last exec ran. A fact the
 * record lacks (no exec while loaded, a path too long for it): the unknown
 * group. */
static unsigned group_of_exit(pidio_block_t *b, pidio_entry_t *en,
                              const pidio_bpf_exit_t *e) {
  if (b->groups == NULL)
    return 0;
  char comm[sizeof(e->p.comm) + 1];
  memcpy(comm, e->p.comm, sizeof(e->p.comm));
  comm[sizeof(e->p.comm)] = '\0';
  pidio_group_facts_t f = {.comm = comm, .have_uid = true, .uid = e->p.uid};
  if (e->p.flags & PIDIO_BPF_F_CGROUP) {
    f.cgroup = e->cgroup;
    f.cgroup_len = strlen(e->cgroup);
  }
  if (e->p.flags & PIDIO_BPF_F_EXE) {
    f.exe = e->exe;
    f.exe_len = strlen(e->exe);
  }
  char key[PIDIO_GROUP_KEY_MAX];
  size_t len = 0;
  int rc = pidio_group_key_cached(b->group_key, &f, &b->users, mono_now(), key,
                                  sizeof(key), &len);
  en->grp = pidio_groups_join(b->groups, rc == 0 ? key : NULL, len);
  return en->grp != NULL ? en->grp->id : 0;
}

/* The io side of join. */
static int join_read(pidio_entry_t *en, int dfd, unsigned dest,
                     int from_birth) {
  int fd = pidio_proc_open_io(dfd);
  if (fd < 0) {
    if (vanished(fd))
      return 0;
    if (fd == -EACCES || fd == -EPERM)
      en->flags |= E_DENIED;
    else if (!from_birth)
      pidio_ledger_rebase(&en->a); /* EMFILE: opened each interval instead */
    return 1;
  }
  if (!from_birth) {
    /* Already running: count from now on, not what it did before. */
    pidio_io_t base;
    int rc = pidio_proc_read_io(fd, &base);
    if (rc != 0) {
      close(fd);
      if (vanished(rc))
        return 0;
      if (rc == -EACCES || rc == -EPERM) /* as the open above */
        en->flags |= E_DENIED;
      else
        pidio_ledger_rebase(&en->a); /* garbled: a later good read */
      return 1;
    }
    pidio_ledger_join(&en->a, dest, &base);
  }
  if (pidio_fdbudget_take())
    en->fd = fd;
  else
    close(fd);
  return 1;
}

/* Make a tracked process a member: hold its io descriptor, put it in its
 * group and set where its counting starts. from_birth: it started since
 * the previous interval, so all of its counters count. Returns 0 when it
 * vanished meanwhile (then it is in no group), -1 when its group could not
 * be read (EMFILE): then it is not a member, in no group. */
static int join(pidio_block_t *b, pidio_entry_t *en, int dfd, const char *comm,
                const pidio_bpf_proc_t *rec, int from_birth) {
  unsigned dest;
  if (group_of(b, en, dfd, comm, rec, &dest) < 0)
    return -1;
  int rc;
  if (b->use_own) {
    rc = join_own(b, en, dest, from_birth);
  } else {
    en->flags |= E_MEMBER;
    pidio_ledger_join(&en->a, dest, NULL);
    rc = join_read(en, dfd, dest, from_birth);
  }
  if (rc == 0)
    ungroup(b, en);
  return rc;
}

/* Look at a process for the first time (or again). Returns 1 and fills *out
 * when it is to be tracked, 0 when it vanished, -1 when it could not be
 * looked at (EMFILE...): not tracked, offered again next interval.
 * force_fresh: it was first seen as a newborn last interval, so from-birth
 * counting still applies. */
static int evaluate(pidio_block_t *b, pid_t pid, uint64_t ino,
                    const pidio_bpf_proc_t *rec, uint64_t ticks,
                    int force_fresh, pidio_entry_t *out) {
  int dfd = -1;
  pidio_stat_t st;
  if (rec != NULL) {
    /* From the pass, which holds no kernel thread: the directory is
     * opened only for a file the selectors or the group key need, and
     * only when the pid, comm and uid do not rule the process out. */
    st = (pidio_stat_t){.ppid = rec->ppid, .start_time = rec->start};
    memcpy(st.comm, rec->comm, sizeof(st.comm));
    st.comm[sizeof(st.comm) - 1] = '\0';
    if (pidio_select_may_match(&b->sel, pid, st.comm, rec->uid, b->target) &&
        (pidio_select_needs_dir(&b->sel) || group_needs_dir(b))) {
      int r = pass_dir(b, rec, &dfd);
      if (r <= 0)
        return r;
    }
  } else {
    dfd = pidio_proc_open_pid(b->proc, pid);
    if (dfd < 0)
      return vanished(dfd) ? 0 : -1;
    int src = pidio_proc_read_stat(dfd, &st);
    if (src != 0) {
      close(dfd);
      return vanished(src) ? 0 : -1;
    }
  }
  /* With own I/O a newcomer's whole figures are its own, never counted
   * elsewhere: one that discovery found an interval late (a pid not
   * visible yet is looked up again the next interval) still counts from
   * birth; otherwise its exit, if it comes to match then, would count
   * nothing. */
  uint64_t since = b->use_own && b->rounds > 1 ? b->prev2_ticks : b->prev_ticks;
  int fresh = b->rounds > 0 && (st.start_time >= since ||
                                vacated_take(b, pid, st.start_time));
  *out = (pidio_entry_t){
      .a = {.pid = pid, .ppid = st.ppid, .start = st.start_time},
      .ino = ino,
      .checked = recheck_slot(pid, ticks),
      .fd = -1};
  bool cut = false;
  enum pidio_match m =
      rec == NULL
          ? pidio_select_match_proc(&b->sel, dfd, pid, &st, b->target, &cut)
      : !pidio_select_may_match(&b->sel, pid, st.comm, rec->uid, b->target)
          ? PIDIO_MATCH_NO
          : pidio_select_match_known(&b->sel, dfd, pid, &st, rec->uid,
                                     b->target, &cut);
  if (cut && b->cmdline_cut_pid == 0)
    b->cmdline_cut_pid = pid;
  int rc = 1;
  if (m == PIDIO_MATCH_ERROR) {
    rc = -1; /* could not look (EMFILE): nothing decided, offered again */
  } else if (m == PIDIO_MATCH_YES) {
    out->flags |= E_ROOT;
    rc = join(b, out, dfd, st.comm, rec, fresh || force_fresh);
  } else {
    if (m == PIDIO_MATCH_DENIED)
      out->flags |= E_UNDECIDED; /* looked at again every interval */
    if (m == PIDIO_MATCH_NO_V2 && b->no_cgroup2_pid == 0)
      b->no_cgroup2_pid = pid;
    if (fresh && !force_fresh)
      out->flags |= E_FRESH;
  }
  if (dfd >= 0)
    close(dfd);
  return rc;
}

/* Keep en, the entry at e[j], as the k-th entry of the table: the table
 * is compacted in place as the merge walks it (k <= j). */
static void keep(pidio_block_t *b, size_t *k, const pidio_entry_t *en) {
  if (&b->e[*k] != en)
    b->e[*k] = *en;
  (*k)++;
}

/* After the walk: the k entries kept (in e, sorted) and the nf newcomers
 * (in fresh, sorted, no pid among the kept) become the table, merged from
 * the end, so that an entry moves only when a newcomer's pid is below it.
 * e has room for both (reserved before the walk). */
static void merge_fresh(pidio_block_t *b, size_t k, size_t nf) {
  if (k == 0 && nf > 0) {
    /* All newcomers (the first interval): the two arrays trade places. */
    pidio_entry_t *t = b->e;
    size_t tcap = b->cap;
    b->e = b->fresh;
    b->cap = b->fresh_cap;
    b->fresh = t;
    b->fresh_cap = tcap;
  } else {
    size_t dst = k + nf, a = k, f = nf;
    while (f > 0) {
      if (a > 0 && b->e[a - 1].a.pid > b->fresh[f - 1].a.pid)
        b->e[--dst] = b->e[--a];
      else
        b->e[--dst] = b->fresh[--f];
    }
  }
  b->n = k + nf;
}

/* Walk the sorted candidates and the sorted entries side by side. The
 * candidates are this round's pass (own I/O: b->pass) or the listing of
 * ProcRoot. A listed pid found gone is dropped from the listing too:
 * between full listings (see pidio_discover.h) the listing is kept, and
 * would otherwise offer it again every interval. A pass is this round's
 * whole truth: a process in it is identified by its start time, and one
 * that has ended (its exit record decides) is not looked at.
 *
 * The table is compacted in place as it is walked, and newcomers wait in
 * b->fresh until the end: the table is not copied each interval, and its
 * memory is the processes tracked, once (a second table to merge into
 * would double it). Nothing holds an entry's address across the merge:
 * the ledger, the read order and the exits' look-ups come after it. */
static int merge(pidio_block_t *b, uint64_t ticks, pidio_report_t *rep) {
  pidio_pidlist_t *l = &b->disc.list;
  const bool from_pass = b->use_own;
  const pidio_bpf_proc_t *pass = b->pass;
  size_t ncand = from_pass ? b->npass : l->n;
  /* Every entry retires at most once below, and every candidate is at
   * most one newcomer: with room made for all of them now, nothing can
   * fail half-way, when the table is half compacted and newcomers may
   * already hold io descriptors that only the end of the merge keeps.
   * (Room not written to costs address space, not memory.) */
  if (grow(&b->e, &b->cap, b->n + ncand) != 0 ||
      grow(&b->fresh, &b->fresh_cap, ncand) != 0 ||
      grow(&b->dead, &b->dead_cap, b->ndead + b->n) != 0 ||
      grow(&b->left, &b->left_cap, b->nleft + b->n) != 0)
    return -ENOMEM;
  size_t i = 0, j = 0, k = 0, nf = 0, w = 0;
  while (i < ncand || j < b->n) {
    const pidio_bpf_proc_t *rec = from_pass && i < ncand ? &pass[i] : NULL;
    pid_t cpid = i == ncand ? 0 : rec != NULL ? rec->pid : l->e[i].pid;
    uint64_t cino = from_pass || i == ncand ? 0 : l->e[i].ino;
    if (j == b->n || (i < ncand && cpid < b->e[j].a.pid)) {
      int kept = 0;
      if (rec == NULL || !(rec->flags & PIDIO_BPF_F_ENDED))
        kept = evaluate(b, cpid, cino, rec, ticks, 0, &b->fresh[nf]);
      nf += kept > 0;
      if (kept != 0 && !from_pass)
        l->e[w++] = l->e[i];
      i++;
    } else if (i == ncand || b->e[j].a.pid < cpid) {
      (void)retire(b, &b->e[j]); /* cannot fail: room was made above */
      j++;
    } else {
      pidio_entry_t *en = &b->e[j];
      pidio_entry_t now;
      int kept = 1;
      if (from_pass ? rec->start != en->a.start : en->ino != cino) {
        /* Same pid, new inode: reused, or only a re-created dentry. The
         * start time tells which (a pass has it). */
        pidio_stat_t st;
        int same = from_pass ? 0 : same_process(b, cpid, en->a.start, &st);
        if (same < 0) {
          /* Unknown: the entry stays as it is, old inode and all, and is
           * looked at again next interval. */
          note_failed(en, same, rep);
          keep(b, &k, en);
          l->e[w++] = l->e[i];
          i++;
          j++;
          continue;
        }
        if (same) {
          en->ino = cino;
        } else {
          (void)retire(b, en);
          kept = 0;
          if (rec == NULL || !(rec->flags & PIDIO_BPF_F_ENDED))
            kept = evaluate(b, cpid, cino, rec, ticks, 0, &now);
          if (kept > 0)
            keep(b, &k, &now);
          if (kept != 0 && !from_pass)
            l->e[w++] = l->e[i];
          i++;
          j++;
          continue;
        }
      }
      if (!(en->flags & E_MEMBER) &&
          (en->flags & (E_FRESH | E_UNDECIDED) || due(en, ticks))) {
        kept = evaluate(b, cpid, cino, rec, ticks, (en->flags & E_FRESH) != 0,
                        &now);
        if (kept > 0 && (en->a.state & PIDIO_LEDGER_HOLDS) &&
            !(now.flags & E_MEMBER)) {
          /* Still the process that holds a credit: it keeps holding it.
           * (One that became a member passes on its whole counters, which
           * hold the credit, when it is reaped.) */
          now.a.state |= PIDIO_LEDGER_HOLDS;
          now.a.debt = en->a.debt;
          now.a.debt_cond = en->a.debt_cond;
        }
        /* Gone since it was listed: it leaves the way every entry does,
         * so that a member it reaped finds its way past it (b->left), and
         * a credit it held moves on. */
        if (kept == 0)
          (void)retire(b, en);
        if (kept > 0)
          keep(b, &k, &now);
        else if (kept < 0)
          /* Could not be looked at (EMFILE...): the entry stays as it was,
           * a credit it holds with it; still due, it is looked at again
           * next interval. */
          keep(b, &k, en);
      } else {
        if (from_pass && (en->flags & E_MEMBER))
          en->a.ppid = rec->ppid; /* reparented: the pass says to whom */
        keep(b, &k, en);
      }
      if (kept != 0 && !from_pass)
        l->e[w++] = l->e[i];
      i++;
      j++;
    }
  }
  if (!from_pass)
    l->n = w;
  merge_fresh(b, k, nf);
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

/* Make a descendant of a member a member (E_DESC), from birth when it
 * started since the previous interval. 1 when it joined. */
static int adopt(pidio_block_t *b, pidio_entry_t *en, int dfd,
                 const char *comm, const pidio_bpf_proc_t *rec) {
  int fresh =
      (en->flags & E_FRESH) || (b->rounds > 0 && en->a.start >= b->prev_ticks);
  en->flags &= ~(unsigned)(E_FRESH | E_UNDECIDED);
  int joined = join(b, en, dfd, comm, rec, fresh);
  if (joined > 0) {
    en->flags |= E_DESC;
    return 1;
  }
  en->flags &= ~(unsigned)E_MEMBER;
  if (joined < 0 && fresh)
    en->flags |= E_FRESH; /* tried again next time, from birth */
  return 0;
}

/* adopt for a process of this round's pass: the pass has its start and
 * comm; its directory is opened only for a group key. */
static int adopt_from_pass(pidio_block_t *b, pidio_entry_t *en) {
  const pidio_bpf_proc_t *rec = pass_find(b, en->a.pid);
  if (rec == NULL || rec->start != en->a.start)
    return 0;
  int dfd = -1;
  if (group_needs_dir(b) && pass_dir(b, rec, &dfd) <= 0)
    return 0;
  char comm[sizeof(rec->comm)];
  memcpy(comm, rec->comm, sizeof(comm));
  comm[sizeof(comm) - 1] = '\0';
  int joined = adopt(b, en, dfd, comm, rec);
  if (dfd >= 0)
    close(dfd);
  return joined;
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
      pidio_entry_t *p = find(b->e, b->n, en->a.ppid);
      if (p == NULL || !(p->flags & E_MEMBER) || p->a.start > en->a.start)
        continue;
      if (b->use_own) {
        changed |= adopt_from_pass(b, en);
        continue;
      }
      int dfd = pidio_proc_open_pid(b->proc, en->a.pid);
      if (dfd < 0)
        continue;
      pidio_stat_t st;
      if (pidio_proc_read_stat(dfd, &st) == 0 && st.start_time == en->a.start)
        changed |= adopt(b, en, dfd, st.comm, NULL);
      close(dfd);
    }
  }
}

/* A member whose parent is no longer tracked (it exited and left the
 * listing, or its pid now names a younger process) was handed to another
 * reaper when its parent exited: read which, once, so that its credit
 * finds its way when it is reaped in turn (a subreaper in the block
 * would otherwise count it a second time). Only where the whole listing
 * is tracked: a block that follows one pid knows no parents. */
static void reparent_untracked(pidio_block_t *b, pidio_report_t *rep) {
  for (size_t i = 0; i < b->n; i++) {
    pidio_entry_t *en = &b->e[i];
    if (!(en->flags & E_MEMBER) || en->a.ppid <= 1)
      continue;
    const pidio_entry_t *p = find(b->e, b->n, en->a.ppid);
    if (p != NULL && p->a.start <= en->a.start)
      continue;
    pidio_stat_t st;
    int same = same_process(b, en->a.pid, en->a.start, &st);
    if (same > 0)
      en->a.ppid = st.ppid;
    else if (same < 0)
      note_failed(en, same, rep); /* asked again next interval */
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
    if (!(en->flags & E_ROOT) || en->a.pid == b->target)
      continue;
    if (retire(b, en) != 0)
      return -ENOMEM;
    en->flags = 0;
    en->grp = NULL; /* the retired copy leaves the group */
    en->checked = recheck_slot(en->a.pid, ticks);
  }
  return 0;
}

/* --- what the ledger asks of the block ----------------------------------- */

typedef struct ledger_ctx {
  pidio_block_t *b;
  pidio_report_t *rep;
} ledger_ctx_t;

static int ledger_reread(void *ctx, pidio_ledger_acct_t *a, pidio_io_t *out) {
  ledger_ctx_t *c = ctx;
  pidio_entry_t *en = entry_of(a);
  if (en->flags & E_DENIED)
    return -EACCES; /* counted as unreadable in this round already */
  int rc = read_member(c->b, en, out);
  if (rc != 0 && !vanished(rc))
    note_read(en, rc, c->rep);
  return rc;
}

/* Reaped ('X', or gone) rather than running or a zombie. Unknown (the
 * look failed, EMFILE...) is taken for reaped: the parent's increment
 * then waits a round rather than count the child a second time. */
static bool ledger_reaped(void *ctx, const pidio_ledger_acct_t *a) {
  const ledger_ctx_t *c = ctx;
  int dfd = pidio_proc_open_pid(c->b->proc, a->pid);
  pidio_stat_t st;
  int rc = dfd;
  if (dfd >= 0) {
    rc = pidio_proc_read_stat(dfd, &st);
    close(dfd);
  }
  if (rc != 0 && !vanished(rc))
    note_failed(entry_of((pidio_ledger_acct_t *)a), rc, c->rep);
  return rc != 0 || st.state == 'X' || st.state == 'x';
}

static bool ledger_parent(void *ctx, const pidio_ledger_acct_t *a,
                          pid_t *ppid) {
  const ledger_ctx_t *c = ctx;
  pidio_stat_t st;
  int same = same_process(c->b, a->pid, a->start, &st);
  if (same < 0) /* unknown: its parent stays the one known */
    note_failed(entry_of((pidio_ledger_acct_t *)a), same, c->rep);
  if (same <= 0)
    return false;
  *ppid = st.ppid;
  return true;
}

static pidio_ledger_acct_t *ledger_tracked(void *ctx, pid_t pid,
                                           bool *member) {
  const ledger_ctx_t *c = ctx;
  pidio_entry_t *en = find(c->b->e, c->b->n, pid);
  for (size_t i = 0; en == NULL && i < c->b->nleft; i++)
    if (c->b->left[i].a.pid == pid)
      en = &c->b->left[i]; /* left the listing this round: gone */
  if (en == NULL)
    return NULL;
  *member = (en->flags & E_MEMBER) != 0;
  return &en->a;
}

/* Exited: a zombie reaps nothing (its children went to the nearest
 * subreaper above it, or init), and a gone process nothing either.
 * Unknown (the look failed, EMFILE...) is taken for running: the credit
 * of a child it may have reaped is then taken off it, which can lose but
 * never count twice; taken for gone, the credit would pass it by. */
static enum pidio_ledger_life ledger_exited(void *ctx,
                                            const pidio_ledger_acct_t *a) {
  const ledger_ctx_t *c = ctx;
  pidio_stat_t st;
  int same = same_process(c->b, a->pid, a->start, &st);
  if (same < 0) {
    note_failed(entry_of((pidio_ledger_acct_t *)a), same, c->rep);
    return PIDIO_LEDGER_RUNS;
  }
  if (same == 0 || st.state == 'X' || st.state == 'x')
    return PIDIO_LEDGER_REAPED;
  return st.state == 'Z' ? PIDIO_LEDGER_ZOMBIE : PIDIO_LEDGER_RUNS;
}

/* A process that ignores SIGCHLD folds no child (the kernel reaps them);
 * one that absorbed less in its life than a child's totals did not fold
 * that child. What cannot be read says nothing. */
static bool ledger_may_absorb(void *ctx, const pidio_ledger_acct_t *a,
                              const pidio_io_t *credit) {
  const ledger_ctx_t *c = ctx;
  int dfd = pidio_proc_open_pid(c->b->proc, a->pid);
  if (dfd < 0)
    return true;
  pidio_stat_t st;
  pidio_io_t abs;
  bool may = pidio_proc_read_stat(dfd, &st) != 0 || st.start_time != a->start;
  if (!may && pidio_proc_ignores_sigchld(dfd) != 1) {
    may = true;
    if (pidio_proc_read_absorbed(dfd, &abs) == 0)
      for (int f = 0; f < PIDIO_NFIELDS; f++)
        if (abs.v[f] < credit->v[f])
          may = false;
  }
  close(dfd);
  return may;
}

/* --- one interval -------------------------------------------------------- */

/* Read order: parents before children. A child reaped after its parent
 * was read is then seen gone in the same round and its share settled
 * against a fresh read of the parent; reading the child first (pids wrap,
 * so pid order is not birth order) would count it twice. */
static int by_start(const void *x, const void *y) {
  const pidio_entry_t *a = *(pidio_entry_t *const *)x;
  const pidio_entry_t *c = *(pidio_entry_t *const *)y;
  if (a->a.start != c->a.start)
    return (a->a.start > c->a.start) - (a->a.start < c->a.start);
  return (a->a.pid > c->a.pid) - (a->a.pid < c->a.pid);
}

/* Hand the round to the ledger and add its increments to the block. */
static int account_round(pidio_block_t *b, pidio_report_t *rep) {
  int rc = 0;
  for (size_t i = 0; i < b->n && rc == 0; i++)
    if (b->e[i].flags & E_MEMBER)
      rc = pidio_ledger_member(&b->ledger, &b->e[i].a);
  for (size_t i = 0; i < b->ndead && rc == 0; i++)
    rc = pidio_ledger_depart(&b->ledger, &b->dead[i].a);
  if (rc != 0) {
    pidio_ledger_discard(&b->ledger);
    return rc;
  }
  ledger_ctx_t ctx = {.b = b, .rep = rep};
  const pidio_ledger_ops_t ops = {.ctx = &ctx,
                                  .reread = ledger_reread,
                                  .reaped = ledger_reaped,
                                  .parent = ledger_parent,
                                  .tracked = ledger_tracked,
                                  .exited = ledger_exited,
                                  .may_absorb = ledger_may_absorb};
  /* One destination per group id (0: the block, or "other"). */
  size_t ndest = b->groups != NULL ? b->groups->nids : 1;
  if (ndest < 1)
    ndest = 1;
  if (ndest > b->gain_cap) {
    pidio_io_t *g = realloc(b->gain, ndest * sizeof(*g));
    if (g == NULL) {
      pidio_ledger_discard(&b->ledger);
      return -ENOMEM;
    }
    b->gain = g;
    b->gain_cap = ndest;
  }
  memset(b->gain, 0, ndest * sizeof(*b->gain));
  pidio_ledger_note_t note = {0};
  pidio_ledger_close(&b->ledger, &ops, b->gain, &note);
  for (size_t d = 0; d < ndest; d++) {
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      b->total.v[f] += b->gain[d].v[f];
    if (b->groups != NULL)
      pidio_groups_add(b->groups, d == 0 ? NULL : b->groups->byid[d],
                       &b->gain[d]);
  }
  rep->garbled += note.garbled;
  if (rep->garbled_pid == 0)
    rep->garbled_pid = note.garbled_pid;
  /* Members the ledger found gone on a re-read leave the table too. */
  compact(b);
  return 0;
}

int pidio_block_update(pidio_block_t *b, pidio_report_t *rep) {
  *rep = (pidio_report_t){0};
  int rc0;
  uint64_t ticks = pidio_proc_boot_ticks();
  bury(b); /* none, unless an earlier interval stopped half-way */
  b->nleft = 0;
  for (size_t i = 0; i < b->n; i++) {
    pidio_ledger_new_round(&b->e[i].a);
    b->e[i].flags &= ~(unsigned)E_MISSED;
  }

  int by_pid = pidio_select_by_pid(&b->sel);
  b->target = by_pid ? find_target(b, rep) : 0;
  /* The pass first: a process not in it that has ended by the exits'
   * drain below has its record there. */
  if (b->use_own && (rc0 = b->own.begin(b->own.ctx)) != 0) {
    rep->list_err = rc0;
    return rc0;
  }
  int rc = 0;
  if (b->use_own) {
    /* Discovery is the pass: no listing, no last pid, no probing. A block
     * that follows one pid (without Children) looks at that pid only. */
    b->npass = b->own.procs(b->own.ctx, &b->pass);
    if (by_pid && !b->sel.children) {
      const pidio_bpf_proc_t *t = pass_find(b, b->target);
      b->pass = t;
      b->npass = t != NULL;
    }
  } else {
    /* With Children, descendants of the target are found in the listing. */
    rc =
        by_pid && !b->sel.children
            ? pidio_discover_target(&b->disc, b->proc, b->target)
            /* listed in full at least once per recheck period */
            : pidio_discover_update(&b->disc, b->proc, ticks, recheck_period());
  }
  if (rc != 0) {
    rep->list_err = rc;
    return rc;
  }
  if ((rc = merge(b, ticks, rep)) != 0 ||
      (rc = leave_if_untargeted(b, ticks)) != 0) {
    /* the merge may have left the listing half compacted */
    pidio_discover_distrust(&b->disc);
    return rc;
  }
  adopt_descendants(b);
  if ((!by_pid || b->sel.children) && !b->use_own)
    reparent_untracked(b, rep); /* own I/O: the merge took the pass's */
  rep->no_cgroup2_pid = b->no_cgroup2_pid;
  rep->cmdline_cut_pid = b->cmdline_cut_pid;
  for (size_t i = 0; i < b->n; i++)
    if (b->e[i].flags & E_UNDECIDED) {
      rep->undecided++;
      if (rep->undecided_pid == 0)
        rep->undecided_pid = b->e[i].a.pid;
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
  for (size_t i = 0; i < m; i++) {
    if (b->use_own)
      read_own(b, b->order[i]);
    else
      read_round(b, b->order[i], rep);
  }
  rep->read_at = t0 + (mono_now() - t0) / 2;
  if (b->use_own && (rc = apply_exits(b, rep)) != 0) {
    b->own.end(b->own.ctx);
    return rc;
  }
  vacated_expire(b, ticks);
  for (size_t i = 0; i < m; i++)
    if (b->order[i]->a.state & PIDIO_LEDGER_GONE)
      vacated_add(b, b->order[i]->a.pid, b->prev_ticks);
  /* Holders outside the block that were reaped: their credit moves on.
   * One that could not be looked at (EMFILE...) still holds it. (Own I/O
   * folds nothing: no member holds another's credit.) */
  for (size_t i = 0; i < b->n && !b->use_own; i++) {
    pidio_entry_t *w = &b->e[i];
    if (!(w->a.state & PIDIO_LEDGER_HOLDS) || (w->flags & E_MEMBER))
      continue;
    pidio_stat_t st;
    int same = same_process(b, w->a.pid, w->a.start, &st);
    if (same == 0)
      pidio_ledger_gone(&w->a);
    else if (same < 0)
      note_failed(w, same, rep);
  }
  compact(b);

  /* Members that left in the merge get their last read. */
  for (size_t i = 0; i < b->ndead; i++) {
    pidio_entry_t *d = &b->dead[i];
    if ((d->a.state & (PIDIO_LEDGER_READ | PIDIO_LEDGER_GONE)) ||
        (d->flags & E_DENIED))
      continue;
    if (b->use_own) {
      /* Left alive (a pidfile's new pid): its last read. Gone from the
       * listing without an exit record: the record was lost. */
      uint64_t delay = 0;
      int r = b->own.read(b->own.ctx, d->a.pid, d->a.start, &d->a.now, &delay);
      if (r == 0) {
        pidio_ledger_read(&d->a);
        add_delay(b, d, delay);
      }
      else if (r == -ENOENT || r == -ESRCH)
        rep->lost_members++;
      continue;
    }
    int r = read_member(b, d, &d->a.now);
    if (r == 0) {
      pidio_ledger_read(&d->a);
    } else if (vanished(r)) {
      pidio_ledger_gone(&d->a);
      if (d->flags & E_MEMBER)
        vacated_add(b, d->a.pid, b->prev_ticks);
    }
  }

  rc = account_round(b, rep);
  bury(b);
  if (b->use_own)
    b->own.end(b->own.ctx);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < b->n; i++)
    if (b->e[i].flags & E_MEMBER) {
      rep->matched++;
      if (b->groups != NULL)
        pidio_groups_count(b->groups, b->e[i].grp, 1,
                           (b->e[i].flags & E_MISSED) != 0);
    }
  if (b->groups != NULL) {
    /* Processes an Exe selector could not decide on belong to no group:
     * "other" counts them unreadable, as the block does. */
    pidio_groups_count(b->groups, NULL, 0, rep->undecided);
    /* Out of memory only a group's rate window can be missing: the
     * figures are exact either way. */
    (void)pidio_groups_settle(b->groups, rep->read_at);
  }
  if (b->rounds == 0)
    b->first_ticks = ticks;
  b->prev2_ticks = b->prev_ticks;
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
          .pid = b->e[i].a.pid, .start = b->e[i].a.start, .acc = b->e[i].a.acc};
  return k;
}
