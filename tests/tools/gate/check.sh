#!/bin/sh
# Fake `verify` of an acceptance gate: `check.sh FILE` passes (exit 0) when FILE says
# "fixed", and otherwise fails the way a test runner does: an assertion with file and line
# on stdout, a summary on stderr.
file=$1
if grep -q fixed "$file" 2>/dev/null; then
    echo "check: $file is fixed"
    exit 0
fi
echo "$file:1: assertion failed: expected 'fixed', found '$(head -n 1 "$file" 2>/dev/null)'"
echo "check: 1 failed" >&2
exit 1
