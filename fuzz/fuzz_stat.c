/*
 * Fuzz target: pidio_parse_stat, the parser of /proc/<pid>/stat.
 *
 * Any input either fails with -EINVAL or -ERANGE, or parses to a comm of
 * at most 15 bytes, a ppid within the kernel's range, flags and a start
 * time; those, printed back the way the kernel prints them, parse to the same.
 * Every result is also what an independent reading of the format
 * (fuzz/reference.h) gives: the same error, or the same fields.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"
#include "reference.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pidio_stat_t st;
  memset(&st, 0, sizeof(st));
  int rc = pidio_parse_stat((const char *)data, size, &st);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  char comm[16], state = 0;
  uint64_t ppid = 0, flags = 0, start = 0;
  FUZZ_CHECK(ref_stat((const char *)data, size, comm, &state, &ppid, &flags,
                      &start) == rc);
  if (rc != 0)
    return 0;
  FUZZ_CHECK(sizeof(st.comm) == sizeof(comm));
  FUZZ_CHECK(memcmp(st.comm, comm, sizeof(comm)) == 0);
  FUZZ_CHECK(st.state == state && (uint64_t)st.ppid == ppid);
  FUZZ_CHECK(st.flags == flags && st.start_time == start);
  FUZZ_CHECK(memchr(st.comm, '\0', sizeof(st.comm)) != NULL);
  FUZZ_CHECK(st.ppid >= 0 && st.ppid <= PIDIO_PID_MAX);
  FUZZ_CHECK(st.state != ' ' && st.state != '\n');

  /* The comm may hold a NUL the input had; the kernel's never does. */
  size_t clen = strlen(st.comm);
  char text[256];
  int n = snprintf(text, sizeof(text), "42 (");
  FUZZ_CHECK(n > 0);
  size_t len = (size_t)n;
  memcpy(text + len, st.comm, clen);
  len += clen;
  n = snprintf(text + len, sizeof(text) - len,
               ") %c %d 1 1 0 -1 %" PRIu64 " 100 0 0 0 1 2 0 0 20 0 1 0 %" PRIu64
               " 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 "
               "0 0 0 0 0\n",
               st.state, (int)st.ppid, st.flags, st.start_time);
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text) - len);
  len += (size_t)n;

  pidio_stat_t again;
  FUZZ_CHECK(pidio_parse_stat(text, len, &again) == 0);
  FUZZ_CHECK(strcmp(again.comm, st.comm) == 0);
  FUZZ_CHECK(again.state == st.state);
  FUZZ_CHECK(again.ppid == st.ppid);
  FUZZ_CHECK(again.flags == st.flags);
  FUZZ_CHECK(again.start_time == st.start_time);
  return 0;
}
