/*
 * pidio_bpf: the kernel-side (BPF) reader, user side. See pidio_bpf.h.
 */
#include "pidio_build.h"

#include "pidio_bpf.h"

#include "bpf/pidio_bpf_rec.h"
#include "pidio.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A busy snapshot settles within microseconds as a rule (measured: 48-103
 * µs on average, 12.6 ms at worst, in a storm of thread exits): re-read a
 * flagged process this many times, pausing between tries, before handing
 * it over flagged. */
#define REREAD_TRIES 64
#define REREAD_PAUSE_NS 250000L
/* The sweep of kernel entries left by processes gone without a record. */
#define SWEEP_EVERY_NS (60LL * 1000000000LL)

struct pidio_bpf {
  struct pidio_kern *skel;
  struct ring_buffer *ring;
  long hz;
  int iter_link_fd; /* the whole-machine iterator (the skeleton's link) */

  /* Processes seen in the last pass, sorted, for the sweep. */
  struct pidio_bpf_key *seen;
  size_t nseen, seen_cap;
  /* Processes to read again after the pass. */
  struct pidio_bpf_key *again;
  size_t nagain, again_cap;

  int64_t next_sweep_ns;
  /* The drain's callback, for the ring buffer's. */
  pidio_bpf_exit_fn drain_fn;
  void *drain_ctx;
  int drain_err;

  uint64_t delivered, bad, rereads, unsettled, swept;
};

/* ---- libbpf's messages ---- */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pidio_bpf_log_fn log_fn;
static void *log_ctx;

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
                        va_list ap) __attribute__((format(printf, 2, 0)));
static int libbpf_print(enum libbpf_print_level level, const char *fmt,
                        va_list ap) {
  char msg[1024];
  int lvl = level == LIBBPF_WARN ? 0 : level == LIBBPF_INFO ? 1 : 2;
  vsnprintf(msg, sizeof(msg), fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && msg[n - 1] == '\n')
    msg[--n] = '\0';
  pthread_mutex_lock(&log_lock);
  if (log_fn != NULL && n > 0)
    log_fn(lvl, msg, log_ctx);
  pthread_mutex_unlock(&log_lock);
  return (int)n;
}

static void install_print(void) { libbpf_set_print(libbpf_print); }

void pidio_bpf_set_logger(pidio_bpf_log_fn fn, void *ctx) {
  pthread_mutex_lock(&log_lock);
  log_fn = fn;
  log_ctx = ctx;
  pthread_mutex_unlock(&log_lock);
  pthread_once(&log_once, install_print);
}

/* ---- decoding ---- */

size_t pidio_bpf_proc_rec_size(void) {
  return sizeof(struct pidio_bpf_proc_rec);
}
size_t pidio_bpf_exit_rec_size(void) {
  return sizeof(struct pidio_bpf_exit_rec);
}

/* ns after boot to /proc's clock ticks, as the kernel's nsec_to_clock_t. */
static uint64_t ns_to_ticks(uint64_t ns, long hz) {
  return ns / (1000000000ULL / (uint64_t)hz);
}

