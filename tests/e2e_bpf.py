#!/usr/bin/env python3
"""End-to-end tests of the Reader option: the real collectd daemon with
pidio reading /proc/<pid>/io (Reader "procfs") and reading each process's
own I/O and every exit from the kernel (Reader "bpf"), side by side on
the same processes, with exact byte counts in the csv files.

- A parent that reaps children, by Pid: with procfs its counters fold the
  children in (the kernel adds a reaped child into its parent's io file);
  with bpf they are its own I/O only. With Children both count the family
  once.
- 30 processes that live a few milliseconds, started by a parent no block
  selects (this test), selected by Name and by CommandLine: with bpf every
  byte is counted from their exit records; with procfs most are never
  seen (the documented limit), and never more than they wrote.
- count-lost is 0 with bpf and not dispatched with procfs; so is
  pidio_delay-blkio (never negative; 0, with one notice naming the
  sysctl, while kernel.task_delayacct is off, as it is by default).
- GroupBy comm with bpf: each group rises by exactly what its writers
  wrote, the short-lived children that were never seen alive included
  (counted from their exit records, grouped by the comm in the record),
  and the groups and "other" together by exactly what the block rose by.
- A storm of thousands of short-lived processes a second for 60 s: exact,
  count-lost 0 at the default ring buffer; with a ring buffer made too
  small on purpose (RingSize 4096), count-lost above 0 and one warning.
- BTF missing, simulated in a mount namespace of collectd's own (the
  kernel's BTF file bound to /dev/null there): auto says why and reads
  /proc exactly, bpf does not start.
- Privileges: nobody with CAP_BPF and CAP_PERFMON runs Reader "bpf" and
  counts a root process exactly; nobody without them: Reader "auto" says
  once why and reads /proc, Reader "bpf" refuses to start.
Exit 77 where it cannot run (not root, no collectd, built without BPF).
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_lib import (BUILDDIR, RUN_PREFIX, Daemon, Results, Writer, built,  # noqa: E402
                     cgroup2_root, group_name, run_names, run_tests, wait_for)

R = Results()


def have_bpf():
    try:
        with open(os.path.join(BUILDDIR, "pidio_build.h")) as f:
            return "#define PIDIO_HAVE_BPF 1" in f.read()
    except OSError:
        return False


def short_lived(n, tag):
    """n pidio-writers that each write 777777 bytes in 1000-byte calls and
    exit at once, children of this test (which no block selects)."""
    procs = []
    for _ in range(n):
        p = subprocess.Popen([built("tests/pidio-writer"), "--tag", tag, "--comm",
                              run_names("pidioe2e-short")],
                             stdin=subprocess.PIPE)
        p.stdin.write(b"write 777777 1000\nexit\n")
        p.stdin.close()
        procs.append(p)
    for p in procs:
        p.wait(30)


CONF = """
LoadPlugin pidio
<Plugin pidio>
  Reader "%s"
  <Process "par">
    Pid %d
  </Process>
  <Process "fam">
    Pid %d
    Children true
  </Process>
  <Process "short">
    Name "pidioe2e-short"
  </Process>
  <Process "shortcmd">
    CommandLine "pidio-writer --tag %s "
  </Process>
