#!/usr/bin/env bash
# A small linter: reports trailing whitespace as `file:line:col: W291 message`, exit 1
# when it finds any (the same output shape as flake8 or ruff's text format).
status=0
for f in "$@"; do
  while IFS=: read -r n _; do
    echo "$f:$n:1: W291 trailing whitespace"
    status=1
  done < <(grep -n '[[:space:]]$' "$f")
done
exit $status
