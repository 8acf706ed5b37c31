/*
 * Unit tests of the BPF reader's user side: its decoders against exit
 * records recorded from the ring buffer (fixtures/bpf/, made by
 * tests/bpf_real.c with PIDIO_BPF_RECORD=DIR) and against damaged copies
 * of them. The processes that wrote them:
 *  - exit-single.bin: one thread, 1 000 003 bytes in 7 writes, then 5 in 1;
 *  - exit-threads.bin: 8 threads x 1 001 bytes (joined), 55 from main,
 *    then 3 threads x 777 still running at exit_group;
 *  - exit-exec.bin: execl("/bin/true", "true", "first arg", "second"), on
 *    a machine where /bin is a link to usr/bin;
 *  - exit-cgroup.bin: 4 242 bytes in 2 writes, in the cgroup v2
 *    /pidio-bpfreal-21223.scope, removed as soon as it was reaped;
 *  - exit-orphan.bin: 3 333 bytes in 1 write, after the parent that forked
 *    it had exited (it was handed to a subreaper).
 * Layout offsets used below: fork_pstart_ns at 136, fork_ppid at 144,
 * exe_len at 148, cgroup_len at 150, args at 152, and from 280 the paths
 * (the program's, then the cgroup's: components leaf first, each
 * NUL-terminated), the record ending with them.
 * And a block's discovery from the reader's passes: recorded records, given
 * other pids, names and start times, make the machine a block sees.
 */
#include "pidio_build.h"

#include "fixture_tree.h"
#include "pidio_block.h"
#include "pidio_bpf.h"
#include "pidio_bpf_feed.h"
#include "pidio_proc.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

static size_t load(const char *name, unsigned char *buf, size_t bufsz) {
  return fixture_read(name, (char *)buf, bufsz);
}

/* Put the two walked paths (exe_len and cg_len bytes) in a raw record;
 * returns its new length. */
static size_t set_paths(unsigned char *raw, const char *exe, size_t exe_len,
                        const char *cg, size_t cg_len) {
  raw[148] = (unsigned char)(exe_len & 0xff);
  raw[149] = (unsigned char)(exe_len >> 8);
  raw[150] = (unsigned char)(cg_len & 0xff);
  raw[151] = (unsigned char)(cg_len >> 8);
  memcpy(raw + 280, exe, exe_len);
  memcpy(raw + 280 + exe_len, cg, cg_len);
  return 280 + exe_len + cg_len;
}

/* A little-endian field of a raw record, read independently of the
 * decoder's struct. */
static uint64_t raw_u64(const unsigned char *r, size_t off) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | r[off + (size_t)i];
  return v;
}
static uint32_t raw_u32(const unsigned char *r, size_t off) {
  return (uint32_t)(r[off] | r[off + 1] << 8 | r[off + 2] << 16 |
                    (uint32_t)r[off + 3] << 24);
}

START_TEST(test_sizes) {
  ck_assert_uint_eq(pidio_bpf_proc_rec_size(), 128);
  /* The largest exit record; one is sent as long as its paths. */
  ck_assert_uint_eq(pidio_bpf_exit_rec_size(), 1304);
}
END_TEST

START_TEST(test_exit_single) {
  unsigned char raw[2048];
  size_t n = load("bpf/exit-single.bin", raw, sizeof(raw));
  /* No program, the root cgroup: no path bytes at all. */
  ck_assert_uint_eq(n, 280);
  pidio_bpf_exit_t e;
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert_uint_eq(e.p.io.v[PIDIO_WCHAR], 1000008);
  ck_assert_uint_eq(e.p.io.v[PIDIO_SYSCW], 8);
  ck_assert_uint_eq(e.p.io.v[PIDIO_RCHAR], 0);
  ck_assert_uint_eq(e.p.io.v[PIDIO_SYSCR], 0);
  ck_assert_uint_eq(e.p.io.v[PIDIO_READ_BYTES], 0);
  ck_assert_uint_eq(e.p.io.v[PIDIO_WRITE_BYTES], 0);
  ck_assert_uint_eq(e.p.io.v[PIDIO_CANCELLED_WRITE_BYTES], 0);
  ck_assert_int_eq(e.p.pid, (pid_t)raw_u32(raw, 8));
  ck_assert_int_eq(e.p.ppid, (pid_t)raw_u32(raw, 12));
  /* ns after boot to /proc's clock ticks at 100 Hz: ns / 10^7, truncated,
   * as the kernel's nsec_to_clock_t. */
  ck_assert_uint_eq(e.p.start_ns, raw_u64(raw, 16));
  ck_assert_uint_eq(e.p.start, raw_u64(raw, 16) / 10000000);
  ck_assert_uint_eq(e.p.pstart, raw_u64(raw, 24) / 10000000);
  ck_assert(e.p.start >= e.p.pstart);
  /* No exec while loaded: no identity from one. */
  ck_assert(!(e.p.flags & PIDIO_BPF_F_EXEC_SEEN));
  ck_assert_str_eq(e.exe, "");
  ck_assert_str_eq(e.cmdline, "");
  ck_assert_str_eq(e.p.comm, "bpf-real");
  ck_assert_uint_eq(e.p.nthreads, 0);
  ck_assert(e.exit_ns > e.p.start_ns);
  /* Another clock-tick rate: the same ns, other ticks. */
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 1000, &e), 0);
  ck_assert_uint_eq(e.p.start, raw_u64(raw, 16) / 1000000);
}
END_TEST

