/*
 * Fuzz target: the parsers of /proc/<pid>/status, pidio_parse_status_uid
 * (the real uid of the "Uid:" line), pidio_parse_status_tgid (the
 * "Tgid:" line) and pidio_parse_status_sigign (the "SigIgn:" mask).
 *
 * Any input either fails with -EINVAL or -ERANGE, or gives a uid other
 * than (uid_t)-1, which means "no uid", and a tgid in 1..PIDIO_PID_MAX;
 * those, put in a status file the way the kernel writes one, parse back to
 * the same. Every result is also what an independent reading of the
 * format (fuzz/reference.h) gives: the same error, or the same number.
 */
#include "pidio_build.h"

#include "fuzz.h"
#include "pidio_parse.h"
#include "reference.h"

#include <errno.h>

static void check_tgid(const uint8_t *data, size_t size) {
  pid_t tgid = 0;
  int rc = pidio_parse_status_tgid((const char *)data, size, &tgid);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  uint64_t want = 0;
  int ref = ref_status((const char *)data, size, "Tgid", &want);
  if (ref == 0 && want == 0)
    ref = -EINVAL; /* pid 0 is no process */
  else if (ref == 0 && want > PIDIO_PID_MAX)
    ref = -ERANGE;
  FUZZ_CHECK(ref == rc);
  if (rc != 0)
    return;
  FUZZ_CHECK((uint64_t)tgid == want);
  FUZZ_CHECK(tgid >= 1 && tgid <= PIDIO_PID_MAX);
  char text[128];
  int n = snprintf(text, sizeof(text),
                   "Name:\tfuzz\nUmask:\t0022\nState:\tS (sleeping)\n"
                   "Tgid:\t%d\nNgid:\t0\nPid:\t%d\n",
                   (int)tgid, (int)tgid + 1);
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
  pid_t again = 0;
  FUZZ_CHECK(pidio_parse_status_tgid(text, (size_t)n, &again) == 0);
  FUZZ_CHECK(again == tgid);
}

/* Any mask parses back from the kernel's 16 hex digits. */
static void check_sigign(const uint8_t *data, size_t size) {
  uint64_t mask = 0;
  int rc = pidio_parse_status_sigign((const char *)data, size, &mask);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL);
  if (rc != 0)
    return;
  char text[128];
  int n = snprintf(text, sizeof(text),
                   "Name:\tfuzz\nSigBlk:\t0000000000000000\n"
                   "SigIgn:\t%016llx\nSigCgt:\t0000000000000000\n",
                   (unsigned long long)mask);
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
  uint64_t again = ~mask;
  FUZZ_CHECK(pidio_parse_status_sigign(text, (size_t)n, &again) == 0);
  FUZZ_CHECK(again == mask);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_tgid(data, size);
  check_sigign(data, size);
  uid_t uid = 0;
  int rc = pidio_parse_status_uid((const char *)data, size, &uid);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
  uint64_t want = 0;
  int ref = ref_status((const char *)data, size, "Uid", &want);
  if (ref == 0 && want >= 0xffffffffu) /* (uid_t)-1 is "no uid" */
    ref = -ERANGE;
  FUZZ_CHECK(ref == rc);
  if (rc != 0)
    return 0;
  FUZZ_CHECK((uint64_t)uid == want);
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
