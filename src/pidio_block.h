/*
 * pidio_block: the state of one <Process> block and one interval's work.
 *
 * A block composes the modules below it: pidio_discover finds the
 * processes of ProcRoot, the block decides which are members (selectors,
 * the Pid/PidFile target, Children) and reads their io files, and
 * pidio_ledger turns those reads into the block's counters, by the rules
 * its header states:
 *  - the sum never goes down: a member that exits keeps what it added;
 *  - a process already running at the first interval counts from then on
 *    (no start-up spike); one that started after the previous interval
 *    counts from birth (its whole counters);
 *  - a process is identified by (pid, start time) and read through a held
 *    descriptor, which fails with ESRCH once it is reaped, so a reused pid
 *    is always a new member, never a continuation;
 *  - the kernel folds a reaped child's totals into its reaper's io file:
 *    when a member is reaped by a member, what the block already counted
 *    of the child is taken off the reaper's increment, so that I/O is
 *    counted once. The reaper is the parent, or, when the parent had
 *    exited first, the nearest member above that can reap (a subreaper).
 *    A non-member that reaps a member holds its share until it is reaped
 *    in turn. A share is taken off only when the member's increment, what
 *    it absorbed in its life (io less its live threads') and its SIGCHLD
 *    disposition all allow the fold: where they allow it wrongly (a busy
 *    parent with SA_NOCLDWAIT...), the share is lost, never counted twice.
 *    The one exception: when the re-read of a member parent after its
 *    child's fold fails for another reason than its exit (EMFILE, an I/O
 *    error), the child's totals can count twice, at most what the block
 *    had counted of that child; the failed read is reported. Any other
 *    look that fails that way is taken as the answer that cannot count
 *    twice (a parent runs, a child is reaped, a holder still holds) and
 *    reported too.
 *    Children that lived less than an interval and were never seen still
 *    reach the block through their parent;
 *  - a newcomer at the pid of a reaped member (ns_last_pid, clone3) is
 *    counted from birth however late discovery finds it.
 * With GroupBy (pidio_block_group_by) each member also belongs to a group,
 * fixed when it joins (its key is read then); the ledger splits the
 * block's increments by group (a child counted in its own group keeps it
 * when a parent of another group reaps it), and pidio_groups hands out
 * the slots. The groups' increments and "other" sum to the block's.
 * Held descriptors come out of the process-wide pidio_fdbudget.
 * Not thread-safe: one block is only ever updated by one thread at a time.
 */
#ifndef PIDIO_BLOCK_H
#define PIDIO_BLOCK_H

#include "pidio_discover.h"
#include "pidio_group.h"
#include "pidio_groups.h"
#include "pidio_ledger.h"
#include "pidio_ownio.h"
#include "pidio_parse.h"
#include "pidio_proc.h"
#include "pidio_report.h"
#include "pidio_select.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct pidio_entry pidio_entry_t;

/* One member as the last update left it. */
typedef struct pidio_member {
  pid_t pid;
  uint64_t start;
  pidio_io_t acc; /* what it added to the block's counters */
} pidio_member_t;

