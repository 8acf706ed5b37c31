#!/usr/bin/env python3
"""pidio benchmark: CPU and memory of reading /proc/<pid>/io of many
processes with the real collectd, next to the stock processes plugin and
the system-call floor.

One run does, for each process count (default 200, 2000, 10000):
  * start that many idle `pidio-writer --idle --comm pidiobench` processes,
    plus a few writers (same name) that write to /dev/null at a steady pace;
  * at the main count (--n, default 2000), in interleaved repeats (5):
      baseline   collectd with the csv writer and no read plugin
      pidio      the same collectd plus pidio, one block  Name "pidiobench"
      processes  the same collectd plus the stock processes plugin,
                 ProcessMatch "bench" "pidiobench" (optional extras off)
      floor      bench/floor: pread every held /proc/<pid>/io each second
      floor-list the same plus opendir+getdents of /proc each second
  * at the other counts: pidio and floor only, 3 repeats (for linearity);
  * at the largest count: 10 processes named "pidiosparse" among the
    others, read by a pidio block Name "pidiosparse", against floor --list
    (opendir+getdents of /proc each second plus 10 preads).
CPU is the whole process's (collectd's or the floor's), read from its
process CPU clock (clock_gettime on the pid's CPU-time clock, in ns) over
a window after a warm-up; collectd runs with Interval 1, so CPU per second
is CPU per interval. pidio's and processes' figures are that minus the
baseline collectd's (median of the repeats).
The report is Markdown on standard output (and in --out FILE).
"""
import argparse
import datetime
import json
import os
import re
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import e2e_lib  # noqa: E402
from e2e_lib import Daemon, built, wait_for  # noqa: E402

NAME = "pidiobench"
SPARSE_NAME = "pidiosparse"
SPARSE_COUNT = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# --- measuring a process ---------------------------------------------------

def cpu_ns(pid):
    """Whole-process CPU time (all threads, live and exited) in ns: the
    process's CPU-time clock, MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)."""
    return time.clock_gettime_ns(((~pid) << 3) | 2)


def stat_ticks(pid):
    """utime + stime from /proc/<pid>/stat, in clock ticks (a cross-check)."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def held_io_fds(pid):
    """How many of the process's descriptors are /proc/<pid>/io files."""
    n = 0
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            if re.fullmatch(r"/proc/\d+/io", os.readlink(os.path.join(d, fd))):
                n += 1
        except OSError:
            pass
    return n


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def system_ticks():
    """(steal, all) clock ticks of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[7] if len(v) > 7 else 0, sum(v[:8])


def log_trouble(daemon):
    """The lines of a collectd's log that carry a warning or an error."""
    return [l for l in daemon.log().splitlines()
            if "error" in l.lower() or "warn" in l.lower()]


def measure(pid, warmup, window):
    """CPU of pid over `window` seconds after `warmup` seconds."""
    time.sleep(warmup)
    t0, c0, k0, s0 = time.monotonic(), cpu_ns(pid), stat_ticks(pid), system_ticks()
    time.sleep(window)
    t1, c1, k1, s1 = time.monotonic(), cpu_ns(pid), stat_ticks(pid), system_ticks()
    wall = t1 - t0
    return {
        "wall_s": wall,
        "cpu_ns_per_s": (c1 - c0) / wall,
        "ticks_ns_per_s": (k1 - k0) * 1e9 / CLK_TCK / wall,
        "vmrss_kib": status_kib(pid, "VmRSS"),
        "rssanon_kib": status_kib(pid, "RssAnon"),
        "held_io": held_io_fds(pid),
        # On a virtual machine: the share of time the host gave the CPUs to
        # someone else. High steal comes with slow, noisy measurements.
        "steal_pct": 100.0 * (s1[0] - s0[0]) / max(1, s1[1] - s0[1]),
    }


