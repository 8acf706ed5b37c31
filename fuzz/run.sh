#!/bin/sh
# Run one fuzz target for a bounded time, from the build directory:
#   fuzz/run.sh TARGET SECONDS SRCDIR
# It starts from the seeds and regression inputs of SRCDIR/fixtures/fuzz/
# TARGET (read only) and the inputs earlier runs found in fuzz/corpus/TARGET
# (where new ones go). A crash, leak, timeout or sanitizer report stops it:
# the input is saved as fuzz/artifacts/TARGET-crash-<sha1> (or leak-,
# timeout-, oom-), the end of the log is shown, and it fails. To keep a
# crash as a regression input once fixed, copy it into fixtures/fuzz/TARGET.
set -u
target=$1
seconds=$2
srcdir=$3
bin=fuzz/fuzz-$target
log=fuzz/$target.log
mkdir -p "fuzz/corpus/$target" fuzz/artifacts
set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target-"
if [ -f "$srcdir/fuzz/$target.dict" ]; then
  set -- "$@" -dict="$srcdir/fuzz/$target.dict"
fi
PIDIO_SRCDIR=$srcdir \
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  "$bin" "$@" "fuzz/corpus/$target" "$srcdir/fixtures/fuzz/$target" \
  >"$log" 2>&1
rc=$?
if [ "$rc" != 0 ]; then
  echo "FAIL: fuzz $target (exit $rc); the end of $log:"
  tail -n 60 "$log"
  for f in fuzz/artifacts/"$target"-*; do
    [ -e "$f" ] && echo "input: $f"
  done
  exit 1
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
cov=$(echo "$done_line" |
  sed -n 's/.*\(cov: [0-9]*\).*\(corp: [^ ]*\).*/\1, \2/p')
echo "fuzz $target: ${runs:-?} runs in ${seconds} s, ${cov:-?}: no crash"