/* Copy a kernel string field that may lack its NUL. */
static void copy_str(char *dst, size_t dstsz, const char *src, size_t srcsz) {
  size_t n = strnlen(src, srcsz);
  if (n >= dstsz)
    n = dstsz - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static void decode_common(const struct pidio_bpf_proc_rec *r, long hz,
                          pidio_bpf_proc_t *out) {
  memset(out, 0, sizeof(*out));
  out->pid = (pid_t)r->tgid;
  out->start_ns = r->start_ns;
  out->start = ns_to_ticks(r->start_ns, hz);
  out->ppid = (pid_t)r->ppid;
  out->pstart = ns_to_ticks(r->pstart_ns, hz);
  out->uid = (uid_t)r->uid;
  copy_str(out->comm, sizeof(out->comm), r->comm, sizeof(r->comm));
  for (int i = 0; i < PIDIO_NFIELDS; i++)
    out->io.v[i] = r->io[i];
  out->blkio_delay_ns = r->blkio_delay_ns;
  out->nthreads = r->nthreads;
  out->flags = r->flags;
}

_Static_assert(sizeof(struct pidio_bpf_counter_slot) == 64 &&
                   (PIDIO_BPF_COUNTER_SLOTS &
                    (PIDIO_BPF_COUNTER_SLOTS - 1)) == 0,
               "a cache line per counter slot, slots a power of two");
_Static_assert(PIDIO_BPF_NIO == PIDIO_NFIELDS, "io fields in /proc's order");
_Static_assert(PIDIO_BPF_F_UNSTABLE == PIDIO_BPF_UNSTABLE &&
                   PIDIO_BPF_F_NO_DELAY == PIDIO_BPF_NO_DELAY &&
                   PIDIO_BPF_F_EXEC_SEEN == PIDIO_BPF_EXEC_SEEN &&
                   PIDIO_BPF_F_ARGS_CUT == PIDIO_BPF_ARGS_CUT &&
                   PIDIO_BPF_F_ENDED == PIDIO_BPF_ENDED &&
                   PIDIO_BPF_F_CGROUP == PIDIO_BPF_CGROUP_SEEN &&
                   PIDIO_BPF_F_EXE == PIDIO_BPF_EXE_SEEN,
               "the flags are the BPF side's");

int pidio_bpf_decode_proc(const void *data, size_t len, long hz,
                          pidio_bpf_proc_t *out) {
  struct pidio_bpf_proc_rec r;
  if (len != sizeof(r) || hz <= 0 || 1000000000L % hz != 0)
    return -EINVAL;
  memcpy(&r, data, sizeof(r));
  if (r.size != sizeof(r) || r.kind != PIDIO_BPF_REC_PROC || r.tgid == 0)
    return -EINVAL;
  decode_common(&r, hz, out);
  return 0;
}

/* A path the kernel side walked (len bytes: components leaf first, each
 * NUL-terminated) as a path from the root, into out (of outsz >=
 * PIDIO_BPF_PATH + 1). false for anything a walk could not have written:
 * an empty component, a '/' in one, a last one without its NUL, more
 * components than a walk takes. No component at all is the root. */
static bool path_from_rec(const char *rec, size_t len, char *out,
                          size_t outsz) {
  const char *comp[PIDIO_BPF_DEPTH];
  size_t clen[PIDIO_BPF_DEPTH];
  size_t n = 0, off = 0;
  if (len > PIDIO_BPF_PATH)
    return false;
  while (off < len) {
    size_t l = strnlen(rec + off, len - off);
    if (l == 0 || off + l == len || n == PIDIO_BPF_DEPTH ||
        memchr(rec + off, '/', l) != NULL)
      return false;
    comp[n] = rec + off;
    clen[n++] = l;
    off += l + 1;
  }
  size_t w = 0;
  if (n == 0)
    out[w++] = '/';
  while (n > 0) {
    n--;
    if (w + 1 + clen[n] + 1 > outsz)
      return false;
    out[w++] = '/';
    memcpy(out + w, comp[n], clen[n]);
    w += clen[n];
  }
  out[w] = '\0';
  return true;
}

_Static_assert(sizeof(((pidio_bpf_exit_t *)0)->cgroup) >= PIDIO_BPF_PATH + 1 &&
                   sizeof(((pidio_bpf_exit_t *)0)->exe) >= PIDIO_BPF_PATH + 1,
               "room for every path the kernel side writes");
_Static_assert(offsetof(struct pidio_bpf_exit_rec, paths) ==
                   PIDIO_BPF_EXIT_HEAD,
               "the head the kernel side sends");

int pidio_bpf_decode_exit(const void *data, size_t len, long hz,
                          pidio_bpf_exit_t *out) {
  struct pidio_bpf_exit_rec r;
  if (len < PIDIO_BPF_EXIT_HEAD || len > sizeof(r) || hz <= 0 ||
      1000000000L % hz != 0)
    return -EINVAL;
  memset(&r, 0, sizeof(r));
  memcpy(&r, data, len);
  /* Sent as long as its paths: the two lengths must make len. */
  if (r.p.size != sizeof(r) || r.p.kind != PIDIO_BPF_REC_EXIT ||
      r.p.tgid == 0 || (r.p.flags & PIDIO_BPF_UNSTABLE) ||
      r.exe_len > PIDIO_BPF_PATH || r.cgroup_len > PIDIO_BPF_PATH ||
      len != PIDIO_BPF_EXIT_HEAD + (size_t)r.exe_len + r.cgroup_len)
    return -EINVAL;
  memset(out, 0, sizeof(*out));
  decode_common(&r.p, hz, &out->p);
  out->exit_ns = r.exit_ns;
  if (r.fork_ppid != 0) {
    out->fork_ppid = (pid_t)r.fork_ppid;
    out->fork_pstart = ns_to_ticks(r.fork_pstart_ns, hz);
  }
  if (!(r.p.flags & PIDIO_BPF_EXEC_SEEN) ||
      !(r.p.flags & PIDIO_BPF_EXE_SEEN) ||
      !path_from_rec(r.paths, r.exe_len, out->exe, sizeof(out->exe))) {
    out->p.flags &= ~(unsigned)PIDIO_BPF_F_EXE;
    out->exe[0] = '\0';
  }
  if (r.p.flags & PIDIO_BPF_EXEC_SEEN) {
    /* The kernel side copied up to PIDIO_BPF_ARGS bytes of the
     * NUL-separated arguments, zero-filled after them. */
    size_t n = sizeof(r.args);
    while (n > 0 && r.args[n - 1] == '\0')
      n--;
    pidio_parse_cmdline(r.args, n, out->cmdline, sizeof(out->cmdline));
  }
  if (!(r.p.flags & PIDIO_BPF_CGROUP_SEEN) ||
      !path_from_rec(r.paths + r.exe_len, r.cgroup_len, out->cgroup,
                     sizeof(out->cgroup))) {
    out->p.flags &= ~(unsigned)PIDIO_BPF_F_CGROUP;
    out->cgroup[0] = '\0';
  }
  return 0;
}

/* ---- open and close ---- */

static void set_why(char *why, size_t whysz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t whysz, const char *fmt, ...) {
  if (why == NULL || whysz == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whysz, fmt, ap);
  va_end(ap);
}

/* Why a load failed, with the remedy, from libbpf's errno (which may be
 * one of libbpf's own, above 4000). */
static void explain_load(int err, const char *btf_path, char *why,
                         size_t whysz) {
  char msg[128];
  if (libbpf_strerror(err, msg, sizeof(msg)) != 0)
    snprintf(msg, sizeof(msg), "error %d", err);
  struct stat st;
  if (btf_path != NULL) {
    set_why(why, whysz,
            "the kernel's BTF type information could not be used from %s "
            "(%s)",
            btf_path, msg);
  } else if (stat("/sys/kernel/btf/vmlinux", &st) != 0) {
    set_why(why, whysz,
            "the kernel has no BTF type information "
            "(/sys/kernel/btf/vmlinux is missing): it needs a kernel built "
            "with CONFIG_DEBUG_INFO_BTF=y");
  } else if (err == EPERM || err == EACCES) {
    set_why(why, whysz,
            "loading BPF programs was refused (%s): run as root, or grant "
            "the capabilities CAP_BPF and CAP_PERFMON (kernel 5.8 or later)",
            msg);
  } else {
    set_why(why, whysz,
            "the kernel cannot run pidio's BPF programs (%s): they need its "
            "BTF type information and Linux 6.7 or later (task iterators, "
            "BTF tracepoints, thread iteration from BPF)",
            msg);
  }
}

void pidio_bpf_close(pidio_bpf_t *b) {
  if (b == NULL)
    return;
  ring_buffer__free(b->ring);
  /* Destroys the links (the iterator's too), the programs and the maps. */
  pidio_kern__destroy(b->skel);
  free(b->seen);
  free(b->again);
  free(b);
}

static int on_ring_record(void *ctx, void *data, size_t len);

static bool is_pow2(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

static int64_t boot_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int pidio_bpf_open(pidio_bpf_t **out, const pidio_bpf_opts_t *opts,
                   char *why, size_t whysz) {
  pidio_bpf_opts_t o = {0};
  if (opts != NULL)
    o = *opts;
  size_t ring = o.ring_bytes ? o.ring_bytes : PIDIO_BPF_RING_DEFAULT;
  uint32_t procs = o.max_procs ? o.max_procs : PIDIO_BPF_PROCS_DEFAULT;
  long page = sysconf(_SC_PAGESIZE);
  if (!is_pow2(ring) || ring < (size_t)page || ring > ((size_t)1 << 30)) {
    set_why(why, whysz,
            "the ring buffer's size must be a power of two from %ld bytes "
            "to 1 GiB, not %zu",
            page, ring);
    return -EINVAL;
  }
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0 || 1000000000L % hz != 0) {
    set_why(why, whysz, "unexpected clock tick rate %ld", hz);
    return -EINVAL;
  }
  /* Route libbpf's messages somewhere (nowhere, if the caller set no
   * logger) rather than to stderr. */
  pthread_once(&log_once, install_print);

  pidio_bpf_t *b = calloc(1, sizeof(*b));
  if (b == NULL)
    return -ENOMEM;
  b->iter_link_fd = -1;
  b->hz = hz;

  LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = o.btf_path);
  b->skel = pidio_kern__open_opts(&oo);
  if (b->skel == NULL) {
    int err = errno ? errno : EINVAL;
    set_why(why, whysz, "opening pidio's BPF object failed: %s",
            strerror(err));
    pidio_bpf_close(b);
    return -err;
  }
  /* Read-only data, fixed at load: the verifier drops what is not
   * wanted from the programs. */
  b->skel->rodata->want_exec = !o.skip_exec;
  b->skel->rodata->want_cgroup = !o.skip_cgroup;
  int err = -bpf_map__set_max_entries(b->skel->maps.exits, (uint32_t)ring);
  if (!err && o.skip_exec)
    err = -bpf_program__set_autoload(b->skel->progs.on_exec, false);
  if (!err && o.skip_cgroup) {
    err = -bpf_program__set_autoload(b->skel->progs.on_rmdir, false);
    if (!err) /* no paths to keep: a map of one */
      err = -bpf_map__set_max_entries(b->skel->maps.cgpaths, 1);
  }
  if (!err)
    err = -bpf_map__set_max_entries(b->skel->maps.procs, procs);
  if (!err)
    err = -bpf_map__set_max_entries(b->skel->maps.execs, procs);
  if (err) {
    set_why(why, whysz, "sizing pidio's BPF maps failed: %s", strerror(err));
    pidio_bpf_close(b);
    return -err;
  }
  err = -pidio_kern__load(b->skel);
  if (err) {
    explain_load(err, o.btf_path, why, whysz);
    pidio_bpf_close(b);
    return -err;
  }
  err = -pidio_kern__attach(b->skel);
  if (err) {
    explain_load(err, o.btf_path, why, whysz);
    pidio_bpf_close(b);
    return -err;
  }
  /* The tracepoints are attached: from here on every exit is kept. The
   * iterator's link (made by the skeleton's attach) is re-run at each
   * pass. */
  b->iter_link_fd = bpf_link__fd(b->skel->links.dump_task);
  if (b->iter_link_fd < 0) {
    set_why(why, whysz, "the task iterator was not attached");
    pidio_bpf_close(b);
    return -EINVAL;
  }
  b->ring = ring_buffer__new(bpf_map__fd(b->skel->maps.exits), on_ring_record,
                             b, NULL);
  if (b->ring == NULL) {
    err = errno ? errno : ENOMEM;
    set_why(why, whysz, "opening pidio's ring buffer failed: %s",
            strerror(err));
    pidio_bpf_close(b);
    return -err;
  }
  b->next_sweep_ns = boot_ns() + SWEEP_EVERY_NS;
  *out = b;
  return 0;
}