</Plugin>
"""


def test_readers_side_by_side(work):
    """The same processes under both readers at once."""
    tag = "e2e-bpf-%d" % os.getpid()
    par = Writer(work)
    par.send("write 5000 1000")                 # before collectd: not counted
    daemons = {}
    for reader in ("procfs", "bpf"):
        wd = os.path.join(work, reader)
        os.makedirs(wd)
        daemons[reader] = Daemon(wd, CONF % (reader, par.pid, par.pid, tag))
    try:
        for d in daemons.values():
            d.start()
        for d in daemons.values():
            wait_for(lambda: len(d.rows("par", "io_octets")) >= 2, 10, "two reads")
        par.send("write 1007 1000")
        par.send("fork 5 100003 100003")        # reaped by par
        short_lived(30, tag)
        time.sleep(2.5)
    finally:
        for d in daemons.values():
            d.stop()
        par.stop()
    p, b = daemons["procfs"], daemons["bpf"]
    R.check("bpf: collectd says which reader", 'Reader "bpf": each process\'s own I/O' in b.log(),
            b.log()[-2000:])
    R.equal("procfs: Pid parent folds its reaped children", p.last("par", "io_octets")[2],
            1007 + 5 * 100003)
    R.equal("bpf: Pid parent counts its own I/O only", b.last("par", "io_octets")[2], 1007)
    R.equal("bpf: Pid parent syscw", b.last("par", "io_ops")[2], 2)
    R.equal("procfs: Pid + Children", p.last("fam", "io_octets")[2], 1007 + 5 * 100003)
    R.equal("bpf: Pid + Children counts the family once", b.last("fam", "io_octets")[2],
            1007 + 5 * 100003)
    R.equal("bpf: Name: 30 short-lived processes of an unselected parent",
            b.last("short", "io_octets")[2], 30 * 777777)
    R.equal("bpf: Name: their syscw", b.last("short", "io_ops")[2], 30 * 778)
    R.equal("bpf: CommandLine (from their exec): 30 short-lived processes",
            b.last("shortcmd", "io_octets")[2], 30 * 777777)
    got = p.last("short", "io_octets")[2]
    R.check("procfs: short-lived processes: never more than they wrote (%d of %d)"
            % (got, 30 * 777777), got <= 30 * 777777)
    for blk in ("par", "fam", "short", "shortcmd"):
        mono = [row[2] for row in b.rows(blk, "io_octets")]
        R.check("bpf: %s: wchar never goes down" % blk, mono == sorted(mono), str(mono))
        lost = [row[1] for row in b.rows(blk, "count-lost")]
        R.check("bpf: %s: count-lost dispatched, always 0" % blk,
                len(lost) > 0 and all(v == 0 for v in lost), str(lost))
        R.equal("procfs: %s: no count-lost" % blk, p.rows(blk, "count-lost"), [])
    delays = [row[1] for row in b.rows("par", "pidio_delay-blkio")]
    R.check("bpf: pidio_delay-blkio dispatched, never negative",
            len(delays) > 0 and all(v >= 0 for v in delays), str(delays))
    R.equal("procfs: no pidio_delay-blkio", p.rows("par", "pidio_delay-blkio"), [])
    with open("/proc/sys/kernel/task_delayacct") as f:
        delayacct = f.read().strip()
    if delayacct == "0":
        # Off (the default since Linux 5.14): said once, and nothing waits.
        R.equal("bpf: task_delayacct off: one notice with the sysctl",
                b.log().count("sysctl kernel.task_delayacct=1"), 1)
        R.check("bpf: task_delayacct off: pidio_delay-blkio 0", all(v == 0 for v in delays))
    else:
        R.equal("bpf: task_delayacct on: no notice",
                b.log().count("sysctl kernel.task_delayacct=1"), 0)
    for name, d in daemons.items():
        R.check("%s: no warning or error in the log" % name, not troubles(d.log()),
                str(troubles(d.log())[:5]))


def troubles(log, kinds=("[warning]", "[error]")):
    """The log's warning (and error) lines but collectd's own note that a
    read took longer than its interval: on a loaded machine the read
    thread can be kept from the CPU for seconds, which says nothing of
    pidio's figures (they are checked exactly apart)."""
    return [line for line in log.splitlines()
            if any(k in line for k in kinds) and "plugin took" not in line]


GROUPS = """
LoadPlugin pidio
<Plugin pidio>
  Reader "bpf"
  <Process "grp">
    CommandLine "--tag %s$"
    Children true
    GroupBy comm
    MaxGroups 5
    RankBy wchar
  </Process>
</Plugin>
"""


