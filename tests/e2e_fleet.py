#!/usr/bin/env python3
"""A fleet on one machine: twenty collectd, each with pidio and the network
plugin, sending to one receiving collectd that writes to InfluxDB (its
network plugin forwarding to InfluxDB's collectd listener) and to
Prometheus (its own write_prometheus, scraped every second).

  test_fleet  every host's every block arrives in both stores; each
              block's counters are exactly what its writer wrote; the
              receiver's own statistics (network plugin ReportStats,
              CollectInternalStats) and the stores agree on the number of
              values and series, nothing is dropped on the way (the UDP
              sockets' drop counters included); and the receiver's CPU per
              value is printed (see README, "Fleets")

Host h (fleet01 ... fleet20) has blocks b0 ... b9, block bj selecting by
Pid the writer (h + j) mod 20, with Window 3 and a 1 s interval: each of
the 20 writers is watched from ten hosts, and every one of the 200 blocks
has an exactly known total. Everything listens on 127.0.0.1 on ports
chosen at run time, in temporary directories, and is stopped by the test,
also on failure. Exit 77 (skipped) where it cannot run: not root, or the
packages are missing. PIDIO_FLEET_SECONDS (default 60) sets how long the
fleet is measured.
"""
import contextlib
import os
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_lib import STOCK_PLUGINS, TYPES_DB, Daemon, Results, Writer, run_tests, wait_for  # noqa: E402
from e2e_pipelines import INFLUXD, PIDIO_TYPES, InfluxDB, free_port, poll  # noqa: E402
from e2e_prometheus import PROMETHEUS, Prometheus, log_problems  # noqa: E402

R = Results()
HOSTS = 20
BLOCKS = 10
WINDOW = 3
SECONDS = int(os.environ.get("PIDIO_FLEET_SECONDS", "60"))
BURSTS = 3             # each writer writes BURSTS times during the run
CHUNK = 1000
# Value lists a block dispatches per read: io_octets, io_ops, disk_octets,
# total_bytes-cancelled_write_bytes, count-processes, count-unreadable and
# seven pidio_rate; as single values (what InfluxDB and Prometheus store as
# separate series) the three two-source types count twice.
LISTS_PER_READ = 6 + 7
VALUES_PER_READ = LISTS_PER_READ + 3
ARRIVAL = 60


def hostname(h):
    return "fleet%02d" % (h + 1)


def burst(w):
    """Bytes writer w writes in each burst: different for every writer,
    and not a multiple of CHUNK."""
    return (w + 1) * 12345


def watched(h, j):
    return (h + j) % HOSTS


def sender_conf(port, writers, h):
    blocks = "".join('  <Process "b%d">\n    Pid %d\n  </Process>\n' % (j, writers[watched(h, j)].pid)
                     for j in range(BLOCKS))
    return """ReadThreads 2
WriteThreads 1
<LoadPlugin network>
  FlushInterval 1
</LoadPlugin>
<Plugin network>
  Server "127.0.0.1" "%d"
</Plugin>
LoadPlugin pidio
<Plugin pidio>
  Window %d
%s</Plugin>
""" % (port, WINDOW, blocks)


