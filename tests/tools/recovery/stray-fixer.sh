#!/bin/sh
# Fake fixer that oversteps: strips trailing whitespace in its FILE arguments (its
# scope) and also appends a line to `stray.txt` in its working directory, a file no task
# named.
for f in "$@"; do
    sed -i 's/[[:blank:]]*$//' "$f" || exit 1
done
printf 'touched by stray-fixer\n' >> stray.txt
