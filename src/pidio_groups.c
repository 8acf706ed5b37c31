/*
 * pidio_groups: a block's groups and their slots. See pidio_groups.h.
 */
#include "pidio_build.h"

#include "pidio_groups.h"

#include "pidio_group.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pidio_groups_rank_parse(const char *s, int *rank) {
  if (strcmp(s, "bytes") == 0) {
    *rank = PIDIO_RANK_BYTES;
    return 0;
  }
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    if (strcmp(s, pidio_field_names[f]) == 0) {
      *rank = f;
      return 0;
    }
  return -EINVAL;
}

const char *pidio_groups_rank_name(int rank) {
  if (rank >= 0 && rank < PIDIO_NFIELDS)
    return pidio_field_names[rank];
  return "bytes";
}

/* --- options -------------------------------------------------------------- */

void pidio_groups_opts_init(pidio_groups_opts_t *o) {
  *o = (pidio_groups_opts_t){.rank = -1};
}

static int given_twice(char *err, size_t errsz) {
  snprintf(err, errsz, "given twice; a block takes it once");
  return -EINVAL;
}

int pidio_groups_set_by(pidio_groups_opts_t *o, const char *key, char *err,
                        size_t errsz) {
  if (o->by)
    return given_twice(err, errsz);
  if (pidio_group_key_parse(key, &o->key) != 0) {
    snprintf(err, errsz,
             "unknown key \"%s\": use comm, exe, user, cgroup or unit", key);
    return -EINVAL;
  }
  o->by = true;
  return 0;
}

int pidio_groups_set_max(pidio_groups_opts_t *o, double n, char *err,
                         size_t errsz) {
  if (o->max_groups != 0)
    return given_twice(err, errsz);
  /* The range first: a cast of a value out of range is undefined. */
  if (!(n >= 1 && n <= PIDIO_GROUPS_MAX) || n != (double)(unsigned)n) {
    snprintf(err, errsz, "needs a whole number of groups from 1 to %d",
             PIDIO_GROUPS_MAX);
    return -EINVAL;
  }
  o->max_groups = (unsigned)n;
  return 0;
}

int pidio_groups_set_rank(pidio_groups_opts_t *o, const char *field,
                          char *err, size_t errsz) {
  if (o->rank >= 0)
    return given_twice(err, errsz);
  if (pidio_groups_rank_parse(field, &o->rank) != 0) {
    o->rank = -1;
    snprintf(err, errsz,
             "unknown field \"%s\": use bytes (read_bytes + write_bytes), "
             "rchar, wchar, syscr, syscw, read_bytes, write_bytes or "
             "cancelled_write_bytes",
             field);
    return -EINVAL;
  }
  return 0;
}

void pidio_groups_conf_of(const pidio_groups_opts_t *o, const char *block,
                          unsigned window, pidio_groups_conf_t *conf) {
  *conf = (pidio_groups_conf_t){
      .max_groups = o->max_groups != 0 ? o->max_groups : PIDIO_GROUPS_DEFAULT,
      .rank = o->rank >= 0 ? o->rank : PIDIO_RANK_BYTES,
      .rank_window = window >= 2 ? window : PIDIO_GROUPS_RANK_WINDOW,
      .rate_window = window >= 2 ? window : 0,
      .name_max = pidio_group_name_room(block),
  };
}

/* --- the table, by key --------------------------------------------------- */

/* The unknown group (no key) first, then keys as byte strings. */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  if (a == NULL || b == NULL)
    return (a != NULL) - (b != NULL);
  int c = memcmp(a, b, alen < blen ? alen : blen);
  if (c != 0)
    return c;
  return (alen > blen) - (alen < blen);
}

/* The index of key, or where it would go (*found false). */
static size_t locate(const pidio_groups_t *t, const char *key, size_t len,
                     bool *found) {
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = key_cmp(t->e[mid]->key, t->e[mid]->keylen, key, len);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

/* A free id for a new group: the lowest, so that byid stays short. */
static int take_id(pidio_groups_t *t, pidio_groups_entry_t *g) {
  size_t id = 1;
  while (id < t->nids && t->byid[id] != NULL)
    id++;
  if (id >= t->nids) {
    size_t n = t->nids ? 2 * t->nids : 16;
    pidio_groups_entry_t **p = realloc(t->byid, n * sizeof(*p));
    if (p == NULL)
      return -ENOMEM;
    memset(p + t->nids, 0, (n - t->nids) * sizeof(*p));
    t->byid = p;
    t->nids = n;
  }
  t->byid[id] = g;
  g->id = (unsigned)id;
  return 0;
}

static void entry_free(pidio_groups_entry_t *g) {
  free(g->key);
  free(g->name);
  free(g->ring);
  pidio_window_free(&g->win);
  free(g);
}

/* Free a group of the table: its id is free again. */
static void drop(pidio_groups_t *t, pidio_groups_entry_t *g) {
  if (g->id != 0 && g->id < t->nids)
    t->byid[g->id] = NULL;
  entry_free(g);
}

static bool name_taken(const pidio_groups_t *t, const char *name) {
  if (strcmp(name, PIDIO_GROUP_OTHER) == 0)
    return true;
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->e[i]->name, name) == 0)
      return true;
  return false;
}

