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
from e2e_lib import (Daemon, Results, Writer, built, cgroup2_root, run_names,  # noqa: E402
                     run_tests, settle, start_reading, wait_for)

R = Results()



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
        start_reading(d, "seen")
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


def spawn_with_pid(work, pid, comm=None):
    """A writer (named comm) that gets exactly this pid, through
    ns_last_pid. A miss (another process took the pid first) is stopped at
    once; it wrote nothing."""
    for _ in range(300):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        w = Writer(work, comm=comm)
        if w.pid == pid:
            return w
        w.stop()
    raise AssertionError("could not get pid %d back" % pid)


def pid_and_pidfile(work):
    """A writer and a collectd that follows it in two blocks: "bypid" by
    its Pid, "bypidfile" by a PidFile that holds its pid."""
    a = Writer(work)
    pidfile = os.path.join(work, "x.pid")
    with open(pidfile, "w") as f:
        f.write("%d\n" % a.pid)
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
""" % (a.pid, pidfile))
    return a, d


def first_writes(d, a):
    """Start the daemon of pid_and_pidfile; its writer writes 5000 bytes
    in 5 calls, and pidio reads them."""
    start_reading(d, "bypid")
    a.send("write 5000 1000")
    settle(d, "bypid")


def check_reused(d, label):
    """Both blocks of pid_and_pidfile counted the first writer's 5000 bytes
    in 5 calls and the second's 200 in 2, exactly, never going down."""
    for blk in ("bypid", "bypidfile"):
        R.equal("%s %s: wchar exactly 5000 + 200" % (blk, label), d.last(blk, "io_octets")[2], 5200)
        R.equal("%s %s: syscw exactly 5 + 2" % (blk, label), d.last(blk, "io_ops")[2], 7)
        tx = [r[2] for r in d.rows(blk, "io_octets")]
        R.check("%s %s: wchar never goes down" % (blk, label), tx == sorted(tx), str(tx))


def test_pid_reuse(work):
    """A new process with the pid a block followed is a new member, counted
    from birth, never a continuation of the old one (Pid and PidFile)."""
    a, d = pid_and_pidfile(work)
    pid = a.pid
    b = None
    try:
        first_writes(d, a)
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
    check_reused(d, "reused")
    for blk in ("bypid", "bypidfile"):
        counts = [r[1] for r in d.rows(blk, "count-processes")]
        gap = any(counts[i] == 1 and counts[i + 1] == 0 for i in range(len(counts) - 1)) and counts[-1] == 1
        R.check("%s reused: 1, then 0 while the pid was free, then 1" % blk, gap, str(counts))


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
    check_reused(d, "reused at once")
    for blk in ("bypid", "bypidfile"):
        counts = [r[1] for r in d.rows(blk, "count-processes")]
        R.check("%s reused at once: count-processes 1 at every read" % blk,
                counts and set(counts) == {1.0}, str(counts))
    R.equal("pid reuse at once: the new process has the old one's pid", b_pid, pid)


def pid_reuse_between_reads(work):
    """One try: (daemon, pid, new process's pid) when no read fell between
    the old process's exit and the new one's birth, else None."""
    a, d = pid_and_pidfile(work)
    pid = a.pid
    b = None
    try:
        first_writes(d, a)
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
        start_reading(d, "daemon")
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
        start_reading(d, "byexe")
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
        start_reading(d, "pp")
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


def test_pidfile_fifo_writer(work):
    """A PidFile that is a fifo, or a symlink to one, is never opened: a
    writer blocked in open() on that fifo stays blocked while pidio reads
    the block every interval (opening the fifo for reading, even with
    O_NONBLOCK, would release it, and it would then get EPIPE)."""
    fifo = os.path.join(work, "fifo")
    link = os.path.join(work, "link.pid")
    os.mkfifo(fifo)
    os.symlink(fifo, link)
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "viafifo">
    PidFile "%s"
  </Process>
  <Process "vialink">
    PidFile "%s"
  </Process>
