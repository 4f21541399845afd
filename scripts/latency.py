#!/usr/bin/env python3
"""Drop-to-start latency driver for bench-latency.sh (standard library only).

    latency.py watch DIR
        Bare inotify watcher (ctypes on libc): prints "NAME NS" for every file renamed
        into DIR, NS = time.time_ns() right after read() returned.

    latency.py drive WORK N STAMP PHASE_EVENTS
        Interleaves, per round, three measurements with a random 20–50 ms idle gap after
        each (so nothing queues):
          engine   rename a task file into WORK/.state/inbox/; the task runs STAMP, which
                   writes its own CLOCK_REALTIME at main() to the FIFO WORK/stamps.fifo;
          bare     rename a file into WORK/bare/, watched by `latency.py watch`;
          recorder posix_spawn STAMP directly (its own start-up cost: spawn → main()).
        Each latency is (time seen) − time.time_ns() taken just before the rename/spawn.
        With LATENCY_DUMP=FILE set, also writes every sample (ms, in drop order) as JSON.
"""
import ctypes
import json
import os
import random
import select
import struct
import subprocess
import sys
import time
from datetime import datetime

IN_MOVED_TO = 0x80
WARMUP = 5
DEADLINE_S = 10.0


def watch(directory):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    if fd < 0 or libc.inotify_add_watch(fd, directory.encode(), IN_MOVED_TO) < 0:
        sys.exit(f"inotify on {directory}: {os.strerror(ctypes.get_errno())}")
    print("ready", flush=True)
    while True:
        buf = os.read(fd, 65536)
        now = time.time_ns()
        off = 0
        while off < len(buf):
            _wd, _mask, _cookie, length = struct.unpack_from("iIII", buf, off)
            name = buf[off + 16:off + 16 + length].rstrip(b"\0").decode()
            off += 16 + length
            sys.stdout.write(f"{name} {now}\n")
        sys.stdout.flush()


class Lines:
    """Line reader over a file descriptor with a deadline per line."""

    def __init__(self, fd, what):
        self.fd, self.what, self.buf = fd, what, b""

    def expect(self, label):
        deadline = time.monotonic() + DEADLINE_S
        while True:
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                name, ns = line.decode().split()
                if name != label:
                    sys.exit(f"{self.what}: expected {label}, got {name}")
                return int(ns)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                sys.exit(f"{self.what}: no {label} within {DEADLINE_S} s")
            self.buf += os.read(self.fd, 4096)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def idle():
    time.sleep(random.uniform(0.020, 0.050))


def drive(work, n, stamp, events_path):
    inbox, bare, staging = f"{work}/.state/inbox", f"{work}/bare", f"{work}/staging"
    fifo = f"{work}/stamps.fifo"
    stamps = Lines(os.open(fifo, os.O_RDWR), "task stamp (is `phase run` running?)")
    watcher = subprocess.Popen([sys.executable, __file__, "watch", bare],
                               stdout=subprocess.PIPE)
    if watcher.stdout.readline().strip() != b"ready":
        sys.exit("bare watcher did not start")
    events = Lines(watcher.stdout.fileno(), "bare inotify watcher")
    lat = {"engine": [], "bare": [], "recorder": []}
    for i in range(WARMUP + n):
        keep = i >= WARMUP
        name = f"t{i:05d}"
        task = {"kind": "shell", "command": [stamp, fifo, name]}
        for d in (f"{staging}/{name}.json", f"{staging}/b{name}"):
            with open(d, "w") as f:
                json.dump(task, f)
        idle()
        t0 = time.time_ns()
        os.rename(f"{staging}/{name}.json", f"{inbox}/{name}.json")
        seen = stamps.expect(name)
        if keep:
            lat["engine"].append((seen - t0) / 1e6)
        idle()
        t0 = time.time_ns()
        os.rename(f"{staging}/b{name}", f"{bare}/b{name}")
        seen = events.expect(f"b{name}")
        if keep:
            lat["bare"].append((seen - t0) / 1e6)
        idle()
        t0 = time.time_ns()
        pid = os.posix_spawn(stamp, [stamp, fifo, f"r{name}"], os.environ)
        seen = stamps.expect(f"r{name}")
        os.waitpid(pid, 0)
        if keep:
            lat["recorder"].append((seen - t0) / 1e6)
    watcher.kill()
    watcher.wait()
    if os.environ.get("LATENCY_DUMP"):
        with open(os.environ["LATENCY_DUMP"], "w") as f:
            json.dump(lat, f)
    report(n, lat, engine_split(events_path))


def engine_split(events_path):
    """drop → TASK_ROUTED and TASK_ROUTED → TASK_STARTED per task, from events.jsonl
    (millisecond timestamps, so only a rough split)."""
    def ts(s):
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000
    routed, started = {}, {}
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            if e["type"] == "TASK_ROUTED":
                routed[e["task_id"]] = ts(e["ts"])
            elif e["type"] == "TASK_STARTED":
                started[e["task_id"]] = ts(e["ts"])
    return [started[t] - routed[t] for t in started if t in routed]


def report(n, lat, routed_to_started):
    rec50 = pct(lat["recorder"], 50)
    net = [x - rec50 for x in lat["engine"]]
    row = "{:<44} p50 {:7.2f} ms   p99 {:7.2f} ms   max {:7.2f} ms"
    print(f"drops                                        {n} per kind (after {WARMUP} warm-up)")
    print(row.format("bare inotify: rename → event read", pct(lat["bare"], 50),
                     pct(lat["bare"], 99), max(lat["bare"])))
    print(row.format("engine: rename → task's main()", pct(lat["engine"], 50),
                     pct(lat["engine"], 99), max(lat["engine"])))
    print(row.format("recorder's own start-up: spawn → main()", rec50,
                     pct(lat["recorder"], 99), max(lat["recorder"])))
    print(row.format("engine − recorder p50 (drop → spawn)", pct(net, 50), pct(net, 99),
                     max(net)))
    if routed_to_started:
        print(row.format("  of which TASK_ROUTED → TASK_STARTED (1 ms)",
                         pct(routed_to_started, 50), pct(routed_to_started, 99),
                         max(routed_to_started)))
    print(f"p50 over bare inotify                        {pct(net, 50) - pct(lat['bare'], 50):7.2f} ms"
          "   (target ≤ 10 ms)")
    print(f"p99 (engine, recorder included)              {pct(lat['engine'], 99):7.2f} ms"
          "   (target < 50 ms)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "watch":
        watch(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "drive":
        drive(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit(__doc__)
