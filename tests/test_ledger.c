/*
 * Unit tests of pidio_ledger: each rule of "How totals are kept" on its own,
 * with no procfs at all. A small stand-in for the source answers the
 * ledger's questions (re-read, reaped?, parent now?) from a table, and the
 * expected totals are what the test's own "processes" wrote.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_ledger.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* --- a stand-in for the source ------------------------------------------- */

typedef struct fake_proc {
  pid_t pid;
  int reread_rc;       /* 0, -ESRCH (gone) or -EACCES (unreadable) */
  pidio_io_t counters; /* what a re-read gives */
  bool reaped;         /* being reaped ('X') or gone */
  pid_t ppid;          /* its parent now; 0: no longer the same process */
  bool exited;         /* a zombie: it reaps nothing */
  bool gone;           /* reaped */
  pidio_io_t absorbed; /* what it absorbed in its life (may_absorb) */
  bool ignores_sigchld;
} fake_proc_t;

typedef struct fake {
  fake_proc_t p[8];
  size_t n;
  unsigned rereads, reaped_asks, parent_asks;
  /* The source's table of tracked processes, members or not (tracked). */
  pidio_ledger_acct_t *acct[8];
  bool member[8];
  size_t nacct;
} fake_t;

static fake_proc_t *fake_find(fake_t *f, pid_t pid) {
  for (size_t i = 0; i < f->n; i++)
    if (f->p[i].pid == pid)
      return &f->p[i];
  ck_abort_msg("the ledger asked about pid %d, which the test did not set up",
               (int)pid);
  return NULL;
}

static fake_proc_t *fake_add(fake_t *f, pid_t pid) {
  ck_assert_uint_lt(f->n, sizeof(f->p) / sizeof(f->p[0]));
  f->p[f->n] = (fake_proc_t){.pid = pid};
  return &f->p[f->n++];
}

static int fake_reread(void *ctx, pidio_ledger_acct_t *a, pidio_io_t *out) {
  fake_t *f = ctx;
  f->rereads++;
  fake_proc_t *p = fake_find(f, a->pid);
  if (p->reread_rc == 0)
    *out = p->counters;
  return p->reread_rc;
}

static bool fake_reaped(void *ctx, const pidio_ledger_acct_t *a) {
  fake_t *f = ctx;
  f->reaped_asks++;
  return fake_find(f, a->pid)->reaped;
}

static bool fake_parent(void *ctx, const pidio_ledger_acct_t *a, pid_t *ppid) {
  fake_t *f = ctx;
  f->parent_asks++;
  fake_proc_t *p = fake_find(f, a->pid);
  if (p->ppid == 0)
    return false;
  *ppid = p->ppid;
  return true;
}

static pidio_ledger_acct_t *fake_tracked(void *ctx, pid_t pid, bool *member) {
  fake_t *f = ctx;
  for (size_t i = 0; i < f->nacct; i++)
    if (f->acct[i]->pid == pid) {
      *member = f->member[i];
      return f->acct[i];
    }
  return NULL;
}

static void fake_track(fake_t *f, pidio_ledger_acct_t *a, bool member) {
  ck_assert_uint_lt(f->nacct, sizeof(f->acct) / sizeof(f->acct[0]));
  f->acct[f->nacct] = a;
  f->member[f->nacct++] = member;
}

static enum pidio_ledger_life fake_exited(void *ctx,
                                         const pidio_ledger_acct_t *a) {
  const fake_proc_t *p = fake_find(ctx, a->pid);
  return p->gone ? PIDIO_LEDGER_REAPED
                 : p->exited ? PIDIO_LEDGER_ZOMBIE : PIDIO_LEDGER_RUNS;
}

static bool fake_may_absorb(void *ctx, const pidio_ledger_acct_t *a,
                            const pidio_io_t *credit) {
  const fake_proc_t *p = fake_find(ctx, a->pid);
  if (p->ignores_sigchld)
    return false;
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    if (p->absorbed.v[f] < credit->v[f])
      return false;
  return true;
}

/* --- the fixture --------------------------------------------------------- */

/* Most tests start from a ledger that folds reaped children (as the procfs
 * source's does) and an empty stand-in; the fixture frees the ledger. */
static pidio_ledger_t ledger;
static fake_t fake;

static void setup(void) {
  pidio_ledger_init(&ledger, true);
  fake = (fake_t){0};
}

static void teardown(void) { pidio_ledger_free(&ledger); }

/* --- helpers ------------------------------------------------------------- */

/* Counters: wchar bytes written in syscw calls, every other field 0. */
static pidio_io_t io2(uint64_t wchar, uint64_t syscw) {
  pidio_io_t c = {{0}};
  c.v[PIDIO_WCHAR] = wchar;
  c.v[PIDIO_SYSCW] = syscw;
  return c;
}

