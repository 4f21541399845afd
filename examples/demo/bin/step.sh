#!/usr/bin/env bash
# A pipeline step: records that it ran and what it consumed, like a build tool would.
set -euo pipefail
name=$1; shift
mkdir -p out
for input in "$@"; do
  [ -e "out/$input.done" ] || { echo "error: input $input is missing" >&2; exit 1; }
done
echo "$name built at $(date -u +%H:%M:%S)" > "out/$name.done"
echo "$name: ok"
