/*
 * Fuzz target: pidio_parse_cgroup, the cgroup v2 path of
 * /proc/<pid>/cgroup.
 *
 * Any input gives what an independent reading of the format
 * (fuzz/reference.h) gives: the same error (-EINVAL, or -ENOENT without a
 * v2 line), or the same path, a slice of the input that starts with '/'
 * and holds no newline; that path, in a file written the way the kernel
 * writes one on a hybrid host, parses back to the same bytes.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"
#include "reference.h"

#include <errno.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  const char *path = NULL;
  size_t plen = 0;
  int rc = pidio_parse_cgroup(buf, size, &path, &plen);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOENT);
  size_t off = 0, want = 0;
  FUZZ_CHECK(ref_cgroup(buf, size, &off, &want) == rc);
  if (rc != 0)
    return 0;
  FUZZ_CHECK(path == buf + off && plen == want);
  FUZZ_CHECK(path != NULL && path >= buf && plen >= 1);
  FUZZ_CHECK(plen <= size && (size_t)(path - buf) <= size - plen);
  FUZZ_CHECK(path[0] == '/');
  FUZZ_CHECK(memchr(path, '\n', plen) == NULL);
  FUZZ_CHECK(path - buf >= 3 && memcmp(path - 3, "0::", 3) == 0);

  static const char head[] = "12:pids:/user.slice\n1:name=systemd:/init\n0::";
  size_t tlen = sizeof(head) - 1 + plen + 1;
  char *text = malloc(tlen);
  FUZZ_CHECK(text != NULL);
  memcpy(text, head, sizeof(head) - 1);
  memcpy(text + sizeof(head) - 1, path, plen);
  text[tlen - 1] = '\n';
  const char *again = NULL;
  size_t alen = 0;
  FUZZ_CHECK(pidio_parse_cgroup(text, tlen, &again, &alen) == 0);
  FUZZ_CHECK(alen == plen && memcmp(again, path, plen) == 0);
  FUZZ_CHECK(again == text + sizeof(head) - 1);
  free(text);
  return 0;
}
