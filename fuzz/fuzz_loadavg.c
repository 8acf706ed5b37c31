/*
 * Fuzz target: pidio_parse_loadavg_last_pid, the last allocated pid from
 * /proc/loadavg.
 *
 * Any input either fails with -EINVAL or -ERANGE, or gives a pid in
 * 0..PIDIO_PID_MAX; that pid, in a line written the way the kernel writes
 * one, parses back to the same; every result is also what an independent
 * reading of the format (fuzz/reference.h) gives.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"
#include "reference.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pid_t last = -1;
  int rc = pidio_parse_loadavg_last_pid((const char *)data, size, &last);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  uint64_t want = 0;
  FUZZ_CHECK(ref_loadavg((const char *)data, size, &want) == rc);
  if (rc != 0)
    return 0;
  FUZZ_CHECK((uint64_t)last == want);
  FUZZ_CHECK(last >= 0 && last <= PIDIO_PID_MAX);
  char text[64];
  int n = snprintf(text, sizeof(text), "0.15 0.10 0.05 2/78 %d\n", (int)last);
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
  pid_t again = -1;
  FUZZ_CHECK(pidio_parse_loadavg_last_pid(text, (size_t)n, &again) == 0);
  FUZZ_CHECK(again == last);
  return 0;
}
