#!/usr/bin/env bash
# A fake tool for the routing tests. usage: tool.sh NAME TASK_ID
# Its behaviour is steered by files in $ROUTING_DIR named after it ($INSTANCE for a pool
# instance, else NAME):
#   <who>.down   print a transient error ("503 service temporarily unavailable"), exit 1
#   <who>.429    print "429 Too Many Requests" and "Retry-After: <file content>", exit 1;
#                the file is removed, so only the first run is refused
#   <who>.fail   fail by the task's own doing (a plain error), exit 1
#   <who>.sleep  sleep that many seconds before finishing
#   <who>.gate   wait (up to 60 s) until $ROUTING_DIR/open exists
# Every run appends "start <who> <task> <ns>" and "end <who> <task> <ns> <outcome>" to
# $ROUTING_DIR/runs.log.
set -u
who=${INSTANCE:-$1}
task=$2
dir=$ROUTING_DIR
echo "start $who $task $(date +%s%N)" >> "$dir/runs.log"
end() {
  echo "end $who $task $(date +%s%N) $1" >> "$dir/runs.log"
}
if [ -e "$dir/$who.gate" ]; then
  for _ in $(seq 3000); do
    [ -e "$dir/open" ] && break
    sleep 0.02
  done
fi
if [ -e "$dir/$who.sleep" ]; then
  sleep "$(cat "$dir/$who.sleep")"
fi
if [ -e "$dir/$who.down" ]; then
  echo "503 service temporarily unavailable" >&2
  end down
  exit 1
fi
if [ -e "$dir/$who.429" ]; then
  seconds=$(cat "$dir/$who.429")
  rm -f "$dir/$who.429"
  echo "HTTP 429 Too Many Requests" >&2
  echo "Retry-After: $seconds" >&2
  end limited
  exit 1
fi
if [ -e "$dir/$who.fail" ]; then
  echo "error: the task's own check failed" >&2
  end failed
  exit 1
fi
echo "done by $who (KEY=${KEY:-})"
end ok
