/*
 * Fuzz target: pidio_parse_pidfile, checked against a plain reference:
 * blanks (space, tab, CR, LF) around one decimal pid from 1 to
 * PIDIO_PID_MAX, nothing else.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"

#include <errno.h>

static int blank(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* 1 and the pid when the text is a valid pidfile, else 0. */
static int reference(const uint8_t *s, size_t len, pid_t *out) {
  size_t a = 0, b = len;
  while (a < b && blank(s[a]))
    a++;
  while (b > a && blank(s[b - 1]))
    b--;
  if (a == b)
    return 0;
  long v = 0;
  for (size_t i = a; i < b; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (s[i] - '0');
    if (v > PIDIO_PID_MAX)
      return 0;
  }
  if (v < 1)
    return 0;
  *out = (pid_t)v;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pid_t got = 0, want = 0;
  int rc = pidio_parse_pidfile((const char *)data, size, &got);
  int ok = reference(data, size, &want);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  FUZZ_CHECK((rc == 0) == (ok == 1));
  if (ok)
    FUZZ_CHECK(got == want);
  return 0;
}