static pidio_io_t io(uint64_t wchar) { return io2(wchar, 0); }

static void assert_io(const pidio_io_t *got, const pidio_io_t *want,
                      const char *what) {
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    ck_assert_msg(got->v[f] == want->v[f], "%s: %s is %llu, expected %llu",
                  what, pidio_field_names[f], (unsigned long long)got->v[f],
                  (unsigned long long)want->v[f]);
}

static void io_sum(pidio_io_t *total, const pidio_io_t *inc) {
  for (int k = 0; k < PIDIO_NFIELDS; k++)
    total->v[k] += inc->v[k];
}

/* A process as the source tracks it, joined from birth to destination 0. */
static pidio_ledger_acct_t born(pid_t pid, pid_t ppid, uint64_t start) {
  pidio_ledger_acct_t a = {.pid = pid, .ppid = ppid, .start = start};
  pidio_ledger_join(&a, 0, NULL);
  return a;
}

static void observe(pidio_ledger_acct_t *a, pidio_io_t now) {
  a->now = now;
  pidio_ledger_read(a);
}

/* The members of a round, given in pid order as the ledger wants them. */
static void members(pidio_ledger_t *l, pidio_ledger_acct_t **a, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      ck_assert_int_lt(a[i - 1]->pid, a[i]->pid);
    ck_assert_int_eq(pidio_ledger_member(l, a[i]), 0);
  }
}

/* Close a round of one destination; returns its increment. Without a
 * stand-in (f NULL), the ledger gets no ops at all. */
static pidio_io_t close1(pidio_ledger_t *l, fake_t *f,
                         pidio_ledger_note_t *note) {
  const pidio_ledger_ops_t ops = {.ctx = f,
                                  .reread = fake_reread,
                                  .reaped = fake_reaped,
                                  .parent = fake_parent};
  pidio_io_t gain = {{0}};
  pidio_ledger_note_t ignored = {0};
  pidio_ledger_close(l, f ? &ops : NULL, &gain, note ? note : &ignored);
  return gain;
}

/* The same with every question a procfs source answers: who is tracked,
 * who has exited, who may have absorbed what. */
static pidio_io_t close_full(pidio_ledger_t *l, fake_t *f) {
  const pidio_ledger_ops_t ops = {.ctx = f,
                                  .reread = fake_reread,
                                  .reaped = fake_reaped,
                                  .parent = fake_parent,
                                  .tracked = fake_tracked,
                                  .exited = fake_exited,
                                  .may_absorb = fake_may_absorb};
  pidio_io_t gain = {{0}};
  pidio_ledger_note_t note = {0};
  pidio_ledger_close(l, &ops, &gain, &note);
  return gain;
}

static void new_round(pidio_ledger_acct_t **a, size_t n) {
  for (size_t i = 0; i < n; i++)
    pidio_ledger_new_round(a[i]);
}

/* --- rule 7: where counting starts --------------------------------------- */

START_TEST(test_join_from_birth_or_from_now) {
  pidio_ledger_acct_t newborn = born(10, 1, 500);
  pidio_ledger_acct_t running = {.pid = 11, .ppid = 1, .start = 20};
  pidio_io_t base = io2(40000, 7);
  pidio_ledger_join(&running, 0, &base);
  pidio_ledger_acct_t *all[] = {&newborn, &running};

  observe(&newborn, io2(100, 1));
  observe(&running, io2(40060, 9));
  members(&ledger, all, 2);
  pidio_io_t g = close1(&ledger, &fake, NULL);
  pidio_io_t want = io2(100 + 60, 1 + 2);
  assert_io(&g, &want, "first round");
  want = io2(60, 2);
  assert_io(&running.acc, &want, "running's acc");

  new_round(all, 2);
  observe(&newborn, io2(150, 2));
  observe(&running, io2(40060, 9));
  members(&ledger, all, 2);
  g = close1(&ledger, &fake, NULL);
  want = io2(50, 1);
  assert_io(&g, &want, "second round");
  want = io2(150, 2);
  assert_io(&newborn.acc, &want, "newborn's acc");
  ck_assert_uint_eq(fake.rereads + fake.reaped_asks + fake.parent_asks, 0);
}
END_TEST

START_TEST(test_rebase_counts_from_next_read) {
  pidio_ledger_acct_t a = born(10, 1, 20);
  pidio_ledger_rebase(&a);
  pidio_ledger_acct_t *all[] = {&a};

  /* Not read in the first round: nothing, and the rebase waits. */
  members(&ledger, all, 1);
  pidio_io_t g = close1(&ledger, &fake, NULL);
  pidio_io_t zero = {{0}};
  assert_io(&g, &zero, "unread");

  new_round(all, 1);
  observe(&a, io(5000));
  members(&ledger, all, 1);
  g = close1(&ledger, &fake, NULL);
  assert_io(&g, &zero, "baseline read");

  new_round(all, 1);
  observe(&a, io(5123));
  members(&ledger, all, 1);
  g = close1(&ledger, &fake, NULL);
  pidio_io_t want = io(123);
  assert_io(&g, &want, "after the baseline");
}
END_TEST

