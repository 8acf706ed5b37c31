#!/usr/bin/env python3
"""End-to-end reliability tests: the real collectd daemon with pidio under
process churn and under faults.

- churn: for 60 s several hundred short-lived processes a second are forked
  and reaped while collectd reads 20 blocks every second with 5 read
  threads; collectd must not crash, its memory must stay flat, no csv row
  may hold NaN or a negative number, counters never go down, the log gets
  no line per process, and the totals of long-lived members (and of the
  churning parents, whose children all write exactly 1000 bytes) are exact;
- faults: ProcRoot missing, ProcRoot not a procfs, descriptors exhausted,
  every kind of bad pidfile next to a healthy block, /proc entries that
  vanish between two steps, and SIGTERM in the middle of heavy churn;
- GroupBy over ten minutes of writers with names never used before, run
  beside the other tests: at most MaxGroups + 2 instances of the block at
  every read, the groups and other adding up to the block, no series
  going down, memory flat.

Exit 77 (skipped) where it cannot run: not root, or no collectd.
"""
import bisect
import glob
import math
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_lib import (RUN_PREFIX, Daemon, Results, Writer, built, run_names,  # noqa: E402
                     run_tests, skip_reason, wait_for)

R = Results()

CHURN_SECONDS = 60
# VmRSS is sampled every second from the start of the churn; the largest
# sample of the last 30 s may exceed the sample at 30 s by at most
# RSS_SLACK_KIB plus what the processes present explain. Every block keeps
# a table entry for every process present (the test runs alone in a pid
# namespace, so these are its own), so its memory follows the largest
# number of processes it has seen at once: a new high of N processes in
# the last 30 s (the count is sampled every 0.1 s) allows N *
# RSS_PER_PROCESS_KIB per block more, and N members of the 'all' block
# leaving at once (its list of the departed) N * that. VmRSS is the whole
# daemon's: on a loaded machine collectd's own queues (values waiting for
# the csv writer's thread) moved it by up to 628 KiB in the last 30 s of a
# run with a load average of 16, with pidio's heap flat. So this check is
# the gross one (a leak of a few hundred bytes per churned process fails
# it); pidio's own heap is counted allocation by allocation, to under a
# byte per process, by test_adapter.c's t_churn_heap_flat.
RSS_SLACK_KIB = 2048
RSS_PER_PROCESS_KIB = 1
CHILD_BYTES = 1000          # every churned child writes exactly this, in one call
DERIVE_TYPES = ("io_octets", "io_ops", "disk_octets", "total_bytes-cancelled_write_bytes")


# --- helpers -----------------------------------------------------------------

def rows_after(d, blk, typ, n, timeout=20):
    wait_for(lambda: len(d.rows(blk, typ)) >= n, timeout, "%d rows of %s/%s" % (n, blk, typ))


def settle(d, blocks, extra=2, timeout=20):
    """Wait until pidio has read `extra` more intervals of every block."""
    want = {b: len(d.rows(b, "count-processes")) + extra for b in blocks}
    wait_for(lambda: all(len(d.rows(b, "count-processes")) >= n for b, n in want.items()),
             timeout, "%d more intervals of %d blocks" % (extra, len(blocks)))


def csv_series(d):
    """Every pidio csv series: {(plugin_instance, type): [rows]}, raw text
    values, so that a NaN or a negative number is seen as written."""
    out = {}
    for path in glob.glob(os.path.join(d.csvdir, d.hostname, "pidio-*", "*")):
        inst = os.path.basename(os.path.dirname(path))[len("pidio-"):]
        typ = re.sub(r"-\d{4}-\d\d-\d\d$", "", os.path.basename(path))
        with open(path) as f:
            rows = [line.strip().split(",") for line in f if not line.startswith("epoch")]
        out.setdefault((inst, typ), []).extend(rows)
    # In the values' time order, not the file's (see Daemon.rows in e2e_lib).
    for rows in out.values():
        rows.sort(key=lambda r: float(r[0]))
    return out


def check_csv(d, blocks, what):
    """No NaN and no negative value in any pidio row; the counters of every
    block never go down (a PerProcess series is per pid: a reused pid starts
    a new process's counters in the same series, so only its values are
    checked)."""
    series = csv_series(d)
    bad = []
    down = []
    nrows = 0
    for (inst, typ), rows in sorted(series.items()):
        for r in rows:
            nrows += 1
            for x in r[1:]:
                v = float(x)
                if math.isnan(v) or v < 0:
                    bad.append("%s/%s %s" % (inst, typ, ",".join(r)))
        if inst in blocks and typ in DERIVE_TYPES:
            for col in range(1, len(rows[0]) if rows else 1):
                vals = [float(r[col]) for r in rows]
                for i in range(len(vals) - 1):
                    if vals[i + 1] < vals[i]:
                        down.append("%s/%s[%d]: %r -> %r" % (inst, typ, col, vals[i], vals[i + 1]))
                        break
    R.check("%s: %d csv rows, no NaN and no negative value" % (what, nrows), nrows > 0 and not bad,
            str(bad[:5]))
    missing = [b for b in blocks if (b, "io_octets") not in series]
    R.check("%s: every block has series" % what, not missing, str(missing))
    R.check("%s: no block's counter ever goes down" % what, not down, str(down[:5]))


# The startup line, and at most one warning of a kind per block: here
# lingr-pp's MaxProcesses warning, and where root may not read every
# process (pid 1 of some containers) one for 'all' and one for 'none-exe'.
MAX_CHURN_LINES = 6


def repeated(lines):
    """Messages that occur more than once, numbers and times aside, as
    [(message, count)], most frequent first."""
    seen = {}
    for l in lines:
        key = re.sub(r"\d+", "N", re.sub(r"^\[[^]]*\] ", "", l))
        seen[key] = seen.get(key, 0) + 1
    return sorted(((k, n) for k, n in seen.items() if n > 1), key=lambda x: -x[1])


def pidio_lines(d):
    """The log lines pidio wrote itself (not collectd's plugin_load line)."""
    return [l for l in d.log().splitlines() if re.search(r"\] pidio[ :]", l)]


def crash_text(text):
    """Signs of a crash or of a sanitizer report in collectd's output."""
    pats = ("Segmentation", "segfault", "Aborted", "core dumped", "AddressSanitizer",
            "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:", "double free",
            "corrupted", "stack smashing", "Assertion")
    return [l for l in text.splitlines() if any(p in l for p in pats)]


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def count_processes():
    return sum(1 for e in os.listdir("/proc") if e.isdigit())


IO_FD = re.compile(r"^/proc/(\d+)/io$")


def fd_census(pid, samples=3, gap=1.1):
    """collectd's descriptors over a few samples: the fewest that are not
    io files, and the io descriptors held for a process that no longer
    exists in every sample (a descriptor pidio forgot to drop)."""
    other, stale = [], None
    for i in range(samples):
        if i:
            time.sleep(gap)
        t = {}
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t[fd] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                pass
        other.append(len([x for x in t.values() if not IO_FD.match(x)]))
        gone = {(fd, x) for fd, x in t.items()
                if IO_FD.match(x) and not os.path.exists("/proc/%s" % IO_FD.match(x).group(1))}
        stale = gone if stale is None else stale & gone
    return min(other), sorted(stale)


def fd_targets(pid):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    return out


def stop_daemon(d, timeout=10):
    """SIGTERM; returns (exit status, seconds it took); kills it past the
    timeout (status None)."""
    if d.proc is None:
        return None, 0.0
    t = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    try:
        rc = d.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        d.proc.kill()
        d.proc.wait()
        rc = None
    took = time.monotonic() - t
    d.proc = None
    return rc, took


def cgroup2_mounted():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[parts.index("-") + 1] == "cgroup2":
                return True
    return False


