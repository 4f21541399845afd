# Sourced by the bench scripts: sets `here` (scripts/), `root` (the repository) and
# `phase` (the binary to measure). PHASE_BIN=path measures that binary instead of
# building this tree (e.g. a build of a fixed commit while others edit the tree).
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
root=$(cd "$here/.." && pwd)
if [ -n "${PHASE_BIN:-}" ]; then
  phase=$PHASE_BIN
else
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  phase="${CARGO_TARGET_DIR:-$root/target}/release/phase"
fi
