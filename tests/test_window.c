/*
 * Unit tests of pidio_window: the moving-window rates.
 *
 * Times and counters are chosen so that every expected rate is exact in
 * binary floating point, and compared with ==.
 */
#include "pidio_build.h"

#include "unit.h"

#include "pidio_window.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* Counters with every field set to v. */
static pidio_io_t all(uint64_t v) {
  pidio_io_t c;
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    c.v[f] = v;
  return c;
}

static void push_all(pidio_window_t *w, double t, uint64_t v) {
  pidio_io_t c = all(v);
  pidio_window_push(w, t, &c);
}

/* Every field's rate must be `expected`. */
static void assert_rates_all(const pidio_window_t *w, double expected) {
  double rate[PIDIO_NFIELDS];
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    rate[f] = -1.0;
  ck_assert_int_eq(pidio_window_rates(w, rate), 0);
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    ck_assert_msg(rate[f] == expected, "field %s: rate %.17g, expected %.17g",
                  pidio_field_names[f], rate[f], expected);
}

START_TEST(test_init_limits) {
  pidio_window_t w;
  ck_assert_int_eq(pidio_window_init(&w, 0), -EINVAL);
  ck_assert_ptr_null(w.t);
  ck_assert_ptr_null(w.c);
  pidio_window_free(&w); /* safe after a failed init */
  ck_assert_int_eq(pidio_window_init(&w, 1), -EINVAL);
  ck_assert_int_eq(pidio_window_init(&w, PIDIO_WINDOW_MAX + 1), -EINVAL);
  ck_assert_int_eq(pidio_window_init(&w, UINT32_MAX), -EINVAL);
  ck_assert_ptr_null(w.t);
  ck_assert_ptr_null(w.c);

  ck_assert_int_eq(pidio_window_init(&w, 2), 0);
  ck_assert_uint_eq(w.n, 2);
  ck_assert_uint_eq(w.count, 0);
  ck_assert_ptr_nonnull(w.t);
  ck_assert_ptr_nonnull(w.c);
  pidio_window_free(&w);
  ck_assert_ptr_null(w.t);
  ck_assert_ptr_null(w.c);
  ck_assert_uint_eq(w.n, 0);
  pidio_window_free(&w); /* twice is harmless */

  ck_assert_int_eq(pidio_window_init(&w, PIDIO_WINDOW_MAX), 0);
  ck_assert_uint_eq(w.n, PIDIO_WINDOW_MAX);
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_needs_two_samples) {
  pidio_window_t w;
  double rate[PIDIO_NFIELDS];
  ck_assert_int_eq(pidio_window_init(&w, 3), 0);
  ck_assert_int_eq(pidio_window_rates(&w, rate), -EAGAIN);
  push_all(&w, 10.0, 500);
  ck_assert_int_eq(pidio_window_rates(&w, rate), -EAGAIN);
  push_all(&w, 12.0, 900);
  assert_rates_all(&w, 200.0); /* (900 - 500) / 2 */
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_window_of_three) {
  /* Counters 0, 100, 300, 600, 1000, 1500, 2100, ... at t = 0, 1, 2, ...:
   * once full, the rate is over the last 3 intervals only. */
  static const uint64_t counter[] = {0,    100,  300,  600,  1000, 1500,
                                     2100, 2800, 3600, 4500, 5500};
  static const double expected[] = {
      0.0,                /* one sample: no rate */
      100.0,              /* (100 - 0) / 1 */
      150.0,              /* (300 - 0) / 2 */
      200.0,              /* (600 - 0) / 3 */
      (1000 - 100) / 3.0, /* 300 */
      (1500 - 300) / 3.0, /* 400 */
      (2100 - 600) / 3.0, /* 500 */
      (2800 - 1000) / 3.0,
      (3600 - 1500) / 3.0,
      (4500 - 2100) / 3.0,
      (5500 - 2800) / 3.0,
  };
  pidio_window_t w;
  ck_assert_int_eq(pidio_window_init(&w, 3), 0);
  for (unsigned k = 0; k < sizeof(counter) / sizeof(counter[0]); k++) {
    push_all(&w, (double)k, counter[k]);
    ck_assert_uint_eq(w.count, k + 1 < 4 ? k + 1 : 4);
    if (k == 0) {
      double rate[PIDIO_NFIELDS];
      ck_assert_int_eq(pidio_window_rates(&w, rate), -EAGAIN);
    } else {
      assert_rates_all(&w, expected[k]);
    }
  }
  ck_assert_double_eq(expected[4], 300.0);
  ck_assert_double_eq(expected[10], 900.0);
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_window_of_two) {
  pidio_window_t w;
  ck_assert_int_eq(pidio_window_init(&w, 2), 0);
  push_all(&w, 0.0, 0);
  push_all(&w, 0.5, 10);
  assert_rates_all(&w, 20.0); /* 10 / 0.5 */
  push_all(&w, 1.0, 30);
  assert_rates_all(&w, 30.0); /* 30 / 1 */
  push_all(&w, 1.5, 60);
  assert_rates_all(&w, 50.0); /* (60 - 10) / 1 */
  push_all(&w, 2.0, 60);
  assert_rates_all(&w, 30.0); /* (60 - 30) / 1 */
  push_all(&w, 2.5, 60);
  assert_rates_all(&w, 0.0); /* idle */
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_fields_independent) {
  /* Field f grows by 10 * (f + 1) per second from an offset of 1000 * f;
   * wchar stays constant. */
  pidio_window_t w;
  ck_assert_int_eq(pidio_window_init(&w, 4), 0);
  for (unsigned k = 0; k <= 9; k++) {
    pidio_io_t c;
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      c.v[f] = 1000u * (unsigned)f + 10u * (unsigned)(f + 1) * k;
    c.v[PIDIO_WCHAR] = 77;
    pidio_window_push(&w, 100.0 + 2.0 * k, &c);
    if (k == 0)
      continue;
    double rate[PIDIO_NFIELDS];
    ck_assert_int_eq(pidio_window_rates(&w, rate), 0);
    for (int f = 0; f < PIDIO_NFIELDS; f++) {
      double want = f == PIDIO_WCHAR ? 0.0 : 5.0 * (f + 1);
      ck_assert_msg(rate[f] == want, "k=%u field %s: rate %.17g, expected %g",
                    k, pidio_field_names[f], rate[f], want);
    }
  }
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_fields_distinct_values) {
  pidio_window_t w;
  ck_assert_int_eq(pidio_window_init(&w, 3), 0);
  pidio_io_t a = {{0, 0, 0, 0, 0, 0, 0}};
  pidio_io_t b = {{4, 8, 12, 16, 4096, 8192, 512}};
  pidio_window_push(&w, 1.0, &a);
  pidio_window_push(&w, 5.0, &b);
  double rate[PIDIO_NFIELDS];
  ck_assert_int_eq(pidio_window_rates(&w, rate), 0);
  ck_assert_double_eq(rate[PIDIO_RCHAR], 1.0);
  ck_assert_double_eq(rate[PIDIO_WCHAR], 2.0);
  ck_assert_double_eq(rate[PIDIO_SYSCR], 3.0);
  ck_assert_double_eq(rate[PIDIO_SYSCW], 4.0);
  ck_assert_double_eq(rate[PIDIO_READ_BYTES], 1024.0);
  ck_assert_double_eq(rate[PIDIO_WRITE_BYTES], 2048.0);
  ck_assert_double_eq(rate[PIDIO_CANCELLED_WRITE_BYTES], 128.0);
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_same_time_replaces) {
  pidio_window_t w;
  double rate[PIDIO_NFIELDS];
  ck_assert_int_eq(pidio_window_init(&w, 3), 0);

  /* Replacing the only sample: still one sample. */
  push_all(&w, 5.0, 10);
  push_all(&w, 5.0, 20);
  ck_assert_uint_eq(w.count, 1);
  ck_assert_int_eq(pidio_window_rates(&w, rate), -EAGAIN);
  push_all(&w, 7.0, 30);
  assert_rates_all(&w, 5.0); /* (30 - 20) / 2: the replaced 10 is gone */

  /* Same time again: the newest counters are replaced, its time kept. */
  push_all(&w, 7.0, 50);
  ck_assert_uint_eq(w.count, 2);
  assert_rates_all(&w, 15.0); /* (50 - 20) / 2 */

  /* A clock that went back also replaces, keeping the newer time. */
  push_all(&w, 6.0, 60);
  ck_assert_uint_eq(w.count, 2);
  assert_rates_all(&w, 20.0); /* (60 - 20) / 2 */

  push_all(&w, 9.0, 100);
  ck_assert_uint_eq(w.count, 3);
  assert_rates_all(&w, 20.0); /* (100 - 20) / 4 */
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_same_time_when_full) {
  pidio_window_t w;
  ck_assert_int_eq(pidio_window_init(&w, 2), 0);
  push_all(&w, 0.0, 0);
  push_all(&w, 1.0, 10);
  push_all(&w, 2.0, 20);
  push_all(&w, 3.0, 30); /* window: t = 1, 2, 3 */
  assert_rates_all(&w, 10.0);
  push_all(&w, 3.0, 50); /* replaces t = 3; t = 1 is still the oldest */
  ck_assert_uint_eq(w.count, 3);
  assert_rates_all(&w, 20.0); /* (50 - 10) / 2 */
  push_all(&w, 4.0, 60);      /* window: t = 2, 3, 4 */
  assert_rates_all(&w, 20.0); /* (60 - 20) / 2 */
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_near_uint64_max) {
  /* Converting each counter to double first would lose the difference:
   * both ends round to 2^64. */
  pidio_window_t w;
  ck_assert_int_eq(pidio_window_init(&w, 2), 0);
  push_all(&w, 0.0, UINT64_MAX - 1000);
  push_all(&w, 2.0, UINT64_MAX);
  assert_rates_all(&w, 500.0);

  pidio_window_free(&w);
  ck_assert_int_eq(pidio_window_init(&w, 2), 0);
  push_all(&w, 0.0, UINT64_MAX - 3);
  push_all(&w, 1.0, UINT64_MAX - 2);
  push_all(&w, 2.0, UINT64_MAX);
  assert_rates_all(&w, 1.5); /* 3 / 2 */

  pidio_window_free(&w);
  ck_assert_int_eq(pidio_window_init(&w, 2), 0);
  push_all(&w, 0.0, 0);
  push_all(&w, 1.0, UINT64_MAX);
  assert_rates_all(&w, (double)UINT64_MAX);
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_counter_down_not_negative) {
  /* Counters should never go down; if they do, the rate is 0, never
   * negative. */
  pidio_window_t w;
  ck_assert_int_eq(pidio_window_init(&w, 2), 0);
  push_all(&w, 0.0, 1000);
  push_all(&w, 1.0, 10);
  assert_rates_all(&w, 0.0);
  pidio_window_free(&w);
}
END_TEST

