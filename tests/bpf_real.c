/*
 * bpf_real: the BPF reader against real processes (needs root, or CAP_BPF
 * and CAP_PERFMON; exit 77 otherwise).
 *
 * Every expected figure is computed from what the test's own processes
 * wrote: they write only to /dev/null (so wchar and syscw are exactly what
 * they asked for) and wait on shared memory, never on a pipe or a file
 * (which would add reads). Checks:
 *  - a single-threaded process's own I/O in a pass, its start time against
 *    /proc/<pid>/stat, and its exit record with the I/O after the pass;
 *  - threads that exit early, and threads still running at exit_group;
 *  - a parent that reaps its children: its own I/O leaves theirs out
 *    (while /proc/<pid>/io folds it in), and each child's exit record is
 *    exact and names the parent;
 *  - 80 short-lived children of one parent, and a storm of 4000 processes
 *    of 1 to 4 threads: every exit record exact, none lost;
 *  - exec: the exit record carries the path and command line;
 *  - a process that creates and ends threads without pause while passes
 *    read it: every figure is within what its threads had written before
 *    and after the pass, and never goes down;
 *  - loading and closing leave no program, link or descriptor behind,
 *    also when it fails (BTF missing, simulated with libbpf's
 *    btf_custom_path pointing at a file that is not BTF);
 *  - nobody with CAP_BPF and CAP_PERFMON loads and reads a root process;
 *    with CAP_BPF alone, or nothing, it is refused with the remedy;
 *  - blocks reading own I/O through a feed (pidio_block_set_ownio): a
 *    parent that reaps children counts its own I/O only (Pid), its
 *    children theirs (Name), the two together once (Pid + Children), and
 *    40 children of an unselected parent that lived 5 ms each count
 *    exactly from their exit records.
 * The last line is "bpf_real: N passed, M failed".
 */
#include "pidio_build.h"

#include "pidio_block.h"
#include "pidio_bpf.h"
#include "pidio_bpf_feed.h"
#include "pidio_proc.h"

#include <bpf/bpf.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s: ", ok ? "PASS" : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if (ok)
    passed++;
  else
    failed++;
}

/* ---- what the test's processes share ---- */

struct shared {
  atomic_int stage[64]; /* per child slot: how far it got */
  atomic_int go[64];    /* per child slot: the parent's word */
  atomic_ullong started, done; /* the thread storm's threads */
  atomic_int stop;
};
static struct shared *sh;
static int devnull;

static void nap_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static void wait_for(atomic_int *v, int at_least) {
  while (atomic_load(v) < at_least)
    nap_us(200);
}

/* n bytes in calls calls of n/calls (the last takes the remainder). */
static void write_n(unsigned long long n, unsigned calls) {
  static char buf[1 << 20];
  for (unsigned i = 0; i < calls; i++) {
    size_t len = (size_t)(i + 1 < calls ? n / calls : n - (n / calls) * (calls - 1));
    if (write(devnull, buf, len) != (ssize_t)len)
      _exit(3);
  }
}

/* ---- collecting records ---- */

#define MAXEXIT 8192
static pidio_bpf_exit_t exits[MAXEXIT];
static size_t nexits;
/* The raw records of the last few exits, for PIDIO_BPF_RECORD. */
static unsigned char raws[64][2048];
static size_t rawlens[64];

/* Only the records of this program's children (and of the one child whose
 * children are watched): the machine's other exits, from other programs
 * running meanwhile, would fill the array. */
static pid_t watched_parent;

static void on_exit_rec(const pidio_bpf_exit_t *e, const void *raw,
                        size_t rawlen, void *ctx) {
  (void)ctx;
  if (e->p.ppid != getpid() &&
      (watched_parent == 0 || e->p.ppid != watched_parent))
    return;
  if (nexits < MAXEXIT) {
    if (rawlen <= sizeof(raws[0])) {
      memcpy(raws[nexits % 64], raw, rawlen);
      rawlens[nexits % 64] = rawlen;
    }
    exits[nexits++] = *e;
  }
}

/* With PIDIO_BPF_RECORD=DIR, keep pid's raw exit record as DIR/NAME: how
 * the unit tests' fixtures (fixtures/bpf/) were made. */
static void record(const char *name, pid_t pid) {
  const char *dir = getenv("PIDIO_BPF_RECORD");
  if (dir == NULL)
    return;
  for (size_t i = nexits; i-- > 0 && i + 64 >= nexits;)
    if (exits[i].p.pid == pid) {
      char path[4096];
      snprintf(path, sizeof(path), "%s/%s", dir, name);
      FILE *f = fopen(path, "wb");
      if (f != NULL) {
        fwrite(raws[i % 64], 1, rawlens[i % 64], f);
        fclose(f);
      }
      return;
    }
}

/* The exit record of pid whose parent was ppid: another process of the
 * machine may get the same pid meanwhile (pid_max may be 32768). */
static const pidio_bpf_exit_t *find_exit(pid_t pid, pid_t ppid) {
  for (size_t i = nexits; i-- > 0;)
    if (exits[i].p.pid == pid && exits[i].p.ppid == ppid)
      return &exits[i];
  return NULL;
}

/* Drain until pid's exit record has come (or 5 s have passed; only 0.1 s
 * after a record was already missing, so that a broken run ends). */
static int missed;
static const pidio_bpf_exit_t *await_exit(pidio_bpf_t *b, pid_t pid,
                                          pid_t ppid) {
  for (int i = 0; i < (missed ? 10 : 500); i++) {
    pidio_bpf_drain(b, on_exit_rec, NULL);
    const pidio_bpf_exit_t *e = find_exit(pid, ppid);
    if (e != NULL)
      return e;
    nap_us(10000);
  }
  missed++;
  return NULL;
}

struct want {
  pid_t pid;
  pidio_bpf_proc_t got;
  int found;
};

static int on_proc(const pidio_bpf_proc_t *p, void *ctx) {
  struct want *w = ctx;
  if (p->pid == w->pid) {
    w->got = *p;
    w->found++;
  }
  return 0;
}

static int pass_for(pidio_bpf_t *b, pid_t pid, pidio_bpf_proc_t *out) {
  struct want w = {.pid = pid};
  int err = pidio_bpf_pass(b, on_proc, &w);
  if (err != 0 || w.found != 1)
    return err ? err : -ENOENT;
  *out = w.got;
  return 0;
}

static uint64_t proc_start_ticks(pid_t pid) {
  pidio_proc_t p;
  pidio_stat_t st;
  uint64_t ticks = 0;
  if (pidio_proc_open(&p, "/proc") != 0)
    return 0;
  int fd = pidio_proc_open_pid(&p, pid);
  if (fd >= 0 && pidio_proc_read_stat(fd, &st) == 0)
    ticks = st.start_time;
  if (fd >= 0)
    close(fd);
  pidio_proc_close(&p);
  return ticks;
}

static int proc_io(pid_t pid, pidio_io_t *io) {
  pidio_proc_t p;
  int ret = -1;
  if (pidio_proc_open(&p, "/proc") != 0)
    return -1;
  int fd = pidio_proc_open_pid(&p, pid);
  if (fd >= 0) {
    int io_fd = pidio_proc_open_io(fd);
    if (io_fd >= 0) {
      ret = pidio_proc_read_io(io_fd, io);
      close(io_fd);
    }
    close(fd);
  }
  pidio_proc_close(&p);
  return ret;
}

/* ---- scenarios ---- */

