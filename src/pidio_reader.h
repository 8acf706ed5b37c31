/*
 * pidio_reader: the reader a front end was asked for (Reader "procfs",
 * "bpf" or "auto"; pidio-stream's --reader), opened once per process and
 * given to its blocks.
 *
 * procfs: blocks read /proc/<pid>/io, as they always did. bpf: one BPF
 * reader (a pidio_bpf_feed) shared by every block, which then counts the
 * own I/O of its members and every exit (pidio_block_set_ownio). auto: bpf
 * where it loads, else procfs, with the reason for the caller to say once.
 * Built without the BPF reader (configure --without-bpf), bpf is refused
 * and auto is procfs.
 */
#ifndef PIDIO_READER_H
#define PIDIO_READER_H

#include "pidio_block.h"
#include "pidio_options.h"
#include "pidio_proc.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct pidio_reader pidio_reader_t;

/* Open what want asks for, for blocks reading proc; ring_bytes sizes the
 * BPF reader's ring buffer (0: its default); needs (PIDIO_NEED_* of every
 * block, pidio_opts_kernel_needs) says what the BPF reader must keep of
 * each process for exit records. 0 and *out, with
 * (auto only) why non-empty when it fell back to procfs; or -errno and why
 * (bpf that cannot load). The BPF reader needs proc to be this machine's
 * own /proc: its pids are the kernel's. */
int pidio_reader_open(pidio_reader_t **out, enum pidio_reader_kind want,
                      size_t ring_bytes, unsigned needs,
                      const pidio_proc_t *proc, char *why, size_t whysz);

/* Whether pid's cgroup file under proc has a cgroup v2 line ("0::"): it
 * has none on a host where no cgroup v2 hierarchy was ever mounted, and
 * then no process has a v2 path (Cgroup selects nothing, GroupBy cgroup
 * and unit put every process in "unknown"), while the kernel side would
 * still name the hierarchy's bare root, "/", in exit records. True when
 * the file cannot be read (nothing known against it). */
bool pidio_reader_cgroup2_visible(const pidio_proc_t *proc, pid_t pid);

/* True when blocks read own I/O through the BPF reader. */
bool pidio_reader_is_bpf(const pidio_reader_t *r);

/* Give a block (pidio_block_init'ed, not yet updated) its reader.
 * 0 or -ENOMEM. */
int pidio_reader_attach(pidio_reader_t *r, pidio_block_t *b);

/* Before pidio_block_free: the block's subscription ends. */
void pidio_reader_detach(pidio_reader_t *r, pidio_block_t *b);

/* After every block was detached. */
void pidio_reader_close(pidio_reader_t *r);

/* Where libbpf's messages go (level 0 warning, 1 info, 2 debug). */
void pidio_reader_set_logger(void (*fn)(int level, const char *msg, void *ctx),
                             void *ctx);

/* "procfs", "bpf": what the reader is, for messages. */
const char *pidio_reader_name(const pidio_reader_t *r);

#endif /* PIDIO_READER_H */
