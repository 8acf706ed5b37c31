/*
 * Writable copies of the fixture procfs trees under fixtures/, for the unit
 * tests that point pidio at one (test_block.c, test_adapter.c): a
 * directory per test case, a copy of a tree in it, files of the copy
 * rewritten in place, and removal even after a failed test.
 */
#ifndef PIDIO_TEST_FIXTURE_TREE_H
#define PIDIO_TEST_FIXTURE_TREE_H

#include "pidio_parse.h"

#include <stddef.h>
#include <sys/types.h>

#define TREE_PATHSZ 4096

/* out = a "/" b; fails the test when it does not fit in TREE_PATHSZ. */
void tree_join(char *out, const char *a, const char *b);

/* All of data to fd, retrying on EINTR; what names the file in a failure. */
void tree_write_all(int fd, const char *data, size_t len, const char *what);

/* rm -rf, quietly: also used after a failure. */
void tree_remove(const char *path);

/* The directory of the current test case under $TMPDIR (or /tmp), for
 * tcase_add_unchecked_fixture: made and removed by the runner itself, so
 * that what a failed test left (in fork mode it skips its own teardown) is
 * removed too. */
void tree_case_dir_make(void);
void tree_case_dir_remove(void);

/* A fresh directory base (TREE_PATHSZ) in the case directory, and in it
 * root = base/proc, a writable copy of fixtures/<fixture>. */
void tree_open(const char *fixture, char *base, char *root);

/* Write root/rel IN PLACE (same inode, created if missing): pidio holds io
 * descriptors open and preads them, so a rename would go unseen. */
void tree_put(const char *root, const char *rel, const char *data, size_t len);

/* Read or rewrite (in place, in the kernel's layout) root/<pid>/io. */
void tree_io_get(const char *root, pid_t pid, pidio_io_t *io);
void tree_io_put(const char *root, pid_t pid, const pidio_io_t *io);

#endif
