/*
 * Fuzz target: pidio_parse_cmdline, the joining of /proc/<pid>/cmdline.
 *
 * Each input is joined into output buffers of several sizes, each
 * allocated to exactly that size so that a write past it is caught. The
 * result is always NUL-terminated within the buffer, holds no other NUL,
 * and is the input's prefix with its NULs turned into spaces.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"

#include <string.h>

static void join(const uint8_t *data, size_t size, size_t outsz) {
  char *out = outsz > 0 ? malloc(outsz) : NULL;
  if (outsz > 0 && out == NULL)
    return;
  size_t n = pidio_parse_cmdline((const char *)data, size, out, outsz);
  if (outsz == 0) {
    FUZZ_CHECK(n == 0);
    return;
  }
  /* Trailing NULs are dropped: they end arguments, they are not ones. */
  size_t len = size;
  while (len > 0 && data[len - 1] == '\0')
    len--;
  FUZZ_CHECK(n < outsz);
  FUZZ_CHECK(n == (len < outsz - 1 ? len : outsz - 1));
  FUZZ_CHECK(out[n] == '\0');
  FUZZ_CHECK(strlen(out) == n);
  for (size_t i = 0; i < n; i++)
    FUZZ_CHECK(out[i] == (data[i] == '\0' ? ' ' : (char)data[i]));
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const size_t sizes[] = {0, 1, 2, size / 2, size, size + 1, size + 2, 4096};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    join(data, size, sizes[i]);
  return 0;
}