static void test_single(pidio_bpf_t *b) {
  pid_t c = fork();
  if (c == 0) {
    write_n(1000003, 7);
    atomic_store(&sh->stage[0], 1);
    wait_for(&sh->go[0], 1);
    write_n(5, 1); /* after the pass: only the exit record has it */
    _exit(0);
  }
  wait_for(&sh->stage[0], 1);
  pidio_bpf_proc_t p;
  int err = pass_for(b, c, &p);
  check(err == 0, "single: the pass lists the process (%d)", err);
  check(p.io.v[PIDIO_WCHAR] == 1000003 && p.io.v[PIDIO_SYSCW] == 7 &&
            p.io.v[PIDIO_RCHAR] == 0 && p.io.v[PIDIO_SYSCR] == 0,
        "single: own wchar %llu syscw %llu rchar %llu (want 1000003 7 0)",
        (unsigned long long)p.io.v[PIDIO_WCHAR],
        (unsigned long long)p.io.v[PIDIO_SYSCW],
        (unsigned long long)p.io.v[PIDIO_RCHAR]);
  uint64_t ticks = proc_start_ticks(c);
  check(ticks != 0 && p.start == ticks,
        "single: start %llu ticks = /proc/%d/stat's %llu",
        (unsigned long long)p.start, (int)c, (unsigned long long)ticks);
  check(p.ppid == getpid() && p.pstart == proc_start_ticks(getpid()) &&
            p.nthreads == 1 && p.uid == getuid() && !(p.flags & PIDIO_BPF_F_UNSTABLE),
        "single: ppid %d pstart %llu threads %u uid %u flags %#x",
        (int)p.ppid, (unsigned long long)p.pstart, p.nthreads,
        (unsigned)p.uid, p.flags);
  atomic_store(&sh->go[0], 1);
  waitpid(c, NULL, 0);
  const pidio_bpf_exit_t *e = await_exit(b, c, getpid());
  check(e != NULL, "single: an exit record came");
  record("exit-single.bin", c);
  if (e != NULL)
    check(e->p.io.v[PIDIO_WCHAR] == 1000008 && e->p.io.v[PIDIO_SYSCW] == 8 &&
              e->p.start == ticks && e->p.ppid == getpid() &&
              !(e->p.flags & PIDIO_BPF_F_EXEC_SEEN),
          "single: exit wchar %llu syscw %llu (want 1000008 8), start %llu",
          (unsigned long long)e->p.io.v[PIDIO_WCHAR],
          (unsigned long long)e->p.io.v[PIDIO_SYSCW],
          (unsigned long long)e->p.start);
}

static void *thread_write(void *arg) {
  write_n((unsigned long long)(uintptr_t)arg, 1);
  return NULL;
}

static void *thread_write_block(void *arg) {
  write_n((unsigned long long)(uintptr_t)arg, 1);
  atomic_fetch_add(&sh->stage[2], 1);
  for (;;)
    pause();
  return NULL;
}

static void test_threads(pidio_bpf_t *b) {
  pid_t c = fork();
  if (c == 0) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
      pthread_create(&t[i], NULL, thread_write, (void *)(uintptr_t)1001);
    for (int i = 0; i < 8; i++)
      pthread_join(t[i], NULL);
    write_n(55, 1);
    atomic_store(&sh->stage[1], 1);
    wait_for(&sh->go[1], 1);
    /* Three threads still running when the process exits. */
    for (int i = 0; i < 3; i++)
      pthread_create(&t[i], NULL, thread_write_block, (void *)(uintptr_t)777);
    wait_for(&sh->stage[2], 3);
    exit(0); /* exit_group: the three end with it */
  }
  wait_for(&sh->stage[1], 1);
  pidio_bpf_proc_t p;
  int err = pass_for(b, c, &p);
  check(err == 0 && p.io.v[PIDIO_WCHAR] == 8 * 1001 + 55 &&
            p.io.v[PIDIO_SYSCW] == 9 && p.nthreads == 1,
        "threads: 8 dead threads x 1001 + 55 from main: own wchar %llu syscw "
        "%llu, %u live thread(s) (want 8063 9 1)",
        (unsigned long long)p.io.v[PIDIO_WCHAR],
        (unsigned long long)p.io.v[PIDIO_SYSCW], p.nthreads);
  atomic_store(&sh->go[1], 1);
  waitpid(c, NULL, 0);
  const pidio_bpf_exit_t *e = await_exit(b, c, getpid());
  check(e != NULL && e->p.io.v[PIDIO_WCHAR] == 8063 + 3 * 777 &&
            e->p.io.v[PIDIO_SYSCW] == 12,
        "threads: exit_group with 3 threads running: exit wchar %llu syscw "
        "%llu (want 10394 12)",
        e ? (unsigned long long)e->p.io.v[PIDIO_WCHAR] : 0ULL,
        e ? (unsigned long long)e->p.io.v[PIDIO_SYSCW] : 0ULL);
  record("exit-threads.bin", c);
}

static void *thread_write_wait(void *arg) {
  write_n((unsigned long long)(uintptr_t)arg, 1);
  atomic_fetch_add(&sh->stage[40], 1);
  wait_for(&sh->go[40], 1);
  return NULL;
}

/* Threads that live, in a process that never released one: the pass sums
 * them without the entry's look-ups; then they end, and the entry has
 * them. */
static void test_live_threads(pidio_bpf_t *b) {
  pid_t c = fork();
  if (c == 0) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
      pthread_create(&t[i], NULL, thread_write_wait, (void *)(uintptr_t)2003);
    write_n(31, 1);
    wait_for(&sh->stage[40], 3);
    atomic_store(&sh->stage[41], 1);
    for (int i = 0; i < 3; i++)
      pthread_join(t[i], NULL);
    atomic_store(&sh->stage[41], 2);
    wait_for(&sh->go[41], 1);
    _exit(0);
  }
  wait_for(&sh->stage[41], 1);
  pidio_bpf_proc_t p;
  int err = pass_for(b, c, &p);
  check(err == 0 && p.io.v[PIDIO_WCHAR] == 3 * 2003 + 31 &&
            p.io.v[PIDIO_SYSCW] == 4 && p.nthreads == 4 &&
            !(p.flags & (PIDIO_BPF_F_UNSTABLE | PIDIO_BPF_F_ENDED)),
        "live threads: 3 x 2003 + 31, none ended: own wchar %llu syscw %llu, "
        "%u live thread(s), flags %#x (want 6040 4 4, neither unstable nor "
        "ended)",
        (unsigned long long)p.io.v[PIDIO_WCHAR],
        (unsigned long long)p.io.v[PIDIO_SYSCW], p.nthreads, p.flags);
  atomic_store(&sh->go[40], 1);
  wait_for(&sh->stage[41], 2);
  err = pass_for(b, c, &p);
  check(err == 0 && p.io.v[PIDIO_WCHAR] == 3 * 2003 + 31 &&
            p.io.v[PIDIO_SYSCW] == 4 && p.nthreads == 1,
        "live threads: the 3 joined: own wchar %llu syscw %llu, %u live "
        "thread(s) (want 6040 4 1)",
        (unsigned long long)p.io.v[PIDIO_WCHAR],
        (unsigned long long)p.io.v[PIDIO_SYSCW], p.nthreads);
  atomic_store(&sh->go[41], 1);
  waitpid(c, NULL, 0);
  const pidio_bpf_exit_t *e = await_exit(b, c, getpid());
  check(e != NULL && e->p.io.v[PIDIO_WCHAR] == 3 * 2003 + 31 &&
            e->p.io.v[PIDIO_SYSCW] == 4,
        "live threads: exit wchar %llu syscw %llu (want 6040 4)",
        e ? (unsigned long long)e->p.io.v[PIDIO_WCHAR] : 0ULL,
        e ? (unsigned long long)e->p.io.v[PIDIO_SYSCW] : 0ULL);
}