START_TEST(test_large_window_wraps) {
  pidio_window_t w;
  const unsigned n = 50;
  ck_assert_int_eq(pidio_window_init(&w, n), 0);
  /* Counter k * k at t = k: over the last n intervals the rate is
   * (k^2 - (k - n)^2) / n = 2k - n. */
  for (unsigned k = 0; k < 3 * n + 7; k++) {
    push_all(&w, (double)k, (uint64_t)k * k);
    if (k == 0)
      continue;
    unsigned span = k < n ? k : n;
    uint64_t then = (uint64_t)(k - span) * (k - span);
    double want = (double)((uint64_t)k * k - then) / (double)span;
    assert_rates_all(&w, want);
  }
  ck_assert_uint_eq(w.count, n + 1);
  pidio_window_free(&w);
}
END_TEST

/* The rater with n < 2: over the last interval alone; a time that does not
 * advance gives no rate and is no sample. */
START_TEST(test_rater_last_interval) {
  for (unsigned n = 0; n < 2; n++) {
    pidio_window_rater_t r;
    ck_assert_int_eq(pidio_window_rater_init(&r, n), 0);
    double rate[PIDIO_NFIELDS];
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      rate[f] = -1.0;
    pidio_io_t c = all(100);
    ck_assert(!pidio_window_rater_push(&r, 10.0, &c, rate));
    ck_assert(rate[0] == -1.0); /* untouched */
    c = all(300);
    ck_assert(pidio_window_rater_push(&r, 12.0, &c, rate));
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      ck_assert(rate[f] == 100.0);
    c = all(1000);
    ck_assert(!pidio_window_rater_push(&r, 12.0, &c, rate));
    c = all(700);
    ck_assert(pidio_window_rater_push(&r, 16.0, &c, rate));
    for (int f = 0; f < PIDIO_NFIELDS; f++)
      ck_assert(rate[f] == 100.0); /* from (12, 300): the same time's 1000
                                      was no sample */
    pidio_window_rater_free(&r);
  }
}
END_TEST