class Idle:
    """Processes that do nothing, named NAME (pidio-writer --idle)."""

    def __init__(self, n, comm):
        self.comm = run_names(comm)
        self.procs = []
        try:
            for _ in range(n):
                self.procs.append(subprocess.Popen(
                    [built("tests/pidio-writer"), "--idle", "--comm", self.comm],
                    stdin=subprocess.DEVNULL))
            wait_for(lambda: all(self._named(p.pid) for p in self.procs), 20, "idle processes' names")
        except BaseException:
            self.stop()
            raise

    def _named(self, pid):
        try:
            with open("/proc/%d/comm" % pid) as f:
                return f.read().strip() == self.comm
        except OSError:
            return False

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


class Churn(threading.Thread):
    """Drives a pidio-writer: k children every `period` seconds on average
    (k / period a second), each writing CHILD_BYTES bytes, lingering
    `linger` ms and exiting, reaped by the writer. Counts the children
    whose command was acknowledged."""

    def __init__(self, writer, k, linger, period, stop):
        super().__init__(daemon=True)
        self.w, self.k, self.linger, self.period, self.stop_ev = writer, k, linger, period, stop
        self.children = 0
        self.error = None

    def run(self):
        try:
            # Paced by the total: a command that comes late (a loaded
            # machine, Python's own scheduling) forks the children that
            # are due, up to four times k, so the rate is what it is set to
            # as long as the machine can fork that fast at all.
            rate = self.k / self.period
            t0 = time.monotonic()
            while not self.stop_ev.is_set():
                # One batch ahead of the pace: k at once at the start.
                due = int(rate * (time.monotonic() - t0)) + self.k - self.children
                k = max(1, min(due, 4 * self.k))
                w = self.w
                w.n += 1
                w.proc.stdin.write(b"fork %d %d %d %d\n" % (k, CHILD_BYTES, CHILD_BYTES, self.linger))
                w.proc.stdin.flush()
                ack = os.path.join(w.ackdir, "ack.%d" % w.n)
                end = time.monotonic() + 30
                while not os.path.isdir(ack):
                    if time.monotonic() > end or w.proc.poll() is not None:
                        raise AssertionError("fork command %d not acknowledged" % w.n)
                    time.sleep(0.002)
                self.children += k
                # The next batch is due when the total falls behind again.
                delay = t0 + self.children / rate - time.monotonic()
                if delay > 0:
                    self.stop_ev.wait(delay)
        except Exception as exc:  # reported by the test
            self.error = "%s: %s" % (type(exc).__name__, exc)


def churn_writers(work, tag):
    """The churning parents: (writer, k, linger ms, period s).
    churn1, churn2: pidioe2e-churn (churn1 also by its command line);
    lingr: children that live 300 ms, so that reads find them alive;
    noise: a name no block selects."""
    # 300 + 100 + 57 + 100 = 557 children a second in all.
    spec = [("pidioe2e-churn", tag + "-c1", 15, 0, 0.05),
            ("pidioe2e-churn", tag + "-c2", 10, 0, 0.1),
            ("pidioe2e-lingr", tag + "-lg", 20, 300, 0.35),
            ("pidioe2e-noise", tag + "-nz", 10, 0, 0.1)]
    out = []
    try:
        for comm, t, k, linger, period in spec:
            out.append((Writer(work, comm=comm, tag=t), k, linger, period))
    except BaseException:
        for w, *_ in out:
            w.stop()
        raise
    return out


# --- 1, 2e: churn -------------------------------------------------------------

