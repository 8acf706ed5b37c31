#!/bin/sh
# Build the Debian package collectd-pidio from a 'make dist' tarball of this
# tree (in a temporary directory: the tree itself is not touched), install
# it, check its files, run the installed collectd with the installed plugin
# and see pidio values dispatched, then remove the package again.
#
# Prints a PASS or FAIL line per check and "N passed, N failed" at the end;
# exits non-zero when a check failed. Installs what it needs with apt-get.
# Needs root (it re-runs itself with sudo). PIDIO_DEB_KEEP=1 keeps the
# temporary directory.
set -eu
if [ "$(id -u)" != 0 ]; then
  exec sudo -E "$0" "$@"
fi
cd "$(dirname "$0")/.."
top=$(pwd)
. ./contrib/deps.sh
pidio_install $PIDIO_BUILD_DEPS debhelper dpkg-dev build-essential fakeroot \
  collectd-core

pkg=collectd-pidio
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
  what=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
summary() {
  echo "deb: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
installed() {
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"
}

if installed; then
  # Replacing and then removing it would not leave the machine as it was.
  echo "$pkg is already installed here; remove it (apt-get remove $pkg) and run again."
  fail "$pkg not installed before the test"
  summary
  exit 1
fi

for f in /usr/lib/collectd/pidio.so /usr/share/collectd/pidio.types.db; do
  if [ -e "$f" ]; then
    # From 'make install': the package would take it over and its removal
    # delete it.
    echo "$f exists (installed by 'make install'?); remove it and run again."
    fail "no pidio files installed before the test"
    summary
    exit 1
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/pidio-deb.XXXXXX")
we_installed=0
daemon=""
load=""
cleanup() {
  trap - EXIT INT TERM
  for p in $daemon $load; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$we_installed" = 1 ] && installed; then
    DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -q "$pkg" \
      >"$work/remove-on-exit.log" 2>&1 || true
  fi
  if [ "${PIDIO_DEB_KEEP:-0}" = 1 ]; then
    echo "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the release tarball, made from a copy of the tree -------------------
# The copy holds what git knows of: tracked files and new files that are
# not ignored (build products are).
mkdir "$work/src" "$work/pkg"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$top" ls-files -z --cached --others --exclude-standard |
    (cd "$top" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
    tar -C "$top" --null -T - -cf - | tar -C "$work/src" -xf -
else
  cp -a "$top/." "$work/src/"
fi
if (cd "$work/src" && autoreconf -fi && ./configure && make dist) \
  >"$work/dist.log" 2>&1; then
  pass "make dist in a copy of the tree"
else
  tail -n 30 "$work/dist.log"
  fail "make dist in a copy of the tree"
  summary
  exit 1
fi
tarball=$(ls "$work"/src/pidio-*.tar.gz)
version=$(basename "$tarball" .tar.gz)
version=${version#pidio-}
cp "$tarball" "$work/pkg/pidio_$version.orig.tar.gz"
tar -C "$work/pkg" -xzf "$tarball"
srcdir="$work/pkg/pidio-$version"
check "the tarball holds debian/" test -x "$srcdir/debian/rules"

# --- build --------------------------------------------------------------
start=$(date +%s)
if (cd "$srcdir" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
  pass "dpkg-buildpackage -us -uc -b ($(($(date +%s) - start)) s)"
else
  tail -n 40 "$work/build.log"
  fail "dpkg-buildpackage -us -uc -b"
  summary
  exit 1
fi
case " ${DEB_BUILD_OPTIONS:-} " in
*" nocheck "*) echo "SKIP: unit tests during the build (DEB_BUILD_OPTIONS=nocheck)" ;;
*)
if grep -qE '^[0-9]+%: Checks: [0-9]+, Failures: 0, Errors: 0' "$srcdir/tests/unit.log" 2>/dev/null; then
  pass "unit tests ran during the build: $(grep -E '^[0-9]+%: Checks:' "$srcdir/tests/unit.log")"
else
  fail "unit tests ran during the build"
fi ;;
esac
deb=$(ls "$work"/pkg/${pkg}_"$version"-*_*.deb 2>/dev/null | head -n 1)
check "the build made ${pkg}_$version-*.deb" test -f "$deb"
[ -f "$deb" ] || { summary; exit 1; }
fields=$(dpkg-deb -f "$deb" Package Depends)
echo "$fields" | sed 's/^/  /'
check "it depends on collectd-core" sh -c 'echo "$1" | grep -q "^Depends:.*collectd-core (>= "' sh "$fields"

# --- install ------------------------------------------------------------
we_installed=1
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >"$work/install.log" 2>&1; then
  pass "apt-get install $(basename "$deb")"
else
  tail -n 20 "$work/install.log"
  fail "apt-get install $(basename "$deb")"
  summary
  exit 1
fi
dpkg -L "$pkg" >"$work/files"
has() { grep -qx "$1" "$work/files" && [ -e "$1" ]; }
check "dpkg -L: /usr/lib/collectd/pidio.so" has /usr/lib/collectd/pidio.so
check "dpkg -L: /usr/share/collectd/pidio.types.db" has /usr/share/collectd/pidio.types.db
check "dpkg -L: /usr/share/man/man5/collectd-pidio.5.gz" has /usr/share/man/man5/collectd-pidio.5.gz
check "dpkg -L: copyright" has /usr/share/doc/$pkg/copyright
check "dpkg -L: example pidio.conf" has /usr/share/doc/$pkg/examples/pidio.conf
check "dpkg -L: systemd drop-in example" \
  has /usr/share/doc/$pkg/examples/collectd-pidio.service.d/capabilities.conf
check "no libtool .la file" sh -c '! grep -q "\.la$" "$1"' sh "$work/files"
if grep -q '^bin_PROGRAMS *=.*pidio-stream' "$srcdir/Makefile.am"; then
  check "dpkg -L: /usr/bin/pidio-stream" has /usr/bin/pidio-stream
  check "/usr/bin/pidio-stream --version runs" /usr/bin/pidio-stream --version
fi
check "the plugin exports module_register" \
  sh -c 'nm -D --defined-only /usr/lib/collectd/pidio.so | grep -q " T module_register$"'
check "man collectd-pidio renders" \
  sh -c 'MANWIDTH=80 man -l /usr/share/man/man5/collectd-pidio.5.gz | grep -q "HOW TOTALS ARE KEPT"'

# --- run the installed collectd with the installed plugin ---------------
# A workload in a block of its own: a shell writing 64 KiB to a pipe every
# 0.2 s through 'head' children it reaps, so their I/O reaches it.
tag="pidio-deb-$$"
sh -c 'while :; do head -c 65536 /dev/zero; sleep 0.2; done >/dev/null' "$tag" &
load=$!
cat >"$work/collectd.conf" <<CONF
Hostname "deb"
FQDNLookup false
Interval 1
BaseDir "$work"
PIDFile "$work/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
TypesDB "/usr/share/collectd/pidio.types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$work/collectd.log"
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "stdout"
  StoreRates false
</Plugin>
LoadPlugin pidio
<Plugin pidio>
  <Process "load">
    CommandLine "^sh -c .* $tag\$"
    Window 2
  </Process>
</Plugin>
CONF
# Line-buffered, so that the values can be watched as they come.
stdbuf -oL /usr/sbin/collectd -f -C "$work/collectd.conf" >"$work/values" \
  2>>"$work/collectd.log" &
daemon=$!
# Until the values are there rather than for a fixed time: windowed rates
# from two reads on, and the reaped children's writes counted (at most
# 60 s on a busy machine; the checks below say what is missing).
i=0
until [ "$(grep -c '^PUTVAL deb/pidio-load/pidio_rate-wchar ' "$work/values")" -ge 2 ] &&
  tx=$(grep '^PUTVAL deb/pidio-load/io_octets ' "$work/values" | tail -n 1 | sed 's/.*://') &&
  [ "${tx:-0}" -ge 65536 ]; do
  i=$((i + 1))
  [ "$i" -ge 600 ] && break
  sleep 0.1
done
kill "$daemon" 2>/dev/null || true
wait "$daemon" 2>/dev/null || true
daemon=""
kill "$load" 2>/dev/null || true
wait "$load" 2>/dev/null || true
load=""
check "collectd loaded the installed plugin" \
  grep -q 'plugin "pidio" successfully loaded' "$work/collectd.log"
check "no pidio error or warning in collectd's log" \
  sh -c '! grep -iE "pidio.*(error|warn|denied|fail)|Dataset not found" "$1"' sh "$work/collectd.log"
last() { grep "^PUTVAL deb/pidio-load/$1 " "$work/values" | tail -n 1 | sed 's/.* //'; }
io=$(last io_octets)
procs=$(last count-processes)
rate=$(last pidio_rate-wchar)
echo "  io_octets ${io:-none}, count-processes ${procs:-none}, pidio_rate-wchar ${rate:-none}"
check "every series of the block was dispatched" sh -c '
  for s in io_octets io_ops disk_octets total_bytes-cancelled_write_bytes \
      count-processes count-unreadable pidio_rate-rchar pidio_rate-wchar \
      pidio_rate-syscr pidio_rate-syscw pidio_rate-read_bytes \
      pidio_rate-write_bytes pidio_rate-cancelled_write_bytes; do
    grep -q "^PUTVAL deb/pidio-load/$s " "$1" || exit 1
  done' sh "$work/values"
check "count-processes is 1" sh -c '[ "${1#*:}" = 1.000000 ]' sh "$procs"
check "io_octets tx counted the reaped children's writes" \
  sh -c 'tx=${1##*:}; [ "$tx" -ge 65536 ]' sh "${io:-0:0:0}"
check "pidio_rate-wchar is above 0" \
  sh -c 'awk -v r="${1#*:}" "BEGIN { exit !(r + 0 > 0) }"' sh "${rate:-0:0}"

# --- remove -------------------------------------------------------------
if DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -q "$pkg" >"$work/remove.log" 2>&1; then
  pass "apt-get remove --purge $pkg"
else
  tail -n 20 "$work/remove.log"
  fail "apt-get remove --purge $pkg"
fi
if installed; then fail "the package is gone"; else pass "the package is gone"; fi
check "its files are gone" sh -c '[ ! -e /usr/lib/collectd/pidio.so ] && [ ! -e /usr/share/collectd/pidio.types.db ]'

summary
