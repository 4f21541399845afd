#!/usr/bin/env bash
# Fake tool: appends "start <id> <ns>" and "end <id> <ns>" to a stamps file, sleeping in
# between, then exits with the given code.
# usage: stamp.sh STAMPS_FILE ID [SECONDS] [EXIT_CODE]
set -u
file=$1 id=$2 pause=${3:-0} code=${4:-0}
echo "start $id $(date +%s%N)" >> "$file"
if [ "$pause" != 0 ]; then sleep "$pause"; fi
echo "end $id $(date +%s%N)" >> "$file"
if [ "$code" != 0 ]; then echo "stamp: $id fails with $code" >&2; fi
exit "$code"
