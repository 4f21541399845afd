#!/usr/bin/env bash
# The engine's overhead per Slurm attempt beyond sbatch and the scheduler's own latency:
# N jobs of `true` through the Slurm backend (examples/slurm_bench.rs: submit with the
# submission record, the `phase __slurm-job` wrapper with claim, fence and outcome record,
# one squeue per pass, the final state, ack) against a shell loop submitting the same
# jobs (same --chdir, --output/--error into per-job directories) with `sbatch --parsable`
# and polling `squeue` at the same interval. Rounds alternate, in the same run.
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

results=()
for ((r = 1; r <= rounds; r++)); do
    b=$(baseline "$work/base-$r")
    e=$("$driver" "$work/eng-$r/.state" "$n" "$phase" "$pass_ms")
    echo "round $r: shell loop $b | engine $e" >&2
    results+=("$b|$e")
done

python3 - "$n" "${results[@]}" <<'PY'
import json, statistics, sys
n = int(sys.argv[1])
pairs = [tuple(json.loads(x) for x in r.split("|")) for r in sys.argv[2:]]
base = [b["wall_s"] for b, _ in pairs]
eng = [e["wall_s"] for _, e in pairs]
failed = sum(e["failed"] for _, e in pairs)
over = [(e - b) / n * 1000 for b, e in zip(base, eng)]
print(f"jobs per round          {n} (`true`), {len(pairs)} rounds")
print(f"shell loop (sbatch+squeue) median {statistics.median(base):.3f} s  ({statistics.median(base) / n * 1000:.1f} ms/job)")
print(f"engine backend             median {statistics.median(eng):.3f} s  ({statistics.median(eng) / n * 1000:.1f} ms/job)")
print(f"overhead per attempt       median {statistics.median(over):.1f} ms  (rounds: {', '.join(f'{o:.1f}' for o in over)})")
if failed:
    print(f"error: {failed} engine jobs did not exit 0", file=sys.stderr)
    sys.exit(1)
PY
