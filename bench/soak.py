#!/usr/bin/env python3
"""pidio soak: collectd's memory with pidio over a long run with churn.

Starts N idle `pidio-writer --idle --comm pidiobench` processes and a few
paced writers, then runs the real collectd (Interval 1, csv writer) with one
pidio block `Name "pidiobench"` and `Window 5`, while a churn of processes
of the same name comes and goes (--churn new ones a second, each killed
after --churn-life seconds, so that members join, leave and pids are
reused). Every --sample seconds it records collectd's VmRSS and RssAnon
(from /proc/<pid>/status), the io descriptors it holds and the processes
pidio last counted. The report gives the memory after the warm-up, at the
end, the largest, and the least-squares slope in KiB per hour from the end
of the warm-up on: memory that is flat has a slope near 0.

Usage: make soak [SOAK_ARGS="--minutes 30"]  (root, collectd-core)
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import e2e_lib  # noqa: E402
from e2e_lib import Daemon, built  # noqa: E402
from run import (NAME, Herd, held_io_fds, loadavg, log, log_trouble, raise_nofile,  # noqa: E402
                 status_kib)

BODY = """LoadPlugin pidio
<Plugin pidio>
  <Process "bench">
    Name "%s"
    Window 5
  </Process>
</Plugin>
""" % NAME


def slope_per_hour(points):
    """Least-squares slope of (seconds, KiB) points, in KiB per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return 0.0
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return sxy / sxx * 3600.0


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="idle processes")
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--rate", type=int, default=1048576, help="bytes/s per writer")
    ap.add_argument("--churn", type=int, default=20, help="new processes a second")
    ap.add_argument("--churn-life", type=float, default=10.0, help="seconds each lives")
    ap.add_argument("--minutes", type=float, default=30.0, help="length of the run")
    ap.add_argument("--warmup", type=float, default=120.0, help="seconds before the baseline")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--out", help="also write the report here")
    return ap.parse_args()


def main():
    a = parse_args()
    reason = e2e_lib.skip_reason()
    if reason:
        log("cannot run: " + reason)
        return 77
    live = int(a.churn * a.churn_life)
    raise_nofile(4 * (a.n + a.writers + live) + 4096)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = loadavg()
    work = tempfile.mkdtemp(prefix="pidios-")
    writer = built("tests/pidio-writer")
    herd = Herd(writer)
    churn = []  # (spawned at, pid)
    spawned = 0
    d = None
    samples = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        herd.add_writers(a.writers, a.rate)
        herd.grow(NAME, a.n)
        log("%d idle processes + %d writers ready; churn %d a second, %g s each"
            % (a.n, a.writers, a.churn, a.churn_life))
        # An idle collectd with the same writers, for pidio's share of VmRSS.
        b = Daemon(os.path.join(work, "baseline"), "", plugins=("csv", "logfile"),
                   hostname="bench", interval=1)
        b.start()
        try:
            time.sleep(5)
            base_rss = status_kib(b.proc.pid, "VmRSS")
        finally:
            b.stop()
        d = Daemon(os.path.join(work, "collectd"), BODY, plugins=("csv", "logfile"),
                   hostname="bench", interval=1)
        d.start()
        t0 = time.monotonic()
        next_sample = t0 + a.sample
        next_churn = t0
        argv = [writer, "--idle", "--comm", NAME]
        while not stop and time.monotonic() - t0 < a.minutes * 60:
            now = time.monotonic()
            if now >= next_churn:
                for _ in range(a.churn):
                    churn.append((now, os.posix_spawn(writer, argv, os.environ)))
                    spawned += 1
                while churn and now - churn[0][0] >= a.churn_life:
                    pid = churn.pop(0)[1]
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                next_churn += 1.0
            if now >= next_sample:
                if d.proc.poll() is not None:
                    raise RuntimeError("collectd exited:\n" + d.log())
                pid = d.proc.pid
                cnt = d.last("bench", "count-processes")
                samples.append({
                    "t": now - t0,
                    "rss": status_kib(pid, "VmRSS"),
                    "anon": status_kib(pid, "RssAnon"),
                    "fds": held_io_fds(pid),
                    "count": cnt and cnt[1],
                })
                next_sample += a.sample
            time.sleep(max(0.0, min(next_churn, next_sample) - time.monotonic()))
        errors = log_trouble(d)
    finally:
        if d is not None:
            d.stop()
        for _, pid in churn:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        herd.stop()
        subprocess.run(["rm", "-rf", work])

    after = [s for s in samples if s["t"] >= a.warmup]
    if not after:
        log("the run was shorter than the warm-up: nothing to report")
        return 1
    base, end = after[0], after[-1]
    tracked = a.n + a.writers + live
    L = []
    p = L.append
    p("## Soak of %s" % started)
    p("")
    p("- Command: `%s`" % (os.environ.get("PIDIO_SOAK_COMMAND") or
                           " ".join(["python3", "bench/soak.py"] + sys.argv[1:])))
    p("- %d idle processes and %d writers named %s, plus a churn of %d new ones a second "
      "living %g s each (about %d alive at a time, %d spawned in all); collectd Interval 1, "
      "one block Name \"%s\" with Window 5; %.0f min, sampled every %g s, warm-up %g s"
      % (a.n, a.writers, NAME, a.churn, a.churn_life, live, spawned, NAME,
         samples[-1]["t"] / 60, a.sample, a.warmup))
    p("- Load average at the start %s, at the end %s" % (load_start, loadavg()))
    p("")
    p("| minute | VmRSS KiB | RssAnon KiB | io descriptors held | count-processes |")
    p("|---:|---:|---:|---:|---:|")
    step = max(1, int(round(300 / a.sample)))  # a row every 5 minutes
    rows = samples[::step]
    if rows[-1] is not samples[-1]:
        rows.append(samples[-1])
    for s in rows:
        p("| %.1f | %d | %d | %d | %s |" % (s["t"] / 60, s["rss"], s["anon"], s["fds"],
                                             "%.0f" % s["count"] if s["count"] else "-"))
    p("")
    p("- VmRSS after the warm-up %d KiB, at the end %d KiB, largest %d KiB; slope %+.1f KiB "
      "per hour (RssAnon %+.1f KiB per hour) over %d samples"
      % (base["rss"], end["rss"], max(s["rss"] for s in after),
         slope_per_hour([(s["t"], s["rss"]) for s in after]),
         slope_per_hour([(s["t"], s["anon"]) for s in after]), len(after)))
    half = [s for s in after if s["t"] >= (after[0]["t"] + after[-1]["t"]) / 2]
    p("- Second half of the run alone: VmRSS from %d to %d KiB, slope %+.1f KiB per hour"
      % (half[0]["rss"], half[-1]["rss"], slope_per_hour([(s["t"], s["rss"]) for s in half])))
    members = end["count"] or tracked
    p("- An idle collectd with the same writers: %d KiB; pidio's share at the end, per "
      "member (%d): %.0f bytes" % (base_rss, members, (end["rss"] - base_rss) * 1024.0 / members))
    p("- collectd log lines with warning or error: %d%s" % (
        len(errors), "" if not errors else "\n\n```\n%s\n```" % "\n".join(errors[:10])))
    text = "\n".join(L) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
