#!/usr/bin/env python3
"""End-to-end tests of selection and of exact totals through the process
lifecycle: reaped children, pid reuse, pidfile restarts, Exe, User, Cgroup,
Children and PerProcess, with the real collectd daemon and exact byte
counts. Exit 77 (skipped) where it cannot run: not root, or no collectd.
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_lib import Daemon, Results, Writer, built, run_tests, wait_for  # noqa: E402

R = Results()


def rows_after(d, blk, typ, n):
    wait_for(lambda: len(d.rows(blk, typ)) >= n, 15, "%d rows of %s/%s" % (n, blk, typ))


def settle(d, blk, extra=2):
    """Wait until pidio has read `extra` more intervals for this block."""
    rows_after(d, blk, "count-processes", len(d.rows(blk, "count-processes")) + extra)


def test_families(work):
    """A parent in the block forks 50 children that each write exactly
    100000 bytes; the block rises by exactly 5000000 plus what the parent
    wrote: children seen alive, children joined by Children, children
    never seen."""
    f1 = Writer(work, comm="pidioe2e-fam1")
    f2 = Writer(work, comm="pidioe2e-fam2")
    tag = "e2e-short-%d" % os.getpid()
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "seen">
    Name "pidioe2e-fam1"
  </Process>
  <Process "children">
    Pid %d
    Children true
  </Process>
  <Process "unseen">
    CommandLine "--tag %s$"
  </Process>
</Plugin>
""" % (f2.pid, tag))
    ws = [f1, f2]
    try:
        d.start()
        rows_after(d, "seen", "io_octets", 2)
        f3 = Writer(work, tag=tag)
        ws.append(f3)
        settle(d, "unseen")
        f1.send("write 12345 12345")
        # Children that live 2.5 s span at least two reads of a 1 s
        # interval, so that pidio sees them alive and must take what it
        # counted of them off the parent when the parent reaps them.
        f1.send("fork 50 100000 100000 2500", timeout=30)   # seen alive
        f2.send("fork 50 100000 100000 2500", timeout=30)   # members by Children
        f2.send("write 777 777")
        f3.send("fork 50 100000 100000 0", timeout=30)      # gone within an interval
        f3.send("write 1 1")
        settle(d, "seen", 3)
        peak = max(r[1] for r in d.rows("children", "count-processes"))
        peak_seen = max(r[1] for r in d.rows("seen", "count-processes"))
    finally:
        d.stop()
        for w in ws:
            w.stop()
    R.equal("children seen alive: all 50 children and the parent were members at once",
            peak_seen, 51)
    R.equal("children seen alive: wchar exactly 5000000 + 12345", d.last("seen", "io_octets")[2], 5012345)
    R.equal("children seen alive: syscw exactly 50 + 1", d.last("seen", "io_ops")[2], 51)
    R.equal("Children true: wchar exactly 5000000 + 777", d.last("children", "io_octets")[2], 5000777)
    R.equal("Children true: syscw exactly 51", d.last("children", "io_ops")[2], 51)
    R.equal("Children true: all 50 children and the parent were members at once", peak, 51)
    R.equal("children never seen: wchar exactly 5000000 + 1", d.last("unseen", "io_octets")[2], 5000001)
    R.equal("children never seen: syscw exactly 51", d.last("unseen", "io_ops")[2], 51)
    for blk in ("seen", "children", "unseen"):
        tx = [r[2] for r in d.rows(blk, "io_octets")]
        R.check("%s: wchar never goes down" % blk, tx == sorted(tx), str(tx))


def spawn_with_pid(work, pid):
    """A writer that gets exactly this pid, through ns_last_pid."""
    for _ in range(300):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        w = Writer(work)
        if w.pid == pid:
            return w
        w.stop()
    raise AssertionError("could not get pid %d back" % pid)


