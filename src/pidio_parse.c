/*
 * pidio_parse: pure parsers for procfs text. See pidio_parse.h.
 */
#include "pidio_build.h"

#include "pidio_parse.h"

#include <errno.h>
#include <string.h>

const char *const pidio_field_names[PIDIO_NFIELDS] = {
    "rchar",
    "wchar",
    "syscr",
    "syscw",
    "read_bytes",
    "write_bytes",
    "cancelled_write_bytes",
};

int pidio_parse_u64(const char *s, size_t len, uint64_t *out) {
  /* Written by hand rather than with strtoull: strtoull accepts a sign,
   * leading blanks and "0x", and needs a NUL-terminated string, none of
   * which holds for a slice of a read buffer. */
  if (len == 0)
    return -EINVAL;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < '0' || c > '9')
      return -EINVAL;
    uint64_t d = (uint64_t)(c - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -ERANGE;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

static int field_index(const char *key, size_t len) {
  for (int i = 0; i < PIDIO_NFIELDS; i++)
    if (strlen(pidio_field_names[i]) == len &&
        memcmp(pidio_field_names[i], key, len) == 0)
      return i;
  return -1;
}

/* The kernel's own layout: the seven keys in its order, "key: value\n",
 * and nothing else. Parsed here without searching for keys or line ends,
 * as this runs for every member every interval. Returns 1 when buf is
 * exactly that (then *out is complete), 0 for anything else, which the
 * general parser below then accepts or refuses: it gives the same result
 * for every input this one accepts. */
static const unsigned char io_key_len[PIDIO_NFIELDS] = {5, 5, 5, 5, 10, 11, 21};

static int parse_io_kernel_layout(const char *buf, size_t len,
                                  pidio_io_t *out) {
  const char *p = buf, *end = buf + len;
  for (int f = 0; f < PIDIO_NFIELDS; f++) {
    size_t k = io_key_len[f];
    if ((size_t)(end - p) < k + 4 || memcmp(p, pidio_field_names[f], k) != 0 ||
        p[k] != ':' || p[k + 1] != ' ')
      return 0;
    p += k + 2;
    const char *digits = p;
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
      if (__builtin_mul_overflow(v, 10u, &v) ||
          __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
        return 0;
      p++;
    }
    if (p == digits || p == end || *p != '\n')
      return 0;
    p++;
    out->v[f] = v;
  }
  return p == end;
}

int pidio_parse_io(const char *buf, size_t len, pidio_io_t *out) {
  if (parse_io_kernel_layout(buf, len, out))
    return 0;
  unsigned seen = 0;
  size_t pos = 0;

  while (pos < len) {
    const char *line = buf + pos;
    const char *nl = memchr(line, '\n', len - pos);
    if (nl == NULL)
      return -EINVAL; /* truncated: the kernel ends every line */
    size_t llen = (size_t)(nl - line);
    pos += llen + 1;

    const char *colon = memchr(line, ':', llen);
    if (colon == NULL)
      return -EINVAL;
    size_t klen = (size_t)(colon - line);
    const char *val = colon + 1;
    size_t vlen = llen - klen - 1;
    /* The kernel prints "key: value"; tolerate any run of blanks. */
    while (vlen > 0 && (*val == ' ' || *val == '\t')) {
      val++;
      vlen--;
    }

    int idx = field_index(line, klen);
    if (idx < 0)
      continue; /* a key a newer kernel added */
    if (seen & (1u << idx))
      return -EINVAL; /* a key twice: not a file the kernel wrote */
    uint64_t v;
    int rc = pidio_parse_u64(val, vlen, &v);
    if (rc != 0)
      return rc;
    out->v[idx] = v;
    seen |= 1u << idx;
  }
  return seen == (1u << PIDIO_NFIELDS) - 1 ? 0 : -EINVAL;
}

/* Next blank-separated token of s[*pos..len). */
static int next_token(const char *s, size_t len, size_t *pos, const char **tok,
                      size_t *tlen) {
  size_t p = *pos;
  while (p < len && s[p] == ' ')
    p++;
  size_t start = p;
  while (p < len && s[p] != ' ' && s[p] != '\n')
    p++;
  if (p == start)
    return -EINVAL;
  *tok = s + start;
  *tlen = p - start;
  *pos = p;
  return 0;
}

static int parse_pid(const char *s, size_t len, pid_t *out) {
  uint64_t v;
  int rc = pidio_parse_u64(s, len, &v);
  if (rc != 0)
    return rc;
  if (v > PIDIO_PID_MAX)
    return -ERANGE;
  *out = (pid_t)v;
  return 0;
}

int pidio_parse_stat(const char *buf, size_t len, pidio_stat_t *out) {
  const char *open = memchr(buf, '(', len);
  if (open == NULL)
    return -EINVAL;
  const char *close = NULL;
  for (size_t i = len; i > 0; i--)
    if (buf[i - 1] == ')') {
      close = buf + i - 1;
      break;
    }
  if (close == NULL || close < open)
    return -EINVAL;

  size_t clen = (size_t)(close - open - 1);
  if (clen >= sizeof(out->comm))
    return -EINVAL; /* the kernel caps comm at 15 bytes */
  memcpy(out->comm, open + 1, clen);
  out->comm[clen] = '\0';

  /* Fields after the comm: 3 state, 4 ppid, 9 flags, 22 starttime. Some in
   * between are signed (cutime, priority, nice), so only the ones used are
   * parsed as numbers; the others are only counted. */
  size_t pos = (size_t)(close + 1 - buf);
  const char *tok;
  size_t tlen;
  for (int field = 3; field <= 22; field++) {
    int rc = next_token(buf, len, &pos, &tok, &tlen);
    if (rc != 0)
      return rc;
    if (field == 3) {
      if (tlen != 1)
        return -EINVAL;
      out->state = tok[0];
    } else if (field == 4) {
      if ((rc = parse_pid(tok, tlen, &out->ppid)) != 0)
        return rc;
    } else if (field == 9) {
      if ((rc = pidio_parse_u64(tok, tlen, &out->flags)) != 0)
        return rc;
    } else if (field == 22) {
      if ((rc = pidio_parse_u64(tok, tlen, &out->start_time)) != 0)
        return rc;
    }
  }
  return 0;
}

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int pidio_parse_pidfile(const char *buf, size_t len, pid_t *out) {
  size_t a = 0, b = len;
  while (a < b && is_blank(buf[a]))
    a++;
  while (b > a && is_blank(buf[b - 1]))
    b--;
  pid_t pid;
  int rc = parse_pid(buf + a, b - a, &pid);
  if (rc != 0)
    return rc;
  if (pid < 1)
    return -EINVAL;
  *out = pid;
  return 0;
}

size_t pidio_parse_cmdline(const char *buf, size_t len, char *out,
                           size_t outsz) {
  if (outsz == 0)
    return 0;
  /* The kernel ends the last argument with a NUL; a process that rewrote
   * its argv may leave several. Drop them all. */
  while (len > 0 && buf[len - 1] == '\0')
    len--;
  size_t n = len < outsz - 1 ? len : outsz - 1;
  for (size_t i = 0; i < n; i++)
    out[i] = buf[i] == '\0' ? ' ' : buf[i];
  out[n] = '\0';
  return n;
}

/* The first number after "<key>:" on its line of a status file. */
static int status_number(const char *buf, size_t len, const char *key,
                         uint64_t *out) {
  size_t klen = strlen(key);
  size_t pos = 0;
  while (pos < len) {
    const char *line = buf + pos;
    const char *nl = memchr(line, '\n', len - pos);
    size_t llen = nl != NULL ? (size_t)(nl - line) : len - pos;
    pos += llen + 1;
    if (llen <= klen || memcmp(line, key, klen) != 0 || line[klen] != ':')
      continue;
    if (nl == NULL)
      return -EINVAL; /* truncated in the line we need */
    size_t p = klen + 1;
    while (p < llen && (line[p] == '\t' || line[p] == ' '))
      p++;
    size_t q = p;
    while (q < llen && line[q] != '\t' && line[q] != ' ')
      q++;
    return pidio_parse_u64(line + p, q - p, out);
  }
  return -EINVAL;
}

/* The line of buf that starts with key, without its newline: its start
 * and length (*llen), or NULL when there is none. -EINVAL in *err when the
 * file ends without a newline before the line is found (the kernel ends
 * every line: the file was cut). */
static const char *line_with(const char *buf, size_t len, const char *key,
                             size_t *llen, int *err) {
  size_t klen = strlen(key);
  size_t pos = 0;
  *err = -EINVAL;
  while (pos < len) {
    const char *line = buf + pos;
    const char *nl = memchr(line, '\n', len - pos);
    if (nl == NULL)
      return NULL;
    *llen = (size_t)(nl - line);
    pos += *llen + 1;
    if (*llen >= klen && memcmp(line, key, klen) == 0)
      return line;
  }
  return NULL;
}

int pidio_parse_status_uid(const char *buf, size_t len, uid_t *out) {
  uint64_t v;
  int rc = status_number(buf, len, "Uid", &v);
  if (rc != 0)
    return rc;
  if (v > (uid_t)-1 - 1) /* (uid_t)-1 is "no uid", never a process's */
    return -ERANGE;
  *out = (uid_t)v;
  return 0;
}

int pidio_parse_status_tgid(const char *buf, size_t len, pid_t *out) {
  uint64_t v;
  int rc = status_number(buf, len, "Tgid", &v);
  if (rc != 0)
    return rc;
  if (v == 0)
    return -EINVAL;
  if (v > PIDIO_PID_MAX)
    return -ERANGE;
  *out = (pid_t)v;
  return 0;
}

int pidio_parse_status_sigign(const char *buf, size_t len, uint64_t *out) {
  size_t llen, p = 7;
  int err;
  const char *line = line_with(buf, len, "SigIgn:", &llen, &err);
  if (line == NULL)
    return err;
  while (p < llen && (line[p] == '\t' || line[p] == ' '))
    p++;
  if (llen - p != 16)
    return -EINVAL;
  uint64_t v = 0;
  for (; p < llen; p++) {
    char c = line[p];
    unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                 : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                        : 16;
    if (d == 16)
      return -EINVAL;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

int pidio_parse_loadavg_last_pid(const char *buf, size_t len, pid_t *out) {
  /* "0.15 0.10 0.05 2/78 12505\n": five fields separated by single
   * spaces, the last one the pid. */
  if (len == 0 || buf[len - 1] != '\n')
    return -EINVAL;
  len--;
  size_t fields = 1, last = 0;
  for (size_t i = 0; i < len; i++)
    if (buf[i] == ' ') {
      if (i == 0 || buf[i - 1] == ' ')
        return -EINVAL;
      fields++;
      last = i + 1;
    }
  if (fields != 5)
    return -EINVAL;
  uint64_t v;
  int rc = pidio_parse_u64(buf + last, len - last, &v);
  if (rc != 0)
    return rc;
  if (v > PIDIO_PID_MAX)
    return -ERANGE;
  *out = (pid_t)v;
  return 0;
}

int pidio_parse_cgroup(const char *buf, size_t len, const char **path,
                       size_t *plen) {
  size_t pos = 0;
  while (pos < len) {
    const char *line = buf + pos;
    const char *nl = memchr(line, '\n', len - pos);
    if (nl == NULL)
      return -EINVAL; /* the kernel ends every line */
    size_t llen = (size_t)(nl - line);
    pos += llen + 1;
    if (llen >= 3 && memcmp(line, "0::", 3) == 0) {
      if (llen == 3 || line[3] != '/')
        return -EINVAL;
      *path = line + 3;
      *plen = llen - 3;
      return 0;
    }
  }
  return -ENOENT;
}