START_TEST(test_exit_threads) {
  unsigned char raw[2048];
  size_t n = load("bpf/exit-threads.bin", raw, sizeof(raw));
  pidio_bpf_exit_t e;
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert_uint_eq(e.p.io.v[PIDIO_WCHAR], 8 * 1001 + 55 + 3 * 777);
  ck_assert_uint_eq(e.p.io.v[PIDIO_SYSCW], 8 + 1 + 3);
  ck_assert_uint_eq(e.p.io.v[PIDIO_SYSCR], 0);
}
END_TEST

START_TEST(test_exit_exec) {
  unsigned char raw[2048];
  size_t n = load("bpf/exit-exec.bin", raw, sizeof(raw));
  pidio_bpf_exit_t e;
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert(e.p.flags & PIDIO_BPF_F_EXEC_SEEN);
  ck_assert(e.p.flags & PIDIO_BPF_F_EXE);
  ck_assert(!(e.p.flags & PIDIO_BPF_F_ARGS_CUT));
  /* The program run, as /proc/<pid>/exe named it, not the path given. */
  ck_assert_str_eq(e.exe, "/usr/bin/true");
  ck_assert_str_eq(e.cmdline, "true first arg second");
  ck_assert_str_eq(e.p.comm, "true");
  /* true writes nothing; what it read is the loader's. */
  ck_assert_uint_eq(e.p.io.v[PIDIO_WCHAR], 0);
  ck_assert_uint_eq(e.p.io.v[PIDIO_RCHAR], raw_u64(raw, 40));
}
END_TEST

/* Damaged copies are refused, never half-read. */
START_TEST(test_exit_damaged) {
  unsigned char raw[2048], bad[1024];
  size_t n = load("bpf/exit-single.bin", raw, sizeof(raw));
  pidio_bpf_exit_t e;
  /* Cut short, or one byte too long. */
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n - 1, 100, &e), -EINVAL);
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, 0, 100, &e), -EINVAL);
  memcpy(bad, raw, n);
  bad[n] = 0;
  ck_assert_int_eq(pidio_bpf_decode_exit(bad, n + 1, 100, &e), -EINVAL);
  /* A size field of another layout. */
  memcpy(bad, raw, n);
  bad[0] ^= 0x08;
  ck_assert_int_eq(pidio_bpf_decode_exit(bad, n, 100, &e), -EINVAL);
  /* Another kind: an iterator record where an exit record belongs. */
  memcpy(bad, raw, n);
  bad[2] = 1;
  ck_assert_int_eq(pidio_bpf_decode_exit(bad, n, 100, &e), -EINVAL);
  /* Pid 0, and an unsettled snapshot, are no exit record. */
  memcpy(bad, raw, n);
  memset(bad + 8, 0, 4);
  ck_assert_int_eq(pidio_bpf_decode_exit(bad, n, 100, &e), -EINVAL);
  memcpy(bad, raw, n);
  bad[4] |= PIDIO_BPF_F_UNSTABLE;
  ck_assert_int_eq(pidio_bpf_decode_exit(bad, n, 100, &e), -EINVAL);
  /* A clock-tick rate that does not divide a second. */
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 0, &e), -EINVAL);
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 7, &e), -EINVAL);
  /* An exit record is not an iterator record. */
  pidio_bpf_proc_t p;
  ck_assert_int_eq(pidio_bpf_decode_proc(raw, n, 100, &p), -EINVAL);
}
END_TEST

/* Strings the kernel filled to the last byte still end in a NUL; a walked
 * path whose last component has no NUL is no path. */
START_TEST(test_exit_unterminated) {
  unsigned char raw[2048];
  size_t n = load("bpf/exit-exec.bin", raw, sizeof(raw));
  memset(raw + 112, 'c', 16);  /* comm */
  memset(raw + 152, 'a', 128); /* args: one argument of 128 bytes */
  size_t exe_len = (size_t)(raw[148] | raw[149] << 8);
  ck_assert_uint_gt(exe_len, 0);
  raw[280 + exe_len - 1] = 'e';
  pidio_bpf_exit_t e;
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert_uint_eq(strlen(e.p.comm), 15);
  ck_assert_uint_eq(strlen(e.cmdline), 128);
  ck_assert(!(e.p.flags & PIDIO_BPF_F_EXE));
  ck_assert_str_eq(e.exe, "");
  n = load("bpf/exit-cgroup.bin", raw, sizeof(raw));
  raw[n - 1] = 'g';
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert(!(e.p.flags & PIDIO_BPF_F_CGROUP));
  ck_assert_str_eq(e.cgroup, "");
}
END_TEST

