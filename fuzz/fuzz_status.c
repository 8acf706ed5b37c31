/*
 * Fuzz target: pidio_parse_status_uid, the real uid from the "Uid:" line
 * of /proc/<pid>/status.
 *
 * Any input either fails with -EINVAL or -ERANGE, or gives a uid other
 * than (uid_t)-1, which means "no uid"; that uid, put in a status file the
 * way the kernel writes one, parses back to the same.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uid_t uid = 0;
  int rc = pidio_parse_status_uid((const char *)data, size, &uid);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  if (rc != 0)
    return 0;
  FUZZ_CHECK(uid != (uid_t)-1);

  char text[256];
  int n = snprintf(text, sizeof(text),
                   "Name:\tfuzz\nUmask:\t0022\nState:\tS (sleeping)\n"
                   "Tgid:\t42\nPid:\t42\nPPid:\t1\n"
                   "Uid:\t%u\t%u\t%u\t%u\nGid:\t0\t0\t0\t0\n",
                   (unsigned)uid, (unsigned)uid, (unsigned)uid, (unsigned)uid);
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
  uid_t again = 0;
  FUZZ_CHECK(pidio_parse_status_uid(text, (size_t)n, &again) == 0);
  FUZZ_CHECK(again == uid);
  return 0;
}
