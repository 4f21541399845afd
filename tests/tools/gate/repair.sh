#!/bin/sh
# Fake agent tier that repairs what check.sh checks: `repair.sh PROMPT_FILE FILE`. It works
# only from a prompt that carries the gate's output (the assertion check.sh printed), so a
# prompt without it changes nothing (exit 3) and the test fails.
prompt=$1 file=$2
grep -q "assertion failed: expected 'fixed'" "$prompt" || {
    echo "repair: the prompt $prompt does not show the gate's output" >&2
    exit 3
}
echo "fixed" > "$file"
echo "repair: wrote 'fixed' to $file"