/* The cgroup v2 path at exit, whether or not the cgroup still exists. */
START_TEST(test_exit_cgroup) {
  unsigned char raw[2048];
  size_t n = load("bpf/exit-cgroup.bin", raw, sizeof(raw));
  pidio_bpf_exit_t e;
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert(e.p.flags & PIDIO_BPF_F_CGROUP);
  ck_assert_str_eq(e.cgroup, "/pidio-bpfreal-21223.scope");
  ck_assert_uint_eq(e.p.io.v[PIDIO_WCHAR], 4242);
  ck_assert_uint_eq(e.p.io.v[PIDIO_SYSCW], 2);
  /* No exec: no program. */
  ck_assert(!(e.p.flags & (PIDIO_BPF_F_EXEC_SEEN | PIDIO_BPF_F_EXE)));
  /* The other fixtures' processes stayed in the root cgroup. */
  n = load("bpf/exit-single.bin", raw, sizeof(raw));
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert(e.p.flags & PIDIO_BPF_F_CGROUP);
  ck_assert_str_eq(e.cgroup, "/");
}
END_TEST

/* Walked paths written by hand: components leaf first, each with its NUL;
 * anything a walk could not have written is no path, never a wrong one. */
START_TEST(test_exit_paths) {
  unsigned char raw[2048];
  load("bpf/exit-exec.bin", raw, sizeof(raw));
  pidio_bpf_exit_t e;
  static const char exe[] = "sh\0bin\0";
  static const char three[] = "c.scope\0b.slice\0a\0";
  size_t n = set_paths(raw, exe, sizeof(exe) - 1, three, sizeof(three) - 1);
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert_str_eq(e.exe, "/bin/sh");
  ck_assert_str_eq(e.cgroup, "/a/b.slice/c.scope");
  /* The lengths must make the record's: one byte more or less is refused. */
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n + 1, 100, &e), -EINVAL);
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n - 1, 100, &e), -EINVAL);
  /* A '/' inside a component; an empty component. */
  raw[280 + sizeof(exe) - 1 + 1] = '/';
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert(!(e.p.flags & PIDIO_BPF_F_CGROUP));
  ck_assert_str_eq(e.cgroup, "");
  ck_assert_str_eq(e.exe, "/bin/sh");
  static const char hole[] = "c\0\0a\0";
  n = set_paths(raw, exe, sizeof(exe) - 1, hole, sizeof(hole) - 1);
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert(!(e.p.flags & PIDIO_BPF_F_CGROUP));
  /* The kernel side said the walk did not reach the root: no path, even
   * with components there. */
  n = set_paths(raw, exe, sizeof(exe) - 1, three, sizeof(three) - 1);
  raw[4] &= (unsigned char)~PIDIO_BPF_F_CGROUP;
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert(!(e.p.flags & PIDIO_BPF_F_CGROUP));
  ck_assert_str_eq(e.cgroup, "");
  /* The root cgroup: the flag and no component. */
  raw[4] |= PIDIO_BPF_F_CGROUP;
  n = set_paths(raw, exe, sizeof(exe) - 1, "", 0);
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert_str_eq(e.cgroup, "/");
  /* The longest a record holds: a component of 255 bytes read at offset
   * 0, one of 254 read at 256, their NULs: a path of 511 characters. */
  char big[511];
  memset(big, 'x', sizeof(big));
  big[255] = '\0';
  big[510] = '\0';
  n = set_paths(raw, exe, sizeof(exe) - 1, big, sizeof(big));
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert(e.p.flags & PIDIO_BPF_F_CGROUP);
  ck_assert_uint_eq(strlen(e.cgroup), 511);
  ck_assert_uint_eq(strspn(e.cgroup + 1, "x"), 254);
  /* Lengths beyond what a walk writes. */
  raw[151] = 0x03; /* cgroup_len 768 + ... */
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), -EINVAL);
  /* An exe the kernel side could not walk whole: the exec is seen, the
   * program is not. */
  n = load("bpf/exit-exec.bin", raw, sizeof(raw));
  raw[4] &= (unsigned char)~PIDIO_BPF_F_EXE;
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert(e.p.flags & PIDIO_BPF_F_EXEC_SEEN);
  ck_assert(!(e.p.flags & PIDIO_BPF_F_EXE));
  ck_assert_str_eq(e.exe, "");
  ck_assert_str_eq(e.cmdline, "true first arg second");
}
END_TEST

/* The parent that forked a process, kept when that parent exits first. */
START_TEST(test_exit_orphan) {
  unsigned char raw[2048];
  size_t n = load("bpf/exit-orphan.bin", raw, sizeof(raw));
  pidio_bpf_exit_t e;
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert_uint_eq(e.p.io.v[PIDIO_WCHAR], 3333);
  /* Its parent at exit is the subreaper, not the parent that forked it. */
  ck_assert_int_eq(e.fork_ppid, (pid_t)raw_u32(raw, 152 - 8));
  ck_assert_int_ne(e.fork_ppid, e.p.ppid);
  ck_assert_uint_eq(e.fork_pstart, raw_u64(raw, 136) / 10000000);
  ck_assert(e.fork_pstart <= e.p.start);
  /* A fork seen while loaded: the others have theirs, their parent. */
  n = load("bpf/exit-single.bin", raw, sizeof(raw));
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert_int_eq(e.fork_ppid, e.p.ppid);
  ck_assert_uint_eq(e.fork_pstart, e.p.pstart);
  /* Forked before the reader was loaded: no fork parent. */
  memset(raw + 136, 0, 12);
  ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &e), 0);
  ck_assert_int_eq(e.fork_ppid, 0);
  ck_assert_uint_eq(e.fork_pstart, 0);
}
END_TEST

