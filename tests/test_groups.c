/*
 * Unit tests of pidio_groups: slots, ranking, conservation, monotonic
 * series, forgetting.
 *
 * A model of a writer follows what would be dispatched after each
 * interval (the slot holders' series by name, and "other") and checks the
 * rules of pidio_groups.h against what the test itself fed in: every
 * series only grows, a series that (re)appears rises by 0, and the rises
 * of all series and "other" add up to what was fed, exactly.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_group.h"
#include "pidio_groups.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static pidio_groups_conf_t conf_of(unsigned max_groups, unsigned window) {
  return (pidio_groups_conf_t){.max_groups = max_groups,
                               .rank = PIDIO_RANK_BYTES,
                               .rank_window = window,
                               .rate_window = 0,
                               .name_max = 63};
}

static pidio_io_t io_bytes(uint64_t rd, uint64_t wr) {
  pidio_io_t c = {{0}};
  c.v[PIDIO_READ_BYTES] = rd;
  c.v[PIDIO_WRITE_BYTES] = wr;
  c.v[PIDIO_RCHAR] = rd;
  c.v[PIDIO_WCHAR] = wr;
  return c;
}

static pidio_groups_entry_t *join(pidio_groups_t *t, const char *key) {
  pidio_groups_entry_t *g =
      pidio_groups_join(t, key, key != NULL ? strlen(key) : 0);
  ck_assert_ptr_nonnull(g);
  return g;
}

static pidio_groups_entry_t *slot_of(const pidio_groups_t *t,
                                     const char *name) {
  for (size_t i = 0; i < t->nslot; i++)
    if (strcmp(t->slot[i]->name, name) == 0)
      return t->slot[i];
  return NULL;
}

/* ---- the writer's model --------------------------------------------------- */

typedef struct seen {
  char name[128];
  pidio_io_t last;
  uint64_t round; /* the last interval it was dispatched in */
} seen_t;

typedef struct model {
  seen_t *s;
  size_t n, cap;
  pidio_io_t other;
  uint64_t round;
  pidio_io_t fed; /* this interval */
  unsigned counted;
  uint64_t appeared, resumed; /* series that (re)appeared */
  bool resets_allowed;        /* a group forgotten for good may restart */
} model_t;

static seen_t *model_find(model_t *m, const char *name) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->s[i].name, name) == 0)
      return &m->s[i];
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 64;
    m->s = realloc(m->s, m->cap * sizeof(*m->s));
    ck_assert_ptr_nonnull(m->s);
  }
  seen_t *s = &m->s[m->n++];
  memset(s, 0, sizeof(*s));
  snprintf(s->name, sizeof(s->name), "%s", name);
  return s;
}

static void model_feed(model_t *m, pidio_groups_t *t, pidio_groups_entry_t *g,
                       const pidio_io_t *inc) {
  pidio_groups_add(t, g, inc);
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    m->fed.v[f] += inc->v[f];
}

static void model_count(model_t *m, pidio_groups_t *t,
                        pidio_groups_entry_t *g, bool unreadable) {
  pidio_groups_count(t, g, 1, unreadable);
  m->counted++;
}

/* Settle one interval and check every rule against the model. */
static void model_settle(model_t *m, pidio_groups_t *t) {
  m->round++;
  ck_assert_int_eq(pidio_groups_settle(t, (double)m->round), 0);
  ck_assert_uint_le(t->nslot, t->conf.max_groups);
  pidio_io_t sum = {{0}};
  unsigned processes = t->other_processes;
  for (size_t i = 0; i < t->nslot; i++) {
    const pidio_groups_entry_t *g = t->slot[i];
    ck_assert(g->slotted && !g->dormant);
    ck_assert_str_ne(g->name, "other");
    if (i > 0)
      ck_assert_int_lt(strcmp(t->slot[i - 1]->name, g->name), 0);
    seen_t *s = model_find(m, g->name);
    bool continued = s->round != 0 && s->round + 1 == m->round;
    bool reset = false;
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      if (g->series.v[f] < s->last.v[f])
        reset = true;
    if (reset) {
      /* Only a group forgotten for good may start over, from 0. */
      ck_assert_msg(m->resets_allowed && !continued,
                    "series %s went down in interval %llu", g->name,
                    (unsigned long long)m->round);
      s->last = (pidio_io_t){{0}};
      for (int f = 0; f < PIDIO_NFIELDS; f++)
        ck_assert_uint_eq(g->series.v[f], 0);
    }
    if (!continued) {
      /* (Re)appearing: no rise, so no spike in any writer. */
      for (int f = 0; f < PIDIO_NFIELDS; f++)
        ck_assert_msg(g->series.v[f] == s->last.v[f],
                      "series %s appears with a step in %s", g->name,
                      pidio_field_names[f]);
      if (s->round == 0)
        m->appeared++;
      else
        m->resumed++;
    }
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      sum.v[f] += g->series.v[f] - s->last.v[f];
    s->last = g->series;
    s->round = m->round;
    processes += g->processes;
  }
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    ck_assert_uint_ge(t->other.v[f], m->other.v[f]);
    sum.v[f] += t->other.v[f] - m->other.v[f];
    ck_assert_msg(sum.v[f] == m->fed.v[f],
                  "interval %llu, %s: series rose by %llu, fed %llu",
                  (unsigned long long)m->round, pidio_field_names[f],
                  (unsigned long long)sum.v[f],
                  (unsigned long long)m->fed.v[f]);
  }
  ck_assert_uint_eq(processes, m->counted);
  m->other = t->other;
  m->fed = (pidio_io_t){{0}};
  m->counted = 0;
}

