/*
 * pidio_kern.h: the few kernel types the BPF side reads, declared by hand.
 *
 * With preserve_access_index every field access is recorded as a CO-RE
 * relocation by name, and libbpf resolves it against the running kernel's
 * BTF at load time: the build host's kernel (and its BTF) never matters, and
 * a field that moved between kernels is still found. Only the fields pidio
 * reads are declared; their offsets here are meaningless.
 */
#ifndef PIDIO_KERN_H
#define PIDIO_KERN_H

#include <linux/types.h>

typedef __u8 u8;
typedef __u32 u32;
typedef __u64 u64;
typedef _Bool bool;

#pragma clang attribute push(__attribute__((preserve_access_index)), \
                             apply_to = record)

struct task_io_accounting {
  u64 rchar;
  u64 wchar;
  u64 syscr;
  u64 syscw;
  u64 read_bytes;
  u64 write_bytes;
  u64 cancelled_write_bytes;
};

struct task_delay_info {
  u64 blkio_delay; /* ns spent waiting for block I/O */
};

typedef struct {
  __u32 val;
} kuid_t;

struct cred {
  kuid_t uid; /* the real uid, as the first number of status's Uid line */
};

struct kernfs_node {
  u64 id;
  const char *name; /* "" for a hierarchy's root */
};

/* The parent link was renamed in Linux 6.15: both spellings, the one the
 * running kernel has is found with bpf_core_field_exists. */
struct kernfs_node___new {
  struct kernfs_node *__parent;
};
struct kernfs_node___old {
  struct kernfs_node *parent;
};

struct cgroup {
  struct kernfs_node *kn;
};

struct css_set {
  struct cgroup *dfl_cgrp; /* the process's cgroup in the v2 hierarchy */
};

struct mm_struct {
  unsigned long arg_start;
  unsigned long arg_end;
};

/* seqlock_t is a typedef of a struct with no name: relocations match
 * fields by name along the path, so any name does here. */
struct seqcount {
  unsigned sequence;
};
struct seqcount_spinlock {
  struct seqcount seqcount;
};
struct pidio_seqlock {
  struct seqcount_spinlock seqcount;
};

struct signal_struct {
  int nr_threads; /* threads listed, exited ones until they are released */
  /* Written (its count moved) when a thread of the process is released
   * and when the process reaps a child; from zero at the fork. */
  struct pidio_seqlock stats_lock;
  /* CPU time of the process's released threads, ns. */
  u64 sum_sched_runtime;
};

struct task_struct {
  unsigned int flags;
  int exit_state; /* non-zero once the task is a zombie or dead */
  struct signal_struct *signal;
  int pid;
  int tgid;
  u64 start_boottime; /* ns since boot: /proc/<pid>/stat's start_time */
  struct task_struct *real_parent;
  struct task_struct *group_leader;
  const struct cred *real_cred;
  char comm[16];
  struct task_io_accounting ioac;
  struct task_delay_info *delays;
  struct css_set *cgroups;
  struct mm_struct *mm;
};

struct qstr {
  const unsigned char *name;
};

struct dentry {
  struct dentry *d_parent; /* itself at a filesystem's root */
  struct qstr d_name;
};

struct vfsmount {
  struct dentry *mnt_root;
};

/* The kernel's mount around a vfsmount (fs/mount.h). */
struct mount {
  struct mount *mnt_parent; /* itself at the namespace's root */
  struct dentry *mnt_mountpoint;
  struct vfsmount mnt;
};

struct path {
  struct vfsmount *mnt;
  struct dentry *dentry;
};

struct file {
  struct path f_path;
};

struct linux_binprm {
  struct file *file; /* the program run: a script's interpreter, as
                        /proc/<pid>/exe shows */
};

struct seq_file;

struct bpf_iter_meta {
  struct seq_file *seq;
  u64 session_id;
  u64 seq_num;
};

struct bpf_iter__task {
  struct bpf_iter_meta *meta;
  struct task_struct *task;
};

#pragma clang attribute pop

/* The open-coded thread iterator (kernel 6.7 and later): opaque state on the
 * stack; the kernel checks the size and the calls. */
struct bpf_iter_task {
  u64 __opaque[3];
} __attribute__((aligned(8)));

#define PF_EXITING 0x00000004 /* include/linux/sched.h */
#define PF_KTHREAD 0x00200000
#define BPF_TASK_ITER_PROC_THREADS 2 /* kernel/bpf/task_iter.c */

#endif /* PIDIO_KERN_H */
