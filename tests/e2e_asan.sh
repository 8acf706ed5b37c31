#!/bin/sh
# pidio under AddressSanitizer and UndefinedBehaviorSanitizer, inside the
# real collectd. Builds pidio with --enable-sanitizers in a build directory
# of its own, runs the unit tests and the fuzz corpora there (and, with
# the BPF reader, tests/bpf-real), then
# end-to-end scenarios with the ASan runtime preloaded into
# /usr/sbin/collectd (tests/collectd-asan). Fails when a test fails or when
# a sanitizer report (leaks included) involves pidio. Needs root, as the
# end-to-end tests do.
#
#   tests/e2e_asan.sh [[SCRIPT:]TEST...]
#
# A TEST is a test function of tests/e2e.py, or of tests/SCRIPT. The
# default: every configuration error and least privilege (e2e.py), and
# every lifecycle test (e2e_lifecycle.py: every selector, Children, pid
# reuse, pidfile restarts, PerProcess with windowed rates), and both
# readers side by side (e2e_bpf.py: the BPF reader's feed, its drain
# thread and the blocks' exit records inside collectd). They assert
# exact byte counts; the tests that assert rates within 2% are left out,
# since ASan slows the daemon down.
#   PIDIO_ASAN_BUILDDIR    the build directory (default: build-asan in the
#                          source tree; git ignores it)
#   PIDIO_CONFIGURE_FLAGS  more configure options, e.g. --enable-werror
#   PIDIO_KEEP             keep the sanitizer logs and the tests' files
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${PIDIO_ASAN_BUILDDIR:-$top/build-asan}
[ "$#" -gt 0 ] || set -- test_bad_configs test_least_privilege \
  e2e_lifecycle.py:test_families e2e_lifecycle.py:test_pid_reuse \
  e2e_lifecycle.py:test_pidfile_restarts e2e_lifecycle.py:test_selectors \
  e2e_lifecycle.py:test_per_process e2e_bpf.py:test_readers_side_by_side

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: the end-to-end tests need root"
  exit 77
fi

mkdir -p "$build"
build=$(cd "$build" && pwd)
echo '*' >"$build/.gitignore"

# automake refuses a build directory of its own for a source tree that is
# configured in place: configure a clean copy of the sources instead.
src=$top
if [ -f "$top/config.status" ]; then
  src=$build/src
  rm -rf "$src"
  mkdir -p "$src"
  if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and new files (not what .gitignore names), and what
    # autoreconf made, with their times so that nothing is regenerated.
    (
      cd "$top"
      {
        git ls-files -co --exclude-standard
        for f in configure Makefile.in aclocal.m4 pidio_build.h.in \
          build-aux m4; do
          [ -e "$f" ] && echo "$f"
        done
      } | while IFS= read -r f; do [ -e "$f" ] && printf '%s\n' "$f"; done |
        tar -cf - -T -
    ) | tar -C "$src" -xf -
  else
    make -s -C "$top" distdir distdir="$src" >/dev/null
  fi
fi

[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi)

jobs=$(nproc 2>/dev/null || echo 2)
cd "$build"
echo "=== configure --enable-sanitizers (in $build)"
# shellcheck disable=SC2086 # PIDIO_CONFIGURE_FLAGS is a list of options
"$src/configure" --enable-sanitizers ${PIDIO_CONFIGURE_FLAGS:-} \
  >configure.log 2>&1 || {
  tail -n 30 configure.log
  exit 1
}
echo "=== build"
make -s -j"$jobs" pidio.la tests/pidio-writer >build.log 2>&1 || {
  tail -n 50 build.log
  exit 1
}
# With the BPF reader: its real-process test too (passes, the drain, the
# exit records, loading and closing).
bpf_real=""
if grep -q '^#define PIDIO_HAVE_BPF' pidio_build.h; then
  bpf_real=tests/bpf-real
fi
echo "=== unit tests, fuzz corpora${bpf_real:+ and $bpf_real} under ASan and UBSan"
# bpf-real after the others, not beside them: its fork storms hand out
# pids by the thousand, which a unit test that counts pids would notice.
# shellcheck disable=SC2016 # $(FUZZ_REPLAYS) is for make to expand
{ make -s -j"$jobs" check 'TESTS=tests/unit $(FUZZ_REPLAYS)' &&
  { [ -z "$bpf_real" ] || make -s check "TESTS=$bpf_real"; }; } \
  >check.log 2>&1 || {
  cat check.log
  for log in tests/unit.log fuzz/replay-*.log tests/bpf-real.log; do
    if grep -q '^FAIL' "$log" 2>/dev/null; then
      echo "--- $log"
      tail -n 40 "$log"
    fi
  done
  exit 1
}
grep -E '^(PASS|FAIL)' check.log || true

logdir=$(mktemp -d "${TMPDIR:-/tmp}/pidio-asan.XXXXXX")
chmod 1777 "$logdir" # collectd runs as nobody in some tests
libasan=$(sed -n 's/^LIBASAN = //p' Makefile)
echo "=== end-to-end under ASan, sanitizer logs in $logdir"
real_collectd=${COLLECTD:-/usr/sbin/collectd}
status=0
scripts=$(for t in "$@"; do
  case $t in *:*) echo "${t%%:*}" ;; *) echo e2e.py ;; esac
done | sort -u)
for script in $scripts; do
  tests=$(for t in "$@"; do
    case $t in
    "$script":*) echo "${t#*:}" ;;
    *:*) ;;
    *) if [ "$script" = e2e.py ]; then echo "$t"; fi ;;
    esac
  done)
  echo "--- $script: $(echo "$tests" | tr '\n' ' ')"
  rc=0
  # shellcheck disable=SC2086 # one argument per test name
  PIDIO_SRCDIR=$src PIDIO_BUILDDIR=$build \
    PIDIO_REAL_COLLECTD=$real_collectd \
    COLLECTD=$src/tests/collectd-asan PIDIO_LIBASAN=$libasan \
    PIDIO_ASAN_LOGDIR=$logdir python3 "$src/tests/$script" $tests || rc=$?
  case $rc in
  0) ;;
  77)
    rm -rf "$logdir"
    exit 77
    ;;
  *) status=1 ;;
  esac
done

# Each report apart: an error, or one leak of a leak report. One that names
# pidio (its module, its sources or its functions) fails the run; others
# are collectd's own and are only counted.
python3 - "$logdir" <<'EOF' || status=1
import os, re, sys

logdir = sys.argv[1]
ours = re.compile(r"pidio\.so|/src/pidio\w*\.c|\bin pidio_")
mine, others, files = [], 0, 0
for name in sorted(os.listdir(logdir)):
    files += 1
    with open(os.path.join(logdir, name), errors="replace") as f:
        text = f.read()
    parts = re.split(r"\n(?=(?:Direct|Indirect) leak of )", text)
    if "LeakSanitizer" in parts[0] and len(parts) > 1:
        parts = parts[1:]
    for part in parts:
        if not part.strip():
            continue
        if ours.search(part):
            mine.append("%s:\n%s" % (name, part.strip()))
        else:
            others += 1
for m in mine:
    print(m + "\n")
print("sanitizer reports: %d involving pidio, %d in collectd itself "
      "(%d log files)" % (len(mine), others, files))
sys.exit(1 if mine else 0)
EOF
if [ -n "${PIDIO_KEEP:-}" ]; then
  echo "kept $logdir"
else
  rm -rf "$logdir"
fi
if [ "$status" != 0 ]; then
  echo "FAIL: pidio under ASan in collectd"
  exit 1
fi
echo "PASS: pidio under ASan in collectd"
