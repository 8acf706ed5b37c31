// SPDX-License-Identifier: GPL-2.0
/*
 * pidio.bpf.c: the kernel side of pidio's BPF reader.
 *
 * A process's "own I/O" is the I/O of its threads, live and exited, without
 * the totals of the children it reaped (which /proc/<pid>/io adds in). The
 * kernel does not keep that figure, so this file does:
 *  - on_exit (every thread's exit) adds the thread's counters to an entry of
 *    `procs`, keyed by (tgid, leader's start), and marks the thread;
 *  - dump_task (the task iterator) gives, per process, that entry plus the
 *    counters of every live thread not yet marked, as one consistent
 *    snapshot (see the "word" below), or flags the process for a re-read;
 *  - the last thread's exit sends the final totals to the ring buffer, once.
 * on_exec keeps what an exec showed (the path, the first bytes of the
 * command line) for the exit record of a process user space never saw.
 *
 * The snapshot: an exit adds its counters between two atomic increments of
 * one 64-bit word, "begun" (high half) and "ended" (low half). A reader takes
 * the word, sums the entry and the unmarked threads, and takes the word
 * again: an unchanged word with begun == ended means no exit was part-way
 * through or happened during the sum, so no thread was counted both live and
 * in the entry, or in neither. One odd/even counter is not enough: two
 * threads of a process can be inside their updates at once. This relies on
 * loads not being reordered with each other (x86); BPF has no read barrier.
 */
#include "pidio_kern.h"

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h> /* BPF_CORE_READ, barrier_var */

#include "pidio_bpf_rec.h"

char LICENSE[] SEC("license") = "GPL";

#define BEGUN_ONE (1ULL << 32)
#define ENDED_ONE 1ULL
#define SNAPSHOT_TRIES 4
/* A plain load the compiler may not merge or move across the others (clang
 * 14 has no acquire load for BPF; on x86 loads are not reordered). */
#define READ_ONCE_U64(x) (*(volatile u64 *)&(x))
#define READ_ONCE_INT(x) (*(volatile int *)&(x))

/* Sized by user space before load (pidio_bpf_opts_t). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 65536);
  __type(key, struct pidio_bpf_key);
  __type(value, struct pidio_bpf_state);
} procs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 65536);
  __type(key, struct pidio_bpf_key);
  __type(value, struct pidio_bpf_exec);
} execs SEC(".maps");

/* Cgroup v2 paths of exit records, by the cgroup's id: exits of one
 * service repeat the same walk up the tree, about 0.1 µs per level. A v2
 * cgroup is never renamed and its id never reused, so a path stays right
 * for its id; the entry goes when the cgroup is removed (on_rmdir). (An
 * exit that races its cgroup's removal may put an entry back after it:
 * still the right path for an id that never comes back, and the map's
 * bound holds.) Not preallocated: an entry is freed after the programs
 * that may hold it are done. When it is full, exits walk as if there
 * were none. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 4096);
  __type(key, u64);
  __type(value, struct pidio_bpf_cgpath);
} cgpaths SEC(".maps");

/* Scratch for a walk before it goes into cgpaths. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, struct pidio_bpf_cgpath);
} cg_scratch SEC(".maps");

/* A thread whose exit has been added to its process's entry. Freed with the
 * task, so a reused task_struct never carries an old mark. */
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, u32);
} marks SEC(".maps");

/* A process's parent at its fork, for its exit record: freed with the
 * task. */
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct pidio_bpf_origin);
} origins SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 << 20);
} exits SEC(".maps");

/* Scratch for an exit record, built whole and sent as long as it is used
 * (a reservation in the ring is of a fixed size). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, struct pidio_bpf_exit_rec);
} exit_scratch SEC(".maps");

/* Scratch for the iterator's record (the stack is 512 bytes). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, struct pidio_bpf_proc_rec);
} scratch SEC(".maps");

/* What user space asked to be kept (set before load; see pidio_bpf_opts_t):
 * the exec identity (when false, on_exec is not even loaded) and the
 * cgroup path of exit records. */