/* --- rule 1: never down -------------------------------------------------- */

START_TEST(test_counter_down_adds_nothing_and_rebases) {
  pidio_ledger_acct_t a = born(42, 1, 20);
  pidio_ledger_acct_t *all[] = {&a};
  observe(&a, io2(100, 10));
  members(&ledger, all, 1);
  close1(&ledger, &fake, NULL);

  /* wchar went up, syscw down: not the kernel's numbers. */
  new_round(all, 1);
  observe(&a, io2(300, 9));
  members(&ledger, all, 1);
  pidio_ledger_note_t note = {0};
  pidio_io_t g = close1(&ledger, &fake, &note);
  pidio_io_t zero = {{0}};
  assert_io(&g, &zero, "garbled round");
  ck_assert_uint_eq(note.garbled, 1);
  ck_assert_int_eq(note.garbled_pid, 42);

  new_round(all, 1);
  observe(&a, io2(310, 10));
  members(&ledger, all, 1);
  g = close1(&ledger, &fake, NULL);
  pidio_io_t want = io2(10, 1);
  assert_io(&g, &want, "counted from the garbled read on");
  want = io2(110, 11);
  assert_io(&a.acc, &want, "acc");
}
END_TEST

START_TEST(test_gone_and_left_keep_what_they_added) {
  pidio_ledger_acct_t gone = born(10, 1, 20), left = born(11, 1, 21);
  pidio_ledger_acct_t *all[] = {&gone, &left};
  observe(&gone, io(100));
  observe(&left, io(200));
  members(&ledger, all, 2);
  pidio_io_t g = close1(&ledger, &fake, NULL);
  pidio_io_t want = io(300);
  assert_io(&g, &want, "first round");

  /* One reaped without a last read, one leaving with a last read. */
  new_round(all, 2);
  pidio_ledger_gone(&gone);
  observe(&left, io(230));
  ck_assert_int_eq(pidio_ledger_depart(&ledger, &gone), 0);
  ck_assert_int_eq(pidio_ledger_depart(&ledger, &left), 0);
  g = close1(&ledger, &fake, NULL);
  want = io(30);
  assert_io(&g, &want, "departures");
  /* Their parent (pid 1) is no member: nobody is asked anything. */
  ck_assert_uint_eq(fake.rereads + fake.reaped_asks + fake.parent_asks, 0);
}
END_TEST

/* --- rules 2 and 3: folds ------------------------------------------------ */

/* One round of the members P and C (P first in pid order), read at pnow
 * and cnow. Returns its increment; the next round is begun. */
static pidio_io_t pair_round(pidio_ledger_t *l, fake_t *f,
                             pidio_ledger_acct_t *p, pidio_ledger_acct_t *c,
                             pidio_io_t pnow, pidio_io_t cnow) {
  pidio_ledger_acct_t *all[] = {p, c};
  observe(p, pnow);
  observe(c, cnow);
  members(l, all, 2);
  pidio_io_t inc = close1(l, f, NULL);
  new_round(all, 2);
  return inc;
}

/* One round in which C is gone and P alone is alive (read, or not, by the
 * caller). Returns its increment; the next round is begun. */
static pidio_io_t child_gone_round(pidio_ledger_t *l, fake_t *f,
                                   pidio_ledger_acct_t *p,
                                   pidio_ledger_acct_t *c) {
  pidio_ledger_gone(c);
  members(l, &p, 1);
  ck_assert_int_eq(pidio_ledger_depart(l, c), 0);
  pidio_io_t inc = close1(l, f, NULL);
  pidio_ledger_new_round(p);
  return inc;
}

/* P (10) forks C (11): C writes 100 bytes in 4 calls, P 10 in 1, then 5 in
 * 2 more after reaping C. The kernel shows P 10+100+5 then. */
START_TEST(test_reaped_member_child_counted_once) {
  pidio_ledger_acct_t p = born(10, 1, 100), c = born(11, 10, 105);
  pidio_io_t total =
      pair_round(&ledger, &fake, &p, &c, io2(10, 1), io2(100, 4));

  observe(&p, io2(115, 7));
  fake_add(&fake, 10)->counters = io2(115, 7);
  pidio_io_t g = child_gone_round(&ledger, &fake, &p, &c);
  io_sum(&total, &g);
  pidio_io_t want = io2(10 + 100 + 5, 1 + 4 + 2);
  assert_io(&total, &want, "P and C together");
  want = io2(5, 2);
  assert_io(&g, &want, "second round: P's own");
  ck_assert_uint_eq(fake.rereads, 1); /* P, after the credit */
}
END_TEST