def test_churn(work):
    """60 s of several hundred short-lived processes a second under 20
    blocks at a 1 s interval with ReadThreads 5."""
    tag = "rel-%d" % os.getpid()
    exe = os.path.realpath(built("tests/pidio-writer"))
    ws = []
    d = None
    stop = threading.Event()
    threads = []
    try:
        drivers = churn_writers(work, tag)
        ws += [w for w, *_ in drivers]
        _, c2, lg, _ = [w for w, *_ in drivers]
        keep = [Writer(work, comm="pidioe2e-keep%d" % i, tag=tag + "-keep") for i in (1, 2, 3)]
        ws += keep
        cg = ('    Cgroup "/pidio-e2e-none-%d"\n' % os.getpid() if cgroup2_mounted()
              else '    Name "pidioe2e-absent3"\n')
        blocks = [
            ("churn-name", 'Name "pidioe2e-churn"'),
            ("churn-win", 'Name "pidioe2e-churn"\n    Window 5'),
            ("churn-user", 'User "root"\n    Name "pidioe2e-churn"'),
            ("churn-exe", 'Exe "%s"\n    Name "pidioe2e-churn"\n    Window 2' % exe),
            ("churn-cmd", 'CommandLine "--tag %s-c1$"' % tag),
            ("churn-kids", "Pid %d\n    Children true" % c2.pid),
            ("lingr-name", 'Name "pidioe2e-lingr"'),
            ("lingr-kids", "Pid %d\n    Children true\n    Window 3" % lg.pid),
            ("lingr-pp", 'Name "pidioe2e-lingr"\n    PerProcess true\n    MaxProcesses 10'),
            ("keep1", 'Name "pidioe2e-keep1"'),
            ("keep2", 'Name "pidioe2e-keep2"\n    PerProcess true'),
            ("keep3", "Pid %d\n    Window 4" % keep[2].pid),
            ("keep-all", 'CommandLine "--tag %s-keep$"' % tag),
            ("none-name", 'Name "pidioe2e-absent"'),
            ("none-cmd", 'CommandLine "^/nonexistent/"'),
            ("none-user", 'User "nobody"\n    Name "pidioe2e-churn"'),
            ("none-exe", 'Exe "/nonexistent/pidio-writer"'),
            ("none-kids", 'Name "pidioe2e-absent2"\n    Children true\n    Window 3'),
            ("none-cgroup", cg.strip()),
            ("all", 'CommandLine "."\n    Window 3'),
        ]
        names = [b for b, _ in blocks]
        body = "ReadThreads 5\nLoadPlugin pidio\n<Plugin pidio>\n"
        for b, opts in blocks:
            body += '  <Process "%s">\n    %s\n  </Process>\n' % (b, opts)
        body += "</Plugin>\n"
        d = Daemon(work, body)
        # One malloc arena: glibc gives each of collectd's threads an arena
        # of its own, which grows in steps of a hundred KiB or more at its
        # own pace (seen: +436 KiB in a second half that ends flat with
        # one arena); with one arena what remains is what the program keeps.
        os.environ["MALLOC_ARENA_MAX"] = "1"
        try:
            d.start()
        finally:
            del os.environ["MALLOC_ARENA_MAX"]
        pid = d.proc.pid
        settle(d, names, 2)
        base_lines = len(pidio_lines(d))
        fds_before, _ = fd_census(pid, gap=0.3)

        rss = []      # (time, KiB, children churned so far), every second
        nproc = []    # (time, processes present), every 0.1 s

        def sample():
            i = 0
            while not stop.is_set():
                t = time.monotonic()
                if i % 10 == 0:
                    try:
                        rss.append((t, vmrss_kib(pid), sum(c.children for c in churns)))
                    except OSError:
                        return
                nproc.append((t, count_processes()))
                i += 1
                stop.wait(0.1)
        t_start = time.monotonic()
        churns = [Churn(w, k, linger, period, stop) for w, k, linger, period in drivers]
        threads = churns + [threading.Thread(target=sample, daemon=True)]
        for t in threads:
            t.start()
        kept = [0, 0, 0]
        kept_calls = [0, 0, 0]
        step = 0
        while time.monotonic() - t_start < CHURN_SECONDS:
            # The long-lived members write known amounts during the churn.
            for i, w in enumerate(keep):
                n, chunk = 10007 * (i + 1) + step, 1000 + i
                w.send("write %d %d" % (n, chunk))
                kept[i] += n
                kept_calls[i] += (n + chunk - 1) // chunk
            step += 1
            time.sleep(2)
        stop.set()
        for t in threads:
            t.join(40)
        churned = time.monotonic() - t_start
        alive_during = d.proc.poll() is None
        settle(d, names, 3, timeout=30)
        alive = d.proc.poll() is None
        fds_after, stale = fd_census(pid)
        last = {b: (d.last(b, "io_octets"), d.last(b, "io_ops"), d.last(b, "count-processes"))
                for b in names}
        rc, took = stop_daemon(d)
    finally:
        stop.set()
        for t in threads:
            t.join(40)
        if d is not None:
            d.stop()
        for w in ws:
            w.stop()

    errors = [t.error for t in threads if isinstance(t, Churn) and t.error]
    R.check("churn: the drivers ran without a hitch", not errors, str(errors))
    kids = [t.children for t in threads if isinstance(t, Churn)]
    total = sum(kids)
    rate = total / churned
    print("churn: %d short-lived processes in %.1f s (%.0f/s): %s" % (total, churned, rate, kids), flush=True)
    R.check("churn: at least 400 processes a second were forked and reaped (the README's figure)",
            rate >= 400, "%.0f/s" % rate)
    R.check("churn: collectd still running during and after the churn", alive_during and alive)
    R.equal("churn: collectd exits 0 on SIGTERM", rc, 0)
    log = d.log() + d.stdout()
    R.check("churn: no crash in the log", not crash_text(log), str(crash_text(log)[:5]))

    # Memory: flat after warm-up.
    print("churn: VmRSS KiB every second: %s" % [v for _, v, _ in rss], flush=True)
    print("churn: processes present, largest each second: %s" % [
        max([n for t, n in nproc if int(t - t_start) == sec] or [0])
        for sec in range(int(churned) + 1)], flush=True)
    # Samples are taken about every second; on a loaded machine the sampler
    # itself gets fewer turns, so the run is split at its middle sample
    # (about 30 s) rather than at a fixed index.
    if len(rss) >= 35:
        m = len(rss) // 2
        t_mid, at30, kids_mid = rss[m]
        late = max(v for _, v, _ in rss[m:])
        first = [n for t, n in nproc if t < t_mid]
        second = [n for t, n in nproc if t >= t_mid]
        new_high = max(0, max(second) - max(first))
        left = max(0, max(n for t, n in nproc if t >= rss[m - 1][0]) - min(second))
        allow = RSS_SLACK_KIB + RSS_PER_PROCESS_KIB * (new_high * len(names) + left)
        churned_late = total - kids_mid
        per_proc = allow * 1024.0 / max(1, churned_late)
        print("churn: VmRSS at 30 s %d KiB, largest after %d KiB (+%d); processes present: "
              "%d more than before at most, %d left; allowed +%d KiB, %.1f bytes for each of "
              "the %d processes churned since" % (
                  at30, late, late - at30, new_high, left, allow, per_proc, churned_late), flush=True)
        R.check("churn: VmRSS flat: over the last 30 s at most %d KiB above its value at 30 s"
                " (%d KiB + what the process count explains)" % (allow, RSS_SLACK_KIB),
                late - at30 <= allow, "(at 30 s %d KiB, then up to %d KiB)" % (at30, late))
        # How small a leak the check above would see depends on how many
        # processes came and went while it measured: printed, not judged
        # (the fine check is t_churn_heap_flat, see RSS_SLACK_KIB).
        print("churn: the memory check would see a leak of %.1f bytes per churned process"
              % per_proc, flush=True)
    else:
        R.check("churn: VmRSS sampled about every second", False, "only %d samples" % len(rss))

    check_csv(d, names, "churn")
    print("churn: descriptors other than io files: %d before, %d after" % (fds_before, fds_after), flush=True)
    # No more than before: a listing or a process directory open at the
    # moment of the first census may be closed at the second.
    R.check("churn: no descriptor other than io files left behind (%d before, %d after)" % (fds_before, fds_after),
            fds_after <= fds_before, "")
    R.equal("churn: no io descriptor held for a process that is gone", stale, [])

    # Log: the startup line, and rate-limited warnings at most; no error.
    lines = pidio_lines(d)
    print("churn: pidio's log lines:\n  " + "\n  ".join(lines), flush=True)
    R.check("churn: no log line per process: at most %d pidio lines (%d before the churn)" % (
        MAX_CHURN_LINES, base_lines), len(lines) <= MAX_CHURN_LINES, "%d lines" % len(lines))
    rep = repeated(lines)
    R.check("churn: no pidio message repeats (rate-limited: one warning per block and kind)",
            not rep, "%d times: %s" % (rep[0][1], rep[0][0]) if rep else "")
    # /proc entries vanish between listing, stat, open and read all the
    # time here: that is normal and never reported.
    errs = [l for l in d.log().splitlines() if "[error]" in l]
    R.check("churn: vanishing entries: no error line", not errs, str(errs[:5]))
    vanish = [l for l in lines if re.search(r"cannot read|No such|does not parse|parse again", l)]
    R.check("churn: vanishing entries: no warning about a process that is gone", not vanish, str(vanish[:3]))
    unread = {b: {r[1] for r in d.rows(b, "count-unreadable")} for b in names if b.startswith(("churn", "lingr"))}
    R.check("churn: vanishing entries: count-unreadable always 0 in the churning blocks",
            all(v == {0.0} for v in unread.values()), str(unread))

    # Exact totals.
    c1k, c2k, lgk, _ = kids
    want = {
        "churn-name": c1k + c2k, "churn-win": c1k + c2k, "churn-user": c1k + c2k,
        "churn-exe": c1k + c2k, "churn-cmd": c1k, "churn-kids": c2k,
        "lingr-name": lgk, "lingr-kids": lgk, "lingr-pp": lgk,
    }
    for b, n in want.items():
        octets, ops, _ = last[b]
        R.equal("churn: %s wchar exactly %d children x %d" % (b, n, CHILD_BYTES), octets[2], n * CHILD_BYTES)
        R.equal("churn: %s syscw exactly %d" % (b, n), ops[2], n)
    for i, b in enumerate(("keep1", "keep2", "keep3")):
        R.equal("churn: long-lived %s wchar exactly" % b, last[b][0][2], kept[i])
        R.equal("churn: long-lived %s syscw exactly" % b, last[b][1][2], kept_calls[i])
        R.equal("churn: long-lived %s count-processes" % b, last[b][2][1], 1)
    R.equal("churn: keep-all wchar exactly the three", last["keep-all"][0][2], sum(kept))
    R.equal("churn: keep2's own series (PerProcess) exactly",
            d.last("keep2-%d" % keep[1].pid, "io_octets")[2], kept[1])
    for b in ("none-name", "none-cmd", "none-user", "none-exe", "none-kids", "none-cgroup"):
        R.equal("churn: %s selects nothing: wchar 0" % b, last[b][0][2], 0)
        counts = {r[1] for r in d.rows(b, "count-processes")}
        R.equal("churn: %s count-processes always 0" % b, counts, {0.0})
    pp = [p for p in glob.glob(os.path.join(d.csvdir, d.hostname, "pidio-lingr-pp-*"))]
    R.check("churn: lingr-pp had series of its own for lingering children", len(pp) > 1, str(len(pp)))


# --- 2a: ProcRoot missing ------------------------------------------------------

def test_procroot_missing(work):
    """An error naming ProcRoot; pidio dispatches nothing; collectd keeps
    running (the load plugin's rows keep coming)."""
    missing = os.path.join(work, "no-such-proc")
    d = Daemon(work, """
LoadPlugin load
LoadPlugin pidio
<Plugin pidio>
  ProcRoot "%s"
  <Process "gone">
    Name "pidioe2e-any"
  </Process>
</Plugin>
""" % missing, plugins=("csv", "logfile", "load"))
    load_rows = lambda: sum(len(open(p).read().splitlines()) - 1  # noqa: E731
                            for p in glob.glob(os.path.join(d.csvdir, d.hostname, "load", "load-*")))
    try:
        d.start()
        wait_for(lambda: load_rows() >= 1, 15, "load rows")
        n = load_rows()
        wait_for(lambda: load_rows() >= n + 2, 15, "two more load rows")
        running = d.proc.poll() is None
    finally:
        d.stop()
    # pidio's own lines: collectd adds its own that the init failed.
    errs = [l for l in pidio_lines(d) if "[error]" in l]
    R.equal("ProcRoot missing: pidio logs one error", len(errs), 1)
    R.check("ProcRoot missing: the error names ProcRoot and the path",
            errs and "ProcRoot" in errs[0] and missing in errs[0], str(errs))
    R.check("ProcRoot missing: collectd keeps running and reading", running)
    R.equal("ProcRoot missing: pidio dispatches nothing",
            glob.glob(os.path.join(d.csvdir, d.hostname, "pidio-*")), [])
    R.check("ProcRoot missing: no crash", not crash_text(d.log() + d.stdout()))


