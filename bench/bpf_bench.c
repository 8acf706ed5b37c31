/*
 * bpf-bench: the BPF reader against the procfs reader and the kernel's own
 * task walk, side by side in one run, and the cost of an exit.
 *
 * Readers: for each size (default 200, 2000 and 10000 processes), it starts
 * that many idle processes (children of one helper, named "pidio-bm") and
 * measures, each method alone, P passes (default 8) INTERVAL ms apart
 * (default 1000) after one warm-up pass, the CPU time of this process
 * (CLOCK_PROCESS_CPUTIME_ID: user and kernel time, the iterator programs'
 * included) per matched process per pass, the median of the passes:
 *  - procfs: a pidio block selecting Name "pidio-bm" (held descriptors,
 *    pread and parse of /proc/<pid>/io), as the plugin reads by default;
 *  - bpf: the same block under the BPF reader, as the plugin runs it: a
 *    feed's pass over the machine, the block's processes found in it (no
 *    /proc listing), the members' own I/O taken from it, exits drained;
 *  - floor: an iterator program that does nothing, over every task: the
 *    kernel's walk, the least any iterator pass costs.
 * Memory per process: the blocks' heap (mallinfo2) and, for procfs, the
 * kernel's slab memory that the held descriptors add; for bpf the feed's
 * pass and the maps' memlock.
 * At the largest size, the sparse case: 10 more processes (pidio-sp) as
 * the only members, CPU per pass in all: the two blocks, the floor, and
 * looking the members up one by one (an iterator restricted to each pid,
 * empty: the least such a look-up costs, before any discovery).
 * Exits: a helper forks children that exit at once, paced at RATE per
 * second (default 10000) for SECONDS (default 10), while a thread drains
 * the ring buffer every 100 ms; three times: under a reader that keeps the
 * program and the cgroup path for exit records (as the plugin opens it
 * for blocks that select or group by them), the same with the exiting
 * processes three levels down the cgroup tree (when a cgroup v2 tree is
 * writable), and under a reader that keeps neither (every other block).
 * The exit program's own run time per run comes from the kernel's BPF
 * statistics (enabled through a descriptor for the run, nothing left
 * switched on); the drain's CPU per record from its thread's clock;
 * records lost are counted.
 *
 * History: N processes (default 2000; 0: none) each of which, before it
 * went idle, did nothing, reaped a child, had a second thread that ended,
 * or has a second thread (idle): the three methods again, for each, as
 * the BPF reader's work per process depends on it.
 * Usage: bpf-bench [--sizes 200,2000,10000] [--passes P] [--interval MS]
 *                  [--exit-rate RATE] [--exit-seconds S] [--history N]
 * Needs root (or CAP_BPF, CAP_PERFMON and what /proc reading needs).
 */
#include "pidio_build.h"

