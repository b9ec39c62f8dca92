#!/usr/bin/env bash
# `make bench`: redis-benchmark against sdr-node and a real redis-server, side by side, with
# comparable durability. Prints ops/s per row and the ratio sdr/redis.
#   fsync always  <->  appendonly yes, appendfsync always
#   fsync no      <->  appendonly no
# Env: N (requests per test, default 200000), CLIENTS (default 50), TESTS (default set,get,incr,lpush).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get,incr,lpush}

for tool in redis-benchmark redis-server; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-tools redis-server)" >&2; exit 2; }
done
cargo build --release -q -p sdr-node
BIN=./target/release/sdr-node
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_ping() {
  for _ in $(seq 1 300); do
    if redis-cli -p "$1" PING 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.1
  done
  echo "bench: server on port $1 did not come up" >&2; exit 2
}

start_sdr() { # $1 = fsync policy
  local dir="$WORK/sdr-$1"; mkdir -p "$dir"
  "$BIN" --port 0 --data-dir "$dir" --fsync "$1" --log-level warn >"$WORK/sdr-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do [ -s "$dir/port" ] && break; sleep 0.1; done
  SDR_PORT=$(cat "$dir/port"); wait_ping "$SDR_PORT"
  # wait for leadership
  for _ in $(seq 1 300); do redis-cli -p "$SDR_PORT" INFO replication | grep -q role:master && break; sleep 0.1; done
}

start_redis() { # $1 = always|no
  local dir="$WORK/redis-$1"; mkdir -p "$dir"; REDIS_PORT=$(free_port)
  if [ "$1" = always ]; then aof="--appendonly yes --appendfsync always"; else aof="--appendonly no"; fi
  # shellcheck disable=SC2086
  redis-server --port "$REDIS_PORT" --dir "$dir" --save '' $aof --daemonize no >"$WORK/redis-$1.log" 2>&1 &
  PIDS+=($!)
  wait_ping "$REDIS_PORT"
}

run_bench() { # $1 port, $2 pipeline -> prints "test rps" lines
  redis-benchmark -p "$1" -t "$TESTS" -n "$N" -c "$CLIENTS" -P "$2" -q --csv 2>/dev/null \
    | tail -n +2 | tr -d '"' | awk -F, '{ printf "%s %s\n", $1, $2 }'
}

printf '%-8s %-6s %-3s %14s %14s %7s\n' durability test P "sdr-node ops/s" "redis ops/s" ratio
for mode in always no; do
  start_sdr "$mode"; start_redis "$mode"
  for p in 1 16; do
    run_bench "$SDR_PORT" "$p" >"$WORK/sdr.txt"
    run_bench "$REDIS_PORT" "$p" >"$WORK/redis.txt"
    while read -r t rps; do
      r=$(awk -v t="$t" '$1==t {print $2}' "$WORK/redis.txt")
      ratio=$(awk -v a="$rps" -v b="$r" 'BEGIN { if (b>0) printf "%.2f", a/b; else print "n/a" }')
      printf '%-8s %-6s %-3s %14.0f %14.0f %7s\n' "$mode" "$t" "$p" "$rps" "${r:-0}" "$ratio"
    done <"$WORK/sdr.txt"
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=()
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), redis $(redis-server --version | awk '{print $3}')"
