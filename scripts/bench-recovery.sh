#!/usr/bin/env bash
# Latency the engine adds on the fail → analyse → fix → retry path, with instant tools.
#
#   scripts/bench-recovery.sh [N]      (default 200)
#
# N tasks in a dependency chain (so each goes through the loop alone, with no queueing
# behind the others). Each task's check fails once; the detector reports the problem, the
# mechanical fixer repairs it, the retry succeeds. Per task we take
#   loop = attempt 2 started_at − attempt 1 finished_at   (from execution_results.json)
# and subtract the tools' own time on that path (detector, fixer, detector again), measured
# by running the same three commands N times in this same run. Prints p50 and p99 of both.
set -euo pipefail
n=${1:-200}
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/config" "$work/files" "$work/bin"
# POSIX sh tools (dash on Debian): a check, a detector in `file:line:col: rule msg` form,
# and a fixer.
cat > "$work/bin/check.sh" <<'SH'
! grep -q bad "$1"
SH
cat > "$work/bin/detect.sh" <<'SH'
if grep -q bad "$1"; then echo "$1:1:1: E1 bad content"; exit 1; fi
SH
cat > "$work/bin/fix.sh" <<'SH'
echo good > "$1"
SH
cat > "$work/config/coordinator.toml" <<TOML
[execution]
max_parallel = 2
[execution.backoff]
initial_ms = 0
factor = 1.0
max_ms = 0
[state]
debounce_ms = 1
[recovery]
ladder = ["mechanical_fix"]
[recovery.detectors.bad]
command = ["sh", "$work/bin/detect.sh", "{files}"]
parser = "generic"
fixer = ["sh", "$work/bin/fix.sh", "{files}"]
TOML
"$phase" --state-dir "$work/.state" --config "$work/config/coordinator.toml" init >/dev/null
python3 - "$work" "$n" <<'PY'
import json, os, sys
work, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{work}/staging", exist_ok=True)
for i in range(n):
    with open(f"{work}/files/f{i}.txt", "w") as f:
        f.write("bad\n")
    task = {"kind": "check", "command": ["sh", f"{work}/bin/check.sh", f"files/f{i}.txt"],
            "files": [f"files/f{i}.txt"]}
    if i:
        task["depends_on"] = [f"t{i-1:05d}"]
    with open(f"{work}/staging/t{i:05d}.json", "w") as f:
        json.dump(task, f)
PY
find "$work/staging" -name '*.json' -exec mv -t "$work/.state/inbox/" {} +
"$phase" --state-dir "$work/.state" --config "$work/config/coordinator.toml" run --once >/dev/null

# The tools' own time on the path, same machine, same run.
python3 - "$work" "$n" <<'PY'
import json, subprocess, sys, time
from datetime import datetime
work, n = sys.argv[1], int(sys.argv[2])
def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
results = json.load(open(f"{work}/.state/execution_results.json"))["results"]
loops = []
for r in results:
    a = r["attempts"]
    if len(a) != 2 or a[1]["status"] != "succeeded":
        sys.exit(f"task {r['task_id']} did not go fail → fix → succeed: {[x['status'] for x in a]}")
    loops.append((ts(a[1]["started_at"]) - ts(a[0]["finished_at"])) * 1000)
tools = []
with open(f"{work}/files/probe.txt", "w") as f:
    f.write("bad\n")
for _ in range(n):
    with open(f"{work}/files/probe.txt", "w") as f:
        f.write("bad\n")
    t = time.perf_counter()
    subprocess.run(["sh", f"{work}/bin/detect.sh", "files/probe.txt"], cwd=work, stdout=subprocess.DEVNULL)
    subprocess.run(["sh", f"{work}/bin/fix.sh", "files/probe.txt"], cwd=work)
    subprocess.run(["sh", f"{work}/bin/detect.sh", "files/probe.txt"], cwd=work, stdout=subprocess.DEVNULL)
    tools.append((time.perf_counter() - t) * 1000)
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
tool_p50 = pct(tools, 50)
print(f"tasks                           {n} (each: fail, analyse, fix, retry, succeed)")
print(f"failure → retry start           p50 {pct(loops, 50):6.1f} ms   p99 {pct(loops, 99):6.1f} ms")
print(f"tools' own time on the path     p50 {tool_p50:6.1f} ms   p99 {pct(tools, 99):6.1f} ms")
added = [l - tool_p50 for l in loops]
print(f"engine's added latency          p50 {pct(added, 50):6.1f} ms   p99 {pct(added, 99):6.1f} ms")
print("(timestamps in the results have millisecond resolution)")
PY
