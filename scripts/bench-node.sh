#!/usr/bin/env bash
# `make bench`: redis-benchmark against sdr-node and a real redis-server, side by side, with
# comparable durability. Prints ops/s per row and the ratio sdr/redis, and each server's CPU time
# (utime+stime from /proc/<pid>/stat around each row) per request: on a loaded machine that
# figure is nearly load-independent, where ops/s is not.
#   fsync always  <->  appendonly yes, appendfsync always
#   fsync no      <->  appendonly no
# Env: N (requests per test, default 200000), CLIENTS (default 50), TESTS (default set,get,incr,lpush),
# SDR_BIN (binary to bench; default: build and use target/release/sdr-node).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get,incr,lpush}

for tool in redis-benchmark redis-server; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-tools redis-server)" >&2; exit 2; }
done
# SDR_BIN: bench a given binary (e.g. a saved build from before a change) instead of building.
if [ -n "${SDR_BIN:-}" ]; then BIN=$SDR_BIN; else cargo build --release -q -p sdr-node; BIN=./target/release/sdr-node; fi
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

run_bench() { # $1 port, $2 pipeline, $3 test -> prints "rps"
  redis-benchmark -p "$1" -t "$3" -n "$N" -c "$CLIENTS" -P "$2" -q --csv 2>/dev/null \
    | tail -n +2 | tr -d '"' | awk -F, 'NR==1 { printf "%s\n", $2 }'
}

# utime+stime of a process (all its threads, live and exited), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK_US=$(awk -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.6f", 1000000 / hz }')

# $1 port, $2 pid, $3 pipeline, $4 test -> "rps us_cpu_per_request"
measure() {
  local before after rps
  before=$(cpu_ticks "$2")
  rps=$(run_bench "$1" "$3" "$4")
  after=$(cpu_ticks "$2")
  awk -v r="$rps" -v b="$before" -v a="$after" -v n="$N" -v t="$TICK_US" \
    'BEGIN { printf "%s %.2f\n", (r == "" ? 0 : r), (a - b) * t / n }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "load average at start: $(cat /proc/loadavg)"
printf '%-8s %-6s %-3s %14s %14s %7s %10s %10s %9s\n' durability test P "sdr-node ops/s" "redis ops/s" ratio \
  "sdr us/req" "redis us/req" "cpu ratio"
for mode in always no; do
  start_sdr "$mode"; SDR_PID=${PIDS[-1]}
  start_redis "$mode"; REDIS_PID=${PIDS[-1]}
  for p in 1 16; do
    for t in ${TESTS//,/ }; do
      read -r s_rps s_cpu < <(measure "$SDR_PORT" "$SDR_PID" "$p" "$t")
      read -r r_rps r_cpu < <(measure "$REDIS_PORT" "$REDIS_PID" "$p" "$t")
      # "cpu ratio" = redis CPU per request / sdr CPU per request: > 1 means sdr spends less.
      printf '%-8s %-6s %-3s %14.0f %14.0f %7s %10s %10s %9s\n' "$mode" "$(echo "$t" | tr a-z A-Z)" "$p" \
        "$s_rps" "$r_rps" "$(ratio "$s_rps" "$r_rps")" "$s_cpu" "$r_cpu" "$(ratio "$r_cpu" "$s_cpu")"
    done
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=()
done
echo "load average at end: $(cat /proc/loadavg)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), redis $(redis-server --version | awk '{print $3}')"
