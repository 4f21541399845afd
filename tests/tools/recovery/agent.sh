#!/bin/sh
# Fake agent tier: `agent.sh NAME PROMPT_FILE FILE...`. Refuses to work without its prompt
# file (exit 3), keeps a copy of it next to the files (for the test to read), and appends a
# line naming itself to the first file, the way a real agent edits code.
name=$1 prompt=$2
shift 2
[ -s "$prompt" ] || { echo "$name: no prompt file: $prompt" >&2; exit 3; }
echo "$name: working from $prompt"
printf '# touched by %s\n' "$name" >> "$1"