# --- 2b: ProcRoot not a procfs -------------------------------------------------

def test_procroot_not_procfs(work):
    """An empty directory: runs, count-processes 0, and one notice that it
    is not a proc file system."""
    empty = os.path.join(work, "empty")
    os.mkdir(empty)
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  ProcRoot "%s"
  <Process "emptyroot">
    Name "pidioe2e-any"
  </Process>
  <Process "emptykids">
    CommandLine "."
    Children true
  </Process>
</Plugin>
""" % empty)
    try:
        d.start()
        rows_after(d, "emptyroot", "count-processes", 3)
        rows_after(d, "emptykids", "count-processes", 3)
        running = d.proc.poll() is None
    finally:
        d.stop()
    R.check("not a procfs: collectd runs", running)
    for b in ("emptyroot", "emptykids"):
        R.equal("not a procfs: %s count-processes 0" % b,
                {r[1] for r in d.rows(b, "count-processes")}, {0.0})
        R.equal("not a procfs: %s wchar 0" % b, d.last(b, "io_octets")[2], 0)
    notes = [l for l in d.log().splitlines()
             if ("[notice]" in l or "[info]" in l) and "not a proc file system" in l and empty in l]
    R.equal("not a procfs: one notice saying it is not a proc file system", len(notes), 1)
    R.check("not a procfs: no error or warning",
            not [l for l in pidio_lines(d) if "[error]" in l or "[warning]" in l], "\n".join(pidio_lines(d)))


# --- 2c: descriptors exhausted ---------------------------------------------------

class LimitedDaemon(Daemon):
    """collectd started with RLIMIT_NOFILE soft = hard = nofile."""

    def __init__(self, *a, nofile=64, **kw):
        super().__init__(*a, **kw)
        self.nofile = nofile

    def command(self, *extra):
        return ["prlimit", "--nofile=%d:%d" % (self.nofile, self.nofile), "--"] + super().command(*extra)


def test_fd_exhausted(work):
    """300 processes match one block under a 64-descriptor limit: every one
    is counted, three that write after start are exact although they are
    read by open/read/close, and pidio holds at most 32 io descriptors."""
    nofile, n = 64, 300
    idle = None
    ws = []
    d = LimitedDaemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "many">
    Name "pidioe2e-many"
  </Process>
</Plugin>
""", nofile=nofile)
    try:
        idle = Idle(n - 3, "pidioe2e-many")
        d.start()
        with open("/proc/%d/limits" % d.proc.pid) as f:
            lim = [l for l in f if l.startswith("Max open files")]
        rows_after(d, "many", "count-processes", 2)
        # Started after pidio took every descriptor it may hold: these three
        # are read by open/read/close every interval.
        for i in range(3):
            ws.append(Writer(work, comm="pidioe2e-many"))
        settle(d, ["many"], 2)
        joined = len(d.rows("many", "count-processes"))
        amounts = [(123457, 1000), (2000003, 4096), (77, 7)]
        for w, (b, c) in zip(ws, amounts):
            w.send("write %d %d" % (b, c))
        settle(d, ["many"], 2)
        held, total_fds = [], []
        for _ in range(8):
            t = fd_targets(d.proc.pid)
            held.append(len([x for x in t if re.match(r"^/proc/\d+/io$", x)]))
            total_fds.append(len(t))
            time.sleep(0.15)
        settle(d, ["many"], 1)
        running = d.proc.poll() is None
    finally:
        d.stop()
        for w in ws:
            w.stop()
        if idle is not None:
            idle.stop()
    print("fd limit: %s; io descriptors held %s, all descriptors %s" % (
        lim[0].split()[3:5] if lim else "?", held, total_fds), flush=True)
    R.check("fd limit: collectd ran with a soft limit of %d" % nofile,
            lim and lim[0].split()[3] == str(nofile), str(lim))
    R.check("fd limit: collectd keeps running", running)
    counts = [r[1] for r in d.rows("many", "count-processes")]
    R.equal("fd limit: count-processes exactly %d at every read" % n, set(counts[joined - 1:]), {n})
    R.equal("fd limit: count-unreadable 0", d.last("many", "count-unreadable")[1], 0)
    want = sum(b for b, _ in amounts)
    R.equal("fd limit: wchar exactly what the three wrote", d.last("many", "io_octets")[2], want)
    R.equal("fd limit: syscw exactly", d.last("many", "io_ops")[2],
            sum((b + c - 1) // c for b, c in amounts))
    R.check("fd limit: pidio holds at most half the soft limit (%d) of io descriptors" % (nofile // 2),
            max(held) <= nofile // 2 + 1 and min(held) <= nofile // 2,
            "held %s" % held)
    R.equal("fd limit: pidio holds its whole budget (the rest are opened each interval)",
            min(held), nofile // 2)
    R.check("fd limit: collectd stays below its limit", max(total_fds) < nofile, str(total_fds))
    warn = [l for l in pidio_lines(d) if "[warning]" in l or "[error]" in l]
    R.check("fd limit: no warning (nothing was left out)", not warn, str(warn))


class StdioDaemon(LimitedDaemon):
    """A LimitedDaemon whose log and csv values go to standard error (the
    stdout.log file collectd inherits): neither opens a file per line, so
    collectd out of descriptors still tells and dispatches."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        with open(self.conf) as f:
            text = f.read()
        text = text.replace('File "%s"' % self.logfile, 'File "stderr"')
        text = text.replace('DataDir "%s"' % self.csvdir, 'DataDir "stderr"')
        with open(self.conf, "w") as f:
            f.write(text)

    def log(self):
        return self.stdout()

    def rows(self, plugin_instance, type_, plugin="pidio", host=None):
        ident = "%s/%s-%s/%s" % (host or self.hostname, plugin, plugin_instance, type_)
        out = []
        for line in self.stdout().splitlines():
            # PUTVAL host/plugin-instance/type interval=1.000 time:v1:v2
            f = line.split()
            if len(f) == 4 and f[0] == "PUTVAL" and f[1] == ident:
                out.append(tuple(float(x) for x in f[3].split(":")))
        out.sort(key=lambda r: r[0])
        return out


def lowest_free_fd(pid):
    used = {int(fd) for fd in os.listdir("/proc/%d/fd" % pid)}
    n = 0
    while n in used:
        n += 1
    return n


def test_fd_none(work):
    """Descriptors run out altogether: collectd's soft limit is lowered
    (prlimit on the running daemon) to the lowest descriptor number it does
    not use, so that no open succeeds. Of 40 members, the 32 read through a
    held descriptor are still read; the 8 opened each interval are left out:
    count-unreadable exactly 8 at every read, one warning with the remedy,
    and, the limit raised again, one line that every process is read again
    and wchar exactly what the three writers among them wrote, outage and
    all. Then a process born while no descriptor is left: the interval
    needs /proc listed and cannot be read (one error); raised again, it
    reads on and the newcomer joins."""
    nofile, held_n, extra = 64, 32, 5
    ws = []
    idle, late = None, None
    d = StdioDaemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "nofd">
    Name "pidioe2e-nofd"
  </Process>
</Plugin>
""", nofile=nofile)
    low = []
    outage_rows = []
    listing_gap = None
    try:
        idle = Idle(held_n, "pidioe2e-nofd")
        d.start()
        pid = d.proc.pid
        rows_after(d, "nofd", "count-processes", 2)
        # Born after pidio took its whole budget: read by open each interval.
        for _ in range(3):
            ws.append(Writer(work, comm="pidioe2e-nofd"))
        more = Idle(extra, "pidioe2e-nofd")
        idle.procs += more.procs
        members = held_n + 3 + extra
        wait_for(lambda: (d.last("nofd", "count-processes") or (0, 0))[1] == members, 20,
                 "%d members" % members)
        settle(d, ["nofd"], 1)
        want = 0
        for w, n in zip(ws, (100003, 20000, 7)):
            w.send("write %d 1000" % n)
            want += n
        settle(d, ["nofd"], 1)

        # Out of descriptors: between two reads (a read takes a few ms of
        # the second), the soft limit becomes the lowest free descriptor.
        n0 = len(d.rows("nofd", "count-processes"))
        wait_for(lambda: len(d.rows("nofd", "count-processes")) > n0, 5, "a read", step=0.005)
        t_low = time.time()
        lim = lowest_free_fd(pid)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lim, nofile))
        low.append(lim)
        for w, n in zip(ws, (5000, 300001, 13)):
            w.send("write %d 1000" % n)
            want += n
        settle(d, ["nofd"], 4)
        t_mid = time.time()
        outage_rows = [r for r in d.rows("nofd", "count-unreadable") if t_low + 0.2 < r[0] < t_mid]
        still = lowest_free_fd(pid) >= lim
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (nofile, nofile))
        t_up = time.time()
        settle(d, ["nofd"], 3)
        t_ok = time.time()
        wchar = d.last("nofd", "io_octets")[2]
        unread_after = [r[1] for r in d.rows("nofd", "count-unreadable") if r[0] > t_up + 1.2]

        # A newcomer while out of descriptors: /proc must be listed.
        n0 = len(d.rows("nofd", "count-processes"))
        wait_for(lambda: len(d.rows("nofd", "count-processes")) > n0, 5, "a read", step=0.005)
        lim = lowest_free_fd(pid)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lim, nofile))
        low.append(lim)
        late = Idle(1, "pidioe2e-nofd")
        t_late = time.time()
        wait_for(lambda: "cannot read ProcRoot" in d.log(), 10, "the listing's error")
        time.sleep(3)
        listing_gap = [r for r in d.rows("nofd", "count-processes") if r[0] > t_late + 0.2]
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (nofile, nofile))
        wait_for(lambda: (d.last("nofd", "count-processes") or (0, 0))[1] == members + 1, 30,
                 "the newcomer to join")
        running = d.proc.poll() is None
    finally:
        d.stop()
        for w in ws:
            w.stop()
        for i in (idle, late):
            if i is not None:
                i.stop()
    lines = [l for l in d.log().splitlines() if re.search(r"\] pidio[ :]", l)]
    print("fd none: soft limits set %s; outage rows %s; pidio's lines:\n  %s" % (
        low, [r[1] for r in outage_rows], "\n  ".join(lines)), flush=True)
    R.check("fd none: collectd keeps running", running)
    R.check("fd none: the descriptors stayed exhausted through the outage", still)
    R.check("fd none: at least three reads while out of descriptors", len(outage_rows) >= 3,
            str(outage_rows))
    R.equal("fd none: count-unreadable exactly the %d members opened each interval, at every "
            "read" % (3 + extra), {r[1] for r in outage_rows}, {float(3 + extra)})
    counts = [r[1] for r in d.rows("nofd", "count-processes") if t_low < r[0] < t_ok]
    R.equal("fd none: count-processes still every member", set(counts), {float(members)})
    warns = [l for l in lines if "[warning]" in l and "cannot read" in l]
    R.equal("fd none: exactly one warning", len(warns), 1)
    R.check("fd none: the warning says how many were left out and the remedy",
            len(warns) == 1 and "Too many open files" in warns[0] and
            "%d process(es) left out" % (3 + extra) in warns[0] and "LimitNOFILE" in warns[0],
            str(warns))
    again = [l for l in lines if "every process is read again" in l]
    R.equal("fd none: one line that every process is read again", len(again), 1)
    R.check("fd none: count-unreadable 0 once the limit is raised",
            unread_after and set(unread_after) == {0.0}, str(unread_after))
    R.equal("fd none: wchar exactly what the writers wrote, outage and all", wchar, want)
    errs = [l for l in lines if "[error]" in l]
    R.check("fd none: a newcomer without descriptors: the interval is not read, one error",
            len(errs) == 1 and "cannot read ProcRoot" in errs[0] and "Too many open files" in errs[0],
            str(errs))
    R.equal("fd none: no row while /proc cannot be listed", listing_gap, [])
    R.equal("fd none: the listing readable again is said once",
            len([l for l in lines if "ProcRoot readable again" in l]), 1)