static void test_reaping_parent(pidio_bpf_t *b) {
  pid_t kids[5];
  int kp[2];
  if (pipe(kp) != 0)
    return;
  pid_t c = fork();
  if (c == 0) {
    close(kp[0]);
    write_n(1007, 2);
    for (int i = 0; i < 5; i++) {
      kids[i] = fork();
      if (kids[i] == 0) {
        write_n(100003, 1);
        _exit(0);
      }
    }
    for (int i = 0; i < 5; i++)
      waitpid(kids[i], NULL, 0);
    /* The kids' pids go to the parent after the reaping: the write to the
     * pipe is the one I/O not in the figures checked below (+1 syscw,
     * +sizeof(kids) wchar). */
    if (write(kp[1], kids, sizeof(kids)) != (ssize_t)sizeof(kids))
      _exit(3);
    atomic_store(&sh->stage[3], 1);
    wait_for(&sh->go[3], 1);
    _exit(0);
  }
  watched_parent = c; /* its children's records are kept too */
  close(kp[1]);
  if (read(kp[0], kids, sizeof(kids)) != (ssize_t)sizeof(kids))
    kids[0] = 0;
  close(kp[0]);
  wait_for(&sh->stage[3], 1);
  pidio_bpf_proc_t p;
  pidio_io_t pio;
  int err = pass_for(b, c, &p);
  int perr = proc_io(c, &pio);
  uint64_t extra = sizeof(kids);
  check(err == 0 && p.io.v[PIDIO_WCHAR] == 1007 + extra &&
            p.io.v[PIDIO_SYSCW] == 3,
        "reaper: own wchar %llu syscw %llu (want %llu 3)",
        (unsigned long long)p.io.v[PIDIO_WCHAR],
        (unsigned long long)p.io.v[PIDIO_SYSCW],
        (unsigned long long)(1007 + extra));
  check(perr == 0 && pio.v[PIDIO_WCHAR] == 1007 + extra + 5 * 100003,
        "reaper: /proc/%d/io folds the 5 children in: wchar %llu (want %llu)",
        (int)c, (unsigned long long)pio.v[PIDIO_WCHAR],
        (unsigned long long)(1007 + extra + 5 * 100003));
  for (int i = 0; i < 5; i++) {
    const pidio_bpf_exit_t *e = await_exit(b, kids[i], c);
    check(e != NULL && e->p.io.v[PIDIO_WCHAR] == 100003 &&
              e->p.io.v[PIDIO_SYSCW] == 1 && e->p.ppid == c &&
              e->p.pstart == p.start,
          "reaper: child %d exit wchar %llu syscw %llu, parent %d",
          (int)kids[i], e ? (unsigned long long)e->p.io.v[PIDIO_WCHAR] : 0ULL,
          e ? (unsigned long long)e->p.io.v[PIDIO_SYSCW] : 0ULL,
          e ? (int)e->p.ppid : 0);
  }
  atomic_store(&sh->go[3], 1);
  waitpid(c, NULL, 0);
  const pidio_bpf_exit_t *e = await_exit(b, c, getpid());
  check(e != NULL && e->p.io.v[PIDIO_WCHAR] == 1007 + extra,
        "reaper: its own exit record leaves the children out: wchar %llu",
        e ? (unsigned long long)e->p.io.v[PIDIO_WCHAR] : 0ULL);
}

/* n children of one parent, each with threads-1 extra threads that write
 * per_thread bytes and live a few ms; every exit record must be exact. */
static void storm(pidio_bpf_t *b, const char *name, int n, int max_threads,
                  unsigned long long per_proc, unsigned calls, long live_us) {
  pidio_bpf_stats_t before;
  pidio_bpf_get_stats(b, &before);
  size_t first = nexits;
  pid_t *pids = calloc((size_t)n, sizeof(pid_t));
  int *nth = calloc((size_t)n, sizeof(int));
  for (int i = 0; i < n; i++) {
    nth[i] = 1 + i % max_threads;
    pids[i] = fork();
    if (pids[i] == 0) {
      pthread_t t[4];
      for (int k = 1; k < nth[i]; k++)
        pthread_create(&t[k], NULL, thread_write, (void *)(uintptr_t)1001);
      write_n(per_proc, calls);
      if (live_us)
        nap_us(live_us);
      /* Threads of odd processes are joined, the others end with exit_group. */
      if (i % 2)
        for (int k = 1; k < nth[i]; k++)
          pthread_join(t[k], NULL);
      _exit(0);
    }
    if (i % 50 == 49)
      pidio_bpf_drain(b, on_exit_rec, NULL);
  }
  for (int i = 0; i < n; i++)
    waitpid(pids[i], NULL, 0);
  int exact = 0, missing = 0, wrong = 0;
  for (int i = 0; i < n; i++) {
    const pidio_bpf_exit_t *e = await_exit(b, pids[i], getpid());
    if (e == NULL) {
      if (missing++ < 3)
        printf("  %s: no exit record of pid %d (%d threads)\n", name,
               (int)pids[i], nth[i]);
      continue;
    }
    unsigned long long want = per_proc + 1001ULL * (unsigned)(nth[i] - 1);
    unsigned long long want_calls = calls + (unsigned)(nth[i] - 1);
    /* A thread that exit_group ended before its write wrote nothing. */
    if (e->p.io.v[PIDIO_WCHAR] == want && e->p.io.v[PIDIO_SYSCW] == want_calls)
      exact++;
    else if (i % 2 == 0 && (e->p.io.v[PIDIO_WCHAR] - per_proc) % 1001 == 0 &&
             e->p.io.v[PIDIO_WCHAR] <= want &&
             e->p.io.v[PIDIO_SYSCW] - calls ==
                 (e->p.io.v[PIDIO_WCHAR] - per_proc) / 1001)
      exact++;
    else if (wrong++ < 3)
      printf("  %s: pid %d wchar %llu syscw %llu, want %llu %llu\n", name,
             (int)pids[i], (unsigned long long)e->p.io.v[PIDIO_WCHAR],
             (unsigned long long)e->p.io.v[PIDIO_SYSCW], want, want_calls);
  }
  pidio_bpf_stats_t after;
  pidio_bpf_get_stats(b, &after);
  check(exact == n && missing == 0,
        "%s: %d processes: %d exit records exact, %d wrong, %d missing "
        "(%zu records)",
        name, n, exact, wrong, missing, nexits - first);
  check(after.lost == before.lost && after.bad == before.bad,
        "%s: lost %llu (ring full %llu, map full %llu, mark failed %llu), "
        "bad %llu",
        name, (unsigned long long)(after.lost - before.lost),
        (unsigned long long)(after.ring_full - before.ring_full),
        (unsigned long long)(after.map_full - before.map_full),
        (unsigned long long)(after.mark_failed - before.mark_failed),
        (unsigned long long)(after.bad - before.bad));
  free(pids);
  free(nth);
}

static void test_exec(pidio_bpf_t *b) {
  pid_t c = fork();
  if (c == 0) {
    execl("/bin/true", "true", "first arg", "second", (char *)NULL);
    _exit(127);
  }
  int st;
  waitpid(c, &st, 0);
  /* The program as /proc/<pid>/exe names it: /bin/true with every
   * symbolic link resolved (/bin is one to usr/bin on merged systems). */
  char want[PATH_MAX];
  if (realpath("/bin/true", want) == NULL)
    snprintf(want, sizeof(want), "(realpath of /bin/true failed)");
  const pidio_bpf_exit_t *e = await_exit(b, c, getpid());
  check(e != NULL && (e->p.flags & PIDIO_BPF_F_EXEC_SEEN) &&
            (e->p.flags & PIDIO_BPF_F_EXE) && strcmp(e->exe, want) == 0 &&
            strcmp(e->cmdline, "true first arg second") == 0 &&
            strcmp(e->p.comm, "true") == 0,
        "exec: exe \"%s\" (want %s) cmdline \"%s\" comm \"%s\"",
        e ? e->exe : "", want,
        e ? e->cmdline : "", e ? e->p.comm : "");
  record("exit-exec.bin", c);
}

/* ---- cgroups and parents ---- */

/* Where the cgroup v2 hierarchy is mounted (mountinfo's fifth field on a
 * line whose type is cgroup2): 0, or -1 when it is not. */