#include "pidio_block.h"
#include "pidio_bpf.h"
#include "pidio_fdbudget.h"
#include "pidio_proc.h"
#include "pidio_select.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "pidio_bpf_feed.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
  for (;;) {
    double d = t - now_s(CLOCK_MONOTONIC);
    if (d <= 0)
      return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* ---- the watched processes ---- */

/* What a watched process did before it went idle: how much of the BPF
 * reader's work it takes (see pidio.bpf.c's dump_task). */
enum history {
  FRESH,       /* nothing: one thread, never released one nor reaped */
  REAPED,      /* reaped a child of its own: the entry is looked up */
  THREAD_GONE, /* a second thread came and went: an entry, the full sum */
  TWO_THREADS  /* a second thread stays (idle): the full sum, two threads */
};

static void *idle_thread(void *arg) {
  (void)arg;
  for (;;)
    pause();
  return NULL;
}
static void *no_thread(void *arg) { return arg; }

static void make_history(enum history h) {
  pthread_t t;
  switch (h) {
  case FRESH:
    break;
  case REAPED: {
    pid_t g = fork();
    if (g == 0)
      _exit(0);
    if (g < 0 || waitpid(g, NULL, 0) != g)
      _exit(1);
    break;
  }
  case THREAD_GONE:
    if (pthread_create(&t, NULL, no_thread, NULL) != 0 ||
        pthread_join(t, NULL) != 0)
      _exit(1);
    break;
  case TWO_THREADS:
    if (pthread_create(&t, NULL, idle_thread, NULL) != 0)
      _exit(1);
    break;
  }
}

/* n idle children of a helper, named name, each with history h; their
 * pids into *pids, sorted. Returns the helper's pid (kill its process
 * group to end all). */
static pid_t spawn_as(int n, pid_t *pids, const char *name, enum history h) {
  int fds[2];
  if (pipe(fds) != 0)
    die("pipe");
  pid_t helper = fork();
  if (helper == 0) {
    setpgid(0, 0);
    close(fds[0]);
    int devnull = open("/dev/null", O_WRONLY);
    for (int i = 0; i < n; i++) {
      pid_t c = fork();
      if (c == 0) {
        prctl(PR_SET_NAME, name);
        char buf[1000] = {0};
        if (write(devnull, buf, sizeof(buf)) < 0)
          _exit(1);
        make_history(h);
        for (;;)
          pause();
      }
      if (c < 0)
        _exit(1);
      if (write(fds[1], &c, sizeof(c)) != (ssize_t)sizeof(c))
        _exit(1);
    }
    for (;;)
      pause();
  }
  close(fds[1]);
  for (int i = 0; i < n; i++)
    if (read(fds[0], &pids[i], sizeof(pid_t)) != (ssize_t)sizeof(pid_t))
      die("spawn");
  close(fds[0]);
  for (int i = 1; i < n; i++) /* insertion sort: pids come nearly sorted */
    for (int k = i; k > 0 && pids[k - 1] > pids[k]; k--) {
      pid_t t = pids[k];
      pids[k] = pids[k - 1];
      pids[k - 1] = t;
    }
  return helper;
}

static pid_t spawn(int n, pid_t *pids, const char *name) {
  return spawn_as(n, pids, name, FRESH);
}

/* End the helper's group and reap its n processes (the bench is their
 * subreaper, see main), or wait until they are gone, at most 20 s:
 * processes still exiting would be in the next measurement's walk, and
 * their BPF entries in its memory figures. */
static void reap_all(pid_t helper, const pid_t *pids, int n) {
  kill(-helper, SIGKILL);
  waitpid(helper, NULL, 0);
  for (int i = 0; i < n; i++)
    while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
      ;
  double until = now_s(CLOCK_MONOTONIC) + 20;
  for (int i = 0; i < n; i++)
    while (kill(pids[i], 0) == 0 && now_s(CLOCK_MONOTONIC) < until) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  int left = 0;
  for (int i = 0; i < n; i++)
    left += kill(pids[i], 0) == 0;
  if (left)
    printf("  (%d of the %d processes still there after 20 s)\n", left, n);
}

/* ---- the three methods ---- */

typedef struct method {
  const char *name;
  void (*pass)(void *ctx);
  void *ctx;
} method_t;

typedef struct procfs_ctx {
  pidio_proc_t proc;
  pidio_block_t block;
  unsigned matched;
} procfs_ctx_t;

static void procfs_pass(void *p) {
  procfs_ctx_t *c = p;
  pidio_report_t rep;
  pidio_block_update(&c->block, &rep);
  c->matched = rep.matched;
}

/* The floor: "r0 = 0; exit" as an iter/task program. */
typedef struct floor_ctx {
  int prog, link;
  const pid_t *pids; /* the per-pid look-ups: these */
  int n;
} floor_ctx_t;

static int floor_open(floor_ctx_t *c) {
  struct btf *vmlinux = btf__load_vmlinux_btf();
  if (vmlinux == NULL)
    return -1;
  int id = btf__find_by_name_kind(vmlinux, "bpf_iter_task", BTF_KIND_FUNC);
  btf__free(vmlinux);
  if (id < 0)
    return -1;
  struct bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_TRACE_ITER,
              .attach_btf_id = (__u32)id);
  int prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "pidio_floor", "GPL", insns,
                           2, &o);
  if (prog < 0)
    return -1;
  c->prog = prog;
  c->link = bpf_link_create(prog, 0, BPF_TRACE_ITER, NULL);
  return c->link < 0 ? -1 : 0;
}

/* Each member looked up alone: an iterator link restricted to its pid
 * (the kernel visits its threads only), created, read and closed. */