def slab_freed(stop):
    """How much unreclaimable kernel slab stop() gives back, in KiB: what
    the process held in the kernel (a held io descriptor keeps a file and
    its seq_file buffer). System-wide, so only roughly right on a busy
    machine; read over a short span to keep it as clean as can be."""
    before = meminfo_kib("SUnreclaim")
    stop()
    time.sleep(0.5)  # files are freed after an RCU grace period
    return before - meminfo_kib("SUnreclaim")


# --- the processes being read ----------------------------------------------

class Herd:
    """Idle pidio-writer processes, by name, and a few paced writers."""

    def __init__(self, writer):
        self.writer = writer
        self.idle = {}
        self.writers = []

    def grow(self, name, n):
        pids = self.idle.setdefault(name, [])
        argv = [self.writer, "--idle", "--comm", name]
        while len(pids) < n:
            pids.append(os.posix_spawn(self.writer, argv, os.environ))
        self.wait_named(name, pids)

    def add_writers(self, n, rate):
        for _ in range(n):
            p = subprocess.Popen([self.writer, "--comm", NAME], stdin=subprocess.PIPE)
            self.writers.append(p)
            # Write `rate` bytes per second to /dev/null, 4 KiB a call, for a day.
            p.stdin.write(b"pace %d 86400 4096\n" % rate)
            p.stdin.flush()
        self.wait_named(NAME, [p.pid for p in self.writers])

    @staticmethod
    def wait_named(name, pids):
        def named():
            for pid in pids:
                try:
                    with open("/proc/%d/comm" % pid) as f:
                        if f.read().strip() != name:
                            return False
                except OSError:
                    raise RuntimeError("process %d exited" % pid)
            return True
        wait_for(named, 120, "%d processes named %s" % (len(pids), name), step=0.2)

    def pids(self, name):
        out = list(self.idle.get(name, []))
        if name == NAME:
            out += [p.pid for p in self.writers]
        return out

    def stop(self):
        for pids in self.idle.values():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.writers:
            if p.poll() is None:
                p.kill()
        for pids in self.idle.values():
            for pid in pids:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        for p in self.writers:
            p.wait()
        self.idle = {}
        self.writers = []


# --- the things measured ---------------------------------------------------

PIDIO_BODY = """LoadPlugin pidio
<Plugin pidio>
  Reader "%s"
  <Process "bench">
    Name "%s"
  </Process>
</Plugin>
"""

# ProcessMatch on the command line, as the processes plugin is usually set
# up for a group. The optional extras are spelled out as off, which is also
# collectd 5.12's default: per process it reads stat, status and cmdline,
# and io for those matched.
PROCESSES_BODY = """<Plugin processes>
  CollectFileDescriptor false
  CollectMemoryMaps false
  CollectContextSwitch false
  ProcessMatch "bench" "%s"
</Plugin>
"""


