/*
 * Unit test suites (Check), one per module; run by tests/unit.c.
 */
#ifndef PIDIO_TEST_UNIT_H
#define PIDIO_TEST_UNIT_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

Suite *make_parse_suite(void);
Suite *make_window_suite(void);
Suite *make_select_suite(void);
Suite *make_ledger_suite(void);
Suite *make_block_suite(void);
Suite *make_adapter_suite(void);
Suite *make_trouble_suite(void);
Suite *make_tell_suite(void);
Suite *make_array_suite(void);
Suite *make_options_suite(void);
Suite *make_perproc_suite(void);
#ifdef PIDIO_HAVE_BPF
Suite *make_bpf_suite(void);
#endif
Suite *make_group_suite(void);
Suite *make_groups_suite(void);

/* Path of a file under fixtures/ (PIDIO_SRCDIR, or srcdir, or "."). The
 * result is a static buffer, valid until the next call. */
const char *fixture_path(const char *rel);

/* Read a fixture file whole into buf (NUL-terminated); returns its length
 * and fails the test when it cannot be read. */
size_t fixture_read(const char *rel, char *buf, size_t bufsz);

/* A small deterministic generator (xorshift), so that a randomized test
 * that fails fails again the same way. */
/* In a forked child: a mount namespace of its own (and a user namespace
 * when not root) with private mounts, where the test may hide or replace
 * a file of the host. 0, or -1 when the kernel refuses. */
int unit_private_mounts(void);

/* In a child: its next child is the first process of a new pid namespace
 * (unshare(CLONE_NEWPID)). 0, or -1 when the kernel refuses. */
int unit_new_pid_namespace(void);

/* In the first process of a new pid namespace: private mounts
 * (unit_private_mounts) and a procfs of that namespace at /proc, where
 * pidio's own-procfs shortcuts work for it. 0, or -1. */
int unit_private_proc(void);

/* Ticks added to pidio's clock (pidio_proc_boot_ticks, wrapped by the
 * linker for this program: see Makefile.am), so that a test can let a
 * minute pass in no time. 0 unless a test sets it; reset it after use. */
extern uint64_t unit_clock_ahead;
uint64_t __real_pidio_proc_boot_ticks(void);
uint64_t __wrap_pidio_proc_boot_ticks(void);

/* Bytes of heap held through malloc, calloc, realloc and strdup called
 * from this program's own objects (pidio's included; the linker wraps
 * them, see Makefile.am), by the allocator's usable sizes, less what was
 * freed. What the C library allocates and frees inside itself is not
 * seen; memory it allocates that the program frees counts down. */
long long unit_heap_live(void);

/* Whether this program runs under valgrind, where every instruction costs
 * tens of times more: the long randomised tests then run fewer rounds of
 * the same code (make check runs them all). */
bool unit_under_valgrind(void);

void unit_srand(uint64_t seed);
uint32_t unit_rand(void);

#endif