static void lookup_pass(void *p) {
  floor_ctx_t *c = p;
  for (int i = 0; i < c->n; i++) {
    union bpf_iter_link_info li;
    memset(&li, 0, sizeof(li));
    li.task.pid = (__u32)c->pids[i];
    LIBBPF_OPTS(bpf_link_create_opts, o, .iter_info = &li,
                .iter_info_len = sizeof(li));
    int link = bpf_link_create(c->prog, 0, BPF_TRACE_ITER, &o);
    if (link < 0)
      die("bpf_link_create (one pid)");
    int fd = bpf_iter_create(link);
    char buf[64];
    if (fd < 0)
      die("bpf_iter_create (one pid)");
    while (read(fd, buf, sizeof(buf)) > 0)
      ;
    close(fd);
    close(link);
  }
}

static void floor_pass(void *p) {
  floor_ctx_t *c = p;
  int fd = bpf_iter_create(c->link);
  char buf[64];
  if (fd < 0)
    die("bpf_iter_create");
  while (read(fd, buf, sizeof(buf)) > 0)
    ;
  close(fd);
}

static int dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* µs of this process's CPU per matched process per pass: the median. */
static double measure(const method_t *m, int n, int passes, int interval_ms) {
  m->pass(m->ctx); /* warm-up: descriptors opened, maps filled */
  double t[64];
  if (passes > 64)
    passes = 64;
  double next = now_s(CLOCK_MONOTONIC);
  for (int i = 0; i < passes; i++) {
    next += interval_ms / 1000.0;
    sleep_until(next);
    double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    m->pass(m->ctx);
    t[i] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
  }
  qsort(t, (size_t)passes, sizeof(t[0]), dbl_cmp);
  double med =
      passes % 2 ? t[passes / 2] : (t[passes / 2 - 1] + t[passes / 2]) / 2;
  return med / n * 1e6;
}

/* Bytes in use from malloc, large blocks (mmapped) included. */
static long heap_bytes(void) {
  struct mallinfo2 mi = mallinfo2();
  return (long)(mi.uordblks + mi.hblkhd);
}

/* The "<key>: N kB" line of a /proc file, in bytes; -1 without it. */
static long kb_line(const char *path, const char *key) {
  FILE *f = fopen(path, "r");
  char line[256];
  long kb = -1;
  size_t klen = strlen(key);
  while (f != NULL && fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, key, klen) == 0 && line[klen] == ':' &&
        sscanf(line + klen + 1, "%ld kB", &kb) == 1)
      break;
  if (f != NULL)
    fclose(f);
  return kb * 1024;
}

/* This process's resident memory: what of the heap is touched (the
 * tables' capacity beyond their use is address space only). */
static long rss_bytes(void) { return kb_line("/proc/self/status", "VmRSS"); }

/* The kernel's slab memory (reclaimable or not). */
static long slab_bytes(void) { return kb_line("/proc/meminfo", "Slab"); }

static int count_tasks(void) {
  /* Every task of the machine: what an iterator walks. */
  FILE *f = fopen("/proc/loadavg", "r");
  int run = 0, all = 0;
  if (f != NULL) {
    if (fscanf(f, "%*s %*s %*s %d/%d", &run, &all) != 2)
      all = 0;
    fclose(f);
  }
  return all;
}

/* What a block cost in memory: its heap after its last update, and the
 * kernel slab memory its first update added (the held descriptors; noisy
 * on a busy machine: other work allocates too). */
typedef struct block_mem {
  long heap, rss, slab;
} block_mem_t;

/* A block selecting name, alone: under the procfs reader (own NULL) or
 * the BPF reader; its matched count of the last pass in *matched. */
static double measure_block(const char *name, int n, int passes,
                            int interval_ms, const pidio_ownio_t *own,
                            unsigned *matched, block_mem_t *mem) {
  procfs_ctx_t pc;
  memset(&pc, 0, sizeof(pc));
  if (pidio_proc_open(&pc.proc, "/proc") != 0)
    die("/proc");
  pidio_select_t sel;
  char err[256];
  pidio_select_init(&sel);
  if (pidio_select_set_name(&sel, name, err, sizeof(err)) != 0)
    die(err);
  malloc_trim(0); /* what earlier blocks freed is given back first */
  long h0 = heap_bytes(), r0 = rss_bytes(), s0 = slab_bytes();
  pidio_block_init(&pc.block, &pc.proc, &sel);
  if (own != NULL)
    pidio_block_set_ownio(&pc.block, own);
  procfs_pass(&pc);
  if (mem != NULL)
    mem->slab = slab_bytes() - s0;
  method_t mp = {"block", procfs_pass, &pc};
  double t = measure(&mp, n, passes, interval_ms);
  *matched = pc.matched;
  /* The heap as it stays from interval to interval (the table and its
   * merge buffer, the feed's latest pass), not only after the first. */
  if (mem != NULL) {
    mem->heap = heap_bytes() - h0;
    mem->rss = rss_bytes() - r0;
  }
  pidio_block_free(&pc.block);
  pidio_proc_close(&pc.proc);
  return t;
}