/* An iterator record, built from the exit record's first 128 bytes: the
 * common part is the same layout. */
START_TEST(test_proc_record) {
  unsigned char raw[2048];
  load("bpf/exit-threads.bin", raw, sizeof(raw));
  unsigned char rec[128];
  memcpy(rec, raw, sizeof(rec));
  rec[0] = 128;
  rec[1] = 0;
  rec[2] = 1; /* kind: iterator */
  rec[36] = 4; /* nthreads */
  pidio_bpf_proc_t p;
  ck_assert_int_eq(pidio_bpf_decode_proc(rec, sizeof(rec), 100, &p), 0);
  ck_assert_uint_eq(p.io.v[PIDIO_WCHAR], 8 * 1001 + 55 + 3 * 777);
  ck_assert_uint_eq(p.nthreads, 4);
  ck_assert_int_eq(pidio_bpf_decode_proc(rec, sizeof(rec) - 1, 100, &p),
                   -EINVAL);
  /* An unsettled snapshot decodes, flagged: the caller must not use its
   * value and reads the process again. */
  rec[4] |= PIDIO_BPF_F_UNSTABLE;
  ck_assert_int_eq(pidio_bpf_decode_proc(rec, sizeof(rec), 100, &p), 0);
  ck_assert(p.flags & PIDIO_BPF_F_UNSTABLE);
}
END_TEST

/* ---- the feed, over a source that replays the fixtures ---- */

typedef struct fake {
  pidio_bpf_exit_t rec[3]; /* the three fixtures, decoded */
  int pending;             /* records the next drain hands over */
  uint64_t lost;
  int passes;              /* passes made */
  int closed;
} fake_t;

static int fake_pass(void *ctx, pidio_bpf_proc_fn fn, void *fnctx) {
  fake_t *f = ctx;
  f->passes++;
  /* Three processes, out of pid order as after a re-read. */
  for (int i = 2; i >= 0; i--) {
    pidio_bpf_proc_t p = f->rec[i].p;
    p.io.v[PIDIO_WCHAR] += (uint64_t)f->passes;
    int r = fn(&p, fnctx);
    if (r != 0)
      return r;
  }
  return 0;
}

static int fake_drain(void *ctx, pidio_bpf_exit_fn fn, void *fnctx) {
  fake_t *f = ctx;
  int n = f->pending;
  for (int i = 0; i < n; i++)
    fn(&f->rec[i % 3], NULL, 0, fnctx);
  f->pending = 0;
  return n;
}

static uint64_t fake_lost(void *ctx) { return ((fake_t *)ctx)->lost; }
static void fake_close(void *ctx) { ((fake_t *)ctx)->closed++; }

static void fake_init(fake_t *f) {
  static const char *names[3] = {"bpf/exit-single.bin", "bpf/exit-threads.bin",
                                 "bpf/exit-exec.bin"};
  memset(f, 0, sizeof(*f));
  for (int i = 0; i < 3; i++) {
    unsigned char raw[2048];
    size_t n = load(names[i], raw, sizeof(raw));
    ck_assert_int_eq(pidio_bpf_decode_exit(raw, n, 100, &f->rec[i]), 0);
  }
}

static pidio_bpf_feed_t *fake_feed(fake_t *f) {
  pidio_bpf_source_t src = {f, fake_pass, fake_drain, fake_lost, fake_close};
  pidio_bpf_feed_opts_t o = {.drain_ms = -1}; /* drained by hand */
  pidio_bpf_feed_t *feed;
  ck_assert_int_eq(pidio_bpf_feed_new(&feed, &src, &o), 0);
  return feed;
}

static void collect(const pidio_bpf_exit_t *e, void *ctx) {
  uint64_t *sum = ctx;
  *sum += e->p.io.v[PIDIO_WCHAR];
}

/* Each subscriber gets every record logged after it subscribed, once, and
 * the exits lost since it last looked; records all have read are gone. */
