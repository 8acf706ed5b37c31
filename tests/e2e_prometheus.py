#!/usr/bin/env python3
"""End-to-end test of the Prometheus pipeline: collectd with pidio and
write_prometheus on loopback, scraped every second by a real Prometheus
server (Debian's `prometheus`), and the values read back through
Prometheus' HTTP query API.

  test_prometheus  the exact counters, the pidio_rate gauges, count-*,
                   the metric and label names, a PerProcess series of an
                   exited process going stale, a GroupBy block's group
                   series and "other" exact and adding up to the block
                   at every scrape, the README's queries and
                   every query of contrib/grafana-prometheus.json run
                   against what was stored
  test_dashboard   every query of contrib/grafana-prometheus.json parsed
                   by Prometheus' own parser (promtool check rules)

Everything listens on 127.0.0.1 on ports chosen at run time, in temporary
directories, and is stopped by the test, also on failure. Exit 77
(skipped) where it cannot run: not root, or the packages are missing.
Name tests as arguments to run only those.
"""
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_lib import (SRCDIR, STOCK_PLUGINS, Daemon, Results, Writer, run_names,  # noqa: E402
                     run_tests, wait_for)
from e2e_pipelines import (RATE_FIELDS, SHUTDOWN_NOTICE, Service, accepts,  # noqa: E402
                           fill, free_port, poll)

R = Results()
PROMETHEUS = os.environ.get("PROMETHEUS", "prometheus")
PROMTOOL = os.environ.get("PROMTOOL", "promtool")
DASHBOARD = os.path.join(SRCDIR, "contrib", "grafana-prometheus.json")

HOST = "sender1"        # the sender's Hostname: the instance label
BLOCK = "prom"         # a Pid block with Window 3: counters and rates
SHORT = "short"        # a Pid block with PerProcess: its writer exits
N = 1000000            # bytes written while collectd watches
CHUNK = 1000           # in write(2) calls of this size
BEFORE = 777777        # written before collectd starts: must not count
M = 300000             # bytes the short-lived writer writes
WINDOW = 3
ARRIVAL = 30           # seconds the first value may take to reach Prometheus
MORE = 10              # seconds for each value that follows
STALE = 30             # seconds an exited process's series may stay
GROUPS = "host"        # a GroupBy comm block of two writers (the README's name)
TAG = run_names("pidioe2e-prom")   # the writers' tag, selecting them
# The writers' comms and the bytes each writes once its group has series.
GROUP_WRITES = [(run_names("pidioe2e-p%s" % x), n) for x, n in (("a", 300000), ("b", 100000))]
FIRST = 1000           # the first write of each, made as its group gets series
MAX_GROUPS = 2         # a slot for each writer
COUNTERS = ["collectd_pidio_io_octets_rx_total", "collectd_pidio_io_octets_tx_total",
            "collectd_pidio_io_ops_read_total", "collectd_pidio_io_ops_write_total",
            "collectd_pidio_disk_octets_read_total", "collectd_pidio_disk_octets_write_total",
            "collectd_pidio_total_bytes_total"]

# The metric families write_prometheus makes of pidio's series: collectd_,
# the plugin, the type, the data source unless it is "value", and _total
# for counters (DERIVE).
METRICS = sorted([
    "collectd_pidio_io_octets_rx_total", "collectd_pidio_io_octets_tx_total",
    "collectd_pidio_io_ops_read_total", "collectd_pidio_io_ops_write_total",
    "collectd_pidio_disk_octets_read_total", "collectd_pidio_disk_octets_write_total",
    "collectd_pidio_total_bytes_total", "collectd_pidio_count", "collectd_pidio_pidio_rate"])

# write_prometheus of Debian's collectd 5.12 logs this at [error] level each
# time it starts, with libmicrohttpd 0.9.75: only the order of options it
# hands the library, harmless (the README says so).
MHD_NOTICE = "MHD_OPTION_EXTERNAL_LOGGER is not the first option"


