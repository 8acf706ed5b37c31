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
pidio_install $PIDIO_BUILD_DEPS

jobs=$(nproc 2>/dev/null || echo 2)
step() { printf '\n=== %s\n' "$*"; }

step "configure"
autoreconf -fi
./configure --enable-werror

step "build"
make -j"$jobs"

step "unit and end-to-end tests (make check)"
if ! make -j"$jobs" check; then
  for log in tests/unit.log tests/e2e.log; do
    [ -f "$log" ] && { echo "--- $log"; cat "$log"; }
  done
  exit 1
fi
# The runners' own summaries.
grep -E '^[0-9]+%: Checks:' tests/unit.log
grep -E '^[0-9]+ passed, [0-9]+ failed' tests/e2e.log

step "make distcheck"
make -j"$jobs" distcheck

unit_total=$(sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' tests/unit.log)
set -- $unit_total
unit_failed=$(($2 + $3))
unit_passed=$(($1 - unit_failed))
e2e=$(grep -E '^[0-9]+ passed, [0-9]+ failed' tests/e2e.log | tail -n 1)
e2e_passed=${e2e%% passed*}
e2e_failed=$(echo "$e2e" | sed 's/.*passed, \([0-9]*\) failed.*/\1/')
step "summary"
echo "check: $((unit_passed + e2e_passed)) passed, $((unit_failed + e2e_failed)) failed"
