#!/usr/bin/env python3
"""End-to-end tests of real pipelines: collectd with pidio feeding a real
server on loopback, and the values read back from that server.

  test_graphite  pidio -> write_graphite -> carbon-cache -> whisper files
  test_influxdb  pidio -> network plugin -> InfluxDB 1.x [[collectd]] -> HTTP
  test_fleet     pidio on a sender -> network plugin -> a second collectd
                 (network Listen, csv)

Each test starts its server on 127.0.0.1 on ports chosen at run time, starts
a pidio-writer, starts collectd with a Pid block that selects it, writes
exactly N bytes once pidio has seen the writer, waits (bounded) for the value
to arrive at the server, asserts exact values, and stops every process it
started, also on failure. Exit 77 (skipped) where it cannot run: not root, or
the servers' Debian packages are missing. Name tests as arguments to run only
those.
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_lib import (SRCDIR, STOCK_PLUGINS, TYPES_DB, Daemon, Results,  # noqa: E402
                     Writer, run_tests, skip_reason, wait_for)

R = Results()
PIPELINES = os.path.join(SRCDIR, "tests", "pipelines")
PIDIO_TYPES = os.path.join(SRCDIR, "contrib", "pidio.types.db")
CARBON = os.environ.get("CARBON_CACHE", "carbon-cache")
WHISPER_FETCH = os.environ.get("WHISPER_FETCH", "whisper-fetch")
INFLUXD = os.environ.get("INFLUXD", "influxd")

HOST = "sender1"        # the sender's Hostname
BLOCK = "pipe"         # the sender's <Process> block
N = 1000000            # bytes written while collectd watches
CHUNK = 1000           # in write(2) calls of this size: N / CHUNK calls
BEFORE = 777777        # written before collectd starts: must not count
RATE_FIELDS = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes",
               "cancelled_write_bytes")
ARRIVAL = 30           # seconds the first value may take to reach the server
MORE = 5               # seconds for each value sent along with it


def free_port(kind=socket.SOCK_STREAM):
    """A port on 127.0.0.1 that is free now (TCP or UDP)."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def fill(template, dest, **values):
    """tests/pipelines/TEMPLATE with its $names filled in, written to dest."""
    with open(os.path.join(PIPELINES, template)) as f:
        text = string.Template(f.read()).substitute(values)
    with open(dest, "w") as f:
        f.write(text)
    return dest


def poll(fetch, want, timeout, step=0.2):
    """fetch() until it returns want or timeout seconds passed; the last
    value fetched (so a failure says what was there)."""
    end = time.monotonic() + timeout
    while True:
        got = fetch()
        if got == want or time.monotonic() >= end:
            return got
        time.sleep(step)


class Service:
    """A server process of a test: its output goes to a log file; stop()
    ends it with SIGTERM, then SIGKILL, within bounded time."""

    def __init__(self, name, cmd, workdir):
        self.name = name
        self.cmd = cmd
        self.logpath = os.path.join(workdir, name + ".log")
        self.proc = None

    def start(self, ready, timeout=30):
        self.out = open(self.logpath, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: self.proc.poll() is not None or ready(), timeout,
                     "%s to start" % self.name, step=0.1)
        except AssertionError:
            raise AssertionError("%s did not start in %d s:\n%s" % (self.name, timeout, self.log()[-2000:]))
        if self.proc.poll() is not None:
            raise AssertionError("%s exited at start (status %s):\n%s" %
                                 (self.name, self.proc.returncode, self.log()[-2000:]))
        return self

    def stop(self, grace=15):
        """SIGTERM, then SIGKILL after `grace` seconds."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                print("note: %s did not end %d s after SIGTERM: killed" % (self.name, grace), flush=True)
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "out", None) is not None:
            self.out.close()
            self.out = None

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def accepts(port):
    """A TCP server listens on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def pidio_block(pid):
    return """LoadPlugin pidio
<Plugin pidio>
  <Process "%s">
    Pid %d
    Window 3
  </Process>
</Plugin>
""" % (BLOCK, pid)