const volatile bool want_exec = 1;
const volatile bool want_cgroup = 1;

struct pidio_bpf_counter_slot counters[PIDIO_BPF_COUNTER_SLOTS]
    __attribute__((aligned(64)));
static const struct pidio_bpf_exec empty_exec;

/* Count one event in this CPU's slot (see pidio_bpf_rec.h). */
#define COUNT(field)                                                           \
  __sync_fetch_and_add(                                                        \
      &counters[bpf_get_smp_processor_id() & (PIDIO_BPF_COUNTER_SLOTS - 1)]    \
           .c.field,                                                           \
      1)

extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task,
                             unsigned int flags) __ksym;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __ksym;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __ksym;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

/* Kernel structures are read by direct loads: the programs get BTF-typed
 * pointers (tracepoint arguments, the iterator's task), which the verifier
 * lets them dereference, CO-RE relocated, without a helper call per field. */
static __always_inline void add_io(u64 *io, const struct task_struct *t) {
  io[0] += t->ioac.rchar;
  io[1] += t->ioac.wchar;
  io[2] += t->ioac.syscr;
  io[3] += t->ioac.syscw;
  io[4] += t->ioac.read_bytes;
  io[5] += t->ioac.write_bytes;
  io[6] += t->ioac.cancelled_write_bytes;
}

/* Block-I/O delay of one thread; *none set when it has no accounting
 * (kernel.task_delayacct was off when it started). */
static __always_inline u64 thread_delay(const struct task_struct *t,
                                        u64 *none) {
  struct task_delay_info *d = t->delays;
  if (!d) {
    *none = 1;
    return 0;
  }
  return d->blkio_delay;
}

/* Identity fields of a process, from its leader (not the cgroup id: only
 * exit records carry it). comm by two loads rather than a helper call. */
static __always_inline void fill_ident(struct pidio_bpf_proc_rec *r,
                                       struct task_struct *leader) {
  struct task_struct *parent = leader->real_parent;
  r->tgid = leader->tgid;
  r->start_ns = leader->start_boottime;
  r->ppid = parent->tgid;
  r->pstart_ns = parent->group_leader->start_boottime;
  r->uid = leader->real_cred->uid.val;
  u64 c0 = *(const u64 *)&leader->comm[0];
  u64 c1 = *(const u64 *)&leader->comm[8];
  __builtin_memcpy(&r->comm[0], &c0, 8);
  __builtin_memcpy(&r->comm[8], &c1, 8);
}

/* No thread of the process has ever been released and it has never
 * reaped a child: the statistics of its signal were never written. A
 * thread is counted in nr_threads from its fork until its release, and
 * the release moves the count first and lowers nr_threads after it; so
 * nr_threads read as one, then this (loads are not reordered, x86), means
 * no other thread ever reached its exit: no entry in procs, no look-up
 * needed. A look-up is a cache and TLB miss in a table of 65 536 buckets;
 * these two words are in the signal whose nr_threads was just read.
 * (The runtime of released threads guards against a count that came
 * round to zero after 2^31 writes.) */
static __always_inline int never_released(struct signal_struct *sig) {
  return READ_ONCE_INT(sig->stats_lock.seqcount.seqcount.sequence) == 0 &&
         READ_ONCE_U64(sig->sum_sched_runtime) == 0;
}

static __always_inline void key_of(struct pidio_bpf_key *k,
                                   struct task_struct *leader) {
  k->start_ns = leader->start_boottime;
  k->tgid = leader->tgid;
  k->pad = 0;
}