static int cgroup2_mount(char *out, size_t outsz) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  char line[4096];
  int rc = -1;
  if (f == NULL)
    return -1;
  while (rc != 0 && fgets(line, sizeof(line), f) != NULL) {
    char *sep = strstr(line, " - cgroup2 ");
    char mnt[4096];
    if (sep != NULL && sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 &&
        strlen(mnt) < outsz) {
      strcpy(out, mnt);
      rc = 0;
    }
  }
  fclose(f);
  return rc;
}

/* This process's cgroup v2 path (the "0::" line of /proc/self/cgroup). */
static int own_cgroup(char *out, size_t outsz) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  char line[4096];
  int rc = -1;
  if (f == NULL)
    return -1;
  while (rc != 0 && fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, "0::", 3) == 0 && strlen(line + 3) < outsz) {
      strcpy(out, line + 3);
      out[strcspn(out, "\n")] = '\0';
      rc = 0;
    }
  fclose(f);
  return rc;
}

/* A test cgroup: <own cgroup>/<name>, its path from the v2 root in rel and
 * its directory in dir. 0, or -1 (with a failed check) when it cannot be
 * made. */
static int make_cgroup(const char *name, char *rel, size_t relsz, char *dir,
                       size_t dirsz) {
  char mnt[4096], own[4096];
  if (cgroup2_mount(mnt, sizeof(mnt)) != 0 || own_cgroup(own, sizeof(own)) != 0) {
    check(0, "cgroup: a cgroup v2 hierarchy is mounted to test in");
    return -1;
  }
  snprintf(rel, relsz, "%s/%s", strcmp(own, "/") == 0 ? "" : own, name);
  snprintf(dir, dirsz, "%s%s", mnt, rel);
  if (mkdir(dir, 0755) != 0) {
    check(0, "cgroup: mkdir %s: %s", dir, strerror(errno));
    return -1;
  }
  return 0;
}

static int move_to_cgroup(const char *dir, pid_t pid) {
  char path[8500], num[32];
  snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int n = snprintf(num, sizeof(num), "%d", (int)pid);
  int ok = write(fd, num, (size_t)n) == n;
  close(fd);
  return ok ? 0 : -1;
}

/* A child that, once moved into the cgroup whose directory is dir, writes
 * n bytes in calls writes and exits; reaped here. Its pid, and in *moved
 * move_to_cgroup's result. slot: the child's word in sh->go. */
static pid_t exit_in_cgroup(const char *dir, int slot, unsigned long long n,
                            unsigned calls, int *moved) {
  atomic_store(&sh->go[slot], 0);
  pid_t c = fork();
  if (c == 0) {
    wait_for(&sh->go[slot], 1);
    write_n(n, calls);
    _exit(0);
  }
  *moved = move_to_cgroup(dir, c);
  atomic_store(&sh->go[slot], 1);
  waitpid(c, NULL, 0);
  return c;
}

/* A process moved into a cgroup of the test's, which is removed as soon as
 * the process has been reaped, before its record is drained: the record
 * names the cgroup all the same. One that stays in the test's own cgroup
 * names that one. */
static void test_cgroup(pidio_bpf_t *b) {
  char rel[4200], dir[8400], own[4096];
  char name[64];
  snprintf(name, sizeof(name), "pidio-bpfreal-%d.scope", (int)getpid());
  if (make_cgroup(name, rel, sizeof(rel), dir, sizeof(dir)) != 0)
    return;
  own_cgroup(own, sizeof(own));
  int moved;
  pid_t c = exit_in_cgroup(dir, 20, 4242, 2, &moved);
  int removed = rmdir(dir);
  check(moved == 0 && removed == 0,
        "cgroup: the child moved into %s, which was removed at its reap "
        "(move %d, rmdir %d)",
        rel, moved, removed);
  const pidio_bpf_exit_t *e = await_exit(b, c, getpid());
  check(e != NULL && (e->p.flags & PIDIO_BPF_F_CGROUP) &&
            strcmp(e->cgroup, rel) == 0 &&
            e->p.io.v[PIDIO_WCHAR] == 4242 && e->p.io.v[PIDIO_SYSCW] == 2,
        "cgroup: exit record of a removed cgroup: \"%s\" (want %s), wchar "
        "%llu syscw %llu (want 4242 2)",
        e ? e->cgroup : "", rel,
        e ? (unsigned long long)e->p.io.v[PIDIO_WCHAR] : 0ULL,
        e ? (unsigned long long)e->p.io.v[PIDIO_SYSCW] : 0ULL);
  record("exit-cgroup.bin", c);
  pid_t d = fork();
  if (d == 0)
    _exit(0);
  waitpid(d, NULL, 0);
  e = await_exit(b, d, getpid());
  check(e != NULL && (e->p.flags & PIDIO_BPF_F_CGROUP) &&
            strcmp(e->cgroup, own) == 0,
        "cgroup: a child left in the test's cgroup: \"%s\" (want %s)",
        e ? e->cgroup : "", own);
  /* Paths are kept by cgroup id after the first exit in a cgroup: exits
   * alternating between two sibling cgroups, two levels down, each name
   * their own, the first and the repeated ones alike. */
  char srel[2][4300], sdir[2][8600], top_rel[4200], top_dir[8400];
  snprintf(name, sizeof(name), "pidio-bpfreal-%d.slice", (int)getpid());
  if (make_cgroup(name, top_rel, sizeof(top_rel), top_dir,
                  sizeof(top_dir)) != 0)
    return;
  int made = 0;
  for (int k = 0; k < 2; k++) {
    snprintf(srel[k], sizeof(srel[k]), "%s/side-%c.scope", top_rel, 'a' + k);
    snprintf(sdir[k], sizeof(sdir[k]), "%s/side-%c.scope", top_dir, 'a' + k);
    made += mkdir(sdir[k], 0755) == 0;
  }
  int right = 0, tries = 6;
  char got[4300] = "";
  for (int i = 0; made == 2 && i < tries; i++) {
    int mv;
    pid_t g = exit_in_cgroup(sdir[i % 2], 21, 0, 0, &mv);
    e = await_exit(b, g, getpid());
    if (mv == 0 && e != NULL && (e->p.flags & PIDIO_BPF_F_CGROUP) &&
        strcmp(e->cgroup, srel[i % 2]) == 0)
      right++;
    else if (got[0] == '\0')
      snprintf(got, sizeof(got), "%s (want %s)", e ? e->cgroup : "none",
               srel[i % 2]);
  }
  for (int k = 0; k < 2; k++)
    rmdir(sdir[k]);
  rmdir(top_dir);
  check(made == 2 && right == tries,
        "cgroup: exits alternating between %s/side-a.scope and side-b.scope: "
        "%d of %d named their own cgroup%s%s",
        top_rel, right, tries, got[0] ? "; first wrong: " : "", got);
}

/* A grandchild whose parent exits first: it is handed to a reaper (this
 * test, a subreaper for the while), and its record still names the parent
 * that forked it, with that parent's start as /proc showed it. */
static void test_orphan(pidio_bpf_t *b) {
  atomic_store(&sh->stage[21], 0);
  atomic_store(&sh->go[21], 0);
  atomic_store(&sh->go[22], 0);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t c = fork();
  if (c == 0) {
    pid_t g = fork();
    if (g == 0) {
      wait_for(&sh->go[22], 1);
      write_n(3333, 1);
      _exit(0);
    }
    atomic_store(&sh->stage[21], (int)g);
    wait_for(&sh->go[21], 1);
    _exit(0);
  }
  wait_for(&sh->stage[21], 1);
  pid_t g = (pid_t)atomic_load(&sh->stage[21]);
  uint64_t cstart = proc_start_ticks(c);
  atomic_store(&sh->go[21], 1);
  waitpid(c, NULL, 0); /* the grandchild is this test's child now */
  atomic_store(&sh->go[22], 1);
  waitpid(g, NULL, 0);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  const pidio_bpf_exit_t *e = await_exit(b, g, getpid());
  check(e != NULL && e->fork_ppid == c && e->fork_pstart == cstart &&
            cstart != 0 && e->p.io.v[PIDIO_WCHAR] == 3333,
        "orphan: exit record of %d: parent %d, forked by %d started at %llu "
        "(want %d, %d at %llu), wchar %llu (want 3333)",
        (int)g, e ? (int)e->p.ppid : 0, e ? (int)e->fork_ppid : 0,
        e ? (unsigned long long)e->fork_pstart : 0ULL, (int)getpid(), (int)c,
        (unsigned long long)cstart,
        e ? (unsigned long long)e->p.io.v[PIDIO_WCHAR] : 0ULL);
  record("exit-orphan.bin", g);
}