/* ---- draining exits ---- */

static int on_ring_record(void *ctx, void *data, size_t len) {
  pidio_bpf_t *b = ctx;
  pidio_bpf_exit_t e;
  if (pidio_bpf_decode_exit(data, len, b->hz, &e) != 0) {
    __atomic_fetch_add(&b->bad, 1, __ATOMIC_RELAXED);
    return 0;
  }
  __atomic_fetch_add(&b->delivered, 1, __ATOMIC_RELAXED);
  if (b->drain_fn != NULL)
    b->drain_fn(&e, data, len, b->drain_ctx);
  return 0;
}

int pidio_bpf_drain(pidio_bpf_t *b, pidio_bpf_exit_fn fn, void *ctx) {
  b->drain_fn = fn;
  b->drain_ctx = ctx;
  int n = ring_buffer__consume(b->ring);
  b->drain_fn = NULL;
  b->drain_ctx = NULL;
  return n;
}

void pidio_bpf_get_stats(const pidio_bpf_t *b, pidio_bpf_stats_t *out) {
  /* The kernel side's counters live in its .bss, mapped into this
   * process, one slot per CPU: read each word once and add them up. */
  memset(out, 0, sizeof(*out));
  for (int i = 0; i < PIDIO_BPF_COUNTER_SLOTS; i++) {
    const volatile struct pidio_bpf_counters *c =
        &b->skel->bss->counters[i].c;
    out->exits += c->exits;
    out->ring_full += c->ring_full;
    out->map_full += c->map_full;
    out->mark_failed += c->mark_failed;
    out->exec_full += c->exec_full;
    out->origin_failed += c->origin_failed;
  }
  out->lost = out->ring_full + out->map_full + out->mark_failed;
  out->delivered = __atomic_load_n(&b->delivered, __ATOMIC_RELAXED);
  out->bad = __atomic_load_n(&b->bad, __ATOMIC_RELAXED);
  out->rereads = __atomic_load_n(&b->rereads, __ATOMIC_RELAXED);
  out->unsettled = __atomic_load_n(&b->unsettled, __ATOMIC_RELAXED);
  out->swept = __atomic_load_n(&b->swept, __ATOMIC_RELAXED);
}