class Bench:
    def __init__(self, args, workroot):
        self.args = args
        self.root = workroot
        self.runs = 0
        self.active = None  # the Daemon or floor process being measured
        self.log_errors = set()
        self.floor = built("bench/floor")

    def workdir(self, kind):
        self.runs += 1
        d = os.path.join(self.root, "%03d-%s" % (self.runs, kind))
        os.makedirs(d)
        return d

    def collectd(self, kind, body, plugins, window, expect=None):
        d = Daemon(self.workdir(kind), body, plugins=plugins, hostname="bench", interval=1,
                   plugin_so=self.args.plugin)
        self.active = d
        d.start()
        try:
            m = measure(d.proc.pid, self.args.warmup, window)
            if d.proc.poll() is not None:
                raise RuntimeError("collectd exited during the run:\n" + d.log())
            self.log_errors.update(l.split("] ", 1)[-1] for l in log_trouble(d))
            if expect is not None:
                m["reported"] = self.reported(d, kind)
            m["slab_kib"] = slab_freed(d.stop)
        finally:
            d.stop()
            self.active = None
        return m

    @staticmethod
    def reported(d, kind):
        """How many processes the plugin says it read, and whether the
        writers' output shows."""
        if kind.startswith("pidio"):
            cnt = d.last("bench", "count-processes")
            unread = d.last("bench", "count-unreadable")
            octets = d.last("bench", "io_octets")
            return {"count": cnt and cnt[1], "unreadable": unread and unread[1],
                    "wchar": octets and octets[2]}
        cnt = d.last("bench", "ps_count", plugin="processes")
        octets = d.last("bench", "io_octets", plugin="processes")
        return {"count": cnt and cnt[1], "wchar": octets and octets[2]}

    def run_floor(self, kind, pids, window, listing=False):
        wd = self.workdir(kind)
        pidfile = os.path.join(wd, "pids")
        with open(pidfile, "w") as f:
            f.write("".join("%d\n" % p for p in pids))
        cmd = [self.floor] + (["--list"] if listing else []) + [pidfile]
        with open(os.path.join(wd, "stderr.log"), "w+") as err:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
            self.active = p
            try:
                line = p.stdout.readline().split()
                if line[:1] != ["ready"] or int(line[1]) != len(pids):
                    raise RuntimeError("floor did not start: %r" % line)
                m = measure(p.pid, self.args.warmup, window)

                def stop():
                    p.send_signal(signal.SIGTERM)
                    p.wait(30)
                m["slab_kib"] = slab_freed(stop)
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
                self.active = None
            err.seek(0)
            summary = err.read().strip()
        got = re.search(r"(\d+) failed reads", summary)
        if p.returncode != 0 or got is None or int(got.group(1)) != 0:
            raise RuntimeError("floor failed: %s" % summary)
        m["summary"] = summary
        return m

    def one(self, kind, herd):
        """One measurement of one kind at the current herd."""
        a = self.args
        if kind == "baseline":
            return self.collectd(kind, "", ("csv", "logfile"), a.measure)
        if kind == "pidio":
            return self.collectd(kind, PIDIO_BODY % (a.reader, NAME), ("csv", "logfile"), a.measure,
                                 expect=True)
        if kind == "processes":
            return self.collectd(kind, PROCESSES_BODY % NAME, ("csv", "logfile", "processes"),
                                 a.measure, expect=True)
        if kind == "floor":
            return self.run_floor(kind, herd.pids(NAME), a.measure)
        if kind == "floor-list":
            return self.run_floor(kind, herd.pids(NAME), a.measure, listing=True)
        if kind == "pidio-sparse":
            return self.collectd(kind, PIDIO_BODY % (a.reader, SPARSE_NAME), ("csv", "logfile"),
                                 a.sparse_measure, expect=True)
        if kind == "list-floor":
            return self.run_floor(kind, herd.pids(SPARSE_NAME), a.measure, listing=True)
        raise ValueError(kind)

    def series(self, kinds, herd, label, repeats, budget):
        """Every kind, `repeats` times, interleaved, the order rotating.
        Windows with too much CPU steal are measured again while `budget`
        (seconds) lasts: each series has its own, so that a stormy start
        does not leave the main comparison without any."""
        out = {k: [] for k in kinds}
        for r in range(repeats):
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
            for k in order:
                t = time.monotonic()
                m = self.one(k, herd)
                m["took_s"] = time.monotonic() - t
                attempts = 1
                # A window in which the host took much of the CPUs away is
                # measured again (a rule on steal, never on the figure).
                while m["steal_pct"] > self.args.max_steal and budget >= m["took_s"]:
                    budget -= m["took_s"]
                    log("%s %s: %.0f%% CPU steal in the window, measuring again" % (
                        label, k, m["steal_pct"]))
                    t2 = time.monotonic()
                    m = self.one(k, herd)
                    m["took_s"] = time.monotonic() - t2
                    attempts += 1
                m["attempts"] = attempts
                out[k].append(m)
                log("%s repeat %d/%d %-12s %8.3f ms CPU/s  (%.0f s, steal %.0f%%)" % (
                    label, r + 1, repeats, k, m["cpu_ns_per_s"] / 1e6,
                    time.monotonic() - t, m["steal_pct"]))
        return out


