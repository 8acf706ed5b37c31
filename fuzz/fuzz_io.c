/*
 * Fuzz target: pidio_parse_io, the parser of /proc/<pid>/io.
 *
 * Any input gives what an independent reading of the format
 * (fuzz/reference.h) gives: the same error, or the same seven counters;
 * and what parses, printed back the way the kernel prints it, parses to
 * the same counters.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"
#include "reference.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pidio_io_t io;
  int rc = pidio_parse_io((const char *)data, size, &io);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  uint64_t want[PIDIO_NFIELDS];
  FUZZ_CHECK(ref_io((const char *)data, size, want) == rc);
  if (rc != 0)
    return 0;
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    FUZZ_CHECK(io.v[f] == want[f]);

  char text[512];
  size_t len = 0;
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    int n = snprintf(text + len, sizeof(text) - len, "%s: %" PRIu64 "\n",
                     pidio_field_names[f], io.v[f]);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text) - len);
    len += (size_t)n;
  }
  pidio_io_t again;
  FUZZ_CHECK(pidio_parse_io(text, len, &again) == 0);
  FUZZ_CHECK(memcmp(&io, &again, sizeof(io)) == 0);
  return 0;
}
