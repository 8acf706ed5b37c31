#!/bin/sh
# Build pidio and run every test: the Check unit tests, the end-to-end tests
# against the real collectd daemon (csv writer, exact byte counts), and
# 'make distcheck'. Installs what it needs with apt-get. Needs root (it
# re-runs itself with sudo): the end-to-end tests read other processes and
# run collectd as an unprivileged user.
set -eu
if [ "$(id -u)" != 0 ]; then
  exec sudo -E "$0" "$@"
fi
cd "$(dirname "$0")/.."
. ./contrib/deps.sh
pidio_install $PIDIO_BUILD_DEPS $PIDIO_CHECK_DEPS

jobs=$(nproc 2>/dev/null || echo 2)
started=$(date +%s)
step() { printf '\n=== %s (%s s)\n' "$*" $(($(date +%s) - started)); }

step "configure"
autoreconf -fi
./configure --enable-werror --with-bpf

step "build"
make -j"$jobs"

step "unit and end-to-end tests (make check)"
e2e_logs="tests/e2e.log tests/e2e_lifecycle.log tests/e2e_pipelines.log tests/e2e_prometheus.log
  tests/e2e_fleet.log tests/e2e_groups.log tests/e2e_reliability.log tests/stream.log
  tests/bpf-real.log tests/e2e_bpf.log tests/e2e_groups_churn.log"
# Ten minutes of GroupBy churn under collectd (e2e_reliability.py
# test_groups_churn): mostly waiting, so it runs beside the whole of make
# check, and make check's own run of that file leaves it out.
make -j"$jobs" all tests/pidio-writer >/dev/null
PIDIO_SRCDIR=$(pwd) PIDIO_BUILDDIR=$(pwd) \
  python3 tests/e2e_reliability.py test_groups_churn >tests/e2e_groups_churn.log 2>&1 &
churn=$!
trap 'kill $churn 2>/dev/null || true' EXIT
# Tests one after another: several run collectd and time-sensitive writers.
if ! PIDIO_GROUPS_CHURN_APART=1 make check; then
  for log in tests/unit.log $e2e_logs; do
    [ -f "$log" ] && { echo "--- $log"; cat "$log"; }
  done
  exit 1
fi
step "the ten minutes of GroupBy churn, started beside make check"
if ! wait $churn; then
  cat tests/e2e_groups_churn.log
  echo "check: tests/e2e_reliability.py test_groups_churn failed" >&2
  exit 1
fi
trap - EXIT
grep -E '^(PASS|FAIL)' tests/e2e_groups_churn.log | tail -n 12
# A test that skipped (exit 77) did not run: here everything must run.
# test-suite.log lists only the tests that did not pass, so read every
# test's own result file instead.
skipped=$(grep -l '^:test-result: SKIP' $(find . -name '*.trs' -newer config.status) || true)
ran=$(find . -name '*.trs' -newer config.status | wc -l)
if [ "$ran" -eq 0 ]; then
  echo "check: make check left no test results (*.trs)" >&2
  exit 1
fi
if [ -n "$skipped" ]; then
  for trs in $skipped; do
    echo "--- ${trs%.trs}.log"
    cat "${trs%.trs}.log"
  done
  echo "check: skipped, and so failed here (every test must run):" $skipped >&2
  exit 1
fi

step "fuzzing: every parser and the configuration, 10 s each (make fuzz)"
make -j"$jobs" fuzz FUZZ_SECONDS=10

step "valgrind: unit tests and fuzz corpora (make check-valgrind)"
make check-valgrind

step "ThreadSanitizer: unit tests, blocks updated from 4 threads, BPF passes and drains (make check-tsan)"
make check-tsan

step "ASan+UBSan: unit tests, fuzz corpora, collectd end to end (tests/e2e_asan.sh)"
./tests/e2e_asan.sh

step "make distcheck: the release tarball builds out of tree, unit tests and one end-to-end script"
make distcheck TESTS="$(make -s print-distcheck-tests)"
# The tarball carries every file of the repository but these (the whole
# suite ran from the tree above, on the same sources).
if [ -d .git ]; then
  tarball="pidio-$(sed -n 's/^PACKAGE_VERSION = //p' Makefile).tar.gz"
  tar -tzf "$tarball" | sed 's|^[^/]*/||' | sort >tests/dist-files.txt
  git -c safe.directory="$(pwd)" ls-files | grep -v -x -e .clang-format \
    -e .gitignore -e fuzz/.gitignore -e m4/.gitkeep | sort >tests/git-files.txt
  if [ ! -s tests/git-files.txt ]; then
    echo "check: git ls-files listed nothing" >&2
    exit 1
  fi
  missing=$(comm -23 tests/git-files.txt tests/dist-files.txt)
  if [ -n "$missing" ]; then
    echo "check: the release tarball lacks:" $missing >&2
    exit 1
  fi
  echo "the release tarball carries all $(wc -l <tests/git-files.txt) files of the repository but 4 (dotfiles, m4/.gitkeep)"
else
  echo "not a git clone: the tarball's completeness was not compared"
fi

step "without the BPF reader: the release tarball, configure --without-bpf, unit tests"
# In a copy: the tree itself is configured in place.
rm -rf build-nobpf
mkdir build-nobpf
echo '*' >build-nobpf/.gitignore
tar -xzf "pidio-$(sed -n 's/^PACKAGE_VERSION = //p' Makefile).tar.gz" -C build-nobpf
(cd build-nobpf/pidio-* && ./configure --enable-werror --without-bpf \
    >configure.log 2>&1 && make -j"$jobs" >make.log 2>&1 &&
  make check TESTS=tests/unit >check.log 2>&1) || {
  tail -n 30 build-nobpf/pidio-*/*.log
  exit 1
}
if grep -q '^#define PIDIO_HAVE_BPF' build-nobpf/pidio-*/pidio_build.h; then
  echo "check: --without-bpf still built the BPF reader" >&2
  exit 1
fi
grep -E '^[0-9]+%: Checks' build-nobpf/pidio-*/tests/unit.log

step "Debian package: build, install, run, remove"
if ! sh tests/deb.sh >tests/deb.log 2>&1; then
  cat tests/deb.log
  exit 1
fi
grep -E '^(PASS|FAIL)' tests/deb.log

# The runners' own closing lines, added up.
step "summary"
passed=0
failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }
unit=$(sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' tests/unit.log)
set -- $unit
echo "unit: $(($1 - $2 - $3)) passed, $(($2 + $3)) failed"
add $(($1 - $2 - $3)) $(($2 + $3))
for log in $e2e_logs tests/deb.log; do
  line=$(grep -E '^([a-z_-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  line=${line#*: }
  echo "$(basename "$log" .log): $line"
  p=${line%% passed*}
  f=$(echo "$line" | sed 's/.*passed, \([0-9]*\) failed.*/\1/')
  add "$p" "$f"
done
echo "check: $passed passed, $failed failed, in $(($(date +%s) - started)) s"
[ "$failed" -eq 0 ]