static void model_free(model_t *m) { free(m->s); }

/* ---- configuration -------------------------------------------------------- */

START_TEST(test_conf) {
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(20, 5);
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  ck_assert_uint_eq(t.conf.max_dormant, 200);
  pidio_groups_free(&t);
  pidio_groups_free(&t); /* twice is harmless */

  c = conf_of(0, 5);
  ck_assert_int_eq(pidio_groups_init(&t, &c), -EINVAL);
  c = conf_of(PIDIO_GROUPS_MAX + 1, 5);
  ck_assert_int_eq(pidio_groups_init(&t, &c), -EINVAL);
  c = conf_of(PIDIO_GROUPS_MAX, 5);
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  pidio_groups_free(&t);
  c = conf_of(1, 0);
  ck_assert_int_eq(pidio_groups_init(&t, &c), -EINVAL);
  c = conf_of(1, 1);
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  pidio_groups_free(&t);
  c = conf_of(1, 3);
  c.rate_window = 1;
  ck_assert_int_eq(pidio_groups_init(&t, &c), -EINVAL);
  c = conf_of(1, 3);
  c.rank = PIDIO_RANK_BYTES + 1;
  ck_assert_int_eq(pidio_groups_init(&t, &c), -EINVAL);
  c = conf_of(1, 3);
  c.name_max = PIDIO_GROUP_NAME_MIN - 1;
  ck_assert_int_eq(pidio_groups_init(&t, &c), -EINVAL);
}
END_TEST

START_TEST(test_rank_parse) {
  int r = -1;
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    ck_assert_int_eq(pidio_groups_rank_parse(pidio_field_names[f], &r), 0);
    ck_assert_int_eq(r, f);
    ck_assert_str_eq(pidio_groups_rank_name(r), pidio_field_names[f]);
  }
  ck_assert_int_eq(pidio_groups_rank_parse("bytes", &r), 0);
  ck_assert_int_eq(r, PIDIO_RANK_BYTES);
  ck_assert_str_eq(pidio_groups_rank_name(r), "bytes");
  ck_assert_int_eq(pidio_groups_rank_parse("Bytes", &r), -EINVAL);
  ck_assert_int_eq(pidio_groups_rank_parse("read", &r), -EINVAL);
  ck_assert_int_eq(pidio_groups_rank_parse("", &r), -EINVAL);
}
END_TEST