# --- 2d: pidfile variants ---------------------------------------------------------

def test_pidfiles(work):
    """Missing, empty, garbage, 5 MB, a symlink to /dev/zero, a fifo without
    a writer: each block has 0 processes and one warning saying why; a Pid
    block in the same collectd (one read thread) keeps its rows every
    interval, exact."""
    pf = {
        "pf-missing": (os.path.join(work, "missing.pid"), "does not exist"),
        "pf-empty": (os.path.join(work, "empty.pid"), "does not hold a process id"),
        "pf-garbage": (os.path.join(work, "garbage.pid"), "does not hold a process id"),
        "pf-huge": (os.path.join(work, "huge.pid"), "is larger than 64 bytes"),
        "pf-zero": (os.path.join(work, "zero.pid"), "is not a regular file"),
        "pf-fifo": (os.path.join(work, "fifo.pid"), "is not a regular file"),
    }
    open(pf["pf-empty"][0], "w").close()
    with open(pf["pf-garbage"][0], "w") as f:
        f.write("12ab\n")
    with open(pf["pf-huge"][0], "wb") as f:
        f.write(b"1" * (5 << 20))
    os.symlink("/dev/zero", pf["pf-zero"][0])
    os.mkfifo(pf["pf-fifo"][0])
    w = Writer(work)
    body = "ReadThreads 1\nLoadPlugin pidio\n<Plugin pidio>\n"
    for b in sorted(pf):
        body += '  <Process "%s">\n    PidFile "%s"\n  </Process>\n' % (b, pf[b][0])
    body += '  <Process "healthy">\n    Pid %d\n  </Process>\n</Plugin>\n' % w.pid
    d = Daemon(work, body)
    blocks = sorted(pf) + ["healthy"]
    total = 0
    try:
        d.start()
        rows_after(d, "healthy", "io_octets", 2)
        t0 = time.time()
        for i in range(6):
            n = 100003 * (i + 1)
            w.send("write %d 1000" % n)
            total += n
            time.sleep(0.7)
        settle(d, blocks, 2)
        t1 = time.time()
        running = d.proc.poll() is None
    finally:
        d.stop()
        w.stop()
    R.check("pidfiles: collectd keeps running", running)
    for b in sorted(pf):
        counts = [r[1] for r in d.rows(b, "count-processes")]
        R.check("pidfiles: %s count-processes 0 every interval" % b,
                counts and set(counts) == {0.0}, str(counts))
        warns = [l for l in d.log().splitlines() if '"%s"' % b in l and "[warning]" in l]
        R.equal("pidfiles: %s exactly one warning" % b, len(warns), 1)
        R.check("pidfiles: %s the warning says it %s" % (b, pf[b][1]),
                len(warns) == 1 and pf[b][1] in warns[0] and pf[b][0] in warns[0], str(warns))
    R.equal("pidfiles: healthy wchar exactly", d.last("healthy", "io_octets")[2], total)
    R.equal("pidfiles: healthy count-processes 1 every interval",
            {r[1] for r in d.rows("healthy", "count-processes")}, {1.0})
    stamps = [r[0] for r in d.rows("healthy", "count-processes")]
    span = [s for s in stamps if t0 <= s <= t1]
    gaps = [round(b - a, 2) for a, b in zip(stamps, stamps[1:])]
    R.check("pidfiles: healthy has a row every interval (no read blocked)",
            len(span) >= int(t1 - t0) - 1 and max(gaps) < 2.5,
            "%d rows in %.1f s, gaps %s" % (len(span), t1 - t0, gaps))
    R.check("pidfiles: the fifo block also has a row every interval",
            len(d.rows("pf-fifo", "count-processes")) >= len(stamps) - 1)
    R.check("pidfiles: no error line", not [l for l in d.log().splitlines() if "[error]" in l])


