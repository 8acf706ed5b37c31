#!/usr/bin/env python3
"""pidio benchmark of GroupBy: CPU and memory of a block of every process
split by comm, next to the same block without GroupBy, with the real
collectd.

For each process count (default 2000 and 10000) it starts that many idle
pidio-writer processes under 20 names (pidiog-00 ... pidiog-19) plus 4
writers at a steady pace, and measures in interleaved repeats (default 3):
  baseline  collectd with the csv writer and no read plugin
  all       the same plus pidio, one block  All true
  grouped   the same block with  GroupBy comm  (MaxGroups 20, Window 5)
CPU is collectd's process CPU clock over a window after a warm-up
(bench/run.py's measure), with Interval 1: CPU per second is CPU per
interval. Per process is (kind - baseline) / the block's count-processes
(every process of the machine, the others' too). Memory per process is
VmRSS (kind - baseline) / count-processes. The report is Markdown.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  bench/run.py: the herd, the measurement, collectd

from run import Daemon, Herd, built, log, measure, raise_nofile  # noqa: E402

NAMES = ["pidiog-%02d" % i for i in range(20)]

ALL_BODY = """LoadPlugin pidio
<Plugin pidio>
  <Process "bench">
    All true
%s  </Process>
</Plugin>
"""
GROUPED = "    GroupBy comm\n    MaxGroups 20\n    Window 5\n"


def one(kind, args, root, n_run):
    wd = os.path.join(root, "%03d-%s" % (n_run, kind))
    os.makedirs(wd)
    body = "" if kind == "baseline" else ALL_BODY % (GROUPED if kind == "grouped" else "")
    d = Daemon(wd, body, plugins=("csv", "logfile"), hostname="bench", interval=1)
    d.start()
    try:
        m = measure(d.proc.pid, args.warmup, args.measure)
        if d.proc.poll() is not None:
            raise RuntimeError("collectd exited during the run:\n" + d.log())
        if kind != "baseline":
            m["members"] = d.last("bench", "count-processes")[1]
            m["unreadable"] = d.last("bench", "count-unreadable")[1]
            base = os.path.join(d.csvdir, "bench")
            m["instances"] = sum(1 for x in os.listdir(base) if x.startswith("pidio-bench"))
    finally:
        d.stop()
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2000,10000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--measure", type=float, default=10.0)
    args = ap.parse_args()
    reason = run.e2e_lib.skip_reason()
    if reason:
        log("cannot run: " + reason)
        return 77
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    raise_nofile(4 * max(sizes) + 4096)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    root = tempfile.mkdtemp(prefix="pidiog-", dir=shm)
    herd = Herd(built("tests/pidio-writer"))
    kinds = ["baseline", "all", "grouped"]
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
            for r in range(args.repeats):
                for k in kinds[r % 3:] + kinds[:r % 3]:
                    n_run += 1
                    m = one(k, args, root, n_run)
                    res[k].append(m)
                    log("n=%d repeat %d %-8s %8.3f ms CPU/s  VmRSS %d KiB  steal %.0f%%" % (
                        n, r + 1, k, m["cpu_ns_per_s"] / 1e6, m["vmrss_kib"], m["steal_pct"]))
            out[n] = res
    finally:
        herd.stop()
        os.system("rm -rf '%s'" % root)

    med = statistics.median
    print("| processes | block | CPU µs / process / interval | grouped / all | VmRSS over baseline, bytes / process | instances |")
    print("|---|---|---|---|---|---|")
    for n, res in out.items():
        base = med(m["cpu_ns_per_s"] for m in res["baseline"])
        base_rss = med(m["vmrss_kib"] for m in res["baseline"])
        per = {}
        for k in ("all", "grouped"):
            members = med(m["members"] for m in res[k])
            per[k] = (med(m["cpu_ns_per_s"] for m in res[k]) - base) / members / 1000
            rss = (med(m["vmrss_kib"] for m in res[k]) - base_rss) * 1024 / members
            inst = max(m["instances"] for m in res[k])
            print("| %d (%d matched) | %s | %.2f | %s | %.0f | %d |" % (
                n, members, "All true" + (" + GroupBy comm" if k == "grouped" else ""), per[k],
                "%.2fx" % (per[k] / per["all"]) if k == "grouped" else "", rss, inst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
