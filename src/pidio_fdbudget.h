/*
 * pidio_fdbudget: the io descriptors all blocks together may hold open.
 *
 * A held descriptor makes a member's read one pread, but descriptors are
 * shared with the rest of the process (collectd, its other plugins): pidio
 * holds at most a budget of them and reads the members beyond it by opening
 * their io file each interval. The budget is process-wide and safe to use
 * from several threads at once (collectd's read threads update blocks in
 * parallel).
 */
#ifndef PIDIO_FDBUDGET_H
#define PIDIO_FDBUDGET_H

#include <stdbool.h>

/* Set the budget: at most n descriptors held by all blocks together. When
 * never set, it is half the soft RLIMIT_NOFILE (512 when unlimited), taken
 * at the first pidio_fdbudget_take. Set it before any block holds one. */
void pidio_fdbudget_set(long n);

/* Take one slot: true when a descriptor may be held, false when the budget
 * is spent (the caller closes its descriptor after reading). */
bool pidio_fdbudget_take(void);

/* Close a held descriptor (-1: nothing) and give its slot back. */
void pidio_fdbudget_release(int fd);

#endif /* PIDIO_FDBUDGET_H */