/* One attempt at a settled snapshot of a multi-threaded process (or one
 * with an entry): 1 and r filled, or 0 to try again.
 *
 * With may_skip, a process that never released a thread (never_released,
 * read before and after the sum) and shows no exiting thread is summed
 * without the entry's look-ups: an entry is only made by the exit hook of
 * a thread, which is exiting from before that hook until its release, and
 * listed until then; so no exiting thread seen and no release during the
 * sum means no entry holds a thread that was summed live, nor one that is
 * gone from the list. (A thread that begins its exit after its flags are
 * read is summed live, as it was; a thread started after the walk passed
 * is in the next pass.) Otherwise 0, to try again with the look-ups. */
static __noinline int snapshot(struct pidio_bpf_proc_rec *r,
                             struct task_struct *task,
                             struct pidio_bpf_key *key, int may_skip) {
  u64 io[PIDIO_BPF_NIO] = {};
  u64 delay = 0, none = 0;
  /* live counts threads; any says whether there was one. Only any is
   * branched on: a branch on the count would make the verifier tell every
   * count apart and never finish the loop. */
  u32 live = 0, any = 0, saw_exiting = 0;
  struct signal_struct *sig = task->signal;
  int skip = may_skip && never_released(sig);
  struct pidio_bpf_state *st = skip ? 0 : bpf_map_lookup_elem(&procs, key);
  u64 w1 = 0;
  if (st) {
    w1 = READ_ONCE_U64(st->word);
    if ((w1 >> 32) != (w1 & 0xffffffffULL))
      return 0; /* an exit is part-way through its update */
    for (int i = 0; i < PIDIO_BPF_NIO; i++)
      io[i] = st->io[i];
    delay = st->blkio_delay_ns;
    none = st->no_delay;
  }
  struct bpf_iter_task it;
  struct task_struct *t;
  bpf_iter_task_new(&it, task, BPF_TASK_ITER_PROC_THREADS);
  while ((t = bpf_iter_task_next(&it))) {
    /* A thread is marked in its exit hook, which runs after PF_EXITING
     * is set: one not exiting is not marked, and needs no look-up (had
     * it begun its exit since the word was read, the word, or an entry
     * that was not there, says so below). */
    int exiting = READ_ONCE_INT(t->flags) & PF_EXITING;
    if (exiting && skip) {
      saw_exiting = 1; /* it may be in an entry: no skipping */
      break;
    }
    if (exiting && bpf_task_storage_get(&marks, t, 0, 0))
      continue; /* its exit is in the entry */
    add_io(io, t);
    delay += thread_delay(t, &none);
    live++;
    if (!exiting)
      any = 1;
  }
  bpf_iter_task_destroy(&it);
  if (skip) {
    if (saw_exiting || !never_released(sig))
      return 0;
  } else if (st) {
    if (READ_ONCE_U64(st->word) != w1)
      return 0;
  } else if (bpf_map_lookup_elem(&procs, key)) {
    return 0; /* the first exit came during the sum */
  }
  for (int i = 0; i < PIDIO_BPF_NIO; i++)
    r->io[i] = io[i];
  r->blkio_delay_ns = delay;
  r->nthreads = live;
  if (none)
    r->flags |= PIDIO_BPF_NO_DELAY;
  /* Every thread is exiting or has exited: the process has ended, or its
   * last thread's exit will send the final figures. A thread stays in
   * the list, its counters final, for a while after its exit hook (files
   * are closed, then the parent is told); its figures must not be taken
   * for a live process's. */
  if (!any)
    r->flags |= PIDIO_BPF_ENDED;
  return 1;
}

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *task = ctx->task;
  if (!task)
    return 0;
  /* One record per process: at its leader, which walks the threads. */
  if (task->pid != task->tgid || (task->flags & PF_KTHREAD))
    return 0;

  u32 zero = 0;
  struct pidio_bpf_proc_rec *r = bpf_map_lookup_elem(&scratch, &zero);
  if (!r)
    return 0;
  __builtin_memset(r, 0, sizeof(*r));
  r->size = sizeof(*r);
  r->kind = PIDIO_BPF_REC_PROC;
  fill_ident(r, task);

  struct pidio_bpf_key key;
  key_of(&key, task);
  /* A process of one thread that no exit has touched (the common case):
   * its thread is the whole figure. When no thread was ever released
   * (never_released), there is no entry to look up. Otherwise the entry
   * is looked up after the counters are read, once: entries are only made
   * by exits (and removed when the process is freed, which the iterator's
   * reference prevents), so none after the read means none before it,
   * and no exit's counters can be missing from the thread's. With an
   * entry, the full snapshot below decides. (A thread started after the
   * count is read is in the next pass, as it would be had it started
   * after the pass.) */
  struct signal_struct *sig = task->signal;
  if (READ_ONCE_INT(sig->nr_threads) == 1) {
    int alone = never_released(sig);
    u64 io[PIDIO_BPF_NIO] = {};
    u64 none = 0;
    add_io(io, task);
    u64 delay = thread_delay(task, &none);
    if (alone || !bpf_map_lookup_elem(&procs, &key)) {
      for (int i = 0; i < PIDIO_BPF_NIO; i++)
        r->io[i] = io[i];
      r->blkio_delay_ns = delay;
      r->nthreads = 1;
      if (none)
        r->flags |= PIDIO_BPF_NO_DELAY;
      /* Exiting (from the start of do_exit) or a zombie: see snapshot. */
      if (task->exit_state || (task->flags & PF_EXITING))
        r->flags |= PIDIO_BPF_ENDED;
      bpf_seq_write(seq, r, sizeof(*r));
      return 0;
    }
  }
  int stable = 0;
  for (int attempt = 0; attempt < SNAPSHOT_TRIES && !stable; attempt++)
    stable = snapshot(r, task, &key, attempt == 0);
  if (!stable)
    r->flags |= PIDIO_BPF_UNSTABLE;
  bpf_seq_write(seq, r, sizeof(*r));
  return 0;
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn) {
  if (bpf_core_field_exists(struct kernfs_node___new, __parent))
    return ((struct kernfs_node___new *)kn)->__parent;
  return ((struct kernfs_node___old *)kn)->parent;
}

