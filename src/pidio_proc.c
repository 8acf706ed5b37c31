/*
 * pidio_proc: procfs access relative to a run-time root. See pidio_proc.h.
 */
#include "pidio_build.h"

#include "pidio_proc.h"

#include "pidio_array.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* True when the root's "self" is this process: the root is a procfs of
 * this process's pid namespace. */
static bool is_own_procfs(const pidio_proc_t *p) {
  if (!pidio_proc_is_procfs(p))
    return false;
  char link[32], want[32];
  ssize_t n = readlinkat(p->root_fd, "self", link, sizeof(link) - 1);
  if (n <= 0)
    return false;
  link[n] = '\0';
  snprintf(want, sizeof(want), "%d", (int)getpid());
  return strcmp(link, want) == 0;
}

int pidio_proc_open(pidio_proc_t *p, const char *root) {
  p->root_fd = -1;
  p->loadavg_fd = -1;
  p->root = strdup(root);
  if (p->root == NULL)
    return -ENOMEM;
  int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    free(p->root);
    p->root = NULL;
    return -e;
  }
  p->root_fd = fd;
  if (is_own_procfs(p))
    p->loadavg_fd = openat(fd, "loadavg", O_RDONLY | O_CLOEXEC);
  return 0;
}

bool pidio_proc_is_procfs(const pidio_proc_t *p) {
  struct statfs sf;
  return fstatfs(p->root_fd, &sf) == 0 &&
         sf.f_type == 0x9fa0; /* PROC_SUPER_MAGIC */
}

void pidio_proc_close(pidio_proc_t *p) {
  if (p->root_fd >= 0) {
    close(p->root_fd);
    if (p->loadavg_fd >= 0)
      close(p->loadavg_fd);
  }
  p->root_fd = -1;
  p->loadavg_fd = -1;
  free(p->root);
  p->root = NULL;
}

void pidio_pidlist_free(pidio_pidlist_t *l) {
  free(l->e);
  l->e = NULL;
  l->n = l->cap = 0;
}

int pidio_pident_cmp(const void *a, const void *b) {
  pid_t x = ((const pidio_pident_t *)a)->pid;
  pid_t y = ((const pidio_pident_t *)b)->pid;
  return (x > y) - (x < y);
}

/* glibc 2.36 has getdents64 but older ones do not: use the system call. */
struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

