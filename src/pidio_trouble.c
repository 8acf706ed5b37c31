/*
 * pidio_trouble: the trouble classifier. See pidio_trouble.h.
 */
#include "pidio_build.h"

#include "pidio_trouble.h"

#include <errno.h>
#include <stddef.h>

const pidio_trouble_info_t pidio_trouble_info[PIDIO_TROUBLE_NKINDS] = {
    [PIDIO_TROUBLE_DENIED] = {"denied", PIDIO_TROUBLE_DENIED, false},
    [PIDIO_TROUBLE_UNDECIDED] = {"undecided", PIDIO_TROUBLE_DENIED, false},
    [PIDIO_TROUBLE_FAILED] = {"failed", PIDIO_TROUBLE_FAILED, false},
    [PIDIO_TROUBLE_GARBLED] = {"garbled", PIDIO_TROUBLE_GARBLED, false},
    [PIDIO_TROUBLE_PIDFILE] = {"pidfile", PIDIO_TROUBLE_PIDFILE, false},
    [PIDIO_TROUBLE_LIST] = {"list", PIDIO_TROUBLE_LIST, false},
    [PIDIO_TROUBLE_NO_CGROUP2] = {"no-cgroup2", PIDIO_TROUBLE_NO_CGROUP2, true},
    [PIDIO_TROUBLE_CMDLINE_CUT] = {"cmdline-cut", PIDIO_TROUBLE_CMDLINE_CUT,
                                   true},
};

static void set(pidio_trouble_t *t, enum pidio_trouble_kind k, unsigned count,
                pid_t pid, int err) {
  t->cause[k] = (pidio_cause_t){.kind = k,
                                .count = count,
                                .pid = count > 0 ? pid : 0,
                                .err = count > 0 ? err : 0};
}

void pidio_trouble_classify(const pidio_report_t *r, int update_rc,
                            pidio_trouble_t *t) {
  *t = (pidio_trouble_t){0};
  for (int k = 0; k < PIDIO_TROUBLE_NKINDS; k++)
    t->cause[k].kind = (enum pidio_trouble_kind)k;
  if (update_rc != 0) {
    /* A failure without list_err (out of memory in the merge) stopped the
     * interval as surely as an unreadable ProcRoot. */
    set(t, PIDIO_TROUBLE_LIST, 1, 0,
        r->list_err != 0 ? r->list_err : update_rc);
    return;
  }
  set(t, PIDIO_TROUBLE_DENIED, r->unreadable, r->denied_pid, -EACCES);
  set(t, PIDIO_TROUBLE_UNDECIDED, r->undecided, r->undecided_pid, -EACCES);
  set(t, PIDIO_TROUBLE_FAILED, r->failed, r->failed_pid, r->failed_err);
  set(t, PIDIO_TROUBLE_GARBLED, r->garbled, r->garbled_pid, -EINVAL);
  set(t, PIDIO_TROUBLE_PIDFILE, r->pidfile_err != 0, 0, r->pidfile_err);
  set(t, PIDIO_TROUBLE_NO_CGROUP2, r->no_cgroup2_pid != 0, r->no_cgroup2_pid,
      -ENOENT);
  set(t, PIDIO_TROUBLE_CMDLINE_CUT, r->cmdline_cut_pid != 0,
      r->cmdline_cut_pid, -E2BIG);
  t->unreadable = r->unreadable + r->undecided + r->failed;
}

const pidio_cause_t *pidio_trouble_first(const pidio_trouble_t *t,
                                         enum pidio_trouble_kind slot) {
  for (int k = 0; k < PIDIO_TROUBLE_NKINDS; k++)
    if (pidio_trouble_info[k].slot == slot && t->cause[k].count > 0)
      return &t->cause[k];
  return NULL;
}

void pidio_trouble_each(const pidio_trouble_t *t, int update_rc,
                        bool told[PIDIO_TROUBLE_NKINDS], pidio_trouble_fn *fn,
                        void *arg) {
  for (int k = 0; k < PIDIO_TROUBLE_NKINDS; k++) {
    enum pidio_trouble_kind slot = (enum pidio_trouble_kind)k;
    if (pidio_trouble_info[k].slot != slot)
      continue;
    if (update_rc != 0 && slot != PIDIO_TROUBLE_LIST)
      continue;
    const pidio_cause_t *c = pidio_trouble_first(t, slot);
    if (!pidio_trouble_info[k].once) {
      fn(arg, slot, c);
    } else if (c != NULL && !told[k]) {
      told[k] = true;
      fn(arg, slot, c);
    }
  }
}