def sender(work, writer, output):
    """collectd + pidio watching writer, with the csv writer (to see that
    pidio read) and `output`: config text that loads and sets up the
    plugin sending to the server. Stock plugins it loads are copied."""
    d = Daemon(os.path.join(work, "sender"), output + pidio_block(writer.pid),
               plugins=("csv", "logfile"), hostname=HOST)
    for p in ("network", "write_graphite"):
        if "<LoadPlugin %s>" % p in output:
            shutil.copy(os.path.join(STOCK_PLUGINS, p + ".so"), d.plugdir)
    return d


def flushed_every_second(plugin):
    """Load a stock plugin with its flush callback run every interval: the
    network plugin and write_graphite otherwise send only when their buffer
    is full."""
    return "<LoadPlugin %s>\n  FlushInterval 1\n</LoadPlugin>\n" % plugin


def watch_and_write(d, w):
    """Start the sender, let pidio see the writer (two reads: its baseline),
    write N bytes, and wait until pidio has read them."""
    d.start()
    wait_for(lambda: len(d.rows(BLOCK, "io_octets")) >= 2, 15, "two reads by pidio")
    w.send("write %d %d" % (N, CHUNK))
    got = poll(lambda: (d.last(BLOCK, "io_octets") or (0, 0, None))[2], N, 15)
    R.equal("sender: pidio read wchar", got, N)


# collectd's own notice when it is stopped with values still queued for its
# writers (seen on a loaded machine): about stopping, not about the pipeline.
SHUTDOWN_NOTICE = "value lists were left after shutting down the write threads"


def no_errors(d, name):
    bad = [l for l in d.log().splitlines()
           if ("[error]" in l or "[warning]" in l) and SHUTDOWN_NOTICE not in l]
    R.check("%s: no error or warning in collectd's log" % name, not bad, "\n".join(bad[-10:]))


def writer_before(work):
    """A pidio-writer that already wrote BEFORE bytes: the Pid block's
    baseline must leave them out."""
    w = Writer(work)
    w.send("write %d %d" % (BEFORE, CHUNK))
    return w


# --------------------------------------------------------------- graphite

def graphite_names():
    p = "%s.pidio-%s." % (HOST, BLOCK)
    names = [p + "io_octets.rx", p + "io_octets.tx", p + "io_ops.read", p + "io_ops.write",
             p + "disk_octets.read", p + "disk_octets.write",
             p + "total_bytes-cancelled_write_bytes", p + "count-processes", p + "count-unreadable"]
    return sorted(names + [p + "pidio_rate-" + f for f in RATE_FIELDS])


class Carbon(Service):
    def __init__(self, work):
        self.dir = os.path.join(work, "carbon")
        os.makedirs(self.dir)
        self.port = free_port()
        conf = fill("carbon.conf.in", os.path.join(self.dir, "carbon.conf"), dir=self.dir,
                    line_port=self.port, pickle_port=free_port(), query_port=free_port())
        # carbon reads storage-schemas.conf next to carbon.conf.
        shutil.copy(os.path.join(PIPELINES, "storage-schemas.conf"), self.dir)
        self.whisper = os.path.join(self.dir, "storage", "whisper")
        Service.__init__(self, "carbon-cache", [CARBON, "--config=" + conf, "--nodaemon", "start"], work)

    def start(self):
        return Service.start(self, lambda: "CarbonReceiverFactory starting on %d" % self.port in self.log()
                             and accepts(self.port))

    def metrics(self):
        out = []
        for root, _, files in os.walk(self.whisper):
            for f in files:
                if f.endswith(".wsp"):
                    rel = os.path.relpath(os.path.join(root, f[:-4]), self.whisper)
                    out.append(rel.replace(os.sep, "."))
        return sorted(out)

    def points(self, metric, since):
        """(time, value) of the stored points of metric from `since` on."""
        path = os.path.join(self.whisper, *metric.split(".")) + ".wsp"
        if not os.path.exists(path):
            return []
        p = subprocess.run([WHISPER_FETCH, "--from=%d" % since, path],
                           capture_output=True, text=True, timeout=20)
        out = []
        for line in p.stdout.splitlines():
            t, v = line.split()
            if v != "None":
                out.append((int(t), float(v)))
        return out

    def last(self, metric, since):
        pts = self.points(metric, since)
        return pts[-1][1] if pts else None