START_TEST(test_feed_exits) {
  fake_t f;
  fake_init(&f);
  pidio_bpf_feed_t *feed = fake_feed(&f);
  pidio_bpf_sub_t a, b;
  uint64_t sum = 0, lost = 99;

  f.pending = 2; /* before anyone subscribed: nobody gets them */
  ck_assert_int_eq(pidio_bpf_feed_drain(feed), 2);
  ck_assert_uint_eq(pidio_bpf_feed_logged(feed), 0);

  ck_assert_int_eq(pidio_bpf_feed_subscribe(feed, &a), 0);
  f.pending = 2; /* single, threads */
  f.lost = 5;
  pidio_bpf_feed_drain(feed);
  ck_assert_int_eq(pidio_bpf_feed_subscribe(feed, &b), 0);
  f.pending = 3; /* single, threads, exec */
  pidio_bpf_feed_drain(feed);
  ck_assert_uint_eq(pidio_bpf_feed_logged(feed), 5);

  ck_assert_uint_eq(pidio_bpf_feed_exits(feed, &a, collect, &sum, &lost), 5);
  ck_assert_uint_eq(sum, 2 * (1000008 + 10394) + 0);
  ck_assert_uint_eq(lost, 5); /* since a subscribed */
  /* b subscribed after the first two and after the loss. */
  ck_assert_uint_eq(pidio_bpf_feed_logged(feed), 3);
  sum = 0;
  ck_assert_uint_eq(pidio_bpf_feed_exits(feed, &b, collect, &sum, &lost), 3);
  ck_assert_uint_eq(sum, 1000008 + 10394);
  ck_assert_uint_eq(lost, 0);
  ck_assert_uint_eq(pidio_bpf_feed_logged(feed), 0);
  /* Nothing new: nothing twice. */
  sum = 0;
  ck_assert_uint_eq(pidio_bpf_feed_exits(feed, &a, collect, &sum, &lost), 0);
  ck_assert_uint_eq(lost, 0);

  /* An unsubscribed reader no longer holds records back. */
  f.pending = 1;
  pidio_bpf_feed_drain(feed);
  ck_assert_uint_eq(pidio_bpf_feed_logged(feed), 1);
  pidio_bpf_feed_unsubscribe(feed, &b);
  ck_assert_uint_eq(pidio_bpf_feed_exits(feed, &a, collect, &sum, &lost), 1);
  ck_assert_uint_eq(pidio_bpf_feed_logged(feed), 0);
  pidio_bpf_feed_unsubscribe(feed, &a);
  pidio_bpf_feed_free(feed);
  ck_assert_int_eq(f.closed, 1);
}
END_TEST

/* Passes are shared while young enough, sorted by pid, and stay valid for
 * their holders after a newer pass replaced them. */
START_TEST(test_feed_passes) {
  fake_t f;
  fake_init(&f);
  pidio_bpf_feed_t *feed = fake_feed(&f);
  pidio_bpf_snap_t s1, s2, s3;
  ck_assert_int_eq(pidio_bpf_feed_pass(feed, 0, &s1), 0);
  ck_assert_int_eq(f.passes, 1);
  ck_assert_uint_eq(s1.n, 3);
  for (size_t i = 1; i < s1.n; i++)
    ck_assert_int_lt(s1.p[i - 1].pid, s1.p[i].pid);
  ck_assert_int_eq(pidio_bpf_feed_pass(feed, 60LL * 1000000000LL, &s2), 0);
  ck_assert_int_eq(f.passes, 1); /* shared */
  ck_assert_ptr_eq(s2.p, s1.p);
  ck_assert_int_eq(pidio_bpf_feed_pass(feed, 0, &s3), 0); /* a new one */
  ck_assert_int_eq(f.passes, 2);
  /* The old pass is still readable by its holders. */
  const pidio_bpf_proc_t *p = pidio_bpf_snap_find(&s1, f.rec[0].p.pid);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_eq(p->io.v[PIDIO_WCHAR], 1000008 + 1);
  p = pidio_bpf_snap_find(&s3, f.rec[0].p.pid);
  ck_assert_uint_eq(p->io.v[PIDIO_WCHAR], 1000008 + 2);
  ck_assert_ptr_null(pidio_bpf_snap_find(&s3, 1));
  pidio_bpf_feed_release(feed, &s1);
  pidio_bpf_feed_release(feed, &s2);
  pidio_bpf_feed_release(feed, &s3);
  pidio_bpf_feed_release(feed, &s3); /* twice: nothing */
  pidio_bpf_feed_free(feed);
}
END_TEST

/* A fake pass that fails: the error, and no pass kept. */
static int fail_pass(void *ctx, pidio_bpf_proc_fn fn, void *fnctx) {
  (void)ctx;
  (void)fn;
  (void)fnctx;
  return -EAGAIN;
}

START_TEST(test_feed_pass_error) {
  fake_t f;
  fake_init(&f);
  pidio_bpf_source_t src = {&f, fail_pass, fake_drain, fake_lost, fake_close};
  pidio_bpf_feed_opts_t o = {.drain_ms = 10}; /* with its thread */
  pidio_bpf_feed_t *feed;
  ck_assert_int_eq(pidio_bpf_feed_new(&feed, &src, &o), 0);
  pidio_bpf_snap_t s;
  ck_assert_int_eq(pidio_bpf_feed_pass(feed, 1000000000LL, &s), -EAGAIN);
  pidio_bpf_feed_free(feed);
  ck_assert_int_eq(f.closed, 1);
}
END_TEST

/* ---- a block that finds its processes in the passes ---- */

/* A machine of processes, each a recorded iterator record (exit-single's
 * common part) with another pid, comm, uid and start; and exit records
 * for the next drain. */
typedef struct machine {
  pidio_bpf_proc_t p[8];
  size_t n;
  pidio_bpf_exit_t exits[4];
  int nexits;
  pidio_bpf_proc_t proto;
  int passes;
} machine_t;

static int machine_pass(void *ctx, pidio_bpf_proc_fn fn, void *fnctx) {
  machine_t *m = ctx;
  m->passes++;
  for (size_t i = 0; i < m->n; i++) {
    int r = fn(&m->p[i], fnctx);
    if (r != 0)
      return r;
  }
  return 0;
}