START_TEST(test_options) {
  pidio_groups_opts_t o;
  char err[256];
  pidio_groups_opts_init(&o);
  pidio_groups_conf_t c;
  pidio_groups_conf_of(&o, "web", 0, &c);
  ck_assert_uint_eq(c.max_groups, PIDIO_GROUPS_DEFAULT);
  ck_assert_int_eq(c.rank, PIDIO_RANK_BYTES);
  ck_assert_uint_eq(c.rank_window, PIDIO_GROUPS_RANK_WINDOW);
  ck_assert_uint_eq(c.rate_window, 0);
  ck_assert_uint_eq(c.name_max, 123);

  pidio_groups_opts_init(&o);
  ck_assert_int_eq(pidio_groups_set_by(&o, "unit", err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_groups_set_by(&o, "comm", err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "given twice; a block takes it once");
  ck_assert_int_eq(o.key, PIDIO_GROUP_UNIT);
  ck_assert_int_eq(pidio_groups_set_max(&o, 7, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_groups_set_max(&o, 8, err, sizeof(err)), -EINVAL);
  ck_assert_int_eq(pidio_groups_set_rank(&o, "syscw", err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_groups_set_rank(&o, "bytes", err, sizeof(err)),
                   -EINVAL);
  pidio_groups_conf_of(&o, "web", 10, &c);
  ck_assert_uint_eq(c.max_groups, 7);
  ck_assert_int_eq(c.rank, PIDIO_SYSCW);
  ck_assert_uint_eq(c.rank_window, 10);
  ck_assert_uint_eq(c.rate_window, 10);
  pidio_groups_t t;
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  pidio_groups_free(&t);

  pidio_groups_opts_init(&o);
  ck_assert_int_eq(pidio_groups_set_by(&o, "pid", err, sizeof(err)), -EINVAL);
  ck_assert_str_eq(err, "unknown key \"pid\": use comm, exe, user, cgroup "
                        "or unit");
  ck_assert(!o.by);
  static const double bad[] = {0, -1, 1.5, 1001, 1e300, -1e300};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_int_eq(pidio_groups_set_max(&o, bad[i], err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "needs a whole number of groups from 1 to 1000");
    ck_assert_uint_eq(o.max_groups, 0);
  }
  ck_assert_int_eq(pidio_groups_set_max(&o, NAN, err, sizeof(err)), -EINVAL);
  ck_assert_int_eq(pidio_groups_set_max(&o, 1000, err, sizeof(err)), 0);
  ck_assert_int_eq(pidio_groups_set_rank(&o, "bogus", err, sizeof(err)),
                   -EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "unknown field \"bogus\": use bytes"));
  ck_assert_int_eq(o.rank, -1);
}
END_TEST

/* ---- slots ---------------------------------------------------------------- */

/* One interval in which each named group (joined in g[]) does bytes[i]. */
static void round_of(model_t *m, pidio_groups_t *t, pidio_groups_entry_t **g,
                     const uint64_t *bytes, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (g[i] == NULL)
      continue;
    pidio_io_t inc = io_bytes(bytes[i] / 2, bytes[i] - bytes[i] / 2);
    model_feed(m, t, g[i], &inc);
    model_count(m, t, g[i], false);
  }
  model_settle(m, t);
}

START_TEST(test_first_slots) {
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(2, 3);
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {0};
  pidio_groups_entry_t *g[4] = {join(&t, "quiet"), join(&t, "a"),
                                join(&t, "b"), join(&t, "c")};
  /* No I/O: no slot, everything (the counts) in other. */
  uint64_t none[4] = {0, 0, 0, 0};
  round_of(&m, &t, g, none, 4);
  ck_assert_uint_eq(t.nslot, 0);
  ck_assert_uint_eq(t.other_processes, 4);
  /* The two busiest get the two slots, in the interval they show up; what
   * they did in it is in other, their series start at 0. */
  uint64_t io[4] = {0, 100, 300, 200};
  round_of(&m, &t, g, io, 4);
  ck_assert_uint_eq(t.nslot, 2);
  ck_assert_ptr_eq(slot_of(&t, "b"), g[2]);
  ck_assert_ptr_eq(slot_of(&t, "c"), g[3]);
  ck_assert_uint_eq(g[2]->series.v[PIDIO_WRITE_BYTES], 0);
  ck_assert_uint_eq(t.other.v[PIDIO_WRITE_BYTES], 50 + 150 + 100);
  ck_assert_uint_eq(t.slot[0]->processes, 1);
  ck_assert_uint_eq(t.other_processes, 2);
  round_of(&m, &t, g, io, 4);
  ck_assert_uint_eq(g[2]->series.v[PIDIO_WRITE_BYTES], 150);
  ck_assert_uint_eq(g[3]->series.v[PIDIO_WRITE_BYTES], 100);
  ck_assert_uint_eq(t.other.v[PIDIO_WRITE_BYTES], 300 + 50);
  model_free(&m);
  pidio_groups_free(&t);
}
END_TEST

/* A newcomer that out-does every slot holder gets a slot at once, from the
 * least active holder; a slot held less than a window is not taken. */
START_TEST(test_newcomer) {
  enum { W = 4 };
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(3, W);
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {0};
  pidio_groups_entry_t *g[7] = {join(&t, "a"), join(&t, "b"), join(&t, "c")};
  uint64_t io[7] = {100, 200, 300, 0, 0, 0, 0};
  for (int r = 0; r < 20; r++)
    round_of(&m, &t, g, io, 7);
  ck_assert_uint_eq(t.nslot, 3);

  g[3] = join(&t, "d");
  io[3] = 1000;
  round_of(&m, &t, g, io, 7);
  ck_assert_ptr_eq(slot_of(&t, "d"), g[3]);
  ck_assert_ptr_null(slot_of(&t, "a")); /* the least active gave it up */
  ck_assert_uint_eq(t.gained, 1);
  ck_assert_uint_eq(t.lost, 1);

  /* e beats everyone: b (held long, least active) gives way, not d. */
  g[4] = join(&t, "e");
  io[4] = 5000;
  round_of(&m, &t, g, io, 7);
  ck_assert_uint_eq(g[3]->series.v[PIDIO_WRITE_BYTES], 500);
  ck_assert_ptr_nonnull(slot_of(&t, "e"));
  ck_assert_ptr_nonnull(slot_of(&t, "d"));
  ck_assert_ptr_null(slot_of(&t, "b"));
  /* f too: only c is left to take from. */
  g[5] = join(&t, "f");
  io[5] = 10000;
  round_of(&m, &t, g, io, 7);
  ck_assert_ptr_nonnull(slot_of(&t, "f"));
  ck_assert_ptr_null(slot_of(&t, "c"));
  /* g beats d, but every slot is younger than a window: it waits. */
  g[6] = join(&t, "g");
  io[6] = 20000;
  round_of(&m, &t, g, io, 7);
  ck_assert_ptr_null(slot_of(&t, "g"));
  int waited = 1;
  while (slot_of(&t, "g") == NULL) {
    round_of(&m, &t, g, io, 7);
    waited++;
    ck_assert_int_le(waited, W);
  }
  /* d, the least active, gave way once its slot was a window old. */
  ck_assert_ptr_null(slot_of(&t, "d"));
  ck_assert_uint_eq(t.nslot, 3);
  model_free(&m);
  pidio_groups_free(&t);
}
END_TEST

/* The case: all slots held by long-lived groups, a newcomer that
 * hammers has a slot within two intervals, whatever its first interval. */
START_TEST(test_newcomer_within_two) {
  for (unsigned w = 1; w <= 6; w++)
    for (uint64_t first = 0; first <= 5000; first += 2500) {
      pidio_groups_t t;
      pidio_groups_conf_t c = conf_of(4, w);
      ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
      model_t m = {0};
      pidio_groups_entry_t *g[5] = {join(&t, "a"), join(&t, "b"),
                                    join(&t, "c"), join(&t, "d")};
      uint64_t io[5] = {400, 300, 200, 100, 0};
      for (int r = 0; r < 3 * (int)w + 2; r++)
        round_of(&m, &t, g, io, 5);
      g[4] = join(&t, "new");
      io[4] = first; /* born late in the interval: little I/O yet */
      round_of(&m, &t, g, io, 5);
      io[4] = 1000000;
      if (slot_of(&t, "new") == NULL)
        round_of(&m, &t, g, io, 5);
      ck_assert_msg(slot_of(&t, "new") != NULL, "window %u: no slot", w);
      ck_assert_ptr_null(slot_of(&t, "d"));
      model_free(&m);
      pidio_groups_free(&t);
    }
}
END_TEST

/* Two groups near a tie, taking turns at being ahead: the slot changes
 * hands at most once per window. */
START_TEST(test_no_flap) {
  enum { W = 5, ROUNDS = 200 };
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(1, W);
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {0};
  pidio_groups_entry_t *g[2] = {join(&t, "x"), join(&t, "y")};
  unsigned changes = 0;
  for (int r = 0; r < ROUNDS; r++) {
    uint64_t io[2] = {r % 2 ? 1001 : 999, r % 2 ? 999 : 1001};
    if ((r / 7) % 2)
      io[0] += 5; /* and now and then one is a little ahead */
    round_of(&m, &t, g, io, 2);
    changes += t.lost;
  }
  ck_assert_uint_le(changes, ROUNDS / W + 1);
  model_free(&m);
  pidio_groups_free(&t);
}
END_TEST

/* A slot holder whose processes are gone keeps its slot while its I/O is
 * in the window, then gives it up; it is kept dormant, and when it comes
 * back its series go on from where they stopped. */
START_TEST(test_gone_and_back) {
  enum { W = 3 };
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(2, W);
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {0};
  pidio_groups_entry_t *g[1] = {join(&t, "cron")};
  uint64_t io[1] = {700};
  for (int r = 0; r < 4; r++)
    round_of(&m, &t, g, io, 1);
  ck_assert_ptr_eq(slot_of(&t, "cron"), g[0]);
  uint64_t last = g[0]->series.v[PIDIO_WRITE_BYTES];
  ck_assert_uint_eq(last, 3 * 350);

  pidio_groups_leave(&t, g[0]);
  pidio_groups_entry_t *none[1] = {NULL};
  /* Still in the window: the slot stays, the series flat. */
  for (int r = 0; r < W - 1; r++) {
    round_of(&m, &t, none, io, 1);
    ck_assert_ptr_nonnull(slot_of(&t, "cron"));
  }
  round_of(&m, &t, none, io, 1);
  ck_assert_uint_eq(t.nslot, 0);
  ck_assert_uint_eq(t.n, 1);
  ck_assert_uint_eq(t.ndormant, 1);
  ck_assert(t.e[0]->dormant);
  ck_assert_ptr_null(t.e[0]->ring);
  for (int r = 0; r < 50; r++)
    round_of(&m, &t, none, io, 1);

  g[0] = join(&t, "cron");
  ck_assert_uint_eq(t.ndormant, 0);
  ck_assert_uint_eq(g[0]->series.v[PIDIO_WRITE_BYTES], last);
  round_of(&m, &t, g, io, 1); /* slot again, the series where it was */
  ck_assert_ptr_eq(slot_of(&t, "cron"), g[0]);
  ck_assert_uint_eq(g[0]->series.v[PIDIO_WRITE_BYTES], last);
  round_of(&m, &t, g, io, 1);
  ck_assert_uint_eq(g[0]->series.v[PIDIO_WRITE_BYTES], last + 350);
  ck_assert_uint_eq(m.resumed, 1);

  /* A group that never had a slot leaves nothing behind. */
  pidio_groups_entry_t *q = join(&t, "quiet");
  round_of(&m, &t, g, io, 1);
  ck_assert_uint_eq(t.n, 2);
  pidio_groups_leave(&t, q);
  for (int r = 0; r < W; r++)
    round_of(&m, &t, g, io, 1);
  ck_assert_uint_eq(t.n, 1);
  model_free(&m);
  pidio_groups_free(&t);
}
END_TEST

/* At most max_dormant dormant groups; the oldest go first, and one of
 * those that comes back starts from 0 (a counter reset, not a spike). */
START_TEST(test_dormant_bound) {
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(1, 1);
  c.max_dormant = 2;
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {.resets_allowed = true};
  const char *keys[4] = {"k1", "k2", "k3", "k4"};
  for (int i = 0; i < 4; i++) {
    pidio_groups_entry_t *g[1] = {join(&t, keys[i])};
    uint64_t io[1] = {100};
    round_of(&m, &t, g, io, 1); /* slot */
    round_of(&m, &t, g, io, 1); /* series 50 */
    ck_assert_ptr_eq(slot_of(&t, keys[i]), g[0]);
    pidio_groups_leave(&t, g[0]);
    pidio_groups_entry_t *none[1] = {NULL};
    round_of(&m, &t, none, io, 1); /* quiet: dormant */
    ck_assert_uint_le(t.ndormant, 2);
  }
  ck_assert_uint_eq(t.n, 2);
  ck_assert_str_eq(t.e[0]->name, "k3");
  ck_assert_str_eq(t.e[1]->name, "k4");
  pidio_groups_entry_t *g = join(&t, "k1");
  ck_assert_uint_eq(g->series.v[PIDIO_WRITE_BYTES], 0);
  g = join(&t, "k4");
  ck_assert_uint_eq(g->series.v[PIDIO_WRITE_BYTES], 50);
  model_free(&m);
  pidio_groups_free(&t);
}
END_TEST

START_TEST(test_rank_field) {
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(1, 2);
  c.rank = PIDIO_SYSCW;
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {0};
  pidio_groups_entry_t *bulk = join(&t, "bulk"), *chatty = join(&t, "chatty");
  pidio_io_t a = io_bytes(0, 1 << 20), b = io_bytes(0, 10);
  a.v[PIDIO_SYSCW] = 1;
  b.v[PIDIO_SYSCW] = 1000;
  model_feed(&m, &t, bulk, &a);
  model_feed(&m, &t, chatty, &b);
  model_settle(&m, &t);
  ck_assert_ptr_eq(slot_of(&t, "chatty"), chatty);
  ck_assert_ptr_null(slot_of(&t, "bulk"));
  pidio_groups_free(&t);
  model_free(&m);

  /* bytes: read_bytes + write_bytes, and nothing else. */
  c.rank = PIDIO_RANK_BYTES;
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m2 = {0};
  pidio_groups_entry_t *rd = join(&t, "reader"), *pipe = join(&t, "pipe");
  pidio_io_t r = {{0}}, p = {{0}};
  r.v[PIDIO_READ_BYTES] = 600;
  r.v[PIDIO_WRITE_BYTES] = 600;
  p.v[PIDIO_RCHAR] = p.v[PIDIO_WCHAR] = 1 << 30;
  p.v[PIDIO_WRITE_BYTES] = 1000;
  model_feed(&m2, &t, rd, &r);
  model_feed(&m2, &t, pipe, &p);
  model_settle(&m2, &t);
  ck_assert_ptr_eq(slot_of(&t, "reader"), rd);
  /* Saturating, never wrapping. */
  pidio_io_t huge = {{0}};
  huge.v[PIDIO_READ_BYTES] = UINT64_MAX - 5;
  huge.v[PIDIO_WRITE_BYTES] = 10;
  pidio_groups_entry_t *h = join(&t, "huge");
  pidio_groups_add(&t, h, &huge);
  ck_assert_int_eq(pidio_groups_settle(&t, 100.0), 0);
  ck_assert_uint_eq(h->score, UINT64_MAX);
  pidio_groups_free(&t);
  model_free(&m2);
}
END_TEST

START_TEST(test_unknown_and_direct) {
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(3, 2);
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {0};
  pidio_groups_entry_t *u = join(&t, NULL);
  ck_assert_str_eq(u->name, "unknown");
  pidio_groups_entry_t *o = join(&t, "other");
  ck_assert_str_eq(o->name, "%6Fther");
  pidio_io_t inc = io_bytes(10, 20);
  for (int r = 0; r < 3; r++) {
    model_feed(&m, &t, u, &inc);
    model_feed(&m, &t, o, &inc);
    model_feed(&m, &t, NULL, &inc); /* a member without a group */
    model_count(&m, &t, NULL, true);
    model_count(&m, &t, u, true);
    model_settle(&m, &t);
  }
  ck_assert_ptr_eq(slot_of(&t, "unknown"), u);
  ck_assert_uint_eq(u->unreadable, 1);
  ck_assert_uint_eq(t.other_unreadable, 1);
  ck_assert_uint_eq(t.other_processes, 1);
  ck_assert_uint_eq(t.other.v[PIDIO_WRITE_BYTES], 20 * 3 + 20 * 2);
  model_free(&m);
  pidio_groups_free(&t);
}
END_TEST

typedef struct cut {
  char name[PIDIO_GROUP_NAME_MIN + 1];
  unsigned i;
} cut_t;

static int cut_cmp(const void *a, const void *b) {
  return strcmp(((const cut_t *)a)->name, ((const cut_t *)b)->name);
}

/* Cut names that meet through their hash are told apart by the table. */
START_TEST(test_names_unique) {
  /* Find two keys whose cut names collide (a birthday search over the
   * 32-bit hash), then put both in one table. */
  enum { N = 200000 };
  cut_t *v = malloc(N * sizeof(*v));
  ck_assert_ptr_nonnull(v);
  char key[64];
  for (unsigned i = 0; i < N; i++) {
    snprintf(key, sizeof(key), "a-rather-long-group-key-%u", i);
    pidio_group_name(key, strlen(key), 0, PIDIO_GROUP_NAME_MIN, v[i].name);
    v[i].i = i;
  }
  qsort(v, N, sizeof(*v), cut_cmp);
  unsigned a = N, b = N;
  for (unsigned i = 1; i < N && a == N; i++)
    if (strcmp(v[i - 1].name, v[i].name) == 0) {
      a = v[i - 1].i;
      b = v[i].i;
    }
  free(v);
  ck_assert_msg(a != N, "no two cut names met: search wider");

  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(2, 2);
  c.name_max = PIDIO_GROUP_NAME_MIN;
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  char ka[64], kb[64];
  snprintf(ka, sizeof(ka), "a-rather-long-group-key-%u", a);
  snprintf(kb, sizeof(kb), "a-rather-long-group-key-%u", b);
  pidio_groups_entry_t *ga = join(&t, ka), *gb = join(&t, kb);
  ck_assert_ptr_ne(ga, gb);
  ck_assert_str_ne(ga->name, gb->name);
  ck_assert_uint_le(strlen(gb->name), PIDIO_GROUP_NAME_MIN);
  /* Joining again finds the same group by its key. */
  ck_assert_ptr_eq(join(&t, kb), gb);
  ck_assert_uint_eq(gb->refs, 2);
  pidio_groups_free(&t);
}
END_TEST

START_TEST(test_rates) {
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(2, 2);
  c.rate_window = 3;
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  pidio_groups_entry_t *g = join(&t, "w");
  double rate[PIDIO_NFIELDS];
  pidio_io_t inc = io_bytes(0, 1000);
  for (int r = 1; r <= 5; r++) {
    pidio_groups_add(&t, g, &inc);
    ck_assert_int_eq(pidio_groups_settle(&t, 2.0 * r), 0);
  }
  /* Slot from interval 1 (series 0), then 1000 a step of 2 s. */
  ck_assert_int_eq(pidio_window_rates(&g->win, rate), 0);
  ck_assert(rate[PIDIO_WRITE_BYTES] == 500.0);
  ck_assert_int_eq(pidio_window_rates(&t.other_win, rate), 0);
  ck_assert(rate[PIDIO_WRITE_BYTES] == 0.0);
  pidio_groups_free(&t);
}
END_TEST

/* idle_slots: free slots go to groups with members and no I/O as well,
 * after the busy ones, and never push a busy one out. */
START_TEST(test_idle_slots) {
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(3, 2);
  c.idle_slots = true;
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {0};
  pidio_groups_entry_t *g[4] = {join(&t, "idle1"), join(&t, "idle2"),
                                join(&t, "idle3"), join(&t, "busy")};
  uint64_t io[4] = {0, 0, 0, 500};
  round_of(&m, &t, g, io, 4);
  ck_assert_uint_eq(t.nslot, 3);
  ck_assert_ptr_nonnull(slot_of(&t, "busy"));
  ck_assert_ptr_nonnull(slot_of(&t, "idle1"));
  ck_assert_ptr_nonnull(slot_of(&t, "idle2"));
  ck_assert_ptr_null(slot_of(&t, "idle3"));
  for (int r = 0; r < 5; r++)
    round_of(&m, &t, g, io, 4);
  ck_assert_ptr_null(slot_of(&t, "idle3")); /* score 0 takes no slot */
  /* An idle group gone: its slot is freed, the waiting one takes it. */
  pidio_groups_leave(&t, g[0]);
  g[0] = NULL;
  round_of(&m, &t, g, io, 4);
  round_of(&m, &t, g, io, 4);
  round_of(&m, &t, g, io, 4);
  ck_assert_ptr_nonnull(slot_of(&t, "idle3"));
  model_free(&m);
  pidio_groups_free(&t);
}
END_TEST

/* ---- the randomized property test ---------------------------------------- */

typedef struct proc {
  pidio_groups_entry_t *g;
  int key;
} proc_t;

static void run_random(uint64_t seed, unsigned max_groups, unsigned window,
                       int rank, unsigned rate_window, int rounds,
                       int nkeys) {
  unit_srand(seed);
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(max_groups, window);
  c.rank = rank;
  c.rate_window = rate_window;
  c.max_dormant = 1000000; /* no group forgotten for good: no reset */
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {0};
  enum { MAXP = 300 };
  proc_t p[MAXP];
  size_t np = 0;
  uint64_t *level = calloc((size_t)nkeys, sizeof(*level));
  ck_assert_ptr_nonnull(level);
  size_t peak = 0;
  for (int r = 0; r < rounds; r++) {
    /* Groups change pace now and then: some idle, some bursting. */
    for (int k = 0; k < nkeys; k++)
      if (unit_rand() % 16 == 0)
        level[k] = unit_rand() % 4 == 0 ? 0 : (uint64_t)(unit_rand() % 100000) << (unit_rand() % 20);
    /* Births and deaths. */
    int births = (int)(unit_rand() % 6), deaths = (int)(unit_rand() % 6);
    for (int i = 0; i < births && np < MAXP; i++) {
      int k = (int)(unit_rand() % (unsigned)(nkeys + 1)) - 1; /* -1: unknown */
      char key[32];
      snprintf(key, sizeof(key), k % 7 == 3 ? "grp.%d/x" : "grp-%d", k);
      p[np].key = k;
      p[np].g = pidio_groups_join(&t, k < 0 ? NULL : key,
                                  k < 0 ? 0 : strlen(key));
      ck_assert_ptr_nonnull(p[np].g);
      np++;
    }
    for (int i = 0; i < deaths && np > 0; i++) {
      size_t j = unit_rand() % np;
      /* Its last increments, then it leaves. */
      pidio_io_t inc = {{0}};
      for (int f = 0; f < PIDIO_NFIELDS; f++)
        inc.v[f] = unit_rand() % 1000;
      model_feed(&m, &t, p[j].g, &inc);
      pidio_groups_leave(&t, p[j].g);
      p[j] = p[--np];
    }
    for (size_t i = 0; i < np; i++) {
      uint64_t lv = p[i].key < 0 ? 100 : level[p[i].key];
      pidio_io_t inc = {{0}};
      for (int f = 0; f < PIDIO_NFIELDS; f++)
        inc.v[f] = lv == 0 ? 0 : unit_rand() % (lv + 1);
      model_feed(&m, &t, p[i].g, &inc);
      model_count(&m, &t, p[i].g, unit_rand() % 50 == 0);
    }
    if (unit_rand() % 10 == 0) { /* a member that has no group */
      pidio_io_t inc = {{0}};
      inc.v[unit_rand() % PIDIO_NFIELDS] = unit_rand();
      model_feed(&m, &t, NULL, &inc);
      model_count(&m, &t, NULL, false);
    }
    model_settle(&m, &t);
    /* Every group has its own id, and byid names it. */
    for (size_t i = 0; i < t.n; i++) {
      ck_assert_uint_ge(t.e[i]->id, 1);
      ck_assert_uint_lt(t.e[i]->id, t.nids);
      ck_assert_ptr_eq(t.byid[t.e[i]->id], t.e[i]);
    }
    size_t used = 0;
    for (size_t id = 0; id < t.nids; id++)
      used += t.byid[id] != NULL;
    ck_assert_uint_eq(used, t.n);
    if (t.n > peak)
      peak = t.n;
    /* Live groups: those with members, and those still in a window. */
    ck_assert_uint_le(t.n - t.ndormant, np + 1 + (size_t)nkeys);
  }
  ck_assert_uint_gt(m.appeared, 0);
  ck_assert_uint_le(peak, (size_t)nkeys + 1);
  for (size_t i = 0; i < np; i++)
    pidio_groups_leave(&t, p[i].g);
  free(level);
  model_free(&m);
  pidio_groups_free(&t);
}

START_TEST(test_random_properties) {
  uint64_t seed = 0x5eed0000ULL + (uint64_t)_i;
  unit_srand(seed * 2654435761ULL + 1);
  unsigned max_groups = 1 + unit_rand() % 6;
  unsigned window = 1 + unit_rand() % 6;
  int rank = (int)(unit_rand() % (PIDIO_RANK_BYTES + 1));
  unsigned rate_window = unit_rand() % 2 ? 0 : 2 + unit_rand() % 4;
  run_random(seed, max_groups, window, rank, rate_window,
             unit_under_valgrind() ? 300 : 1500,
             3 + (int)(unit_rand() % 40));
}
END_TEST

/* Churn with random names for many intervals: memory stays bounded by the
 * groups alive plus max_dormant, and the slots by max_groups. */
START_TEST(test_churn_bounded) {
  unit_srand(0xc0ffeeULL);
  pidio_groups_t t;
  pidio_groups_conf_t c = conf_of(5, 3);
  ck_assert_int_eq(pidio_groups_init(&t, &c), 0);
  model_t m = {.resets_allowed = true};
  int rounds = unit_under_valgrind() ? 600 : 3000;
  for (int r = 0; r < rounds; r++) {
    /* 20 short-lived processes, each with a fresh random name. */
    pidio_groups_entry_t *g[20];
    for (int i = 0; i < 20; i++) {
      char key[32];
      snprintf(key, sizeof(key), "p%08x", unit_rand());
      g[i] = join(&t, key);
      pidio_io_t inc = io_bytes(unit_rand() % 5000, unit_rand() % 5000);
      model_feed(&m, &t, g[i], &inc);
      model_count(&m, &t, g[i], false);
    }
    for (int i = 0; i < 20; i++)
      pidio_groups_leave(&t, g[i]);
    model_settle(&m, &t);
    ck_assert_uint_le(t.nslot, 5);
    ck_assert_uint_le(t.ndormant, t.conf.max_dormant);
    /* this interval's 20, those of the window, the dormant */
    ck_assert_uint_le(t.n, 20 * 3 + t.conf.max_dormant);
  }
  model_free(&m);
  pidio_groups_free(&t);
}
END_TEST

Suite *make_groups_suite(void) {
  Suite *s = suite_create("groups");
  TCase *tc = tcase_create("slots");
  tcase_add_test(tc, test_conf);
  tcase_add_test(tc, test_rank_parse);
  tcase_add_test(tc, test_options);
  tcase_add_test(tc, test_first_slots);
  tcase_add_test(tc, test_newcomer);
  tcase_add_test(tc, test_newcomer_within_two);
  tcase_add_test(tc, test_no_flap);
  tcase_add_test(tc, test_gone_and_back);
  tcase_add_test(tc, test_dormant_bound);
  tcase_add_test(tc, test_rank_field);
  tcase_add_test(tc, test_unknown_and_direct);
  tcase_add_test(tc, test_rates);
  tcase_add_test(tc, test_idle_slots);
  suite_add_tcase(s, tc);

  tc = tcase_create("properties");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_names_unique);
  tcase_add_loop_test(tc, test_random_properties, 0, 24);
  tcase_add_test(tc, test_churn_bounded);
  suite_add_tcase(s, tc);
  return s;
}