typedef struct pidio_block {
  const pidio_proc_t *proc; /* borrowed */
  pidio_select_t sel;       /* owned */

  pidio_entry_t *e; /* tracked processes, sorted by pid */
  size_t n, cap;
  pidio_entry_t *fresh; /* the merge's newcomers, until it ends */
  size_t fresh_cap;
  pidio_entry_t *dead; /* members that left or were reaped this interval,
                          with their descriptors until accounted */
  size_t ndead, dead_cap;
  pidio_entry_t **order; /* members in birth order, for reading */
  size_t order_cap;
  pidio_discover_t disc; /* the processes of ProcRoot */
  pidio_ledger_t ledger; /* the round's accounting */
  /* Pids of members found reaped: a process found later at one of them
   * and born after that member's last read counts from birth, however
   * late discovery finds it (see vacated_take() in pidio_block.c). */
  struct pidio_vacated {
    pid_t pid;
    uint64_t since; /* boot ticks before the member's last good read */
  } *vacated;
  size_t nvacated, vacated_cap;
  pidio_entry_t *left; /* non-members that left the listing this round */
  size_t nleft, left_cap;

  /* GroupBy: NULL without. */
  pidio_groups_t *groups;
  enum pidio_group_key group_key;
  pidio_group_users_t users; /* user names, for the user key */
  pidio_io_t *gain;          /* the ledger's increments by destination */
  size_t gain_cap;

  pidio_io_t total;     /* the block's counters: never go down */
  uint64_t rounds;      /* intervals done */
  uint64_t prev_ticks;  /* boot ticks at the start of the previous interval */
  uint64_t prev2_ticks; /* ... and of the one before it */
  uint64_t first_ticks; /* boot ticks at the start of the first interval */
  pid_t target;         /* this interval's Pid/PidFile pid, -1 for none */
  pid_t no_cgroup2_pid; /* first process seen without a cgroup v2 line */

  /* With a kernel-side reader: members' own I/O and every exit from it,
   * no io descriptors (see pidio_block_set_ownio). */
  pidio_ownio_t own;
  bool use_own;
  /* ns the members waited for block I/O while members (own I/O only):
   * like total, the sum of each member's increments; never goes down. */
  uint64_t blkio_delay_ns;
  struct pidio_exitlist *exits; /* this round's exit records */
  /* This round's pass (own I/O): the processes of the machine, sorted by
   * pid; discovery reads them instead of listing ProcRoot. */
  const pidio_bpf_proc_t *pass;
  size_t npass;
  pid_t cmdline_cut_pid; /* first process seen with a cut command line */
} pidio_block_t;

/* Takes ownership of *sel (which is reset). */
void pidio_block_init(pidio_block_t *b, const pidio_proc_t *proc,
                      pidio_select_t *sel);
void pidio_block_free(pidio_block_t *b);

/* Read members' own I/O through a kernel-side reader instead of their
 * /proc/<pid>/io (call before the first update; the block keeps *own and
 * does not free it). The block then counts "the own I/O of its members
 * while they were members": a reaped child is never folded into its
 * parent, and counts only when it is a member itself. Every member's
 * exit brings its final figures, including what it did after its last
 * read, and a process that started after the block's first interval and
 * ended without having been a member (between two intervals, or found
 * late, or matching only at its end) is counted from birth by its exit
 * record when the block selects it then: by Pid or
 * PidFile, Name, User, Cgroup (its path at exit), Children (its parent at
 * exit, or the one that forked it, a member or one that ended in this
 * round or the last: records are decided until none is added, and one
 * whose parents the block does not know yet waits a round), and
 * CommandLine and Exe as its exec showed them (the first 128 bytes of the
 * command line; the program run). Processes are found in the reader's
 * pass (pid, start, parent, uid and comm), not by listing ProcRoot, which
 * must be this machine's /proc: it is read only for the files a selector
 * or the GroupBy key needs beyond those (cmdline, exe, cgroup), once per
 * new process and at each recheck. */
void pidio_block_set_ownio(pidio_block_t *b, const pidio_ownio_t *own);

/* GroupBy: split the block by key into the groups of conf (see
 * pidio_groups.h). Before the first update. 0, -EINVAL, -ENOMEM. */
int pidio_block_group_by(pidio_block_t *b, enum pidio_group_key key,
                         const pidio_groups_conf_t *conf);

/* Do one interval: find members, read them, update b->total (and, with
 * GroupBy, settle b->groups: its slot holders and "other").
 * Returns 0, or a negative errno when nothing could be read at all
 * (ProcRoot unreadable); the report says more in either case. */
int pidio_block_update(pidio_block_t *b, pidio_report_t *rep);

/* Copy up to max members, in pid order, into out; returns how many. */
size_t pidio_block_members(const pidio_block_t *b, pidio_member_t *out,
                           size_t max);

#endif /* PIDIO_BLOCK_H */
