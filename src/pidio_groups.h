/*
 * pidio_groups: the groups of one block, and which of them have series.
 *
 * A block split by GroupBy has one entry per group key (pidio_group). The
 * caller joins each member to its group once (its key is fixed when it
 * joins), feeds every interval the exact increments each group made (the
 * ledger's job: a block's increment split by destination, summing to the
 * block's own), then settles the interval. At most MaxGroups groups hold a
 * slot, i.e. have series of their own; everything else is "other".
 *
 * The rules, each checked by the unit tests:
 *  - Conservation. Every interval, for every field, what all group series
 *    and "other" rose by equals what was fed, exactly. A series that
 *    (re)appears rises by 0 in its first interval: it starts from the value
 *    it last had (0 for a group never seen), and what its group did in the
 *    interval it got its slot is in "other". So no writer ever sees a
 *    spike, whether it computes rates itself (collectd's cache: the first
 *    value after a gap has no rate) or derives them from stored counters
 *    (Graphite, InfluxDB: the step over the gap is 0), and the rates of the
 *    groups and "other" add up to the block's in every interval too.
 *  - Monotonic. A group's series only grows while it holds its slot; what
 *    it does without one is in "other"; when it regains a slot it goes on
 *    from where it stopped.
 *  - Ranking. Slots go to the groups with the most I/O of the RankBy field
 *    (one of the seven counters, or bytes = read_bytes + write_bytes) over
 *    the last rank_window intervals. Free slots go to the best groups with
 *    any such I/O. When all are taken, a group that did more than the least
 *    active slot holder takes that slot, in the same interval; a slot held
 *    for less than rank_window intervals is never taken, so groups near a
 *    tie do not flap. A slot holder with no members and no I/O over the
 *    window gives its slot up.
 *  - Bounded. At most max_groups slots, so at most max_groups + 2 plugin
 *    instances per block (the groups, "other", the block). A group with no
 *    members, no slot and no I/O over the window is forgotten. If its
 *    series ever showed anything it is kept as a small dormant entry
 *    (key, name, last values), and a dormant group that comes back goes on
 *    from its last values; at most max_dormant are kept, the longest
 *    dormant goes first. A group forgotten that way and coming back starts
 *    again from 0, which every writer takes as a counter reset (collectd
 *    drops the negative rate, non_negative_derivative skips it): a gap in
 *    its rates, never a spike.
 * Not thread-safe: one block's groups are used by one thread at a time.
 */
#ifndef PIDIO_GROUPS_H
#define PIDIO_GROUPS_H

#include "pidio_group.h"
#include "pidio_parse.h"
#include "pidio_window.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PIDIO_GROUPS_MAX 1000    /* the largest MaxGroups */
#define PIDIO_GROUPS_DEFAULT 20  /* MaxGroups when not given */
#define PIDIO_GROUPS_RANK_WINDOW 5 /* ranking window of a block without one */
/* Dormant groups kept per slot (max_dormant 0 in the configuration). */
#define PIDIO_GROUPS_DORMANT_PER_SLOT 10

/* RankBy: a field of the io file, or this for read_bytes + write_bytes. */
#define PIDIO_RANK_BYTES PIDIO_NFIELDS

/* "rchar" ... "cancelled_write_bytes", "bytes": 0, or -EINVAL. */
int pidio_groups_rank_parse(const char *s, int *rank);
const char *pidio_groups_rank_name(int rank);

/* A block's GroupBy, MaxGroups and RankBy as given. The setters validate
 * one option each and, like pidio_select's, write a message without the
 * option or block name into err on failure. */
typedef struct pidio_groups_opts {
  bool by; /* GroupBy given */
  enum pidio_group_key key;
  unsigned max_groups; /* 0: MaxGroups not given */
  int rank;            /* -1: RankBy not given */
} pidio_groups_opts_t;

void pidio_groups_opts_init(pidio_groups_opts_t *o);
int pidio_groups_set_by(pidio_groups_opts_t *o, const char *key, char *err,
                        size_t errsz);
int pidio_groups_set_max(pidio_groups_opts_t *o, double n, char *err,
                         size_t errsz);
int pidio_groups_set_rank(pidio_groups_opts_t *o, const char *field,
                          char *err, size_t errsz);