def test_pid_reuse(work):
    """A new process with the pid a block followed is a new member, counted
    from birth, never a continuation of the old one (Pid and PidFile)."""
    a = Writer(work)
    pid = a.pid
    pidfile = os.path.join(work, "x.pid")
    with open(pidfile, "w") as f:
        f.write("%d\n" % pid)
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "bypid">
    Pid %d
  </Process>
  <Process "bypidfile">
    PidFile "%s"
  </Process>
</Plugin>
""" % (pid, pidfile))
    b = None
    try:
        d.start()
        rows_after(d, "bypid", "io_octets", 2)
        a.send("write 5000 1000")
        settle(d, "bypid")
        a.stop()
        settle(d, "bypid")
        b = spawn_with_pid(work, pid)
        b.send("write 200 100")
        settle(d, "bypid", 3)
    finally:
        d.stop()
        a.stop()
        if b:
            b.stop()
    for blk in ("bypid", "bypidfile"):
        R.equal("%s reused: wchar exactly 5000 + 200" % blk, d.last(blk, "io_octets")[2], 5200)
        R.equal("%s reused: syscw exactly 5 + 2" % blk, d.last(blk, "io_ops")[2], 7)
        counts = [r[1] for r in d.rows(blk, "count-processes")]
        gap = any(counts[i] == 1 and counts[i + 1] == 0 for i in range(len(counts) - 1)) and counts[-1] == 1
        R.check("%s reused: 1, then 0 while the pid was free, then 1" % blk, gap, str(counts))
        tx = [r[2] for r in d.rows(blk, "io_octets")]
        R.check("%s reused: wchar never goes down" % blk, tx == sorted(tx), str(tx))


def test_pid_reuse_within_interval(work):
    """The old process exits and a new one gets its pid between two reads:
    no read sees the pid free, and still the new process is a new member,
    counted from birth, never a continuation of the old one (Pid and
    PidFile). A scenario that a read happens to fall into (the machine may
    be slow) is measured again; only one wholly between two reads is
    judged."""
    for attempt in range(5):
        sub = os.path.join(work, "try%d" % attempt)
        os.mkdir(sub)
        verdict = pid_reuse_between_reads(sub)
        if verdict is not None:
            break
        print("pid reuse: a read fell between the exit and the reuse; measuring again", flush=True)
    else:
        R.check("pid reuse within an interval: a scenario between two reads", False,
                "a read fell inside it in 5 tries")
        return
    d, pid, b_pid = verdict
    for blk in ("bypid", "bypidfile"):
        R.equal("%s reused at once: wchar exactly 5000 + 200" % blk, d.last(blk, "io_octets")[2], 5200)
        R.equal("%s reused at once: syscw exactly 5 + 2" % blk, d.last(blk, "io_ops")[2], 7)
        counts = [r[1] for r in d.rows(blk, "count-processes")]
        R.check("%s reused at once: count-processes 1 at every read" % blk,
                counts and set(counts) == {1.0}, str(counts))
        tx = [r[2] for r in d.rows(blk, "io_octets")]
        R.check("%s reused at once: wchar never goes down" % blk, tx == sorted(tx), str(tx))
    R.equal("pid reuse at once: the new process has the old one's pid", b_pid, pid)


def pid_reuse_between_reads(work):
    """One try: (daemon, pid, new process's pid) when no read fell between
    the old process's exit and the new one's birth, else None."""
    a = Writer(work)
    pid = a.pid
    pidfile = os.path.join(work, "x.pid")
    with open(pidfile, "w") as f:
        f.write("%d\n" % pid)
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "bypid">
    Pid %d
  </Process>
  <Process "bypidfile">
    PidFile "%s"
  </Process>
</Plugin>
""" % (pid, pidfile))
    b = None
    try:
        d.start()
        rows_after(d, "bypid", "io_octets", 2)
        a.send("write 5000 1000")
        settle(d, "bypid")
        # Right after a read, so that the next one is an interval away.
        n = len(d.rows("bypid", "count-processes"))
        wait_for(lambda: len(d.rows("bypid", "count-processes")) > n, 5, "a read", step=0.005)
        t0 = time.time()
        a.stop()
        b = spawn_with_pid(work, pid)
        t1 = time.time()
        b.send("write 200 100")
        settle(d, "bypid", 3)
    finally:
        d.stop()
        a.stop()
        if b:
            b.stop()
    # A read that saw the pid free would have dispatched at or after the
    # exit (t0); one that dispatched within a moment of the birth (t1) may
    # have looked before it.
    inside = [r[0] for r in d.rows("bypid", "count-processes") if t0 <= r[0] <= t1 + 0.25]
    if inside:
        return None
    return d, pid, b.pid


