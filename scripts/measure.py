#!/usr/bin/env python3
"""Run a command, print its wall time (s), its process tree's CPU time (user + system, s)
and the peak RSS of the tree's largest member (KiB), from getrusage of children, as
JSON. Used by bench.sh."""
import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "wall_s": wall,
    "cpu_s": usage.ru_utime + usage.ru_stime,
    "max_rss_kib": usage.ru_maxrss,
    "exit": proc.returncode,
}))