def test_groups(work):
    """Reader bpf + GroupBy comm: three writers of distinct comms; a's
    forked children (its comm, never seen alive, counted through Children
    from their exit records) and 30 processes of c's comm that this test
    (selected by no block) runs for a few milliseconds (selected from their
    exit records by their command line). Each group rises by exactly what
    its processes wrote once it had its series."""
    tag = run_names("pidioe2e-bgrp")
    ws = [Writer(work, comm="pidioe2e-b%s" % x, tag=tag) for x in "abc"]
    names = [run_names("pidioe2e-b%s" % x) for x in "abc"]
    d = Daemon(work, GROUPS % tag)

    def tx(inst):
        row = d.last(inst, "io_octets")
        return row[2] if row else 0

    def settle(extra):
        n = len(d.rows("grp", "count-processes")) + extra
        wait_for(lambda: len(d.rows("grp", "count-processes")) >= n, 20,
                 "%d more reads" % extra)

    try:
        d.start()
        settle(2)
        for w in ws:                    # a first write gets each group its series
            w.send("write 1000 1000")
        settle(3)
        before = {n: tx("grp-" + n) for n in names + ["other"]}
        before_blk = tx("grp")
        ws[0].send("write 1000000")
        ws[0].send("fork 20 10000 4096 0")
        ws[1].send("write 2000000")
        ws[2].send("write 300000")
        procs = []
        for _ in range(30):
            p = subprocess.Popen([built("tests/pidio-writer"), "--comm", names[2],
                                  "--tag", tag], stdin=subprocess.PIPE)
            p.stdin.write(b"write 777777 1000\nexit\n")
            p.stdin.close()
            procs.append(p)
        for p in procs:
            p.wait(30)
        settle(3)
    finally:
        d.stop()
        for w in ws:
            w.stop()
    want = dict(zip(names, (1000000 + 20 * 10000, 2000000, 300000 + 30 * 777777)))
    for n in names:
        R.equal("bpf groups: %s rose by what its processes wrote" % n,
                tx("grp-" + n) - before[n], want[n])
    R.equal("bpf groups: other did not rise", tx("grp-other") - before["other"], 0)
    R.equal("bpf groups: the block rose by the sum", tx("grp") - before_blk,
            sum(want.values()))
    R.equal("bpf groups: no unknown group", d.rows("grp-unknown", "io_octets"), [])
    lost = [row[1] for row in d.rows("grp", "count-lost")]
    R.check("bpf groups: count-lost always 0", len(lost) > 0 and all(v == 0 for v in lost),
            str(lost))
    R.check("bpf groups: no warning or error in the log", not troubles(d.log()),
            str(troubles(d.log())[:5]))


EXITS = """
LoadPlugin pidio
<Plugin pidio>
  Reader "bpf"
  <Process "cg">
    Cgroup "%(rel)s"
  </Process>
  <Process "gcg">
    CommandLine "--tag %(tag)s$"
    GroupBy cgroup
    RankBy wchar
  </Process>
  <Process "gunit">
    CommandLine "--tag %(tag)s$"
    GroupBy unit
    RankBy wchar
  </Process>
  <Process "gexe">
    CommandLine "--tag %(tag)s$"
    GroupBy exe
    RankBy wchar
  </Process>
  <Process "ex">
    CommandLine "--tag %(tag)s$"
    Exe "%(exe)s"
  </Process>
  <Process "exother">
    CommandLine "--tag %(tag)s$"
    Exe "%(exe)s.other"
  </Process>
</Plugin>
"""


def exit_batch(path, home, tag, n_in, n_out, nbytes_in, nbytes_out):
    """n_in writers born in the cgroup directory path and n_out in home
    (the test's own cgroup directory), each writing its bytes in calls of
    100 and exiting at once (short-lived: seen only in their exit
    records); waits for them all. The test moves itself into path while
    it starts the first ones, so that they are born there: a writer moved
    after it started could be seen alive in home first, and a process's
    group is fixed when it joins (a write of its own to move itself would
    count)."""
    def move_to(d):
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    procs = []
    try:
        for i in range(n_in + n_out):
            if i in (0, n_in):
                move_to(path if i < n_in else home)
            p = subprocess.Popen([built("tests/pidio-writer"), "--tag", tag],
                                 stdin=subprocess.PIPE)
            p.stdin.write(b"write %d 100\nexit\n" % (nbytes_in if i < n_in else nbytes_out))
            p.stdin.close()
            procs.append(p)
    finally:
        move_to(home)
    for p in procs:
        p.wait(30)