def test_graphite(work):
    """write_graphite with StoreRates false to a real carbon-cache: the
    whisper files are named <host>.pidio-<block>.<type>[-<instance>][.<ds>]
    and hold the exact counters."""
    since = int(time.time()) - 5
    with contextlib.ExitStack() as stack:
        carbon = Carbon(work)
        stack.callback(carbon.stop)
        carbon.start()
        w = writer_before(work)
        stack.callback(w.stop)
        d = sender(work, w, flushed_every_second("write_graphite") + """<Plugin write_graphite>
  <Node "carbon">
    Host "127.0.0.1"
    Port "%d"
    Protocol "tcp"
    StoreRates false
    AlwaysAppendDS false
    SeparateInstances false
    EscapeCharacter "_"
  </Node>
</Plugin>
""" % carbon.port)
        stack.callback(d.stop)
        watch_and_write(d, w)

        tx = "%s.pidio-%s.io_octets.tx" % (HOST, BLOCK)
        R.equal("graphite: %s is the bytes written after start" % tx,
                poll(lambda: carbon.last(tx, since), N, ARRIVAL), N)
        want = graphite_names()
        R.equal("graphite: the whisper files are exactly pidio's series",
                poll(carbon.metrics, want, MORE), want)
        p = "%s.pidio-%s." % (HOST, BLOCK)
        for metric, value in (("io_ops.write", N // CHUNK), ("disk_octets.write", 0),
                              ("total_bytes-cancelled_write_bytes", 0),
                              ("count-processes", 1), ("count-unreadable", 0)):
            R.equal("graphite: %s%s" % (p, metric), poll(lambda: carbon.last(p + metric, since), value, MORE), value)
        burst = poll(lambda: max([v for _, v in carbon.points(p + "pidio_rate-wchar", since)] or [0]) > 0,
                     True, MORE)
        R.check("graphite: %spidio_rate-wchar stored, and shows the burst" % p, burst,
                str(carbon.points(p + "pidio_rate-wchar", since)))
        d.stop()
        no_errors(d, "graphite")
        carbon.stop()
        R.check("graphite: carbon-cache logged no error",
                "Traceback" not in carbon.log() and "[error]" not in carbon.log().lower(),
                carbon.log()[-2000:])


# --------------------------------------------------------------- influxdb

def influx_series(with_pidio_types):
    """The series InfluxDB's collectd listener makes of pidio's values."""
    p = "host=%s,instance=%s,type=" % (HOST, BLOCK)
    keys = ["pidio_read," + p + "disk_octets", "pidio_read," + p + "io_ops",
            "pidio_rx," + p + "io_octets", "pidio_tx," + p + "io_octets",
            "pidio_value," + p + "count,type_instance=processes",
            "pidio_value," + p + "count,type_instance=unreadable",
            "pidio_value," + p + "total_bytes,type_instance=cancelled_write_bytes",
            "pidio_write," + p + "disk_octets", "pidio_write," + p + "io_ops"]
    if with_pidio_types:
        keys += ["pidio_value," + p + "pidio_rate,type_instance=" + f for f in RATE_FIELDS]
    return sorted(keys)


class InfluxDB(Service):
    def __init__(self, work):
        self.dir = os.path.join(work, "influxdb")
        types = os.path.join(self.dir, "types")
        stock = os.path.join(self.dir, "types-stock")
        for t in (types, stock):
            os.makedirs(t)
            shutil.copy(TYPES_DB, t)
        shutil.copy(PIDIO_TYPES, types)
        self.http = free_port()
        self.udp = free_port(socket.SOCK_DGRAM)
        self.udp_stock = free_port(socket.SOCK_DGRAM)
        conf = fill("influxdb.conf.in", os.path.join(self.dir, "influxdb.conf"), dir=self.dir,
                    rpc_port=free_port(), http_port=self.http, collectd_port=self.udp,
                    collectd_port_stock=self.udp_stock, typesdb=types, typesdb_stock=stock)
        Service.__init__(self, "influxd", [INFLUXD, "-config", conf], work)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self):
        def ready():
            log = self.log()
            return ("Listening on UDP" in log and "127.0.0.1:%d" % self.udp in log and
                    "127.0.0.1:%d" % self.udp_stock in log and self.ping())
        return Service.start(self, ready)

    def ping(self):
        try:
            with self.opener.open("http://127.0.0.1:%d/ping" % self.http, timeout=2) as r:
                return r.status == 204
        except OSError:
            return False

    def query(self, db, q):
        url = "http://127.0.0.1:%d/query?%s" % (self.http, urllib.parse.urlencode({"db": db, "q": q}))
        with self.opener.open(url, timeout=10) as r:
            return json.load(r)

    def rows(self, db, q):
        """The rows of a query's single result, all series together."""
        res = self.query(db, q)["results"][0]
        if "error" in res:
            raise AssertionError("InfluxDB: %s: %s" % (q, res["error"]))
        return [row for s in res.get("series", []) for row in s["values"]]

    def series(self, db):
        """SHOW SERIES: every measurement with its tags, sorted."""
        try:
            return sorted(row[0] for row in self.rows(db, "SHOW SERIES"))
        except OSError:
            return None

    def stop(self, grace=5):
        Service.stop(self, grace)

    def settled(self):
        """The number of points stored stays the same for half a second."""
        def points():
            return [self.rows(db, 'SELECT count("value") FROM /.*/') for db in ("collectd", "collectd_stock")]
        before = points()
        time.sleep(0.5)
        return points() == before

    def last(self, db, measurement, type_, type_instance=None):
        """last("value") of one series, or None."""
        q = ('SELECT last("value") FROM "%s" WHERE "host" = \'%s\' AND "instance" = \'%s\''
             ' AND "type" = \'%s\'' % (measurement, HOST, BLOCK, type_))
        if type_instance is not None:
            q += ' AND "type_instance" = \'%s\'' % type_instance
        try:
            res = self.query(db, q)["results"][0]
        except OSError:
            return None
        for s in res.get("series", []):
            return s["values"][0][1]
        return None