def receiver_conf(listen, influx_port, prom_port):
    return """CollectInternalStats true
<LoadPlugin network>
  FlushInterval 1
</LoadPlugin>
<Plugin network>
  Listen "127.0.0.1" "%d"
  Server "127.0.0.1" "%d"
  Forward true
  ReportStats true
</Plugin>
LoadPlugin write_prometheus
<Plugin write_prometheus>
  Host "127.0.0.1"
  Port "%d"
</Plugin>
""" % (listen, influx_port, prom_port)


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/<pid>/stat (fields 14, 15,
    after the command's closing parenthesis)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_drops(port):
    """The kernel's drop counter of the UDP socket bound to 127.0.0.1:port
    (the last column of /proc/net/udp), or None."""
    want = "0100007F:%04X" % port
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == want:
                return int(cols[-1])
    return None


class FleetInflux(InfluxDB):
    def settled(self):
        """No point is added for half a second."""
        before = fleet_lists(self)
        time.sleep(0.5)
        return fleet_lists(self) == before

    def stat(self, plugin, type_, type_instance=None):
        """The last value of one of the receiver's own statistics."""
        q = ('SELECT last("value") FROM "%s_value" WHERE "host" = \'receiver\' AND "type" = \'%s\''
             % (plugin, type_))
        if type_instance is not None:
            q += ' AND "type_instance" = \'%s\'' % type_instance
        rows = self.rows("collectd", q)
        return rows[0][1] if rows else None


def fleet_lists(influx):
    """The value lists of the fleet's hosts stored in InfluxDB, by host:
    one point of pidio_rx (io_octets), pidio_read (io_ops, disk_octets),
    pidio_value (the one-value types) per value list."""
    out = {}
    for meas in ("pidio_rx", "pidio_read", "pidio_value"):
        res = influx.query("collectd", 'SELECT count("value") FROM "%s" GROUP BY "host"' % meas)["results"][0]
        for s in res.get("series", []):
            out[s["tags"]["host"]] = out.get(s["tags"]["host"], 0) + s["values"][0][1]
    return out


def block_counts(influx, before):
    """For every (host, block): whether its six counter and count series
    hold the same number of points n and its seven pidio_rate series n - 1
    (rates start at the second read), over the reads made before `before`
    (seconds since the epoch). A sender stopped in the middle of handing a
    read's value lists to its network plugin sends only some of them (the
    rest are dropped from its write queue at shutdown, which collectd says
    in a notice), so the last reads before the stop are left out."""
    out = {}
    for meas in ("pidio_rx", "pidio_tx", "pidio_read", "pidio_write", "pidio_value"):
        res = influx.query("collectd", 'SELECT count("value") FROM "%s" WHERE "host" =~ /^fleet/ '
                           'AND time < %dms GROUP BY *' % (meas, int(before * 1000)))["results"][0]
        for s in res.get("series", []):
            t = s["tags"]
            key = (t["host"], t["instance"])
            rate = t["type"] == "pidio_rate"
            out.setdefault(key, []).append(s["values"][0][1] + (1 if rate else 0))
    return {k: len(v) == VALUES_PER_READ and len(set(v)) == 1 for k, v in out.items()}


def receiver_own(influx):
    """The receiver's own identifiers (its network and collectd
    statistics): its InfluxDB series without the measurement, which splits
    two-source types."""
    keys = set()
    for row in influx.rows("collectd", 'SHOW SERIES WHERE "host" = \'receiver\''):
        meas, tags = row[0].split(",", 1)
        keys.add((meas.split("_", 1)[0], tags))
    return len(keys)


# collectd 5.12 logs this once at start when CollectInternalStats is on
# (its internal statistics are read outside any plugin's context).
INTERNAL_STATS_NOTICE = "plugin_get_interval: Unable to determine Interval from context"


def test_fleet(work):
    """Twenty senders into one receiver, InfluxDB and Prometheus: see the
    module's docstring."""
    with contextlib.ExitStack() as stack:
        influx = FleetInflux(work)
        stack.callback(influx.stop)
        influx.start()
        listen = free_port(socket.SOCK_DGRAM)
        prom_port = free_port()
        types = os.path.join(work, "pidio.types.db")
        shutil.copy(PIDIO_TYPES, types)
        recv = Daemon(os.path.join(work, "receiver"), receiver_conf(listen, influx.udp, prom_port),
                      plugins=("logfile",), hostname="receiver", typesdb=(TYPES_DB, types))
        for p in ("network", "write_prometheus"):
            shutil.copy(os.path.join(STOCK_PLUGINS, p + ".so"), recv.plugdir)
        stack.callback(recv.stop)
        recv.start()
        prom = Prometheus(work, prom_port)
        stack.callback(prom.stop)
        prom.start()

        writers = []
        for w in range(HOSTS):
            writers.append(Writer(work))
            stack.callback(writers[-1].stop)
        senders = []
        for h in range(HOSTS):
            d = Daemon(os.path.join(work, hostname(h)), sender_conf(listen, writers, h),
                       plugins=("logfile",), hostname=hostname(h))
            shutil.copy(os.path.join(STOCK_PLUGINS, "network.so"), d.plugdir)
            stack.callback(d.stop)
            senders.append(d)
        t_start = time.monotonic()
        for d in senders:
            d.start()
        print("   %d senders started in %.1f s" % (HOSTS, time.monotonic() - t_start), flush=True)

        # Every block of every host has arrived in both stores (count-
        # processes = 1: pidio has read its writer) before the writers
        # write: the blocks count from their first read on.
        want_pairs = sorted((hostname(h), "b%d" % j) for h in range(HOSTS) for j in range(BLOCKS))

        def prom_pairs():
            res = prom.query('collectd_pidio_count{job="pidio",type="processes"} == 1')
            return sorted((m["instance"], m["pidio"]) for m, _ in res)

        def influx_pairs():
            rows = influx.query("collectd", 'SELECT last("value") FROM "pidio_value" WHERE "type" = \'count\' '
                                            'AND "type_instance" = \'processes\' GROUP BY "host", "instance"')
            res = rows["results"][0]
            return sorted((s["tags"]["host"], s["tags"]["instance"]) for s in res.get("series", [])
                          if s["values"][0][1] == 1)
        R.equal("fleet: every host's every block has arrived in Prometheus, 1 process each",
                poll(prom_pairs, want_pairs, ARRIVAL, step=1), want_pairs)
        R.equal("fleet: every host's every block has arrived in InfluxDB, 1 process each",
                poll(influx_pairs, want_pairs, ARRIVAL, step=1), want_pairs)

        # The measured run: the writers write BURSTS times, evenly spread.
        def cpu_now():
            out = {n: cpu_seconds(p) for n, p in (("receiver", recv.proc.pid), ("influxd", influx.proc.pid),
                                                   ("prometheus", prom.proc.pid))}
            out["senders"] = sum(cpu_seconds(d.proc.pid) for d in senders)
            return out
        cpu0 = cpu_now()
        lists0 = sum(fleet_lists(influx).values())
        t0 = time.monotonic()
        for b in range(BURSTS):
            at = t0 + SECONDS * (b + 0.5) / BURSTS
            time.sleep(max(0, at - time.monotonic()))
            for w, wr in enumerate(writers):
                wr.send("write %d %d" % (burst(w), CHUNK))
        time.sleep(max(0, t0 + SECONDS - time.monotonic()))
        elapsed = time.monotonic() - t0
        cpu1 = cpu_now()
        lists1 = sum(fleet_lists(influx).values())

        # Exact counters in both stores.
        want_tx = {(hostname(h), "b%d" % j): BURSTS * burst(watched(h, j))
                   for h in range(HOSTS) for j in range(BLOCKS)}
        want_ops = {(hostname(h), "b%d" % j): BURSTS * -(-burst(watched(h, j)) // CHUNK)
                    for h in range(HOSTS) for j in range(BLOCKS)}

        def prom_values(metric):
            return {(m["instance"], m["pidio"]): int(float(v))
                    for m, v in prom.query('%s{job="pidio"}' % metric)}

        def influx_values(meas, type_):
            res = influx.query("collectd", 'SELECT last("value") FROM "%s" WHERE "type" = \'%s\' '
                                           'GROUP BY "host", "instance"' % (meas, type_))["results"][0]
            return {(s["tags"]["host"], s["tags"]["instance"]): s["values"][0][1]
                    for s in res.get("series", [])}
        R.equal("fleet: Prometheus: every block's io_octets tx is exactly its writer's bytes",
                poll(lambda: prom_values("collectd_pidio_io_octets_tx_total"), want_tx, ARRIVAL, step=1), want_tx)
        R.equal("fleet: Prometheus: every block's io_ops write is exactly its writer's calls",
                poll(lambda: prom_values("collectd_pidio_io_ops_write_total"), want_ops, ARRIVAL, step=1), want_ops)
        R.equal("fleet: InfluxDB: every block's pidio_tx is exactly its writer's bytes",
                poll(lambda: influx_values("pidio_tx", "io_octets"), want_tx, ARRIVAL, step=1), want_tx)
        R.equal("fleet: InfluxDB: every block's pidio_write (io_ops) is exactly its writer's calls",
                poll(lambda: influx_values("pidio_write", "io_ops"), want_ops, ARRIVAL, step=1), want_ops)

        # While the fleet runs: collectd's cache holds one entry per
        # identifier (value list), Prometheus one series per value.
        cache = influx.stat("collectd", "cache_size")
        series = prom.query('count({job="pidio",__name__=~"collectd_pidio_.*",instance=~"fleet.*"})')
        R.equal("fleet: Prometheus holds %d x %d x %d pidio series" % (HOSTS, BLOCKS, VALUES_PER_READ),
                int(series[0][1]) if series else None, HOSTS * BLOCKS * VALUES_PER_READ)

        # Stop the senders, let the last values reach the stores, and count.
        stopping = time.time()
        for d in senders:
            d.stop()

        def quiet():
            a = (fleet_lists(influx), influx.stat("network", "total_values", "dispatch-accepted"))
            time.sleep(2.5)
            return a == (fleet_lists(influx), influx.stat("network", "total_values", "dispatch-accepted")) and a
        lists, accepted = wait_for(quiet, 60, "the receiver and InfluxDB to go quiet", step=0)
        stored = sum(lists.get(hostname(h), 0) for h in range(HOSTS))
        R.equal("fleet: the receiver dispatched exactly the value lists InfluxDB stored (network stats)",
                accepted, stored)
        R.equal("fleet: every block's series hold every read made before the senders were stopped: n values each, n - 1 of pidio_rate",
                [k for k, v in block_counts(influx, stopping - 2).items() if not v], [])
        R.equal("fleet: nothing rejected or dropped by the receiver",
                (influx.stat("network", "total_values", "dispatch-rejected"),
                 influx.stat("network", "total_values", "send-rejected"),
                 influx.stat("collectd", "derive", "dropped")), (0, 0, 0))
        R.equal("fleet: the receiver's cache held the fleet's %d x %d x %d identifiers and its own %d"
                % (HOSTS, BLOCKS, LISTS_PER_READ, receiver_own(influx)), cache,
                HOSTS * BLOCKS * LISTS_PER_READ + receiver_own(influx))
        drops = (udp_drops(listen), udp_drops(influx.udp))
        R.equal("fleet: the receiver's and InfluxDB's UDP sockets dropped no packet", drops, (0, 0))

        # The receiving side's cost.
        lists_run = lists1 - lists0
        cpu = {n: cpu1[n] - cpu0[n] for n in cpu0}
        per_s = lists_run / elapsed
        print("   measured %.1f s: %d value lists from %d hosts (%.0f a second, %.0f values a second)"
              % (elapsed, lists_run, HOSTS, per_s, per_s * VALUES_PER_READ / LISTS_PER_READ), flush=True)
        for n in ("receiver", "influxd", "prometheus", "senders"):
            print("   %-10s CPU %5.2f s = %4.1f%% of a core, %.1f us per value list" %
                  (n, cpu[n], 100 * cpu[n] / elapsed, 1e6 * cpu[n] / lists_run if lists_run else 0), flush=True)
        R.check("fleet: %d hosts x %d blocks sent a read a second for %d s" % (HOSTS, BLOCKS, SECONDS),
                per_s > 0.8 * HOSTS * BLOCKS * LISTS_PER_READ, "%.0f value lists a second" % per_s)

        recv.stop()
        # influxd 1.6 can hang in its collectd listener's Close while a
        # batch is on its way to the store: let the last one be written.
        wait_for(influx.settled, 20, "InfluxDB to write the last points", step=0)
        influx.stop()
        bad = [line for line in log_problems(recv) if INTERNAL_STATS_NOTICE not in line]
        bad += [line for d in senders for line in log_problems(d)]
        R.check("fleet: no error or warning in the collectd logs", not bad, "\n".join(bad[-10:]))


def main():
    need = {"prometheus": shutil.which(PROMETHEUS), "influxdb": shutil.which(INFLUXD),
            "collectd-core (write_prometheus.so)":
            os.path.exists(os.path.join(STOCK_PLUGINS, "write_prometheus.so"))}
    lack = [p for p, ok in need.items() if not ok]
    if lack and os.geteuid() == 0:
        print("SKIP: the fleet test needs the packages: %s" % ", ".join(lack))
        return 77
    return run_tests([test_fleet], R, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
