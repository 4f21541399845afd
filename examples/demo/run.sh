#!/usr/bin/env bash
# Runs the demo from a clean state: builds `phase`, resets work/ and .state/, submits the
# tasks in tasks/, runs every phase until nothing is left to do, and shows the result.
#
#   examples/demo/run.sh
#
# Expected: five tasks succeed (lint-config after a mechanical fix), `migrate` is
# quarantined with a report, and `announce`, which needs it, ends dep_failed. The exit
# code is phase's: 1, because not every task succeeded.
set -euo pipefail
demo=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$demo/../.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
# Where cargo put it: CARGO_TARGET_DIR (if set) or target/.
bin="${CARGO_TARGET_DIR:-$root/target}/release/phase"
phase() { "$bin" --state-dir "$demo/.state" --config "$demo/coordinator.toml" "$@"; }

rm -rf "$demo/.state" "$demo/work"
cp -r "$demo/pristine" "$demo/work"
phase init >/dev/null
phase submit "$demo"/tasks/*.json >/dev/null

status=0
phase run --once || status=$?
echo
phase status
cat <<MSG

Look at:
  $demo/.state/escalations/migrate.md      the report for the task no fix could help
  $demo/.state/fix_patches.json            the diff the mechanical fixer made to work/config.ini
  $demo/.state/error_analysis.json         how each failure was classified
  $demo/.state/events.jsonl                every step, in order (try: jq -c . on it)
MSG
exit $status