def test_influxdb(work):
    """The network plugin to InfluxDB's collectd listener: measurements
    <plugin>_<ds>, tags host/instance/type/type_instance, the raw DERIVE
    counter; pidio_rate arrives only where pidio's types file is loaded."""
    with contextlib.ExitStack() as stack:
        influx = InfluxDB(work)
        stack.callback(influx.stop)
        influx.start()
        w = writer_before(work)
        stack.callback(w.stop)
        d = sender(work, w, flushed_every_second("network") + """<Plugin network>
  Server "127.0.0.1" "%d"
  Server "127.0.0.1" "%d"
</Plugin>
""" % (influx.udp, influx.udp_stock))
        stack.callback(d.stop)
        watch_and_write(d, w)

        db = "collectd"
        R.equal("influxdb: pidio_tx (io_octets) is the raw wchar counter",
                poll(lambda: influx.last(db, "pidio_tx", "io_octets"), N, ARRIVAL), N)
        for meas, type_, ti, value in (("pidio_write", "io_ops", None, N // CHUNK),
                                       ("pidio_write", "disk_octets", None, 0),
                                       ("pidio_value", "total_bytes", "cancelled_write_bytes", 0),
                                       ("pidio_value", "count", "processes", 1),
                                       ("pidio_value", "count", "unreadable", 0)):
            R.equal("influxdb: %s %s%s" % (meas, type_, "-" + ti if ti else ""),
                    poll(lambda: influx.last(db, meas, type_, ti), value, MORE), value)
        R.equal("influxdb: measurements <plugin>_<ds>, tags host, instance, type, type_instance",
                poll(lambda: influx.series(db), influx_series(True), MORE), influx_series(True))
        q = ('SELECT max("value") FROM "pidio_value" WHERE "type" = \'pidio_rate\''
             ' AND "type_instance" = \'wchar\'')
        burst = poll(lambda: any(row[1] > 0 for row in influx.rows(db, q)), True, MORE)
        R.check("influxdb: pidio_rate-wchar shows the burst", burst, str(influx.rows(db, q)))

        # The listener with collectd's types.db only got the same packets.
        db = "collectd_stock"
        R.equal("influxdb without pidio.types.db: pidio_tx still exact",
                poll(lambda: influx.last(db, "pidio_tx", "io_octets"), N, MORE), N)
        R.equal("influxdb without pidio.types.db: the same series but pidio_rate's",
                poll(lambda: influx.series(db), influx_series(False), MORE), influx_series(False))
        R.check("influxdb without pidio.types.db: says pidio_rate is unknown",
                'unable to find "pidio_rate" in TypesDB' in influx.log(), influx.log()[-2000:])
        d.stop()
        no_errors(d, "influxdb")
        # influxd 1.6 can hang in its collectd listener's Close while a
        # batch is on its way to the store: let the last one be written.
        wait_for(influx.settled, 10, "InfluxDB to write the last points", step=0)
        influx.stop()


# ------------------------------------------------------------------ fleet

def test_fleet(work):
    """A sender's pidio values over the network plugin to a second collectd
    (network Listen, csv writer, TypesDB with pidio.types.db): they arrive
    under the sender's host name, exact."""
    with contextlib.ExitStack() as stack:
        port = free_port(socket.SOCK_DGRAM)
        types = os.path.join(work, "pidio.types.db")
        shutil.copy(PIDIO_TYPES, types)
        server = Daemon(os.path.join(work, "server"), """<Plugin network>
  Listen "127.0.0.1" "%d"
</Plugin>
""" % port, plugins=("csv", "logfile", "network"), hostname="server", typesdb=(TYPES_DB, types))
        stack.callback(server.stop)
        server.start()
        w = writer_before(work)
        stack.callback(w.stop)
        d = sender(work, w, flushed_every_second("network") + """<Plugin network>
  Server "127.0.0.1" "%d"
</Plugin>
""" % port)
        stack.callback(d.stop)
        watch_and_write(d, w)

        def last(type_, i):
            row = server.last(BLOCK, type_, host=HOST)
            return row[i] if row else None
        R.equal("fleet: server csv %s/pidio-%s/io_octets: wchar" % (HOST, BLOCK),
                poll(lambda: last("io_octets", 2), N, ARRIVAL), N)
        R.equal("fleet: io_ops write", poll(lambda: last("io_ops", 2), N // CHUNK, MORE), N // CHUNK)
        R.equal("fleet: count-processes", poll(lambda: last("count-processes", 1), 1, MORE), 1)
        for f in RATE_FIELDS:
            R.check("fleet: pidio_rate-%s arrives" % f,
                    poll(lambda: bool(server.rows(BLOCK, "pidio_rate-" + f, host=HOST)), True, MORE))
        burst = poll(lambda: any(r[1] > 0 for r in server.rows(BLOCK, "pidio_rate-wchar", host=HOST)),
                     True, MORE)
        R.check("fleet: pidio_rate-wchar shows the burst", burst,
                str(server.rows(BLOCK, "pidio_rate-wchar", host=HOST)))
        R.equal("fleet: the server's csv holds the sender's host only", sorted(os.listdir(server.csvdir)), [HOST])
        d.stop()
        server.stop()
        no_errors(d, "fleet sender")
        no_errors(server, "fleet server")


# ------------------------------------------------------------------- main

TESTS = [test_graphite, test_influxdb, test_fleet]


def missing(tests):
    """Debian packages the chosen tests need that are not there."""
    need = {}
    names = [t.__name__ for t in tests]
    if "test_graphite" in names:
        need["graphite-carbon"] = shutil.which(CARBON)
        need["python3-whisper"] = shutil.which(WHISPER_FETCH)
        need["collectd-core (write_graphite.so)"] = os.path.exists(os.path.join(STOCK_PLUGINS, "write_graphite.so"))
    if "test_influxdb" in names:
        need["influxdb"] = shutil.which(INFLUXD)
    need["collectd-core (network.so)"] = os.path.exists(os.path.join(STOCK_PLUGINS, "network.so"))
    return [p for p, ok in need.items() if not ok]


def main():
    only = sys.argv[1:]
    why = skip_reason()
    if why is None:
        lack = missing([t for t in TESTS if not only or t.__name__ in only])
        if lack:
            why = ("pipeline tests need the packages: %s (DEBIAN_FRONTEND=noninteractive apt-get install -y "
                   "--no-install-recommends graphite-carbon python3-whisper influxdb)" % ", ".join(lack))
    return run_tests(TESTS, R, only, why=why or "", prefix="pidio-pipe.", timed=True)


if __name__ == "__main__":
    sys.exit(main())
