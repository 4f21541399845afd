#!/usr/bin/env bash
# Installs the AI coding CLIs that phase's agent presets drive, at pinned versions, into DIR
# (default: $PHASE_AGENTS_DIR, else ~/.cache/phase-agents), and prints on stdout the one line
# that puts them on PATH:
#
#     eval "$(scripts/install-agents.sh /some/dir)"     # then: codex, claude, gemini, aider
#
#   DIR/npm          npm install --prefix: @openai/codex, @anthropic-ai/claude-code, @google/gemini-cli
#   DIR/aider-venv   a python3 venv with aider-chat
#   DIR/bin          symlinks to the four executables only (so the venv's python stays off PATH)
#
# Idempotent: a CLI already installed at its pinned version is skipped. Progress goes to
# stderr. Needs node >= 20 with npm, and python3 >= 3.10 with venv. Measured facts about
# these versions (flags, endpoints): ../shared/AGENT-CLIS.md; bump them deliberately.
set -euo pipefail

CODEX_VERSION="0.171.0"
CLAUDE_CODE_VERSION="2.1.197"
GEMINI_CLI_VERSION="0.61.0"
AIDER_VERSION="0.86.2"

case "${1:-}" in
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
esac
[[ $# -le 1 ]] || { echo "usage: scripts/install-agents.sh [DIR]" >&2; exit 2; }

dir="${1:-${PHASE_AGENTS_DIR:-$HOME/.cache/phase-agents}}"
mkdir -p "$dir/bin" "$dir/npm"
dir="$(cd "$dir" && pwd)"

say() { printf 'install-agents: %s\n' "$*" >&2; }
elapsed() { echo "$(($(date +%s) - $1)) s"; }

# The version of an npm package under DIR/npm, or nothing.
npm_version() {
    local manifest="$dir/npm/node_modules/$1/package.json"
    [[ -f "$manifest" ]] && node -p "require(process.argv[1]).version" "$manifest" 2>/dev/null || true
}

declare -a wanted=()
for spec in "@openai/codex@$CODEX_VERSION" \
    "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" \
    "@google/gemini-cli@$GEMINI_CLI_VERSION"; do
    name="${spec%@*}" version="${spec##*@}"
    have="$(npm_version "$name")"
    if [[ "$have" == "$version" ]]; then
        say "$name $version: already installed"
    else
        say "$name $version: installing${have:+ (found $have)}"
        wanted+=("$spec")
    fi
done
if [[ ${#wanted[@]} -gt 0 ]]; then
    start=$(date +%s)
    # One npm run for all of them: one resolution, one lock. --save-exact pins them in
    # DIR/npm/package.json too, so a later `npm install` there keeps these versions.
    npm install --prefix "$dir/npm" --save-exact --no-audit --no-fund --loglevel=error \
        "${wanted[@]}" >&2
    say "npm: ${wanted[*]} in $(elapsed "$start")"
fi

venv="$dir/aider-venv"
aider_have=""
if [[ -x "$venv/bin/python" ]]; then
    aider_have="$("$venv/bin/python" -c \
        'import importlib.metadata as m; print(m.version("aider-chat"))' 2>/dev/null || true)"
fi
if [[ "$aider_have" == "$AIDER_VERSION" ]]; then
    say "aider-chat $AIDER_VERSION: already installed"
else
    say "aider-chat $AIDER_VERSION: installing into $venv${aider_have:+ (found $aider_have)} (about 3 min)"
    start=$(date +%s)
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "aider-chat==$AIDER_VERSION" >&2
    say "aider-chat in $(elapsed "$start")"
fi

# Only the four executables go on PATH.
ln -sfn "$dir/npm/node_modules/.bin/codex" "$dir/bin/codex"
ln -sfn "$dir/npm/node_modules/.bin/claude" "$dir/bin/claude"
ln -sfn "$dir/npm/node_modules/.bin/gemini" "$dir/bin/gemini"
ln -sfn "$venv/bin/aider" "$dir/bin/aider"
for cli in codex claude gemini aider; do
    [[ -x "$dir/bin/$cli" ]] || { echo "error: $dir/bin/$cli: not executable after install" >&2; exit 1; }
done

say "ready: $dir/bin (codex $CODEX_VERSION, claude $CLAUDE_CODE_VERSION, gemini $GEMINI_CLI_VERSION, aider $AIDER_VERSION)"
printf 'export PATH="%s/bin:$PATH"\n' "$dir"
