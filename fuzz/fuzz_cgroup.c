/*
 * Fuzz target: pidio_parse_cgroup, the cgroup v2 path of
 * /proc/<pid>/cgroup.
 *
 * Any input either fails with -EINVAL or -ENOENT, or gives a path inside
 * the input that starts with '/' and holds no newline.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"

#include <errno.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  const char *path = NULL;
  size_t plen = 0;
  int rc = pidio_parse_cgroup(buf, size, &path, &plen);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOENT);
  if (rc != 0)
    return 0;
  FUZZ_CHECK(path != NULL && path >= buf && plen >= 1);
  FUZZ_CHECK(plen <= size && (size_t)(path - buf) <= size - plen);
  FUZZ_CHECK(path[0] == '/');
  FUZZ_CHECK(memchr(path, '\n', plen) == NULL);
  FUZZ_CHECK(path - buf >= 3 && memcmp(path - 3, "0::", 3) == 0);
  return 0;
}
