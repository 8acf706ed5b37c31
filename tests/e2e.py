#!/usr/bin/env python3
"""End-to-end tests: the real collectd daemon loads pidio and writes csv.

Each test starts pidio-writer processes whose I/O is exactly known, runs
/usr/sbin/collectd in the foreground with a private PluginDir, and asserts
exact values in the csv files. Exit 77 (skipped) where it cannot run: not
root, or collectd-core not installed.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_lib import Daemon, Results, Writer, check_bad_configs, run_tests, wait_for  # noqa: E402

R = Results()


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def test_selectors_and_rate(work):
    """Pid, PidFile, Name and CommandLine each count exactly what their
    process wrote after collectd started; a paced writer's windowed rate
    is within 2% of its pace."""
    tag = "e2e-cmd-%d" % os.getpid()
    a = Writer(work)                      # by Pid, running before collectd
    b = Writer(work)                      # by PidFile, running before collectd
    a.send("write 777777 1000")           # before collectd: must not count
    b.send("write 555555 1000")
    pidfile = os.path.join(work, "b.pid")
    with open(pidfile, "w") as f:
        f.write("%d\n" % b.pid)
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "bypid">
    Pid %d
  </Process>
  <Process "bypidfile">
    PidFile "%s"
  </Process>
  <Process "byname">
    Name "pidioe2e-name"
  </Process>
  <Process "bycmd">
    CommandLine "pidio-writer .*--tag %s$"
  </Process>
  <Process "rate">
    Name "pidioe2e-rate"
    Window 5
  </Process>
  <Process "nothing">
    Name "pidioe2e-none"
    Window 3
  </Process>
</Plugin>
""" % (a.pid, pidfile, tag))
    writers = [a, b]
    try:
        d.start()
        # Two intervals: pidio has seen a and b (their baseline).
        wait_for(lambda: len(d.rows("bypid", "io_octets")) >= 2, 10, "two reads")
        c = Writer(work, comm="pidioe2e-name")   # starts after collectd
        e = Writer(work, tag=tag)
        r = Writer(work, comm="pidioe2e-rate")
        writers += [c, e, r]
        c.send("write 3000 1000")      # maybe before pidio sees it: from birth
        a.send("write 1000000 1000")
        b.send("write 500000 1000")
        c.send("write 1234567 4096")
        e.send("write 2000000 10000")
        t0 = time.time()
        r.send("pace 1000000 12 10000", timeout=30)
        t1 = time.time()
        time.sleep(2.5)
    finally:
        d.stop()
        for w in writers:
            w.stop()

    R.equal("Pid: wchar counts only what was written after start", d.last("bypid", "io_octets")[2], 1000000)
    R.equal("Pid: syscw", d.last("bypid", "io_ops")[2], 1000)
    R.equal("PidFile: wchar", d.last("bypidfile", "io_octets")[2], 500000)
    R.equal("PidFile: syscw", d.last("bypidfile", "io_ops")[2], 500)
    R.equal("Name: wchar from birth", d.last("byname", "io_octets")[2], 3000 + 1234567)
    R.equal("Name: syscw from birth", d.last("byname", "io_ops")[2], 3 + 302)
    R.equal("CommandLine: wchar", d.last("bycmd", "io_octets")[2], 2000000)
    R.equal("CommandLine: syscw", d.last("bycmd", "io_ops")[2], 200)
    R.equal("paced writer: wchar", d.last("rate", "io_octets")[2], 12000000)
    for blk in ("bypid", "bypidfile", "byname", "bycmd", "rate"):
        R.equal("%s: write_bytes to /dev/null" % blk, d.last(blk, "disk_octets")[2], 0)
        R.equal("%s: cancelled_write_bytes" % blk, d.last(blk, "total_bytes-cancelled_write_bytes")[1], 0)
        counts = [row[1] for row in d.rows(blk, "count-processes")]
        R.check("%s: count-processes reached 1" % blk, 1.0 in counts, str(counts))
        R.equal("%s: count-unreadable" % blk, d.last(blk, "count-unreadable")[1], 0)
        mono = [row[2] for row in d.rows(blk, "io_octets")]
        R.check("%s: wchar never goes down" % blk, mono == sorted(mono), str(mono))
    R.equal("no match: count-processes", d.last("nothing", "count-processes")[1], 0)
    R.equal("no match: io_octets", d.last("nothing", "io_octets")[1:], (0, 0))
    R.check("no match: rates are 0", all(row[1] == 0 for row in d.rows("nothing", "pidio_rate-wchar")) and
            len(d.rows("nothing", "pidio_rate-wchar")) > 0)
    R.check("no windowed gauges without Window", d.rows("bypid", "pidio_rate-wchar") == [])

    # Rows whose whole 5-interval window lies inside the 12 s of pacing.
    rates = [row[1] for row in d.rows("rate", "pidio_rate-wchar") if t0 + 6.5 <= row[0] <= t1 - 0.3]
    R.check("paced writer: at least 3 windowed rates inside the pace", len(rates) >= 3, str(rates))
    bad = [x for x in rates if abs(x - 1e6) > 0.02e6]
    R.check("paced writer: pidio_rate-wchar within 2%% of 1000000 B/s (median %.0f)" %
            (median(rates) if rates else 0), rates and not bad, str(rates))
    for f in ("rchar", "syscr", "syscw", "read_bytes", "write_bytes", "cancelled_write_bytes"):
        R.check("rate: pidio_rate-%s dispatched" % f, len(d.rows("rate", "pidio_rate-" + f)) > 0)
    R.check("rate: syscw rate of 100 calls/s", rates and
            all(abs(row[1] - 100) <= 2 for row in d.rows("rate", "pidio_rate-syscw")
                if t0 + 6.5 <= row[0] <= t1 - 0.3))
    log = d.log()
    R.check("log: pidio started", "pidio 0.1.0: ProcRoot" in log, log[-2000:])
    R.check("log: no pidio error or warning", not any(
        ("[error]" in l or "[warning]" in l) and "] pidio:" in l for l in log.splitlines()), log[-3000:])