/* A unique name: only a cut name (with "%%" and a hash) can meet another
 * group's, through the hash; then the hash is salted until it does not. */
static char *unique_name(const pidio_groups_t *t, const char *key,
                         size_t len) {
  char buf[PIDIO_GROUP_INSTANCE_MAX + 1];
  size_t max = t->conf.name_max;
  if (max > PIDIO_GROUP_INSTANCE_MAX)
    max = PIDIO_GROUP_INSTANCE_MAX;
  unsigned salt = 0;
  pidio_group_name(key, len, salt, max, buf);
  while (strstr(buf, "%%") != NULL && name_taken(t, buf))
    pidio_group_name(key, len, ++salt, max, buf);
  return strdup(buf);
}

static pidio_groups_entry_t *entry_new(pidio_groups_t *t, const char *key,
                                       size_t len) {
  pidio_groups_entry_t *g = calloc(1, sizeof(*g));
  if (g == NULL)
    return NULL;
  g->keylen = len;
  if (key != NULL && (g->key = malloc(len > 0 ? len : 1)) == NULL)
    goto fail;
  if (key != NULL)
    memcpy(g->key, key, len);
  if ((g->name = unique_name(t, key, len)) == NULL || take_id(t, g) != 0)
    goto fail;
  return g;
fail:
  entry_free(g);
  return NULL;
}

int pidio_groups_init(pidio_groups_t *t, const pidio_groups_conf_t *conf) {
  *t = (pidio_groups_t){0};
  if (conf->max_groups < 1 || conf->max_groups > PIDIO_GROUPS_MAX ||
      conf->rank < 0 || conf->rank > PIDIO_RANK_BYTES ||
      conf->rank_window < 1 || conf->rank_window > PIDIO_WINDOW_MAX ||
      conf->rate_window == 1 || conf->rate_window > PIDIO_WINDOW_MAX ||
      conf->name_max < PIDIO_GROUP_NAME_MIN)
    return -EINVAL;
  t->conf = *conf;
  if (t->conf.max_dormant == 0)
    t->conf.max_dormant =
        (size_t)PIDIO_GROUPS_DORMANT_PER_SLOT * conf->max_groups;
  t->slot = calloc(conf->max_groups, sizeof(*t->slot));
  if (t->slot == NULL)
    return -ENOMEM;
  if (conf->rate_window >= 2 &&
      pidio_window_init(&t->other_win, conf->rate_window) != 0) {
    pidio_groups_free(t);
    return -ENOMEM;
  }
  return 0;
}

void pidio_groups_free(pidio_groups_t *t) {
  for (size_t i = 0; i < t->n; i++)
    entry_free(t->e[i]);
  free(t->e);
  free(t->byid);
  free(t->slot);
  free(t->scratch);
  pidio_window_free(&t->other_win);
  *t = (pidio_groups_t){0};
}

pidio_groups_entry_t *pidio_groups_join(pidio_groups_t *t, const char *key,
                                        size_t len) {
  bool found;
  size_t at = locate(t, key, len, &found);
  pidio_groups_entry_t *g = found ? t->e[at] : NULL;
  if (g == NULL) {
    if (t->n == t->cap) {
      size_t cap = t->cap ? 2 * t->cap : 16;
      pidio_groups_entry_t **e = realloc(t->e, cap * sizeof(*e));
      pidio_groups_entry_t **s = realloc(t->scratch, cap * sizeof(*s));
      if (e != NULL)
        t->e = e;
      if (s != NULL)
        t->scratch = s;
      if (e == NULL || s == NULL)
        return NULL;
      t->cap = cap;
    }
    if ((g = entry_new(t, key, len)) == NULL)
      return NULL;
    memmove(t->e + at + 1, t->e + at, (t->n - at) * sizeof(*t->e));
    t->e[at] = g;
    t->n++;
  }
  if (g->ring == NULL) {
    /* New, or back from dormancy: its series go on from g->series. */
    g->ring = calloc(t->conf.rank_window, sizeof(*g->ring));
    if (g->ring == NULL) {
      if (!g->dormant && g->refs == 0 && !found) {
        t->n--;
        memmove(t->e + at, t->e + at + 1, (t->n - at) * sizeof(*t->e));
        drop(t, g);
      }
      return NULL;
    }
    g->score = 0;
    if (g->dormant)
      t->ndormant--;
    g->dormant = false;
  }
  g->refs++;
  return g;
}