# --- 2f: SIGTERM during heavy churn -------------------------------------------------

SIGTERM_ROUNDS = (0.0, 0.15, 0.3)   # seconds after a read's first row: mid-read, later


def test_sigterm_churn(work):
    """SIGTERM while the reads of 16 blocks run through heavy churn, at
    several moments of the interval: collectd exits 0 at once (within a
    second), no crash in the log."""
    tag = "relt-%d" % os.getpid()
    ws = []
    stop = threading.Event()
    threads = []
    daemons = []
    try:
        drivers = churn_writers(work, tag)
        ws += [w for w, *_ in drivers]
        body = "ReadThreads 5\nLoadPlugin pidio\n<Plugin pidio>\n"
        names = []
        for i in range(16):
            opts = ['Name "pidioe2e-churn"', 'Name "pidioe2e-lingr"\n    PerProcess true',
                    'CommandLine "."\n    Window 3', 'Name "pidioe2e-none"\n    Children true'][i % 4]
            body += '  <Process "t%d">\n    %s\n  </Process>\n' % (i, opts)
            names.append("t%d" % i)
        body += "</Plugin>\n"
        threads = [Churn(w, k, linger, period, stop) for w, k, linger, period in drivers]
        for t in threads:
            t.start()
        for r, offset in enumerate(SIGTERM_ROUNDS):
            sub = os.path.join(work, "r%d" % r)
            os.mkdir(sub)
            d = Daemon(sub, body, interval=0.5)
            daemons.append([d, None, None])
            d.start()
            settle(d, names, 4)
            n = len(d.rows("t0", "count-processes"))
            wait_for(lambda: len(d.rows("t0", "count-processes")) > n, 5, "a read", step=0.005)
            time.sleep(offset)
            daemons[-1][1:] = stop_daemon(d)
    finally:
        stop.set()
        for t in threads:
            t.join(40)
        for d, *_ in daemons:
            d.stop()
        for w in ws:
            w.stop()
    errors = [t.error for t in threads if t.error]
    R.check("SIGTERM during churn: the drivers ran without a hitch", not errors, str(errors))
    for (d, rc, took), offset in zip(daemons, SIGTERM_ROUNDS):
        what = "SIGTERM %.2f s into an interval of churn" % offset
        print("%s: exit status %r after %.3f s" % (what, rc, took or 0), flush=True)
        R.equal("%s: collectd exits 0" % what, rc, 0)
        # "At once": collectd stops its read threads between two reads; a
        # read in progress (a few ms here) finishes first. A second is
        # what a loaded two-core machine may add in scheduling delay.
        R.check("%s: exits at once (within 1 s)" % what, took is not None and took < 1,
                "%.3f s" % (took or 0))
        log = d.log() + d.stdout()
        R.check("%s: the log says it exited normally" % what, "Exiting normally" in log)
        R.check("%s: no crash or sanitizer text" % what, not crash_text(log), str(crash_text(log)[:5]))
        check_csv(d, names, what)


# --- unreadable processes that come and go -------------------------------------------