/* The sparse case: 10 members among the many. Per pass, in all: the
 * procfs block reads its 10 (and looks for new processes), the BPF block
 * takes the pass over every task and finds its 10 there, the floor walks
 * every task, and the one-by-one look-ups visit the 10 alone. */
static void bench_sparse(const pidio_ownio_t *own, int many, int passes,
                         int interval_ms, floor_ctx_t *fl) {
  pid_t pids[10];
  pid_t helper = spawn(10, pids, "pidio-sp");
  unsigned proc_matched, bpf_matched;
  double t_proc = measure_block("pidio-sp", 1, passes, interval_ms, NULL,
                                &proc_matched, NULL);
  double t_bpf = measure_block("pidio-sp", 1, passes, interval_ms, own,
                               &bpf_matched, NULL);
  method_t mf = {"floor", floor_pass, fl};
  double t_floor = measure(&mf, 1, passes, interval_ms);
  floor_ctx_t one = *fl;
  one.pids = pids;
  one.n = 10;
  method_t ml = {"lookup", lookup_pass, &one};
  double t_look = measure(&ml, 1, passes, interval_ms);
  printf("  sparse: 10 members among %d+ processes, us per pass (median): "
         "procfs block %.1f, bpf block %.1f, floor %.1f, 10 one-pid "
         "iterators %.1f (procfs matched %u, bpf %u)\n",
         many, t_proc, t_bpf, t_floor, t_look, proc_matched, bpf_matched);
  fflush(stdout);
  reap_all(helper, pids, 10);
}

/* The same block over n processes that did something before they went
 * idle (enum history): what the BPF reader's pass costs for processes that
 * reaped a child or have or had more threads, beside the procfs reader
 * and the floor, measured as in bench_readers. */
