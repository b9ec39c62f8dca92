#!/usr/bin/env bash
# `make bench-cluster`: a 3-node sdr-node cluster vs a 3-member etcd cluster, both on loopback,
# both fsyncing every acknowledged write (sdr `fsync: always`, etcd's default), driven by the
# same closed-loop load generator (sdr-loadgen: one write in flight per client, 100-byte values,
# 10k keys) at 1, 16 and 64 clients. Prints writes/s and p50/p99 per (system, clients), the
# sdr/etcd ratios, then sdr leader failover times (kill -9 of the leader -> first acknowledged
# write through any member) over several trials.
#
# Each system gets its natural client setup: sdr one TCP connection per client (RESP has no
# multiplexing), etcd gRPC streams multiplexed over ETCD_CONNS connections. Both talk to their
# cluster's leader (sdr: -MOVED redirects; etcd: the member that Maintenance.Status names), so
# neither pays a forwarding hop. Runs of the two systems are interleaved per level so that
# background load on a shared machine hits both alike.
#
# Env: DURATION (measured seconds per run, default 10), WARMUP (default 1), LEVELS (default
# "1 16 64"), FAILOVER_TRIALS (default 10), ETCD_CONNS (HTTP/2 connections the etcd clients
# share, 0 = one per client; default 1, like etcd's own `benchmark --conns`, and the faster
# setting for etcd on this 2-core machine), BENCH_DIR (parent of the scratch dir, default
# /var/tmp), KEEP=1 keeps data and logs, NO_BUILD=1 reuses already-built release binaries.
# Needs: cargo, etcd (installed from Debian's etcd-server package when missing and running as
# root with apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
LEVELS=${LEVELS:-"1 16 64"}
FAILOVER_TRIALS=${FAILOVER_TRIALS:-10}
ETCD_CONNS=${ETCD_CONNS:-1}
VALUE_SIZE=100
KEYS=10000
TARGET_DIR=${CARGO_TARGET_DIR:-target}

say() { echo "bench-cluster: $*" >&2; }

# --- etcd -------------------------------------------------------------------------------------
if ! command -v etcd >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "etcd not found; installing Debian's etcd-server package (apt-get update && apt-get install -y etcd-server)"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >&2
  else
    say "etcd not found on PATH. Install it (Debian/Ubuntu: 'sudo apt-get install etcd-server'," \
        "or put an etcd v3 binary on PATH) and run again."
    exit 2
  fi
fi
command -v etcd >/dev/null 2>&1 || { say "etcd still not on PATH after installing etcd-server"; exit 2; }

# --- build --------------------------------------------------------------------------------------
NODE=$TARGET_DIR/release/sdr-node
LG=$TARGET_DIR/release/sdr-loadgen
if [ "${NO_BUILD:-0}" = 1 ] && [ -x "$NODE" ] && [ -x "$LG" ]; then
  say "NO_BUILD=1: using the existing $NODE and $LG"
else
  say "building sdr-node and sdr-loadgen (release)"
  cargo build --release -q -p sdr-node -p sdr-loadgen
fi

# --- scratch space and cleanup ------------------------------------------------------------------
# /var/tmp rather than /tmp: /tmp may be a tmpfs, where fsync is free and the comparison
# meaningless (the filesystem type is printed with the results).
BENCH_DIR=${BENCH_DIR:-/var/tmp}
mkdir -p "$BENCH_DIR"
WORK=$(mktemp -d "$(cd "$BENCH_DIR" && pwd)/sdr-bench-cluster.XXXXXX")
if [ "$(df -T "$WORK" | awk 'NR==2 {print $2}')" = tmpfs ]; then
  say "warning: $WORK is on tmpfs, fsync costs nothing there; set BENCH_DIR to a disk-backed directory"
fi
declare -A SDR_PID=()
declare -a ETCD_PIDS=()
ok=0
cleanup() {
  local pids
  pids="$(jobs -p) ${SDR_PID[*]:-} ${ETCD_PIDS[*]:-}"
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$ok" = 1 ] && [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
  else
    say "logs and data kept in $WORK"
    if [ "$ok" != 1 ]; then
      for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }; done
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- sdr cluster ----------------------------------------------------------------------------------
out=$("$LG" ports 12)
read -r -a P <<<"$out"
SDR_RAFT=("${P[0]}" "${P[1]}" "${P[2]}")
SDR_CLIENT=("${P[3]}" "${P[4]}" "${P[5]}")
ETCD_CLIENT=("${P[6]}" "${P[7]}" "${P[8]}")
ETCD_PEER=("${P[9]}" "${P[10]}" "${P[11]}")