static int machine_drain(void *ctx, pidio_bpf_exit_fn fn, void *fnctx) {
  machine_t *m = ctx;
  int n = m->nexits;
  for (int i = 0; i < n; i++)
    fn(&m->exits[i], NULL, 0, fnctx);
  m->nexits = 0;
  return n;
}

static uint64_t machine_lost(void *ctx) {
  (void)ctx;
  return 0;
}
static void machine_close(void *ctx) { (void)ctx; }

static void machine_init(machine_t *m) {
  memset(m, 0, sizeof(*m));
  unsigned char raw[1024];
  size_t n = load("bpf/exit-single.bin", raw, sizeof(raw));
  unsigned char rec[128];
  memcpy(rec, raw, sizeof(rec));
  rec[0] = 128;
  rec[1] = 0;
  rec[2] = 1;  /* kind: iterator */
  rec[36] = 1; /* one thread */
  ck_assert_uint_ge(n, sizeof(rec));
  ck_assert_int_eq(
      pidio_bpf_decode_proc(rec, sizeof(rec), pidio_proc_hz(), &m->proto), 0);
}

/* Add (or, at the same pid, replace) a process, in pid order. */
static pidio_bpf_proc_t *machine_add(machine_t *m, pid_t pid, pid_t ppid,
                                     const char *comm, uid_t uid,
                                     uint64_t start, uint64_t wchar) {
  size_t i = 0;
  while (i < m->n && m->p[i].pid < pid)
    i++;
  if (i == m->n || m->p[i].pid != pid) {
    ck_assert_uint_lt(m->n, 8);
    memmove(&m->p[i + 1], &m->p[i], (m->n - i) * sizeof(m->p[0]));
    m->n++;
  }
  pidio_bpf_proc_t *p = &m->p[i];
  *p = m->proto;
  p->pid = pid;
  p->ppid = ppid;
  p->uid = uid;
  p->start = start;
  memset(p->comm, 0, sizeof(p->comm));
  strncpy(p->comm, comm, sizeof(p->comm) - 1);
  memset(&p->io, 0, sizeof(p->io));
  p->io.v[PIDIO_WCHAR] = wchar;
  return p;
}

static pidio_bpf_proc_t *machine_get(machine_t *m, pid_t pid) {
  for (size_t i = 0; i < m->n; i++)
    if (m->p[i].pid == pid)
      return &m->p[i];
  ck_abort_msg("no process %d", (int)pid);
  return NULL;
}

/* The process at pid ends: gone from the passes, its exit record sent. */
static void machine_exit(machine_t *m, pid_t pid, uint64_t wchar) {
  for (size_t i = 0; i < m->n; i++)
    if (m->p[i].pid == pid) {
      ck_assert_int_lt(m->nexits, 4);
      pidio_bpf_exit_t *e = &m->exits[m->nexits++];
      memset(e, 0, sizeof(*e));
      e->p = m->p[i];
      e->p.io.v[PIDIO_WCHAR] = wchar;
      memmove(&m->p[i], &m->p[i + 1], (m->n - i - 1) * sizeof(m->p[0]));
      m->n--;
      return;
    }
  ck_abort_msg("no process %d", (int)pid);
}

/* A selection of the processes named name. */
static void select_name(pidio_select_t *sel, const char *name) {
  char err[256];
  pidio_select_init(sel);
  ck_assert_msg(pidio_select_set_name(sel, name, err, sizeof(err)) == 0, "%s",
                err);
}

typedef struct world {
  machine_t m;
  pidio_bpf_feed_t *feed;
  pidio_ownio_t own;
  pidio_proc_t proc;
  pidio_block_t b;
  char base[TREE_PATHSZ], root[TREE_PATHSZ];
} world_t;

/* A block under the BPF reader over the machine; its ProcRoot a fixture
 * tree that holds none of the machine's processes (unless a test writes
 * one), so that only the passes can show them. */
static void world_open(world_t *w, pidio_select_t *sel) {
  pidio_bpf_source_t src = {&w->m, machine_pass, machine_drain, machine_lost,
                            machine_close};
  pidio_bpf_feed_opts_t o = {.drain_ms = -1};
  ck_assert_int_eq(pidio_bpf_feed_new(&w->feed, &src, &o), 0);
  ck_assert_int_eq(pidio_bpf_feed_attach(w->feed, 0, &w->own), 0);
  tree_open("proc-basic", w->base, w->root);
  ck_assert_int_eq(pidio_proc_open(&w->proc, w->root), 0);
  pidio_block_init(&w->b, &w->proc, sel);
  pidio_block_set_ownio(&w->b, &w->own);
}

static void world_close(world_t *w) {
  pidio_block_free(&w->b);
  pidio_bpf_feed_detach(w->feed, &w->own);
  pidio_bpf_feed_free(w->feed);
  pidio_proc_close(&w->proc);
  tree_remove(w->base);
}

static void update(world_t *w, unsigned matched) {
  pidio_report_t rep;
  ck_assert_int_eq(pidio_block_update(&w->b, &rep), 0);
  ck_assert_uint_eq(rep.matched, matched);
  ck_assert_uint_eq(rep.lost_members, 0);
  /* Found in the passes alone: ProcRoot never listed, no pid probed. */
  ck_assert_uint_eq(w->b.disc.full_listings, 0);
  ck_assert_uint_eq(w->b.disc.probed, 0);
}