/* One component of a walked path (see PIDIO_BPF_PATH) at *off of buf:
 * 1, or 0 when it does not fit or could not be read (no path then). buf
 * has PIDIO_BPF_PATH bytes. */
static __always_inline int put_component(char *buf, u32 *off,
                                         const void *name) {
  if (*off >= PIDIO_BPF_PATH / 2)
    return 0;
  /* The mask only proves to the verifier what the test above says. */
  long n = bpf_probe_read_kernel_str(buf + (*off & (PIDIO_BPF_PATH / 2 - 1)),
                                     PIDIO_BPF_PATH / 2, name);
  if (n <= 1) /* unreadable, or an empty name below the root */
    return 0;
  *off += (u32)n;
  return 1;
}

/* The process's cgroup v2 path, read here at its exit rather than looked up
 * later by its id: the cgroup may be removed as soon as its last process
 * is gone (systemd removes a scope at once), and an id no longer opens
 * anything then. 1 when the walk reached the root: a path that does not
 * fit is no path. */
static __always_inline int cgroup_path(char *buf, u32 *len,
                                       struct task_struct *leader) {
  struct kernfs_node *kn = leader->cgroups->dfl_cgrp->kn;
  u32 off = 0;
  *len = 0;
  for (int depth = 0; depth < PIDIO_BPF_DEPTH; depth++) {
    if (!kn)
      return 0;
    struct kernfs_node *up = kn_parent(kn);
    if (!up) {
      *len = off;
      return 1; /* kn is the root, whose name is not part of the path */
    }
    if (!put_component(buf, &off, kn->name))
      return 0;
    kn = up;
  }
  return 0;
}

