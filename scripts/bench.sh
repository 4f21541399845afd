#!/usr/bin/env bash
# Throughput benchmark: N trivial tasks (`true`) through `phase run --once`, against
# `xargs -P PARALLEL` running the same N commands, in the same run on the same machine.
#
#   scripts/bench.sh N [PARALLEL]      (defaults: 1000, 2)
#
# Prints both wall times, the ratio phase/xargs, both CPU times (user + system of the
# process tree) and their ratio, and the engine's peak RSS.
# Note: peak RSS is the largest ru_maxrss among the measured command's descendants; the
# engine is by far the largest (its children are `true`).
set -euo pipefail
n=${1:-1000}
par=${2:-2}
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/config" "$work/staging"
cat > "$work/config/coordinator.toml" <<TOML
[execution]
max_parallel = $par
TOML
"$phase" --state-dir "$work/.state" --config "$work/config/coordinator.toml" init >/dev/null

python3 - "$work/staging" "$n" <<'PY'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"t{i:06d}.json"), "w") as f:
        json.dump({"kind": "shell", "command": ["true"]}, f)
PY

# xargs: the same N commands at the same parallelism.
xargs_json=$(python3 "$here/measure.py" bash -c "seq $n | xargs -P $par -n 1 true")

# phase: drop all N files at once (rename into the inbox), then run to completion.
find "$work/staging" -name '*.json' -exec mv -t "$work/.state/inbox/" {} +
phase_json=$(python3 "$here/measure.py" "$phase" --state-dir "$work/.state" \
  --config "$work/config/coordinator.toml" run --once)

python3 - "$n" "$par" "$xargs_json" "$phase_json" "$work/.state" <<'PY'
import json, sys
n, par = int(sys.argv[1]), int(sys.argv[2])
x, p = json.loads(sys.argv[3]), json.loads(sys.argv[4])
state = sys.argv[5]
with open(f"{state}/execution_results.json") as f:
    results = json.load(f)["results"]
ok = sum(1 for r in results if r["status"] == "succeeded")
print(f"tasks            {n} (parallel {par})")
print(f"xargs -P{par}        {x['wall_s']:.3f} s  ({x['wall_s'] / n * 1000:.3f} ms/task)")
print(f"phase run --once {p['wall_s']:.3f} s  ({p['wall_s'] / n * 1000:.3f} ms/task), exit {p['exit']}, {ok}/{n} succeeded")
print(f"ratio            {p['wall_s'] / x['wall_s']:.2f}")
# CPU time moves less than wall time when the host takes the cores away (steal).
print(f"cpu              xargs {x['cpu_s']:.2f} s, phase {p['cpu_s']:.2f} s, ratio {p['cpu_s'] / x['cpu_s']:.2f}")
print(f"peak RSS         {p['max_rss_kib'] / 1024:.1f} MiB")
if ok != n or p["exit"] != 0:
    sys.exit(1)
PY