START_TEST(test_unseen_children_reach_the_parent) {
  pidio_ledger_acct_t p = born(10, 1, 100);
  pidio_ledger_acct_t *all[] = {&p};
  observe(&p, io(10));
  members(&ledger, all, 1);
  close1(&ledger, &fake, NULL);

  /* Three children that lived less than a round wrote 777 each; P reaped
   * them. No member departed: P's whole increment counts. */
  new_round(all, 1);
  observe(&p, io(10 + 3 * 777));
  members(&ledger, all, 1);
  pidio_io_t g = close1(&ledger, &fake, NULL);
  pidio_io_t want = io(3 * 777);
  assert_io(&g, &want, "the children through P");
  ck_assert_uint_eq(fake.rereads, 0);
}
END_TEST

/* P ignores SIGCHLD: C is auto-reaped, never folded. P's increment is below
 * C's credit in one field (syscw), so nothing is taken off. */
START_TEST(test_parent_ignoring_sigchld_keeps_its_increment) {
  pidio_ledger_acct_t p = born(10, 1, 100), c = born(11, 10, 105);
  pair_round(&ledger, &fake, &p, &c, io2(0, 0), io2(100, 10));

  observe(&p, io2(150, 3));
  fake_add(&fake, 10)->counters = io2(150, 3);
  pidio_io_t g = child_gone_round(&ledger, &fake, &p, &c);
  pidio_io_t want = io2(150, 3);
  assert_io(&g, &want, "P's own, whole");
  pidio_io_t zero = {{0}};
  assert_io(&p.debt, &zero, "the debt not absorbed is dropped");
}
END_TEST

/* rule 5: C's ppid names a member that started after C: a reused pid, not
 * C's parent. */
START_TEST(test_reused_ppid_is_not_the_parent) {
  pidio_ledger_acct_t p = born(10, 1, 200), c = born(11, 10, 105);
  pair_round(&ledger, &fake, &p, &c, io(0), io(100));

  observe(&p, io(100)); /* its own 100 */
  pidio_io_t g = child_gone_round(&ledger, &fake, &p, &c);
  pidio_io_t want = io(100);
  assert_io(&g, &want, "the newer process's own");
  ck_assert_uint_eq(fake.rereads, 0);
}
END_TEST

/* --- the ambiguous fold -------------------------------------------------- */

/* P and C read in the same round while the kernel is reaping C: P already
 * holds C's 100, C still shows them. P's increment waits a round. */
START_TEST(test_parent_waits_while_child_is_reaped) {
  pidio_ledger_acct_t p = born(10, 1, 100), c = born(11, 10, 105);
  fake_proc_t *fc = fake_add(&fake, 11);
  pidio_io_t total = pair_round(&ledger, &fake, &p, &c, io(10), io(100));
  ck_assert_uint_eq(fake.reaped_asks, 0); /* P's increment 10 < C's 100 */

  fc->reaped = true; /* 'X' */
  pidio_io_t g = pair_round(&ledger, &fake, &p, &c, io(110), io(100));
  ck_assert_uint_eq(fake.reaped_asks, 1);
  pidio_io_t zero = {{0}};
  assert_io(&g, &zero, "P deferred, C did nothing new");
  io_sum(&total, &g);

  observe(&p, io(110));
  fake_add(&fake, 10)->counters = io(110);
  g = child_gone_round(&ledger, &fake, &p, &c);
  io_sum(&total, &g);
  pidio_io_t want = io(110);
  assert_io(&total, &want, "P's 10 and C's 100, once");
}
END_TEST

START_TEST(test_parent_counts_while_child_runs) {
  pidio_ledger_acct_t p = born(10, 1, 100), c = born(11, 10, 105);
  fake_add(&fake, 11)->reaped = false; /* running, or a zombie not reaped */
  pidio_io_t g = pair_round(&ledger, &fake, &p, &c, io(1000), io(100));
  ck_assert_uint_eq(fake.reaped_asks, 1);
  pidio_io_t want = io(1100);
  assert_io(&g, &want, "both, at once");
}
END_TEST

/* P's increment is below C's counters in one field (syscw): it cannot hold
 * C, decided without asking the source. */
START_TEST(test_increment_below_child_is_decided_without_asking) {
  pidio_ledger_acct_t p = born(10, 1, 100), c = born(11, 10, 105);
  pidio_io_t g = pair_round(&ledger, &fake, &p, &c, io2(5000, 2), io2(100, 3));
  ck_assert_uint_eq(fake.reaped_asks, 0);
  pidio_io_t want = io2(5100, 5);
  assert_io(&g, &want, "both");
}
END_TEST

