"""Helpers for pidio's end-to-end tests: the real collectd daemon with a
private PluginDir, pidio-writer processes with exactly known I/O, and the
csv writer's files read back.

Every test talks to real processes on this machine and to loopback only.
"""
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

COLLECTD = os.environ.get("COLLECTD", "/usr/sbin/collectd")
STOCK_PLUGINS = os.environ.get("COLLECTD_PLUGINS", "/usr/lib/collectd")
TYPES_DB = os.environ.get("COLLECTD_TYPESDB", "/usr/share/collectd/types.db")
SRCDIR = os.environ.get("PIDIO_SRCDIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILDDIR = os.environ.get("PIDIO_BUILDDIR", SRCDIR)

# Process names in the tests are written "pidioe2e-<what>"; each run gets
# its own prefix instead, so that two runs on one machine (a developer's
# and CI's, or make check and distcheck) never select each other's
# processes. Process names are at most 15 characters: "pe12345-caps".
RUN_PREFIX = "pe%05d" % (os.getpid() % 100000)


def run_names(text):
    return text.replace("pidioe2e-", RUN_PREFIX + "-")


def built(path):
    """A file the build made: the plugin lives under .libs (libtool)."""
    for cand in (os.path.join(BUILDDIR, path), os.path.join(BUILDDIR, ".libs", os.path.basename(path))):
        if os.path.exists(cand):
            return cand
    raise FileNotFoundError(path)


def skip_reason():
    """Why the end-to-end tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "end-to-end tests need root (they read other processes and drop privileges)"
    if not os.access(COLLECTD, os.X_OK):
        return COLLECTD + " is missing: apt-get install collectd-core"
    return None


def wait_for(pred, timeout, what, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))


def rows_after(d, blk, typ, n, timeout=20):
    """Wait until the daemon's csv file of a block's type holds n rows."""
    wait_for(lambda: len(d.rows(blk, typ)) >= n, timeout, "%d rows of %s/%s" % (n, blk, typ))


def settle(d, blk, extra=2, timeout=20):
    """Wait until pidio has read `extra` more intervals of this block."""
    rows_after(d, blk, "count-processes", len(d.rows(blk, "count-processes")) + extra, timeout)


def start_reading(d, blk):
    """Start the daemon and wait for its first two reads of this block."""
    d.start()
    rows_after(d, blk, "io_octets", 2)


def cgroup2_root():
    """Where the cgroup v2 hierarchy is mounted, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[sep + 1] == "cgroup2":
                return parts[4]
    return None


def group_name(key):
    """The plugin instance part of a group keyed key (README, "Names"), for
    keys short enough not to be cut."""
    return "".join(c if c.isalnum() or c in "-@" else "_" if c == "." else "~" if c == "/"
                   else "%%%02X" % ord(c) for c in key)


def check_bad_configs(work, cases, results):
    """Each (label, <Plugin pidio> body, wanted texts) must stop collectd
    at start (-T) with every wanted text in its log or output."""
    for label, block, wants in cases:
        sub = os.path.join(work, label.replace(" ", "-"))
        os.makedirs(sub)
        d = Daemon(sub, "LoadPlugin pidio\n<Plugin pidio>\n%s\n</Plugin>\n" % block, plugins=("logfile",))
        p = subprocess.run(d.command("-T"), capture_output=True, text=True, timeout=30)
        text = d.log() + p.stdout + p.stderr
        results.check("bad config refused: %s" % label, p.returncode != 0, "rc=%d" % p.returncode)
        results.check("bad config named: %s" % label, all(w in text for w in wants), text[-800:])


class Daemon:
    """collectd in the foreground with a private PluginDir, BaseDir and log."""

    def __init__(self, workdir, body, plugins=("csv", "logfile"), hostname="e2e",
                 interval=1, plugin_so=None, typesdb=(TYPES_DB,), user=None, caps=()):
        self.dir = workdir
        self.plugdir = os.path.join(workdir, "plugins")
        self.csvdir = os.path.join(workdir, "csv")
        self.logfile = os.path.join(workdir, "collectd.log")
        self.conf = os.path.join(workdir, "collectd.conf")
        self.hostname = hostname
        os.makedirs(self.plugdir, exist_ok=True)
        os.makedirs(self.csvdir, exist_ok=True)
        # collectd refuses a plugin that is a symlink: copy them.
        shutil.copy(plugin_so or built("pidio.so"), os.path.join(self.plugdir, "pidio.so"))
        for p in plugins:
            shutil.copy(os.path.join(STOCK_PLUGINS, p + ".so"), self.plugdir)
        load = "".join("LoadPlugin %s\n" % p for p in plugins if p != "logfile")
        types = "".join('TypesDB "%s"\n' % t for t in typesdb)
        with open(self.conf, "w") as f:
            f.write('Hostname "%s"\nFQDNLookup false\nInterval %s\n' % (hostname, interval))
            f.write('PluginDir "%s"\nBaseDir "%s"\n' % (self.plugdir, workdir))
            f.write('PIDFile "%s"\n%s' % (os.path.join(workdir, "collectd.pid"), types))
            if "logfile" in plugins:
                f.write('LoadPlugin logfile\n<Plugin logfile>\n  LogLevel info\n'
                        '  File "%s"\n  Timestamp true\n  PrintSeverity true\n'
                        '</Plugin>\n' % self.logfile)
            f.write(load)
            if "csv" in plugins:
                f.write('<Plugin csv>\n  DataDir "%s"\n  StoreRates false\n</Plugin>\n' % self.csvdir)
            f.write(body)
        self.user = user
        self.caps = caps
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(run_names(text))
        self.proc = None

    def command(self, *extra):
        cmd = [COLLECTD, "-f", "-C", self.conf] + list(extra)
        if self.user is not None:
            # An unprivileged collectd with only the given capabilities
            # (none by default), as the README shows.
            keep = "".join(",+" + c for c in self.caps)
            cmd = ["setpriv", "--reuid", str(self.user), "--regid", str(self.user),
                   "--clear-groups", "--inh-caps=-all" + keep, "--bounding-set=-all" + keep]
            if keep:
                cmd.append("--ambient-caps=-all" + keep)
            cmd += [COLLECTD, "-f", "-C", self.conf] + list(extra)
        return cmd

    def start(self):
        self.out = open(os.path.join(self.dir, "stdout.log"), "w")
        self.proc = subprocess.Popen(self.command(), stdout=self.out, stderr=subprocess.STDOUT)
        wait_for(lambda: "Initialization complete" in self.log() or self.proc.poll() is not None,
                 20, "collectd to start")
        if self.proc.poll() is not None:
            raise AssertionError("collectd exited at start:\n" + self.log() + self.stdout())
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.logfile) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stdout(self):
        try:
            with open(os.path.join(self.dir, "stdout.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def rows(self, plugin_instance, type_, plugin="pidio", host=None):
        """Rows of one csv series, oldest first: (epoch, v1, v2, ...)."""
        pat = os.path.join(self.csvdir, host or self.hostname, "%s-%s" % (plugin, plugin_instance),
                           type_ + "-[0-9]*")
        out = []
        for path in sorted(glob.glob(pat)):
            with open(path) as f:
                for line in f:
                    if line.startswith("epoch"):
                        continue
                    out.append(tuple(float(x) for x in line.strip().split(",")))
        # collectd's write threads take value lists from one queue; a thread
        # preempted between taking a list and appending it lets the next
        # interval's row of the same series land first. The values' own
        # times give the order.
        out.sort(key=lambda r: r[0])
        return out

    def last(self, plugin_instance, type_, **kw):
        r = self.rows(plugin_instance, type_, **kw)
        return r[-1] if r else None


class Writer:
    """A pidio-writer process; each command is acknowledged by a mkdir."""

    def __init__(self, workdir, comm=None, tag=None, user=None, exe=None):
        # On tmpfs where there is one: a mkdir on a disk file system dirties
        # a directory block, which the kernel counts as the writer's
        # write_bytes.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else workdir
        self.ackdir = tempfile.mkdtemp(prefix="pidio-ack.", dir=shm)
        os.chmod(self.ackdir, 0o777)
        cmd = [exe or built("tests/pidio-writer"), "--ack", self.ackdir]
        if comm:
            comm = run_names(comm)
            cmd += ["--comm", comm]
        for t in ([tag] if isinstance(tag, str) else tag or []):
            cmd += ["--tag", t]
        pre = None
        if user is not None:
            cmd = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups"] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, preexec_fn=pre)
        self.pid = self.proc.pid
        self.n = 0
        if comm:
            wait_for(lambda: self.comm() == comm, 5, "writer name")

    def comm(self):
        try:
            with open("/proc/%d/comm" % self.pid) as f:
                return f.read().strip()
        except OSError:
            return None

    def send(self, line, timeout=60):
        self.n += 1
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        ack = os.path.join(self.ackdir, "ack.%d" % self.n)
        wait_for(lambda: os.path.isdir(ack), timeout, "writer to do %r" % line)

    def stop(self):
        shutil.rmtree(self.ackdir, ignore_errors=True)
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class CannotRun(Exception):
    """Raised by a test whose precondition this machine lacks (e.g. root):
    the run then ends as skipped (77), which contrib/check.sh counts as a
    failure, never as a pass."""


def run_tests(tests, results, argv, why=None, prefix="pidio-e2e.", timed=False):
    """Run each test function in a fresh work directory (kept with
    PIDIO_KEEP), or only those named in argv; a test that raises is a
    failure with its reason, and so is a test that made no check, a name in
    argv that is no test, and a run in which no check ran. Returns the exit
    status: 1 on any failure, else 77 (skipped) where the tests cannot run
    here (why, by default skip_reason()) or a test raised CannotRun, else 0."""
    why = why if why is not None else skip_reason()
    if why:
        print("SKIP: " + why)
        return 77
    names = [t.__name__ for t in tests]
    for a in argv:
        results.check("test name %r exists" % a, a in names, "(tests: %s)" % ", ".join(names))
    cannot = []
    t_all = time.monotonic()
    for t in tests:
        if argv and t.__name__ not in argv:
            continue
        work = tempfile.mkdtemp(prefix=prefix)
        print("== %s" % t.__name__, flush=True)
        before = results.passed + results.failed
        t0 = time.monotonic()
        try:
            t(work)
        except CannotRun as exc:
            cannot.append("%s: %s" % (t.__name__, exc))
            print("CANNOT RUN: %s: %s" % (t.__name__, exc), flush=True)
        except Exception as exc:  # a crash is a failure, with its reason
            results.check(t.__name__, False, "%s: %s" % (type(exc).__name__, exc))
        else:
            results.check("%s made a check" % t.__name__, results.passed + results.failed > before,
                          "(it ran and asserted nothing)")
        if timed:
            print("   (%.1f s)" % (time.monotonic() - t0), flush=True)
        if os.environ.get("PIDIO_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept " + work)
    if timed:
        print("all: %.1f s" % (time.monotonic() - t_all), flush=True)
    if results.passed + results.failed == 0:
        results.check("at least one check ran", False)
    rc = results.close()
    if rc == 0 and cannot:
        print("SKIP: " + "; ".join(cannot), flush=True)
        return 77
    return rc


class Results:
    """Counts checks and prints the closing 'N passed, N failed' line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS: %s" % name, flush=True)
        else:
            self.failed += 1
            print("FAIL: %s %s" % (name, detail), flush=True)

    def equal(self, name, got, want):
        self.check(name, got == want, "(got %r, want %r)" % (got, want))

    def close(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 else 1