</Plugin>
""" % (fifo, link))
    w = os.fork()
    if w == 0:
        try:
            os.open(fifo, os.O_WRONLY)
        finally:
            os._exit(0)
    still = None
    try:
        wait_for(lambda: _state(w) == "S", 5, "the fifo writer to block in open()")
        d.start()
        settle(d, "vialink", 4)
        still = os.waitpid(w, os.WNOHANG) == (0, 0)
    finally:
        d.stop()
        if still is not False:
            rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            os.waitpid(w, 0)
            os.close(rd)
    R.check("PidFile fifo: the writer blocked in open() is still blocked", still)
    for blk in ("viafifo", "vialink"):
        R.equal("PidFile %s: 0 processes" % blk, {r[1] for r in d.rows(blk, "count-processes")}, {0})
        warns = [l for l in d.log().splitlines() if '"%s"' % blk in l and "[warning]" in l]
        R.check("PidFile %s: one warning: not a regular file" % blk,
                len(warns) == 1 and "is not a regular file" in warns[0], str(warns))


def test_cmdline_long(work):
    """CommandLine sees a command line longer than 4 KiB whole (up to 128
    KiB): a regex for its last argument matches, and the block counts the
    process exactly; a longer line is matched by its first 128 KiB, and one
    warning says so."""
    late = "-late-%d" % os.getpid()
    cut = "-cut-%d" % os.getpid()
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "long">
    CommandLine "%s$"
  </Process>
  <Process "cut">
    CommandLine "%s$"
  </Process>
</Plugin>
""" % (late, cut))
    ws = []
    try:
        start_reading(d, "long")
        ws.append(Writer(work, tag=["L" * 6000, late]))
        ws.append(Writer(work, tag=["C" * 100000, "C" * 100000, cut]))
        settle(d, "long")
        ws[0].send("write 4321 1000")
        ws[1].send("write 999 999")
        settle(d, "long", 2)
    finally:
        d.stop()
        for w in ws:
            w.stop()
    R.equal("CommandLine past 4 KiB: wchar exactly", d.last("long", "io_octets")[2], 4321)
    R.equal("CommandLine past 4 KiB: count-processes", d.last("long", "count-processes")[1], 1)
    R.equal("CommandLine past 128 KiB: not matched", d.last("cut", "count-processes")[1], 0)
    for blk in ("cut", "long"):
        # Both blocks looked at the long line: both may miss it, both say so.
        warns = [l for l in d.log().splitlines() if "[warning]" in l and '"%s"' % blk in l]
        R.check("CommandLine past 128 KiB: one warning in block %s" % blk,
                len(warns) == 1 and "longer than 131072 bytes" in warns[0]
                and "/%d/cmdline" % ws[1].pid in warns[0], str(warns))
    R.check("CommandLine: no warning for the 6 KiB line",
            "/%d/cmdline" % ws[0].pid not in d.log(), d.log()[-800:])


# --- lifecycle cases where /proc alone is ambiguous --------------------------
# Every expectation below is what the test's own programs wrote: pidio-writer
# writes only to /dev/null, in write(2) calls of 4096 bytes unless told.

def _calls(n, chunk=4096):
    return (n + chunk - 1) // chunk


def _send_all(pairs, timeout=60):
    """Give several writers a command each, at once; wait for every ack."""
    acks = []
    for w, line in pairs:
        w.n += 1
        w.proc.stdin.write((line + "\n").encode())
        w.proc.stdin.flush()
        acks.append(os.path.join(w.ackdir, "ack.%d" % w.n))
    for a in acks:
        wait_for(lambda: os.path.isdir(a), timeout, "ack %s" % a)


def _exact(blk, d, wchar, syscw):
    R.equal("%s: wchar exactly %d" % (blk, wchar), d.last(blk, "io_octets")[2], wchar)
    R.equal("%s: syscw exactly %d" % (blk, syscw), d.last(blk, "io_ops")[2], syscw)
    tx = [r[2] for r in d.rows(blk, "io_octets")]
    R.check("%s: wchar never goes down" % blk, tx == sorted(tx), str(tx))