# --- the report --------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_list(xs, f="%.2f"):
    return ", ".join(f % x for x in xs)


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    src = os.environ.get("PIDIO_SRCDIR", os.path.dirname(HERE))
    return {
        "nproc": os.cpu_count(),
        "kernel": os.uname().release,
        "cpu": model,
        "collectd": sh(["dpkg-query", "-W", "-f", "${Version}", "collectd-core"]),
        "tree": sh(["git", "-C", src, "describe", "--always", "--dirty"]),
        "mem_total_kib": meminfo_kib("MemTotal"),
        "collectd_bin": e2e_lib.COLLECTD,
    }


def report(res, args, meta):
    info, nofile = meta["machine"], meta["nofile"]
    L = []
    p = L.append
    main_n = args.n
    w = args.writers
    base = res["main"]["baseline"]
    base_cpu = med([m["cpu_ns_per_s"] for m in base])
    base_rss = med([m["vmrss_kib"] for m in base])
    base_anon = med([m["rssanon_kib"] for m in base])
    base_slab = med([m["slab_kib"] for m in base])
    targets = []

    def per_proc(ms, matched, sub=True):
        return [((m["cpu_ns_per_s"] - (base_cpu if sub else 0)) / 1e3) / matched for m in ms]

    p("## Run of %s" % meta["started"])
    p("")
    p("- Command: `%s`" % meta["command"])
    p("- Machine: %s CPUs (%s), kernel %s, %.1f GiB RAM; collectd %s; pidio tree %s" % (
        info["nproc"], info["cpu"], info["kernel"], info["mem_total_kib"] / 1048576.0,
        info["collectd"], info["tree"]))
    p("- pidio's Reader: %s" % meta.get("reader", "procfs"))
    if info.get("collectd_bin", "/usr/sbin/collectd") != "/usr/sbin/collectd":
        p("- collectd run as %s (not the plain daemon: the figures include that wrapper)"
          % info["collectd_bin"])
    p("- Settings: Interval 1 s; warm-up %g s; window %g s (sparse pidio %g s); repeats, "
      "interleaved: %d for the main comparison, %d for the other counts and the sparse case; "
      "%d writers at %d B/s each; RLIMIT_NOFILE %d for collectd and the floor "
      "(pidio may hold %d io descriptors)" % (
          args.warmup, args.measure, args.sparse_measure, args.repeats,
          getattr(args, "other_repeats", args.repeats), w, args.rate,
          nofile, nofile // 2))
    p("- Whole run: %.1f min; load average at the start %s, at the end %s (a shared machine: "
      "other people's jobs ran meanwhile)" % (meta["elapsed_s"] / 60, meta.get("load_start", "?"),
                                             meta.get("load_end", "?")))
    p("")
    matched = main_n + w
    mres = res["main"]
    pid_pp = per_proc(mres["pidio"], matched)
    pro_pp = per_proc(mres["processes"], matched)
    flo_pp = per_proc(mres["floor"], matched, sub=False)
    fll_pp = per_proc(mres.get("floor-list", []), matched, sub=False)
    p("### %d idle processes + %d writers (%d matched)" % (main_n, w, matched))
    p("")
    p("CPU per interval (1 s); pidio and processes: collectd minus the baseline collectd.")
    p("")
    p("| run | CPU per interval (median) | µs per matched process (median) | repeats (µs/process) |")
    p("|---|---:|---:|---|")
    p("| baseline collectd (csv, no read plugin) | %.3f ms | – | %s ms |" % (
        base_cpu / 1e6, fmt_list([m["cpu_ns_per_s"] / 1e6 for m in base], "%.3f")))
    for label, ms, pp in (("pidio", mres["pidio"], pid_pp),
                          ("processes plugin", mres["processes"], pro_pp),
                          ("pread floor (bench/floor)", mres["floor"], flo_pp),
                          ("pread + listing floor (bench/floor --list)", mres.get("floor-list", []),
                           fll_pp)):
        if not ms:
            continue
        p("| %s | %.2f ms | %.2f | %s |" % (label, med(pp) * matched / 1e3, med(pp), fmt_list(pp)))
    ratio_pp = [b / a for a, b in zip(pid_pp, pro_pp)]
    ratio_pf = [a / b for a, b in zip(pid_pp, flo_pp)]
    p("")
    p("- processes / pidio: **%.1fx** median of the per-repeat ratios (%s); ratio of the medians "
      "%.1fx" % (med(ratio_pp), fmt_list(ratio_pp, "%.1f"), med(pro_pp) / med(pid_pp)))
    p("- pidio / pread floor: **%.2fx** median of the per-repeat ratios (%s); ratio of the "
      "medians %.2fx" % (med(ratio_pf), fmt_list(ratio_pf), med(pid_pp) / med(flo_pp)))
    if fll_pp:
        ratio_pl = [a / b for a, b in zip(pid_pp, fll_pp)]
        p("- pidio / (pread + listing) floor: **%.2fx** (per repeat: %s); listing /proc alone: "
          "about %.2f µs per matched process" % (
              med(ratio_pl), fmt_list(ratio_pl), med(fll_pp) - med(flo_pp)))
    checks = []
    for k in ("pidio", "processes"):
        for m in mres[k]:
            r = m.get("reported", {})
            checks.append("%s %s" % (k, r.get("count")))
    held = [m["held_io"] for m in mres["pidio"]]
    steal = [m["steal_pct"] for ms in mres.values() for m in ms if "steal_pct" in m]
    limit = getattr(args, "max_steal", None)
    if steal and limit is not None:
        def quiet(k, sub=True):
            return [v for v, m in zip(per_proc(mres[k], matched, sub), mres[k])
                    if m["steal_pct"] <= limit]
        q = {k: quiet(k, k in ("pidio", "processes")) for k in mres if k != "baseline"}
        if all(q.get(k) for k in ("pidio", "processes", "floor")):
            p("- Only the windows with at most %g%% CPU steal: pidio %.2f µs (%d windows), "
              "processes %.2f µs (%d), pread floor %.2f µs (%d)%s; processes / pidio **%.1fx**, "
              "pidio / pread floor **%.2fx** (ratios of the medians)" % (
                  limit, med(q["pidio"]), len(q["pidio"]), med(q["processes"]),
                  len(q["processes"]), med(q["floor"]), len(q["floor"]),
                  (", pread + listing floor %.2f µs (%d)" % (med(q["floor-list"]), len(q["floor-list"]))
                   if q.get("floor-list") else ""),
                  med(q["processes"]) / med(q["pidio"]), med(q["pidio"]) / med(q["floor"])))
    if steal:
        again = sum(m.get("attempts", 1) - 1 for ms in mres.values() for m in ms)
        p("- CPU steal (the host running other guests) during these windows: median %.0f%%, "
          "max %.0f%%; windows measured again for steal above %g%%: %d" % (
              med(steal), max(steal), getattr(args, "max_steal", 0), again))
    p("- Processes each plugin reported (count-processes / ps_count), per run: %s; "
      "io descriptors pidio held: %s" % (", ".join(checks), fmt_list(held, "%d")))
    wrong = [m.get("reported", {}).get("count") for k in ("pidio", "processes") for m in mres[k]
             if m.get("reported", {}).get("count") != matched]
    if wrong:
        p("- **Warning**: a plugin reported another number of processes than %d (%s): "
          "the per-process figures are not what they say" % (matched, fmt_list(wrong, "%s")))
    tick = [m["ticks_ns_per_s"] / 1e6 for m in mres["pidio"]]
    p("- Cross-check, pidio collectd's utime+stime from /proc/<pid>/stat: %s ms/s "
      "(the CPU clock gave %s)" % (fmt_list(tick), fmt_list([m["cpu_ns_per_s"] / 1e6 for m in mres["pidio"]])))
    rss = [(m["vmrss_kib"] - base_rss) * 1024.0 / matched for m in mres["pidio"]]
    anon = [(m["rssanon_kib"] - base_anon) * 1024.0 / matched for m in mres["pidio"]]
    p("- Memory: collectd VmRSS with pidio %s KiB, baseline %s KiB: **%.0f bytes per tracked "
      "process** (RssAnon: %.0f bytes)" % (
          fmt_list([m["vmrss_kib"] for m in mres["pidio"]], "%d"),
          fmt_list([m["vmrss_kib"] for m in base], "%d"), med(rss), med(anon)))
    slab = [(m["slab_kib"] - base_slab) * 1024.0 / matched for m in mres["pidio"]]
    fslab = [m["slab_kib"] * 1024.0 / matched for m in mres["floor"]]
    p("- Kernel memory (not in VmRSS; unreclaimable slab the system got back when the process "
      "exited, system-wide so noisy): about %.0f bytes per tracked process with pidio (per "
      "repeat: %s), %.0f with the floor: each held io descriptor keeps a file and its seq_file "
      "buffer" % (
          med(slab), fmt_list(slab, "%.0f"), med(fslab)))
    p("")
    targets.append(("<= 5 µs CPU per matched process per interval at %d" % main_n,
                    "%.2f µs" % med(pid_pp), med(pid_pp) <= 5.0))
    targets.append((">= 10x less than the processes plugin", "%.1fx" % med(ratio_pp), med(ratio_pp) >= 10.0))
    targets.append(("<= 2x the pread floor", "%.2fx" % med(ratio_pf), med(ratio_pf) <= 2.0))
    targets.append(("<= 1 KiB per tracked process (VmRSS)", "%.0f B" % med(rss), med(rss) <= 1024.0))

    # Linearity
    sizes = sorted(res["sizes"])
    if len(sizes) > 1:
        p("### Scaling (pidio and the floor at each count)")
        p("")
        p("| idle processes | matched | pidio CPU per interval | pidio µs/process | floor µs/process "
          "| pidio/floor | pidio memory per process | io descriptors held |")
        p("|---:|---:|---:|---:|---:|---:|---:|---:|")
        cost = {}
        for n in sizes:
            r = res["sizes"][n]
            mt = n + w
            pp = per_proc(r["pidio"], mt)
            fp = per_proc(r["floor"], mt, sub=False)
            mem = [(m["vmrss_kib"] - base_rss) * 1024.0 / mt for m in r["pidio"]]
            cost[n] = med(pp) * mt  # µs per interval
            p("| %d | %d | %.2f ms | %.2f (%s) | %.2f (%s) | %.2fx | %.0f B | %s |" % (
                n, mt, cost[n] / 1e3, med(pp), fmt_list(pp), med(fp), fmt_list(fp),
                med([a / b for a, b in zip(pp, fp)]), med(mem),
                fmt_list([m["held_io"] for m in r["pidio"]], "%d")))
        p("")
        slopes = []
        for a, b in zip(sizes, sizes[1:]):
            s = (cost[b] - cost[a]) / (b - a)
            slopes.append(s)
            p("- Marginal cost %d -> %d: %.2f µs per added process" % (a, b, s))
        lin = max(slopes) / min(slopes) if min(slopes) > 0 else float("inf")
        p("- Largest / smallest marginal cost: %.2f (1.00 = perfectly linear)" % lin)
        p("")
        targets.append(("linear across %s" % "/".join(str(n) for n in sizes),
                        "marginal %s µs/process" % fmt_list(slopes), lin <= 1.25))

    if "sparse" in res:
        s = res["sparse"]
        others = max(sizes)
        sp = [m["cpu_ns_per_s"] - base_cpu for m in s["pidio-sparse"]]
        lf = [m["cpu_ns_per_s"] for m in s["list-floor"]]
        ratio = med(sp) / med(lf)
        p("### %d matched among %d others (%d idle, %d writers, the rest the system's)" % (
            SPARSE_COUNT, s["others"], others, w))
        p("")
        p("| run | CPU per interval (median) | repeats |")
        p("|---|---:|---|")
        held = ("so each holds one 60 s re-check of the non-members" if args.sparse_measure >= 60
                else "too short to hold a 60 s re-check of the non-members")
        p("| pidio, Name \"%s\" (minus baseline; %g s windows, %s) | %.2f ms | %s ms |" % (
            SPARSE_NAME, args.sparse_measure, held, med(sp) / 1e6,
                                                        fmt_list([x / 1e6 for x in sp], "%.2f")))
        p("| floor --list: opendir+getdents of /proc and %d preads each second | %.2f ms | %s ms |" % (
            SPARSE_COUNT, med(lf) / 1e6, fmt_list([x / 1e6 for x in lf], "%.2f")))
        p("")
        p("- pidio / listing /proc: **%.2fx**; counted by pidio: %s" % (
            ratio, ", ".join(str(m.get("reported", {}).get("count")) for m in s["pidio-sparse"])))
        p("")
        targets.append(("%d among %d: little more than listing /proc (<= 1.5x)" % (SPARSE_COUNT, others),
                        "%.2fx" % ratio, ratio <= 1.5))

    p("### Targets")
    p("")
    p("| target | measured | met |")
    p("|---|---|---|")
    for t, v, ok in targets:
        p("| %s | %s | %s |" % (t, v, "yes" if ok else "**no**"))
    p("")
    errs = sorted(res.get("log_errors", []))
    if errs:
        p("collectd logged warnings or errors:")
        p("")
        p("```")
        L.extend(errs[:20])
        p("```")
    return "\n".join(L) + "\n"


# --- main ------------------------------------------------------------------

def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000,
                    help="idle processes for the main comparison (e.g. 200, 2000, 10000)")
    ap.add_argument("--sizes", default="200,2000,10000",
                    help="counts for the linearity check, comma-separated ('' for none)")
    ap.add_argument("--no-sparse", action="store_true", help="skip the 10-among-many case")
    ap.add_argument("--writers", type=int, default=4, help="processes writing at a steady pace")
    ap.add_argument("--rate", type=int, default=1 << 20, help="bytes per second per writer")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the main comparison")
    ap.add_argument("--other-repeats", type=int, default=3,
                    help="repeats at the other counts and of the sparse case")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before each window")
    ap.add_argument("--measure", type=float, default=10.0, help="window, seconds")
    ap.add_argument("--sparse-measure", type=float, default=60.0,
                    help="window of the sparse pidio runs: 60 s holds exactly one re-check "
                         "of the non-members")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 1 repeat, short windows, main count only")
    ap.add_argument("--max-steal", type=float, default=5.0,
                    help="measure a window again when the host stole more than this %% of CPU")
    ap.add_argument("--retry-budget", type=float, default=150.0,
                    help="seconds the main comparison may spend on such repeats; "
                         "the other counts and the sparse case get a third of it each")
    ap.add_argument("--plugin", help="the pidio.so to measure (default: the one built here)")
    ap.add_argument("--reader", default="procfs", choices=("procfs", "bpf", "auto"),
                    help="pidio's Reader option (default procfs)")
    ap.add_argument("--out", help="also write the Markdown report here")
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--report-from", metavar="JSON",
                    help="measure nothing: print the report of a run saved with --json")
    a = ap.parse_args()
    if a.quick:
        a.repeats, a.other_repeats, a.warmup, a.measure, a.sparse_measure = 1, 1, 2.0, 5.0, 10.0
        a.retry_budget = 0.0
        a.sizes = ""
    a.size_list = sorted({a.n} | {int(x) for x in a.sizes.split(",") if x.strip()})
    return a


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = int(f.read())
    want = min(max(soft, need), nr_open)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
        except (ValueError, OSError):
            # No CAP_SYS_RESOURCE: as far as the hard limit goes.
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def report_from(path):
    with open(path) as f:
        saved = json.load(f)
    res = saved["results"]
    res["sizes"] = {int(k): v for k, v in res["sizes"].items()}
    args = argparse.Namespace(**saved["args"])
    sys.stdout.write(report(res, args, saved["meta"]))
    return 0


