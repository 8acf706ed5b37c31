/*
 * Second readings of the procfs formats, for the fuzz targets: each one
 * written apart from src/pidio_parse.c and as plainly as it can be (slow,
 * no fast path, numbers compared as digit strings rather than computed with
 * overflow checks), so that a target compares pidio's parser with an
 * independent answer rather than with pidio's own reprint. Each returns
 * what pidio's parser must return (0, -EINVAL or -ERANGE, or -ENOENT for a
 * cgroup file without a v2 line) and, on 0, the values it must give.
 */
#ifndef PIDIO_FUZZ_REFERENCE_H
#define PIDIO_FUZZ_REFERENCE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* s[0..len) as a decimal uint64_t: the digits up to the first other byte
 * are too many for 64 bits (-ERANGE), else any other byte or no digit at
 * all is -EINVAL. The range is decided on the digits as text. */
static inline int ref_u64(const char *s, size_t len, uint64_t *out) {
  static const char max[] = "18446744073709551615";
  size_t digits = 0;
  while (digits < len && s[digits] >= '0' && s[digits] <= '9')
    digits++;
  size_t zeros = 0;
  while (zeros + 1 < digits && s[zeros] == '0')
    zeros++;
  size_t sig = digits - zeros;
  if (sig > 20 || (sig == 20 && memcmp(s + zeros, max, 20) > 0))
    return -ERANGE;
  if (digits == 0 || digits != len)
    return -EINVAL;
  uint64_t v = 0;
  for (size_t i = zeros; i < len; i++)
    v = v * 10 + (uint64_t)(s[i] - '0');
  *out = v;
  return 0;
}

/* The line of buf that starts at *pos: its start and length, and whether
 * a '\n' ended it; *pos moves past it. */
static inline const char *ref_line(const char *buf, size_t len, size_t *pos,
                                   size_t *llen, int *ended) {
  const char *line = buf + *pos;
  size_t n = 0;
  while (*pos + n < len && line[n] != '\n')
    n++;
  *llen = n;
  *ended = *pos + n < len;
  *pos += n + (*ended ? 1 : 0);
  return line;
}

/* /proc/<pid>/io: lines "key: value" in any order; the seven known keys
 * exactly once each, unknown keys skipped, blanks after the colon allowed,
 * every line ended by '\n'. v[] in the order rchar .. cancelled_write_bytes. */
static inline int ref_io(const char *buf, size_t len, uint64_t v[7]) {
  static const char *const keys[7] = {"rchar",
                                      "wchar",
                                      "syscr",
                                      "syscw",
                                      "read_bytes",
                                      "write_bytes",
                                      "cancelled_write_bytes"};
  int seen[7] = {0};
  size_t pos = 0;
  while (pos < len) {
    size_t llen;
    int ended;
    const char *line = ref_line(buf, len, &pos, &llen, &ended);
    if (!ended)
      return -EINVAL;
    size_t colon = 0;
    while (colon < llen && line[colon] != ':')
      colon++;
    if (colon == llen)
      return -EINVAL;
    int k = -1;
    for (int i = 0; i < 7; i++)
      if (strlen(keys[i]) == colon && memcmp(line, keys[i], colon) == 0)
        k = i;
    if (k < 0)
      continue;
    if (seen[k])
      return -EINVAL;
    size_t at = colon + 1;
    while (at < llen && (line[at] == ' ' || line[at] == '\t'))
      at++;
    int rc = ref_u64(line + at, llen - at, &v[k]);
    if (rc != 0)
      return rc;
    seen[k] = 1;
  }
  for (int i = 0; i < 7; i++)
    if (!seen[i])
      return -EINVAL;
  return 0;
}

/* /proc/<pid>/stat: comm between the first '(' and the last ')', at most
 * 15 bytes; after it fields 3 (state, one byte), 4 (ppid), 9 (flags) ...
 * 22 (start time), each a run of bytes other than ' ' and '\n' after a run
 * of ' '. */
