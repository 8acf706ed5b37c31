#!/bin/sh
# pidio demo: build pidio, start a small workload, and run collectd in the
# foreground with pidio watching it (and collectd itself), printing every
# pidio value as it is dispatched, until Ctrl-C. Installs what it needs
# with apt-get; needs root (it re-runs itself with sudo).
#
# The workload:
#   writer  a process writing 2 MB/s to /dev/null         (Name)
#   disk    a shell that runs dd with fsync every 2 s      (CommandLine)
#           dd's own I/O reaches the shell when it reaps dd
#   self    collectd itself                                (Name)
#   host    every process of the machine, by comm: the 4 busiest by wchar
#           as host-<comm>, the rest as host-other   (All, GroupBy)
# DEMO_SECONDS=N stops the demo after N seconds.
# --png FILE: also store the values with collectd's rrdtool writer and,
# after DEMO_SECONDS (default 90), draw the rates into FILE with
# 'rrdtool graph', and the host block's groups into FILE's name with
# -groups before .png.
set -eu
png=""
if [ "${1:-}" = "--png" ] && [ -n "${2:-}" ]; then
  png=$(realpath -m "$2")
  DEMO_SECONDS=${DEMO_SECONDS:-90}
fi
if [ "$(id -u)" != 0 ]; then
  exec sudo -E "$0" "$@"
fi
cd "$(dirname "$0")/.."
top=$(pwd)
. ./contrib/deps.sh
pidio_install $PIDIO_BUILD_DEPS
[ -z "$png" ] || pidio_install rrdtool

if [ ! -f Makefile ]; then
  autoreconf -fi >/dev/null
  ./configure >/dev/null
fi
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
make tests/pidio-writer >/dev/null

work=$(mktemp -d -t pidio-demo.XXXXXX)
pids=""
cleanup() {
  trap - EXIT INT TERM
  # Newest first: collectd before the formatter reading its output.
  for p in $(echo $pids | tr ' ' '\n' | sort -rn); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

mkdir "$work/plugins"
cp .libs/pidio.so /usr/lib/collectd/csv.so /usr/lib/collectd/logfile.so \
  "$work/plugins/"
[ -z "$png" ] || cp /usr/lib/collectd/rrdtool.so "$work/plugins/"

# The workload.
mkfifo "$work/cmd"
"$top/tests/pidio-writer" --comm pidio-demo-w <"$work/cmd" &
pids="$pids $!"
exec 3>"$work/cmd"
echo "pace 2000000 86400 65536" >&3
sh -c 'while :; do
  dd if=/dev/zero of="$1" bs=1M count=8 conv=fsync status=none; sleep 2
done' pidio-demo-disk "$work/disk.dat" &
pids="$pids $!"

cat >"$work/collectd.conf" <<CONF
Hostname "demo"
FQDNLookup false
Interval 1
PluginDir "$work/plugins"
BaseDir "$work"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File stderr
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "stdout"
  StoreRates false
</Plugin>
$([ -z "$png" ] || printf 'LoadPlugin rrdtool\n<Plugin rrdtool>\n  DataDir "%s/rrd"\n</Plugin>\n' "$work")
LoadPlugin pidio
<Plugin pidio>
  Window 5
  <Process "writer">
    Name "pidio-demo-w"
  </Process>
  <Process "disk">
    CommandLine "pidio-demo-disk"
  </Process>
  <Process "self">
    Name "collectd"
  </Process>
  <Process "host">
    All true
    GroupBy comm
    MaxGroups 4
    RankBy wchar
  </Process>
</Plugin>
CONF

echo "pidio demo: collectd with pidio, every second; Ctrl-C stops it."
echo "  io_octets rx/tx = rchar/wchar, disk_octets = read_bytes/write_bytes"
echo "  (bytes since collectd started), rate = bytes/s over the last 5 s."
# csv prints PUTVAL lines; show pidio's as a table. collectd writes into a
# fifo so that both it and the formatter are known and stopped at the end.
mkfifo "$work/values"
awk '
  # One line per block and interval, printed when that block'"'"'s next
  # interval begins (values of several blocks arrive interleaved).
  function flush(b) {
    if (!(b in at)) return
    printf "%s %-7s %d proc  rchar %11d  wchar %11d  write_bytes %10d  rate: wchar %9.0f B/s  write_bytes %9.0f B/s\n",
      strftime("%H:%M:%S", at[b]), b, val[b, "count-processes"],
      val[b, "rchar"], val[b, "wchar"], val[b, "write_bytes"],
      val[b, "pidio_rate-wchar"], val[b, "pidio_rate-write_bytes"]
    fflush()
  }
  $1 == "PUTVAL" {
    split($2, id, "/")
    if (id[2] !~ /^pidio-/) next
    b = substr(id[2], 7)
    n = split($NF, v, ":")
    if (b in at && v[1] + 0 > at[b] + 0.5) { flush(b); delete at[b] }
    at[b] = v[1]
    if (id[3] == "io_octets") { val[b, "rchar"] = v[2]; val[b, "wchar"] = v[3] }
    else if (id[3] == "disk_octets") { val[b, "write_bytes"] = v[3] }
    else val[b, id[3]] = v[2]
  }' <"$work/values" &
pids="$pids $!"
/usr/sbin/collectd -f -C "$work/collectd.conf" >"$work/values" 2>"$work/collectd.log" &
pids="$pids $!"
if [ -n "${DEMO_SECONDS:-}" ]; then
  sleep "$DEMO_SECONDS"
  if [ -n "$png" ]; then
    r="$work/rrd/demo"
    rrdtool graph "$png" --start "end-$((DEMO_SECONDS - 5))s" --end now \
      --width 760 --height 260 --title "pidio demo: I/O rates over 5 s windows" \
      --vertical-label "bytes/s" --lower-limit 0 \
      "DEF:w=$r/pidio-writer/pidio_rate-wchar.rrd:value:AVERAGE" \
      "DEF:d=$r/pidio-disk/pidio_rate-write_bytes.rrd:value:AVERAGE" \
      "DEF:s=$r/pidio-self/pidio_rate-rchar.rrd:value:AVERAGE" \
      "LINE2:w#1f77b4:writer  wchar (2 MB/s to /dev/null)" \
      "LINE2:d#d62728:disk    write_bytes (dd, fsync, reaped by its shell)" \
      "LINE2:s#2ca02c:collectd rchar" >/dev/null
    echo "pidio demo: graph written to $png"
    # The host block's groups, stacked: they and "other" add up to the
    # block. A group's line starts when it gets its series.
    set -- --start "end-$((DEMO_SECONDS - 5))s" --end now --width 760 \
      --height 260 --vertical-label "bytes/s" --lower-limit 0 \
      --title "pidio demo: who writes, All true + GroupBy comm (wchar, 5 s windows)"
    i=0
    for d in "$r"/pidio-host-*; do
      [ -f "$d/pidio_rate-wchar.rrd" ] || continue
      g=${d##*/pidio-host-}
      colour=$(echo "1f77b4 d62728 2ca02c ff7f0e 9467bd 8c564b 7f7f7f" |
        cut -d' ' -f$((i % 7 + 1)))
      set -- "$@" "DEF:g$i=$d/pidio_rate-wchar.rrd:value:AVERAGE" \
        "AREA:g$i#$colour:$g:STACK"
      i=$((i + 1))
    done
    groups_png="${png%.png}-groups.png"
    rrdtool graph "$groups_png" "$@" >/dev/null
    echo "pidio demo: groups graph written to $groups_png"
  fi
else
  wait
fi
