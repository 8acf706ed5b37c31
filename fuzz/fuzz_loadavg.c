/*
 * Fuzz target: pidio_parse_loadavg_last_pid, the last allocated pid from
 * /proc/loadavg, and pidio_parse_proc_stat_forks, the fork count of
 * /proc/stat: the two numbers discovery compares.
 *
 * Any input either fails with -EINVAL or -ERANGE, or gives a pid in
 * 0..PIDIO_PID_MAX (a count); that number, in a file written the way the
 * kernel writes one, parses back to the same.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"

#include <errno.h>

static void check_forks(const uint8_t *data, size_t size) {
  uint64_t n = 0;
  int rc = pidio_parse_proc_stat_forks((const char *)data, size, &n);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  if (rc != 0)
    return;
  char text[160];
  int len = snprintf(text, sizeof(text),
                     "cpu  1 2 3 4 5 6 7 8 9 10\nintr 5 0 1\nctxt 9\n"
                     "btime 1700000000\nprocesses %llu\nprocs_running 1\n",
                     (unsigned long long)n);
  FUZZ_CHECK(len > 0 && (size_t)len < sizeof(text));
  uint64_t again = ~n;
  FUZZ_CHECK(pidio_parse_proc_stat_forks(text, (size_t)len, &again) == 0);
  FUZZ_CHECK(again == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_forks(data, size);
  pid_t last = -1;
  int rc = pidio_parse_loadavg_last_pid((const char *)data, size, &last);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  if (rc != 0)
    return 0;
  FUZZ_CHECK(last >= 0 && last <= PIDIO_PID_MAX);
  char text[64];
  int n = snprintf(text, sizeof(text), "0.15 0.10 0.05 2/78 %d\n", (int)last);
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
  pid_t again = -1;
  FUZZ_CHECK(pidio_parse_loadavg_last_pid(text, (size_t)n, &again) == 0);
  FUZZ_CHECK(again == last);
  return 0;
}