static void *churn_thread(void *arg) {
  (void)arg;
  atomic_fetch_add(&sh->started, 1);
  write_n(1001, 1);
  atomic_fetch_add(&sh->done, 1);
  return NULL;
}

/* A process that starts and ends threads without pause, each writing 1001
 * bytes once, read by passes meanwhile. */
static void test_snapshot_storm(pidio_bpf_t *b) {
  atomic_store(&sh->started, 0);
  atomic_store(&sh->done, 0);
  atomic_store(&sh->stop, 0);
  pid_t c = fork();
  if (c == 0) {
    while (!atomic_load(&sh->stop)) {
      pthread_t t[16];
      for (int i = 0; i < 16; i++)
        pthread_create(&t[i], NULL, churn_thread, NULL);
      for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    }
    _exit(0);
  }
  int passes = 0, inside = 0, monotone = 1, flagged = 0;
  uint64_t last = 0;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - t0.tv_sec >= 5)
      break;
    unsigned long long lo = atomic_load(&sh->done);
    pidio_bpf_proc_t p;
    if (pass_for(b, c, &p) != 0)
      continue;
    unsigned long long hi = atomic_load(&sh->started);
    passes++;
    if (p.flags & PIDIO_BPF_F_UNSTABLE) {
      flagged++;
      continue;
    }
    uint64_t w = p.io.v[PIDIO_WCHAR];
    if (w >= lo * 1001 && w <= hi * 1001 && w % 1001 == 0)
      inside++;
    else if (passes - inside - flagged < 4)
      printf("  snapshot: wchar %llu outside [%llu, %llu] x 1001\n",
             (unsigned long long)w, lo, hi);
    if (w < last)
      monotone = 0;
    last = w;
    pidio_bpf_drain(b, on_exit_rec, NULL);
  }
  atomic_store(&sh->stop, 1);
  waitpid(c, NULL, 0);
  pidio_bpf_stats_t s;
  pidio_bpf_get_stats(b, &s);
  check(passes > 10 && inside == passes - flagged && flagged == 0 && monotone,
        "snapshot storm: %d passes, %d within the threads' writes, %d "
        "flagged, never down: %s (%llu threads; %llu re-reads)",
        passes, inside, flagged, monotone ? "yes" : "no",
        (unsigned long long)atomic_load(&sh->done),
        (unsigned long long)s.rereads);
  const pidio_bpf_exit_t *e = await_exit(b, c, getpid());
  check(e != NULL && e->p.io.v[PIDIO_WCHAR] ==
                         1001ULL * (unsigned long long)atomic_load(&sh->done),
        "snapshot storm: exit wchar %llu = 1001 x %llu threads",
        e ? (unsigned long long)e->p.io.v[PIDIO_WCHAR] : 0ULL,
        (unsigned long long)atomic_load(&sh->done));
}

/* ---- loading, refusing, closing ---- */

/* The BPF programs of pidio's reader loaded on the machine, and the links
 * to them: a reader that closes cleanly leaves none. (Other programs come
 * and go on a shared machine: only these are counted.) */
static int ours(const char *name) {
  return strcmp(name, "dump_task") == 0 || strcmp(name, "on_exit") == 0 ||
         strcmp(name, "on_exec") == 0 || strcmp(name, "on_free") == 0 ||
         strcmp(name, "on_fork") == 0 || strcmp(name, "on_rmdir") == 0;
}

static void bpf_objects_now(unsigned *progs, unsigned *links) {
  __u32 id = 0, prog_ids[64];
  unsigned np = 0;
  *progs = *links = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0)
      continue;
    struct bpf_prog_info info;
    __u32 len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && ours(info.name)) {
      (*progs)++;
      if (np < 64)
        prog_ids[np++] = id;
    }
    close(fd);
  }
  id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    int fd = bpf_link_get_fd_by_id(id);
    if (fd < 0)
      continue;
    struct bpf_link_info info;
    __u32 len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
      for (unsigned i = 0; i < np; i++)
        if (info.prog_id == prog_ids[i])
          (*links)++;
    close(fd);
  }
}

/* The same, once what was released has had time to go back to the given
 * counts (a link's id is freed after its last reference, not always at
 * once). Another pidio reader loaded on the machine (another test run)
 * has its own programs: only the difference is this run's. */
static void bpf_objects(unsigned *progs, unsigned *links, unsigned want_p,
                        unsigned want_l) {
  for (int i = 0; i < 100; i++) {
    bpf_objects_now(progs, links);
    if (*progs == want_p && *links == want_l)
      return;
    nap_us(10000);
  }
}

static int count_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 4096; fd++)
    if (fcntl(fd, F_GETFD) >= 0)
      n++;
  return n;
}

/* --open-only: load, read one pass, close; print what happened. Run as
 * nobody with and without CAP_BPF + CAP_PERFMON by the tests below. */
static int open_only(pid_t watch) {
  pidio_bpf_t *b;
  char why[512];
  int err = pidio_bpf_open(&b, NULL, why, sizeof(why));
  if (err != 0) {
    printf("open: refused: %s\n", why);
    return 3;
  }
  struct want w = {.pid = watch};
  err = pidio_bpf_pass(b, on_proc, &w);
  pidio_bpf_close(b);
  printf("open: ok, pass %d, pid %d found %d, wchar %llu\n", err,
         (int)watch, w.found, (unsigned long long)w.got.io.v[PIDIO_WCHAR]);
  return err == 0 && w.found == 1 ? 0 : 4;
}

/* Run this program as nobody with the given capabilities ("" for none),
 * --open-only, watching this process; its output into out. */
static int as_nobody(const char *caps, char *out, size_t outsz) {
  char self[4096], cmd[8192];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n < 0)
    return -1;
  self[n] = '\0';
  const char *set = caps[0] ? caps : "-all";
  snprintf(cmd, sizeof(cmd),
           "setpriv --reuid=nobody --regid=nogroup --clear-groups "
           "--inh-caps=%s --ambient-caps=%s --bounding-set=%s "
           "'%s' --open-only %d 2>&1",
           set, set, set, self, (int)getpid());
  FILE *p = popen(cmd, "r");
  if (p == NULL)
    return -1;
  size_t len = fread(out, 1, outsz - 1, p);
  out[len] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_privileges(void) {
  char out[2048];
  /* This process has written something of its own to look for. */
  write_n(4242, 1);
  int rc = as_nobody("-all,+bpf,+perfmon", out, sizeof(out));
  check(rc == 0 && strstr(out, "found 1") != NULL,
        "nobody with CAP_BPF and CAP_PERFMON loads and reads a root "
        "process: rc %d, %s",
        rc, strtok(out, "\n") ? out : "");
  rc = as_nobody("-all,+bpf", out, sizeof(out));
  check(rc == 3 && strstr(out, "CAP_BPF and CAP_PERFMON") != NULL,
        "nobody with CAP_BPF alone is refused, with the remedy: rc %d, %s",
        rc, strtok(out, "\n") ? out : "");
  rc = as_nobody("", out, sizeof(out));
  check(rc == 3 && strstr(out, "CAP_BPF and CAP_PERFMON") != NULL,
        "nobody without capabilities is refused, with the remedy: rc %d, %s",
        rc, strtok(out, "\n") ? out : "");
}