def main():
    args = parse_args()
    if args.report_from:
        return report_from(args.report_from)
    reason = e2e_lib.skip_reason()
    if reason:
        log("cannot run: " + reason)
        return 77
    started = datetime.datetime.now().astimezone()
    load_start = loadavg()
    t_start = time.monotonic()
    command = os.environ.get("PIDIO_BENCH_COMMAND", "").replace(' BENCH_ARGS=""', "") or " ".join(
        shlex.quote(x) for x in ["python3", "bench/run.py"] + sys.argv[1:])
    # pidio holds one io descriptor per process up to half the soft limit
    # (pidio_fdbudget_take): collectd inherits this limit, room for all of them.
    biggest = max(args.size_list) + args.writers + SPARSE_COUNT
    nofile = raise_nofile(4 * biggest + 4096)
    if nofile // 2 < biggest:
        log("RLIMIT_NOFILE is only %d (hard limit): pidio holds at most %d io descriptors "
            "and opens the others each interval" % (nofile, nofile // 2))

    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    workroot = tempfile.mkdtemp(prefix="pidiob-", dir=shm)
    herd = Herd(built("tests/pidio-writer"))
    bench = Bench(args, workroot)

    def on_signal(sig, frame):
        raise SystemExit(128 + sig)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    res = {"sizes": {}}
    try:
        herd.add_writers(args.writers, args.rate)
        for n in args.size_list:
            t = time.monotonic()
            herd.grow(NAME, n)
            log("%d idle processes named %s (+%d writers) ready in %.1f s" % (
                n, NAME, args.writers, time.monotonic() - t))
            if n == args.n:
                r = bench.series(["baseline", "pidio", "processes", "floor", "floor-list"], herd,
                                 "n=%d" % n, args.repeats, args.retry_budget)
                res["main"] = r
            else:
                r = bench.series(["pidio", "floor"], herd, "n=%d" % n, args.other_repeats,
                                 args.retry_budget / 3)
            res["sizes"][n] = {"pidio": r["pidio"], "floor": r["floor"]}
        if not args.no_sparse:
            herd.grow(SPARSE_NAME, SPARSE_COUNT)
            res["sparse"] = bench.series(["pidio-sparse", "list-floor"], herd, "sparse",
                                         args.other_repeats, args.retry_budget / 3)
            res["sparse"]["others"] = sum(1 for e in os.listdir("/proc") if e.isdigit()) - SPARSE_COUNT
    finally:
        if bench.active is not None:
            if isinstance(bench.active, Daemon):
                bench.active.stop()
            elif bench.active.poll() is None:
                bench.active.kill()
                bench.active.wait()
        herd.stop()
        if not os.environ.get("PIDIO_BENCH_KEEP"):
            subprocess.run(["rm", "-rf", workroot])
        else:
            log("kept " + workroot)

    res["log_errors"] = sorted(bench.log_errors)
    meta = {"machine": machine(), "started": started.strftime("%Y-%m-%d %H:%M %Z").strip(),
            "elapsed_s": time.monotonic() - t_start, "nofile": nofile, "command": command,
            "load_start": load_start, "load_end": loadavg(), "plugin": args.plugin,
            "reader": args.reader}
    text = report(res, args, meta)
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "args": vars(args), "results": res}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