BAD_CONFIGS = [
    ("unknown option", '<Process "web">\n Name "x"\n Color "red"\n</Process>', ['<Process "web">', 'option "Color"']),
    ("wrong type", '<Process "web">\n Pid "abc"\n</Process>', ['<Process "web">', 'option "Pid"', "number"]),
    ("bad regex", '<Process "web">\n CommandLine "("\n</Process>', ['<Process "web">', 'option "CommandLine"', "regular expression"]),
    # glibc would compile this for minutes (the -T run's 30 s timeout fails
    # the test): refused at once instead.
    ("stacked regex repetitions", '<Process "web">\n CommandLine ".*++++++++++++++++++++++++"\n</Process>',
     ['<Process "web">', 'option "CommandLine"', "a repetition of a repetition"]),
    ("duplicate block", '<Process "web">\n Name "a"\n</Process>\n<Process "web">\n Name "b"\n</Process>',
     ['<Process "web"> is given twice']),
    ("no selector", '<Process "web">\n Window 5\n</Process>', ['<Process "web"> selects nothing']),
    ("negative window", '<Process "web">\n Name "a"\n Window -3\n</Process>', ['<Process "web">', 'option "Window"']),
    ("plugin-level unknown", 'Colour "blue"\n<Process "web">\n Name "a"\n</Process>', ['option "Colour"']),
    ("name too long", '<Process "web">\n Name "abcdefghijklmnopq"\n</Process>', ['option "Name"', "15 characters"]),
]


def test_bad_configs(work):
    """Every bad configuration stops collectd at start with a message that
    names the option and the block."""
    check_bad_configs(work, BAD_CONFIGS, R)


def test_permission_denied(work):
    """collectd without capabilities cannot read a root process's io: one
    warning with the remedy, count-unreadable says so, nothing else."""
    os.chmod(work, 0o777)
    w = Writer(work, comm="pidioe2e-root")
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "rootproc">
    Name "pidioe2e-root"
  </Process>
</Plugin>
""", user=65534)
    for sub in ("plugins", "csv"):
        os.chmod(os.path.join(work, sub), 0o777)
    try:
        d.start()
        wait_for(lambda: len(d.rows("rootproc", "count-unreadable")) >= 4, 15, "four reads")
        w.send("write 100000")
        wait_for(lambda: len(d.rows("rootproc", "count-unreadable")) >= 6, 15, "two more reads")
    finally:
        d.stop()
        w.stop()
    log = d.log()
    warn = [l for l in log.splitlines() if "permission denied" in l and "rootproc" in l]
    R.equal("EACCES: exactly one warning over six intervals", len(warn), 1)
    R.check("EACCES: the warning gives the remedy", warn and "CAP_DAC_READ_SEARCH" in warn[0] and
            "CAP_SYS_PTRACE" in warn[0] and "/%d/io" % w.pid in warn[0], str(warn))
    R.equal("EACCES: count-unreadable", d.last("rootproc", "count-unreadable")[1], 1)
    R.equal("EACCES: count-processes", d.last("rootproc", "count-processes")[1], 1)
    R.equal("EACCES: nothing counted", d.last("rootproc", "io_octets")[1:], (0, 0))


def test_least_privilege(work):
    """collectd as an unprivileged user with only CAP_DAC_READ_SEARCH and
    CAP_SYS_PTRACE reads another user's process exactly, without a warning."""
    os.chmod(work, 0o777)
    w = Writer(work, comm="pidioe2e-caps")
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "rootproc">
    Name "pidioe2e-caps"
  </Process>
</Plugin>
""", user=65534, caps=("dac_read_search", "sys_ptrace"))
    for sub in ("plugins", "csv"):
        os.chmod(os.path.join(work, sub), 0o777)
    try:
        d.start()
        wait_for(lambda: len(d.rows("rootproc", "io_octets")) >= 2, 15, "two reads")
        w.send("write 123456 1000")
        n = len(d.rows("rootproc", "io_octets"))
        wait_for(lambda: len(d.rows("rootproc", "io_octets")) >= n + 2, 15, "two more reads")
    finally:
        d.stop()
        w.stop()
    R.equal("capabilities only: wchar exactly", d.last("rootproc", "io_octets")[2], 123456)
    R.equal("capabilities only: count-unreadable", d.last("rootproc", "count-unreadable")[1], 0)
    R.check("capabilities only: no warning", "permission denied" not in d.log(), d.log()[-1500:])


def main():
    return run_tests([test_selectors_and_rate, test_bad_configs, test_permission_denied, test_least_privilege], R, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
