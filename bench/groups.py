#!/usr/bin/env python3
"""pidio benchmark of GroupBy: CPU and memory of a block of every process
split by comm, next to the same block without GroupBy, with the real
collectd, for each reader.

For each process count (default 2000 and 10000) it starts that many idle
pidio-writer processes under 20 names (pidiog-00 ... pidiog-19) plus 4
writers at a steady pace, and measures in interleaved repeats (default 5),
the order rotating:
  baseline        collectd with the csv writer and no read plugin
  READER          the same plus pidio (Reader READER), one block
                  All true, Window 5
  READER+groups   the same block plus  GroupBy comm, MaxGroups 20
for each READER of --readers (default procfs,bpf). With --pairs a
reader's two blocks run at the same time and are measured over the same
window, so that both meet the same load from the rest of the machine
(others' processes coming and going change the cost of a block of every
process from one window to the next). Both blocks have the
same Window, so the block's own rate gauges are on both sides; what the
grouped side adds is GroupBy alone: the keys, the groups' accounting and
ranking, their rate windows, and dispatching their series (up to 21 more
plugin instances, 13 value lists each).

Each daemon is measured from its first values on (so the first interval,
which looks at every process once, and the loading of the BPF programs
are never in a window): after the block's first count-processes appears
in the csv files, a warm-up, then a window. CPU is read over the window:
  daemon   collectd's process CPU clock (all threads)
  reader   collectd's read threads ("reader#N", from each thread's
           schedstat): pidio's read callback, its plugin_dispatch_values
           calls included
  writer   collectd's write threads ("writer#N"): the value cache and the
           csv writer storing what was dispatched
With Interval 1, CPU per second is CPU per interval. Per process is
(kind - baseline) / the block's count-processes (every process of the
machine, the others' too). Memory per process is VmRSS (kind - baseline)
/ count-processes. Ratios grouped / plain are the median of the per-repeat
ratios (a repeat's two kinds ran back to back) and the ratio of the
medians. The report is Markdown on standard output.
"""
import argparse
import datetime
import os
import re
import shlex
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  bench/run.py: the herd, the measurement, collectd

from run import (Daemon, Herd, built, cpu_ns, loadavg, log, machine,  # noqa: E402
                 raise_nofile, status_kib, system_ticks, wait_for)

NAMES = ["pidiog-%02d" % i for i in range(20)]

BODY = """LoadPlugin pidio
<Plugin pidio>
  Reader "%s"
  <Process "bench">
    All true
    Window 5
%s  </Process>
</Plugin>
"""
GROUPED = "    GroupBy comm\n    MaxGroups 20\n"


def thread_cpu(pid):
    """CPU time in ns of collectd's threads by role: reader, writer, other
    (each thread's sum_exec_runtime, the first field of its schedstat)."""
    out = {"reader": 0, "writer": 0, "other": 0}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/comm" % (base, tid)) as f:
                name = f.read().strip()
            with open("%s/%s/schedstat" % (base, tid)) as f:
                ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended: collectd's are there for its life
        role = name.split("#")[0] if name.split("#")[0] in ("reader", "writer") else "other"
        out[role] += ns
    return out


