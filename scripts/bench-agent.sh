#!/usr/bin/env bash
# Engine overhead of an AI coding agent step: everything but the CLI's own run time.
#
#   scripts/bench-agent.sh [N] [in-place|worktree|both]      (default 200 both)
#
# N `code` tasks in a dependency chain (each step alone on the critical path), routed to a
# tool with the `claude` preset — the preset's real argv, env, own HOME, prompt file and
# `{prompt}`, `require_changes`, and the parsing of `--output-format json` for tokens and
# cost. The `claude` on PATH is a stand-in that exits at once: it edits its task's file,
# prints a result object with usage, exits 0. Per step we take
#   step = finished_at[i] − finished_at[i−1]          (from execution_results.json)
#   overhead = step − duration_ms[i]                  (the CLI process's own wall time)
# i.e. recording the previous step, unblocking this one, preparing it (agent home, prompt),
# spawning, collecting, parsing its usage. Run twice: in place, and with
# `isolation = "worktree"` (git worktree add, commit, diff, merge back, remove per step),
# followed by the floor measured in the same run: one bare git process, and a bare
# `git worktree add` + `git worktree remove` of the same repository.
set -euo pipefail
n=${1:-200}
which=${2:-both}
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
# The stand-in CLI: POSIX sh (dash), no model; what claude -p --output-format json prints.
cat > "$work/bin/claude" <<'SH'
#!/bin/sh
echo changed >> a.txt
printf '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"Done.","total_cost_usd":0.001,"usage":{"input_tokens":100,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":10}}\n'
SH
chmod +x "$work/bin/claude"

# One chain in $1 (a fresh project directory); $2: the tool's extra TOML line.
run_chain() {
  local dir=$1 extra=$2
  mkdir -p "$dir/config"
  cat > "$dir/config/coordinator.toml" <<TOML
[tools.claude]
preset = "claude"
$extra
[[routing.rules]]
kind = "code"
candidates = ["claude"]
[execution]
max_parallel = 2
[state]
debounce_ms = 1
TOML
  python3 - "$dir" "$n" <<'PY'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{d}/staging", exist_ok=True)
for i in range(n):
    os.makedirs(f"{d}/w{i}", exist_ok=True)
    with open(f"{d}/w{i}/a.txt", "w") as f:
        f.write("start\n")
    task = {"kind": "code", "description": f"Change a.txt ({i})", "files": ["a.txt"],
            "workdir": f"w{i}"}
    if i:
        task["depends_on"] = [f"t{i-1:05d}"]
    with open(f"{d}/staging/t{i:05d}.json", "w") as f:
        json.dump(task, f)
PY
  if [ -n "$extra" ]; then
    printf '.state/\nstaging/\nconfig/\n' > "$dir/.gitignore"
    git -C "$dir" init --quiet
    git -C "$dir" add .
    git -C "$dir" -c user.name=b -c user.email=b@b commit --quiet -m start
  fi
  "$phase" --state-dir "$dir/.state" --config "$dir/config/coordinator.toml" init >/dev/null
  find "$dir/staging" -name '*.json' -exec mv -t "$dir/.state/inbox/" {} +
  PATH="$work/bin:$PATH" ANTHROPIC_API_KEY=sk-bench \
    "$phase" --state-dir "$dir/.state" --config "$dir/config/coordinator.toml" run --once >/dev/null
  python3 - "$dir" "$n" "${extra:-in place}" <<'PY'
import json, sys
from datetime import datetime
d, n, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000
results = sorted(json.load(open(f"{d}/.state/execution_results.json"))["results"],
                 key=lambda r: r["task_id"])
attempts = []
for r in results:
    a = r["attempts"][-1]
    if r["status"] != "succeeded" or len(r["attempts"]) != 1 or "usage" not in a:
        sys.exit(f"task {r['task_id']}: {r['status']}, {len(r['attempts'])} attempt(s): {a}")
    attempts.append(a)
cli = [a["duration_ms"] for a in attempts[1:]]
steps = [ts(b["finished_at"]) - ts(a["finished_at"]) for a, b in zip(attempts, attempts[1:])]
over = [s - c for s, c in zip(steps, cli)]
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
print(f"{how}: {n} agent steps")
print(f"  step, end to end          p50 {pct(steps, 50):6.1f} ms   p99 {pct(steps, 99):6.1f} ms")
print(f"  the CLI's own run time    p50 {pct(cli, 50):6.1f} ms   p99 {pct(cli, 99):6.1f} ms")
print(f"  engine overhead           p50 {pct(over, 50):6.1f} ms   p99 {pct(over, 99):6.1f} ms")
PY
}

if [ "$which" != worktree ]; then
  start=$(date +%s%N)
  run_chain "$work/plain" ""
  echo "  (the whole chain: $(( ($(date +%s%N) - start) / 1000000 )) ms, setup included)"
fi
if [ "$which" != in-place ]; then
  run_chain "$work/isolated" 'isolation = "worktree"'
  # The floor, in the same run: what bare git costs for the same repository (N task
  # directories): one short git process, and a worktree made and removed (the checkout of
  # every file and its removal), 20 times each.
  python3 - "$work/isolated" <<'PY'
import subprocess, sys, time
repo = sys.argv[1]
def p50(f, n=20):
    xs = []
    for _ in range(n):
        t = time.perf_counter(); f(); xs.append((time.perf_counter() - t) * 1000)
    return sorted(xs)[len(xs) // 2]
def git(*args):
    subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True)
one = p50(lambda: git("rev-parse", "HEAD"))
def add_remove():
    git("worktree", "add", "--quiet", "--detach", f"{repo}/.floor", "HEAD")
    git("worktree", "remove", "--force", f"{repo}/.floor")
both = p50(add_remove)
print(f"  floor: one git process      p50 {one:6.1f} ms")
print(f"  floor: git worktree add + remove (bare)  p50 {both:6.1f} ms")
PY
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(timestamps in the results have millisecond resolution)"