typedef struct pidio_groups_conf {
  unsigned max_groups;  /* MaxGroups, 1 to PIDIO_GROUPS_MAX */
  int rank;             /* RankBy: enum pidio_field or PIDIO_RANK_BYTES */
  unsigned rank_window; /* intervals, 1 to PIDIO_WINDOW_MAX */
  unsigned rate_window; /* 0, or 2 to PIDIO_WINDOW_MAX: pidio_rate windows */
  size_t name_max;      /* room for a name: pidio_group_name_room(block) */
  size_t max_dormant;   /* 0: PIDIO_GROUPS_DORMANT_PER_SLOT * max_groups */
  bool idle_slots; /* free slots go to groups with members but no I/O too
                      (after the busy ones): a list of every group */
} pidio_groups_conf_t;

/* One group. Read its fields after pidio_groups_settle. */
typedef struct pidio_groups_entry {
  char *key; /* the group key, NULL for the unknown group */
  size_t keylen;
  char *name;         /* pidio_group_name of the key, unique in the block */
  unsigned id; /* 1 and up, unique while it exists: a ledger destination */
  pidio_io_t series;  /* what its series show: never goes down */
  pidio_io_t total;   /* everything it was fed, slot or not (exact; kept
                         while it is not forgotten for good) */
  pidio_io_t inc;     /* fed this interval */
  unsigned refs;      /* members that belong to it */
  unsigned processes; /* counted in the interval last settled */
  unsigned unreadable;
  unsigned counting, counting_unreadable; /* ... in this one, so far */
  uint64_t *ring; /* the rank field's increments of the last rank_window
                     intervals (NULL while dormant) */
  uint64_t score; /* their sum */
  uint64_t slot_since; /* the interval it got its slot */
  uint64_t idle_since; /* the interval it went dormant */
  bool slotted, dormant;
  pidio_window_t win; /* its rates while it holds a slot */
} pidio_groups_entry_t;

typedef struct pidio_groups {
  pidio_groups_conf_t conf;
  pidio_groups_entry_t **e; /* every group, live or dormant, by key */
  size_t n, cap;
  size_t ndormant;
  pidio_groups_entry_t **byid; /* byid[id]: the group of that id, or NULL
                                  (byid[0] is "other") */
  size_t nids;                 /* length of byid */
  pidio_groups_entry_t **slot; /* the slot holders, by name */
  size_t nslot;
  pidio_groups_entry_t **scratch;
  uint64_t round; /* intervals settled */

  /* "other": every group without a slot. */
  pidio_io_t other;
  pidio_io_t other_total; /* fed to "other" directly (no group), in all */
  pidio_io_t other_inc; /* fed to it directly this interval */
  unsigned other_processes, other_unreadable; /* the interval last settled */
  unsigned other_counting, other_counting_unreadable; /* counted directly */
  pidio_window_t other_win;

  unsigned gained, lost; /* slots changing hands in the last interval */
} pidio_groups_t;

/* The table's configuration from a block's options, its name and its
 * Window (0: none; ranking then takes PIDIO_GROUPS_RANK_WINDOW). */
void pidio_groups_conf_of(const pidio_groups_opts_t *o, const char *block,
                          unsigned window, pidio_groups_conf_t *conf);

/* 0, or -EINVAL for a configuration out of range, or -ENOMEM. */
int pidio_groups_init(pidio_groups_t *t, const pidio_groups_conf_t *conf);
void pidio_groups_free(pidio_groups_t *t);

/* A member joins the group of key[0..len) (key NULL: the unknown group),
 * created or brought back from dormancy as needed. Returns the group, or
 * NULL when out of memory: the caller then feeds the member's increments
 * to NULL, which is "other". The group stays valid until the member leaves
 * and the next pidio_groups_settle after that. */
pidio_groups_entry_t *pidio_groups_join(pidio_groups_t *t, const char *key,
                                        size_t len);
void pidio_groups_leave(pidio_groups_t *t, pidio_groups_entry_t *g);

/* This interval: a group's exact increments (g NULL: "other"), and its
 * processes counted (for count-processes and count-unreadable). */
void pidio_groups_add(pidio_groups_t *t, pidio_groups_entry_t *g,
                      const pidio_io_t *inc);
void pidio_groups_count(pidio_groups_t *t, pidio_groups_entry_t *g,
                        unsigned processes, unsigned unreadable);

/* End the interval whose counters are of time now (seconds of a monotonic
 * clock): rank, hand out slots, move what was fed into the series and
 * "other", push the rate windows, forget what may be forgotten. Then
 * t->slot[0 .. t->nslot) are the groups with series, by name. 0, or
 * -ENOMEM (the figures are still exact; a rate window may be missing). */
int pidio_groups_settle(pidio_groups_t *t, double now);

#endif /* PIDIO_GROUPS_H */