/* Three generations, G <- P <- C, members from birth, and their first
 * round: G wrote g0 bytes, P 10 and C 100. Returns its increment. */
typedef struct family {
  pidio_ledger_acct_t g, p, c;
} family_t;

static pidio_io_t family_first_round(pidio_ledger_t *l, fake_t *f,
                                     family_t *fam, const pid_t pid[3],
                                     const uint64_t start[3], uint64_t g0) {
  fam->g = born(pid[0], 1, start[0]);
  fam->p = born(pid[1], pid[0], start[1]);
  fam->c = born(pid[2], pid[1], start[2]);
  pidio_ledger_acct_t *all[3] = {&fam->g, &fam->p, &fam->c};
  /* pid order for the ledger */
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++)
      if (all[j]->pid < all[i]->pid) {
        pidio_ledger_acct_t *t = all[i];
        all[i] = all[j];
        all[j] = t;
      }
  fake_add(f, pid[2])->reaped = false;
  fake_add(f, pid[1])->reaped = false;
  fake_add(f, pid[0]);
  observe(&fam->g, io(g0));
  observe(&fam->p, io(10));
  observe(&fam->c, io(100));
  members(l, all, 3);
  pidio_io_t inc = close1(l, f, NULL);
  pidio_ledger_new_round(&fam->g);
  pidio_ledger_new_round(&fam->p);
  pidio_ledger_new_round(&fam->c);
  return inc;
}

/* P and C both reaped in one round; C's credit goes to P and up to G with
 * P's own. */
static void family_gone_in_one_round(const pid_t pid[3],
                                     const uint64_t start[3]) {
  pidio_ledger_t l;
  pidio_ledger_init(&l, true);
  fake_t f = {0};
  family_t fam;
  pidio_io_t total = family_first_round(&l, &f, &fam, pid, start, 1);

  pidio_ledger_gone(&fam.p);
  pidio_ledger_gone(&fam.c);
  observe(&fam.g, io(1));
  fake_find(&f, pid[0])->counters = io(1 + 10 + 100 + 2);
  pidio_ledger_acct_t *alive[] = {&fam.g};
  members(&l, alive, 1);
  ck_assert_int_eq(pidio_ledger_depart(&l, &fam.p), 0);
  ck_assert_int_eq(pidio_ledger_depart(&l, &fam.c), 0);
  pidio_io_t inc = close1(&l, &f, NULL);
  io_sum(&total, &inc);
  pidio_io_t want = io(1 + 10 + 100 + 2);
  assert_io(&total, &want, "the family, each byte once");
  ck_assert_uint_eq(f.rereads, 1);
  pidio_ledger_free(&l);
}

START_TEST(test_parent_gone_same_round_passes_credit_up) {
  family_gone_in_one_round((pid_t[]){10, 11, 12}, (uint64_t[]){50, 101, 102});
}
END_TEST

/* P and C started in the same clock tick, and C got the lower pid (pids
 * wrapped): P is settled first, and C's credit follows it up to G. */
START_TEST(test_same_tick_start_order) {
  family_gone_in_one_round((pid_t[]){10, 30, 12}, (uint64_t[]){50, 101, 101});
}
END_TEST

/* C's credit arrives at P, whose re-read finds it gone too: P departs and
 * passes C's credit and its own up to G in the next pass. */
START_TEST(test_reread_finds_parent_gone) {
  family_t fam;
  pidio_io_t total =
      family_first_round(&ledger, &fake, &fam, (pid_t[]){10, 11, 12},
                         (uint64_t[]){50, 101, 102}, 1);

  observe(&fam.g, io(1));
  observe(&fam.p, io(10));
  pidio_ledger_gone(&fam.c);
  fake_find(&fake, 11)->reread_rc = -ESRCH; /* P, after C's credit: gone */
  fake_find(&fake, 10)->counters = io(1 + 110);
  pidio_ledger_acct_t *alive[] = {&fam.g, &fam.p};
  members(&ledger, alive, 2);
  ck_assert_int_eq(pidio_ledger_depart(&ledger, &fam.c), 0);
  pidio_io_t inc = close1(&ledger, &fake, NULL);
  ck_assert(fam.p.state & PIDIO_LEDGER_GONE);
  ck_assert_uint_eq(fake.rereads, 2); /* P, then G */
  io_sum(&total, &inc);
  pidio_io_t want = io(111);
  assert_io(&total, &want, "each byte once");
}
END_TEST

/* P is reaped; its member child C is an orphan whose new reaper is G, a
 * member subreaper. When C goes, G holds it. */