static uint64_t map_memlock(int fd) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
  FILE *f = fopen(path, "re");
  uint64_t v = 0;
  if (f == NULL)
    return 0;
  while (fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, "memlock:", 8) == 0) {
      const char *s = line + 8;
      while (*s == ' ' || *s == '\t')
        s++;
      size_t n = strcspn(s, "\n");
      if (pidio_parse_u64(s, n, &v) != 0)
        v = 0;
      break;
    }
  fclose(f);
  return v;
}

uint64_t pidio_bpf_kernel_bytes(const pidio_bpf_t *b) {
  return map_memlock(bpf_map__fd(b->skel->maps.procs)) +
         map_memlock(bpf_map__fd(b->skel->maps.execs)) +
         map_memlock(bpf_map__fd(b->skel->maps.marks)) +
         map_memlock(bpf_map__fd(b->skel->maps.origins)) +
         map_memlock(bpf_map__fd(b->skel->maps.exits)) +
         map_memlock(bpf_map__fd(b->skel->maps.scratch));
}

/* ---- the iterator pass ---- */

static int key_cmp(const void *pa, const void *pb) {
  const struct pidio_bpf_key *a = pa, *b = pb;
  if (a->tgid != b->tgid)
    return a->tgid < b->tgid ? -1 : 1;
  if (a->start_ns != b->start_ns)
    return a->start_ns < b->start_ns ? -1 : 1;
  return 0;
}

