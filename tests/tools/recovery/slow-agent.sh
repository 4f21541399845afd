#!/bin/sh
# Fake agent tier for shutdown tests: `slow-agent.sh PIDFILE FILE`. While the file
# `hold` exists in the workdir it writes its pid and blocks (until killed); otherwise it
# appends a line to FILE like agent.sh.
if [ -e hold ]; then
    echo $$ > "$1.tmp" && mv "$1.tmp" "$1"
    exec sleep 30
fi
printf '# touched by slow-agent\n' >> "$2"