START_TEST(test_orphans_follow_their_new_reaper) {
  family_t fam;
  pidio_io_t total =
      family_first_round(&ledger, &fake, &fam, (pid_t[]){5, 10, 11},
                         (uint64_t[]){50, 100, 105}, 0);

  pidio_ledger_gone(&fam.p);
  fake_find(&fake, 11)->ppid = 5; /* C's parent now */
  fake_find(&fake, 5)->counters = io(10);
  observe(&fam.g, io(10));
  observe(&fam.c, io(100));
  pidio_ledger_acct_t *alive[] = {&fam.g, &fam.c};
  members(&ledger, alive, 2);
  ck_assert_int_eq(pidio_ledger_depart(&ledger, &fam.p), 0);
  pidio_io_t inc = close1(&ledger, &fake, NULL);
  ck_assert_uint_eq(fake.parent_asks, 1);
  ck_assert_int_eq(fam.c.ppid, 5);
  io_sum(&total, &inc);

  new_round(alive, 2);
  pidio_ledger_gone(&fam.c);
  observe(&fam.g, io(110));
  fake_find(&fake, 5)->counters = io(110);
  pidio_ledger_acct_t *alive2[] = {&fam.g};
  members(&ledger, alive2, 1);
  ck_assert_int_eq(pidio_ledger_depart(&ledger, &fam.c), 0);
  inc = close1(&ledger, &fake, NULL);
  io_sum(&total, &inc);
  pidio_io_t want = io(110);
  assert_io(&total, &want, "each byte once");
}
END_TEST

/* P could not be read when its credit came (unreadable): the debt waits
 * for P's next read. */
START_TEST(test_debt_waits_for_the_next_read) {
  pidio_ledger_acct_t p = born(10, 1, 100), c = born(11, 10, 105);
  fake_add(&fake, 11)->reaped = false;
  pidio_io_t total = pair_round(&ledger, &fake, &p, &c, io(10), io(100));

  fake_add(&fake, 10)->reread_rc = -EACCES;
  pidio_io_t inc = child_gone_round(&ledger, &fake, &p, &c);
  pidio_io_t want = io(100);
  assert_io(&p.debt, &want, "waiting debt");
  io_sum(&total, &inc);

  observe(&p, io(10 + 100 + 1));
  pidio_ledger_acct_t *alive[] = {&p};
  members(&ledger, alive, 1);
  inc = close1(&ledger, &fake, NULL);
  io_sum(&total, &inc);
  want = io(111);
  assert_io(&total, &want, "each byte once");
}
END_TEST

/* --- destinations and sources -------------------------------------------- */

/* A child counted in its own destination keeps it when a parent in another
 * destination reaps it; the parent's destination does not count it. */
START_TEST(test_credit_crosses_destinations) {
  pidio_ledger_acct_t p = {.pid = 10, .ppid = 1, .start = 100},
                      c = {.pid = 11, .ppid = 10, .start = 105};
  pidio_ledger_join(&p, 0, NULL);
  pidio_ledger_join(&c, 1, NULL);
  pidio_ledger_acct_t *all[] = {&p, &c};
  fake_add(&fake, 11)->reaped = false;
  const pidio_ledger_ops_t ops = {.ctx = &fake,
                                  .reread = fake_reread,
                                  .reaped = fake_reaped,
                                  .parent = fake_parent};
  pidio_ledger_note_t note = {0};
  pidio_io_t gain[2] = {{{0}}, {{0}}};
  observe(&p, io(10));
  observe(&c, io(100));
  members(&ledger, all, 2);
  pidio_ledger_close(&ledger, &ops, gain, &note);

  new_round(all, 2);
  pidio_ledger_gone(&c);
  observe(&p, io(115));
  fake_add(&fake, 10)->counters = io(115);
  pidio_ledger_acct_t *alive[] = {&p};
  members(&ledger, alive, 1);
  ck_assert_int_eq(pidio_ledger_depart(&ledger, &c), 0);
  pidio_ledger_close(&ledger, &ops, gain, &note);
  pidio_io_t want = io(15);
  assert_io(&gain[0], &want, "the parent's destination: its own");
  want = io(100);
  assert_io(&gain[1], &want, "the child's destination: the child's");
}
END_TEST

/* A source that reports each process's own I/O and a final read at exit:
 * nothing is ever taken off, nothing waits, the source is never asked (the
 * ledger gets no ops at all). */
START_TEST(test_non_folding_source) {
  pidio_ledger_t l;
  pidio_ledger_init(&l, false);
  pidio_ledger_acct_t p = born(10, 1, 100), c = born(11, 10, 105);
  pidio_io_t total = pair_round(&l, NULL, &p, &c, io(100), io(100));

  observe(&p, io(200)); /* its own, not C's */
  observe(&c, io(130)); /* final record at exit */
  pidio_io_t inc = child_gone_round(&l, NULL, &p, &c);
  io_sum(&total, &inc);
  pidio_io_t want = io(330);
  assert_io(&total, &want, "own I/O of both");
  pidio_ledger_free(&l);
}
END_TEST