def test_reuse_within_interval(work):
    """A member exits and a new matching process gets its pid within the
    same interval (ns_last_pid): the newcomer is a new member counted from
    birth, under a scanning selector (Name) and under Pid + Children."""
    a = Writer(work, comm="pidioe2e-r1")
    pid = a.pid
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "rname">
    Name "pidioe2e-r1"
  </Process>
  <Process "rkids">
    Pid %d
    Children true
  </Process>
</Plugin>
""" % pid)
    b = None
    try:
        start_reading(d, "rname")
        a.send("write 5000 1000")
        settle(d, "rname")
        a.stop()
        with open("/proc/loadavg") as f:
            cursor = f.read().split()[4]
        b = spawn_with_pid(work, pid, "pidioe2e-r1")
        # Put the kernel's pid cursor back where it was: on a quiet machine
        # the last pid is then the one pidio saw last interval, as if no
        # process had been born.
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(cursor)
        b.send("write 200 100")          # at birth, before pidio looks
        settle(d, "rname", 3)
        b.send("write 300 100")
        settle(d, "rname", 2)
    finally:
        d.stop()
        a.stop()
        if b:
            b.stop()
    for blk in ("rname", "rkids"):
        _exact(blk, d, 5000 + 200 + 300, 5 + 2 + 3)


def test_subreaper_zombie_intermediate(work):
    """A subreaper in the block reaps its orphaned grandchild while the
    intermediate (which exited first) is still an unreaped zombie; then
    reaps the intermediate. With the intermediate in the block (Children)
    and without it (Name selects the subreaper and the grandchild only),
    the block rises by exactly what the intermediate and the grandchild
    wrote: the subreaper absorbed both, and the block had counted the
    grandchild's first half while it ran."""
    s = Writer(work, comm="pidioe2e-s2")
    t = Writer(work, comm="pidioe2e-s2g")
    u = Writer(work, comm="pidioe2e-s2r")
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "s2kids">
    Name "pidioe2e-s2"
    Children true
  </Process>
  <Process "s2name">
    Name "pidioe2e-s2g"
  </Process>
  <Process "s2reaped">
    Name "pidioe2e-s2r"
  </Process>