static void test_no_btf(void) {
  /* BTF missing, simulated: libbpf is pointed at a file that is not BTF
   * (the host's /sys/kernel/btf is not touched). */
  char path[4096];
  const char *tmp = getenv("TMPDIR");
  snprintf(path, sizeof(path), "%s/pidio-nobtf.XXXXXX", tmp ? tmp : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0)
    return;
  if (write(fd, "not BTF\n", 8) != 8)
    return;
  close(fd);
  unsigned p0, l0, p1, l1;
  bpf_objects_now(&p0, &l0);
  int fds0 = count_fds();
  pidio_bpf_t *b = NULL;
  char why[512] = "";
  pidio_bpf_opts_t o = {.btf_path = path};
  int err = pidio_bpf_open(&b, &o, why, sizeof(why));
  bpf_objects(&p1, &l1, p0, l0);
  int fds1 = count_fds();
  unlink(path);
  check(err < 0 && b == NULL && strstr(why, path) != NULL,
        "BTF missing: refused (%d): %s", err, why);
  check(p1 == p0 && l1 == l0 && fds1 == fds0,
        "BTF missing: nothing left behind (programs %u -> %u, links %u -> "
        "%u, descriptors %d -> %d)",
        p0, p1, l0, l1, fds0, fds1);
}

static void test_clean_close(void) {
  unsigned p0, l0, p1, l1, p2, l2;
  bpf_objects_now(&p0, &l0);
  int fds0 = count_fds();
  pidio_bpf_t *b;
  char why[512];
  int err = pidio_bpf_open(&b, NULL, why, sizeof(why));
  check(err == 0, "open: %s", err ? why : "ok");
  if (err != 0)
    return;
  bpf_objects_now(&p1, &l1);
  struct want w = {.pid = getpid()};
  pidio_bpf_pass(b, on_proc, &w);
  pidio_bpf_drain(b, NULL, NULL);
  pidio_bpf_close(b);
  bpf_objects(&p2, &l2, p0, l0);
  int fds2 = count_fds();
  check(p1 == p0 + 6 && l1 == l0 + 6 && w.found == 1,
        "open: 6 programs and 6 links (5 tracepoints, the iterator): %u and "
        "%u more",
        p1 - p0, l1 - l0);
  check(p2 == p0 && l2 == l0 && fds2 == fds0,
        "close: no program, link or descriptor left (programs %u -> %u, "
        "links %u -> %u, descriptors %d -> %d)",
        p0, p2, l0, l2, fds0, fds2);
}

/* A reader whose blocks need neither the exec identity nor the cgroup
 * path (pidio_opts_kernel_needs gave 0): the exec program (and the one
 * that forgets a removed cgroup's path) is not loaded,
 * and an exec'd process's exit record carries its figures, comm and
 * parent but no program, arguments or cgroup (test_exec and test_cgroup
 * show them with a reader that keeps them). */
static void test_lean(void) {
  unsigned p0, l0, p1, l1, p2, l2;
  bpf_objects_now(&p0, &l0);
  pidio_bpf_t *b;
  char why[512];
  pidio_bpf_opts_t o = {.skip_exec = true, .skip_cgroup = true};
  int err = pidio_bpf_open(&b, &o, why, sizeof(why));
  check(err == 0, "lean: open: %s", err ? why : "ok");
  if (err != 0)
    return;
  bpf_objects_now(&p1, &l1);
  check(p1 == p0 + 4 && l1 == l0 + 4,
        "lean: 4 programs and 4 links, no exec or cgroup removal program: "
        "%u and %u more",
        p1 - p0, l1 - l0);
  pid_t c = fork();
  if (c == 0) {
    execl("/bin/true", "true", "first arg", (char *)NULL);
    _exit(127);
  }
  waitpid(c, NULL, 0);
  const pidio_bpf_exit_t *e = await_exit(b, c, getpid());
  unsigned kept = PIDIO_BPF_F_EXEC_SEEN | PIDIO_BPF_F_EXE | PIDIO_BPF_F_CGROUP;
  check(e != NULL && !(e->p.flags & kept) && strcmp(e->p.comm, "true") == 0 &&
            e->exe[0] == '\0' && e->cmdline[0] == '\0' &&
            e->cgroup[0] == '\0',
        "lean: exit record of an exec'd child: comm \"%s\", flags 0x%x "
        "(none of 0x%x), exe \"%s\" cmdline \"%s\" cgroup \"%s\"",
        e ? e->p.comm : "", e ? e->p.flags : 0u, kept, e ? e->exe : "",
        e ? e->cmdline : "", e ? e->cgroup : "");
  pidio_bpf_close(b);
  bpf_objects(&p2, &l2, p0, l0);
  check(p2 == p0 && l2 == l0, "lean: close: programs %u -> %u, links %u -> %u",
        p0, p2, l0, l2);
}

/* ---- blocks reading own I/O through a feed ---- */

typedef struct oblock {
  pidio_proc_t proc;
  pidio_block_t blk;
  pidio_ownio_t own;
  unsigned lost, lost_members, rounds;
} oblock_t;

static void oblock_open_sel(oblock_t *k, pidio_bpf_feed_t *feed,
                            pidio_select_t *sel) {
  memset(k, 0, sizeof(*k));
  pidio_proc_open(&k->proc, "/proc");
  pidio_block_init(&k->blk, &k->proc, sel);
  pidio_bpf_feed_attach(feed, 0, &k->own);
  pidio_block_set_ownio(&k->blk, &k->own);
}

static void oblock_open(oblock_t *k, pidio_bpf_feed_t *feed, pid_t pid,
                        const char *name, bool children) {
  char err[256];
  pidio_select_t sel;
  pidio_select_init(&sel);
  if (pid != 0)
    pidio_select_set_pid(&sel, (double)pid, err, sizeof(err));
  if (name != NULL)
    pidio_select_set_name(&sel, name, err, sizeof(err));
  pidio_select_set_children(&sel, children);
  oblock_open_sel(k, feed, &sel);
}

static void oblock_round(oblock_t *k) {
  pidio_report_t rep;
  pidio_block_update(&k->blk, &rep);
  k->lost += rep.lost;
  k->lost_members += rep.lost_members;
  k->rounds++;
  if (getenv("PIDIO_BPF_DEBUG"))
    printf("  round %u: matched %u wchar %llu\n", k->rounds, rep.matched,
           (unsigned long long)k->blk.total.v[PIDIO_WCHAR]);
}

static void oblock_close(oblock_t *k, pidio_bpf_feed_t *feed) {
  pidio_bpf_feed_detach(feed, &k->own);
  pidio_block_free(&k->blk);
  pidio_proc_close(&k->proc);
}

/* A parent (by Pid) that reaps children: its block counts its own I/O
 * only; the children's block (Name) counts theirs, whether a round saw
 * them alive or only their exit; the parent's block with Children counts
 * both, once. Then 40 children of a parent no block selects, each living
 * about 5 ms: counted exactly from their exit records. */
/* Names of this run's processes: with the run's pid in them, so that two
 * runs on one machine (blocks select by name machine-wide) never count
 * each other's. At most 15 characters. */
static char n_par[16], n_kid[16], n_short[16], n_spawner[16];