static void bench_history(pidio_bpf_t *b, const pidio_ownio_t *own, int n,
                          int passes, int interval_ms) {
  static const char *what[] = {
      [FRESH] = "none (as above)",
      [REAPED] = "each reaped a child",
      [THREAD_GONE] = "each had a second thread, ended",
      [TWO_THREADS] = "each has a second thread, idle"};
  floor_ctx_t fl;
  if (floor_open(&fl) != 0)
    die("empty iterator");
  printf("\nhistory: %d processes that did something before they went idle; "
         "us of CPU per matched process per pass, median\n"
         "%-34s %8s  %12s %12s %12s  %9s %9s\n",
         n, "before going idle", "tasks", "procfs us/p", "bpf us/p",
         "floor us/p", "bpf/proc", "bpf/floor");
  for (int h = FRESH; h <= TWO_THREADS; h++) {
    pid_t *pids = calloc((size_t)n, sizeof(pid_t));
    uint64_t k0 = pidio_bpf_kernel_bytes(b);
    pid_t helper = spawn_as(n, pids, "pidio-bh", (enum history)h);
    uint64_t k1 = pidio_bpf_kernel_bytes(b);
    int tasks = count_tasks();
    unsigned proc_matched, bpf_matched;
    double t_proc = measure_block("pidio-bh", n, passes, interval_ms, NULL,
                                  &proc_matched, NULL);
    double t_bpf = measure_block("pidio-bh", n, passes, interval_ms, own,
                                 &bpf_matched, NULL);
    method_t mf = {"floor", floor_pass, &fl};
    double t_floor = measure(&mf, n, passes, interval_ms);
    printf("%-34s %8d  %12.3f %12.3f %12.3f  %9.2f %9.2f\n", what[h], tasks,
           t_proc, t_bpf, t_floor, t_bpf / t_proc, t_bpf / t_floor);
    if (bpf_matched != (unsigned)n || proc_matched != (unsigned)n)
      printf("  matched: procfs %u, bpf %u of %d\n", proc_matched,
             bpf_matched, n);
    reap_all(helper, pids, n);
    /* An entry goes when its task is freed, after an RCU grace period. */
    double t0 = now_s(CLOCK_MONOTONIC);
    while (pidio_bpf_kernel_bytes(b) > k0 && now_s(CLOCK_MONOTONIC) < t0 + 10) {
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    printf("  BPF maps' memlock %+lld B per process while they live, %+lld B "
           "in all %.1f s after they were reaped\n",
           (long long)(k1 - k0) / n,
           (long long)(pidio_bpf_kernel_bytes(b) - k0),
           now_s(CLOCK_MONOTONIC) - t0);
    fflush(stdout);
    free(pids);
  }
  close(fl.link);
  close(fl.prog);
}

static void bench_readers(pidio_bpf_t *b, const pidio_ownio_t *own,
                          const int *sizes, int nsizes, int passes,
                          int interval_ms) {
  floor_ctx_t fl;
  if (floor_open(&fl) != 0)
    die("empty iterator");
  printf("\n%8s %8s  %12s %12s %12s  %9s %9s  %12s %12s\n", "matched", "tasks",
         "procfs us/p", "bpf us/p", "floor us/p", "bpf/proc", "bpf/floor",
         "bpf us/task", "floor us/task");
  for (int s = 0; s < nsizes; s++) {
    int n = sizes[s];
    pid_t *pids = calloc((size_t)n, sizeof(pid_t));
    pid_t helper = spawn(n, pids, "pidio-bm");
    int tasks = count_tasks();

    unsigned proc_matched, bpf_matched;
    block_mem_t pm, bm;
    double t_proc = measure_block("pidio-bm", n, passes, interval_ms, NULL,
                                  &proc_matched, &pm);
    uint64_t k0 = pidio_bpf_kernel_bytes(b);
    double t_bpf = measure_block("pidio-bm", n, passes, interval_ms, own,
                                 &bpf_matched, &bm);
    uint64_t k1 = pidio_bpf_kernel_bytes(b);

    method_t mf = {"floor", floor_pass, &fl};
    double t_floor = measure(&mf, n, passes, interval_ms);

    /* The walk visits every task of the machine: per task, what the
     * figures are when other work runs many processes too. */
    int tasks_after = count_tasks();
    double walked = (tasks + tasks_after) / 2.0;
    printf("%8d %8d  %12.3f %12.3f %12.3f  %9.2f %9.2f  %12.3f %12.3f\n", n,
           tasks, t_proc, t_bpf, t_floor, t_bpf / t_proc, t_bpf / t_floor,
           t_bpf * n / walked, t_floor * n / walked);
    if (bpf_matched != (unsigned)n)
      printf("  bpf matched %u of %d\n", bpf_matched, n);
    if (proc_matched != (unsigned)n)
      printf("  procfs matched %u of %d\n", proc_matched, n);
    printf("  memory per task of the machine (every task is tracked): procfs "
           "block heap %.0f B, resident %.0f B; bpf block heap %.0f B, "
           "resident %.0f B (the feed's pass %zu B of it)\n"
           "  kernel: procfs held descriptors %+.0f B of slab per matched "
           "process; BPF maps' memlock %llu B in all (%+lld B over the "
           "bpf block's run)\n",
           (double)pm.heap / walked, (double)pm.rss / walked,
           (double)bm.heap / walked, (double)bm.rss / walked,
           sizeof(pidio_bpf_proc_t), (double)pm.slab / n,
           (unsigned long long)k1, (long long)(k1 - k0));
    fflush(stdout);
    if (s == nsizes - 1)
      bench_sparse(own, n, passes, interval_ms, &fl);
    reap_all(helper, pids, n);
    free(pids);
  }
  close(fl.link);
  close(fl.prog);
}

/* Kernel memory per process that did exec while the reader was loaded
 * (its exec identity is kept until it exits): 2000 sleeps. */
static void bench_exec_memory(pidio_bpf_t *b) {
  enum { N = 2000 };
  static pid_t pids[N];
  pidio_bpf_drain(b, NULL, NULL);
  uint64_t before = pidio_bpf_kernel_bytes(b);
  for (int i = 0; i < N; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      execl("/bin/sleep", "sleep", "600", (char *)NULL);
      _exit(127);
    }
  }
  struct timespec ts = {1, 0};
  nanosleep(&ts, NULL);
  uint64_t after = pidio_bpf_kernel_bytes(b);
  for (int i = 0; i < N; i++)
    kill(pids[i], SIGKILL);
  for (int i = 0; i < N; i++)
    waitpid(pids[i], NULL, 0);
  pidio_bpf_drain(b, NULL, NULL);
  printf("\nkernel memory: %llu bytes more with %d processes that did "
         "exec (%.0f bytes each); %llu after they exited\n",
         (unsigned long long)(after - before), N,
         (double)(after - before) / N,
         (unsigned long long)pidio_bpf_kernel_bytes(b));
}

