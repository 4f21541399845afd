#!/usr/bin/env bash
# The crash test at the figures of docs/RELIABILITY.md: TASKS short tasks (mixed
# durations, dependencies, one in ten failing once), `phase run` SIGKILLed KILLS times at
# random moments and restarted after each kill, `phase validate` of the state each kill
# left. Prints the figures (runs, unrecorded re-runs, concurrent copies, lost tasks,
# interrupted attempts, final statuses) and the seed; PHASE_TEST_SEED=… replays a run.
#
#   scripts/crash-test.sh [TASKS] [KILLS]      (defaults: 1500, 200)
#
# The test suite runs the same test at 1,000 tasks and 100 kills
# (tests/it/crash/kills.rs).
set -euo pipefail
tasks=${1:-1500}
kills=${2:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
PHASE_CRASH_TASKS=$tasks PHASE_CRASH_KILLS=$kills \
  cargo test --manifest-path "$root/Cargo.toml" --test it \
  crash::kills::sigkills_at_random_moments_lose_nothing_and_run_nothing_twice \
  -- --exact --nocapture >"$log" 2>&1 || status=$?
grep -E "random seed|crash test:|test result|panicked|assert" "$log" || tail -40 "$log"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