/* The path of the file an exec runs, from the root of the mount namespace
 * it was run in, as /proc/<pid>/exe shows it to a reader there: the
 * dentries up to their mount's root, then the mount point in the parent
 * mount, up to the namespace's root mount. (bpf_d_path is not allowed in a
 * tracepoint.) 1 when the walk reached that root. */
static __always_inline int exe_path(char *buf, u64 *len, struct file *file) {
  struct vfsmount *vm = BPF_CORE_READ(file, f_path.mnt);
  struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
  struct mount *m = (struct mount *)((char *)vm -
                                     bpf_core_field_offset(struct mount, mnt));
  u32 off = 0;
  for (int step = 0; step < PIDIO_BPF_DEPTH; step++) {
    if (!d || !m)
      return 0;
    if (d == BPF_CORE_READ(m, mnt.mnt_root)) {
      struct mount *up = BPF_CORE_READ(m, mnt_parent);
      if (up == m) {
        *len = off;
        return 1;
      }
      d = BPF_CORE_READ(m, mnt_mountpoint);
      m = up;
      continue;
    }
    struct dentry *dp = BPF_CORE_READ(d, d_parent);
    if (dp == d) {
      *len = off;
      return 1; /* a filesystem's root that is no mount's (not expected) */
    }
    if (!put_component(buf, &off, BPF_CORE_READ(d, d_name.name)))
      return 0;
    d = dp;
  }
  return 0;
}

/* The cgroup v2 path of cgroup id, leader's: kept from an earlier exit,
 * or walked now and kept. 0 when the walk did not reach the root. */
static __always_inline const struct pidio_bpf_cgpath *
cgroup_path_of(u64 id, struct task_struct *leader) {
  struct pidio_bpf_cgpath *c = bpf_map_lookup_elem(&cgpaths, &id);
  if (c)
    return c;
  u32 zero = 0, len = 0;
  c = bpf_map_lookup_elem(&cg_scratch, &zero);
  if (!c || !cgroup_path(c->path, &len, leader))
    return 0;
  c->len = len;
  bpf_map_update_elem(&cgpaths, &id, c, BPF_NOEXIST);
  return c;
}

/* Fill and send an exit record from io/delay, unless the ring is full;
 * then forget the process's exec identity. */
