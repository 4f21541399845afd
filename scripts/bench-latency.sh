#!/usr/bin/env bash
# Drop-to-start latency: one task file at a time renamed into the inbox of an idle
# `phase run` (all three phases, default [state] settings), against a bare inotify watcher
# on a directory of the same file system, in the same run.
#
#   scripts/bench-latency.sh [N]      (default 300 drops of each kind)
#   DEBOUNCE_MS=1 scripts/bench-latency.sh   (same with [state] debounce_ms = 1)
#
# Each task runs `stamp`, a tiny static C program that reads CLOCK_REALTIME first thing
# in main() and writes it to a FIFO; latency = that − time.time_ns() just before the
# rename. The recorder's own start-up (spawn → main()) is measured N times in the same run
# and its p50 subtracted. Drops are interleaved (engine, bare, recorder) with random
# 20–50 ms idle gaps, so nothing queues. Prints p50/p99 of each; see scripts/latency.py.
set -euo pipefail
n=${1:-300}
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
engine_pid=
cleanup() {
  if [ -n "$engine_pid" ]; then kill -TERM "$engine_pid" 2>/dev/null || true; wait "$engine_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/config" "$work/staging" "$work/bare" "$work/bin"
cat > "$work/bin/stamp.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
/* stamp FIFO LABEL: writes "LABEL <CLOCK_REALTIME ns at main()>\n" to FIFO. */
int main(int argc, char **argv) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (argc != 3) return 2;
    char line[256];
    int len = snprintf(line, sizeof line, "%s %lld\n", argv[2],
                       (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
    int fd = open(argv[1], O_WRONLY);
    return fd < 0 || write(fd, line, len) != len;
}
C
gcc -O2 -static -o "$work/bin/stamp" "$work/bin/stamp.c" 2>/dev/null \
  || gcc -O2 -o "$work/bin/stamp" "$work/bin/stamp.c"
mkfifo "$work/stamps.fifo"
printf '[execution]\nmax_parallel = 2\n' > "$work/config/coordinator.toml"
if [ -n "${DEBOUNCE_MS:-}" ]; then
  printf '[state]\ndebounce_ms = %d\n' "$DEBOUNCE_MS" >> "$work/config/coordinator.toml"
fi
"$phase" --state-dir "$work/.state" --config "$work/config/coordinator.toml" init >/dev/null
"$phase" --state-dir "$work/.state" --config "$work/config/coordinator.toml" run \
  >"$work/run.log" 2>&1 &
engine_pid=$!

python3 "$here/latency.py" drive "$work" "$n" "$work/bin/stamp" "$work/.state/events.jsonl"