SDR_CFG=$WORK/sdr-cluster.yaml
{
  echo "data-dir: $WORK/sdr/node-{id}"
  echo "fsync: always"
  echo "log-level: warn"
  echo "cluster:"
  echo "  id: bench-$$"
  echo "  secret: bench-secret-$$"
  echo "  members:"
  for i in 1 2 3; do
    echo "    - {id: $i, raft: \"127.0.0.1:${SDR_RAFT[$((i-1))]}\", client: \"127.0.0.1:${SDR_CLIENT[$((i-1))]}\"}"
  done
} >"$SDR_CFG"
SDR_EPS="127.0.0.1:${SDR_CLIENT[0]},127.0.0.1:${SDR_CLIENT[1]},127.0.0.1:${SDR_CLIENT[2]}"

start_sdr() { # $1 = member id
  "$NODE" --config "$SDR_CFG" --node-id "$1" >>"$WORK/sdr-$1.log" 2>&1 &
  SDR_PID[$1]=$!
}

say "starting 3 sdr-node members (client ports ${SDR_CLIENT[*]}) and 3 etcd members (client ports ${ETCD_CLIENT[*]}) under $WORK"
for i in 1 2 3; do start_sdr "$i"; done

# --- etcd cluster ----------------------------------------------------------------------------------
INITIAL=""
for i in 1 2 3; do INITIAL+="${INITIAL:+,}e$i=http://127.0.0.1:${ETCD_PEER[$((i-1))]}"; done
ETCD_EPS=""
for i in 1 2 3; do
  c=http://127.0.0.1:${ETCD_CLIENT[$((i-1))]}
  p=http://127.0.0.1:${ETCD_PEER[$((i-1))]}
  ETCD_EPS+="${ETCD_EPS:+,}$c"
  etcd --name "e$i" --data-dir "$WORK/etcd/e$i" \
    --listen-client-urls "$c" --advertise-client-urls "$c" \
    --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" \
    --initial-cluster "$INITIAL" --initial-cluster-state new --initial-cluster-token "bench-$$" \
    --logger zap --log-outputs stderr --log-level warn >"$WORK/etcd-$i.log" 2>&1 &
  ETCD_PIDS+=($!)
done

out=$("$LG" sdr-wait --endpoints "$SDR_EPS")
read -r _ SDR_LEADER SDR_LEADER_ADDR <<<"$out"
out=$("$LG" etcd-wait --endpoints "$ETCD_EPS")
read -r _ ETCD_LEADER_URL <<<"$out"
say "sdr leader: node $SDR_LEADER ($SDR_LEADER_ADDR); etcd leader: $ETCD_LEADER_URL"

# --- throughput / latency ------------------------------------------------------------------------------
RESULTS=$WORK/results.txt
: >"$RESULTS"
for c in $LEVELS; do
  for sys in sdr etcd; do
    if [ "$sys" = sdr ]; then eps=$SDR_EPS; else eps=$ETCD_LEADER_URL; fi
    say "$sys, $c clients: ${WARMUP}s warm-up + ${DURATION}s"
    "$LG" bench --system "$sys" --endpoints "$eps" --clients "$c" \
      --duration-secs "$DURATION" --warmup-secs "$WARMUP" --keys "$KEYS" --value-size "$VALUE_SIZE" \
      --etcd-conns "$ETCD_CONNS" | tee -a "$RESULTS" >&2
  done
done

# etcd is not needed for the failover trials; stop it so it does not compete for the CPU.
for p in "${ETCD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${ETCD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
ETCD_PIDS=()