/* A block's reads find every record of the pass, whatever the order it
 * asks in (pid order, skipping, backwards, after pids wrapped), and only
 * the process that started when the block saw it start. */
START_TEST(test_read_any_order) {
  static world_t w;
  memset(&w, 0, sizeof(w));
  machine_init(&w.m);
  uint64_t old = pidio_proc_boot_ticks() - 500;
  const pid_t pids[] = {3, 17, 18, 19, 40, 41, 900, 901};
  for (size_t i = 0; i < 8; i++)
    machine_add(&w.m, pids[i], 1, "p", 0, old + (uint64_t)i, 1000 + pids[i]);
  pidio_select_t sel;
  select_name(&sel, "p");
  world_open(&w, &sel);
  ck_assert_int_eq(w.own.begin(w.own.ctx), 0);
  const int order[] = {0, 1, 2, 3, 4, 5, 6, 7, 7, 0, 7, 6, 5, 4, 3, 2,
                       1, 0, 2, 6, 1, 3, 0, 4, 5, 7, 2, 2, 6, 0};
  for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
    size_t i = (size_t)order[k];
    pidio_io_t io;
    uint64_t delay = 1;
    ck_assert_int_eq(w.own.read(w.own.ctx, pids[i], old + i, &io, &delay), 0);
    ck_assert_uint_eq(io.v[PIDIO_WCHAR], 1000 + (uint64_t)pids[i]);
    /* Another start at the same pid, and pids the pass does not have. */
    ck_assert_int_eq(w.own.read(w.own.ctx, pids[i], old + i + 1, &io, &delay),
                     -ENOENT);
    ck_assert_int_eq(w.own.read(w.own.ctx, pids[i] + 2, old, &io, &delay),
                     -ENOENT);
  }
  ck_assert_int_eq(w.own.read(w.own.ctx, 2, old, NULL, NULL), -ENOENT);
  ck_assert_int_eq(w.own.read(w.own.ctx, 902, old, NULL, NULL), -ENOENT);
  w.own.end(w.own.ctx);
  world_close(&w);
}
END_TEST

/* Name: the running member counts from the first pass on, a newcomer from
 * birth, a member's exit with its record's final figures, and a new
 * process at a reused pid as a new member, from birth. */
START_TEST(test_discover_by_name) {
  static world_t w;
  memset(&w, 0, sizeof(w));
  machine_init(&w.m);
  uint64_t old = pidio_proc_boot_ticks() - 500;
  machine_add(&w.m, 1, 0, "init", 0, 2, 9999);
  machine_add(&w.m, 100, 1, "writer", 1000, old, 5000);
  machine_add(&w.m, 101, 1, "other", 1000, old, 7000);
  pidio_select_t sel;
  select_name(&sel, "writer");
  world_open(&w, &sel);

  update(&w, 1); /* baseline: 5000 done before is not counted */
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 0);
  machine_get(&w.m, 100)->io.v[PIDIO_WCHAR] = 5300;
  machine_add(&w.m, 102, 100, "writer", 1000, pidio_proc_boot_ticks(), 40);
  update(&w, 2);
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 300 + 40);
  /* 100 ends (100 more since the last pass); 102 goes on. */
  machine_exit(&w.m, 100, 5400);
  machine_get(&w.m, 102)->io.v[PIDIO_WCHAR] = 60;
  update(&w, 1);
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 300 + 40 + 100 + 20);
  /* pid 100 again: another process, counted from birth. */
  machine_add(&w.m, 100, 1, "writer", 1000, pidio_proc_boot_ticks(), 11);
  update(&w, 2);
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 460 + 11);
  ck_assert_int_ge(w.m.passes, 4);
  world_close(&w);
}
END_TEST

/* User from the pass's uid (no status read: ProcRoot has none of them),
 * and Children through the pass's parents. */
START_TEST(test_discover_user_children) {
  static world_t w;
  memset(&w, 0, sizeof(w));
  machine_init(&w.m);
  uint64_t old = pidio_proc_boot_ticks() - 500;
  machine_add(&w.m, 200, 1, "daemon", 33, old, 100);
  machine_add(&w.m, 201, 1, "daemon", 34, old, 100);
  machine_add(&w.m, 202, 201, "child", 0, old, 100);
  pidio_select_t sel;
  char err[256];
  pidio_select_init(&sel);
  ck_assert_int_eq(pidio_select_set_uid(&sel, 34, err, sizeof(err)), 0);
  pidio_select_set_children(&sel, true);
  world_open(&w, &sel);
  update(&w, 2); /* 201, and its child 202 of another uid */
  pidio_member_t mem[4];
  ck_assert_uint_eq(pidio_block_members(&w.b, mem, 4), 2);
  ck_assert_int_eq(mem[0].pid, 201);
  ck_assert_int_eq(mem[1].pid, 202);
  machine_add(&w.m, 203, 202, "grandchild", 0, pidio_proc_boot_ticks(), 70);
  machine_get(&w.m, 200)->io.v[PIDIO_WCHAR] = 900; /* not a member */
  update(&w, 3);
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 70);
  world_close(&w);
}
END_TEST

