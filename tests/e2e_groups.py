#!/usr/bin/env python3
"""End-to-end tests of GroupBy with the real collectd daemon and its csv
writer: each group's series exact to the byte against what the test's own
writers wrote, "other" exact, the groups and "other" adding up to the block
in every interval, no series going down or appearing with a step, at most
MaxGroups + 2 plugin instances, a hammering newcomer taking a slot, groups
by user and by a cgroup the test makes, and bad configurations refused.
Exit 77 (skipped) where it cannot run: not root, or no collectd.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_lib import (RUN_PREFIX, Daemon, Results, Writer, built, cgroup2_root,  # noqa: E402
                     check_bad_configs, run_names, run_tests, settle, start_reading,
                     wait_for)

R = Results()

TYPES = ("io_octets", "io_ops", "disk_octets", "total_bytes-cancelled_write_bytes")



def grouped(work, blk, tag, key, max_groups=None, window=None):
    """A collectd with one block: the processes tagged tag, grouped by key,
    ranked by wchar, MaxGroups and Window as given (else the defaults)."""
    more = "".join("    %s %d\n" % (opt, v) for opt, v in (("MaxGroups", max_groups), ("Window", window))
                   if v is not None)
    return Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "%s">
    CommandLine "--tag %s$"
    GroupBy %s
    RankBy wchar
%s  </Process>
</Plugin>
""" % (blk, tag, key, more))


def instances(d, blk):
    """The plugin instances of a block's groups and "other"."""
    base = os.path.join(d.csvdir, d.hostname)
    pre = "pidio-%s-" % blk
    return sorted(x[len("pidio-"):] for x in os.listdir(base) if x.startswith(pre))


def check_groups(d, blk, max_groups, label):
    """The rules every interval, read back from the csv files: at most
    max_groups groups plus "other"; every series only grows and (re)appears
    at the value it last had; the rises of all of them are the block's."""
    insts = instances(d, blk)
    groups = [i for i in insts if i != blk + "-other"]
    for typ in TYPES:
        block = d.rows(blk, typ)
        # Each row of a group or of other belongs to the read of the block's
        # row with the same time: one read dispatches all of its value
        # lists with the time of that read (README "Series").
        times = {rb[0]: k for k, rb in enumerate(block)}
        series = {i: {} for i in insts}
        for i in insts:
            for r in d.rows(i, typ):
                k = times.get(r[0])
                if k is None:
                    R.check("%s: %s: every row has the time of a read of the block" % (label, typ),
                            False, "%s at %r" % (i, r[0]))
                    continue
                if k in series[i]:
                    problems_early = "%s has two rows for read %d" % (i, k)
                    R.check("%s: %s: one row per read" % (label, typ), False, problems_early)
                series[i][k] = r
        last = {}
        prev_block = None
        problems = []
        most = 0
        for k, rb in enumerate(block):
            width = len(rb) - 1
            rise = [0] * width
            present = 0
            for i in insts:
                if k not in series[i]:
                    continue
                r = series[i][k][1:]
                if i != blk + "-other":
                    present += 1
                before, when = last.get(i, ((0,) * width, None))
                if when != k - 1 and tuple(r) != tuple(before):
                    problems.append("%s appears at %r after %r" % (i, r, before))
                for j in range(width):
                    if r[j] < before[j]:
                        problems.append("%s goes down: %r after %r" % (i, r, before))
                    rise[j] += r[j] - before[j]
                last[i] = (tuple(r), k)
            most = max(most, present)
            base = prev_block if prev_block is not None else (0,) * width
            want = [rb[j + 1] - base[j] for j in range(width)]
            if rise != want:
                problems.append("row %d: groups and other rose by %r, the block by %r" % (k, rise, want))
            prev_block = rb[1:]
        R.check("%s: %s: groups and other add up to the block, every series monotonic, no step"
                % (label, typ), not problems and len(block) > 3, "; ".join(problems[:5]))
        R.check("%s: %s: at most %d groups with series at a time" % (label, typ, max_groups),
                most <= max_groups, "at most %d, seen %d" % (max_groups, most))
    return groups


def tx(d, inst):
    row = d.last(inst, "io_octets")
    return row[2] if row else None


