#!/usr/bin/env bash
# Dependency-chain benchmark: N tasks where each depends on the one before, each running
# `true`, through `phase run --once`, against `make -j2` on the same chain (N phony
# targets), in the same run on the same machine.
#
#   scripts/bench-chain.sh [N]      (default 2000)
set -euo pipefail
n=${1:-2000}
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/config" "$work/staging"
printf '[execution]\nmax_parallel = 2\n' > "$work/config/coordinator.toml"
"$phase" --state-dir "$work/.state" --config "$work/config/coordinator.toml" init >/dev/null
python3 - "$work" "$n" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
with open(f"{work}/Makefile", "w") as mk:
    mk.write(".PHONY:" + "".join(f" t{i}" for i in range(n)) + "\n")
    for i in range(n):
        dep = f" t{i-1}" if i else ""
        mk.write(f"t{i}:{dep}\n\t@true\n")
        task = {"kind": "shell", "command": ["true"]}
        if i:
            task["depends_on"] = [f"t{i-1}"]
        with open(f"{work}/staging/t{i}.json", "w") as f:
            json.dump(task, f)
PY
make_json=$(python3 "$here/measure.py" make -j2 -s -C "$work" -f Makefile "t$((n - 1))")
find "$work/staging" -name '*.json' -exec mv -t "$work/.state/inbox/" {} +
phase_json=$(python3 "$here/measure.py" "$phase" --state-dir "$work/.state" \
  --config "$work/config/coordinator.toml" run --once)
python3 - "$n" "$make_json" "$phase_json" <<'PY'
import json, sys
n = int(sys.argv[1])
m, p = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"chain of         {n} tasks")
print(f"make -j2         {m['wall_s']:.3f} s  ({m['wall_s'] / n * 1000:.3f} ms/task)")
print(f"phase run --once {p['wall_s']:.3f} s  ({p['wall_s'] / n * 1000:.3f} ms/task), exit {p['exit']}")
print(f"ratio            {p['wall_s'] / m['wall_s']:.2f}")
if p["exit"] != 0:
    sys.exit(1)
PY
