/*
 * pidio_parse: pure parsers for the procfs files pidio reads.
 *
 * Text in, struct out: no file access, no allocation, no global state, so a
 * test can feed a literal string or a fixture and a fuzzer can feed anything.
 * Every number from the kernel is a uint64_t parsed strictly: digits only,
 * the end pointer checked, overflow refused. A function either fills its
 * output completely and returns 0, or returns a negative errno (-EINVAL for
 * malformed text, -ERANGE for overflow) and leaves the output undefined.
 */
#ifndef PIDIO_PARSE_H
#define PIDIO_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The seven counters of /proc/<pid>/io, in the kernel's order. */
enum pidio_field {
  PIDIO_RCHAR,
  PIDIO_WCHAR,
  PIDIO_SYSCR,
  PIDIO_SYSCW,
  PIDIO_READ_BYTES,
  PIDIO_WRITE_BYTES,
  PIDIO_CANCELLED_WRITE_BYTES,
  PIDIO_NFIELDS
};

typedef struct pidio_io {
  uint64_t v[PIDIO_NFIELDS];
} pidio_io_t;

/* "rchar", "wchar", ... indexed by enum pidio_field. */
extern const char *const pidio_field_names[PIDIO_NFIELDS];

/* What pidio needs of /proc/<pid>/stat. */
typedef struct pidio_stat {
  char comm[16]; /* at most 15 characters, NUL-terminated */
  char state;    /* 'R', 'S', 'Z', ... */
  pid_t ppid;
  uint64_t flags;      /* field 9: the kernel's PF_* flags */
  uint64_t start_time; /* field 22: clock ticks after boot */
} pidio_stat_t;

/* A kernel thread (PF_KTHREAD in stat's flags): it has an io file, but
 * never does I/O of a program, and is never a member of a block. */
#define PIDIO_PF_KTHREAD 0x00200000u

/* Parse a decimal uint64_t occupying exactly s[0..len): no sign, no space. */
int pidio_parse_u64(const char *s, size_t len, uint64_t *out);

/* Parse the text of /proc/<pid>/io. All seven keys must be present exactly
 * once and every line must end in '\n' (a missing newline means the read was
 * truncated). Unknown keys are ignored so that a newer kernel still parses. */
int pidio_parse_io(const char *buf, size_t len, pidio_io_t *out);

/* Parse /proc/<pid>/stat. The comm may contain spaces and ')', so the
 * fields are taken after the LAST ')'. */
int pidio_parse_stat(const char *buf, size_t len, pidio_stat_t *out);

/* Parse a pidfile: optional blanks, a pid in 1..PIDIO_PID_MAX, optional
 * blanks and newlines, nothing else. */
#define PIDIO_PID_MAX 4194304 /* the kernel's PID_MAX_LIMIT on 64-bit */
int pidio_parse_pidfile(const char *buf, size_t len, pid_t *out);

/* The real uid from the "Uid:" line of /proc/<pid>/status (its first of
 * four numbers: real, effective, saved, filesystem). */
int pidio_parse_status_uid(const char *buf, size_t len, uid_t *out);

/* The thread group id from the "Tgid:" line of /proc/<pid>/status: a pid
 * whose Tgid is another number is a thread, not a process. */
int pidio_parse_status_tgid(const char *buf, size_t len, pid_t *out);

/* The "SigIgn:" mask of /proc/<pid>/status (16 hex digits, bit N-1 for
 * signal N). */
int pidio_parse_status_sigign(const char *buf, size_t len, uint64_t *out);

/* The last pid the kernel allocated, the fifth field of /proc/loadavg
 * ("0.15 0.10 0.05 2/78 12505\n"), in 0..PIDIO_PID_MAX. */
int pidio_parse_loadavg_last_pid(const char *buf, size_t len, pid_t *out);

/* The cgroup v2 path from /proc/<pid>/cgroup: the path of the "0::" line.
 * Sets *path (pointing into buf) and *plen. -ENOENT when the file has no
 * v2 line (a cgroup v1 only system). */
int pidio_parse_cgroup(const char *buf, size_t len, const char **path,
                       size_t *plen);

/* Turn the NUL-separated /proc/<pid>/cmdline into arguments joined by single
 * spaces in out (always NUL-terminated, truncated to outsz - 1 bytes).
 * Returns the length written. */
size_t pidio_parse_cmdline(const char *buf, size_t len, char *out,
                           size_t outsz);

#endif /* PIDIO_PARSE_H */
