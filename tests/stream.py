#!/usr/bin/env python3
"""Tests of pidio-stream, the command-line front end.

Each test runs the built pidio-stream against pidio-writer processes whose
I/O is exactly known (the test's own children, so root is not needed), or
against the static procfs tree under fixtures/, and asserts exact values in
what it writes: JSON lines, InfluxDB line protocol, the table. Prints
PASS/FAIL lines and "N passed, N failed"; exit 77 (skipped) where it cannot
run at all, or when not root: the one test that needs root (an
unprivileged stream) then cannot run, and contrib/check.sh, run as root,
counts any skip as a failure.
"""
import json
import os
import pty
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_lib import SRCDIR, CannotRun, Results, Writer, built, run_tests, wait_for  # noqa: E402

R = Results()
FIXTURE = os.path.join(SRCDIR, "fixtures", "proc-basic")
FIELDS = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes",
          "cancelled_write_bytes")
# The table's columns, in order.
TABLE_COLUMNS = ["Time", "Procs", "kB_rd/s", "kB_wr/s", "kB_ccwr/s", "rchar/s", "wchar/s",
                 "syscr/s", "syscw/s", "read_bytes", "write_bytes", "rchar", "wchar",
                 "syscr", "syscw"]
UNIQ = os.getpid() % 100000


def stream_bin():
    return built("pidio-stream")


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def syscalls(n, chunk=4096):
    """write(2) calls pidio-writer makes for n bytes."""
    return (n + chunk - 1) // chunk


class Stream:
    """A running pidio-stream; its output lines are collected as they come."""

    def __init__(self, *args, cwd=None, prefix=()):
        self.cmd = list(prefix) + [stream_bin()] + [str(a) for a in args]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd, text=True)
        self.lines = []
        self.err = []
        self.t_out = threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines))
        self.t_err = threading.Thread(target=self._pump, args=(self.proc.stderr, self.err))
        self.t_out.start()
        self.t_err.start()

    @staticmethod
    def _pump(f, out):
        for line in f:
            out.append(line.rstrip("\n"))

    def wait_lines(self, n, timeout=10):
        wait_for(lambda: len(self.lines) >= n or self.proc.poll() is not None, timeout,
                 "%d lines from %s" % (n, " ".join(self.cmd)))
        if len(self.lines) < n:
            time.sleep(0.2)  # let the reader threads drain
        if len(self.lines) < n:
            raise AssertionError("pidio-stream exited (%r) after %d lines: %s" %
                                 (self.proc.poll(), len(self.lines), "\n".join(self.err)))

    def wait_more(self, k=2, timeout=10):
        """Wait for k more lines: the last of them was surely read after now."""
        self.wait_lines(len(self.lines) + k, timeout)

    def records(self):
        return [json.loads(line) for line in self.lines]

    def finish(self, timeout=10):
        """Wait for the stream to exit by itself; its status, or None."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
            self.kill()
        self.t_out.join()
        self.t_err.join()
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=5):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.finish(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run(*args, timeout=20, **kw):
    return subprocess.run([stream_bin()] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, **kw)


def ready_writer(work, **kw):
    """A writer that has answered a first command: it is past its start-up
    reads, blocked reading the next command, so nothing more it does is
    I/O until told."""
    w = Writer(work, **kw)
    w.send("write 0")
    return w


def send_async(w, line):
    """Give a writer a command without waiting for it; wait_ack later."""
    w.n += 1
    w.proc.stdin.write((line + "\n").encode())
    w.proc.stdin.flush()
    return os.path.join(w.ackdir, "ack.%d" % w.n)


# --- Telegraf's line protocol grammar (plugins/parsers/influx) ---------------
# A measurement reads a backslash and the character after it as a pair; a
# tag value reads "\\" as a literal backslash that still escapes what
# follows (the lookahead).
MEAS = r"(?:[^\t\n\f\r ,\\#]|\\[^\t\n\f\r])(?:[^\t\n\f\r ,\\]|\\[^\t\n\f\r])*"
TAGC = r"(?:[^\t\n\f\r ,=\\]|\\[^\t\n\f\r\\]|\\(?=\\))+"
INFLUX = re.compile(r"^(?P<m>%s),selector=(?P<tag>%s) (?P<fields>\S+) (?P<ts>\d{19})$" % (MEAS, TAGC))
INT_FIELD = re.compile(r"^[0-9]+i$")
FLOAT_FIELD = re.compile(r"^[0-9]+\.[0-9]+$")


def tag_unescape(s):
    """What Telegraf's parser makes of a tag value."""
    for a, b in (("\\,", ","), ('\\"', '"'), ("\\ ", " "), ("\\=", "=")):
        s = s.replace(a, b)
    return s


def parse_influx(line):
    """(measurement, tag, {field: int or float}, ns) or None."""
    m = INFLUX.match(line)
    if m is None:
        return None
    fields = {}
    for kv in m.group("fields").split(","):
        k, _, v = kv.partition("=")
        if INT_FIELD.match(v):
            fields[k] = int(v[:-1])
        elif FLOAT_FIELD.match(v):
            fields[k] = float(v)
        else:
            return None
    return m.group("m"), m.group("tag"), fields, int(m.group("ts"))


# --- tests -------------------------------------------------------------------

def test_json_exact(work):
    """--pid: the cumulative counters are exactly what the writer did after
    the stream started, in JSON lines; the stream exits 0 by itself once the
    process is gone, after a last record."""
    w = ready_writer(work)
    s = Stream("--pid", w.pid, "--interval", 200, "--format", "json")
    try:
        s.wait_lines(1)
        w.send("write 1000000")
        s.wait_more(2)
        before_exit = s.records()[-1]
    finally:
        w.stop()
    rc = s.finish(10)
    R.equal("json: exits 0 by itself when the watched pid exits", rc, 0)
    recs = s.records()
    first = recs[0]
    R.equal("json: keys of a record", list(first), ["time", "processes", "unreadable", "counters", "rates"])
    R.equal("json: the seven counters, in the kernel's order", list(first["counters"]), list(FIELDS))
    R.equal("json: first record counts from 0", first["counters"], dict.fromkeys(FIELDS, 0))
    R.equal("json: no rates before the second sample", first["rates"], None)
    R.equal("json: processes", before_exit["processes"], 1)
    R.equal("json: unreadable", before_exit["unreadable"], 0)
    want = dict.fromkeys(FIELDS, 0)
    # The command line it read ("write 1000000\n", one read) and the bytes
    # it wrote to /dev/null in 4096-byte calls.
    want.update(rchar=len("write 1000000\n"), syscr=1, wchar=1000000, syscw=syscalls(1000000))
    R.equal("json: exact cumulative counters", before_exit["counters"], want)
    R.check("json: counters are integers",
            all(type(v) is int for r in recs for v in r["counters"].values()))
    R.check("json: rates from the second record on, all seven",
            len(recs) >= 3 and all(isinstance(r["rates"], dict) and list(r["rates"]) == list(FIELDS)
                                   for r in recs[1:]), str(recs[1:3]))
    wchars = [r["counters"]["wchar"] for r in recs]
    R.check("json: counters never go down", wchars == sorted(wchars), str(wchars))
    last = recs[-1]
    R.equal("json: the last record says the process is gone", last["processes"], 0)
    R.equal("json: ... and keeps what it counted", (last["counters"]["wchar"], last["counters"]["syscw"]),
            (1000000, syscalls(1000000)))
    R.check("json: time is unix seconds with a fraction, close to now",
            isinstance(last["time"], float) and abs(last["time"] - time.time()) < 30, str(last["time"]))
    R.equal("json: nothing on stderr", s.err, [])