/* ---- exits ---- */

static atomic_int drain_stop;
typedef struct drain_ctx {
  pidio_bpf_t *b;
  uint64_t records;
  double cpu;
} drain_ctx_t;

static void count_exit(const pidio_bpf_exit_t *e, const void *raw,
                       size_t len, void *ctx) {
  (void)e;
  (void)raw;
  (void)len;
  ((drain_ctx_t *)ctx)->records++;
}

static void *drainer(void *arg) {
  drain_ctx_t *d = arg;
  while (!atomic_load(&drain_stop)) {
    struct timespec ts = {0, 100000000L};
    nanosleep(&ts, NULL);
    double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    pidio_bpf_drain(d->b, count_exit, d);
    d->cpu += now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  }
  double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
  pidio_bpf_drain(d->b, count_exit, d);
  d->cpu += now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  return NULL;
}

/* run time and count of a program, from the kernel's BPF statistics. */
static void prog_stats(int fd, uint64_t *ns, uint64_t *cnt) {
  struct bpf_prog_info info;
  __u32 len = sizeof(info);
  memset(&info, 0, sizeof(info));
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
    *ns = info.run_time_ns;
    *cnt = info.run_cnt;
  } else {
    *ns = *cnt = 0;
  }
}

/* The exit program of the reader this process loaded: by name, among the
 * BPF programs whose descriptors this process holds (libbpf keeps them),
 * not among the machine's: other readers may be loaded meanwhile. */
static int find_prog(const char *name) {
  int best = -1;
  for (int fd = 3; fd < 4096 && best < 0; fd++) {
    char path[64], target[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
      continue;
    target[n] = '\0';
    if (strcmp(target, "anon_inode:bpf-prog") != 0)
      continue;
    struct bpf_prog_info info;
    __u32 len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
        strcmp(info.name, name) == 0)
      best = dup(fd);
  }
  return best;
}

/* A process that only exits. vfork: no page tables to copy, so two
 * forkers reach the rate on two CPUs. */
static __attribute__((noinline)) void one_exit(void) {
  pid_t c = vfork();
  if (c == 0)
    _exit(0);
  if (c > 0)
    waitpid(c, NULL, 0);
}

/* A cgroup three levels below this process's own in the cgroup v2 tree,
 * named like a systemd service's (a slice, a slice, a service): made in
 * dir (its leaf), or -1 when there is no writable cgroup v2 tree. The
 * exit records' cgroup path is walked from the leaf up at every exit. */
static const char *const nested[] = {"pidio-bench.slice",
                                     "pidio-bench-exits.slice",
                                     "pidio-bench-exits.service"};
static int nested_cgroup(char *dir, size_t dirsz, size_t *made) {
  char line[4096], mnt[4096] = "", own[4096] = "";
  *made = 0;
  FILE *f = fopen("/proc/self/mountinfo", "re");
  while (f != NULL && fgets(line, sizeof(line), f) != NULL)
    if (strstr(line, " - cgroup2 ") != NULL &&
        sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1)
      break;
  if (f != NULL)
    fclose(f);
  f = fopen("/proc/self/cgroup", "re");
  while (f != NULL && fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, "0::", 3) == 0) {
      snprintf(own, sizeof(own), "%s", line + 3);
      own[strcspn(own, "\n")] = '\0';
    }
  if (f != NULL)
    fclose(f);
  if (mnt[0] == '\0' || own[0] == '\0')
    return -1;
  int n = snprintf(dir, dirsz, "%s%s", mnt, strcmp(own, "/") == 0 ? "" : own);
  for (size_t i = 0; i < sizeof(nested) / sizeof(nested[0]); i++) {
    n += snprintf(dir + n, dirsz - (size_t)n, "/%s", nested[i]);
    if ((size_t)n >= dirsz || (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
      if ((size_t)n < dirsz) /* back to the last level made */
        *strrchr(dir, '/') = '\0';
      return -1;
    }
    (*made)++;
  }
  return 0;
}
/* Remove the made levels of dir, from its leaf up. */
static void nested_cgroup_remove(char *dir, size_t made) {
  for (size_t i = 0; i < made; i++) {
    rmdir(dir);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
      break;
    *slash = '\0';
  }
}