int pidio_bpf_grow(void **p, size_t *cap, size_t need, size_t elem,
                   size_t first) {
  if (need <= *cap)
    return 0;
  size_t ncap = *cap ? *cap * 2 : first;
  while (ncap < need)
    ncap *= 2;
  void *np = realloc(*p, ncap * elem);
  if (np == NULL)
    return -ENOMEM;
  *p = np;
  *cap = ncap;
  return 0;
}

/* One read of an iterator: what it found. */
typedef struct iter_result {
  int fn_ret;    /* non-zero: fn stopped the read with this value */
  bool unstable; /* a record was unsettled (and, in a re-read, dropped) */
} iter_result_t;

/* Read one iterator to its end, handing each settled process to fn. In a
 * full pass (full), an unsettled process goes to b->again, to be read again
 * after the pass, and with sweep every process's identity to b->seen; in a
 * re-read an unsettled record is dropped and reported in res. */
static int read_iter(pidio_bpf_t *b, int link_fd, bool full, bool sweep,
                     pidio_bpf_proc_fn fn, void *ctx, iter_result_t *res) {
  int fd = bpf_iter_create(link_fd);
  if (fd < 0)
    return -errno;
  /* The kernel writes whole records, but a read may end inside one: carry
   * the part over. */
  enum { REC = sizeof(struct pidio_bpf_proc_rec) };
  _Alignas(8) unsigned char buf[256 * REC];
  size_t have = 0;
  int err = 0;
  memset(res, 0, sizeof(*res));
  while (res->fn_ret == 0) {
    ssize_t n = read(fd, buf + have, sizeof(buf) - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = -errno;
      break;
    }
    if (n == 0) {
      if (have != 0) {
        __atomic_fetch_add(&b->bad, 1, __ATOMIC_RELAXED);
        err = -EIO;
      }
      break;
    }
    have += (size_t)n;
    size_t whole = have - have % REC;
    for (size_t off = 0; off < whole && res->fn_ret == 0; off += REC) {
      pidio_bpf_proc_t p;
      if (pidio_bpf_decode_proc(buf + off, REC, b->hz, &p) != 0) {
        __atomic_fetch_add(&b->bad, 1, __ATOMIC_RELAXED);
        continue;
      }
      if (sweep && pidio_bpf_grow((void **)&b->seen, &b->seen_cap, b->nseen + 1,
                                  sizeof(*b->seen), 1024) == 0)
        b->seen[b->nseen++] = (struct pidio_bpf_key){
            .start_ns = p.start_ns, .tgid = (uint32_t)p.pid};
      if (p.flags & PIDIO_BPF_F_UNSTABLE) {
        res->unstable = true;
        if (!full)
          continue;
        if (pidio_bpf_grow((void **)&b->again, &b->again_cap, b->nagain + 1,
                           sizeof(*b->again), 1024) == 0) {
          b->again[b->nagain++] = (struct pidio_bpf_key){
              .start_ns = p.start_ns, .tgid = (uint32_t)p.pid};
          continue;
        }
        /* No memory to read it again: hand it over flagged, no value. */
      }
      if (fn != NULL)
        res->fn_ret = fn(&p, ctx);
    }
    memmove(buf, buf + whole, have - whole);
    have -= whole;
  }
  close(fd);
  return err;
}