def test_pidfile_restarts(work):
    """PidFile follows a restart: the old process keeps what it added, the
    new one adds; a garbage pidfile means 0 processes and one warning."""
    a = Writer(work)
    pidfile = os.path.join(work, "d.pid")

    def point(content):
        tmp = pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(content)
        os.rename(tmp, pidfile)
    point("%d\n" % a.pid)
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "daemon">
    PidFile "%s"
  </Process>
</Plugin>
""" % pidfile)
    b = None
    try:
        d.start()
        rows_after(d, "daemon", "io_octets", 2)
        a.send("write 1000 1000")
        settle(d, "daemon")
        b = Writer(work)
        point("%d\n" % b.pid)
        # b writes once pidio follows it: had a read fallen between b's
        # start and the rename, b would be an older process, counted from
        # the read that first saw it in the pidfile.
        settle(d, "daemon")
        b.send("write 2000 1000")
        settle(d, "daemon")
        a.send("write 500 500")           # no longer selected: not counted
        settle(d, "daemon")
        point("not a pid\n")
        settle(d, "daemon", 3)
        garbage_rows = d.rows("daemon", "count-processes")[-2:]
        point("%d\n" % b.pid)
        settle(d, "daemon")
        b.send("write 4000 1000")
        settle(d, "daemon")
    finally:
        d.stop()
        a.stop()
        if b:
            b.stop()
    R.equal("PidFile restart: wchar exactly 1000 + 2000 + 4000", d.last("daemon", "io_octets")[2], 7000)
    R.equal("PidFile garbage: 0 processes", [r[1] for r in garbage_rows], [0, 0])
    warns = [l for l in d.log().splitlines() if "PidFile" in l and "daemon" in l and "[warning]" in l]
    R.equal("PidFile garbage: exactly one warning", len(warns), 1)
    R.check("PidFile garbage: the warning says why", warns and "does not hold a process id" in warns[0], str(warns))
    R.check("PidFile valid again: noted once", d.log().count("is valid again") == 1, d.log()[-1500:])
    tx = [r[2] for r in d.rows("daemon", "io_octets")]
    R.check("PidFile: wchar never goes down", tx == sorted(tx), str(tx))


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[sep + 1] == "cgroup2":
                return parts[4]
    return None


def test_selectors(work):
    """Exe, User and Cgroup select exactly the processes they name."""
    # A copy of the writer of this test's own: Exe alone (no Name) then
    # selects only the processes started from it, whatever their name.
    exe = os.path.join(work, "pidio-writer-exe")
    shutil.copy(os.path.realpath(built("tests/pidio-writer")), exe)
    os.chmod(exe, 0o755)
    root = cgroup2_root()
    cg = "/pidio-e2e-%d" % os.getpid()
    body = """
LoadPlugin pidio
<Plugin pidio>
  <Process "byexe">
    Exe "%s"
  </Process>
  <Process "byuser">
    User "nobody"
    Name "pidioe2e-usr"
  </Process>
