/*
 * pidio_array: room in the growing arrays of the modules (process lists,
 * the ledger's members and departures).
 *
 * Capacities double, so that filling an array one element at a time costs
 * amortized constant time, and start at a size each caller picks for its
 * usual load.
 */
#ifndef PIDIO_ARRAY_H
#define PIDIO_ARRAY_H

#include <stddef.h>

/* An array of at least need elements of size bytes, from a (holding *cap):
 * a itself when it is large enough, else a reallocated to the first of
 * first, 2 * first, ... (or *cap, 2 * *cap, ... when *cap is not 0) that
 * holds need, with *cap set to that. NULL when out of memory or the size
 * does not fit a size_t: a and *cap are then as they were. need, size and
 * first are above 0. */
void *pidio_array_grow(void *a, size_t *cap, size_t need, size_t size,
                       size_t first);

#endif /* PIDIO_ARRAY_H */
