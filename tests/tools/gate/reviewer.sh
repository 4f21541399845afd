#!/bin/sh
# Fake reviewer (the `review` tool of an acceptance gate): `reviewer.sh PROMPT_FILE COUNTER`.
# The first review rejects with reasons on stdout (exit 1); every later one approves
# (exit 0). It refuses to judge without a prompt that shows the attempt's diff (exit 3).
prompt=$1 counter=$2
grep -q '^+++ b/' "$prompt" || { echo "reviewer: no diff in $prompt" >&2; exit 3; }
n=$(cat "$counter" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$counter"
if [ "$n" -eq 1 ]; then
    echo "Rejected: out.txt lacks a header line"
    echo "Please add one."
    exit 1
fi
echo "Approved: looks good"
