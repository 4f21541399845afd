#!/usr/bin/env bash
# The engine's overhead per Slurm attempt beyond sbatch and the scheduler's own latency:
# N jobs of `true` through the Slurm backend (examples/slurm_bench.rs: submit with the
# submission record, the `phase __slurm-job` wrapper with claim, fence and outcome record,
# one squeue per pass, the final state, ack) against a shell loop submitting the same
# jobs (same --chdir, --output/--error into per-job directories) with `sbatch --parsable`
# and polling `squeue` at the same interval; and the whole engine, `phase run --once` over
# the same N tasks on a tool with `backend = "slurm"`. Rounds alternate, in the same run.
#
#   scripts/bench-slurm.sh [N] [ROUNDS]     (default 40 jobs, 3 rounds; Slurm must be up:
#                                             scripts/slurm-local.sh start)
set -euo pipefail
n=${1:-40}
rounds=${2:-3}
pass_ms=100
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --example slurm_bench
driver="$root/target/release/examples/slurm_bench"

"$here/slurm-local.sh" status >/dev/null || {
    echo "error: no Slurm node takes jobs; start one with scripts/slurm-local.sh start" >&2
    exit 1
}

work=$(mktemp -d)
trap 'scancel --name=bench-true >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The shell loop: the same submissions, then one squeue per pass until none is live.
baseline() {
    local dir=$1 ids=() start end live
    start=$(date +%s.%N)
    for ((i = 0; i < n; i++)); do
        mkdir -p "$dir/logs/t$i"
        ids+=("$(sbatch --parsable --job-name=bench-true --chdir="$dir" --no-requeue \
            --output="$dir/logs/t$i/1.out" --error="$dir/logs/t$i/1.err" --wrap='exec true')")
    done
    local list
    list=$(IFS=,; echo "${ids[*]}")
    while :; do
        live=$(squeue -h -t all -j "$list" -o '%T' |
            grep -cvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL)$' || true)
        ((live == 0)) && break
        sleep "$(printf '0.%03d' "$pass_ms")"
    done
    end=$(date +%s.%N)
    python3 -c "print(f'{{\"wall_s\": {$end - $start:.3f}}}')"
}

# The whole engine: `phase run --once` over N tasks of `true` routed to a tool with
# `backend = "slurm"` (router, executor's Slurm lane, results, events), all submitted at
# once, polled every pass_ms. Its wall time includes the engine's start and end.
whole_engine() {
    local dir=$1 start end
    mkdir -p "$dir"
    cat >"$dir/coordinator.toml" <<EOF
[state]
poll_interval_ms = $pass_ms

[execution]
max_parallel = $n
max_retries = 0

[tools.cluster]
command = ["{command}"]
backend = "slurm"
EOF
    "$phase" --state-dir "$dir/.state" --config "$dir/coordinator.toml" init >/dev/null
    for ((i = 0; i < n; i++)); do
        printf '{"kind": "shell", "tool": "cluster", "command": ["true"]}' >"$dir/.state/inbox/t$i.json"
    done
    start=$(date +%s.%N)
    (cd "$dir" && "$phase" --state-dir .state --config coordinator.toml run --once) \
        >/dev/null 2>"$dir/stderr" || true
    end=$(date +%s.%N)
    python3 - "$dir/.state/execution_results.json" "$start" "$end" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
failed = sum(r["status"] != "succeeded" for r in results)
print(json.dumps({"wall_s": round(float(sys.argv[3]) - float(sys.argv[2]), 3), "failed": failed}))
PY
}

results=()
for ((r = 1; r <= rounds; r++)); do
    b=$(baseline "$work/base-$r")
    e=$("$driver" "$work/eng-$r/.state" "$n" "$phase" "$pass_ms")
    w=$(whole_engine "$work/run-$r")
    echo "round $r: shell loop $b | backend $e | phase run $w" >&2
    results+=("$b|$e|$w")
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$n" "${results[@]}" <<'PY'
import json, statistics, sys
n = int(sys.argv[1])
rows = [tuple(json.loads(x) for x in r.split("|")) for r in sys.argv[2:]]
base = [b["wall_s"] for b, _, _ in rows]
eng = [e["wall_s"] for _, e, _ in rows]
whole = [w["wall_s"] for _, _, w in rows]
failed = sum(e["failed"] + w["failed"] for _, e, w in rows)
over = [(e - b) / n * 1000 for b, e in zip(base, eng)]
over_whole = [(w - b) / n * 1000 for b, w in zip(base, whole)]
med = statistics.median
print(f"jobs per round          {n} (`true`), {len(rows)} rounds")
print(f"shell loop (sbatch+squeue) median {med(base):.3f} s  ({med(base) / n * 1000:.1f} ms/job)")
print(f"engine backend             median {med(eng):.3f} s  ({med(eng) / n * 1000:.1f} ms/job)  ratio {med([e / b for b, e in zip(base, eng)]):.2f}")
print(f"phase run --once           median {med(whole):.3f} s  ({med(whole) / n * 1000:.1f} ms/job)  ratio {med([w / b for b, w in zip(base, whole)]):.2f}")
print(f"overhead per attempt, backend    median {med(over):.1f} ms  (rounds: {', '.join(f'{o:.1f}' for o in over)})")
print(f"overhead per attempt, phase run  median {med(over_whole):.1f} ms  (rounds: {', '.join(f'{o:.1f}' for o in over_whole)})")
if failed:
    print(f"error: {failed} engine jobs did not exit 0", file=sys.stderr)
    sys.exit(1)
PY