/* The rater with n >= 2 gives the window's rates. */
START_TEST(test_rater_window) {
  pidio_window_rater_t r;
  ck_assert_int_eq(pidio_window_rater_init(&r, PIDIO_WINDOW_MAX + 1), -EINVAL);
  ck_assert_int_eq(pidio_window_rater_init(&r, 2), 0);
  double rate[PIDIO_NFIELDS];
  pidio_io_t c = all(0);
  ck_assert(!pidio_window_rater_push(&r, 1.0, &c, rate));
  c = all(8);
  ck_assert(pidio_window_rater_push(&r, 2.0, &c, rate));
  assert_rates_all(&r.win, 8.0);
  c = all(40);
  ck_assert(pidio_window_rater_push(&r, 3.0, &c, rate));
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    ck_assert(rate[f] == 20.0); /* (40 - 0) / (3 - 1) */
  c = all(48);
  ck_assert(pidio_window_rater_push(&r, 5.0, &c, rate));
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    ck_assert(rate[f] == 40.0 / 3.0); /* (48 - 8) / (5 - 2): two intervals */
  pidio_window_rater_free(&r);
}
END_TEST

Suite *make_window_suite(void) {
  Suite *s = suite_create("window");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_init_limits);
  tcase_add_test(tc, test_needs_two_samples);
  tcase_add_test(tc, test_window_of_three);
  tcase_add_test(tc, test_window_of_two);
  tcase_add_test(tc, test_fields_independent);
  tcase_add_test(tc, test_fields_distinct_values);
  tcase_add_test(tc, test_same_time_replaces);
  tcase_add_test(tc, test_same_time_when_full);
  tcase_add_test(tc, test_near_uint64_max);
  tcase_add_test(tc, test_counter_down_not_negative);
  tcase_add_test(tc, test_large_window_wraps);
  tcase_add_test(tc, test_rater_last_interval);
  tcase_add_test(tc, test_rater_window);
  suite_add_tcase(s, tc);
  return s;
}