# --- sdr failover ---------------------------------------------------------------------------------------
FAILOVERS=()
[ "$FAILOVER_TRIALS" -gt 0 ] || say "FAILOVER_TRIALS=0: skipping the failover trials"
for t in $(seq 1 "$FAILOVER_TRIALS"); do
  out=$("$LG" sdr-wait --endpoints "$SDR_EPS")
  read -r _ lid laddr <<<"$out"
  out=$("$LG" failover --endpoints "$SDR_EPS" --kill-pid "${SDR_PID[$lid]}")
  wait "${SDR_PID[$lid]}" 2>/dev/null || true
  msv=$(awk '{print $2}' <<<"$out")
  FAILOVERS+=("$msv")
  say "failover trial $t: killed leader node $lid ($laddr), first write after $msv ms ($out)"
  start_sdr "$lid"
done
"$LG" sdr-wait --endpoints "$SDR_EPS" >/dev/null

# --- report -----------------------------------------------------------------------------------------------
field() { # $1 system, $2 clients, $3 key
  awk -v s="$1" -v c="$2" -v k="$3" '$2=="system="s && $3=="clients="c {
      for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$RESULTS"
}
echo
echo "## sdr-node vs etcd, 3 members each on loopback, fsync on, ${VALUE_SIZE}-byte values, ${KEYS} keys, ${DURATION}s per run"
printf '| %7s | %10s | %8s | %8s | %10s | %8s | %8s | %9s | %9s | %6s |\n' \
  clients "sdr w/s" "sdr p50" "sdr p99" "etcd w/s" "etcd p50" "etcd p99" "w/s ratio" "p99 ratio" errors
printf '|%s|\n' "---------|------------|----------|----------|------------|----------|----------|-----------|-----------|--------"
for c in $LEVELS; do
  sw=$(field sdr "$c" wps); s50=$(field sdr "$c" p50_ms); s99=$(field sdr "$c" p99_ms); se=$(field sdr "$c" errors)
  ew=$(field etcd "$c" wps); e50=$(field etcd "$c" p50_ms); e99=$(field etcd "$c" p99_ms); ee=$(field etcd "$c" errors)
  rw=$(awk -v a="$sw" -v b="$ew" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  r99=$(awk -v a="$s99" -v b="$e99" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  printf '| %7s | %10s | %5.2f ms | %5.2f ms | %10s | %5.2f ms | %5.2f ms | %9s | %9s | %6s |\n' \
    "$c" "$sw" "$s50" "$s99" "$ew" "$e50" "$e99" "$rw" "$r99" "$se/$ee"
done
echo "(ratios are sdr/etcd: w/s higher is better for sdr, p99 lower is better; errors = sdr/etcd retried attempts)"
echo
n=${#FAILOVERS[@]}
if [ "$n" -gt 0 ]; then
  sorted=$(printf '%s\n' "${FAILOVERS[@]}" | sort -n)
  min=$(head -1 <<<"$sorted"); max=$(tail -1 <<<"$sorted")
  med=$(awk -v n="$n" '{ a[NR] = $1 } END { if (n % 2) print a[(n + 1) / 2]; else printf "%.1f", (a[n / 2] + a[n / 2 + 1]) / 2 }' <<<"$sorted")
  echo "sdr failover (kill -9 leader -> first acknowledged write via any member), $n trials:" \
    "min $min ms, median $med ms, max $max ms"
  echo "  trials (ms): ${FAILOVERS[*]}"
fi
echo
# Verdict against the replication issue's targets.
for c in $LEVELS; do
  sw=$(field sdr "$c" wps); ew=$(field etcd "$c" wps); s99=$(field sdr "$c" p99_ms); e99=$(field etcd "$c" p99_ms)
  case $c in
    64) awk -v a="$sw" -v b="$ew" -v x="$s99" -v y="$e99" 'BEGIN { printf "target @64 clients: throughput >= 2x etcd (%.2fx) and p99 <= etcd (%.2f vs %.2f ms): %s\n", a/b, x, y, (a >= 2*b && x <= y) ? "MET" : "NOT MET" }' ;;
    1) awk -v a="$sw" -v b="$ew" 'BEGIN { printf "target @1 client: throughput >= etcd (%.2fx): %s\n", a/b, (a >= b) ? "MET" : "NOT MET" }' ;;
  esac
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "data on $(df -T "$WORK" | awk 'NR==2 {print $2}');" \
  "etcd $(etcd --version | awk '/etcd Version/ {print $3}'); sdr-node $($NODE --version 2>/dev/null | awk '{print $NF}' || echo '?');" \
  "all 6 servers and the load generator share these cores; load average at the end:" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
ok=1
