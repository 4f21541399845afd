#!/usr/bin/env bash
# Fake tool that fails until it has run N times: runs 1..N exit 1 with a message on
# stderr, later runs exit 0.
# usage: flaky.sh COUNTER_FILE N
set -u
n=$(( $(cat "$1" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$1"
if [ "$n" -le "$2" ]; then
  echo "flaky: run $n fails" >&2
  exit 1
fi
echo "flaky: run $n ok"