int pidio_proc_list(const pidio_proc_t *p, pidio_pidlist_t *out) {
  int fd = openat(p->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;

  out->n = 0;
  int sorted = 1;
  /* 32 KiB holds about a thousand entries per system call. */
  char buf[32768] __attribute__((aligned(8)));
  for (;;) {
    long nread = syscall(SYS_getdents64, fd, buf, sizeof(buf));
    if (nread < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (nread == 0)
      break;
    for (long off = 0; off < nread;) {
      const struct linux_dirent64 *d = (const void *)(buf + off);
      off += d->d_reclen;
      const char *name = d->d_name;
      if (name[0] < '1' || name[0] > '9')
        continue; /* ".", "self", "sys", ... */
      uint64_t v;
      if (pidio_parse_u64(name, strlen(name), &v) != 0 || v > PIDIO_PID_MAX)
        continue;
      pidio_pident_t *e =
          pidio_array_grow(out->e, &out->cap, out->n + 1, sizeof(*e), 256);
      if (e == NULL) {
        close(fd);
        return -ENOMEM;
      }
      out->e = e;
      if (out->n > 0 && out->e[out->n - 1].pid >= (pid_t)v)
        sorted = 0;
      out->e[out->n++] = (pidio_pident_t){.pid = (pid_t)v, .ino = d->d_ino};
    }
  }
  close(fd);
  /* procfs lists pids in order; a fixture directory need not. */
  if (!sorted)
    qsort(out->e, out->n, sizeof(*out->e), pidio_pident_cmp);
  return 0;
}

int pidio_proc_open_pid(const pidio_proc_t *p, pid_t pid) {
  char name[16];
  snprintf(name, sizeof(name), "%d", (int)pid);
  int fd =
      openat(p->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

static ssize_t read_retry(int fd, char *buf, size_t n, int use_pread) {
  for (;;) {
    ssize_t r = use_pread ? pread(fd, buf, n, 0) : read(fd, buf, n);
    if (r >= 0 || errno != EINTR)
      return r;
  }
}

int pidio_proc_read_at(int dirfd, const char *name, char *buf, size_t bufsz,
                       size_t *len, int *truncated) {
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t got = 0;
  int more = 0;
  /* procfs files may deliver their content over several reads. */
  while (got < bufsz - 1) {
    ssize_t r = read_retry(fd, buf + got, bufsz - 1 - got, 0);
    if (r < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  if (got == bufsz - 1) {
    char c;
    more = read_retry(fd, &c, 1, 0) == 1;
  }
  close(fd);
  buf[got] = '\0';
  if (more && truncated == NULL)
    return -EFBIG;
  if (truncated != NULL)
    *truncated = more;
  *len = got;
  return 0;
}

int pidio_proc_read_long(int dirfd, const char *name, char *buf, size_t bufsz,
                         size_t cap, char **out, size_t *len, int *truncated) {
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  char *b = buf;
  size_t sz = bufsz, got = 0;
  int more = 0, rc = 0;
  for (;;) {
    if (got == sz - 1) {
      if (sz - 1 >= cap) {
        char c;
        more = read_retry(fd, &c, 1, 0) == 1;
        break;
      }
      size_t nsz = sz - 1 < cap / 2 ? 2 * sz : cap + 1;
      char *nb = b == buf ? malloc(nsz) : realloc(b, nsz);
      if (nb == NULL) {
        rc = -ENOMEM;
        break;
      }
      if (b == buf)
        memcpy(nb, buf, got);
      b = nb;
      sz = nsz;
    }
    ssize_t r = read_retry(fd, b + got, sz - 1 - got, 0);
    if (r < 0) {
      rc = -errno;
      break;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  if (rc != 0) {
    if (b != buf)
      free(b);
    return rc;
  }
  b[got] = '\0';
  *out = b;
  *len = got;
  *truncated = more;
  return 0;
}

int pidio_proc_last_pid(const pidio_proc_t *p, pid_t *out) {
  if (p->root_fd < 0 || p->loadavg_fd < 0)
    return -ENOTSUP;
  char buf[128];
  ssize_t r = read_retry(p->loadavg_fd, buf, sizeof(buf), 1);
  if (r < 0)
    return -errno;
  if ((size_t)r == sizeof(buf))
    return -EINVAL;
  return pidio_parse_loadavg_last_pid(buf, (size_t)r, out);
}

int pidio_proc_lookup(const pidio_proc_t *p, pid_t pid, pidio_pident_t *out) {
  char name[16];
  snprintf(name, sizeof(name), "%d", (int)pid);
  struct stat st;
  if (fstatat(p->root_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT || errno == ESRCH ? 0 : -errno;
  if (!S_ISDIR(st.st_mode))
    return 0;
  *out = (pidio_pident_t){.pid = pid, .ino = (uint64_t)st.st_ino};
  return 1;
}

int pidio_proc_probe(const pidio_proc_t *p, pid_t pid, pidio_pident_t *out) {
  int dfd = pidio_proc_open_pid(p, pid);
  if (dfd < 0)
    return dfd == -ENOENT || dfd == -ESRCH ? 0 : dfd;
  struct stat st;
  char buf[512]; /* Tgid is the fourth line, after a name of at most 64 */
  size_t len = 0;
  int more;
  int rc = fstat(dfd, &st) != 0
               ? -errno
               : pidio_proc_read_at(dfd, "status", buf, sizeof(buf), &len,
                                    &more);
  close(dfd);
  if (rc != 0)
    return rc == -ENOENT || rc == -ESRCH ? 0 : rc;
  pid_t tgid;
  if ((rc = pidio_parse_status_tgid(buf, len, &tgid)) != 0)
    return rc;
  if (tgid != pid)
    return 0;
  *out = (pidio_pident_t){.pid = pid, .ino = (uint64_t)st.st_ino};
  return 1;
}

int pidio_proc_open_io(int pid_dirfd) {
  int fd = openat(pid_dirfd, "io", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int pidio_proc_read_io(int io_fd, pidio_io_t *out) {
  /* The kernel's io file is at most 7 * (22 + 21) bytes. A buffer that a
   * read fills completely is a file that is not the kernel's. */
  char buf[512];
  ssize_t r = read_retry(io_fd, buf, sizeof(buf), 1);
  if (r < 0)
    return -errno;
  if ((size_t)r == sizeof(buf))
    return -EINVAL;
  return pidio_parse_io(buf, (size_t)r, out);
}

int pidio_proc_read_absorbed(int pid_dirfd, pidio_io_t *out) {
  int tfd = openat(pid_dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (tfd < 0)
    return -errno;
  pidio_io_t live = {{0}};
  char buf[4096] __attribute__((aligned(8)));
  int rc = 0;
  for (;;) {
    long nread = syscall(SYS_getdents64, tfd, buf, sizeof(buf));
    if (nread < 0) {
      rc = -errno;
      break;
    }
    if (nread == 0)
      break;
    for (long off = 0; off < nread && rc == 0;) {
      const struct linux_dirent64 *d = (const void *)(buf + off);
      off += d->d_reclen;
      /* Only a whole task id, as pidio_proc_list takes pids: "1x" is not
       * a task, and its io must not be added in. */
      uint64_t tid;
      if (d->d_name[0] < '1' || d->d_name[0] > '9' ||
          pidio_parse_u64(d->d_name, strlen(d->d_name), &tid) != 0 ||
          tid > PIDIO_PID_MAX)
        continue;
      char rel[32];
      snprintf(rel, sizeof(rel), "%s/io", d->d_name);
      int fd = openat(tfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT || errno == ESRCH)
          continue; /* exited meanwhile: its io is in the total now */
        rc = -errno;
        break;
      }
      pidio_io_t t;
      int r = pidio_proc_read_io(fd, &t);
      close(fd);
      if (r == -ESRCH || r == -ENOENT)
        continue;
      if (r != 0) {
        rc = r;
        break;
      }
      /* A sum that does not fit is no figure of the kernel's: refused,
       * not wrapped into a small number that would be subtracted. */
      for (int f = 0; f < PIDIO_NFIELDS && rc == 0; f++)
        if (__builtin_add_overflow(live.v[f], t.v[f], &live.v[f]))
          rc = -ERANGE;
    }
    if (rc != 0)
      break;
  }
  close(tfd);
  if (rc != 0)
    return rc;
  int fd = pidio_proc_open_io(pid_dirfd);
  if (fd < 0)
    return fd;
  pidio_io_t whole;
  rc = pidio_proc_read_io(fd, &whole);
  close(fd);
  if (rc != 0)
    return rc;
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    out->v[f] = whole.v[f] > live.v[f] ? whole.v[f] - live.v[f] : 0;
  return 0;
}

int pidio_proc_ignores_sigchld(int pid_dirfd) {
  char buf[4096];
  size_t len = 0;
  int more = 0; /* SigIgn comes well before the long lists at the end */
  int rc = pidio_proc_read_at(pid_dirfd, "status", buf, sizeof(buf), &len,
                              &more);
  if (rc != 0)
    return rc;
  uint64_t mask;
  if ((rc = pidio_parse_status_sigign(buf, len, &mask)) != 0)
    return rc;
  return (mask >> (SIGCHLD - 1)) & 1;
}

int pidio_proc_read_stat(int pid_dirfd, pidio_stat_t *out) {
  char buf[1024];
  size_t len;
  int rc = pidio_proc_read_at(pid_dirfd, "stat", buf, sizeof(buf), &len, NULL);
  if (rc != 0)
    return rc == -EFBIG ? -EINVAL : rc;
  return pidio_parse_stat(buf, len, out);
}

int pidio_read_pidfile(const char *path, pid_t *out) {
  /* Opening a fifo for reading is not free of side effects, even with
   * O_NONBLOCK: it releases a writer blocked in open(), which then gets
   * EPIPE. So the path (symlinks followed) is first opened with O_PATH,
   * which opens nothing behind it, and only a regular file is then opened
   * for reading, through /proc/self/fd: that reopens the very inode that
   * was checked, so a file swapped for a fifo in between is never opened. */
  int pfd = open(path, O_PATH | O_CLOEXEC);
  if (pfd < 0)
    return -errno;
  struct stat st;
  if (fstat(pfd, &st) != 0) {
    int e = errno;
    close(pfd);
    return -e;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > 64) {
    close(pfd);
    return S_ISREG(st.st_mode) ? -EFBIG : -ENOTSUP;
  }
  char self[40];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
  int fd = open(self, O_RDONLY | O_NOCTTY | O_CLOEXEC);
  int e = errno;
  if (fd < 0 && (e == ENOENT || e == ENOTDIR))
    /* No procfs at /proc (ProcRoot is elsewhere). Opening the path itself
     * would open whatever is there by then: a fifo swapped in after the
     * check would release its blocked writer even with O_NONBLOCK. Not
     * read at all, and said so. */
    e = ENODEV;
  close(pfd);
  if (fd < 0)
    return -e;
  char buf[65];
  ssize_t r = read_retry(fd, buf, sizeof(buf), 0);
  e = errno;
  close(fd);
  if (r < 0)
    return -e;
  if ((size_t)r == sizeof(buf))
    return -EFBIG; /* grew past 64 bytes since fstat */
  return pidio_parse_pidfile(buf, (size_t)r, out);
}

const char *pidio_pidfile_strerror(int err) {
  switch (err) {
  case -EINVAL:
  case -ERANGE:
    return "does not hold a process id";
  case -EFBIG:
    return "is larger than 64 bytes, not a pidfile";
  case -ENOTSUP:
    return "is not a regular file (a fifo, device or directory is never read)";
  case -ENOENT:
    return "does not exist";
  case -EACCES:
    return "may not be read (permission denied)";
  case -ENODEV:
    return "is not read without a procfs at /proc (it is reopened through "
           "/proc/self/fd, so that a fifo swapped in is never opened)";
  default:
    return "cannot be read";
  }
}

long pidio_proc_hz(void) {
  long hz = sysconf(_SC_CLK_TCK);
  return hz > 0 ? hz : 100;
}

uint64_t pidio_proc_boot_ticks(void) {
  /* A process's start time counts from boot, suspend included: BOOTTIME.
   * Only a kernel before 2.6.39 lacks it; MONOTONIC is then the nearest
   * (it misses time suspended), and 0 if even that fails, rather than
   * whatever the stack held. */
  struct timespec ts = {0, 0};
  if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0 &&
      clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    ts = (struct timespec){0, 0};
  long hz = pidio_proc_hz();
  return (uint64_t)ts.tv_sec * (uint64_t)hz +
         (uint64_t)ts.tv_nsec / (1000000000u / (uint64_t)hz);
}
