#!/usr/bin/env bash
# Latency an acceptance gate's `verify` step adds to a task, beyond its own run time.
#
#   scripts/bench-gate.sh [N]      (default 200)
#
# Two runs of N tasks in a dependency chain (so each task's hand-offs happen alone, with
# no queueing), each task running `true`: one without a gate, one where every task has
# `verify` (a trivial sh script). Per task we take the chain hand-off
#   hand-off = next task's started_at − this task's finished_at   (execution_results.json)
# which, with a gate, includes exit → verifying → verify → verdict → succeeded. The gate's
# cost is the gated hand-off minus the plain one (p50); what it adds beyond its own run
# time subtracts the verify script's own time, measured by running it N times in this
# same run. Also splits the gated path by its events (millisecond resolution).
set -euo pipefail
n=${1:-200}
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
cat > "$work/bin/verify.sh" <<'SH'
test -d .
SH

# run NAME GATED: a chain of N tasks in $work/NAME, run to completion.
run() {
  local dir="$work/$1" gated=$2
  mkdir -p "$dir/config"
  cat > "$dir/config/coordinator.toml" <<TOML
[execution]
max_parallel = 2
[state]
debounce_ms = 1
TOML
  "$phase" --state-dir "$dir/.state" --config "$dir/config/coordinator.toml" init >/dev/null
  python3 - "$dir" "$n" "$gated" "$work/bin/verify.sh" <<'PY'
import json, os, sys
dir, n, gated, verify = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
os.makedirs(f"{dir}/staging", exist_ok=True)
for i in range(n):
    task = {"kind": "shell", "command": ["true"]}
    if gated:
        task["verify"] = ["sh", verify]
    if i:
        task["depends_on"] = [f"t{i-1:05d}"]
    with open(f"{dir}/staging/t{i:05d}.json", "w") as f:
        json.dump(task, f)
PY
  find "$dir/staging" -name '*.json' -exec mv -t "$dir/.state/inbox/" {} +
  "$phase" --state-dir "$dir/.state" --config "$dir/config/coordinator.toml" run --once >/dev/null
}
run plain 0
run gated 1

python3 - "$work" "$n" <<'PY'
import json, subprocess, sys, time
from datetime import datetime
work, n = sys.argv[1], int(sys.argv[2])
def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
def handoffs(name):
    results = json.load(open(f"{work}/{name}/.state/execution_results.json"))["results"]
    by_id = {r["task_id"]: r for r in results}
    out = []
    for i in range(n):
        a = by_id[f"t{i:05d}"]["attempts"]
        if len(a) != 1 or a[0]["status"] != "succeeded":
            sys.exit(f"{name}: t{i:05d} did not succeed at once: {[x['status'] for x in a]}")
    for i in range(n - 1):
        this = by_id[f"t{i:05d}"]["attempts"][0]
        nxt = by_id[f"t{i+1:05d}"]["attempts"][0]
        out.append(ts(nxt["started_at"]) - ts(this["finished_at"]))
    return out
plain, gated = handoffs("plain"), handoffs("gated")
# Split of the gated path, from its events.
marks = {}
with open(f"{work}/gated/.state/events.jsonl") as f:
    for line in f:
        e = json.loads(line)
        if e["type"] in ("TASK_VERIFYING", "GATE_PASSED", "TASK_SUCCEEDED"):
            marks.setdefault(e["task_id"], {})[e["type"]] = ts(e["ts"])
results = json.load(open(f"{work}/gated/.state/execution_results.json"))["results"]
exit_to = {"TASK_VERIFYING": [], "GATE_PASSED": [], "TASK_SUCCEEDED": []}
for r in results:
    end = ts(r["attempts"][0]["finished_at"])
    for k in exit_to:
        exit_to[k].append(marks[r["task_id"]][k] - end)
# The verify script's own time, same machine, same run.
own = []
for _ in range(n):
    t = time.perf_counter()
    subprocess.run(["sh", f"{work}/bin/verify.sh"], cwd=work)
    own.append((time.perf_counter() - t) * 1000)
row = "{:<44} p50 {:6.1f} ms   p99 {:6.1f} ms"
print(f"tasks                                        {n} per run, in a chain")
print(row.format("hand-off without a gate", pct(plain, 50), pct(plain, 99)))
print(row.format("hand-off with verify", pct(gated, 50), pct(gated, 99)))
print(row.format("  exit → TASK_VERIFYING", pct(exit_to["TASK_VERIFYING"], 50), pct(exit_to["TASK_VERIFYING"], 99)))
print(row.format("  exit → GATE_PASSED", pct(exit_to["GATE_PASSED"], 50), pct(exit_to["GATE_PASSED"], 99)))
print(row.format("  exit → TASK_SUCCEEDED", pct(exit_to["TASK_SUCCEEDED"], 50), pct(exit_to["TASK_SUCCEEDED"], 99)))
print(row.format("verify's own time", pct(own, 50), pct(own, 99)))
added = pct(gated, 50) - pct(plain, 50)
print(f"the gate adds (p50 difference)               {added:6.1f} ms")
print(f"beyond verify's own time                     {added - pct(own, 50):6.1f} ms   (target ≤ 10 ms)")
print("(timestamps in the files have millisecond resolution)")
PY