void pidio_groups_leave(pidio_groups_t *t, pidio_groups_entry_t *g) {
  (void)t;
  if (g != NULL && g->refs > 0)
    g->refs--;
}

void pidio_groups_add(pidio_groups_t *t, pidio_groups_entry_t *g,
                      const pidio_io_t *inc) {
  pidio_io_t *to = g != NULL ? &g->inc : &t->other_inc;
  pidio_io_t *all = g != NULL ? &g->total : &t->other_total;
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    to->v[f] += inc->v[f];
    all->v[f] += inc->v[f];
  }
}

void pidio_groups_count(pidio_groups_t *t, pidio_groups_entry_t *g,
                        unsigned processes, unsigned unreadable) {
  if (g != NULL) {
    g->counting += processes;
    g->counting_unreadable += unreadable;
  } else {
    t->other_counting += processes;
    t->other_counting_unreadable += unreadable;
  }
}

/* --- settling an interval ------------------------------------------------ */

static uint64_t rank_value(const pidio_groups_t *t, const pidio_io_t *c) {
  if (t->conf.rank < PIDIO_NFIELDS)
    return c->v[t->conf.rank];
  uint64_t r = c->v[PIDIO_READ_BYTES], w = c->v[PIDIO_WRITE_BYTES];
  return r + w >= r ? r + w : UINT64_MAX; /* saturate, never wrap */
}

/* Higher score first; among equals the name decides, so the outcome does
 * not depend on the order groups were made in. */
static int by_rank(const void *x, const void *y) {
  const pidio_groups_entry_t *a = *(pidio_groups_entry_t *const *)x;
  const pidio_groups_entry_t *b = *(pidio_groups_entry_t *const *)y;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return strcmp(a->name, b->name);
}

static int by_name(const void *x, const void *y) {
  const pidio_groups_entry_t *a = *(pidio_groups_entry_t *const *)x;
  const pidio_groups_entry_t *b = *(pidio_groups_entry_t *const *)y;
  return strcmp(a->name, b->name);
}

static int give_slot(pidio_groups_t *t, pidio_groups_entry_t *g) {
  g->slotted = true;
  g->slot_since = t->round;
  t->gained++;
  /* A fresh rate window: rates from the second interval with the slot. */
  if (t->conf.rate_window >= 2)
    return pidio_window_init(&g->win, t->conf.rate_window);
  return 0;
}

static void take_slot(pidio_groups_t *t, pidio_groups_entry_t *g) {
  g->slotted = false;
  t->lost++;
  pidio_window_free(&g->win);
}

/* The slot holder that gives its slot up to a better newcomer: the least
 * active of those that held theirs for a whole window (older slots first
 * among equals), or NULL. */
static pidio_groups_entry_t *victim(const pidio_groups_t *t) {
  pidio_groups_entry_t *v = NULL;
  for (size_t i = 0; i < t->n; i++) {
    pidio_groups_entry_t *g = t->e[i];
    if (!g->slotted || t->round - g->slot_since < t->conf.rank_window)
      continue;
    if (v == NULL || g->score < v->score ||
        (g->score == v->score && g->slot_since < v->slot_since) ||
        (g->score == v->score && g->slot_since == v->slot_since &&
         strcmp(g->name, v->name) < 0))
      v = g;
  }
  return v;
}