def log_problems(d):
    """collectd's [error] and [warning] lines but the two known harmless
    ones."""
    return [line for line in d.log().splitlines()
            if ("[error]" in line or "[warning]" in line)
            and SHUTDOWN_NOTICE not in line and MHD_NOTICE not in line]


# The same target scraped with Prometheus' defaults (honor_labels false,
# honor_timestamps true): what an operator gets without the README's two
# settings.
DEFAULTS_JOB = """  - job_name: defaults
    static_configs:
      - targets: ["127.0.0.1:%d"]
"""


class Prometheus(Service):
    """A Prometheus server with a private config and storage directory,
    its web API on 127.0.0.1."""

    def __init__(self, work, target_port, extra_jobs=""):
        self.target = target_port
        self.dir = os.path.join(work, "prometheus")
        os.makedirs(self.dir)
        self.port = free_port()
        conf = fill("prometheus.yml.in", os.path.join(self.dir, "prometheus.yml"),
                    target_port=target_port, extra_jobs=extra_jobs)
        Service.__init__(self, "prometheus", [
            PROMETHEUS, "--config.file=" + conf,
            "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
            "--web.listen-address=127.0.0.1:%d" % self.port,
            "--log.level=warn"], work)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self):
        return Service.start(self, lambda: accepts(self.port) and self.get("/-/ready") is not None)

    def get(self, path):
        """The body of a GET, or None when the server does not answer 200."""
        try:
            with self.opener.open("http://127.0.0.1:%d%s" % (self.port, path), timeout=10) as r:
                return r.read()
        except OSError:
            return None

    def api(self, path, **params):
        """An API call: (status, data or error text)."""
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (self.port, path,
                                                      urllib.parse.urlencode(params, doseq=True))
        try:
            with self.opener.open(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.load(e)
        if body.get("status") != "success":
            return "error", "%s: %s" % (body.get("errorType"), body.get("error"))
        return "success", body["data"]

    def query(self, expr):
        """An instant query's vector: [(labels, value string)]; raises on
        an error (a query that does not parse)."""
        status, data = self.api("query", query=expr)
        if status != "success":
            raise AssertionError("Prometheus: %s: %s" % (expr, data))
        if data["resultType"] == "scalar":
            return [({}, data["result"][1])]
        return [(r["metric"], r["value"][1]) for r in data["result"]]

    def value(self, expr):
        """The one value an instant query returns, as a float, or None."""
        try:
            res = self.query(expr)
        except (AssertionError, OSError):
            return None
        return float(res[0][1]) if len(res) == 1 else None

    def samples(self, selector, seconds):
        """The raw samples of one series over the last seconds:
        [(time, float)], oldest first."""
        status, data = self.api("query", query="%s[%ds]" % (selector, seconds))
        if status != "success" or len(data["result"]) != 1:
            return []
        return [(float(t), float(v)) for t, v in data["result"][0]["values"]]

    def names(self):
        status, data = self.api("label/__name__/values")
        return sorted(data) if status == "success" else []

    def stop(self, grace=15):
        Service.stop(self, grace)


def prometheus_block(writer, short):
    return """LoadPlugin pidio
<Plugin pidio>
  <Process "%s">
    Pid %d
    Window %d
  </Process>
  <Process "%s">
    Pid %d
    PerProcess true
  </Process>
  <Process "%s">
    CommandLine "--tag %s$"
    GroupBy comm
    MaxGroups %d
    RankBy wchar
  </Process>
</Plugin>
""" % (BLOCK, writer.pid, WINDOW, SHORT, short.pid, GROUPS, TAG, MAX_GROUPS)


def sender(work, writer, short, port):
    d = Daemon(os.path.join(work, "sender"), """LoadPlugin write_prometheus
<Plugin write_prometheus>
  Host "127.0.0.1"
  Port "%d"
</Plugin>
""" % port + prometheus_block(writer, short), plugins=("csv", "logfile"), hostname=HOST)
    shutil.copy(os.path.join(STOCK_PLUGINS, "write_prometheus.so"), d.plugdir)
    return d


def sel(metric, job="pidio", pidio=BLOCK, **labels):
    labels = dict(labels, job=job, pidio=pidio)
    return "%s{%s}" % (metric, ",".join('%s="%s"' % kv for kv in sorted(labels.items())))


def check_rates(prom):
    """pidio_rate of the Window 3 block: exactly 0 before the burst and
    after it left the window; while it is in the window, wchar's rate is
    exactly CHUNK times syscw's (both are the counter's growth over the same
    elapsed time, and the writer wrote N bytes in N / CHUNK calls); the
    elapsed time it implies is the window's three intervals."""
    def series(field):
        # The defaults job keeps collectd's own timestamps: one sample per
        # read, at the time it was dispatched.
        return prom.samples(sel("collectd_pidio_pidio_rate", job="defaults", type=field), 120)
    wchar, syscw = series("wchar"), series("syscw")
    nonzero = [(t, v) for t, v in wchar if v != 0]
    before = [v for t, v in wchar if nonzero and t < nonzero[0][0]]
    R.check("prometheus: pidio_rate wchar was exactly 0 before the burst",
            bool(before) and all(v == 0 for v in before), str(wchar))
    R.check("prometheus: pidio_rate wchar is exactly 0 once the burst left the window",
            bool(wchar) and wchar[-1][1] == 0, str(wchar[-5:]))
    # Prometheus keeps a sample per scrape: a read between two scrapes may
    # be missing, so count at most: the burst is in WINDOW reads' windows,
    # or WINDOW + 1 when a read came in the middle of it.
    R.check("prometheus: the burst is in at most %d reads' windows" % (WINDOW + 1),
            1 <= len(nonzero) <= WINDOW + 1, str(nonzero))
    pairs = []
    for t, v in nonzero:
        match = [s for u, s in syscw if abs(u - t) < 0.1]
        if match:
            pairs.append((v, match[0]))
    R.check("prometheus: pidio_rate wchar = %d x syscw, exactly, in every window holding the burst" % CHUNK,
            bool(pairs) and all(s > 0 and abs(v / s - CHUNK) <= CHUNK * 1e-12 for v, s in pairs), str(pairs))
    # A window that holds the whole burst has rate N / elapsed, elapsed
    # being the window's WINDOW intervals by the plugin's clock; one that
    # holds part of it has less.
    implied = sorted(N / v for _, v in nonzero)
    R.check("prometheus: N / the highest pidio_rate wchar is the window's %d s (within 0.5 s)" % WINDOW,
            bool(implied) and abs(implied[0] - WINDOW) < 0.5, str(implied))


def group_values(prom, metric, **labels):
    """{pidio: value} of the GroupBy block's own series, its groups' and
    other's, as the pidio job last scraped them."""
    labels = dict(labels, job="pidio")
    res = prom.query('%s{%s,pidio=~"%s(-.+)?"}' % (
        metric, ",".join('%s="%s"' % kv for kv in sorted(labels.items())), GROUPS))
    return {m["pidio"]: float(v) for m, v in res if m.get("instance") == HOST}


def check_groups(prom):
    """The group series of GROUPS, from what the writers wrote: each group
    exactly its writer's bytes written once it had series, other exactly
    the first writes (made in the interval each group got its series), the
    block all of it; and, for every counter, the groups plus other equal
    the block at every read Prometheus holds."""
    total = sum(n for _, n in GROUP_WRITES) + FIRST * len(GROUP_WRITES)
    want = dict(("%s-%s" % (GROUPS, c), float(n)) for c, n in GROUP_WRITES)
    want.update({"%s-other" % GROUPS: float(FIRST * len(GROUP_WRITES)), GROUPS: float(total)})
    R.equal("prometheus: each group's io_octets_tx is its writer's bytes, other the first writes, "
            "the block all of them",
            poll(lambda: group_values(prom, "collectd_pidio_io_octets_tx_total"), want, MORE), want)
    want = dict(("%s-%s" % (GROUPS, c), float(n // CHUNK)) for c, n in GROUP_WRITES)
    want.update({"%s-other" % GROUPS: float(len(GROUP_WRITES)), GROUPS: float(total // CHUNK)})
    R.equal("prometheus: each group's io_ops_write is its writer's write() calls",
            poll(lambda: group_values(prom, "collectd_pidio_io_ops_write_total"), want, MORE), want)
    want = dict(("%s-%s" % (GROUPS, c), 1.0) for c, _ in GROUP_WRITES)
    want.update({"%s-other" % GROUPS: 0.0, GROUPS: float(len(GROUP_WRITES))})
    R.equal("prometheus: count-processes of each group, other and the block",
            group_values(prom, "collectd_pidio_count", type="processes"), want)
    R.equal("prometheus: at most MaxGroups + 2 instances of the block",
            len(group_values(prom, "collectd_pidio_count", type="processes")), MAX_GROUPS + 2)

    # Conservation, read by read: the defaults job keeps collectd's own
    # timestamps, one sample per read and series. One read dispatches the
    # block, its groups and other within milliseconds, reads are an
    # interval apart: a sample of a group belongs to the block's read
    # nearest in time (a read a scrape missed for one of them is left out).
    groups = ["%s-%s" % (GROUPS, c) for c, _ in GROUP_WRITES] + ["%s-other" % GROUPS]
    for metric in COUNTERS:
        labels = {"type": "cancelled_write_bytes"} if metric == "collectd_pidio_total_bytes_total" else {}
        block = prom.samples(sel(metric, job="defaults", pidio=GROUPS, **labels), 120)
        parts = [prom.samples(sel(metric, job="defaults", pidio=g, **labels), 120) for g in groups]
        reads, bad = 0, []
        for t, v in block:
            near = [[u for s, u in p if abs(s - t) < 0.3] for p in parts]
            if any(len(n) != 1 for n in near):
                continue
            reads += 1
            if sum(n[0] for n in near) != v:
                bad.append((t, v, [n[0] for n in near]))
        R.check("prometheus: %s: groups + other = the block, exactly, at each of %d reads (at least 5)"
                % (metric, reads), reads >= 5 and not bad, str(bad[:5]))


def check_names(prom):
    got = [n for n in prom.names() if n.startswith("collectd_pidio_")]
    R.equal("prometheus: metric names collectd_pidio_<type>[_<ds>][_total]", got, METRICS)
    status, data = prom.api("series", **{"match[]": '{job="pidio",pidio="%s"}' % BLOCK})
    keys = sorted(set(tuple(sorted(s)) for s in data)) if status == "success" else data
    R.equal("prometheus: labels: pidio = plugin instance, type = type instance, instance = host",
            keys, [("__name__", "instance", "job", "pidio"), ("__name__", "instance", "job", "pidio", "type")])
    R.equal("prometheus: instance is collectd's Hostname with honor_labels",
            sorted(set(s["instance"] for s in data)) if status == "success" else data, [HOST])
    types = sorted(s.get("type") for s in data if s["__name__"] == "collectd_pidio_pidio_rate") \
        if status == "success" else data
    R.equal("prometheus: pidio_rate has type = each field", types, sorted(RATE_FIELDS))
    # Without honor_labels Prometheus keeps its own instance (the target)
    # and renames collectd's to exported_instance.
    res = prom.query(sel("collectd_pidio_io_octets_tx_total", job="defaults"))
    R.equal("prometheus: with the default honor_labels false, the host is exported_instance",
            [(m.get("instance"), m.get("exported_instance")) for m, _ in res],
            [("127.0.0.1:%d" % prom.target, HOST)])


# The README's queries, word for word.
README_BLOCK_RATE = "sum by (instance, pidio) (rate(collectd_pidio_io_octets_tx_total[5m]))"
README_TOPK = ('topk(5, sum by (instance, pidio) (rate(collectd_pidio_disk_octets_write_total'
               '{pidio=~"host-.+",pidio!="host-other"}[5m])))')
README_PROCESSES = 'collectd_pidio_count{type="processes"}'
README_UNREADABLE = 'collectd_pidio_count{type="unreadable"} > 0'
README_WINDOWED = 'collectd_pidio_pidio_rate{type="write_bytes"}'


def readme_queries(prom):
    """The queries the README gives, run against what was stored (both
    jobs scrape the one target: the pidio job's series have
    instance=HOST)."""
    def ours(expr):
        return {m["pidio"]: float(v) for m, v in prom.query(expr) if m.get("instance") == HOST}
    with open(os.path.join(SRCDIR, "README.md")) as f:
        readme = f.read()
    for q in (README_BLOCK_RATE, README_TOPK, README_PROCESSES, README_UNREADABLE, README_WINDOWED):
        R.check("prometheus: the README gives %s word for word" % q, q in readme)
    got = ours(README_BLOCK_RATE)
    R.check("prometheus: README 'bytes/s per block' has a series per block, %s's above 0" % BLOCK,
            set(got) >= {BLOCK, SHORT} and got[BLOCK] > 0, str(got))
    # The README's top 5 groups by write() (its query is by storage
    # writes, which these writers to /dev/null do not cause): the groups of
    # GROUPS, busiest first, neither the block nor other.
    res = prom.query(README_TOPK.replace("disk_octets_write", "io_octets_tx"))
    # (Both jobs scrape the one target: four series, so all of them are
    # in the top 5; the pidio job's have instance=HOST.)
    ranked = [m.get("pidio") for m, v in sorted(res, key=lambda r: -float(r[1])) if m.get("instance") == HOST]
    R.equal("prometheus: top 5 groups by bytes written: the writers' groups, the busiest first",
            ranked, ["%s-%s" % (GROUPS, c) for c, _ in sorted(GROUP_WRITES, key=lambda x: -x[1])])
    res = prom.query(README_TOPK)
    R.equal("prometheus: README 'top 5 groups by disk writes' answers the groups of %s" % GROUPS,
            sorted(m.get("pidio") for m, _ in res if m.get("instance") == HOST),
            sorted("%s-%s" % (GROUPS, c) for c, _ in GROUP_WRITES))
    want = {BLOCK: 1.0, SHORT: 0.0, GROUPS: float(len(GROUP_WRITES)), GROUPS + "-other": 0.0}
    want.update(("%s-%s" % (GROUPS, c), 1.0) for c, _ in GROUP_WRITES)
    R.equal("prometheus: README 'processes matched'", ours(README_PROCESSES), want)
    R.equal("prometheus: README 'figures left incomplete': none", ours(README_UNREADABLE), {})
    R.equal("prometheus: README windowed gauge: write_bytes of each block",
            sorted(ours(README_WINDOWED)), [BLOCK])


def test_prometheus(work):
    """pidio -> write_prometheus -> a real Prometheus scraping every
    second: the exact counters, rates, counts, names, staleness."""
    with contextlib.ExitStack() as stack:
        port = free_port()
        prom = Prometheus(work, port, DEFAULTS_JOB % port)
        stack.callback(prom.stop)
        prom.start()
        w = Writer(work)
        stack.callback(w.stop)
        w.send("write %d %d" % (BEFORE, CHUNK))
        short = Writer(work)
        stack.callback(short.stop)
        gws = [Writer(work, comm=c, tag=TAG) for c, _ in GROUP_WRITES]
        for g in gws:
            stack.callback(g.stop)
        d = sender(work, w, short, port)
        stack.callback(d.stop)
        d.start()
        # The window is full (WINDOW intervals) before the burst, so every
        # rate that holds it spans the whole window; and Prometheus, which
        # starts scraping a few seconds after it starts, has scraped both
        # jobs twice, so it holds samples from before the burst.
        wait_for(lambda: len(d.rows(BLOCK, "io_octets")) >= WINDOW + 2, 20, "a full window of reads")
        wait_for(lambda: all(len(prom.samples(sel("collectd_pidio_io_octets_tx_total", job=j), 60)) >= 2
                             for j in ("pidio", "defaults")), ARRIVAL, "Prometheus to scrape collectd")
        # A first write gets each group its series (that write is in
        # other); the known writes follow once both have them.
        for g in gws:
            g.send("write %d %d" % (FIRST, CHUNK))
        wait_for(lambda: all(len(d.rows("%s-%s" % (GROUPS, c), "io_octets")) >= 2 for c, _ in GROUP_WRITES),
                 20, "the groups' series")
        for g, (_, n) in zip(gws, GROUP_WRITES):
            g.send("write %d %d" % (n, CHUNK))
        short.send("write %d %d" % (M, CHUNK))
        w.send("write %d %d" % (N, CHUNK))
        R.equal("sender: pidio read wchar",
                poll(lambda: (d.last(BLOCK, "io_octets") or (0, 0, None))[2], N, 15), N)

        tx = sel("collectd_pidio_io_octets_tx_total")
        R.equal("prometheus: %s is the bytes written after start" % tx,
                poll(lambda: prom.value(tx), N, ARRIVAL), N)
        for metric, labels, value in (
                ("collectd_pidio_io_ops_write_total", {}, N // CHUNK),
                ("collectd_pidio_disk_octets_write_total", {}, 0),
                ("collectd_pidio_total_bytes_total", {"type": "cancelled_write_bytes"}, 0),
                ("collectd_pidio_count", {"type": "processes"}, 1),
                ("collectd_pidio_count", {"type": "unreadable"}, 0)):
            s = sel(metric, **labels)
            R.equal("prometheus: %s" % s, poll(lambda: prom.value(s), value, MORE), value)
        # rchar: the writer read its commands from its stdin after start.
        rx = prom.value(sel("collectd_pidio_io_octets_rx_total"))
        R.check("prometheus: io_octets rx counts the writer's commands read", rx is not None and rx > 0, str(rx))

        # The PerProcess series of the short-lived writer, then its exit.
        member = "%s-%d" % (SHORT, short.pid)
        stx = sel("collectd_pidio_io_octets_tx_total", pidio=member)
        R.equal("prometheus: PerProcess %s" % stx, poll(lambda: prom.value(stx), M, MORE), M)
        R.equal("prometheus: the block %s holds its member's bytes" % SHORT,
                poll(lambda: prom.value(sel("collectd_pidio_io_octets_tx_total", pidio=SHORT)), M, MORE), M)
        short.stop()
        gone = time.monotonic()
        left = poll(lambda: prom.query('{job="pidio",pidio="%s"}' % member), [], STALE, step=0.5)
        R.equal("prometheus: the exited process's series are stale (absent from an instant query)", left, [])
        print("   %s stale in Prometheus %.1f s after its exit" % (member, time.monotonic() - gone), flush=True)
        R.equal("prometheus: its block keeps the bytes and counts 0 processes",
                (prom.value(sel("collectd_pidio_io_octets_tx_total", pidio=SHORT)),
                 poll(lambda: prom.value(sel("collectd_pidio_count", pidio=SHORT, type="processes")), 0, MORE)),
                (M, 0))
        # With the defaults, Prometheus keeps collectd's timestamps and
        # then never marks the series stale: it stays in instant queries
        # for the lookback delta (5 minutes).
        R.check("prometheus: with honor_timestamps true, the exited process's series is still there",
                len(prom.query('{job="defaults",pidio="%s"}' % member)) > 0)

        # The burst leaves the rate window after WINDOW more reads.
        rate = sel("collectd_pidio_pidio_rate", job="defaults", type="wchar")
        R.equal("prometheus: pidio_rate wchar back to 0", poll(lambda: prom.value(rate), 0, MORE + WINDOW), 0)
        time.sleep(1.5)
        check_rates(prom)
        check_names(prom)
        check_groups(prom)
        readme_queries(prom)
        dashboard_queries(prom)
        d.stop()
        bad = log_problems(d)
        R.check("prometheus: no error or warning in collectd's log", not bad, "\n".join(bad[-10:]))
        R.check("prometheus: no error in Prometheus' log", "level=error" not in prom.log(), prom.log()[-2000:])


# ------------------------------------------------------------ dashboard

GRAFANA_VARS = (("$__rate_interval", "1m"), ("$__interval", "1s"), ("$__range", "5m"))


def dashboard_exprs():
    """(where, PromQL) of every query in the dashboard: panel targets and
    the variables' label_values() selectors."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append(("panel %r" % p["title"], t["expr"]))
    for v in dash["templating"]["list"]:
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
        if m is None:
            raise AssertionError("variable %s: not label_values(SELECTOR, LABEL): %r" % (v["name"], q))
        out.append(("variable %s" % v["name"], m.group(1)))
    return out


def substitute(expr, host, block):
    """Grafana's variables filled in as Grafana does (multi-value variables
    as a regex alternation)."""
    for k, v in GRAFANA_VARS:
        expr = expr.replace(k, v)
    return expr.replace("$host", host).replace("$block", block).replace("$groups", GROUPS)


def dashboard_queries(prom):
    """Every dashboard query runs on the stored data and returns series
    whose metric names the pipeline stored."""
    seen = set(prom.names())
    for where, expr in dashboard_exprs():
        q = substitute(expr, HOST, "%s|%s" % (BLOCK, SHORT))
        try:
            res = prom.query(q)
        except AssertionError as e:
            R.check("dashboard: %s runs" % where, False, str(e))
            continue
        names = set(re.findall(r"\b(collectd_\w+)", expr))
        R.check("dashboard: %s runs, returns series and names stored metrics" % where,
                bool(res) and names and names <= seen, "%s -> %s (names %s)" % (q, res[:3], names - seen))
        if "$groups" in expr:
            R.equal("dashboard: %s answers the groups of %s" % (where, GROUPS),
                    sorted(m.get("pidio") for m, _ in res if m.get("instance") == HOST),
                    sorted("%s-%s" % (GROUPS, c) for c, _ in GROUP_WRITES))


def test_dashboard(work):
    """Every query of contrib/grafana-prometheus.json, its variables filled
    in, parses with Prometheus' own parser: promtool check rules on a rule
    file holding each as a recording rule."""
    exprs = dashboard_exprs()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:q%d" % i, "expr": substitute(e, "sender1", "web|db")}
        for i, (_, e) in enumerate(exprs)]}]}
    path = os.path.join(work, "rules.yml")
    with open(path, "w") as f:
        json.dump(rules, f, indent=1)   # JSON is YAML
    p = subprocess.run([PROMTOOL, "check", "rules", path], capture_output=True, text=True, timeout=60)
    R.check("dashboard: promtool parses all %d queries" % len(exprs),
            p.returncode == 0 and "SUCCESS: %d rules found" % len(exprs) in p.stdout,
            p.stdout + p.stderr)
    R.check("dashboard: has panels for every counter, count-*, pidio_rate and a topk",
            all(any(m in e for _, e in exprs) for m in METRICS) and any("topk(" in e for _, e in exprs),
            str([e for _, e in exprs]))
    bad = subprocess.run([PROMTOOL, "check", "rules", "/dev/stdin"], input=json.dumps(
        {"groups": [{"name": "x", "rules": [{"record": "x", "expr": "rate(collectd_pidio_count[1m]"}]}]}),
        capture_output=True, text=True, timeout=60)
    R.check("dashboard: promtool refuses a query that does not parse", bad.returncode != 0,
            bad.stdout + bad.stderr)


# ------------------------------------------------------------------- main

TESTS = [test_dashboard, test_prometheus]


def main():
    need = {"prometheus": shutil.which(PROMETHEUS), "prometheus (promtool)": shutil.which(PROMTOOL),
            "collectd-core (write_prometheus.so)":
            os.path.exists(os.path.join(STOCK_PLUGINS, "write_prometheus.so"))}
    lack = [p for p, ok in need.items() if not ok]
    if lack and os.geteuid() == 0:
        print("SKIP: the Prometheus test needs the packages: %s (DEBIAN_FRONTEND=noninteractive "
              "apt-get install -y --no-install-recommends prometheus libmicrohttpd12 libprotobuf-c1)"
              % ", ".join(lack))
        return 77
    return run_tests(TESTS, R, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