/* --- who reaped it ------------------------------------------------------- */

/* S (10, a subreaper) -> I (11) -> G (12), all members. I exits first (a
 * zombie), G is handed to S, writes 100 more and is reaped by S. G's
 * credit comes off S, not off the zombie I. */
START_TEST(test_orphan_credit_goes_to_the_subreaper) {
  pidio_ledger_acct_t s = born(10, 1, 20), i = born(11, 10, 21),
                      g = born(12, 11, 22);
  pidio_ledger_acct_t *all[] = {&s, &i, &g};
  for (size_t k = 0; k < 3; k++)
    fake_track(&fake, all[k], true);
  fake_add(&fake, 10)->counters = io(0);
  fake_add(&fake, 11)->counters = io(30);
  fake_add(&fake, 12);
  observe(&s, io(0));
  observe(&i, io(30));
  observe(&g, io(50));
  members(&ledger, all, 3);
  pidio_io_t gain = close_full(&ledger, &fake);
  pidio_io_t want = io(80);
  assert_io(&gain, &want, "first round");

  new_round(all, 3);
  fake_find(&fake, 11)->exited = true;
  fake_find(&fake, 10)->counters = io(150); /* G's whole 150 folded */
  fake_find(&fake, 10)->absorbed = io(150);
  observe(&s, io(150));
  observe(&i, io(30));
  pidio_ledger_gone(&g);
  pidio_ledger_acct_t *alive[] = {&s, &i};
  members(&ledger, alive, 2);
  ck_assert_int_eq(pidio_ledger_depart(&ledger, &g), 0);
  gain = close_full(&ledger, &fake);
  want = io(100); /* G's last 100, once */
  assert_io(&gain, &want, "G reaped by S while I is a zombie");
}
END_TEST

/* A busy parent whose child the kernel reaped (SIGCHLD ignored): its
 * increment covers the child, what it absorbed does not. */
START_TEST(test_busy_parent_that_absorbed_nothing) {
  pidio_ledger_acct_t p = born(10, 1, 20), c = born(11, 10, 21);
  fake_track(&fake, &p, true);
  fake_track(&fake, &c, true);
  fake_add(&fake, 10)->counters = io(5000);
  fake_add(&fake, 11);
  pidio_io_t inc = pair_round(&ledger, &fake, &p, &c, io(0), io(60));
  pidio_io_t want = io(60);
  assert_io(&inc, &want, "first round");
  observe(&p, io(5000));
  inc = child_gone_round(&ledger, &fake, &p, &c);
  /* A source that cannot say what a process absorbed: the share is taken
   * off (lost, never counted twice). */
  ck_assert_uint_eq(inc.v[PIDIO_WCHAR], 4940);

  /* Again with every question answered: the same, decided by absorption. */
  pidio_ledger_t l2;
  pidio_ledger_init(&l2, true);
  pidio_ledger_acct_t p2 = born(10, 1, 20), c2 = born(11, 10, 21);
  fake.nacct = 0;
  fake_track(&fake, &p2, true);
  fake_track(&fake, &c2, true);
  pidio_ledger_acct_t *all[] = {&p2, &c2};
  observe(&p2, io(0));
  observe(&c2, io(60));
  members(&l2, all, 2);
  (void)close_full(&l2, &fake);
  new_round(all, 2);
  observe(&p2, io(5000));
  pidio_ledger_gone(&c2);
  members(&l2, all, 1);
  ck_assert_int_eq(pidio_ledger_depart(&l2, &c2), 0);
  pidio_io_t gain = close_full(&l2, &fake);
  want = io(5000);
  assert_io(&gain, &want, "nothing taken off a parent that absorbed nothing");
  pidio_ledger_free(&l2);
}
END_TEST

/* M (10) -> I (11) -> G (12): I and G gone in one round; M folded I only
 * (G went to a reaper outside). G's credit reaches M only if I had reaped
 * G: taken off only when M's increment and absorption cover it. */
static void lineage(bool busy, bool i_reaped_g) {
  pidio_ledger_t l;
  pidio_ledger_init(&l, true);
  fake_t f = {0};
  pidio_ledger_acct_t m = born(10, 1, 20), i = born(11, 10, 21),
                      g = born(12, 11, 22);
  pidio_ledger_acct_t *all[] = {&m, &i, &g};
  for (size_t k = 0; k < 3; k++)
    fake_track(&f, all[k], true);
  fake_add(&f, 10);
  fake_add(&f, 11);
  fake_add(&f, 12);
  observe(&m, io(0));
  observe(&i, io(30));
  observe(&g, io(80));
  members(&l, all, 3);
  (void)close_full(&l, &f);
  new_round(all, 3);
  uint64_t own = busy ? 4000 : 0;
  uint64_t folded = i_reaped_g ? 30 + 80 : 30;
  fake_find(&f, 10)->counters = io(own + folded);
  fake_find(&f, 10)->absorbed = io(folded);
  observe(&m, io(own + folded));
  pidio_ledger_gone(&i);
  pidio_ledger_gone(&g);
  members(&l, all, 1);
  ck_assert_int_eq(pidio_ledger_depart(&l, &i), 0);
  ck_assert_int_eq(pidio_ledger_depart(&l, &g), 0);
  pidio_io_t gain = close_full(&l, &f);
  pidio_io_t want = io(own);
  assert_io(&gain, &want, "M's own I/O only: I and G were counted");
  pidio_ledger_free(&l);
}

