#!/usr/bin/env bash
# Redis's own test suite (tests/ of the Redis repository at tag 7.0.15) in external-server mode,
# against a real redis-server 7.0 and an sdr-node started here, unit by unit; prints a markdown
# table of per-unit pass counts side by side (docs/compatibility.md records it).
#
#   scripts/redis-suite.sh REDIS_SRC [unit ...]
#
# REDIS_SRC: a checkout of github.com/redis/redis at tag 7.0.15 (only tests/ is used), e.g.
#   git -C redis archive 7.0.15 tests | tar -x -C /tmp/redis-7015
# Units default to the data-type, keyspace and protocol units (see UNITS below). Env:
#   UNIT_TIMEOUT (s, default 300) per unit and server; OUT (default target/redis-suite).
# Each unit runs as `tclsh tests/test_helper.tcl --host H --port P --singledb --durable
# --single unit/U --clients 1` on both servers (fresh ones per unit). With --durable an
# exception (an unknown command, say) is recorded as an `[err]` and ends only its
# `start_server` block, not the unit, so one missing command does not hide the unit's other
# blocks. The table counts `[ok]` and `[err]` lines and names the first failure. Only processes
# started here are stopped, by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:?usage: scripts/redis-suite.sh REDIS_SRC [unit ...]}
shift || true
SRC=$(cd "$SRC" && pwd)
[ -f "$SRC/tests/test_helper.tcl" ] || { echo "no tests/test_helper.tcl under $SRC" >&2; exit 2; }
command -v tclsh >/dev/null || { echo "tclsh not found (apt-get install tcl)" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "redis-server not found (apt-get install redis-server)" >&2; exit 2; }
UNITS=("$@")
if [ ${#UNITS[@]} -eq 0 ]; then
  UNITS=(type/string type/incr type/hash type/list type/list-2 type/list-3 type/set type/zset
         type/stream type/stream-cgroups keyspace expire scan bitops bitfield hyperloglog geo
         sort dump multi pubsub pubsubshard scripting functions info info-command
         introspection introspection-2 protocol auth acl other tracking querybuf limits
         latency-monitor slowlog quit maxmemory networking)
fi
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}
OUT=${OUT:-target/redis-suite}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BIN=target/release/sdr-node
[ -x "$BIN" ] || cargo build --release -q -p sdr-node

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_ping() {
  for _ in $(seq 1 200); do
    [ "$(redis-cli -p "$1" ping 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.05
  done
  echo "server on port $1 did not answer PING" >&2; return 1
}

start_redis() {
  local port=$1 dir=$OUT/redis-data
  rm -rf "$dir"; mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --enable-debug-command yes --enable-protected-configs yes --enable-module-command yes \
    >"$OUT/redis-server.log" 2>&1 &
  PIDS+=($!); REDIS_PID=$!
  wait_ping "$port"
}

start_sdr() {
  local port=$1 dir=$OUT/sdr-data
  rm -rf "$dir"; mkdir -p "$dir"
  # fsync no: the suite tests semantics, not durability; it runs thousands of writes.
  "$BIN" --bind 127.0.0.1 --port "$port" --data-dir "$dir" --fsync no >"$OUT/sdr-node.log" 2>&1 &
  PIDS+=($!); SDR_PID=$!
  wait_ping "$port"
}

# run_unit NAME PORT UNIT -> "ok err exception-text"
run_unit() {
  local name=$1 port=$2 unit=$3 log
  log="$OUT/$name-${unit//\//_}.log"
  (cd "$SRC" && timeout "$UNIT_TIMEOUT" tclsh tests/test_helper.tcl --host 127.0.0.1 --port "$port" \
     --singledb --durable --single "unit/$unit" --clients 1 --timeout "$UNIT_TIMEOUT" 2>&1) \
    | sed 's/\x1b\[[0-9;]*m//g' >"$log" || true
  local ok err exc
  ok=$(grep -c '^\[ok\]' "$log" || true)
  err=$(grep -c '^\[err\]' "$log" || true)
  exc=$(grep -m1 -E '^\[(err|exception|timeout)\]' "$log" | cut -c1-110 | tr '|' '/' || true)
  if [ -z "$exc" ] && ! grep -q 'All tests passed\|tests failed' "$log"; then
    exc="(unit did not finish within ${UNIT_TIMEOUT}s)"
  fi
  echo "$ok|$err|$exc"
}

RPORT=$(free_port); start_redis "$RPORT"
SPORT=$(free_port); start_sdr "$SPORT"

TABLE="$OUT/table.md"
{
  echo "| unit | redis-server ok | sdr ok | sdr err | ratio | first failure on sdr |"
  echo "| --- | ---: | ---: | ---: | ---: | --- |"
} >"$TABLE"
tr=0; ts=0
for u in "${UNITS[@]}"; do
  # A fresh server per unit on each side, so one unit's leftovers (CONFIG, DEBUG) cannot
  # change the next one's results.
  kill "$REDIS_PID" "$SDR_PID" 2>/dev/null || true; wait "$REDIS_PID" "$SDR_PID" 2>/dev/null || true
  start_redis "$RPORT"; start_sdr "$SPORT"
  IFS='|' read -r rok rerr rexc < <(run_unit redis "$RPORT" "$u")
  IFS='|' read -r sok serr sexc < <(run_unit sdr "$SPORT" "$u")
  tr=$((tr + rok)); ts=$((ts + sok))
  ratio=$(python3 -c "print(f'{$sok/$rok:.0%}' if $rok else '-')")
  echo "| $u | $rok | $sok | $serr | $ratio | ${sexc:-} |" | tee -a "$TABLE"
done
total=$(python3 -c "print(f'{$ts/$tr:.1%}' if $tr else '-')")
echo "| **total** | **$tr** | **$ts** | | **$total** | |" | tee -a "$TABLE"
echo "table: $TABLE; logs in $OUT"