static __always_inline void send_exit(const u64 *io, u64 delay, u64 none,
                                      struct pidio_bpf_key *key,
                                      struct task_struct *leader) {
  u32 zero = 0;
  struct pidio_bpf_exec *x = want_exec ? bpf_map_lookup_elem(&execs, key) : 0;
  struct pidio_bpf_exit_rec *e = bpf_map_lookup_elem(&exit_scratch, &zero);
  if (!e) {
    COUNT(ring_full);
    if (x)
      bpf_map_delete_elem(&execs, key);
    return;
  }
  /* Every field of the head is set below (the scratch keeps the last
   * record's bytes); args only when no exec filled it. */
  fill_ident(&e->p, leader);
  e->p.cgroup_id = want_cgroup ? leader->cgroups->dfl_cgrp->kn->id : 0;
  e->p.size = sizeof(*e);
  e->p.kind = PIDIO_BPF_REC_EXIT;
  e->p.flags = none ? PIDIO_BPF_NO_DELAY : 0;
  e->p.nthreads = 0;
  for (int i = 0; i < PIDIO_BPF_NIO; i++)
    e->p.io[i] = io[i];
  e->p.blkio_delay_ns = delay;
  e->exit_ns = bpf_ktime_get_boot_ns();
  e->fork_pstart_ns = 0;
  e->fork_ppid = 0;
  u32 exe_len = 0, cg_len = 0;
  if (x) {
    e->p.flags |= PIDIO_BPF_EXEC_SEEN | (u32)x->flags;
    bpf_probe_read_kernel(e->args, sizeof(e->args), x->args);
    if (x->flags & PIDIO_BPF_EXE_SEEN) {
      exe_len = (u32)x->exe_len & (PIDIO_BPF_PATH - 1);
      bpf_probe_read_kernel(e->paths, exe_len, x->exe);
    }
  } else {
    __builtin_memset(e->args, 0, sizeof(e->args));
  }
  const struct pidio_bpf_cgpath *c =
      want_cgroup ? cgroup_path_of(e->p.cgroup_id, leader) : 0;
  if (c) {
    cg_len = (u32)c->len & (PIDIO_BPF_PATH - 1);
    bpf_probe_read_kernel(e->paths + exe_len, cg_len, c->path);
    e->p.flags |= PIDIO_BPF_CGROUP_SEEN;
  }
  e->exe_len = (__u16)exe_len;
  e->cgroup_len = (__u16)cg_len;
  struct pidio_bpf_origin *o = bpf_task_storage_get(&origins, leader, 0, 0);
  if (o) {
    e->fork_ppid = o->ppid;
    e->fork_pstart_ns = o->pstart_ns;
  }
  /* No wakeup per record: user space drains on its own schedule. */
  if (bpf_ringbuf_output(&exits, e, PIDIO_BPF_EXIT_HEAD + exe_len + cg_len,
                         BPF_RB_NO_WAKEUP) != 0)
    COUNT(ring_full);
  else
    COUNT(exits);
  /* Only an exec made an entry: a delete of nothing still takes the
   * bucket's lock. */
  if (x)
    bpf_map_delete_elem(&execs, key);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p) {
  if (p->flags & PF_KTHREAD)
    return 0;
  struct task_struct *leader = p->group_leader;
  struct pidio_bpf_key key;
  key_of(&key, leader);

  u64 io[PIDIO_BPF_NIO] = {};
  u64 none = 0;
  add_io(io, p);
  u64 delay = thread_delay(p, &none);

  /* The last and only thread of a process no other exit touched (the
   * common case): its counters are the final figures. Nothing else can
   * be part-way through an update of this process, and the iterator,
   * which reads this thread as live until it is released, agrees. The
   * thread count is read before the entry: another thread's entry is made
   * before that thread is released (and no longer counted), so a count of
   * one and then no entry means no other thread's exit is anywhere; and a
   * count of one with no thread ever released means there is no entry to
   * look up. */
  struct signal_struct *sig = p->signal;
  int nr_threads = READ_ONCE_INT(sig->nr_threads);
  struct pidio_bpf_state *st = 0;
  if (nr_threads != 1 || !never_released(sig))
    st = bpf_map_lookup_elem(&procs, &key);
  if (!st && nr_threads == 1) {
    send_exit(io, delay, none, &key, leader);
    return 0;
  }
  if (!st) {
    struct pidio_bpf_state init = {};
    init.created_ns = bpf_ktime_get_boot_ns();
    bpf_map_update_elem(&procs, &key, &init, BPF_NOEXIST);
    st = bpf_map_lookup_elem(&procs, &key);
    if (!st) {
      COUNT(map_full);
      return 0;
    }
  }

  __sync_fetch_and_add(&st->word, BEGUN_ONE);
  for (int i = 0; i < PIDIO_BPF_NIO; i++)
    __sync_fetch_and_add(&st->io[i], io[i]);
  __sync_fetch_and_add(&st->blkio_delay_ns, delay);
  if (none)
    __sync_fetch_and_add(&st->no_delay, 1);
  /* Marked after its counters are in, before the update ends: a thread
   * that sees every thread marked knows every update is complete. */
  u32 *mark = bpf_task_storage_get(&marks, p, 0,
                                   BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (mark)
    *mark = 1;
  else
    COUNT(mark_failed);
  __sync_fetch_and_add(&st->word, ENDED_ONE);

  /* The last thread's update is done when every listed thread is marked
   * (group_dead alone is not enough: another thread may still be in its
   * update). Several threads may find that; the compare-and-swap lets
   * one send. The walk starts at the leader (it goes from a thread to the
   * end of the list), which the iterator wants held. */
  struct task_struct *held = bpf_task_acquire(leader);
  if (!held) {
    COUNT(mark_failed);
    return 0;
  }
  struct bpf_iter_task it;
  struct task_struct *t;
  int all = 1;
  bpf_iter_task_new(&it, held, BPF_TASK_ITER_PROC_THREADS);
  while ((t = bpf_iter_task_next(&it))) {
    if (!bpf_task_storage_get(&marks, t, 0, 0)) {
      all = 0;
      break;
    }
  }
  bpf_iter_task_destroy(&it);
  if (all && __sync_val_compare_and_swap(&st->emitted, 0, 1) == 0) {
    for (int i = 0; i < PIDIO_BPF_NIO; i++)
      io[i] = st->io[i];
    send_exit(io, st->blkio_delay_ns, st->no_delay, &key, held);
    /* Not deleted here: the process may stay a zombie, and the iterator
     * must still find its threads' sum (ENDED) rather than nothing.
     * sched_process_free deletes it. */
  }
  bpf_task_release(held);
  return 0;
}

/* The last reference to a task is gone: a leader's entry is of no more
 * use. (Not every task is seen here; user space sweeps what is left.) */
SEC("tp_btf/sched_process_free")
int BPF_PROG(on_free, struct task_struct *p) {
  if (p->pid != p->tgid)
    return 0;
  struct pidio_bpf_key key;
  key_of(&key, p);
  bpf_map_delete_elem(&procs, &key);
  return 0;
}

/* A cgroup is removed: its path is of no more use (its id never comes
 * back). */
SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(on_rmdir, struct cgroup *cgrp, const char *path) {
  u64 id = cgrp->kn->id;
  bpf_map_delete_elem(&cgpaths, &id);
  return 0;
}

/* A new process (not a thread): keep its parent, which a Children block
 * needs at its exit when that parent has exited first and handed it to a
 * reaper, and neither was ever seen alive. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child) {
  if (child->pid != child->tgid || (child->flags & PF_KTHREAD))
    return 0;
  struct pidio_bpf_origin *o = bpf_task_storage_get(
      &origins, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!o) {
    COUNT(origin_failed);
    return 0;
  }
  struct task_struct *rp = child->real_parent;
  o->ppid = rp->tgid;
  o->pstart_ns = rp->group_leader->start_boottime;
  return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, int old_pid,
             struct linux_binprm *bprm) {
  struct task_struct *leader = p->group_leader;
  struct pidio_bpf_key key;
  key_of(&key, leader);
  /* Zeroed afresh at every exec (a walk leaves the bytes after its last
   * component as they were); an earlier exec's identity that cannot be
   * replaced must not stand for this one. */
  struct pidio_bpf_exec *x = 0;
  if (bpf_map_update_elem(&execs, &key, &empty_exec, BPF_ANY) == 0)
    x = bpf_map_lookup_elem(&execs, &key);
  if (!x) {
    bpf_map_delete_elem(&execs, &key);
    COUNT(exec_full);
    return 0;
  }
  x->created_ns = bpf_ktime_get_boot_ns();
  if (exe_path(x->exe, &x->exe_len, bprm->file))
    x->flags |= PIDIO_BPF_EXE_SEEN;
  /* The new program's arguments were just copied onto its stack: the pages
   * are present, and current is the task whose memory they are. */
  struct mm_struct *mm = p->mm;
  unsigned long a = mm->arg_start;
  unsigned long e = mm->arg_end;
  u32 n = e > a ? (u32)(e - a) : 0;
  if (n > sizeof(x->args)) {
    n = sizeof(x->args);
    x->flags |= PIDIO_BPF_ARGS_CUT;
  }
  barrier_var(n);
  if (n > 0 && n <= sizeof(x->args))
    bpf_probe_read_user(x->args, n, (const void *)a);
  return 0;
}