/* Read one process again through an iterator restricted to it, until its
 * snapshot settles; after REREAD_TRIES, hand it over flagged. Returns 0,
 * fn's non-zero value, or a negative errno. */
static int reread(pidio_bpf_t *b, const struct pidio_bpf_key *k,
                  pidio_bpf_proc_fn fn, void *ctx) {
  union bpf_iter_link_info linfo;
  memset(&linfo, 0, sizeof(linfo));
  linfo.task.tid = k->tgid;
  LIBBPF_OPTS(bpf_link_create_opts, lo, .iter_info = &linfo,
              .iter_info_len = sizeof(linfo));
  int link = bpf_link_create(bpf_program__fd(b->skel->progs.dump_task), 0,
                             BPF_TRACE_ITER, &lo);
  if (link < 0) /* gone since the pass: its exit record will tell */
    return errno == ENOENT || errno == ESRCH ? 0 : -errno;
  int ret = 0;
  for (int tries = 0; tries < REREAD_TRIES; tries++) {
    __atomic_fetch_add(&b->rereads, 1, __ATOMIC_RELAXED);
    iter_result_t res;
    int err = read_iter(b, link, false, false, fn, ctx, &res);
    if (err != 0 && err != -EAGAIN) {
      ret = err;
      goto out;
    }
    if (err == 0 && !res.unstable) { /* read, or gone (no record) */
      ret = res.fn_ret;
      goto out;
    }
    struct timespec pause = {0, REREAD_PAUSE_NS};
    nanosleep(&pause, NULL);
  }
  /* Never settled: the caller gets the process flagged, without a value. */
  __atomic_fetch_add(&b->unsettled, 1, __ATOMIC_RELAXED);
  pidio_bpf_proc_t p;
  memset(&p, 0, sizeof(p));
  p.pid = (pid_t)k->tgid;
  p.start_ns = k->start_ns;
  p.start = ns_to_ticks(p.start_ns, b->hz);
  p.flags = PIDIO_BPF_F_UNSTABLE;
  if (fn != NULL)
    ret = fn(&p, ctx);
out:
  close(link);
  return ret;
}