""" % exe
    if root:
        body += '  <Process "bycgroup">\n    Cgroup "%s"\n  </Process>\n' % cg
    body += "</Plugin>\n"
    d = Daemon(work, body)
    ws = []
    made = []
    try:
        d.start()
        rows_after(d, "byexe", "io_octets", 2)
        e = Writer(work, comm="pidioe2e-exe", exe=exe)
        e_other = Writer(work, comm="pidioe2e-exe")     # same name, other program: not selected
        u = Writer(work, comm="pidioe2e-usr", user=65534)
        u_root = Writer(work, comm="pidioe2e-usr")      # same name, root: not selected
        ws += [e, e_other, u, u_root]
        if root:
            inner = os.path.join(root, cg.lstrip("/"), "inner")
            os.makedirs(inner)
            made += [inner, os.path.dirname(inner)]
            c_in = Writer(work)
            c_out = Writer(work)
            ws += [c_in, c_out]
            with open(os.path.join(inner, "cgroup.procs"), "w") as f:
                f.write(str(c_in.pid))
        settle(d, "byexe")
        e.send("write 3333 1111")
        e_other.send("write 88888")
        u.send("write 4444 1111")
        u_root.send("write 99999")
        if root:
            c_in.send("write 5555 1111")
            c_out.send("write 99999")
        settle(d, "byexe", 2)
    finally:
        d.stop()
        for w in ws:
            w.stop()
        for p in made:
            try:
                os.rmdir(p)
            except OSError:
                pass
    R.equal("Exe: wchar exactly (the same name from another program left out)",
            d.last("byexe", "io_octets")[2], 3333)
    R.equal("Exe: count-processes", d.last("byexe", "count-processes")[1], 1)
    R.equal("User nobody: wchar exactly (root's twin left out)", d.last("byuser", "io_octets")[2], 4444)
    R.equal("User nobody: count-processes", d.last("byuser", "count-processes")[1], 1)
    if root:
        R.equal("Cgroup: wchar exactly (outside writer left out)", d.last("bycgroup", "io_octets")[2], 5555)
        R.equal("Cgroup: count-processes", d.last("bycgroup", "count-processes")[1], 1)
    else:
        R.check("Cgroup: a cgroup v2 hierarchy is mounted to test it in", False,
                "(none in /proc/self/mountinfo)")


def test_per_process(work):
    """PerProcess: series <block>-<pid> with each process's exact share,
    at most MaxProcesses, one warning beyond; a process's series stop when
    it exits and a waiting one takes its place."""
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "pp">
    Name "pidioe2e-pp"
    PerProcess true
    MaxProcesses 2
    Window 3
  </Process>
</Plugin>
""")
    ws = []
    try:
        d.start()
        rows_after(d, "pp", "io_octets", 2)
        for i in range(3):
            ws.append(Writer(work, comm="pidioe2e-pp"))
        settle(d, "pp")
        for i, w in enumerate(ws):
            w.send("write %d 1000" % (1000 * (i + 1)))
        settle(d, "pp")
        ws[0].stop()
        settle(d, "pp", 3)
        gone_rows = len(d.rows("pp-%d" % ws[0].pid, "io_octets"))
        settle(d, "pp", 2)
    finally:
        d.stop()
        for w in ws:
            w.stop()
    p = [w.pid for w in ws]
    R.equal("PerProcess: first process's own wchar", d.last("pp-%d" % p[0], "io_octets")[2], 1000)
    R.equal("PerProcess: second process's own wchar", d.last("pp-%d" % p[1], "io_octets")[2], 2000)
    R.equal("PerProcess: third takes the freed place, its own wchar", d.last("pp-%d" % p[2], "io_octets")[2], 3000)
    R.equal("PerProcess: the block counts all three", d.last("pp", "io_octets")[2], 6000)
    R.equal("PerProcess: an exited process's series stop",
            len(d.rows("pp-%d" % p[0], "io_octets")), gone_rows)
    R.check("PerProcess: rates per process", len(d.rows("pp-%d" % p[1], "pidio_rate-wchar")) > 0)
    warns = [l for l in d.log().splitlines() if "MaxProcesses 2" in l]
    R.equal("PerProcess: one warning beyond MaxProcesses", len(warns), 1)


def main():
    return run_tests([test_families, test_pid_reuse, test_pid_reuse_within_interval, test_pidfile_restarts, test_selectors, test_per_process], R, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