static void hand_out_slots(pidio_groups_t *t, int *rc) {
  size_t held = 0, ncand = 0;
  for (size_t i = 0; i < t->n; i++) {
    pidio_groups_entry_t *g = t->e[i];
    if (g->dormant)
      continue;
    if (g->slotted && g->refs == 0 && g->processes == 0 && g->score == 0)
      take_slot(t, g); /* gone, and quiet for a whole window */
    if (g->slotted)
      held++;
    else if (g->score > 0 || (t->conf.idle_slots && g->processes > 0))
      t->scratch[ncand++] = g;
  }
  if (ncand > 1) /* scratch is NULL while the table has never held a group */
    qsort(t->scratch, ncand, sizeof(*t->scratch), by_rank);
  size_t i = 0;
  for (; i < ncand && held < t->conf.max_groups; i++, held++)
    if (give_slot(t, t->scratch[i]) != 0)
      *rc = -ENOMEM;
  /* Idle candidates never take a slot from a holder (score 0 beats
   * nothing): the loop below ends at the first of them. */
  for (; i < ncand; i++) {
    pidio_groups_entry_t *v = victim(t);
    /* Candidates come best first and each swap leaves a less active
     * holder only behind: the first that does not beat the least active
     * holder ends it. */
    if (v == NULL || !(t->scratch[i]->score > v->score))
      break;
    take_slot(t, v);
    if (give_slot(t, t->scratch[i]) != 0)
      *rc = -ENOMEM;
  }
}

static bool all_zero(const pidio_io_t *c) {
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    if (c->v[f] != 0)
      return false;
  return true;
}

/* Forget a group nobody needs: gone, no slot, quiet for a whole window.
 * Returns true when g was freed. */
static bool forget(pidio_groups_t *t, pidio_groups_entry_t *g) {
  if (g->dormant || g->refs > 0 || g->slotted || g->score > 0 ||
      g->processes > 0)
    return false;
  if (all_zero(&g->series)) {
    drop(t, g); /* it would start from 0 anyway */
    return true;
  }
  free(g->ring);
  g->ring = NULL;
  g->dormant = true;
  g->idle_since = t->round;
  t->ndormant++;
  return false;
}

/* Over max_dormant: drop the group dormant longest. Its series, should it
 * come back, starts again from 0 (see pidio_groups.h). */
static void evict_dormant(pidio_groups_t *t) {
  while (t->ndormant > t->conf.max_dormant) {
    size_t oldest = t->n;
    for (size_t i = 0; i < t->n; i++)
      if (t->e[i]->dormant &&
          (oldest == t->n || t->e[i]->idle_since < t->e[oldest]->idle_since))
        oldest = i;
    drop(t, t->e[oldest]);
    t->n--;
    memmove(t->e + oldest, t->e + oldest + 1, (t->n - oldest) * sizeof(*t->e));
    t->ndormant--;
  }
}

int pidio_groups_settle(pidio_groups_t *t, double now) {
  int rc = 0;
  t->round++;
  t->gained = t->lost = 0;
  size_t at = t->round % t->conf.rank_window;
  for (size_t i = 0; i < t->n; i++) {
    pidio_groups_entry_t *g = t->e[i];
    g->processes = g->counting;
    g->unreadable = g->counting_unreadable;
    g->counting = g->counting_unreadable = 0;
    if (g->dormant)
      continue;
    g->score -= g->ring[at];
    g->ring[at] = rank_value(t, &g->inc);
    g->score += g->ring[at];
    if (g->score < g->ring[at])
      g->score = UINT64_MAX; /* saturated: a window of 2^64 bytes */
  }

  hand_out_slots(t, &rc);

  /* What was fed goes to a group's own series only when it held its slot
   * before this interval and still does; otherwise to "other". */
  pidio_io_t to_other = t->other_inc;
  t->other_inc = (pidio_io_t){0};
  t->other_processes = t->other_counting;
  t->other_unreadable = t->other_counting_unreadable;
  t->other_counting = t->other_counting_unreadable = 0;
  size_t kept = 0;
  t->nslot = 0;
  for (size_t i = 0; i < t->n; i++) {
    pidio_groups_entry_t *g = t->e[i];
    pidio_io_t *to =
        g->slotted && g->slot_since < t->round ? &g->series : &to_other;
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      to->v[f] += g->inc.v[f];
    g->inc = (pidio_io_t){0};
    if (g->slotted) {
      t->slot[t->nslot++] = g;
      if (g->win.n >= 2)
        pidio_window_push(&g->win, now, &g->series);
    } else {
      t->other_processes += g->processes;
      t->other_unreadable += g->unreadable;
    }
    if (!forget(t, g))
      t->e[kept++] = g;
  }
  t->n = kept;
  evict_dormant(t);
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    t->other.v[f] += to_other.v[f];
  if (t->other_win.n >= 2)
    pidio_window_push(&t->other_win, now, &t->other);
  if (t->nslot > 1)
    qsort(t->slot, t->nslot, sizeof(*t->slot), by_name);
  return rc;
}
