/*
 * pidio_reader: the reader a front end was asked for. See pidio_reader.h.
 */
#include "pidio_build.h"

#include "pidio_reader.h"

#ifdef PIDIO_HAVE_BPF
#include "pidio_bpf.h"
#include "pidio_bpf_feed.h"
#endif

#include "pidio_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Blocks that read within this long of each other share one pass. */
#define PIDIO_READER_SHARE_NS (250LL * 1000000LL)

struct pidio_reader {
  bool bpf;
#ifdef PIDIO_HAVE_BPF
  pidio_bpf_feed_t *feed;
#endif
};

bool pidio_reader_cgroup2_visible(const pidio_proc_t *proc, pid_t pid) {
  int dfd = pidio_proc_open_pid(proc, pid);
  if (dfd < 0)
    return true;
  char buf[4096];
  size_t len = 0;
  int trunc = 0;
  int rc = pidio_proc_read_at(dfd, "cgroup", buf, sizeof(buf), &len, &trunc);
  close(dfd);
  const char *path;
  size_t plen;
  return rc != 0 || trunc ||
         pidio_parse_cgroup(buf, len, &path, &plen) != -ENOENT;
}

int pidio_reader_open(pidio_reader_t **out, enum pidio_reader_kind want,
                      size_t ring_bytes, unsigned needs,
                      const pidio_proc_t *proc, char *why, size_t whysz) {
  if (whysz > 0)
    why[0] = '\0';
  pidio_reader_t *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return -ENOMEM;
  if (want == PIDIO_READER_PROCFS) {
    *out = r;
    return 0;
  }
  int err;
  if (pidio_proc_last_pid(proc, &(pid_t){0}) == -ENOTSUP) {
    /* Not this process's own /proc (a copy, a fixture tree, another pid
     * namespace's): the kernel's pids would not be its pids. */
    snprintf(why, whysz,
             "the BPF reader needs ProcRoot to be this machine's own /proc");
    err = -EINVAL;
  } else {
#ifdef PIDIO_HAVE_BPF
    /* Exit records name no cgroup where /proc names none either. */
    if ((needs & PIDIO_NEED_CGROUP) &&
        !pidio_reader_cgroup2_visible(proc, getpid()))
      needs &= ~PIDIO_NEED_CGROUP;
    pidio_bpf_opts_t o = {.ring_bytes = ring_bytes,
                          .skip_exec = !(needs & PIDIO_NEED_EXEC),
                          .skip_cgroup = !(needs & PIDIO_NEED_CGROUP)};
    err = pidio_bpf_feed_open(&r->feed, &o, NULL, why, whysz);
#else
    (void)ring_bytes;
    (void)needs;
    snprintf(why, whysz,
             "pidio was built without the BPF reader (configure "
             "--without-bpf, or clang, bpftool or libbpf were missing)");
    err = -ENOTSUP;
#endif
  }
  if (err == 0) {
    r->bpf = true;
  } else if (want == PIDIO_READER_BPF) {
    free(r);
    return err;
  }
  *out = r;
  return 0;
}

bool pidio_reader_is_bpf(const pidio_reader_t *r) { return r->bpf; }

const char *pidio_reader_name(const pidio_reader_t *r) {
  return r->bpf ? "bpf" : "procfs";
}

int pidio_reader_attach(pidio_reader_t *r, pidio_block_t *b) {
#ifdef PIDIO_HAVE_BPF
  if (r->bpf) {
    pidio_ownio_t own;
    int err = pidio_bpf_feed_attach(r->feed, PIDIO_READER_SHARE_NS, &own);
    if (err != 0)
      return err;
    pidio_block_set_ownio(b, &own);
  }
#else
  (void)r;
  (void)b;
#endif
  return 0;
}

void pidio_reader_detach(pidio_reader_t *r, pidio_block_t *b) {
#ifdef PIDIO_HAVE_BPF
  if (r != NULL && r->bpf && b->use_own) {
    pidio_bpf_feed_detach(r->feed, &b->own);
    b->use_own = false;
  }
#else
  (void)r;
  (void)b;
#endif
}

void pidio_reader_close(pidio_reader_t *r) {
  if (r == NULL)
    return;
#ifdef PIDIO_HAVE_BPF
  pidio_bpf_feed_free(r->feed);
#endif
  free(r);
}

void pidio_reader_set_logger(void (*fn)(int level, const char *msg, void *ctx),
                             void *ctx) {
#ifdef PIDIO_HAVE_BPF
  pidio_bpf_set_logger(fn, ctx);
#else
  (void)fn;
  (void)ctx;
#endif
}