/* Exits under reader b, which keeps what `what` says; in cgroup cgdir (its
 * directory) when not NULL. */
static void bench_exits(pidio_bpf_t *b, int rate, int seconds,
                        const char *what, const char *cgdir) {
  int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  int prog = find_prog("on_exit");
  uint64_t ns0 = 0, cnt0 = 0, ns1 = 0, cnt1 = 0;
  if (stats_fd < 0 || prog < 0)
    printf("\n(BPF run-time statistics unavailable: %s)\n", strerror(errno));
  else
    prog_stats(prog, &ns0, &cnt0);
  pidio_bpf_stats_t s0, s1;
  pidio_bpf_drain(b, NULL, NULL);
  pidio_bpf_get_stats(b, &s0);

  drain_ctx_t d = {.b = b};
  pthread_t th;
  atomic_store(&drain_stop, 0);
  pthread_create(&th, NULL, drainer, &d);

  /* Two forkers, each at half the rate, on an absolute schedule in
   * batches of 10. */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t forkers[2];
  for (int f = 0; f < 2; f++) {
    forkers[f] = fork();
    if (forkers[f] == 0) {
      if (cgdir != NULL) {
        char path[4200], num[32];
        snprintf(path, sizeof(path), "%s/cgroup.procs", cgdir);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        int len = snprintf(num, sizeof(num), "%d", (int)getpid());
        if (fd < 0 || write(fd, num, (size_t)len) != len)
          _exit(2);
        close(fd);
      }
      double start = now_s(CLOCK_MONOTONIC);
      long total = (long)rate * seconds / 2;
      for (long i = 0; i < total; i += 10) {
        sleep_until(start + (double)i / (rate / 2.0));
        for (int k = 0; k < 10; k++)
          one_exit();
      }
      _exit(0);
    }
  }
  for (int f = 0; f < 2; f++)
    waitpid(forkers[f], NULL, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  atomic_store(&drain_stop, 1);
  pthread_join(th, NULL);
  pidio_bpf_get_stats(b, &s1);
  if (prog >= 0)
    prog_stats(prog, &ns1, &cnt1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  uint64_t exits = s1.exits - s0.exits;
  printf("\nexits, %s: %llu process exits in %.1f s (%.0f/s, asked %d/s), "
         "%llu drained, %llu lost\n",
         what, (unsigned long long)exits, secs, (double)exits / secs, rate,
         (unsigned long long)d.records,
         (unsigned long long)(s1.lost - s0.lost));
  if (cnt1 > cnt0)
    printf("  exit program: %.3f us per run (%llu runs: one per thread "
           "exit)\n",
           (double)(ns1 - ns0) / (double)(cnt1 - cnt0) / 1e3,
           (unsigned long long)(cnt1 - cnt0));
  if (d.records)
    printf("  drain: %.3f us of CPU per record (every 100 ms)\n",
           d.cpu / (double)d.records * 1e6);
  printf("  kernel memory of the BPF maps after: %llu bytes\n",
         (unsigned long long)pidio_bpf_kernel_bytes(b));
  if (prog >= 0)
    close(prog);
  if (stats_fd >= 0)
    close(stats_fd);
}

/* The reader as the feed's source; the bench closes it itself. */
static int src_pass(void *ctx, pidio_bpf_proc_fn fn, void *fnctx) {
  return pidio_bpf_pass(ctx, fn, fnctx);
}
static int src_drain(void *ctx, pidio_bpf_exit_fn fn, void *fnctx) {
  return pidio_bpf_drain(ctx, fn, fnctx);
}
static uint64_t src_lost(void *ctx) {
  pidio_bpf_stats_t st;
  pidio_bpf_get_stats(ctx, &st);
  return st.lost;
}
static void src_close(void *ctx) { (void)ctx; }

int main(int argc, char **argv) {
  int sizes[8] = {200, 2000, 10000}, nsizes = 3;
  int passes = 8, interval = 1000, rate = 10000, seconds = 10;
  int history = 2000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
      nsizes = 0;
      for (char *t = strtok(argv[++i], ","); t && nsizes < 8;
           t = strtok(NULL, ","))
        sizes[nsizes++] = atoi(t);
    } else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc) {
      passes = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
      interval = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--exit-rate") == 0 && i + 1 < argc) {
      rate = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--exit-seconds") == 0 && i + 1 < argc) {
      seconds = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--history") == 0 && i + 1 < argc) {
      history = atoi(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: bpf-bench [--sizes 200,2000,10000] [--passes P] "
              "[--interval MS] [--exit-rate RATE] [--exit-seconds S] "
              "[--history N]\n");
      return 2;
    }
  }
  /* Orphans of the helpers come here to be reaped (reap_all): the bench
   * knows when they are gone, whatever the machine's init does. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  struct rlimit rl = {65536, 65536};
  setrlimit(RLIMIT_NOFILE, &rl); /* the procfs reader holds a descriptor each */
  pidio_fdbudget_set(60000);
  pidio_bpf_t *b;
  char why[512];
  if (pidio_bpf_open(&b, NULL, why, sizeof(why)) != 0) {
    fprintf(stderr, "bpf-bench: %s\n", why);
    return 1;
  }
  /* The plugin's path: a feed over the reader (drained by the blocks'
   * reads here, no thread), and a block's view of it. */
  pidio_bpf_source_t src = {b, src_pass, src_drain, src_lost, src_close};
  pidio_bpf_feed_opts_t fo = {.drain_ms = -1};
  pidio_bpf_feed_t *feed;
  pidio_ownio_t own;
  if (pidio_bpf_feed_new(&feed, &src, &fo) != 0 ||
      pidio_bpf_feed_attach(feed, 0, &own) != 0) {
    fprintf(stderr, "bpf-bench: no memory for the feed\n");
    return 1;
  }
  printf("bpf-bench: %d passes %d ms apart per method and size; CPU of this "
         "process (user + kernel) per matched process per pass, median\n",
         passes, interval);
  bench_readers(b, &own, sizes, nsizes, passes, interval);
  if (history > 0)
    bench_history(b, &own, history, passes, interval);
  pidio_bpf_feed_detach(feed, &own);
  pidio_bpf_feed_free(feed);
  bench_exec_memory(b);
  if (rate > 0 && seconds > 0) {
    /* The reader as the plugin opens it for blocks that select or group
     * by the program or the cgroup: exit records with both paths. */
    bench_exits(b, rate, seconds,
                "a reader keeping the program and the cgroup path (for Exe, "
                "CommandLine, Cgroup, GroupBy exe, cgroup or unit), the "
                "exiting processes in this process's cgroup",
                NULL);
    char dir[4200];
    size_t made;
    if (nested_cgroup(dir, sizeof(dir), &made) == 0) {
      bench_exits(b, rate, seconds,
                  "the same reader, the exiting processes three levels down "
                  "the cgroup tree, as in a systemd service",
                  dir);
    } else {
      printf("\n(no writable cgroup v2 tree: exits in a nested cgroup not "
             "measured)\n");
    }
    nested_cgroup_remove(dir, made);
  }
  pidio_bpf_close(b);
  if (rate > 0 && seconds > 0) {
    /* And as it opens it for every other block: neither is kept. */
    pidio_bpf_opts_t lean = {.skip_exec = true, .skip_cgroup = true};
    if (pidio_bpf_open(&b, &lean, why, sizeof(why)) != 0) {
      fprintf(stderr, "bpf-bench: %s\n", why);
      return 1;
    }
    bench_exits(b, rate, seconds,
                "a reader keeping neither (Name, User, Pid, PidFile, "
                "Children, All; GroupBy comm or user)",
                NULL);
    pidio_bpf_close(b);
  }
  return 0;
}
