#!/usr/bin/env bash
# Throughput right after a large deletion: creates and deletes a tree of M files in
# TMPDIR, then at once runs `scripts/bench.sh N PARALLEL` there (the engine against
# `xargs -P` in the same run). On a file system that is slow to create files next to
# recently deleted inodes, whoever creates files pays for it: the engine used to create a
# claim file per task (since 41340ac it creates none for a task without output), xargs
# none; docs/PERFORMANCE.md says where that happens.
#
#   scripts/bench-after-delete.sh [N] [PARALLEL] [M]      (defaults: 10000, 2, 100000)
set -euo pipefail
n=${1:-10000}
par=${2:-2}
m=${3:-100000}
here=$(cd "$(dirname "$0")" && pwd)

tree=$(mktemp -d)
python3 - "$tree" "$m" <<'PY'
import os, sys
d, m = sys.argv[1], int(sys.argv[2])
for i in range(m):
    sub = os.path.join(d, f"d{i // 10000:03d}")
    if i % 10000 == 0:
        os.mkdir(sub)
    os.close(os.open(os.path.join(sub, f"f{i:07d}"), os.O_CREAT | os.O_WRONLY, 0o644))
PY
rm -rf "$tree"
echo "deleted a tree of $m files in ${TMPDIR:-/tmp}"
"$here/bench.sh" "$n" "$par"