static inline int ref_stat(const char *buf, size_t len, char comm[16],
                           char *state, uint64_t *ppid, uint64_t *flags,
                           uint64_t *start) {
  size_t open = 0;
  while (open < len && buf[open] != '(')
    open++;
  size_t close = len;
  for (size_t i = 0; i < len; i++)
    if (buf[i] == ')')
      close = i;
  if (open == len || close == len || close < open)
    return -EINVAL;
  if (close - open - 1 > 15)
    return -EINVAL;
  memset(comm, 0, 16);
  memcpy(comm, buf + open + 1, close - open - 1);
  size_t at = close + 1;
  for (int field = 3; field <= 22; field++) {
    while (at < len && buf[at] == ' ')
      at++;
    size_t from = at;
    while (at < len && buf[at] != ' ' && buf[at] != '\n')
      at++;
    size_t n = at - from;
    if (n == 0)
      return -EINVAL;
    int rc = 0;
    if (field == 3) {
      if (n != 1)
        return -EINVAL;
      *state = buf[from];
    } else if (field == 4) {
      rc = ref_u64(buf + from, n, ppid);
      if (rc == 0 && *ppid > 4194304)
        rc = -ERANGE;
    } else if (field == 9) {
      rc = ref_u64(buf + from, n, flags);
    } else if (field == 22) {
      rc = ref_u64(buf + from, n, start);
    }
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* The first number of the first line "Key:..." of a status file: blanks
 * (' ', '\t') after the colon skipped, the number ends at the next blank
 * or the line's end; the line must be ended by '\n'. */
static inline int ref_status(const char *buf, size_t len, const char *key,
                             uint64_t *out) {
  size_t klen = strlen(key);
  size_t pos = 0;
  while (pos < len) {
    size_t llen;
    int ended;
    const char *line = ref_line(buf, len, &pos, &llen, &ended);
    if (llen < klen + 1 || memcmp(line, key, klen) != 0 || line[klen] != ':')
      continue;
    if (!ended)
      return -EINVAL;
    size_t at = klen + 1;
    while (at < llen && (line[at] == ' ' || line[at] == '\t'))
      at++;
    size_t end = at;
    while (end < llen && line[end] != ' ' && line[end] != '\t')
      end++;
    return ref_u64(line + at, end - at, out);
  }
  return -EINVAL;
}

/* /proc/loadavg: one line ended by '\n' of exactly five fields separated
 * by single spaces; the fifth is the last pid, 0..4194304. */
static inline int ref_loadavg(const char *buf, size_t len, uint64_t *pid) {
  if (len == 0 || buf[len - 1] != '\n')
    return -EINVAL;
  size_t n = len - 1;
  size_t starts[6], fields = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == 0 || buf[i - 1] == ' ') {
      if (i < n && buf[i] == ' ')
        return -EINVAL; /* a leading or a doubled space */
      if (fields == 6)
        return -EINVAL;
      starts[fields++] = i;
    }
  }
  if (fields != 5)
    return -EINVAL;
  int rc = ref_u64(buf + starts[4], n - starts[4], pid);
  if (rc == 0 && *pid > 4194304)
    rc = -ERANGE;
  return rc;
}

/* /proc/<pid>/cgroup: the path of the first line "0::<path>", which must
 * start with '/'; every line up to it must be ended by '\n' (and so must
 * that line); -ENOENT when no line is a v2 line. */
static inline int ref_cgroup(const char *buf, size_t len, size_t *off,
                             size_t *plen) {
  size_t pos = 0;
  while (pos < len) {
    size_t llen;
    int ended;
    const char *line = ref_line(buf, len, &pos, &llen, &ended);
    if (!ended)
      return -EINVAL;
    if (llen < 3 || line[0] != '0' || line[1] != ':' || line[2] != ':')
      continue;
    if (llen < 4 || line[3] != '/')
      return -EINVAL;
    *off = (size_t)(line - buf) + 3;
    *plen = llen - 3;
    return 0;
  }
  return -ENOENT;
}

#endif /* PIDIO_FUZZ_REFERENCE_H */
