#!/bin/sh
# Fake linter: reports each line with trailing whitespace as
# `file:line:col: E001 trailing whitespace` (the generic parser's default shape) and exits
# 1 when it found any, 0 when the files are clean, 2 when a file is missing.
for f in "$@"; do
    [ -f "$f" ] || { echo "lint: $f: no such file" >&2; exit 2; }
done
[ "$#" -gt 0 ] || exit 0
awk '/[ \t]+$/ { match($0, /[ \t]+$/); printf "%s:%d:%d: E001 trailing whitespace\n", FILENAME, FNR, RSTART; found = 1 }
     END { exit found ? 1 : 0 }' "$@"