def test_exit_keys(work):
    """Processes that live a few milliseconds and are counted from their
    exit records: in a scope this test makes in the cgroup v2 hierarchy
    (removed as soon as the second batch has ended), and in this test's
    own cgroup. Cgroup selects those in the scope, Exe all of them (and
    another program's path none); GroupBy cgroup, unit and exe put them in
    the groups of their cgroup, unit and program, none in unknown. A first batch gets the groups their series (a group's first
    interval is in other); the second's rises are checked."""
    root = cgroup2_root()
    if root is None:
        R.check("exit keys: a cgroup v2 hierarchy is mounted to test in", False, "")
        return
    with open("/proc/self/cgroup") as f:
        own = [l.split(":", 2)[2].strip() for l in f if l.startswith("0::")][0]
    scope = "%s-bpf.scope" % RUN_PREFIX
    rel = own.rstrip("/") + "/" + scope
    path = root + rel
    tag = run_names("pidioe2e-bexit")
    exe = os.path.realpath(built("tests/pidio-writer"))
    insts = {"cg": "cg", "scope": "gcg-" + group_name(rel), "own": "gcg-" + group_name(own),
             "unit": "gunit-" + group_name(scope), "exe": "gexe-" + group_name(exe),
             "gcg": "gcg", "gunit": "gunit", "gexe": "gexe", "ex": "ex", "exother": "exother"}
    d = Daemon(work, EXITS % {"rel": rel, "tag": tag, "exe": exe})

    def tx(inst):
        row = d.last(inst, "io_octets")
        return row[2] if row else 0

    def settle(extra):
        n = len(d.rows("cg", "count-processes")) + extra
        wait_for(lambda: len(d.rows("cg", "count-processes")) >= n, 20, "%d more reads" % extra)


    try:
        d.start()
        settle(2)
        os.makedirs(path)
        exit_batch(path, root + own, tag, 2, 1, 1000, 1000)
        settle(3)
        before = {k: tx(v) for k, v in insts.items()}
        exit_batch(path, root + own, tag, 20, 10, 55555, 4444)
        os.rmdir(path)                  # before their records are read
        settle(3)
    finally:
        d.stop()
        if os.path.isdir(path):
            os.rmdir(path)
    rise = {k: tx(v) - before[k] for k, v in insts.items()}
    inside, outside = 20 * 55555, 10 * 4444
    R.equal("exit keys: Cgroup %s counts the short-lived processes in it" % rel, rise["cg"],
            inside)
    # 100 bytes a call: 556 calls for 55555 bytes, 10 for 1000.
    R.equal("exit keys: Cgroup: their syscw", d.last("cg", "io_ops")[2], 20 * 556 + 2 * 10)
    R.equal("exit keys: GroupBy cgroup, the removed scope's group (%s)" % insts["scope"],
            rise["scope"], inside)
    R.equal("exit keys: GroupBy cgroup, this test's cgroup's group (%s)" % insts["own"],
            rise["own"], outside)
    R.equal("exit keys: GroupBy unit, the scope's group (%s)" % insts["unit"], rise["unit"],
            inside)
    R.equal("exit keys: GroupBy exe, the program's group (%s)" % insts["exe"], rise["exe"],
            inside + outside)
    R.equal("exit keys: Exe (the program of their exec) counts all 30", rise["ex"],
            inside + outside)
    R.equal("exit keys: Exe of another program counts none", (rise["exother"],
            d.last("exother", "io_octets")[2]), (0, 0))
    for blk in ("gcg", "gunit", "gexe"):
        R.equal("exit keys: %s: the block counts all 30" % blk, rise[blk], inside + outside)
        R.equal("exit keys: %s: no unknown group" % blk,
                d.rows(blk + "-unknown", "io_octets"), [])
    lost = [row[1] for row in d.rows("cg", "count-lost")]
    R.check("exit keys: count-lost always 0", len(lost) > 0 and all(v == 0 for v in lost),
            str(lost))
    # Exe reads every process's exe link: one the machine keeps from root
    # (a container's init) is reported, as documented; nothing else is.
    bad = [l for l in d.log().splitlines() if ("[warning]" in l or "[error]" in l) and
           not re.search(r'<Process "ex(other)?">: permission denied reading /proc/\d+ ', l)]
    R.check("exit keys: no other warning or error in the log", not bad, "\n".join(bad[:5]))


NOBODY = 65534

ONE = """
LoadPlugin pidio
<Plugin pidio>
  Reader "%s"
  <Process "w">
    Pid %d
  </Process>
</Plugin>
"""


