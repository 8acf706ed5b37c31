/*
 * Fuzz target: pidio_parse_u64, the strict decimal parser under every other
 * parser, checked against a plain reference: it succeeds exactly when the
 * input is one or more digits of a value that fits in 64 bits, and then
 * gives that value.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"

#include <errno.h>

/* 1 and the value when s[0..len) is a decimal uint64_t, else 0. */
static int reference(const uint8_t *s, size_t len, uint64_t *out) {
  if (len == 0)
    return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    unsigned d = (unsigned)(s[i] - '0');
    if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, d, &v))
      return 0;
  }
  *out = v;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t got = 0, want = 0;
  int rc = pidio_parse_u64((const char *)data, size, &got);
  int ok = reference(data, size, &want);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  FUZZ_CHECK((rc == 0) == (ok == 1));
  if (ok)
    FUZZ_CHECK(got == want);
  return 0;
}
