#!/usr/bin/env bash
# Benchmark of sdr-check (not a test). Generates seeded, linearizable-by-
# construction histories and checks them, printing parse time, check time,
# whole-process time and peak memory.
#   (a) 1M ops, 1,000 keys, 50 clients, 1% info, 20% cas (kv model)
#   (b) 10k ops, 1 key, 10 clients (register model)
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
$CARGO build --release -p sdr-checker >&2
BIN=${TARGET_DIR:-target}/release
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
  echo "note: /usr/bin/time missing (apt-get install -y time); peak memory not measured" >&2
  TIME=""
fi

gen() { "$BIN/sdr-check-gen" "$@"; }
gen --ops 1000000 --keys 1000 --clients 50 --info 0.01 --cas 0.2 --model kv --seed 42 --out "$WORK/a.jsonl"
gen --ops 10000 --keys 1 --clients 10 --info 0.01 --cas 0.2 --model register --seed 42 --out "$WORK/b.jsonl"

bench() {
  local name=$1; shift
  local log="$WORK/$name.log"
  if [ -n "$TIME" ]; then
    "$TIME" -v "$BIN/sdr-check" "$@" --timings >"$WORK/$name.out" 2>"$log" || true
  else
    local t0; t0=$(date +%s.%N)
    "$BIN/sdr-check" "$@" --timings >"$WORK/$name.out" 2>"$log" || true
    echo "Elapsed (wall clock) time (h:mm:ss or m:ss): $(echo "$(date +%s.%N) - $t0" | bc)" >>"$log"
  fi
  local timings wall rss
  timings=$(grep '^timings:' "$log" | sed 's/^timings: //')
  wall=$(grep 'Elapsed (wall clock)' "$log" | sed 's/.*: //')
  rss=$(grep 'Maximum resident set size' "$log" | awk '{printf "%.0f MB", $NF/1024}')
  printf '%-4s %s | %s | whole process %s | peak %s\n' "$name" "$(cat "$WORK/$name.out")" "$timings" "$wall" "${rss:-n/a}"
}

echo "sdr-check benchmark ($(nproc) cores)"
bench a "$WORK/a.jsonl" --model kv
bench b "$WORK/b.jsonl" --model register