def test_groups_exact(work):
    """Three writers with distinct comms write known byte counts and a
    fourth forks 30 short-lived children: each group's wchar is exactly
    what its processes wrote after it got its series, "other" exactly what
    they wrote in the interval they got them."""
    tag = run_names("pidioe2e-grp")
    ws = [Writer(work, comm="pidioe2e-g%s" % x, tag=tag) for x in ("a", "b", "c", "f")]
    d = grouped(work, "grp", tag, "comm", max_groups=5, window=3)
    names = [run_names("pidioe2e-g%s" % x) for x in ("a", "b", "c", "f")]
    try:
        start_reading(d, "grp")
        for w in ws:                    # a first write gets each group its series
            w.send("write 1000 1000")
        settle(d, "grp", 3)
        before = {n: tx(d, "grp-" + n) for n in names}
        ws[0].send("write 1000000")
        ws[1].send("write 2000000")
        ws[2].send("write 3000000")
        ws[3].send("fork 30 10000 4096 0", timeout=30)   # children gone within an interval
        settle(d, "grp", 3)
    finally:
        d.stop()
        for w in ws:
            w.stop()
    for n, want in zip(names, (1000000, 2000000, 3000000, 300000)):
        R.equal("exact: %s has its series from its first write on" % n, before[n], 0)
        R.equal("exact: %s wchar" % n, tx(d, "grp-" + n), want)
    R.equal("exact: other holds the first writes, made as each group got its series",
            tx(d, "grp-other"), 4000)
    R.equal("exact: the block", tx(d, "grp"), 6304000)
    R.equal("exact: count-processes of a group", d.last("grp-" + names[0], "count-processes")[1], 1)
    R.check("exact: rates of a group", len(d.rows("grp-" + names[2], "pidio_rate-wchar")) > 0)
    check_groups(d, "grp", 5, "exact")


def test_groups_contention(work):
    """MaxGroups 2, both held by steady writers; a newcomer that hammers
    gets a slot within two intervals, from the less active of the two."""
    tag = run_names("pidioe2e-cnt")
    a = Writer(work, comm="pidioe2e-ca", tag=tag)
    b = Writer(work, comm="pidioe2e-cb", tag=tag)
    ws = [a, b]
    d = grouped(work, "cnt", tag, "comm", max_groups=2, window=3)
    ca, cb, cc = (run_names("pidioe2e-c%s" % x) for x in "abc")
    try:
        start_reading(d, "cnt")
        # Steady writers, in the background of their own commands.
        a.proc.stdin.write(b"pace 400000 25\n")
        a.proc.stdin.flush()
        b.proc.stdin.write(b"pace 100000 25\n")
        b.proc.stdin.flush()
        settle(d, "cnt", 6)             # both hold their slots for more than a window
        c = Writer(work, comm="pidioe2e-cc", tag=tag)
        ws.append(c)
        settle(d, "cnt", 2)             # c is a member, doing nothing yet
        t0 = time.time()
        c.proc.stdin.write(b"pace 4000000 6\n")
        c.proc.stdin.flush()
        wait_for(lambda: d.rows("cnt-" + cc, "io_octets"), 10, "the newcomer's series")
        settle(d, "cnt", 3)
    finally:
        d.stop()
        for w in ws:
            w.proc.kill()               # still pacing: no last acknowledgement
            w.stop()
    first = d.rows("cnt-" + cc, "io_octets")[0][0]
    R.check("contention: the newcomer has series within two intervals",
            first <= t0 + 2.2, "first row %.2f s after it began" % (first - t0))
    last_b = d.rows("cnt-" + cb, "io_octets")[-1][0]
    last_a = d.rows("cnt-" + ca, "io_octets")[-1][0]
    R.check("contention: the less active group gave its slot up", last_b < first + 0.5,
            "last row of %s %.2f s after the newcomer's first" % (cb, last_b - first))
    R.check("contention: the busier group kept its slot", last_a > first + 1.5)
    check_groups(d, "cnt", 2, "contention")


def test_groups_by_user(work):
    """GroupBy user with two real users: root's and nobody's writes, each
    exactly in its own group."""
    tag = run_names("pidioe2e-usr")
    os.chmod(work, 0o755)
    r = Writer(work, comm="pidioe2e-ur", tag=tag)
    n = Writer(work, comm="pidioe2e-un", tag=tag, user=65534)
    ws = [r, n]
    d = grouped(work, "usr", tag, "user")
    try:
        start_reading(d, "usr")
        r.send("write 10 10")
        n.send("write 10 10")
        settle(d, "usr", 3)
        r.send("write 11111 1111")
        n.send("write 22222 1111")
        settle(d, "usr", 3)
    finally:
        d.stop()
        for w in ws:
            w.stop()
    R.equal("user: root's group", tx(d, "usr-root"), 11111)
    R.equal("user: nobody's group", tx(d, "usr-nobody"), 22222)
    R.equal("user: other", tx(d, "usr-other"), 20)
    check_groups(d, "usr", 20, "user")


