#!/usr/bin/env python3
"""Run a command, print its wall time (s) and peak RSS of its process tree's largest
member (KiB, from getrusage of children) as JSON. Used by bench.sh."""
import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - start
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall_s": wall, "max_rss_kib": rss_kib, "exit": proc.returncode}))