def test_influx(work):
    """--format influx: line protocol Telegraf parses, exact integer fields,
    a nanosecond timestamp close to now, rate fields from the second line."""
    w = ready_writer(work)
    start_ns = time.time_ns()
    s = Stream("--pid", w.pid, "--interval", 200, "--format", "influx",
               "--measurement", "io test,x")
    try:
        s.wait_lines(1)
        w.send("write 12345")
        s.wait_more(2)
        now_ns = time.time_ns()
    finally:
        rc = s.stop(signal.SIGTERM)
        w.stop()
    R.equal("influx: SIGTERM exits 0", rc, 0)
    parsed = [parse_influx(line) for line in s.lines]
    R.check("influx: every line parses", parsed and all(parsed), "\n".join(s.lines))
    if not (parsed and all(parsed)):
        return
    meas, tag, fields, ts = parsed[-1]
    R.equal("influx: measurement escaped", meas, r"io\ test\,x")
    R.equal("influx: selector tag escaped", tag, r"pid\=%d" % w.pid)
    want = {"processes": 1, "unreadable": 0}
    want.update(dict.fromkeys(FIELDS, 0))
    want.update(rchar=len("write 12345\n"), syscr=1, wchar=12345, syscw=syscalls(12345))
    got = {k: v for k, v in fields.items() if not k.endswith("_rate")}
    R.equal("influx: exact integer fields", got, want)
    R.check("influx: integers carry the i suffix",
            re.search(r" processes=1i,unreadable=0i,rchar=12i,wchar=12345i,syscr=1i,syscw=4i,"
                      r"read_bytes=0i,write_bytes=0i,cancelled_write_bytes=0i,", s.lines[-1]) is not None,
            s.lines[-1])
    R.equal("influx: rate fields, floats", sorted(k for k in fields if k.endswith("_rate")),
            sorted(f + "_rate" for f in FIELDS))
    R.equal("influx: no rate fields on the first line",
            [k for k in parsed[0][2] if k.endswith("_rate")], [])
    # Read times in nanoseconds by the test's own clock: after the stream
    # started, before its last line was seen, one after the other. (How
    # far apart they are is the schedule's business: test_rates.)
    stamps = [p[3] for p in parsed]
    R.check("influx: nanosecond timestamps of the reads, in order, by the test's clock",
            start_ns <= stamps[0] and stamps[-1] <= now_ns and
            all(a < b for a, b in zip(stamps, stamps[1:])),
            "%d <= %s <= %d" % (start_ns, stamps, now_ns))


def test_influx_escaping(work):
    """Selector tags with spaces, commas, equals signs and backslashes, on
    the static fixture tree: escaped per the line protocol, and read back
    as written."""
    cases = [
        (["--name", "Web Content"], "name=Web Content", 1),
        (["--name", "python3", "--cmdline", r"runserver\ 0\.0,?|a=b"],
         r"name=python3 cmdline=runserver\ 0\.0,?|a=b", 1),
        (["--pid", 412, "--name", "nginx"], "pid=412 name=nginx", 1),
        (["--cmdline", r"x\\"], "cmdline=x\\\\", 0),
    ]
    for args, desc, procs in cases:
        p = run("--proc-root", FIXTURE, "--count", 1, "--format", "influx", *args)
        line = p.stdout.rstrip("\n")
        parsed = parse_influx(line)
        R.check("escaping %s: parses" % desc, p.returncode == 0 and parsed is not None, line + p.stderr)
        if parsed is None:
            continue
        tag = parsed[1]
        if desc.endswith("\\"):
            # A trailing backslash cannot end a tag: an escaped space follows.
            R.equal("escaping %s: tag" % desc, tag, "cmdline\\=x\\\\\\ ")
        else:
            R.equal("escaping %s: read back" % desc, tag_unescape(tag), desc)
        R.equal("escaping %s: processes" % desc, parsed[2]["processes"], procs)
    p = run("--proc-root", FIXTURE, "--count", 1, "--format", "influx", "--name", "nginx",
            "--measurement", "a\\ b,c\\")
    parsed = parse_influx(p.stdout.rstrip("\n"))
    R.equal("escaping: measurement with backslashes", parsed and parsed[0], r"a\\\ b\,c\\")
    R.equal("escaping: selector tag", parsed and parsed[1], r"name\=nginx")


def test_comm_not_utf8(work):
    """A comm is any 15 bytes: one that is not UTF-8 still gives valid JSON
    and a valid line protocol line. Valid sequences pass as they are; each
    byte that is no part of one is the character of the same number
    (JSON \\u00XX; in influx that character in UTF-8)."""
    raw = b"w\xe9\xff\xc3\xa9\xed\xa0\x80z"  # bad, bad, a valid e-acute, a surrogate, z
    want = "w\u00e9\u00ff\u00e9\u00ed\u00a0\u0080z"
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys\n"
                              "open('/proc/self/comm', 'wb').write(%r)\n"
                              "print(flush=True)\n"
                              "sys.stdin.read()\n" % raw],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        child.stdout.readline()  # its comm is set
        with open("/proc/%d/comm" % child.pid, "rb") as f:
            R.equal("comm: the child's comm is the test's bytes", f.read().rstrip(b"\n"), raw)
        for fmt in ("json", "influx"):
            p = subprocess.run([stream_bin(), "--pid", str(child.pid), "--per-process", "--count", "1",
                                "--format", fmt], capture_output=True, timeout=20)
            R.check("comm %s: exit 0" % fmt, p.returncode == 0, p.stderr.decode("utf-8", "replace"))
            try:
                out = p.stdout.decode("utf-8")
            except UnicodeDecodeError as e:
                R.check("comm %s: output is UTF-8" % fmt, False, "%s: %r" % (e, p.stdout))
                continue
            lines = [x for x in out.splitlines() if x]
            if fmt == "json":
                recs = []
                for x in lines:
                    try:
                        recs.append(json.loads(x))
                    except ValueError as e:
                        R.check("comm json: a valid record", False, "%s: %r" % (e, x))
                R.equal("comm json: the process record's comm",
                        [r.get("comm") for r in recs if r.get("pid") == child.pid], [want])
            else:
                m = [INFLUX_PROC.match(x) for x in lines if ",pid=" in x]
                R.check("comm influx: the process line parses", len(m) == 1 and m[0] is not None, out)
                if len(m) == 1 and m[0] is not None:
                    R.equal("comm influx: the comm tag", tag_unescape(m[0].group("comm")), want)
    finally:
        child.stdin.close()
        child.wait(10)


def test_fixture_counts(work):
    """On the fixture tree: how many processes each selector matches, and
    counters that stay 0 on files that do not change."""
    for args, procs in ((["--name", "nginx"], 3), (["--name", "python3"], 2),
                        (["--cmdline", "^/usr/bin/python3 .*worker"], 1),
                        (["--pid", 740], 1), (["--pid", 410, "--children"], 3),
                        (["--name", "nothing"], 0)):
        p = run("--proc-root", FIXTURE, "--count", 3, "--interval", 10, "--format", "json", *args)
        recs = [json.loads(x) for x in p.stdout.splitlines()]
        R.equal("fixture %s: 3 records, exit 0" % " ".join(map(str, args)), (len(recs), p.returncode),
                (3, 0))
        R.equal("fixture %s: processes" % " ".join(map(str, args)),
                [r["processes"] for r in recs], [procs] * 3)
        R.check("fixture %s: counters and rates 0" % " ".join(map(str, args)),
                all(set(r["counters"].values()) == {0} for r in recs) and
                all(set(r["rates"].values()) == {0.0} for r in recs[1:]))
    p = run("--proc-root", FIXTURE, "--count", 1, "--name", "nothing")
    R.check("no match: one notice on stderr", p.stderr.count("no process matches name=nothing") == 1,
            p.stderr)


def table_rows(lines):
    return [line.split() for line in lines if line and not line.startswith("Time")]


def test_table(work):
    """--format table: a header every 20 records, the right columns, '-'
    rates on the first row, exact totals."""
    w = ready_writer(work)
    p = run("--pid", w.pid, "--interval", 10, "--count", 22, "--format", "table")
    R.equal("table: --count 22 exits 0", p.returncode, 0)
    lines = p.stdout.splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("Time")]
    R.equal("table: a header every 20 records", headers, [0, 22])
    R.equal("table: header columns", lines[0].split(), TABLE_COLUMNS)
    R.equal("table: a blank line before a repeated header", lines[21], "")
    rows = table_rows(lines)
    R.equal("table: 22 rows", len(rows), 22)
    R.check("table: every row has every column", all(len(r) == len(TABLE_COLUMNS) for r in rows))
    R.check("table: time as HH:MM:SS", all(re.match(r"^\d\d:\d\d:\d\d$", r[0]) for r in rows))
    R.equal("table: first row has no rates", rows[0][2:9], ["-"] * 7)
    R.check("table: rates from the second row",
            all(re.match(r"^\d+\.\d+$", x) for r in rows[1:] for x in r[2:9]), str(rows[1]))

    s = Stream("--pid", w.pid, "--interval", 100, "--format", "table")
    try:
        s.wait_lines(2)
        w.send("write 100000")
        s.wait_more(2)
    finally:
        rc = s.stop(signal.SIGINT)
        w.stop()
    R.equal("table: SIGINT exits 0", rc, 0)
    row = dict(zip(TABLE_COLUMNS, table_rows(s.lines)[-1]))
    R.equal("table: processes", row["Procs"], "1")
    R.equal("table: exact totals",
            [row[c] for c in ("read_bytes", "write_bytes", "rchar", "wchar", "syscr", "syscw")],
            ["0", "0", str(len("write 100000\n")), "100000", "1", str(syscalls(100000))])