static void test_blocks(void) {
  int run = (int)(getpid() % 100000);
  snprintf(n_par, sizeof(n_par), "b%05d-par", run);
  snprintf(n_kid, sizeof(n_kid), "b%05d-kid", run);
  snprintf(n_short, sizeof(n_short), "b%05d-short", run);
  snprintf(n_spawner, sizeof(n_spawner), "b%05d-spawn", run);
  pidio_bpf_feed_t *feed;
  char why[512];
  if (pidio_bpf_feed_open(&feed, NULL, NULL, why, sizeof(why)) != 0) {
    check(0, "blocks: feed: %s", why);
    return;
  }
  atomic_store(&sh->stage[10], 0);
  atomic_store(&sh->go[10], 0);
  pid_t c = fork();
  if (c == 0) {
    prctl(PR_SET_NAME, n_par);
    wait_for(&sh->go[10], 1);
    write_n(1007, 2);
    pid_t kids[5];
    for (int i = 0; i < 5; i++) {
      kids[i] = fork();
      if (kids[i] == 0) {
        prctl(PR_SET_NAME, n_kid);
        write_n(100003, 1);
        nap_us(5000);
        _exit(0);
      }
    }
    for (int i = 0; i < 5; i++)
      waitpid(kids[i], NULL, 0);
    atomic_store(&sh->stage[10], 1);
    wait_for(&sh->go[10], 2);
    write_n(55, 1); /* after the last round it was read in */
    _exit(0);
  }
  oblock_t par, kid, fam;
  oblock_open(&par, feed, c, NULL, false);
  oblock_open(&kid, feed, 0, n_kid, false);
  oblock_open(&fam, feed, c, NULL, true);
  oblock_t *all[3] = {&par, &kid, &fam};
  /* The parent is running already: counted from the first round on. */
  for (int k = 0; k < 3; k++)
    oblock_round(all[k]);
  atomic_store(&sh->go[10], 1);
  while (atomic_load(&sh->stage[10]) < 1) {
    for (int k = 0; k < 3; k++)
      oblock_round(all[k]);
    nap_us(3000);
  }
  for (int k = 0; k < 3; k++)
    oblock_round(all[k]);
  atomic_store(&sh->go[10], 2);
  waitpid(c, NULL, 0);
  for (int k = 0; k < 3; k++)
    oblock_round(all[k]);
  uint64_t wp = par.blk.total.v[PIDIO_WCHAR], wk = kid.blk.total.v[PIDIO_WCHAR],
           wf = fam.blk.total.v[PIDIO_WCHAR];
  check(wp == 1007 + 55 && par.blk.total.v[PIDIO_SYSCW] == 3,
        "blocks: Pid parent: own wchar %llu syscw %llu (want 1062 3; "
        "/proc would fold in 500015)",
        (unsigned long long)wp,
        (unsigned long long)par.blk.total.v[PIDIO_SYSCW]);
  check(wk == 5 * 100003 && kid.blk.total.v[PIDIO_SYSCW] == 5,
        "blocks: Name children: wchar %llu syscw %llu (want 500015 5)",
        (unsigned long long)wk,
        (unsigned long long)kid.blk.total.v[PIDIO_SYSCW]);
  check(wf == 1062 + 5 * 100003,
        "blocks: Pid parent with Children: wchar %llu (want 501077)",
        (unsigned long long)wf);
  check(par.lost + kid.lost + fam.lost == 0 &&
            par.lost_members + kid.lost_members + fam.lost_members == 0,
        "blocks: nothing lost (%u, %u)", par.lost + kid.lost + fam.lost,
        par.lost_members + kid.lost_members + fam.lost_members);

  /* Short-lived children of a parent no block selects. */
  oblock_t sl;
  oblock_open(&sl, feed, 0, n_short, false);
  oblock_round(&sl);
  nap_us(20000); /* the children start after the first round's tick */
  pid_t pp = fork();
  if (pp == 0) {
    prctl(PR_SET_NAME, n_spawner);
    pid_t kids[40];
    for (int i = 0; i < 40; i++) {
      kids[i] = fork();
      if (kids[i] == 0) {
        prctl(PR_SET_NAME, n_short);
        write_n(777777, 13);
        nap_us(5000);
        _exit(0);
      }
    }
    for (int i = 0; i < 40; i++)
      waitpid(kids[i], NULL, 0);
    _exit(0);
  }
  for (int i = 0; i < 20; i++) {
    oblock_round(&sl);
    nap_us(10000);
  }
  waitpid(pp, NULL, 0);
  oblock_round(&sl);
  check(sl.blk.total.v[PIDIO_WCHAR] == 40ULL * 777777 &&
            sl.blk.total.v[PIDIO_SYSCW] == 40 * 13 && sl.lost == 0,
        "blocks: 40 short-lived children of an unselected parent: wchar "
        "%llu syscw %llu (want 31111080 520), lost %u",
        (unsigned long long)sl.blk.total.v[PIDIO_WCHAR],
        (unsigned long long)sl.blk.total.v[PIDIO_SYSCW], sl.lost);
  oblock_close(&sl, feed);
  for (int k = 0; k < 3; k++)
    oblock_close(all[k], feed);
  pidio_bpf_feed_free(feed);
}

/* Children through exit records: a member (by Pid, Children true) forks an
 * intermediate that forks a writer, and both end between two rounds, so
 * that neither is ever seen alive: first the writer ends and the
 * intermediate, which waited for it, after; then the intermediate ends
 * first and the writer, handed to a reaper outside the block (this test,
 * a subreaper for the while), after. Every byte of both counts. */
static void test_blocks_children(pidio_bpf_feed_t *feed) {
  atomic_store(&sh->stage[30], 0);
  atomic_store(&sh->stage[31], 0);
  atomic_store(&sh->go[30], 0);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t m = fork();
  if (m == 0) {
    wait_for(&sh->go[30], 1);
    pid_t i = fork();
    if (i == 0) {
      pid_t g = fork();
      if (g == 0) {
        write_n(2222, 2);
        _exit(0);
      }
      waitpid(g, NULL, 0);
      write_n(111, 1);
      _exit(0);
    }
    waitpid(i, NULL, 0);
    atomic_store(&sh->stage[30], 1);
    wait_for(&sh->go[30], 2);
    i = fork();
    if (i == 0) {
      /* Its own pid, taken before the fork: the writer's getppid() could
       * already name the subreaper if it asked only once it ran. */
      pid_t intermediate = getpid();
      pid_t g = fork();
      if (g == 0) {
        while (getppid() == intermediate) /* until the intermediate exited */
          nap_us(200);
        write_n(4444, 4);
        _exit(0);
      }
      atomic_store(&sh->stage[31], (int)g);
      write_n(111, 1);
      _exit(0);
    }
    waitpid(i, NULL, 0);
    atomic_store(&sh->stage[30], 2);
    wait_for(&sh->go[30], 3);
    _exit(0);
  }
  oblock_t fam;
  oblock_open(&fam, feed, m, NULL, true);
  oblock_round(&fam); /* the member runs already: counted from now on */
  atomic_store(&sh->go[30], 1);
  wait_for(&sh->stage[30], 1);
  oblock_round(&fam);
  uint64_t first = fam.blk.total.v[PIDIO_WCHAR];
  atomic_store(&sh->go[30], 2);
  wait_for(&sh->stage[30], 2);
  wait_for(&sh->stage[31], 1);
  waitpid((pid_t)atomic_load(&sh->stage[31]), NULL, 0); /* the orphan */
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  oblock_round(&fam);
  atomic_store(&sh->go[30], 3);
  waitpid(m, NULL, 0);
  oblock_round(&fam);
  oblock_round(&fam);
  check(first == 2222 + 111,
        "blocks: Children, writer then intermediate end unseen: wchar %llu "
        "(want 2333)",
        (unsigned long long)first);
  check(fam.blk.total.v[PIDIO_WCHAR] == 2 * 111 + 2222 + 4444 &&
            fam.blk.total.v[PIDIO_SYSCW] == 8 && fam.lost == 0 &&
            fam.lost_members == 0,
        "blocks: Children, and intermediate then orphaned writer end unseen: "
        "wchar %llu syscw %llu (want 6888 8), lost %u %u",
        (unsigned long long)fam.blk.total.v[PIDIO_WCHAR],
        (unsigned long long)fam.blk.total.v[PIDIO_SYSCW], fam.lost,
        fam.lost_members);
  oblock_close(&fam, feed);
}

/* Cgroup through exit records: a process moved into a cgroup of the
 * test's, that lives and ends between two rounds, its cgroup removed at
 * once: counted. Another that ends meanwhile outside it: not. */
