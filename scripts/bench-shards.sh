#!/usr/bin/env bash
# `make bench-shards` (a benchmark, not a test): write throughput of a 1-shard and a 3-shard
# sdr cluster (3 replicas per shard, fsync always) under the same client load, and the
# scaling ratio. Clients route by hash slot (sdr-loadgen's slot router), as Redis Cluster
# clients do.
# Env: CLIENTS (default 64), DURATION (s, default 10), WARMUP (s, default 1), BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
say() { echo "bench-shards: $*" >&2; }

[ "${NO_BUILD:-0}" = 1 ] || cargo build --release -q -p sdr-node -p sdr-loadgen
NODE=$TARGET_DIR/release/sdr-node
LG=$TARGET_DIR/release/sdr-loadgen
BENCH_DIR=${BENCH_DIR:-/var/tmp}
WORK=$(mktemp -d "$(cd "$BENCH_DIR" && pwd)/sdr-bench-shards.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && say "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run SHARDS -> prints the RESULT line
run() {
  local shards=$1 dir="$WORK/s$1" n=$(( $1 * 3 ))
  mkdir -p "$dir"
  read -r -a P <<<"$("$LG" ports $((n * 2)))"
  local cfg=$dir/cluster.yaml eps="" id=1
  {
    echo "data-dir: $dir/node-{id}"
    echo "fsync: always"
    echo "log-level: warn"
    echo "cluster:"
    echo "  id: bench-shards-$$-$shards"
    echo "  secret: bench"
    echo "  shards:"
    for s in $(seq 1 "$shards"); do
      echo "    - id: $s"
      echo "      members:"
      for _ in 1 2 3; do
        echo "        - {id: $id, raft: \"127.0.0.1:${P[$((id-1))]}\", client: \"127.0.0.1:${P[$((n+id-1))]}\"}"
        id=$((id + 1))
      done
    done
  } >"$cfg"
  for i in $(seq 1 "$n"); do
    "$NODE" --config "$cfg" --node-id "$i" >>"$dir/node-$i.log" 2>&1 &
    PIDS+=($!)
    eps+="${eps:+,}127.0.0.1:${P[$((n+i-1))]}"
  done
  for s in $(seq 1 "$shards"); do
    local b=$(( (s-1) * 3 ))
    "$LG" sdr-wait --endpoints "127.0.0.1:${P[$((n+b))]},127.0.0.1:${P[$((n+b+1))]},127.0.0.1:${P[$((n+b+2))]}" >/dev/null
  done
  say "$shards shard(s) x 3 replicas up; $CLIENTS clients, ${WARMUP}s + ${DURATION}s"
  "$LG" bench --system sdr --endpoints "$eps" --clients "$CLIENTS" \
    --duration-secs "$DURATION" --warmup-secs "$WARMUP" --keys 100000 --value-size 100
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

one=$(run 1)
three=$(run 3)
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k {print $2}'; }
w1=$(field "$one" wps); w3=$(field "$three" wps)
printf '%-8s %10s %9s %9s\n' shards "writes/s" "p50 ms" "p99 ms"
printf '%-8s %10s %9s %9s\n' 1 "$w1" "$(field "$one" p50_ms)" "$(field "$one" p99_ms)"
printf '%-8s %10s %9s %9s\n' 3 "$w3" "$(field "$three" p50_ms)" "$(field "$three" p99_ms)"
awk -v a="$w1" -v b="$w3" 'BEGIN { printf "scaling 3 shards / 1 shard: %.2fx\n", b / a }'
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