/* Delete the entries of a map whose process was not in the pass that began
 * at begun_ns, and that existed before it began: processes whose end was
 * never seen whole (a mark that could not be stored, a process in another
 * pid namespace's exit path). created_at gives an entry's creation time. */
static void sweep_map(pidio_bpf_t *b, int map_fd, size_t value_size,
                      int64_t begun_ns) {
  struct pidio_bpf_key key, next;
  uint64_t value[64];
  if (value_size > sizeof(value))
    return;
  void *prev = NULL;
  /* Deleting the current key would restart the walk: delete after. */
  struct pidio_bpf_key stale[64];
  size_t nstale = 0;
  while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(map_fd, &key, value) != 0)
      continue;
    /* created_ns is the third u64 of a state, the second of an exec. */
    uint64_t created =
        value_size == sizeof(struct pidio_bpf_state) ? value[2] : value[1];
    if ((int64_t)created >= begun_ns)
      continue;
    if (bsearch(&key, b->seen, b->nseen, sizeof(*b->seen), key_cmp) != NULL)
      continue;
    stale[nstale++] = key;
    if (nstale == sizeof(stale) / sizeof(stale[0]))
      break; /* the rest at the next sweep */
  }
  for (size_t i = 0; i < nstale; i++)
    if (bpf_map_delete_elem(map_fd, &stale[i]) == 0)
      __atomic_fetch_add(&b->swept, 1, __ATOMIC_RELAXED);
}

_Static_assert(offsetof(struct pidio_bpf_state, created_ns) == 16 &&
                   offsetof(struct pidio_bpf_exec, created_ns) == 8,
               "sweep_map reads created_ns there");

int pidio_bpf_pass(pidio_bpf_t *b, pidio_bpf_proc_fn fn, void *ctx) {
  int64_t begun = boot_ns();
  /* Who is alive is only needed for a sweep, once a minute. */
  bool sweep = begun >= b->next_sweep_ns;
  b->nseen = 0;
  b->nagain = 0;
  iter_result_t res;
  int err = read_iter(b, b->iter_link_fd, true, sweep, fn, ctx, &res);
  if (err != 0)
    return err;
  if (res.fn_ret != 0)
    return res.fn_ret;
  for (size_t i = 0; i < b->nagain; i++) {
    int r = reread(b, &b->again[i], fn, ctx);
    if (r != 0)
      return r;
  }
  if (sweep) {
    qsort(b->seen, b->nseen, sizeof(*b->seen), key_cmp);
    sweep_map(b, bpf_map__fd(b->skel->maps.procs),
              sizeof(struct pidio_bpf_state), begun);
    sweep_map(b, bpf_map__fd(b->skel->maps.execs),
              sizeof(struct pidio_bpf_exec), begun);
    b->next_sweep_ns = begun + SWEEP_EVERY_NS;
  }
  return 0;
}