def test_groups_by_unit(work):
    """GroupBy unit with a scope the test makes in the cgroup v2 hierarchy:
    its writer in the group named after the scope, another writer in the
    group of its own cgroup."""
    root = cgroup2_root()
    if root is None:
        R.check("unit: a cgroup v2 hierarchy is mounted to test it in", False,
                "(none in /proc/self/mountinfo)")
        return
    scope = "%s-e2e.scope" % RUN_PREFIX
    path = os.path.join(root, scope)
    tag = run_names("pidioe2e-unit")
    inside = Writer(work, comm="pidioe2e-ui", tag=tag)
    outside = Writer(work, comm="pidioe2e-uo", tag=tag)
    ws = [inside, outside]
    with open("/proc/%d/cgroup" % outside.pid) as f:
        own = [l.split(":", 2)[2].strip() for l in f if l.startswith("0::")][0]
    os.makedirs(path)
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(inside.pid))
    d = grouped(work, "unit", tag, "unit")
    try:
        start_reading(d, "unit")
        inside.send("write 10 10")
        outside.send("write 10 10")
        settle(d, "unit", 3)
        inside.send("write 7777 1111")
        outside.send("write 8888 1111")
        settle(d, "unit", 3)
    finally:
        d.stop()
        for w in ws:
            w.stop()
        try:
            os.rmdir(path)
        except OSError:
            pass
    name = scope.replace(".", "_")
    R.equal("unit: the scope's group", tx(d, "unit-" + name), 7777)
    # The other writer's cgroup: its unit, or the path when it has none.
    unit = [c for c in own.split("/") if c.endswith((".service", ".scope", ".socket", ".mount", ".swap"))]
    key = unit[-1] if unit else own
    oname = "".join(c if c.isalnum() or c in "-@" else "_" if c == "." else "~" if c == "/"
                    else "%%%02X" % ord(c) for c in key)
    R.equal("unit: the other writer's group (%s)" % oname, tx(d, "unit-" + oname), 8888)
    check_groups(d, "unit", 20, "unit")


def test_groups_churn(work):
    """A minute of churn: ten processes a second, each with a name of its
    own, writing a random amount; MaxGroups 3. At no time more than 3
    groups have series, and every interval the groups and other add up to
    the block."""
    import random
    tag = run_names("pidioe2e-churn")
    d = grouped(work, "churn", tag, "comm", max_groups=3, window=3)
    writer = built("tests/pidio-writer")
    rnd = random.Random(os.getpid())
    procs = []
    try:
        start_reading(d, "churn")
        end = time.time() + float(os.environ.get("PIDIO_CHURN_SECONDS", "60"))
        while time.time() < end:
            name = "%s-%04x" % (RUN_PREFIX, rnd.randrange(1 << 16))
            p = subprocess.Popen([writer, "--comm", name, "--tag", tag], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Alive for a while (seen by pidio), then a write and the end.
            procs.append((p, time.time() + rnd.uniform(0.5, 4), rnd.randrange(1, 2000000)))
            for q in [x for x in procs if x[1] <= time.time()]:
                q[0].stdin.write(b"write %d\n" % q[2])
                q[0].stdin.close()
                procs.remove(q)
            time.sleep(0.1)
        settle(d, "churn", 2)
    finally:
        for p, _, _ in procs:
            p.kill()
        d.stop()
    groups = check_groups(d, "churn", 3, "churn")
    R.check("churn: many groups had series over the minute", len(groups) > 3, str(len(groups)))


BAD_CONFIGS = [
    ("GroupBy twice", 'All true\n GroupBy comm\n GroupBy user', ['<Process "web">', 'option "GroupBy"', "given twice"]),
    ("unknown key", 'All true\n GroupBy pid', ['<Process "web">', 'option "GroupBy"', 'unknown key "pid"']),
    ("MaxGroups 0", 'All true\n GroupBy comm\n MaxGroups 0', ['<Process "web">', 'option "MaxGroups"', "1 to 1000"]),
    ("unknown RankBy", 'All true\n GroupBy comm\n RankBy bogus', ['<Process "web">', 'option "RankBy"', 'unknown field "bogus"']),
    ("All false", 'All false', ['<Process "web">', 'option "All"', "select nothing"]),
    ("MaxGroups alone", 'All true\n MaxGroups 3', ['<Process "web">', "MaxGroups needs GroupBy"]),
    ("with PerProcess", 'All true\n GroupBy comm\n PerProcess true', ['<Process "web">', "PerProcess or GroupBy"]),
]


def test_bad_configs(work):
    """Each refused at start with a message naming the block and option."""
    cases = [(l, '<Process "web">\n %s\n</Process>' % b, w) for l, b, w in BAD_CONFIGS]
    cases.append(("name clash", '<Process "web">\n All true\n GroupBy comm\n</Process>\n'
                  '<Process "web-x">\n Name "x"\n</Process>',
                  ['<Process "web">', '<Process "web-x">', "rename one"]))
    check_bad_configs(work, cases, R)


def main():
    return run_tests([test_bad_configs, test_groups_exact, test_groups_contention,
                      test_groups_by_user, test_groups_by_unit, test_groups_churn], R, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