/* Children: the exit record of a process whose parent the block does not
 * know yet (the parent was born after the pass began, and the child lived
 * and ended between two passes) waits one round; when the next pass shows
 * the parent as a member's child, the record counts, from birth. */
START_TEST(test_exit_waits_for_its_parent) {
  static world_t w;
  memset(&w, 0, sizeof(w));
  machine_init(&w.m);
  uint64_t old = pidio_proc_boot_ticks() - 500;
  machine_add(&w.m, 100, 1, "parent", 0, old, 1000);
  pidio_select_t sel;
  select_name(&sel, "parent");
  pidio_select_set_children(&sel, true);
  world_open(&w, &sel);
  update(&w, 1);
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 0);
  /* 200, a child of 100, starts after this round's pass; its child 300
   * starts and ends before the next one. */
  uint64_t c_start = pidio_proc_boot_ticks();
  pidio_bpf_proc_t *g = machine_add(&w.m, 300, 200, "grandchild", 0, c_start, 0);
  g->pstart = c_start;
  machine_exit(&w.m, 300, 777777);
  update(&w, 1); /* 200 unknown: 300's record waits */
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 0);
  machine_add(&w.m, 200, 100, "child", 0, c_start, 55);
  update(&w, 2); /* 200 adopted from birth, 300 counted through it */
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 55 + 777777);
  update(&w, 2); /* and once only */
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 55 + 777777);
  world_close(&w);
}
END_TEST

/* Pid: only the target is looked at; a process that is not in the pass
 * is not there, whatever /proc says. CommandLine: the one file the pass
 * does not have is read from the process's directory, once, when its
 * start time there is the pass's. */
START_TEST(test_discover_pid_and_cmdline) {
  static world_t w;
  memset(&w, 0, sizeof(w));
  machine_init(&w.m);
  uint64_t old = pidio_proc_boot_ticks() - 500;
  machine_add(&w.m, 410, 1, "nginx", 0, old, 100);
  machine_add(&w.m, 411, 410, "nginx", 0, old, 100);
  pidio_select_t sel;
  char err[256];
  pidio_select_init(&sel);
  ck_assert_int_eq(pidio_select_set_pid(&sel, 411, err, sizeof(err)), 0);
  world_open(&w, &sel);
  update(&w, 1);
  machine_get(&w.m, 411)->io.v[PIDIO_WCHAR] = 150;
  machine_get(&w.m, 410)->io.v[PIDIO_WCHAR] = 900;
  update(&w, 1);
  ck_assert_uint_eq(w.b.total.v[PIDIO_WCHAR], 50);
  world_close(&w);

  memset(&w, 0, sizeof(w));
  machine_init(&w.m);
  pidio_select_init(&sel);
  ck_assert_int_eq(
      pidio_select_set_cmdline(&sel, "worker --queue=io", err, sizeof(err)), 0);
  /* In the tree, 410 and 411 are nginx with their own start times (1520,
   * 1523) and command lines. The pass says 411 started at 1523: its
   * command line is read; 410 at another time: another process, never
   * read as this one. 999 is in no tree. */
  machine_add(&w.m, 410, 1, "nginx", 0, 1521, 100);
  machine_add(&w.m, 411, 410, "nginx", 0, 1523, 100);
  machine_add(&w.m, 999, 1, "nginx", 0, old, 100);
  world_open(&w, &sel);
  static const char line[] = "nginx: worker --queue=io\0";
  tree_put(w.root, "411/cmdline", line, sizeof(line) - 1);
  tree_put(w.root, "410/cmdline", line, sizeof(line) - 1);
  update(&w, 1);
  pidio_member_t mem[4];
  ck_assert_uint_eq(pidio_block_members(&w.b, mem, 4), 1);
  ck_assert_int_eq(mem[0].pid, 411);
  world_close(&w);
}
END_TEST

Suite *make_bpf_suite(void) {
  Suite *s = suite_create("bpf");
  TCase *tc = tcase_create("decode");
  tcase_add_test(tc, test_sizes);
  tcase_add_test(tc, test_exit_single);
  tcase_add_test(tc, test_exit_threads);
  tcase_add_test(tc, test_exit_exec);
  tcase_add_test(tc, test_exit_damaged);
  tcase_add_test(tc, test_exit_unterminated);
  tcase_add_test(tc, test_exit_cgroup);
  tcase_add_test(tc, test_exit_paths);
  tcase_add_test(tc, test_exit_orphan);
  tcase_add_test(tc, test_proc_record);
  suite_add_tcase(s, tc);
  TCase *tf = tcase_create("feed");
  tcase_add_test(tf, test_feed_exits);
  tcase_add_test(tf, test_feed_passes);
  tcase_add_test(tf, test_feed_pass_error);
  suite_add_tcase(s, tf);
  TCase *td = tcase_create("discover");
  tcase_add_unchecked_fixture(td, tree_case_dir_make, tree_case_dir_remove);
  tcase_add_test(td, test_read_any_order);
  tcase_add_test(td, test_exit_waits_for_its_parent);
  tcase_add_test(td, test_discover_by_name);
  tcase_add_test(td, test_discover_user_children);
  tcase_add_test(td, test_discover_pid_and_cmdline);
  suite_add_tcase(s, td);
  return s;
}
