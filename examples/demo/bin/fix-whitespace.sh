#!/usr/bin/env bash
# The mechanical fixer for lint.sh: strips trailing whitespace in place.
sed -i 's/[[:space:]]*$//' "$@"