START_TEST(test_lineage_uncertain_share) {
  lineage(false, false);
  lineage(true, false);
  lineage(false, true);
  lineage(true, true);
}
END_TEST

/* S (10, member) -> X (11, outside) -> G (12, member): X reaps G and
 * holds its credit; when S reaps X, the credit comes off S. */
START_TEST(test_outside_reaper_holds_the_credit) {
  pidio_ledger_acct_t s = born(10, 1, 20), x = born(11, 10, 21),
                      g = born(12, 11, 22);
  fake_track(&fake, &s, true);
  fake_track(&fake, &x, false);
  fake_track(&fake, &g, true);
  fake_add(&fake, 10);
  fake_add(&fake, 11)->absorbed = io(80);
  fake_add(&fake, 12);
  pidio_ledger_acct_t *mem[] = {&s, &g};
  observe(&s, io(0));
  observe(&g, io(50));
  members(&ledger, mem, 2);
  (void)close_full(&ledger, &fake);
  new_round(mem, 2);
  pidio_ledger_new_round(&x);

  observe(&s, io(0));
  pidio_ledger_gone(&g);
  members(&ledger, mem, 1);
  ck_assert_int_eq(pidio_ledger_depart(&ledger, &g), 0);
  pidio_io_t gain = close_full(&ledger, &fake);
  ck_assert_uint_eq(gain.v[PIDIO_WCHAR], 0);
  ck_assert(x.state & PIDIO_LEDGER_HOLDS);
  ck_assert_uint_eq(x.debt.v[PIDIO_WCHAR], 50);
  new_round(mem, 1);
  pidio_ledger_new_round(&x);

  /* X (its own 20 and G's 80) is reaped by S. */
  fake_find(&fake, 10)->counters = io(100);
  fake_find(&fake, 10)->absorbed = io(100);
  observe(&s, io(100));
  pidio_ledger_gone(&x);
  members(&ledger, mem, 1);
  ck_assert_int_eq(pidio_ledger_depart(&ledger, &x), 0);
  gain = close_full(&ledger, &fake);
  pidio_io_t want = io(50); /* X's 20 and G's last 30 */
  assert_io(&gain, &want, "X reaped by S");
}
END_TEST

Suite *make_ledger_suite(void) {
  Suite *s = suite_create("ledger");
  TCase *tc = tcase_create("rules");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_join_from_birth_or_from_now);
  tcase_add_test(tc, test_rebase_counts_from_next_read);
  tcase_add_test(tc, test_counter_down_adds_nothing_and_rebases);
  tcase_add_test(tc, test_gone_and_left_keep_what_they_added);
  tcase_add_test(tc, test_reaped_member_child_counted_once);
  tcase_add_test(tc, test_unseen_children_reach_the_parent);
  tcase_add_test(tc, test_parent_ignoring_sigchld_keeps_its_increment);
  tcase_add_test(tc, test_reused_ppid_is_not_the_parent);
  suite_add_tcase(s, tc);
  tc = tcase_create("ambiguous");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_parent_waits_while_child_is_reaped);
  tcase_add_test(tc, test_parent_counts_while_child_runs);
  tcase_add_test(tc, test_increment_below_child_is_decided_without_asking);
  tcase_add_test(tc, test_parent_gone_same_round_passes_credit_up);
  tcase_add_test(tc, test_same_tick_start_order);
  tcase_add_test(tc, test_reread_finds_parent_gone);
  tcase_add_test(tc, test_orphans_follow_their_new_reaper);
  tcase_add_test(tc, test_debt_waits_for_the_next_read);
  tcase_add_test(tc, test_orphan_credit_goes_to_the_subreaper);
  tcase_add_test(tc, test_busy_parent_that_absorbed_nothing);
  tcase_add_test(tc, test_lineage_uncertain_share);
  tcase_add_test(tc, test_outside_reaper_holds_the_credit);
  suite_add_tcase(s, tc);
  tc = tcase_create("destinations");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_credit_crosses_destinations);
  tcase_add_test(tc, test_non_folding_source);
  suite_add_tcase(s, tc);
  return s;
}
