#!/usr/bin/env bash
# Fake tool that hangs and resists: it starts a grandchild that ignores SIGTERM, records
# the grandchild's pid, and ignores SIGTERM itself, so only SIGKILL to the whole process
# group ends it.
# usage: stubborn.sh PIDFILE
set -u
( trap '' TERM; exec sleep 300 ) &
echo $! > "$1.tmp" && mv "$1.tmp" "$1"
trap '' TERM
echo "stubborn: waiting forever" >&2
wait
sleep 300
