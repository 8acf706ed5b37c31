#!/bin/sh
# make check-valgrind: the unit tests and the fuzz corpus replays under
# valgrind's memcheck, every error and every leak fatal. The unit tests'
# slowest suites run in runs of their own, side by side with the rest
# (VALGRIND_JOBS at once, default one per CPU): memcheck runs a program on
# one CPU. Each run has its own log, tests/*.valgrind.log.
#
# Called by make with VALGRIND, LIBTOOL, PIDIO_SRCDIR and the replays'
# names as arguments; tests/valgrind.sh --one ITEM runs one of them.
set -eu

# Suites run apart; the rest of the unit tests run in one more run.
slow="adapter group groups"

one() {
  item=$1
  case $item in
  suite:*)
    suite=${item#suite:}
    log=tests/unit-$suite.valgrind.log
    prog=tests/unit
    set -- CK_RUN_SUITE="$suite"
    ;;
  rest)
    log=tests/unit-rest.valgrind.log
    prog=tests/unit
    set -- PIDIO_UNIT_SKIP="$(echo $slow | tr ' ' ,)"
    ;;
  *)
    log=$item.valgrind.log
    prog=$item
    set --
    ;;
  esac
  # LIBTOOL is a command with its arguments: split on purpose.
  if ! env "$@" CK_FORK=no $LIBTOOL --mode=execute "$VALGRIND" -q \
    --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
    --error-exitcode=1 "./$prog" >"$log" 2>&1; then
    cat "$log"
    echo "FAIL: valgrind: $item"
    return 1
  fi
  if [ "$prog" = tests/unit ]; then
    # A suite name that is no suite runs no check, and Check passes it.
    if ! grep -Eq '^100%: Checks: [1-9][0-9]*, Failures: 0, Errors: 0' "$log"; then
      cat "$log"
      echo "FAIL: valgrind: $item ran no check"
      return 1
    fi
  fi
  # One line when done: the runs' lines do not interleave.
  echo "valgrind: $item: $(tail -n 1 "$log")"
}

if [ "${1-}" = --one ]; then
  one "$2"
  exit
fi

: "${VALGRIND:?}" "${LIBTOOL:?}" "${PIDIO_SRCDIR:?}"
export VALGRIND LIBTOOL PIDIO_SRCDIR
jobs=${VALGRIND_JOBS:-$(nproc 2>/dev/null || echo 1)}
items=""
for s in $slow; do
  items="$items suite:$s"
done
# The slow ones first, so that the short ones fill in beside them.
if ! printf '%s\n' $items rest "$@" |
  xargs -P "$jobs" -I '{}' sh "$0" --one '{}'; then
  echo "valgrind: a run failed (above)" >&2
  exit 1
fi
echo "valgrind: no error, no leak"