def test_unreadable_churn(work):
    """An unprivileged collectd (nobody, no capabilities) and root's
    processes of one name coming and going: count-unreadable says so, and
    the log has one warning, not one (and a 'readable again') per process."""
    os.chmod(work, 0o777)
    d = Daemon(work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "flicker">
    Name "pidioe2e-flick"
  </Process>
</Plugin>
""", user=65534)
    for sub in ("plugins", "csv"):
        os.chmod(os.path.join(work, sub), 0o777)
    comm = run_names("pidioe2e-flick")
    n = 0
    try:
        d.start()
        rows_after(d, "flicker", "count-processes", 2)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            p = subprocess.Popen([built("tests/pidio-writer"), "--idle", "--comm", comm],
                                 stdin=subprocess.DEVNULL)
            n += 1
            try:
                time.sleep(1.2)
            finally:
                p.kill()
                p.wait()
            time.sleep(1.2)
        settle(d, ["flicker"], 1)
    finally:
        d.stop()
    unread = [r[1] for r in d.rows("flicker", "count-unreadable")]
    R.check("unreadable churn: count-unreadable shows the unreadable processes",
            max(unread) >= 1, str(unread))
    lines = [l for l in pidio_lines(d) if '"flicker"' in l]
    print("unreadable churn: %d processes; pidio's lines:\n  %s" % (n, "\n  ".join(lines)), flush=True)
    warns = [l for l in lines if "permission denied" in l]
    again = [l for l in lines if "readable again" in l]
    R.equal("unreadable churn: one permission warning for %d unreadable processes" % n, len(warns), 1)
    R.equal("unreadable churn: exactly one 'readable again' (after the last one exited)", len(again), 1)


# --- GroupBy: ten minutes of names coming and going --------------------------
#
# The issue's bound, "at most MaxGroups + 2 plugin instances of the block at
# any time, over ten minutes of churn with random names", needs ten minutes
# of wall time. They run beside the other tests of this file: main() starts
# the daemon and its workload (GroupsChurn) before the first test, and the
# last test, test_groups_churn, waits for the rest of the ten minutes and
# judges. The workload is light on purpose (a few processes a second, one
# write each, a few paced writers): the other tests' timing checks must not
# feel it, and the bound needs many names, not much I/O.

GROUPS_CHURN_SECONDS = float(os.environ.get("PIDIO_GROUPS_CHURN_SECONDS", "600"))
GROUPS_MAX = 3              # MaxGroups of the block
GROUPS_POPULATION = 24      # writers alive at any time, each replaced when it exits
GROUPS_LINGER_READS = 3     # reads of the block a writer outlives its last write by
# VmRSS of the churning collectd: its largest sample after the warm-up (the
# first quarter of the churn, when the tables of groups and of dormant
# groups fill) may exceed the sample at the end of the warm-up by
# GROUPS_RSS_SLACK_KIB, plus RSS_PER_PROCESS_KIB for each process present
# beyond the most present during the warm-up (the block keeps an entry for
# every process of the namespace, member or not). Seen: +32 to +44 KiB on
# a quiet machine. The bound is the gross one of RSS_SLACK_KIB, for the
# same reason: VmRSS also holds collectd's queues of values for the csv
# writer, which grow while a loaded machine keeps its thread from the CPU
# (this churn runs beside the whole suite in check.sh); pidio's own heap
# is checked to the byte by test_adapter.c's t_churn_heap_flat.
GROUPS_RSS_SLACK_KIB = RSS_SLACK_KIB
GROUPS_BLOCK = "gch"


class GroupsChurn:
    """collectd with one block, a CommandLine selector + GroupBy comm +
    MaxGroups GROUPS_MAX + RankBy wchar, csv writer; and GROUPS_POPULATION
    pidio-writers alive at a time, each with a name never used before
    (half set by prctl(PR_SET_NAME), half by exec'ing a symlink of that
    name), each doing one command and exiting once the block has read it
    GROUPS_LINGER_READS more times: a write of a random size, or for one in
    ten a paced write of 1 to 4 MB/s for 2 to 8 s (the hammering groups that
    take the slots). Every byte and write(2) call the writers make is
    counted here, so the block's wchar and syscw are known exactly."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="pidio-e2e.")
        self.tag = run_names("pidioe2e-gch")
        self.d = Daemon(self.work, """
LoadPlugin pidio
<Plugin pidio>
  <Process "%s">
    CommandLine "--tag %s$"
    GroupBy comm
    MaxGroups %d
    RankBy wchar
    Window 3
  </Process>
</Plugin>
""" % (GROUPS_BLOCK, self.tag, GROUPS_MAX))
        self.stop_ev = threading.Event()
        self.threads = []
        self.error = None
        self.wchar = self.syscw = 0      # what every writer wrote, acknowledged
        self.processes = self.hammers = 0
        self.names = set()
        self.rss = []                    # (seconds since start, KiB, processes present)
        self.t0 = None
        self.bindir = os.path.join(self.work, "bin")
        os.mkdir(self.bindir)
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else self.work
        self.ackroot = tempfile.mkdtemp(prefix="pidio-gch.", dir=shm)
        seed = int.from_bytes(os.urandom(4), "little")
        print("groups churn: random seed %d" % seed, flush=True)
        self.rnd = random.Random(seed)

    def start(self):
        # One malloc arena, as in test_churn: what remains is what pidio keeps.
        os.environ["MALLOC_ARENA_MAX"] = "1"
        try:
            self.d.start()
        finally:
            del os.environ["MALLOC_ARENA_MAX"]
        rows_after(self.d, GROUPS_BLOCK, "count-processes", 2)
        self.t0 = time.monotonic()
        self.threads = [threading.Thread(target=self._drive, daemon=True),
                        threading.Thread(target=self._sample, daemon=True)]
        for t in self.threads:
            t.start()
        return self

    def reads(self):
        """Rows the block has written so far: reads of it that ended."""
        return len(self.d.rows(GROUPS_BLOCK, "count-processes"))

    def _name(self):
        # 15 characters: the run's prefix, '-', 7 random ones, never twice.
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        while True:
            n = "%s-%s" % (RUN_PREFIX, "".join(self.rnd.choice(alphabet) for _ in range(7)))
            if n not in self.names:
                self.names.add(n)
                return n

    def _spawn(self):
        name = self._name()
        ack = os.path.join(self.ackroot, "%d" % len(self.names))
        os.mkdir(ack)
        if self.rnd.random() < 0.5:
            cmd = [built("tests/pidio-writer"), "--comm", name]
        else:
            # exec'd under that name: the comm is the program's file name.
            link = os.path.join(self.bindir, name)
            os.symlink(os.path.realpath(built("tests/pidio-writer")), link)
            cmd = [link]
        p = subprocess.Popen(cmd + ["--ack", ack, "--tag", self.tag], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes += 1
        if self.rnd.random() < 0.1:
            chunk = 16384
            rate, secs = chunk * self.rnd.randrange(60, 250), self.rnd.randrange(2, 9)
            # pidio-writer writes int(rate * secs / chunk) chunks: exact here.
            line, nbytes, calls = "pace %d %d %d" % (rate, secs, chunk), rate * secs, rate * secs // chunk
            self.hammers += 1
        else:
            chunk = self.rnd.choice((512, 4096, 65536))
            nbytes = self.rnd.randrange(1, 2000000)
            line, calls = "write %d %d" % (nbytes, chunk), (nbytes + chunk - 1) // chunk
        return {"p": p, "ack": ack, "line": line, "bytes": nbytes, "calls": calls,
                "at": time.monotonic() + self.rnd.uniform(0.2, 2.0), "state": "born"}

    def _drive(self):
        live = []
        try:
            while not self.stop_ev.is_set():
                ending = time.monotonic() - self.t0 >= GROUPS_CHURN_SECONDS
                if ending and not live:
                    break
                while not ending and len(live) < GROUPS_POPULATION:
                    live.append(self._spawn())
                reads = self.reads()
                now = time.monotonic()
                for w in list(live):
                    if w["state"] == "born" and now >= w["at"]:
                        w["p"].stdin.write((w["line"] + "\n").encode())
                        w["p"].stdin.flush()
                        w["state"] = "working"
                    elif w["state"] == "working" and os.path.isdir(os.path.join(w["ack"], "ack.1")):
                        self.wchar += w["bytes"]
                        self.syscw += w["calls"]
                        w["state"], w["reads"] = "lingering", reads
                    elif w["state"] == "lingering" and reads >= w["reads"] + GROUPS_LINGER_READS:
                        w["p"].stdin.close()
                        w["state"] = "exiting"
                    elif w["state"] == "exiting" and w["p"].poll() is not None:
                        if w["p"].returncode != 0:
                            raise AssertionError("a writer exited with status %d" % w["p"].returncode)
                        shutil.rmtree(w["ack"], ignore_errors=True)
                        live.remove(w)
                    elif w["p"].poll() is not None and w["state"] != "exiting":
                        raise AssertionError("a writer exited early (%d) doing %r"
                                             % (w["p"].returncode, w["line"]))
                if self.d.proc.poll() is not None:
                    raise AssertionError("collectd exited (%d)" % self.d.proc.returncode)
                self.stop_ev.wait(0.1)
        except Exception as exc:  # reported by the test
            self.error = "%s: %s" % (type(exc).__name__, exc)
        finally:
            for w in live:
                if w["p"].poll() is None:
                    w["p"].kill()
                w["p"].wait()

    def _sample(self):
        while not self.stop_ev.is_set() and self.d.proc is not None:
            try:
                self.rss.append((time.monotonic() - self.t0, vmrss_kib(self.d.proc.pid),
                                 count_processes(), self.processes))
            except (OSError, AttributeError):
                return
            self.stop_ev.wait(1)

    def finish(self):
        """Wait for the ten minutes and the writers' ends, let the block
        read twice more, stop collectd; True if it exited 0."""
        self.threads[0].join(GROUPS_CHURN_SECONDS + 120)
        self.stop_ev.set()
        for t in self.threads:
            t.join(30)
        self.running = self.d.proc.poll() is None
        if self.running:
            settle(self.d, [GROUPS_BLOCK], 2)
        self.rc, _ = stop_daemon(self.d, timeout=20)

    def close(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(30)
        self.d.stop()
        shutil.rmtree(self.ackroot, ignore_errors=True)
        if os.environ.get("PIDIO_KEEP") is None:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print("kept " + self.work)


GROUPS_CHURN = []   # the running GroupsChurn, started by main()


def start_groups_churn():
    g = GroupsChurn()
    GROUPS_CHURN.append(g)
    try:
        g.start()
    except Exception as exc:  # test_groups_churn reports it
        g.error = "did not start: %s: %s" % (type(exc).__name__, exc)
        g.t0 = None
        print("groups churn " + g.error, flush=True)


def group_rows(d, blk):
    """{plugin instance: {type: rows}} of a block, its groups and other."""
    base = os.path.join(d.csvdir, d.hostname)
    out = {}
    for inst in os.listdir(base):
        if inst == "pidio-" + blk or inst.startswith("pidio-%s-" % blk):
            i = inst[len("pidio-"):]
            out[i] = {t: d.rows(i, t) for t in DERIVE_TYPES}
    return out


def test_groups_churn(work):
    """GroupBy comm, MaxGroups 3, over ten minutes of writers with names
    never seen before, read back from the csv files: at every read at most
    MaxGroups + 2 plugin instances of the block hold a value; the groups
    and other rise by exactly the block's rise in every field; no series
    goes down or reappears with a step; the block's wchar and syscw are
    exactly what the writers wrote; collectd's memory stays flat."""
    if not GROUPS_CHURN:
        start_groups_churn()
    g = GROUPS_CHURN[0]
    if g.t0 is None:
        R.check("groups churn: collectd and the workload started", False, str(g.error))
        return
    try:
        left = GROUPS_CHURN_SECONDS - (time.monotonic() - g.t0)
        print("groups churn: %.0f s of its %.0f s left after the other tests" % (max(0, left),
              GROUPS_CHURN_SECONDS), flush=True)
        g.finish()
        d = g.d
        R.check("groups churn: the workload ran without a hitch", g.error is None, str(g.error))
        R.check("groups churn: collectd ran throughout", g.running)
        R.equal("groups churn: collectd exits 0 on SIGTERM", g.rc, 0)
        log = d.log() + d.stdout()
        R.check("groups churn: no crash in the log", not crash_text(log), str(crash_text(log)[:5]))
        errs = [l for l in d.log().splitlines() if "[error]" in l]
        warns = [l for l in pidio_lines(d) if "[warning]" in l]
        R.check("groups churn: no error, no warning of pidio's", not errs and not warns,
                str((errs + warns)[:5]))
        # collectd's own, about the machine: a read held up past its interval.
        slow = [l for l in d.log().splitlines() if "above its read interval" in l]
        print("groups churn: reads that took longer than the interval: %d %s"
              % (len(slow), slow[:3]), flush=True)
        rows = group_rows(d, GROUPS_BLOCK)
    finally:
        g.close()
    blk = rows.pop(GROUPS_BLOCK)
    times = [r[0] for r in blk["io_octets"]]
    span = times[-1] - times[0] if times else 0
    print("groups churn: %d writers (%d paced), %d reads over %.0f s, %d groups had series"
          % (g.processes, g.hammers, len(times), span, len(rows) - 1), flush=True)
    R.check("groups churn: the block was read over the whole %.0f s" % GROUPS_CHURN_SECONDS,
            span >= GROUPS_CHURN_SECONDS, "%.0f s" % span)
    R.check("groups churn: names came and went (more than 20 groups had series)",
            len(rows) - 1 > 20, str(len(rows) - 1))
    R.equal("groups churn: the block's wchar, exactly what the writers wrote",
            blk["io_octets"][-1][2], g.wchar)
    R.equal("groups churn: the block's syscw, exactly", blk["io_ops"][-1][2], g.syscw)

    # Which read a row of a group belongs to. Each read dispatches the
    # block's values, then each slot holder's, then other's, once per read,
    # each stamped by the clock when dispatched: the block's k-th row and
    # other's k-th row are one read's, and a group's row is the read of
    # the other row nearest to it in time (dispatched microseconds after it
    # in the same read; reads are a second apart). Matching the groups'
    # rows to the block's rows by time failed in two of three runs: once
    # on a read held up for 2 s, once for a reason the run's csv files,
    # not kept, could no longer tell.
    holding = [1] * len(times)          # instances with a value at each read: the block
    problems = {t: [] for t in DERIVE_TYPES}
    other = GROUPS_BLOCK + "-other"
    for typ in DERIVE_TYPES:
        brows = blk[typ]
        at = [r[0] for r in rows[other][typ]]
        if len(at) != len(brows):
            problems[typ].append("%d rows of the block, %d of other" % (len(brows), len(at)))
            continue

        def read_of(t):
            k = bisect.bisect_left(at, t)
            return min((c for c in (k - 1, k) if 0 <= c < len(at)), key=lambda c: abs(at[c] - t))
        width = len(brows[0]) - 1
        rise = [[0] * width for _ in at]
        for inst, series in sorted(rows.items()):
            last, seen = None, set()
            for r in series[typ]:
                k = len(seen) if inst == other else read_of(r[0])
                if k in seen:
                    problems[typ].append("%s: two rows at read %d" % (inst, k))
                seen.add(k)
                before = last if last is not None else (0,) * width
                if last is None or k != last_k + 1:
                    if tuple(r[1:]) != tuple(before):
                        problems[typ].append("%s (re)appears at %r after %r" % (inst, r[1:], before))
                for j in range(width):
                    if r[j + 1] < before[j]:
                        problems[typ].append("%s goes down at read %d" % (inst, k))
                    rise[k][j] += r[j + 1] - before[j]
                last, last_k = tuple(r[1:]), k
            if typ == "io_octets":
                for k in seen:
                    holding[k] += 1
        prev = (0,) * width
        for k, r in enumerate(brows):
            want = [r[j + 1] - prev[j] for j in range(width)]
            if rise[k] != want:
                problems[typ].append("read %d: groups and other rose by %r, the block by %r"
                                     % (k, rise[k], want))
            prev = r[1:]
    for typ in DERIVE_TYPES:
        R.check("groups churn: %s: at every read the groups and other rise by the block's rise,"
                " every series monotonic, none reappears with a step" % typ,
                not problems[typ], "; ".join(problems[typ][:5]))
    most = max(holding)
    print("groups churn: instances holding a value per read: at most %d; reads at that: %d"
          % (most, holding.count(most)), flush=True)
    R.check("groups churn: at most MaxGroups + 2 = %d instances of the block at every read"
            % (GROUPS_MAX + 2), most <= GROUPS_MAX + 2, "seen %d" % most)
    R.check("groups churn: the slots were full at times (the bound was reached)",
            most == GROUPS_MAX + 2, "at most %d" % most)

    # Memory: flat after the warm-up.
    rss = g.rss
    print("groups churn: VmRSS KiB every 10 s: %s" % [x[1] for x in rss[::10]], flush=True)
    warm = [x for x in rss if x[0] <= GROUPS_CHURN_SECONDS / 4]
    late = [x for x in rss if x[0] > GROUPS_CHURN_SECONDS / 4]
    if len(warm) < 10 or len(late) < 30:
        R.check("groups churn: VmRSS sampled about every second", False,
                "%d and %d samples" % (len(warm), len(late)))
        return
    base = warm[-1][1]
    high = max(x[1] for x in late)
    new_high = max(0, max(x[2] for x in late) - max(x[2] for x in warm))
    allow = GROUPS_RSS_SLACK_KIB + RSS_PER_PROCESS_KIB * new_high
    after = g.processes - warm[-1][3]
    print("groups churn: VmRSS %d KiB after the warm-up, at most %d later (+%d); allowed +%d KiB "
          "(%d processes present beyond the warm-up's most), about %.0f bytes for each of the "
          "%.0f writers since" % (base, high, high - base, allow, new_high, allow * 1024.0 / max(1, after),
                                   after), flush=True)
    R.check("groups churn: VmRSS flat after the warm-up (within %d KiB)" % allow,
            high - base <= allow, "%d KiB then up to %d KiB" % (base, high))


def main():
    if os.geteuid() == 0 and os.environ.get("PIDIO_PIDNS") is None:
        # Alone in a pid namespace with a /proc of its own: pidio's memory
        # follows the processes present, and other work on this machine
        # (thousands of processes at a time) would move it. Inside, the
        # processes present are this test's, and the memory allowance can
        # be small enough to catch a leak of a few bytes per process.
        env = dict(os.environ, PIDIO_PIDNS="1")
        return subprocess.call(["unshare", "--pid", "--fork", "--mount-proc", sys.executable,
                                os.path.abspath(__file__)] + sys.argv[1:], env=env)
    tests = [test_procroot_missing, test_procroot_not_procfs, test_pidfiles, test_fd_exhausted, test_fd_none,
             test_sigterm_churn, test_unreadable_churn, test_churn, test_groups_churn]
    if os.environ.get("PIDIO_GROUPS_CHURN_APART") and not sys.argv[1:]:
        # ./contrib/check.sh runs test_groups_churn on its own, beside the
        # whole of make check (its ten minutes mostly wait), and judges it
        # there: here the rest.
        print("test_groups_churn: run apart by check.sh (PIDIO_GROUPS_CHURN_APART)", flush=True)
        tests.remove(test_groups_churn)
    # The ten minutes of GroupBy churn run beside the other tests (see
    # GroupsChurn); test_groups_churn, the last, judges them.
    elif (not sys.argv[1:] or "test_groups_churn" in sys.argv[1:]) and skip_reason() is None:
        start_groups_churn()
    try:
        return run_tests(tests, R, sys.argv[1:], timed=True)
    finally:
        for g in GROUPS_CHURN:
            g.close()


if __name__ == "__main__":
    sys.exit(main())
