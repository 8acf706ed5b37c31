/*
 * Tests of pidio_array: capacities double from the first size, an array
 * large enough is left alone, the elements survive growth, and a size that
 * does not fit a size_t is refused with the array as it was.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_array.h"

#include <stdint.h>
#include <stdlib.h>

START_TEST(t_doubles_from_first) {
  int *a = NULL;
  size_t cap = 0;
  for (size_t n = 0; n < 1000; n++) {
    int *p = pidio_array_grow(a, &cap, n + 1, sizeof(*a), 16);
    ck_assert_ptr_nonnull(p);
    a = p;
    a[n] = (int)n * 3;
    /* The smallest of 16, 32, 64, ... that holds n + 1. */
    size_t want = 16;
    while (want < n + 1)
      want *= 2;
    ck_assert_uint_eq(cap, want);
  }
  for (size_t n = 0; n < 1000; n++)
    ck_assert_int_eq(a[n], (int)n * 3);
  free(a);
}
END_TEST

START_TEST(t_large_enough_kept) {
  size_t cap = 0;
  char *a = pidio_array_grow(NULL, &cap, 5, 1, 8);
  ck_assert_ptr_nonnull(a);
  ck_assert_uint_eq(cap, 8);
  ck_assert_ptr_eq(pidio_array_grow(a, &cap, 8, 1, 8), a);
  ck_assert_uint_eq(cap, 8);
  /* Many at once: straight to the first doubling that holds them. */
  char *b = pidio_array_grow(a, &cap, 100, 1, 8);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(cap, 128);
  free(b);
}
END_TEST

START_TEST(t_overflow_refused) {
  size_t cap = 4;
  uint64_t *a = calloc(cap, sizeof(*a));
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_null(pidio_array_grow(a, &cap, SIZE_MAX / 4, sizeof(*a), 4));
  ck_assert_uint_eq(cap, 4);
  ck_assert_ptr_null(pidio_array_grow(a, &cap, SIZE_MAX, 1, 4));
  ck_assert_uint_eq(cap, 4);
  free(a); /* still the caller's */
}
END_TEST

Suite *make_array_suite(void) {
  Suite *s = suite_create("array");
  TCase *tc = tcase_create("grow");
  tcase_add_test(tc, t_doubles_from_first);
  tcase_add_test(tc, t_large_enough_kept);
  tcase_add_test(tc, t_overflow_refused);
  suite_add_tcase(s, tc);
  return s;
}