def test_stream_exit_keys(work):
    """The same with pidio-stream --reader bpf: --cgroup selects the
    short-lived processes of a scope removed as soon as they ended, and
    --group-by cgroup puts them in the scope's group, exactly."""
    root = cgroup2_root()
    if root is None:
        R.check("stream exit keys: a cgroup v2 hierarchy is mounted to test in", False, "")
        return
    with open("/proc/self/cgroup") as f:
        own = [l.split(":", 2)[2].strip() for l in f if l.startswith("0::")][0]
    scope = "%s-bst.scope" % RUN_PREFIX
    rel = own.rstrip("/") + "/" + scope
    path = root + rel
    tag = run_names("pidioe2e-bsx")
    cmds = {"cg": ["--cgroup", rel],
            # A window of 10 s: the groups keep their records between the
            # two batches (a group idle for a window is gone).
            "grp": ["--cmdline", "--tag %s$" % tag, "--group-by", "cgroup", "--sort", "wchar",
                    "--window", "50"]}
    streams = {k: subprocess.Popen([built("pidio-stream"), "--reader", "bpf", "--interval", "200",
                                    "--format", "json"] + v, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
               for k, v in cmds.items()}


    out = {}
    try:
        time.sleep(1.0)                 # the streams have loaded and read once
        os.makedirs(path)
        exit_batch(path, root + own, tag, 2, 1, 1000, 1000)
        time.sleep(1.0)                 # the groups have their records
        mid = time.time()
        time.sleep(0.5)
        exit_batch(path, root + own, tag, 20, 10, 55555, 4444)
        os.rmdir(path)
        time.sleep(1.5)
    finally:
        for k, s in streams.items():
            s.send_signal(15)
            out[k] = s.communicate(timeout=10)
        if os.path.isdir(path):
            os.rmdir(path)
    recs = {k: [json.loads(x) for x in v[0].splitlines() if x.startswith("{")]
            for k, v in out.items()}
    R.equal("stream exit keys: both streams exit 0 on SIGTERM",
            [s.returncode for s in streams.values()], [0, 0])
    sel = [r for r in recs["cg"] if "group" not in r]
    R.equal("stream exit keys: --cgroup %s counts the short-lived processes in it" % rel,
            sel[-1]["counters"]["wchar"] if sel else None, 2 * 1000 + 20 * 55555)

    def group_at(name, before):
        rs = [r for r in recs["grp"] if r.get("group") == group_name(name) and r["time"] < before]
        return rs[-1]["counters"]["wchar"] if rs else None

    for name, want in ((rel, 20 * 55555), (own, 10 * 4444)):
        a, b = group_at(name, mid), group_at(name, float("inf"))
        R.equal("stream exit keys: --group-by cgroup, %s's group rose by what its processes "
                "wrote" % name, (b - a) if a is not None and b is not None else (a, b), want)
    R.check("stream exit keys: no unknown group",
            not any(r.get("group") == "unknown" for r in recs["grp"]))


def stat_blkio_ticks(pid):
    """Field 42 of /proc/<pid>/stat: the leader thread's block-I/O wait in
    clock ticks (the whole process's for a single-threaded one)."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    return int(text[text.rindex(")") + 2:].split()[42 - 3])


def test_delay(work):
    """pidio_delay-blkio with kernel.task_delayacct on (switched back after):
    a writer started after it reads 16 MiB with O_DIRECT (every read waits
    for the disk). The gauge rises above 0, and summed over the intervals
    (gauge x the time between two rows) it is the wait the kernel shows in
    /proc/<pid>/stat, within a clock tick plus 10 % (the rows' times are
    collectd's, the gauge's divisor pidio's own clock)."""
    sysctl = "/proc/sys/kernel/task_delayacct"
    with open(sysctl) as f:
        was = f.read().strip()
    data = os.path.join(work, "direct.dat")
    w = None
    d = None
    try:
        with open(sysctl, "w") as f:
            f.write("1")
        with open(data, "wb") as f:
            f.write(b"d" * (16 << 20))
            f.flush()
            os.fsync(f.fileno())
        w = Writer(work)
        d = Daemon(work, ONE % ("bpf", w.pid))
        d.start()
        wait_for(lambda: len(d.rows("w", "pidio_delay-blkio")) >= 2, 20, "two delay rows")
        w.send("dread %s" % data)
        ticks = stat_blkio_ticks(w.pid)
        n = len(d.rows("w", "count-processes")) + 3
        wait_for(lambda: len(d.rows("w", "count-processes")) >= n, 20, "three more reads")
    finally:
        if d is not None:
            d.stop()
        if w is not None:
            w.stop()
        with open(sysctl, "w") as f:
            f.write(was)
    rows = d.rows("w", "pidio_delay-blkio")
    summed = sum(v * (t - rows[i - 1][0]) for i, (t, v) in enumerate(rows) if i > 0)
    hz = os.sysconf("SC_CLK_TCK")
    want = ticks / hz
    R.check("delay: the gauge rose above 0 (max %.4f s/s)" % max(v for _, v in rows),
            max(v for _, v in rows) > 0, str(rows))
    R.check("delay: summed over the intervals %.4f s, /proc/<pid>/stat %d ticks = %.4f s"
            % (summed, ticks, want),
            ticks > 0 and abs(summed - want) <= 1.0 / hz + 0.1 * want, str(rows))
    R.check("delay: no notice about the sysctl while it is on",
            "sysctl kernel.task_delayacct=1" not in d.log(), d.log()[-2000:])
    with open(sysctl) as f:
        R.equal("delay: kernel.task_delayacct restored", f.read().strip(), was)


def as_nobody(work, sub, reader, pid, caps=()):
    """A collectd run by nobody in work/sub, which nobody may write."""
    os.chmod(work, 0o777)
    wd = os.path.join(work, sub)
    os.makedirs(wd)
    os.chmod(wd, 0o777)
    d = Daemon(wd, ONE % (reader, pid), user=NOBODY, caps=caps)
    for s in ("plugins", "csv"):
        os.chmod(os.path.join(wd, s), 0o777)
    return d


def test_privileges(work):
    """nobody with CAP_BPF + CAP_PERFMON: bpf, exact; nobody without: auto
    falls back and says why, bpf refuses to start."""
    w = Writer(work)
    try:
        d = as_nobody(work, "caps", "bpf", w.pid, caps=("bpf", "perfmon"))
        d.start()
        try:
            wait_for(lambda: len(d.rows("w", "io_octets")) >= 2, 10, "two reads")
            w.send("write 424242 1000")
            wait_for(lambda: (d.last("w", "io_octets") or (0, 0, 0))[2] == 424242, 10,
                     "the write counted")
        finally:
            d.stop()
        R.equal("nobody with CAP_BPF and CAP_PERFMON: Reader bpf counts a root process",
                d.last("w", "io_octets")[2], 424242)

        d = as_nobody(work, "auto", "auto", w.pid)
        d.start()
        try:
            wait_for(lambda: len(d.rows("w", "io_octets")) >= 1, 10, "a read")
        finally:
            d.stop()
        log = d.log()
        R.check("nobody without capabilities: Reader auto says why and what to grant",
                'Reader "auto": reading /proc/<pid>/io, because' in log and
                "CAP_BPF and CAP_PERFMON" in log, log[-2000:])
        R.equal("... once", log.count('Reader "auto"'), 1)
        R.check("... and reads /proc (count-unreadable dispatched, no count-lost)",
                d.rows("w", "count-unreadable") != [] and d.rows("w", "count-lost") == [])

        d = as_nobody(work, "bpf", "bpf", w.pid)
        try:
            d.start()
            time.sleep(2.5)  # long enough for reads, were any registered
        except AssertionError:
            pass  # collectd may also exit: either way it must not read
        finally:
            d.stop()
        log = d.log() + d.stdout()
        R.check("nobody without capabilities: Reader bpf does not read, and says why",
                'Reader "bpf": not starting' in log and "CAP_BPF and CAP_PERFMON" in log
                and d.rows("w", "io_octets") == [], log[-2000:])
    finally:
        w.stop()


STORM = """
LoadPlugin pidio
<Plugin pidio>
  Reader "bpf"
  %s
  <Process "storm">
    Name "pidioe2e-storm"
  </Process>
</Plugin>
"""


def storm(work, ring, seconds):
    """A writer named pidioe2e-storm forking children that each write 1000
    bytes and exit at once, for the given seconds. Returns the daemon and
    how many children there were."""
    w = Writer(work, comm="pidioe2e-storm")
    d = Daemon(work, STORM % (ring,))
    children = 0
    try:
        d.start()
        wait_for(lambda: len(d.rows("storm", "io_octets")) >= 2, 10, "two reads")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            w.send("fork 500 1000")
            children += 500
        time.sleep(2.5)
    finally:
        d.stop()
        w.stop()
    return d, children


def test_storm(work):
    """Thousands of short-lived processes a second for 60 s: exact, and
    count-lost 0 at the default ring buffer."""
    d, n = storm(work, "", 60)
    rate = n / 60.0
    R.check("storm: %d processes, %.0f a second" % (n, rate), rate >= 1000)
    R.equal("storm: every child's 1000 bytes counted", d.last("storm", "io_octets")[2], 1000 * n)
    R.equal("storm: their syscw", d.last("storm", "io_ops")[2], n)
    lost = [row[1] for row in d.rows("storm", "count-lost")]
    R.check("storm: count-lost always 0", len(lost) > 0 and all(v == 0 for v in lost),
            str([v for v in lost if v]))
    R.check("storm: no warning", not troubles(d.log(), ("[warning]",)),
            str(troubles(d.log(), ("[warning]",))[:5]))


def test_storm_small_ring(work):
    """A ring buffer made too small on purpose (4096 bytes, ten records):
    exits are lost, counted in count-lost, with one warning."""
    d, n = storm(work, "RingSize 4096", 5)
    lost = sum(row[1] for row in d.rows("storm", "count-lost"))
    got = d.last("storm", "io_octets")[2]
    R.check("small ring: count-lost above 0 (%d of %d)" % (lost, n), lost > 0)
    R.check("small ring: the figures miss what was lost (%d of %d bytes)" % (got, 1000 * n),
            got < 1000 * n)
    R.equal("small ring: one warning", d.log().count("were lost by the BPF reader"), 1)


class NoBTF(Daemon):
    """collectd in a mount namespace of its own where the kernel's BTF file
    is empty (/dev/null bound over it): BTF missing, the host untouched."""

    def command(self, *extra):
        inner = " ".join("'%s'" % a for a in Daemon.command(self, *extra))
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount --bind /dev/null /sys/kernel/btf/vmlinux && exec " + inner]


def test_no_btf(work):
    """Without kernel BTF: auto says so once and reads /proc exactly; bpf
    does not start."""
    w = Writer(work)
    try:
        d = NoBTF(os.path.join(work, "auto"), ONE % ("auto", w.pid))
        d.start()
        try:
            wait_for(lambda: len(d.rows("w", "io_octets")) >= 2, 10, "two reads")
            w.send("write 31337 1000")
            wait_for(lambda: (d.last("w", "io_octets") or (0, 0, 0))[2] == 31337, 10,
                     "the write counted")
        finally:
            d.stop()
        log = d.log()
        R.check("no BTF: Reader auto says why, once",
                log.count('Reader "auto": reading /proc/<pid>/io, because') == 1 and
                "BTF" in log, log[-2000:])
        R.equal("no BTF: Reader auto reads /proc exactly", d.last("w", "io_octets")[2], 31337)
        d = NoBTF(os.path.join(work, "bpf"), ONE % ("bpf", w.pid))
        try:
            d.start()
            time.sleep(2.5)
        except AssertionError:
            pass
        finally:
            d.stop()
        log = d.log() + d.stdout()
        R.check("no BTF: Reader bpf does not read, and says why",
                'Reader "bpf": not starting' in log and "BTF" in log and
                d.rows("w", "io_octets") == [], log[-2000:])
    finally:
        w.stop()


def main():
    if not have_bpf():
        print("SKIP: pidio was built without the BPF reader")
        return 77
    return run_tests([test_readers_side_by_side, test_groups, test_exit_keys,
                      test_stream_exit_keys, test_delay,
                      test_privileges, test_no_btf,
                      test_storm, test_storm_small_ring], R, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
