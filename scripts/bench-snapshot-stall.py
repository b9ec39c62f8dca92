#!/usr/bin/env python3
"""Write latency while a single-member sdr-node snapshots a large keyspace (docs/benchmarks.md,
"Snapshot stall").

1. Start sdr-node (--fsync no, snapshots effectively off) and load KEYS keys of VALUE bytes
   with `redis-cli --pipe`.
2. Restart it with `snapshot-every` set so that a snapshot triggers TRIGGER_AFTER entries into
   the measuring run (the loaded log is replayed at boot; the snapshot then encodes the whole
   keyspace).
3. One client issues sequential `SET bench:<rand> <100 bytes>` (one entry each) for SECONDS
   while another connection polls INFO every 20 ms for raft_last_log_index and
   raft_snapshot_index. The snapshot window runs from the entry that triggers it (less
   100 ms, the poller's lag) to the moment raft_snapshot_index moves. Latencies inside the window are compared with those
   after it, in the same run.

Usage: scripts/bench-snapshot-stall.py [--keys 1000000] [--value 1000] [--seconds 30]
Needs target/release/sdr-node, redis-cli and redis-py. Stops only the node it started.
"""

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = os.path.join(ROOT, "target", "release", "sdr-node")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(data, port, snapshot_every):
    cfg = os.path.join(data, "node.yaml")
    with open(cfg, "w") as f:
        f.write(
            f"data-dir: {data}/d\nport: {port}\nfsync: no\nlog-level: warn\n"
            f"snapshot-every: {snapshot_every}\nsnapshot-log-bytes: 64gb\n"
        )
    log = open(os.path.join(data, "node.log"), "ab")
    p = subprocess.Popen([NODE, "--config", cfg], stdout=log, stderr=log)
    c = redis.Redis(port=port, socket_timeout=600)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if c.set("__ready", "1"):
                return p, c
        except Exception:
            time.sleep(0.2)
    p.kill()
    sys.exit("node did not start")


def info(c, field):
    v = c.info("all").get(field)
    return None if v is None else int(v)


def load(port, keys, value):
    v = b"x" * value
    cli = subprocess.Popen(
        ["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    batch = []
    for i in range(keys):
        k = b"key:%d" % i
        batch.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, value, v))
        if len(batch) == 10000:
            cli.stdin.write(b"".join(batch))
            batch = []
    cli.stdin.write(b"".join(batch))
    cli.stdin.close()
    out = cli.stdout.read().decode()
    cli.wait()
    return out.strip().splitlines()[-1]


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def summary(name, xs):
    ms = [x * 1000 for x in xs]
    return (
        f"{name}: n={len(ms)} p50={pct(ms, 0.5):.3f} ms p99={pct(ms, 0.99):.3f} ms "
        f"max={max(ms) if ms else float('nan'):.1f} ms"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--value", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--trigger-after", type=int, default=5000)
    a = ap.parse_args()
    data = tempfile.mkdtemp(prefix="sdr-stall-")
    port = free_port()
    p = None
    try:
        p, c = start(data, port, 1 << 40)
        t0 = time.time()
        print("load:", load(port, a.keys, a.value), f"({time.time() - t0:.1f} s)")
        last = info(c, "raft_last_log_index")
        print("keys:", c.dbsize(), "last log index:", last,
              "used_memory:", info(c, "used_memory"))
        p.terminate()
        p.wait()
        t0 = time.time()
        p, c = start(data, port, last + a.trigger_after)
        print(f"restarted (log replay) in {time.time() - t0:.1f} s")
        base_idx = info(c, "raft_last_log_index")
        trigger_idx = base_idx - (base_idx - last) + a.trigger_after
        snap0 = info(c, "raft_snapshot_index")
        print("uptime:", open("/proc/loadavg").read().split()[:3])

        polls = []
        stop = threading.Event()

        def poll():
            pc = redis.Redis(port=port, socket_timeout=600)
            while not stop.is_set():
                polls.append((time.perf_counter(), info(pc, "raft_last_log_index"),
                              info(pc, "raft_snapshot_index")))
                time.sleep(0.02)

        th = threading.Thread(target=poll)
        th.start()
        rng = random.Random(1)
        val = b"v" * 100
        lat = []
        end = time.perf_counter() + a.seconds
        while time.perf_counter() < end:
            k = "bench:%d" % rng.randrange(100_000)
            s = time.perf_counter()
            c.set(k, val)
            lat.append((s, time.perf_counter() - s))
        stop.set()
        th.join()
        start_t = next((t for t, li, _ in polls if li is not None and li >= trigger_idx), None)
        done_t = next((t for t, _, si in polls if si is not None and si != snap0), None)
        if start_t is None or done_t is None:
            print("no snapshot seen during the run: start", start_t, "done", done_t)
            print(summary("all", [l for _, l in lat]))
            return
        # The poller sees the trigger index up to one poll (20 ms + an INFO) after the write
        # that reached it was acknowledged, and the next write starts right then: writes that
        # started up to 100 ms before the detected trigger count as inside the window.
        start_t -= 0.1
        inside = [l for s, l in lat if start_t <= s <= done_t]
        after = [l for s, l in lat if s > done_t + 0.5]
        before = [l for s, l in lat if s < start_t]
        print(f"snapshot window: {done_t - start_t:.2f} s "
              f"(trigger at log index {trigger_idx}, snapshot index {snap0} -> "
              f"{info(c, 'raft_snapshot_index')})")
        print(summary("before the snapshot", before))
        print(summary("during the snapshot", inside))
        print(summary("after the snapshot", after))
        print("uptime:", open("/proc/loadavg").read().split()[:3])
    finally:
        if p is not None:
            p.terminate()
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