def pty_pump(master, out):
    """Append what is written to a pseudo-terminal to the list out, until
    the last process holding its other side closes it."""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the other side is closed
            return
        if not chunk:
            return
        out.append(chunk)


def test_default_format(work):
    """Without --format: a table on a terminal, JSON lines otherwise."""
    p = run("--proc-root", FIXTURE, "--name", "nginx", "--count", 1)
    R.check("default format on a pipe: json", p.returncode == 0 and
            json.loads(p.stdout)["processes"] == 3, p.stdout + p.stderr)
    master, slave = pty.openpty()
    proc = subprocess.Popen([stream_bin(), "--proc-root", FIXTURE, "--name", "nginx", "--count", "1"],
                            stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    out = []
    pty_pump(master, out)
    out = b"".join(out)
    os.close(master)
    rc = proc.wait(10)
    lines = out.decode().splitlines()
    R.check("default format on a terminal: table", rc == 0 and len(lines) == 2 and
            lines[0].split() == TABLE_COLUMNS and lines[1].split()[1] == "3", repr(out))


def test_name_cmdline(work):
    """--name and --cmdline select their writer only, alone and AND-combined."""
    tag = "pidio-stream-test-%d" % os.getpid()
    name = "pst-a-%d" % UNIQ
    a = ready_writer(work, comm=name)
    b = ready_writer(work, tag=tag)
    streams = {
        "name": Stream("--name", name, "--interval", 100, "--format", "json"),
        "cmdline": Stream("--cmdline", "pidio-writer .*--tag %s$" % tag, "--interval", 100,
                          "--format", "json"),
        "both": Stream("--name", name, "--cmdline", tag, "--interval", 100, "--format", "json"),
    }
    try:
        for s in streams.values():
            s.wait_lines(1)
        a.send("write 3000 1000")
        b.send("write 7000 1000")
        for s in streams.values():
            s.wait_more(2)
        a.stop()
        streams["name"].wait_more(2)
        R.check("--name: goes on when its processes exit", streams["name"].proc.poll() is None)
    finally:
        rcs = {k: s.stop() for k, s in streams.items()}
        a.stop()
        b.stop()
    R.equal("name/cmdline: each exits 0 on SIGTERM", list(rcs.values()), [0, 0, 0])
    last = {k: s.records()[-1] for k, s in streams.items()}
    R.equal("--name: processes (its writer exited), wchar, syscw",
            (last["name"]["processes"], last["name"]["counters"]["wchar"], last["name"]["counters"]["syscw"]),
            (0, 3000, 3))
    R.equal("--cmdline: processes, wchar, syscw",
            (last["cmdline"]["processes"], last["cmdline"]["counters"]["wchar"],
             last["cmdline"]["counters"]["syscw"]), (1, 7000, 7))
    R.equal("--name AND --cmdline: nothing matches both",
            (last["both"]["processes"], last["both"]["counters"]["wchar"]), (0, 0))
    R.equal("--name AND --cmdline: one notice",
            [e for e in streams["both"].err if "no process matches" in e],
            ["pidio-stream: warning: no process matches name=%s cmdline=%s (yet)" % (name, tag)])


def test_cmdline_long(work):
    """--cmdline sees a command line past 4 KiB whole (up to 128 KiB); a
    longer one is matched by its start, and one warning says so."""
    late = "-late-%d" % os.getpid()
    cut = "-cut-%d" % os.getpid()
    a = ready_writer(work, tag=["L" * 6000, late])
    b = ready_writer(work, tag=["C" * 100000, "C" * 100000, cut])
    s_late = Stream("--cmdline", late + "$", "--interval", 100, "--format", "json")
    s_cut = Stream("--cmdline", cut + "$", "--interval", 100, "--format", "json")
    try:
        s_late.wait_lines(1)
        s_cut.wait_lines(1)
        a.send("write 4321 1000")
        s_late.wait_more(2)
        s_cut.wait_more(2)
    finally:
        rcs = [s_late.stop(), s_cut.stop()]
        a.stop()
        b.stop()
    R.equal("--cmdline past 4 KiB: exit 0 on SIGTERM", rcs, [0, 0])
    last = s_late.records()[-1]
    R.equal("--cmdline past 4 KiB: processes, wchar, syscw",
            (last["processes"], last["counters"]["wchar"], last["counters"]["syscw"]), (1, 4321, 5))
    R.equal("--cmdline past 128 KiB: not matched", s_cut.records()[-1]["processes"], 0)
    for what, s in (("cut", s_cut), ("late", s_late)):
        warns = [e for e in s.err if "/%d/cmdline is longer than 131072 bytes" % b.pid in e]
        R.equal("--cmdline %s: one warning for the 200 KB line" % what, len(warns), 1)


def own_cgroup():
    """This process's cgroup v2 path, or None."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].rstrip("\n")
    except OSError:
        pass
    return None


def test_more_selectors(work):
    """--user (a uid or a name), --exe and --cgroup select the writer, each
    AND-combined with its name; a wrong one of each selects nothing."""
    name = "pst-b-%d" % UNIQ
    w = ready_writer(work, comm=name)
    exe = os.path.realpath(built("tests/pidio-writer"))
    cases = [
        ("--user uid", ["--user", str(os.getuid())], 1),
        ("--user other uid", ["--user", str(os.getuid() + 4242)], 0),
        ("--user name", ["--user", pwd.getpwuid(os.getuid()).pw_name], 1),
        ("--user other name", ["--user", "nobody" if os.getuid() != 65534 else "root"], 0),
        ("--exe", ["--exe", exe], 1),
        ("--exe other", ["--exe", exe + ".other"], 0),
    ]
    cg = own_cgroup()
    if cg is not None:
        cases += [("--cgroup", ["--cgroup", cg], 1),
                  ("--cgroup other", ["--cgroup", cg.rstrip("/") + "/pidio-none"], 0)]
    else:
        R.check("--cgroup: this process has a cgroup v2 path to select by", False,
                "(no 0:: line in /proc/self/cgroup: mount a cgroup2 hierarchy)")
    try:
        for what, args, procs in cases:
            p = run("--name", name, "--count", 2, "--interval", 10, "--format", "json", *args)
            recs = [json.loads(x) for x in p.stdout.splitlines()]
            R.equal("%s: processes" % what, (p.returncode, [r["processes"] for r in recs]),
                    (0, [procs, procs]))
    finally:
        w.stop()


def test_children(work):
    """--children: the writer's children are members while they live; what
    they wrote is counted once, before and after they are reaped."""
    w = ready_writer(work)
    plain = Stream("--pid", w.pid, "--interval", 100, "--format", "json")
    kids = Stream("--pid", w.pid, "--children", "--interval", 100, "--format", "json")
    try:
        plain.wait_lines(1)
        kids.wait_lines(1)
        ack = send_async(w, "fork 2 1000 1000 800")
        wait_for(lambda: kids.lines and json.loads(kids.lines[-1])["processes"] == 3, 10,
                 "the children as members")
        R.equal("--children: parent and two children", json.loads(kids.lines[-1])["processes"], 3)
        R.equal("without --children: the parent only", json.loads(plain.lines[-1])["processes"], 1)
        wait_for(lambda: os.path.isdir(ack), 10, "the children to be reaped")
        plain.wait_more(2)
        kids.wait_more(2)
    finally:
        rcs = [plain.stop(), kids.stop()]
        w.stop()
    R.equal("--children: exit 0 on SIGTERM", rcs, [0, 0])
    for what, s in (("--children", kids), ("without --children", plain)):
        last = s.records()[-1]
        R.equal("%s: the children's writes counted once" % what,
                (last["processes"], last["counters"]["wchar"], last["counters"]["syscw"]), (1, 2000, 2))


def test_lifecycle_exact(work):
    """The stream keeps the block's rules: a busy parent that ignores
    SIGCHLD keeps its children's writes; a subreaper that reaps its orphaned
    grandchild while the intermediate is a zombie counts it once."""
    ign = ready_writer(work)
    sub = ready_writer(work)
    s_ign = Stream("--pid", ign.pid, "--children", "--interval", 200, "--format", "json")
    s_sub = Stream("--pid", sub.pid, "--children", "--interval", 200, "--format", "json")
    try:
        s_ign.wait_lines(1)
        s_sub.wait_lines(1)
        ign.send("sigchld ign")
        sub.send("subreaper")
        a1 = send_async(ign, "busyfork 3 60000 1000 10000 200")
        a2 = send_async(sub, "orphan 30000 80000 1500")
        wait_for(lambda: os.path.isdir(a1) and os.path.isdir(a2), 30, "the families")
        sub.send("reap")
        s_ign.wait_more(3)
        s_sub.wait_more(3)
    finally:
        rcs = [s_ign.stop(), s_sub.stop()]
        ign.stop()
        sub.stop()
    R.equal("lifecycle: exit 0 on SIGTERM", rcs, [0, 0])
    last = s_ign.records()[-1]["counters"]
    R.equal("SIGCHLD ignored, busy parent: wchar, syscw",
            (last["wchar"], last["syscw"]), (200 * 10000 + 3 * 60000, 200 + 3 * syscalls(60000)))
    last = s_sub.records()[-1]["counters"]
    # The intermediate also wrote the grandchild's pid to a pipe: 4 bytes.
    R.equal("subreaper, zombie intermediate: wchar, syscw",
            (last["wchar"], last["syscw"]), (30000 + 4 + 80000, syscalls(30000) + 1 + 2 * syscalls(40000)))


def test_pidfile_follow(work):
    """--pidfile exits 0 when its process has exited; with --follow it goes
    on and picks up the next process the pidfile names. A relative pidfile
    is taken from the current directory."""
    pidfile = os.path.join(work, "app.pid")

    def write_pidfile(pid):
        with open(pidfile + ".tmp", "w") as f:
            f.write("%d\n" % pid)
        os.rename(pidfile + ".tmp", pidfile)

    a = ready_writer(work)
    write_pidfile(a.pid)
    once = Stream("--pidfile", pidfile, "--interval", 100, "--format", "json")
    follow = Stream("--pidfile", "app.pid", "--follow", "--interval", 100, "--format", "json", cwd=work)
    b = None
    try:
        once.wait_lines(1)
        follow.wait_lines(1)
        a.send("write 5000")
        once.wait_more(2)
        follow.wait_more(2)
        a.stop()
        rc = once.finish(10)
        R.equal("--pidfile: exits 0 when the process has exited", rc, 0)
        R.equal("--pidfile: last record", (once.records()[-1]["processes"],
                                           once.records()[-1]["counters"]["wchar"]), (0, 5000))
        follow.wait_more(3)
        R.check("--follow: still running", follow.proc.poll() is None)
        R.equal("--follow: nothing matches meanwhile", follow.records()[-1]["processes"], 0)
        b = ready_writer(work)
        write_pidfile(b.pid)
        wait_for(lambda: follow.lines and json.loads(follow.lines[-1])["processes"] == 1, 10,
                 "the new process")
        b.send("write 2500")
        follow.wait_more(2)
    finally:
        rc = follow.stop()
        once.kill()
        a.stop()
        if b is not None:
            b.stop()
    R.equal("--follow: SIGTERM exits 0", rc, 0)
    last = follow.records()[-1]
    R.equal("--follow: both processes counted", (last["processes"], last["counters"]["wchar"],
                                                 last["counters"]["syscw"]), (1, 7500, 3))


def test_bad_options(work):
    """Invalid options: exit 2, the option named on stderr, nothing on stdout."""
    cases = [
        (["--pid", "abc"], "--pid"),
        (["--pid", "0"], "--pid"),
        (["--pid", "4194305"], "--pid"),
        (["--pid", "1", "--pid", "2"], "--pid"),
        (["--pid"], "--pid"),
        (["--pidfile", ""], "--pidfile"),
        (["--name", "x" * 16], "--name"),
        (["--name", ""], "--name"),
        (["--cmdline", "("], "--cmdline"),
        (["--exe", "bin/sh"], "--exe"),
        (["--user", "no-such-user-pidio"], "--user"),
        (["--cgroup", "system.slice"], "--cgroup"),
        (["--pid", "1", "--interval", "0"], "--interval"),
        (["--pid", "1", "--interval", "1.5"], "--interval"),
        (["--pid", "1", "--interval", "86400001"], "--interval"),
        (["--pid", "1", "--window", "10001"], "--window"),
        (["--pid", "1", "--window", "-1"], "--window"),
        (["--pid", "1", "--count", "0"], "--count"),
        (["--pid", "1", "--count", "x"], "--count"),
        (["--pid", "1", "--format", "xml"], "--format"),
        (["--pid", "1", "--measurement", ""], "--measurement"),
        (["--pid", "1", "--measurement", "#m"], "--measurement"),
        (["--pid", "1", "--proc-root", os.path.join(work, "missing")], "--proc-root"),
        (["--pid", "1", "--bogus"], "--bogus"),
        (["--pid", "1", "extra"], "extra"),
        ([], "--pid"),
    ]
    for args, opt in cases:
        p = run(*args)
        R.check("bad option %r: exit 2 naming %s" % (args, opt),
                p.returncode == 2 and opt in p.stderr and p.stdout == "",
                "rc=%r stderr=%r" % (p.returncode, p.stderr))
    p = run("--name", "x" * 16)
    R.equal("bad option: the setter's message",
            p.stderr.splitlines()[0],
            'pidio-stream: --name: "%s" can never match: a process name (comm) has 1 to 15 '
            'characters; use CommandLine for longer names' % ("x" * 16))
    p = run("--help")
    R.check("--help: usage on stdout, exit 0", p.returncode == 0 and p.stdout.startswith("Usage: pidio-stream")
            and all(o in p.stdout for o in ("--pid", "--pidfile", "--name", "--cmdline", "--proc-root",
                                              "--interval", "--window", "--count", "--format",
                                              "--measurement", "--follow", "--version")))
    p = run("--version")
    R.check("--version", p.returncode == 0 and re.match(r"^pidio-stream \(pidio\) \d+\.\d+\.\d+\n$", p.stdout),
            p.stdout)


def test_rates(work):
    """A paced writer: every window's counters are exact; the schedule does
    not drift. (The rates are checked against the test's own writes in
    test_window_exact.)"""
    rate, secs = 2000000, 3
    total = int(rate * secs / 4096) * 4096  # whole 4096-byte writes
    w = ready_writer(work)
    s5 = Stream("--pid", w.pid, "--interval", 200, "--window", 5, "--format", "json")
    s1 = Stream("--pid", w.pid, "--interval", 200, "--window", 1, "--format", "json")
    s0 = Stream("--pid", w.pid, "--interval", 200, "--window", 0, "--format", "json")
    fast = Stream("--pid", w.pid, "--interval", 20, "--count", 100, "--format", "json")
    try:
        for s in (s5, s1, s0):
            s.wait_lines(1)
        ack = send_async(w, "pace %d %d" % (rate, secs))
        wait_for(lambda: os.path.isdir(ack), 30, "the pace to end")
        for s in (s5, s1, s0):
            s.wait_more(2)
        fast_rc = fast.finish(20)
    finally:
        rcs = [s.stop() for s in (s5, s1, s0)]
        fast.kill()
        w.stop()
    R.equal("rates: streams exit 0", rcs + [fast_rc], [0, 0, 0, 0])
    for name, s in (("window 5", s5), ("window 1", s1), ("window 0", s0)):
        last = s.records()[-1]["counters"]
        R.equal("rates %s: exact wchar and syscw of the pace" % name, (last["wchar"], last["syscw"]),
                (total, total // 4096))

    # An absolute schedule: every record is due a whole number of 20 ms
    # slots after the first and is only as late as its own wake-up (a slot
    # missed under load is skipped, not shifted). Under a relative sleep the
    # records drift off the grid with every record (by the read and the
    # wake-up, 0.1 ms or more each: 6.6 ms measured over 75 records); under
    # the absolute schedule some record of the last 25 wakes on the grid of
    # some timely record of the first 25. Distances to the grid are taken
    # either side of a grid line, so no record's lateness (which a loaded
    # machine makes large now and then) needs to be attributed to a slot.
    rf = fast.records()
    R.equal("schedule: --count 100", len(rf), 100)

    def off_grid(t, ref):
        x = (t - ref) % 0.02
        return min(x, 0.02 - x)
    drift = min(min(off_grid(r["time"], ref["time"]) for r in rf[75:]) for ref in rf[:25]) if rf else 1
    R.check("schedule: no drift: some record of the last 25 is within 2 ms of the 20 ms grid "
            "of the first 25 (%.2f ms)" % (drift * 1000), drift <= 0.002,
            "%s" % ["%.4f" % (r["time"] - rf[0]["time"]) for r in rf])


WINDOW_STEPS = 8
WINDOW_CHUNK = 1000


def window_try(work, window):
    """One stream with --window `window` at 300 ms; right after each record
    the test writes an amount of its own (all different, so that a wrong
    window gives a wrong rate), timed by the test's clock. None when a read
    fell inside a write (it cannot be told on which side): then it is
    measured again. Else the records and, for each, the amounts written
    before its read."""
    w = ready_writer(work)
    s = Stream("--pid", w.pid, "--interval", 300, "--window", window, "--format", "json")
    writes = []
    try:
        for k in range(WINDOW_STEPS):
            s.wait_lines(k + 1)
            n = 10000 * (k + 1) * (k + 2)
            t0 = time.time()
            w.send("write %d %d" % (n, WINDOW_CHUNK))
            writes.append((t0, time.time(), n))
        s.wait_more(2)
    finally:
        s.stop()
        w.stop()
    recs = s.records()
    # Write k was sent once record k was out: records 0..k were read
    # before it. A later record was read after it when its time is past the
    # write's acknowledgement (a few ms allowed for where in the read the
    # time is taken), before it when its time is before the write was sent.
    done = []
    for j, r in enumerate(recs):
        mine = []
        for k, (a, b, n) in enumerate(writes):
            if j <= k or r["time"] < a - 0.005:
                continue
            if r["time"] <= b + 0.005:
                return None
            mine.append(n)
        done.append(mine)
    return recs, done


def test_window_exact(work):
    """--window N: each record's counters are exactly what the test wrote
    before its read, and each rate is exactly what the test wrote between
    the reads N intervals apart (fewer at the start; 0 and 1: the last
    interval) divided by the time between them."""
    for window in (5, 1, 0):
        for attempt in range(4):
            got = window_try(work, window)
            if got is not None:
                break
            print("window %d: a read fell inside a write; measuring again" % window, flush=True)
        else:
            R.check("window %d: a run with every read between two writes" % window, False,
                    "a read fell inside a write in 4 tries")
            continue
        recs, done = got
        want_c, bad_c, bad_r = [], [], []
        for before in done:
            want_c.append((sum(before), sum(syscalls(n, WINDOW_CHUNK) for n in before)))
        for i, r in enumerate(recs):
            if (r["counters"]["wchar"], r["counters"]["syscw"]) != want_c[i]:
                bad_c.append((i, r["counters"]["wchar"], r["counters"]["syscw"], want_c[i]))
            if i == 0:
                if r["rates"] is not None:
                    bad_r.append((0, "rates in the first record"))
                continue
            j = max(0, i - max(window, 1))
            dt = r["time"] - recs[j]["time"]
            for f, k in (("wchar", 0), ("syscw", 1)):
                want = (want_c[i][k] - want_c[j][k]) / dt
                gotr = r["rates"][f]
                if abs(gotr - want) > 0.0005 + 3e-5 * want:
                    bad_r.append((i, f, gotr, want))
        R.check("window %d: %d records" % (window, len(recs)), len(recs) >= WINDOW_STEPS + 1,
                str(len(recs)))
        R.check("window %d: counters exactly what the test wrote before each read" % window,
                not bad_c, str(bad_c[:4]))
        R.check("window %d: rates exactly what the test wrote over the last %d interval(s)" %
                (window, max(window, 1)), not bad_r, str(bad_r[:4]))


def test_permission_denied(work):
    """An unprivileged stream watching a root process: one warning naming
    the pid and the remedy, unreadable 1, nothing counted."""
    if os.geteuid() != 0:
        raise CannotRun("an unprivileged stream needs root to drop to nobody")
    os.chmod(work, 0o755)
    exe = os.path.join(work, "pidio-stream")
    shutil.copy(stream_bin(), exe)
    os.chmod(exe, 0o755)
    w = ready_writer(work)
    try:
        p = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                            "--inh-caps=-all", "--bounding-set=-all", exe, "--pid", str(w.pid),
                            "--interval", "50", "--count", "6", "--format", "json"],
                           capture_output=True, text=True, timeout=20, cwd=work)
    finally:
        w.stop()
    R.equal("EACCES: exit 0 after --count", p.returncode, 0)
    recs = [json.loads(x) for x in p.stdout.splitlines()]
    R.equal("EACCES: processes and unreadable", [(r["processes"], r["unreadable"]) for r in recs],
            [(1, 1)] * 6)
    R.check("EACCES: nothing counted", all(set(r["counters"].values()) == {0} for r in recs))
    err = p.stderr.splitlines()
    R.equal("EACCES: exactly one warning over six intervals", len(err), 1)
    R.check("EACCES: the warning names the pid and the remedy",
            err and "/proc/%d/io" % w.pid in err[0] and "CAP_DAC_READ_SEARCH" in err[0] and
            "CAP_SYS_PTRACE" in err[0] and "run it as the user" in err[0], str(err))


INFLUX_PROC = re.compile(r"^(?P<m>%s),selector=(?P<tag>%s),pid=(?P<pid>\d+),comm=(?P<comm>%s) "
                         r"(?P<fields>\S+) (?P<ts>\d{19})$" % (MEAS, TAGC, TAGC))


def test_per_process(work):
    """--per-process: after each record of the selection, one per process
    with its pid and comm and exactly what it did since the stream started,
    in json, influx and the table; --max-processes caps them with one
    warning, the totals still count every process."""
    comm = "pidiops%d" % UNIQ
    ws = [Writer(work, comm=comm) for _ in range(3)]
    for w in ws:
        w.send("write 0")
    ws.sort(key=lambda w: w.pid)
    sizes = [1000, 20000, 300000]
    want = {}
    for w, n in zip(ws, sizes):
        c = dict.fromkeys(FIELDS, 0)
        c.update(rchar=len("write %d\n" % n), syscr=1, wchar=n, syscw=syscalls(n))
        want[w.pid] = c
    total = {f: sum(c[f] for c in want.values()) for f in FIELDS}
    streams = {fmt: Stream("--name", comm, "--per-process", "--interval", 100, "--window", 2,
                           "--format", fmt) for fmt in ("json", "influx", "table")}
    capped = Stream("--name", comm, "--per-process", "--max-processes", 2, "--interval", 100,
                    "--format", "json")
    try:
        for s in list(streams.values()) + [capped]:
            s.wait_lines(4)
        for w, n in zip(ws, sizes):
            w.send("write %d" % n)
        for s in list(streams.values()) + [capped]:
            # Three intervals: the last one was surely read after the writes.
            s.wait_more(12)
    finally:
        rcs = [s.stop() for s in list(streams.values()) + [capped]]
        for w in ws:
            w.stop()
    R.equal("per-process: SIGTERM exits 0", rcs, [0] * 4)

    # json: each interval is the selection's record, then one per process.
    recs = streams["json"].records()
    last_block = max(i for i, r in enumerate(recs) if "processes" in r)
    block = recs[last_block]  # the last interval: the block, then its 3 processes
    procs = recs[last_block + 1:]
    R.equal("per-process json: the selection's record counts all", (block["processes"], block["counters"]),
            (3, total))
    R.equal("per-process json: keys of a process record", list(procs[0]),
            ["time", "pid", "comm", "counters", "rates"])
    R.equal("per-process json: one record per process, by pid, with its comm",
            [(r["pid"], r["comm"]) for r in procs], [(w.pid, comm) for w in ws])
    R.equal("per-process json: each process's exact counters",
            {r["pid"]: r["counters"] for r in procs}, want)
    R.check("per-process json: a process's record has the time of its interval",
            all(r["time"] == block["time"] for r in procs))
    R.check("per-process json: rates per process",
            all(isinstance(r["rates"], dict) and list(r["rates"]) == list(FIELDS) for r in procs))
    R.equal("per-process json: no process record before the first selection record",
            "processes" in recs[0], True)
    R.equal("per-process json: first process records have no rates yet",
            [r["rates"] for r in recs[1:4]], [None] * 3)

    # influx: the process lines carry pid and comm tags.
    lines = streams["influx"].lines
    plines = [INFLUX_PROC.match(x) for x in lines if ",pid=" in x]
    R.check("per-process influx: every process line parses", plines and all(plines),
            "\n".join(x for x in lines if ",pid=" in x)[:500])
    last = {}
    for m in filter(None, plines):
        fields = dict(kv.split("=") for kv in m.group("fields").split(","))
        last[int(m.group("pid"))] = (m.group("comm"), {f: int(fields[f][:-1]) for f in FIELDS})
    R.equal("per-process influx: each process's comm and exact counters",
            last, {pid: (comm, c) for pid, c in want.items()})

    # table: PID in the second column, the comm in the last.
    rows = table_rows(streams["table"].lines)
    header = streams["table"].lines[0].split()
    R.equal("per-process table: header", header, ["Time", "PID"] + TABLE_COLUMNS[2:] + ["Command"])
    got = {}
    for r in rows:
        row = dict(zip(header, r))
        got[row["PID"]] = (row["Command"], [int(row[f]) for f in ("read_bytes", "write_bytes", "rchar",
                                                                     "wchar", "syscr", "syscw")])
    cols = ("read_bytes", "write_bytes", "rchar", "wchar", "syscr", "syscw")
    R.equal("per-process table: each process's exact totals",
            {k: v for k, v in got.items() if k != "all"},
            {str(pid): (comm, [c[f] for f in cols]) for pid, c in want.items()})
    R.equal("per-process table: the totals' row", got.get("all", (None, None))[1], [total[f] for f in cols])

    # --max-processes 2: the two lowest pids, one warning, all counted.
    recs = capped.records()
    last_block = max(i for i, r in enumerate(recs) if "processes" in r)
    R.equal("--max-processes: records for the two lowest pids only",
            [r["pid"] for r in recs[last_block + 1:]],
            [ws[0].pid, ws[1].pid])
    R.equal("--max-processes: the totals count all three",
            recs[last_block]["counters"], total)
    R.equal("--max-processes: one warning", len([x for x in capped.err if "--max-processes 2" in x]), 1)


def trouble_tree(work):
    """The tree of tests/test_trouble.c: proc/100..103, comm web, 101's io
    garbled, 102's of mode 0, cgroup v1 lines only."""
    root = os.path.join(work, "tree", "proc")
    os.makedirs(root)
    for i in range(4):
        pid = 100 + i
        d = os.path.join(root, str(pid))
        os.mkdir(d)
        files = {
            "stat": "%d (web) S 1 %d %d 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 0 %d 1000 10 "
                    "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n" % (pid, pid, pid, 1000 + i),
            "cmdline": "web",
            "cgroup": "1:name=systemd:/a\n",
            "io": "rchar: 10\nwchar: x\n" if pid == 101 else
                  "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 0\nwrite_bytes: 0\n"
                  "cancelled_write_bytes: 0\n",
        }
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        os.chmod(os.path.join(d, "io"), 0 if pid == 102 else 0o644)
    for dirpath, dirs, _ in os.walk(os.path.join(work, "tree")):
        os.chmod(dirpath, 0o755)
    return root


def test_trouble_parity(work):
    """The tree tests/test_trouble.c gives the plugin: the stream names the
    same causes with the same counts (denied 102 of 4, 101 garbled, the
    missing pidfile, no cgroup v2 line on 100), unreadable 1 as the plugin's
    count-unreadable."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        print("SKIP: the parity test reads as nobody: needs root and setpriv", flush=True)
        return
    os.chmod(work, 0o755)
    root = trouble_tree(work)
    exe = os.path.join(work, "pidio-stream")
    shutil.copy(stream_bin(), exe)
    os.chmod(exe, 0o755)

    def as_nobody(*args):
        return subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                               "--inh-caps=-all", "--bounding-set=-all", exe, "--proc-root", root,
                               "--interval", "50", "--count", "3", "--format", "json"] +
                              [str(a) for a in args], capture_output=True, text=True, timeout=20, cwd=work)

    p = as_nobody("--name", "web")
    recs = [json.loads(x) for x in p.stdout.splitlines()]
    R.equal("parity: processes and unreadable as the plugin counts them",
            [(r["processes"], r["unreadable"]) for r in recs], [(4, 1)] * 3)
    err = p.stderr.splitlines()
    R.check("parity: two causes, each told once over three intervals", len(err) == 2, "\n".join(err))
    R.check("parity: denied: 102, 1 of 4",
            any("permission denied reading %s/102/io" % root in x and "1 of 4 matched" in x for x in err), str(err))
    R.check("parity: garbled: 101, 1 process",
            any("%s/101/io does not parse" % root in x and "1 process(es) skipped" in x for x in err), str(err))

    missing = os.path.join(work, "missing.pid")
    p = as_nobody("--pidfile", missing)
    R.check("parity: the missing pidfile, once",
            len(p.stderr.splitlines()) == 1 and missing in p.stderr and "no process matches" in p.stderr,
            p.stderr)

    p = as_nobody("--cgroup", "/a")
    err = p.stderr.splitlines()
    R.check("parity: no cgroup v2 line, first seen on 100, told once",
            len([x for x in err if "%s/100/cgroup has no cgroup v2 (0::) line" % root in x]) == 1, str(err))


def test_signals(work):
    """SIGINT and SIGTERM end a stream at once, with status 0, even in the
    middle of a long interval."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        s = Stream("--proc-root", FIXTURE, "--name", "nginx", "--interval", 60000, "--format", "json")
        try:
            s.wait_lines(1)
            t0 = time.monotonic()
            rc = s.stop(sig)
            took = time.monotonic() - t0
        finally:
            s.kill()
        R.check("%s: exit 0 within a second" % sig.name, rc == 0 and took < 1, "rc=%r took %.2f s" % (rc, took))
        R.equal("%s: one record, nothing on stderr" % sig.name, (len(s.lines), s.err), (1, []))


def test_group_by(work):
    """--group-by comm --sort wchar: after each record of the selection, one
    per group with a record of its own and one for "other", in json and
    influx; each group's counters exactly what its writer did after the
    group got its record, "other" exactly what they did in that interval,
    and the groups and other adding up to the selection in every
    interval."""
    comms = ["pidiogb%d%s" % (UNIQ, x) for x in "ab"]
    tag = "pidio-groupby-%d" % UNIQ
    ws = [Writer(work, comm=c, tag=tag) for c in comms]
    for w in ws:
        w.send("write 0")
    streams = {fmt: Stream("--cmdline", "--tag %s$" % tag, "--group-by", "comm", "--sort", "wchar",
                           "--top", 5, "--interval", 100, "--format", fmt)
               for fmt in ("json", "influx")}
    try:
        for s in streams.values():
            s.wait_lines(4)
        for w in ws:                          # each group gets its record
            w.send("write 1000 1000")
        for s in streams.values():
            s.wait_more(12)
        for w, n in zip(ws, (30000, 500000)):
            w.send("write %d" % n)
        for s in streams.values():
            s.wait_more(12)
    finally:
        rcs = [s.stop() for s in streams.values()]
        for w in ws:
            w.stop()
    R.equal("group-by: SIGTERM exits 0", rcs, [0, 0])
    # Intervals: the selection's record, then the groups' (by name), "other" last.
    ivals = []
    for r in streams["json"].records():
        if "group" not in r:
            ivals.append((r, []))
        elif ivals:
            ivals[-1][1].append(r)
    R.check("group-by json: keys of a group record",
            all(list(g) == ["time", "group", "processes", "unreadable", "counters", "rates"]
                for _, gs in ivals for g in gs), str(ivals[-1][1][:1]))
    R.check("group-by json: other closes every interval",
            all(gs and gs[-1]["group"] == "other" for _, gs in ivals[:-1]))
    zero = dict.fromkeys(FIELDS, 0)
    prev, prev_blk, bad = {}, zero, []
    for blk, gs in ivals[:-1]:               # the last may have been cut by SIGTERM
        rise = dict.fromkeys(FIELDS, 0)
        for g in gs:
            before = prev.get(g["group"], zero)
            for f in FIELDS:
                if g["counters"][f] < before[f]:
                    bad.append("%s %s went down" % (g["group"], f))
                rise[f] += g["counters"][f] - before[f]
            prev[g["group"]] = g["counters"]
        want = {f: blk["counters"][f] - prev_blk[f] for f in FIELDS}
        prev_blk = blk["counters"]
        if rise != want:
            bad.append("at %.3f groups rose by %r, the selection by %r" % (blk["time"], rise, want))
    R.check("group-by json: groups and other add up to the selection every interval, never down",
            not bad and len(ivals) > 10, "; ".join(bad[:3]))
    last = {g["group"]: g for g in ivals[-2][1]}
    for c, n in zip(comms, (30000, 500000)):
        R.equal("group-by json: %s's group, exactly what it wrote after its first write" % c,
                last[c]["counters"]["wchar"], n)
        R.equal("group-by json: %s's group has its process" % c, last[c]["processes"], 1)
    R.equal("group-by json: other holds the first writes", last["other"]["counters"]["wchar"], 2000)
    grp = [l for l in streams["influx"].lines if ",group=" in l]
    shape = re.compile(r'^pidio,selector=(?:\\.|[^\\ ,])+,group=(\S+) group="([^"]*)",processes=\d+i,'
                       r'unreadable=\d+i,rchar=\d+i,')
    m = [shape.match(l) for l in grp]
    R.check("group-by influx: group lines with the tag and the field group, processes, unreadable",
            grp and all(x is not None and x.group(1) == x.group(2) for x in m), str(grp[:2]))
    R.check("group-by influx: other's line", any(x and x.group(1) == "other" for x in m))


# --- the top screen on a terminal --------------------------------------------

TOP_CLEAR = "\x1b[H\x1b[2J"         # cursor home, clear the screen: a redraw
# Any other control sequence (CSI) a screen might hold, to be found, not
# silently dropped.
CSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
TOP_COLUMNS = ["GROUP", "PROCS", "kB_rd/s", "kB_wr/s", "kB_ccwr/s", "rchar/s", "wchar/s",
               "syscr/s", "syscw/s"]


def parse_top(text):
    """One redraw of the top screen as (screen, problems): screen is a dict
    with "title", "processes", "unreadable", "lines" (the groups with a
    line, in order), "more" (groups without room, or 0), "other", "total";
    each line a dict of its columns, rates None where the screen shows
    '-'."""
    problems = []
    if CSI.search(text):
        problems.append("another escape sequence: %r" % CSI.findall(text)[:3])
    rows = text.replace("\r", "").split("\n")
    scr = {"title": rows[0] if rows else "", "lines": [], "more": 0}
    m = re.match(r"^(\d+) processes, (\d+) unreadable; (\d+) groups with a line of their own "
                 r"\(at most (\d+)\)$", rows[1] if len(rows) > 1 else "")
    if m is None or len(rows) < 4 or rows[2] != "" or rows[3].split() != TOP_COLUMNS:
        return None, ["not a screen: %r" % rows[:4]]
    scr["processes"], scr["unreadable"], scr["slots"], scr["top"] = map(int, m.groups())

    def cols(line):
        f = line[24:].split()
        if len(f) != 8:
            return None
        d = {"name": line[:24].rstrip(), "procs": int(f[0])}
        for k, v in zip(TOP_COLUMNS[2:], f[1:]):
            d[k] = None if v == "-" else float(v)
        return d
    for line in rows[4:]:
        more = re.match(r"^\((\d+) more groups: a taller terminal shows them\)$", line)
        if more:
            scr["more"] = int(more.group(1))
            continue
        d = cols(line)
        if d is None:
            if "total" in scr:
                break               # after the screen: a warning on the terminal
            problems.append("not a line of the screen: %r" % line)
            continue
        if d["name"] == "other":
            scr["other"] = d
        elif d["name"] == "total":
            scr["total"] = d
            rest = rows[rows.index(line) + 1:]
            # The last warning told, under the total after a blank line.
            if len(rest) >= 2 and rest[0] == "" and rest[1].startswith("last warning: "):
                scr["note"] = rest[1]
            break
        else:
            scr["lines"].append(d)
    if "other" not in scr or "total" not in scr:
        problems.append("no other or total line")
    return scr, problems


def test_top_screen(work):
    """--all --group-by comm --top 2 --sort syscw on a pseudo-terminal
    (TERM xterm, 24 x 120), as nobody, alone in a pid namespace with its
    own /proc beside two root processes (unreadable) and three of nobody's
    writers: B writes 256-byte calls at 102400 B/s, C 1024-byte calls at
    204800 B/s, A 65536-byte calls at 2 MB/s (the most bytes, the fewest
    calls). Every screen is parsed: the groups B and C, in that order (by
    syscw/s, not wchar/s: A stays in "other"), each line's wchar/s exactly
    its call size times its syscw/s, the rates near the paced ones, the
    lines and other adding up to the total, 7 processes of which 3 are
    unreadable, and one warning about them in the whole run. On a
    terminal of 8 rows only B has a line and the screen says one more
    group has none; on 60 columns every line is cut there."""
    if os.geteuid() != 0:
        raise CannotRun("an unprivileged stream in a pid namespace needs root to set up")
    import fcntl
    import shlex
    import struct
    import termios
    os.chmod(work, 0o755)
    bindir = os.path.join(work, "bin")
    os.mkdir(bindir)
    os.chmod(bindir, 0o755)
    shutil.copy(stream_bin(), os.path.join(bindir, "pidio-stream"))
    writer = os.path.join(bindir, "pidio-writer")
    shutil.copy(built("tests/pidio-writer"), writer)
    # The names are the programs' file names, so a process has its name
    # from its exec on and can never be grouped under another one.
    names = {x: "pt%05d%s" % (UNIQ, x) for x in ("A", "B", "C", "R", "S")}
    for n in names.values():
        os.symlink(writer, os.path.join(bindir, n))
    # (call size, bytes a second) of nobody's writers.
    pace = {"A": (65536, 2097152), "B": (256, 102400), "C": (1024, 204800)}
    # Their commands come through fifos, held open for reading and writing
    # here so that neither side's open waits for the other.
    fifos = {}
    for x in pace:
        path = os.path.join(work, "cmd" + x)
        os.mkfifo(path)
        os.chmod(path, 0o666)
        fifos[x] = os.open(path, os.O_RDWR)
    nobody = "setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all --bounding-set=-all"
    q = shlex.quote
    script = ["named() { while [ \"$(cat /proc/$1/comm 2>/dev/null)\" != \"$2\" ]; do sleep 0.01; done; }"]
    for x in ("R", "S"):                         # root's: unreadable to nobody
        script.append("%s --idle </dev/null >/dev/null 2>&1 & named $! %s"
                      % (q(os.path.join(bindir, names[x])), q(names[x])))
    for x in pace:
        script.append("%s %s <%s >/dev/null 2>&1 & named $! %s"
                      % (nobody, q(os.path.join(bindir, names[x])), q(os.path.join(work, "cmd" + x)),
                         q(names[x])))
    script.append("%s %s --all --group-by comm --top 2 --sort syscw --interval 500 --window 3"
                  % (nobody, q(os.path.join(bindir, "pidio-stream"))))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                             "sh", "-c", "\n".join(script)],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=work,
                            env=dict(os.environ, TERM="xterm"))
    os.close(slave)
    out = []
    reader = threading.Thread(target=pty_pump, args=(master, out))
    reader.start()

    def screens():
        text = b"".join(out).decode("utf-8", "replace")
        parts = text.split(TOP_CLEAR)
        return parts[1:-1]           # the last may still be being drawn

    def sh_pid():
        try:
            with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                return int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            return None
    tall = short = narrow = None
    try:
        # Everyone is there: 7 processes (the shell, root's two, nobody's
        # three, the stream).
        wait_for(lambda: any("7 processes" in s for s in screens()), 20, "a screen with every process")
        for x in pace:
            size, rate = pace[x]
            os.write(fifos[x], b"pace %d 60 %d\n" % (rate, size))
        # B and C hold the two slots, for longer than the window (3) and
        # the fewer intervals a new slot's rates start with.
        def settled():
            got = [parse_top(s)[0] for s in screens()]
            want = [names["B"], names["C"]]
            run = 0
            for s in got:
                run = run + 1 if s and [l["name"] for l in s["lines"]] == want else 0
            return run >= 10
        wait_for(settled, 30, "B and C on ten screens in a row")
        tall = len(screens())
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 8, 120, 0, 0))
        wait_for(lambda: len(screens()) >= tall + 3, 10, "three screens on 8 rows")
        short = len(screens())
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 8, 60, 0, 0))
        wait_for(lambda: len(screens()) >= short + 3, 10, "three screens of 60 columns")
        narrow = len(screens())
    finally:
        pid = sh_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)     # the namespace ends with its first process
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for fd in fifos.values():
            os.close(fd)
        reader.join(10)
        os.close(master)
    text = b"".join(out).decode("utf-8", "replace")
    parts = text.split(TOP_CLEAR)[1:-1]     # the screens drawn whole
    # Those on 120 columns, lines whole (on 60 they are cut: see below).
    parsed = [parse_top(s) for s in parts[:short]]
    bad = [p for _, ps in parsed for p in ps]
    R.check("top: every screen parses: title, counts, columns, lines, other, total; no other "
            "escape sequence", not bad and len(parsed) > 12, "; ".join(bad[:3]))
    scr = [s for s, _ in parsed if s]
    R.check("top: the title names the selection, the key, the sort field and the window",
            all(re.match(r"^pidio-stream \d\d:\d\d:\d\d  all by comm, sorted by syscw over 3 "
                         r"interval\(s\)$", s["title"]) for s in scr), scr[0]["title"] if scr else "")
    warnings = [l for l in text.replace("\r", "").split("\n")
                if l.startswith("pidio-stream: warning: ") and "permission denied" in l]
    R.equal("top: one warning about the unreadable processes in the whole run", len(warnings), 1)
    # The redraw after the warning clears it from the terminal: from then
    # on every screen shows it under the total, cut at the width.
    told = next((i for i, p in enumerate(text.split(TOP_CLEAR)[:short + 1])
                 if warnings and warnings[0] in p), None)   # before the first screen: 0
    want_note = ("last warning: " + warnings[0][len("pidio-stream: warning: "):])[:120] if warnings else None
    after = [s for s, _ in parsed[told:tall] if s] if told is not None else []   # 24 rows: room for it
    R.check("top: every screen after the warning shows it under the total",
            after and all(s.get("note") == want_note for s in after),
            "%d screens after it (the %d-th); without: %s; notes seen: %s" % (
                len(after), told, [i for i, s in enumerate(after) if s.get("note") != want_note],
                sorted({s.get("note") for s in after}, key=str)[:2]))
    R.check("top: the warning names a process and gives the remedy",
            warnings and re.search(r"/proc/\d+/io", warnings[0]) and "CAP_DAC_READ_SEARCH" in warnings[0],
            str(warnings))
    R.check("top: each screen's processes and unreadable: 7 and 3 once everyone is there",
            all((s["processes"], s["unreadable"]) == (7, 3)
                for s in scr[next(i for i, s in enumerate(scr) if s["processes"] == 7):]),
            str(sorted({(s["processes"], s["unreadable"]) for s in scr})))
    R.check("top: at most 2 group lines (--top 2), the header says how many",
            all(len(s["lines"]) + s["more"] == s["slots"] <= 2 == s["top"] for s in scr))
    R.check("top: the total's PROCS is the processes of the header; with every group on the "
            "screen, the lines and other add up to it",
            all(s["total"]["procs"] == s["processes"] and
                (s["more"] or s["processes"] == sum(l["procs"] for l in s["lines"]) + s["other"]["procs"])
                for s in scr),
            str(sorted({(s["total"]["procs"], s["processes"], tuple(l["procs"] for l in s["lines"]),
                         s["other"]["procs"]) for s in scr})))
    R.check("top: lines sorted by syscw/s, busiest first",
            all(all((a["syscw/s"] or 0) >= (b["syscw/s"] or 0) for a, b in zip(s["lines"], s["lines"][1:]))
                for s in scr))
    # The screens drawn on 24 rows once B and C held their slots for a
    # while: every window (3 intervals) is full and no slot changed in it.
    steady = [s for s, _ in parsed[tall - 6:tall] if s]
    want = [names["B"], names["C"]]
    R.equal("top: B and C have the lines, in that order; A (most bytes, fewest calls) does not",
            [[l["name"] for l in s["lines"]] for s in steady], [want] * len(steady))
    exact, near, adds = [], [], []
    for s in steady:
        for l, x in zip(s["lines"], ("B", "C")):
            size, rate = pace[x]
            # wchar/s = size x syscw/s, both printed to 0.1: exact but for
            # the rounding of the two.
            if l["wchar/s"] is None or abs(l["wchar/s"] - size * l["syscw/s"]) > 0.05 * (size + 1):
                exact.append("%s: wchar/s %r, syscw/s %r" % (x, l["wchar/s"], l["syscw/s"]))
            near.append((x, l["wchar/s"] / rate if l["wchar/s"] else 0))
            if l["procs"] != 1 or l["kB_rd/s"] != 0 or l["kB_wr/s"] != 0:
                exact.append("%s: %r" % (x, l))
        for col in ("wchar/s", "syscw/s", "rchar/s", "syscr/s"):
            parts_sum = sum(l[col] for l in s["lines"]) + s["other"][col]
            # Each figure is printed to 0.1 (rounded by at most 0.05).
            if abs(parts_sum - s["total"][col]) > 0.05 * (len(s["lines"]) + 2):
                adds.append("%s: %.1f + other = %.1f, total %.1f" % (col, parts_sum - s["other"][col],
                                                                     parts_sum, s["total"][col]))
    R.check("top: each line's wchar/s is exactly its call size times its syscw/s; PROCS 1, no disk I/O",
            not exact and steady, "; ".join(exact[:4]))
    # The window's rates of a writer paced by an absolute schedule: within
    # a tenth of its rate however the machine delays a write or a read (a
    # window holds 1.5 s of writes; a late write is caught up at once).
    R.check("top: B's and C's wchar/s near their paced rates (within 10 %)",
            all(0.9 <= v <= 1.1 for _, v in near), str(near))
    R.check("top: the group lines and other add up to the total, every column",
            not adds, "; ".join(adds[:4]))
    R.check("top: other holds A's 2 MB/s (it has no line)",
            all(s["other"]["wchar/s"] >= 0.9 * pace["A"][1] for s in steady),
            str([s["other"]["wchar/s"] for s in steady]))
    # The screen drawn while the size changed may have either.
    small = [s for s, _ in parsed[tall + 1:short] if s]
    R.check("top: on 8 rows, B's line alone and '(1 more groups ...)'",
            small and all([l["name"] for l in s["lines"]] == [names["B"]] and s["more"] == 1
                          for s in small),
            str([([l["name"] for l in s["lines"]], s["more"]) for s in small]))
    R.check("top: on 8 rows the screen fits: 8 lines at most",
            all(len(p.replace("\r", "").rstrip("\n").split("\n")) <= 8
                for p in parts[tall + 1:short]), "")
    # 60 columns: every line cut there, so none wraps onto a second row.
    cut = [p.replace("\r", "").rstrip("\n").split("\n") for p in parts[short + 1:narrow]]
    R.check("top: on 60 columns every line is cut at 60, the screen still 8 rows",
            cut and all(len(ls) == 8 and max(len(x) for x in ls) <= 60 and
                        max(len(x) for x in ls) == 60 for ls in cut),
            str([[len(x) for x in ls] for ls in cut]))
    R.check("top: on 60 columns the lines keep their start: title, B's line, other, total",
            cut and all(ls[0].startswith("pidio-stream ") and ls[4].startswith(names["B"] + " ")
                        and ls[6].startswith("other ") and ls[7].startswith("total ") for ls in cut),
            str(cut[:1]))


def main():
    why = ""
    try:
        stream_bin()
    except FileNotFoundError:
        why = "pidio-stream is not built"
    try:
        with open("/proc/self/io") as f:
            f.read()
    except OSError as e:
        why = "/proc/self/io cannot be read here (%s)" % e
    tests = [test_json_exact, test_influx, test_influx_escaping, test_comm_not_utf8,
             test_fixture_counts, test_table,
             test_default_format, test_name_cmdline, test_cmdline_long, test_more_selectors,
             test_children, test_lifecycle_exact,
             test_pidfile_follow, test_bad_options,
             test_rates, test_window_exact, test_permission_denied, test_signals,
             test_per_process, test_trouble_parity, test_group_by, test_top_screen]
    return run_tests(tests, R, sys.argv[1:], why=why, prefix="pidio-stream.")


if __name__ == "__main__":
    sys.exit(main())