static void test_blocks_cgroup(pidio_bpf_feed_t *feed) {
  char rel[4200], dir[8400], name[64], err[256];
  snprintf(name, sizeof(name), "pidio-bpfreal-%d-blk.scope", (int)getpid());
  if (make_cgroup(name, rel, sizeof(rel), dir, sizeof(dir)) != 0)
    return;
  pidio_select_t sel;
  pidio_select_init(&sel);
  int rc = pidio_select_set_cgroup(&sel, rel, err, sizeof(err));
  oblock_t k;
  oblock_open_sel(&k, feed, &sel);
  oblock_round(&k);
  atomic_store(&sh->go[33], 0);
  pid_t in = fork();
  if (in == 0) {
    wait_for(&sh->go[33], 1);
    write_n(5555, 5);
    _exit(0);
  }
  pid_t out = fork();
  if (out == 0) {
    wait_for(&sh->go[33], 1);
    write_n(777, 1);
    _exit(0);
  }
  int moved = move_to_cgroup(dir, in);
  atomic_store(&sh->go[33], 1);
  waitpid(in, NULL, 0);
  waitpid(out, NULL, 0);
  int removed = rmdir(dir);
  oblock_round(&k);
  oblock_round(&k);
  check(rc == 0 && moved == 0 && removed == 0 &&
            k.blk.total.v[PIDIO_WCHAR] == 5555 &&
            k.blk.total.v[PIDIO_SYSCW] == 5 && k.lost == 0,
        "blocks: Cgroup %s, a process that lived between two rounds, the "
        "cgroup removed at its end: wchar %llu syscw %llu (want 5555 5; "
        "select %d, move %d, rmdir %d)",
        rel, (unsigned long long)k.blk.total.v[PIDIO_WCHAR],
        (unsigned long long)k.blk.total.v[PIDIO_SYSCW], rc, moved, removed);
  oblock_close(&k, feed);
}

/* Field 42 of /proc/<pid>/stat (delayacct_blkio_ticks: the leader
 * thread's block-I/O wait, in clock ticks), or -1. */
static long long stat_blkio_ticks(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* the comm may hold blanks */
  if (p == NULL)
    return -1;
  p++;
  /* After the comm: field 3 (state) is the first; field 42 the 40th. */
  for (int field = 3; field < 42; field++) {
    p = strchr(p + 1, ' ');
    if (p == NULL)
      return -1;
  }
  return strtoll(p + 1, NULL, 10);
}

/* pidio_delay-blkio: with kernel.task_delayacct on (restored after), a
 * member (single-threaded, started after it was switched on) reads a file
 * of the build directory with O_DIRECT, so every read waits for the disk;
 * the block's figure is above 0 and is what the kernel shows for it in
 * /proc/<pid>/stat, to the clock tick that figure is cut to. */
static void test_blocks_delay(pidio_bpf_feed_t *feed) {
  enum { CHUNK = 4096, NCHUNKS = 4096 }; /* 16 MiB */
  char was[16] = "";
  int fd = open("/proc/sys/kernel/task_delayacct", O_RDWR | O_CLOEXEC);
  ssize_t wn = fd < 0 ? -1 : read(fd, was, sizeof(was) - 1);
  if (fd < 0 || wn <= 0 || pwrite(fd, "1", 1, 0) != 1) {
    check(0, "delay: kernel.task_delayacct could not be switched on: %s",
          strerror(errno));
    if (fd >= 0)
      close(fd);
    return;
  }
  char file[] = "pidio-bpfreal-delay.XXXXXX";
  int ffd = mkstemp(file);
  void *buf = NULL;
  int ok = ffd >= 0 && posix_memalign(&buf, CHUNK, CHUNK) == 0;
  if (ok) {
    memset(buf, 'd', CHUNK);
    for (int i = 0; i < NCHUNKS && ok; i++)
      ok = write(ffd, buf, CHUNK) == CHUNK;
    ok = ok && fsync(ffd) == 0;
  }
  atomic_store(&sh->stage[34], 0);
  atomic_store(&sh->go[34], 0);
  pid_t m = fork();
  if (m == 0) {
    wait_for(&sh->go[34], 1);
    int dfd = open(file, O_RDONLY | O_DIRECT | O_CLOEXEC);
    int reads = 0;
    while (dfd >= 0 && read(dfd, buf, CHUNK) == CHUNK)
      reads++;
    atomic_store(&sh->stage[34], reads == NCHUNKS ? 1 : 2);
    wait_for(&sh->go[34], 2);
    _exit(0);
  }
  oblock_t k;
  oblock_open(&k, feed, m, NULL, false);
  oblock_round(&k); /* the member runs already: counted from now on */
  atomic_store(&sh->go[34], 1);
  wait_for(&sh->stage[34], 1);
  long long ticks = stat_blkio_ticks(m);
  oblock_round(&k);
  uint64_t ns = k.blk.blkio_delay_ns;
  atomic_store(&sh->go[34], 2);
  waitpid(m, NULL, 0);
  oblock_round(&k); /* its exit record: nothing waited since */
  uint64_t tick_ns = 1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK);
  long long got = (long long)(ns / tick_ns);
  check(ok && atomic_load(&sh->stage[34]) == 1 && ticks > 0 && ns > 0 &&
            got >= ticks - 1 && got <= ticks &&
            k.blk.blkio_delay_ns == ns,
        "delay: %d O_DIRECT reads of 4 KiB: the block's blkio delay %llu ns "
        "= %lld ticks, /proc/%d/stat says %lld (want above 0, at most a tick "
        "below: a baseline read at the first round is cut to ticks too); "
        "after its exit %llu ns",
        NCHUNKS, (unsigned long long)ns, got, (int)m, ticks,
        (unsigned long long)k.blk.blkio_delay_ns);
  oblock_close(&k, feed);
  free(buf);
  if (ffd >= 0) {
    close(ffd);
    unlink(file);
  }
  if (pwrite(fd, was, (size_t)wn, 0) != wn)
    check(0, "delay: kernel.task_delayacct could not be restored to %s", was);
  close(fd);
}

static void test_blocks_exit(void) {
  pidio_bpf_feed_t *feed;
  char why[512];
  if (pidio_bpf_feed_open(&feed, NULL, NULL, why, sizeof(why)) != 0) {
    check(0, "blocks: feed: %s", why);
    return;
  }
  test_blocks_children(feed);
  test_blocks_cgroup(feed);
  test_blocks_delay(feed);
  pidio_bpf_feed_free(feed);
}

static void logger(int level, const char *msg, void *ctx) {
  (void)ctx;
  if (level == 0)
    printf("libbpf: %s\n", msg);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 3 && strcmp(argv[1], "--open-only") == 0)
    return open_only((pid_t)atoi(argv[2]));
  devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (devnull < 0 || sh == MAP_FAILED)
    return 99;
  pidio_bpf_set_logger(logger, NULL);
  /* First, while no reader of this program is loaded. */
  test_clean_close();
  test_lean();
  test_no_btf();
  pidio_bpf_t *b;
  char why[512];
  int err = pidio_bpf_open(&b, NULL, why, sizeof(why));
  if (err != 0) {
    printf("bpf_real: cannot load: %s\n", why);
    /* Not root: nothing to test here. As root, a failure. */
    return geteuid() != 0 ? 77 : 1;
  }
  test_privileges();
  test_blocks();
  test_blocks_exit();
  /* Other exits of the machine filled b's ring meanwhile (a storm on a
   * shared machine fills 4 MiB in under a second): the scenarios below
   * start from an empty one. */
  pidio_bpf_drain(b, NULL, NULL);
  test_single(b);
  test_threads(b);
  test_live_threads(b);
  test_reaping_parent(b);
  storm(b, "short-lived", 80, 1, 777777, 13, 5000);
  test_exec(b);
  test_cgroup(b);
  test_orphan(b);
  test_snapshot_storm(b);
  storm(b, "storm", 4000, 4, 1000, 1, 0);
  pidio_bpf_close(b);
  printf("bpf_real: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