def forks():
    """Processes created since boot (/proc/stat): others' churn in a window."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("processes "):
                return int(line.split()[1])
    return 0


def measure(pids, warmup, window):
    """CPU of each of pids over the same window, after warmup seconds."""
    time.sleep(warmup)
    t0, s0, f0 = time.monotonic(), system_ticks(), forks()
    c0 = [(cpu_ns(p), thread_cpu(p)) for p in pids]
    time.sleep(window)
    c1 = [(cpu_ns(p), thread_cpu(p)) for p in pids]
    t1, s1, f1 = time.monotonic(), system_ticks(), forks()
    wall = t1 - t0
    return [{
        "wall_s": wall,
        "cpu_ns_per_s": (b[0] - a[0]) / wall,
        "reader_ns_per_s": (b[1]["reader"] - a[1]["reader"]) / wall,
        "writer_ns_per_s": (b[1]["writer"] - a[1]["writer"]) / wall,
        "vmrss_kib": status_kib(p, "VmRSS"),
        "steal_pct": 100.0 * (s1[0] - s0[0]) / max(1, s1[1] - s0[1]),
        "forks_per_s": (f1 - f0) / wall,
    } for p, a, b in zip(pids, c0, c1)]


def one(kinds, args, root, n_run):
    """Run the daemons of kinds at the same time, measured over one window."""
    ds = []
    try:
        for kind in kinds:
            wd = os.path.join(root, "%03d-%s" % (n_run, kind.replace("+", "-")))
            os.makedirs(wd)
            if kind == "baseline":
                body = ""
            else:
                reader, _, grouped = kind.partition("+")
                body = BODY % (reader, GROUPED if grouped else "")
            ds.append(Daemon(wd, body, plugins=("csv", "logfile"), hostname="bench", interval=1))
            ds[-1].start()
        for kind, d in zip(kinds, ds):
            if kind != "baseline":
                # The first interval looks at every process: measure after it.
                wait_for(lambda: d.last("bench", "count-processes") is not None
                         or d.proc.poll() is not None, 120, "the block's first values")
        ms = measure([d.proc.pid for d in ds], args.warmup, args.measure)
        for kind, d, m in zip(kinds, ds, ms):
            if d.proc.poll() is not None:
                raise RuntimeError("collectd exited during the run:\n" + d.log())
            if kind != "baseline":
                m["members"] = d.last("bench", "count-processes")[1]
                m["unreadable"] = d.last("bench", "count-unreadable")[1]
                base = os.path.join(d.csvdir, "bench")
                m["instances"] = sum(1 for x in os.listdir(base) if x.startswith("pidio-bench"))
                m["held_io"] = run.held_io_fds(d.proc.pid)
            # Without the time stamp and the figures, so that one message
            # is listed once.
            m["trouble"] = [re.sub(r"[0-9]+", "N", re.sub(r"^\[[^]]*\] ", "", x))
                            for x in run.log_trouble(d)]
    finally:
        for d in ds:
            d.stop()
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2000,10000")
    ap.add_argument("--readers", default="procfs,bpf")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=2.0,
                    help="seconds after the block's first values")
    ap.add_argument("--measure", type=float, default=10.0)
    ap.add_argument("--pairs", action="store_true",
                    help="run a reader's block with and without GroupBy at the same time, "
                         "measured over the same window")
    args = ap.parse_args()
    reason = run.e2e_lib.skip_reason()
    if reason:
        log("cannot run: " + reason)
        return 77
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    readers = [x.strip() for x in args.readers.split(",") if x.strip()]
    nofile = raise_nofile(4 * max(sizes) + 4096)
    command = os.environ.get("PIDIO_BENCH_COMMAND", "").replace(' BENCH_GROUPS_ARGS=""', "") or " ".join(
        shlex.quote(x) for x in ["python3", "bench/groups.py"] + sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = loadavg()
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    root = tempfile.mkdtemp(prefix="pidiog-", dir=shm)
    herd = Herd(built("tests/pidio-writer"))
    kinds = ["baseline"] + [r + g for r in readers for g in ("", "+groups")]
    out = {}
    n_run = 0
    try:
        herd.add_writers(4, 1 << 20)
        for n in sizes:
            t = time.monotonic()
            for i, name in enumerate(NAMES):
                herd.grow(name, n // len(NAMES))
            log("%d idle processes under %d names ready in %.1f s" % (n, len(NAMES), time.monotonic() - t))
            res = {k: [] for k in kinds}
            # Each unit's daemons run at the same time (--pairs: a reader's
            # block with and without GroupBy), the units one after the other.
            units = [["baseline"]] + ([[r, r + "+groups"] for r in readers] if args.pairs
                                      else [[k] for k in kinds[1:]])
            for r in range(args.repeats):
                s = r % len(units)
                for u in units[s:] + units[:s]:
                    n_run += 1
                    for k, m in zip(u, one(u, args, root, n_run)):
                        res[k].append(m)
                        log("n=%d repeat %d %-14s daemon %7.3f reader %7.3f writer %6.3f ms CPU/s  "
                            "VmRSS %d KiB  steal %.0f%%  forks %.0f/s" % (
                                n, r + 1, k, m["cpu_ns_per_s"] / 1e6, m["reader_ns_per_s"] / 1e6,
                                m["writer_ns_per_s"] / 1e6, m["vmrss_kib"], m["steal_pct"],
                                m["forks_per_s"]))
            out[n] = res
    finally:
        herd.stop()
        os.system("rm -rf '%s'" % root)
    report(out, readers, args, command, started, load_start, loadavg(), nofile)
    return 0


def report(out, readers, args, command, started, load_start, load_end, nofile):
    med = statistics.median
    mach = machine()
    print("### Run of %s UTC\n" % started.strftime("%Y-%m-%d %H:%M"))
    print("- Command: `%s`" % command)
    print("- Machine: %d CPUs (%s), kernel %s; collectd %s; pidio tree %s" % (
        mach["nproc"], mach["cpu"], mach["kernel"], mach["collectd"], mach["tree"]))
    print("- Settings: Interval 1 s; warm-up %.0f s after the block's first values; window %.0f s; "
          "%d repeats, interleaved%s; RLIMIT_NOFILE %d (pidio holds at most %d io descriptors)" % (
              args.warmup, args.measure, args.repeats,
              "; each reader's two blocks at the same time (--pairs)" if args.pairs else
              "; every daemon alone", nofile, nofile // 2))
    print("- Load average at the start %s, at the end %s" % (load_start, load_end))
    allm = [m for res in out.values() for ms in res.values() for m in ms]
    print("- CPU steal during the windows: median %.0f%%, max %.0f%%; processes created on the "
          "machine during the windows (others' jobs): median %.0f/s, max %.0f/s\n" % (
              med(m["steal_pct"] for m in allm), max(m["steal_pct"] for m in allm),
              med(m["forks_per_s"] for m in allm), max(m["forks_per_s"] for m in allm)))
    print("CPU in µs per process per interval, over the baseline collectd (medians; the "
          "repeats in brackets): the whole daemon, and its read threads alone (pidio's read "
          "callback and its dispatch calls, without the value cache and the csv writer).\n")
    print("| processes | reader | block | matched | daemon µs/process | read threads µs/process "
          "| VmRSS over baseline, B/process | instances | io descriptors held |")
    print("|---|---|---|---:|---|---|---:|---:|---:|")
    ratios = []
    absolute = {}  # (reader kind, processes) -> (median VmRSS KiB, median members)
    for n, res in out.items():
        base = med(m["cpu_ns_per_s"] for m in res["baseline"])
        base_rd = med(m["reader_ns_per_s"] for m in res["baseline"])
        base_rss = med(m["vmrss_kib"] for m in res["baseline"])
        per = {}
        for r in readers:
            for k in (r, r + "+groups"):
                ms = res[k]
                members = med(m["members"] for m in ms)
                d = [(m["cpu_ns_per_s"] - base) / m["members"] / 1000 for m in ms]
                rd = [(m["reader_ns_per_s"] - base_rd) / m["members"] / 1000 for m in ms]
                per[k] = (d, rd)
                rss = (med(m["vmrss_kib"] for m in ms) - base_rss) * 1024 / members
                absolute[(k, n)] = (med(m["vmrss_kib"] for m in ms), members)
                print("| %d | %s | %s | %d | %.2f (%s) | %.2f (%s) | %.0f | %d | %s |" % (
                    n, r, "All true" + (" + GroupBy comm" if k.endswith("groups") else ""),
                    members, med(d), ", ".join("%.2f" % x for x in d),
                    med(rd), ", ".join("%.2f" % x for x in rd), rss,
                    max(m["instances"] for m in ms),
                    "-" if r == "bpf" else "%d" % med(m["held_io"] for m in ms)))
            g, p = per[r + "+groups"], per[r]
            ratios.append((n, r, med(g[0]) / med(p[0]), med(a / b for a, b in zip(g[0], p[0])),
                           med(g[1]) / med(p[1]), med(a / b for a, b in zip(g[1], p[1])),
                           med(g[0]), med(g[1])))
    print("\n| processes | reader | grouped / plain, daemon: median of per-repeat ratios "
          "(ratio of medians) | grouped / plain, read threads: the same |")
    print("|---|---|---|---|")
    for n, r, dm, dr, rm, rr, _, _ in ratios:
        print("| %d | %s | %.2fx (%.2fx) | %.2fx (%.2fx) |" % (n, r, dr, dm, rr, rm))
    # What each process more costs: the slope between two sizes, without what
    # a block costs whatever its processes (the BPF reader's ring buffer and
    # maps, collectd's own growth with a read plugin).
    sizes = sorted(out)
    if len(sizes) > 1:
        print("\nMemory per added process (VmRSS, the slope from one size to the next; "
              "what does not grow with the processes is left out):\n")
        print("| reader | block | from | to | B per added process | fixed part, KiB |")
        print("|---|---|---:|---:|---:|---:|")
        for r in readers:
            for k in (r, r + "+groups"):
                for a, b in zip(sizes, sizes[1:]):
                    (ra, ma), (rb, mb) = absolute[(k, a)], absolute[(k, b)]
                    if mb == ma:
                        continue
                    slope = (rb - ra) * 1024 / (mb - ma)
                    base_rss = med(m["vmrss_kib"] for m in out[a]["baseline"])
                    fixed = ra - base_rss - slope * ma / 1024
                    print("| %s | %s | %d | %d | %.0f | %.0f |" % (
                        r, "All true" + (" + GroupBy comm" if k.endswith("groups") else ""),
                        ma, mb, slope, fixed))
    trouble = sorted({t for res in out.values() for ms in res.values() for m in ms
                      for t in m.get("trouble", [])})
    if trouble:
        print("\ncollectd logged warnings or errors:\n\n```")
        for t in trouble:
            print(t)
        print("```")
    return ratios


if __name__ == "__main__":
    sys.exit(main())
