#!/usr/bin/env bash
# Scaling benchmark: is the engine's cost per task flat as tasks grow? Runs the
# scripts/bench.sh measurement (N tasks running `true`, dropped at once by rename, then
# `phase run --once`, max_parallel 2; `seq N | xargs -P 2 -n 1 true` as reference) at a
# small and a large N in the same run, and prints time(large)/time(small), the same ratio
# for xargs (how far the machine itself stays linear), peak RSS, and a timeline of each
# run from events.jsonl (where the time goes if the ratio grows).
#
#   scripts/bench-scale.sh [SMALL] [LARGE]      (defaults: 10000 100000)
#
# Both work directories are kept until the end: deleting 10k tasks' files just before
# creating 100k would slow the large run's file creation on this machine's ext4.
set -euo pipefail
small=${1:-10000}
large=${2:-100000}
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
printf '[execution]\nmax_parallel = 2\n' > "$top/coordinator.toml"

# run N: prints one JSON line {n, xargs, phase} for N tasks.
run() {
  local n=$1 work="$top/n$1"
  mkdir -p "$work/staging"
  "$phase" --state-dir "$work/.state" --config "$top/coordinator.toml" init >/dev/null
  python3 - "$work/staging" "$n" <<'PY'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"t{i:06d}.json"), "w") as f:
        json.dump({"kind": "shell", "command": ["true"]}, f)
PY
  local x p
  x=$(python3 "$here/measure.py" bash -c "seq $n | xargs -P 2 -n 1 true")
  find "$work/staging" -name '*.json' -exec mv -t "$work/.state/inbox/" {} +
  p=$(python3 "$here/measure.py" "$phase" --state-dir "$work/.state" \
    --config "$top/coordinator.toml" run --once)
  printf '{"n": %d, "xargs": %s, "phase": %s}\n' "$n" "$x" "$p"
}

small_json=$(run "$small")
large_json=$(run "$large")
echo "$small_json" >&2
echo "$large_json" >&2

python3 - "$top" "$small_json" "$large_json" <<'PY'
import json, sys
from datetime import datetime
top, runs = sys.argv[1], [json.loads(a) for a in sys.argv[2:]]

def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()

def timeline(n):
    """Seconds since RUN_STARTED of: last TASK_ROUTED, first/last TASK_STARTED, RUN_COMPLETE."""
    first, marks = None, {}
    with open(f"{top}/n{n}/.state/events.jsonl") as f:
        for line in f:
            e = json.loads(line)
            t, k = ts(e["ts"]), e["type"]
            if k == "RUN_STARTED" and first is None:
                first = t
            elif k == "TASK_ROUTED":
                marks["last routed"] = t
            elif k == "TASK_STARTED":
                marks.setdefault("first started", t)
                marks["last started"] = t
            elif k == "RUN_COMPLETE":
                marks["run complete"] = t
    return {k: v - first for k, v in marks.items()}

failed = False
for r in runs:
    n = r["n"]
    with open(f"{top}/n{n}/.state/execution_results.json") as f:
        ok = sum(1 for x in json.load(f)["results"] if x["status"] == "succeeded")
    x, p = r["xargs"]["wall_s"], r["phase"]["wall_s"]
    print(f"N = {n}: xargs -P2 {x:.2f} s ({x / n * 1000:.3f} ms/task), "
          f"phase run --once {p:.2f} s ({p / n * 1000:.3f} ms/task), "
          f"exit {r['phase']['exit']}, {ok}/{n} succeeded, "
          f"peak RSS {r['phase']['max_rss_kib'] / 1024:.1f} MiB, vs xargs {p / x:.2f}")
    print("  timeline (s after RUN_STARTED): " +
          ", ".join(f"{k} {v:.2f}" for k, v in timeline(n).items()))
    failed |= ok != n or r["phase"]["exit"] != 0
s, l = runs
print(f"time({l['n']}) / time({s['n']}): phase {l['phase']['wall_s'] / s['phase']['wall_s']:.2f} "
      f"(target ≤ {1.1 * l['n'] / s['n']:.1f}), "
      f"xargs {l['xargs']['wall_s'] / s['xargs']['wall_s']:.2f}")
sys.exit(1 if failed else 0)
PY