</Plugin>
""")
    ib, gb = 30000, 80000
    try:
        start_reading(d, "s2kids")
        _send_all([(s, "subreaper"), (t, "subreaper"), (u, "subreaper")])
        _send_all([(s, "orphan %d %d 2500" % (ib, gb)),
                   (t, "orphan %d %d 2500 %s %s" % (ib, gb, run_names("pidioe2e-s2i"),
                                                     run_names("pidioe2e-s2g"))),
                   # The intermediate reaped at once: it leaves /proc while
                   # the grandchild runs on.
                   (u, "orphanr %d %d 2500 %s %s" % (ib, gb, run_names("pidioe2e-s2i"),
                                                      run_names("pidioe2e-s2r")))])
        settle(d, "s2kids", 2)
        _send_all([(s, "reap"), (t, "reap")])
        settle(d, "s2kids", 2)
    finally:
        d.stop()
        s.stop()
        t.stop()
        u.stop()
    # The intermediate also wrote the grandchild's pid to a pipe: 4 bytes.
    calls = _calls(ib) + 1 + 2 * _calls(gb // 2)
    _exact("s2kids", d, ib + 4 + gb, calls)
    _exact("s2name", d, ib + 4 + gb, calls)
    _exact("s2reaped", d, ib + 4 + gb, calls)


def test_sigchld_ignored_busy(work):
    """A busy parent whose children the kernel reaps itself (SIGCHLD
    ignored, or SA_NOCLDWAIT, which /proc does not show) folds nothing:
    the block keeps what it counted of the children. The parent writes
    10000 bytes every 10 ms while three children write 60000 bytes each,
    stay 1.5 s and exit; a parent with the default SIGCHLD is the control."""
    ws = {how: Writer(work) for how in ("ign", "nocldwait", "dfl")}
    body = "LoadPlugin pidio\n<Plugin pidio>\n"
    for how, w in ws.items():
        body += '  <Process "sig%s">\n    Pid %d\n    Children true\n  </Process>\n' % (how, w.pid)
    d = Daemon(work, body + "</Plugin>\n")
    try:
        start_reading(d, "sigign")
        _send_all([(w, "sigchld %s" % how) for how, w in ws.items()])
        _send_all([(w, "busyfork 3 60000 1500 10000 300") for w in ws.values()])
        settle(d, "sigign", 2)
    finally:
        d.stop()
        for w in ws.values():
            w.stop()
    for how in ws:
        _exact("sig" + how, d, 300 * 10000 + 3 * 60000, 300 + 3 * _calls(60000))


def test_lineage_same_interval(work):
    """An intermediate and its orphaned grandchild exit 20 ms apart: the
    member parent reaps the intermediate at once, a subreaper outside the
    block (the grandchild's adopter) reaps the grandchild. Both were
    counted whole while they ran; the block rises by exactly what the
    three wrote, with an idle and with a busy member parent."""
    s1 = Writer(work, comm="pidioe2e-l4s")
    s2 = Writer(work, comm="pidioe2e-l4s")
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "l4idle">
    Name "pidioe2e-l4i"
    Children true
  </Process>
  <Process "l4busy">
    Name "pidioe2e-l4b"
    Children true
  </Process>
</Plugin>
""")
    ib, gb = 30000, 80000
    try:
        start_reading(d, "l4idle")
        _send_all([(s1, "subreaper"), (s2, "subreaper")])
        _send_all([(s1, "lineage %s %d %d 2500 0 0" % (run_names("pidioe2e-l4i"), ib, gb)),
                   (s2, "lineage %s %d %d 2500 10000 400" % (run_names("pidioe2e-l4b"), ib, gb))])
        settle(d, "l4idle", 2)
    finally:
        d.stop()
        s1.stop()
        s2.stop()
    _exact("l4idle", d, ib + gb, _calls(ib) + _calls(gb))
    _exact("l4busy", d, 400 * 10000 + ib + gb, 400 + _calls(ib) + _calls(gb))


def test_nested_outside_reaper(work):
    """A member's child outside the block reaps a member grandchild, then
    is reaped by the member: Name selects the outer and the inner process
    (a recursive make through a shell). The block counted the inner one
    while it ran; the outer one absorbs it again with the middle one: the
    block rises by exactly what the middle and the inner process wrote."""
    s = Writer(work, comm="pidioe2e-n5")
    q = Writer(work, comm="pidioe2e-n5q")
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "nest">
    Name "pidioe2e-n5"
  </Process>
  <Process "nestquick">
    Name "pidioe2e-n5q"
  </Process>
</Plugin>
""")
    ib, gb = 30000, 80000
    try:
        start_reading(d, "nest")
        # The middle one lingers 1.25 s after reaping the inner one, or
        # exits at once (both reaped within microseconds).
        _send_all([(s, "nest %d %d 2500 %s %s" % (ib, gb, run_names("pidioe2e-n5m"),
                                                    run_names("pidioe2e-n5"))),
                   (q, "nestq %d %d 2500 %s %s" % (ib, gb, run_names("pidioe2e-n5m"),
                                                     run_names("pidioe2e-n5q")))])
        settle(d, "nest", 2)
    finally:
        d.stop()
        s.stop()
        q.stop()
    _exact("nest", d, ib + gb, _calls(ib) + 2 * _calls(gb // 2))
    _exact("nestquick", d, ib + gb, _calls(ib) + 2 * _calls(gb // 2))


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def main():
    return run_tests([test_families, test_pid_reuse, test_pid_reuse_within_interval, test_pidfile_restarts,
                      test_selectors, test_per_process,
                      test_pidfile_fifo_writer, test_cmdline_long, test_reuse_within_interval,
                      test_subreaper_zombie_intermediate, test_sigchld_ignored_busy,
                      test_lineage_same_interval, test_nested_outside_reaper], R, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
