#!/usr/bin/env bash
# Benchmark of sdr-check (not a test), side by side with Porcupine when a
# Porcupine source checkout is given (PORCUPINE_SRC=DIR, a checkout or a bare
# git dir; built with Debian's golang-go through ../shared/bench/porcupine-kv,
# or PORCUPINE_DRIVER=DIR pointing at such a driver). Whole-process wall time
# and peak RSS per shape, and sdr/porcupine ratios.
#
# Shapes (seeded):
#   hot-30k   one register, 16 clients, 30k ops, unique values, 0.05% info (the
#             shape of scenarios/register-hot.yaml)
#   hot-run   a real `sdr-harness run scenarios/register-hot.yaml` history, if
#             HOT_RUN=1 (needs sdr-node + sdr-harness built; ~1 minute)
#   reg-10k   one register, 10 clients, 10k ops, 1% info, 20% cas, unique values
#   kv-1m     1M ops, 1,000 keys, 50 clients, 1% info, 20% cas (kv)
#   hour-1m   one register, 16 clients, 1M ops, 0.05% info (a one-hour hot-key run)
#   la-10k, la-100k, la-1m   list-append transactional histories (sdr-check
#             --model list-append): 50 clients, 10 active keys rotating after 16
#             appends, 1-4 micro-ops, 1% info, 1% fail; strict serializable by
#             construction. la-*-gs: the same with one planted G-single (the
#             expected verdict is "bad"). Set TXN=0 to skip them.
#   porcupine Porcupine's own 102 etcd + 6 kv test histories, one process each
#             (only with PORCUPINE_SRC); every verdict is compared with the one
#             Porcupine's tests assert.
# LIN=0 skips the linearizability shapes (hot-30k … hour-1m).
# TIMEOUT (default 300 s) bounds each run; a timed-out run prints "timeout".
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
$CARGO build --release -p sdr-checker >&2
BIN=${TARGET_DIR:-target}/release
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TIMEOUT=${TIMEOUT:-300}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "needs /usr/bin/time (apt-get install -y time)" >&2; exit 2; }

PORC=""
if [ -n "${PORCUPINE_DRIVER:-}" ]; then
  PORC="$PORCUPINE_DRIVER/porc"
elif [ -n "${PORCUPINE_SRC:-}" ]; then
  PORC=$(../shared/bench/porcupine-kv/build.sh "$PORCUPINE_SRC" "$WORK/porckv" | tail -1)
fi

gen() { "$BIN/sdr-check-gen" "$@"; }
shapes=()
if [ "${LIN:-1}" = 1 ]; then
gen --ops 30000 --keys 1 --clients 16 --info 0.0005 --cas 0.3 --model register --seed 5 --values 1000000000 --out "$WORK/hot-30k.jsonl"
gen --ops 10000 --keys 1 --clients 10 --info 0.01 --cas 0.2 --model register --seed 42 --values 1000000000 --out "$WORK/reg-10k.jsonl"
gen --ops 1000000 --keys 1000 --clients 50 --info 0.01 --cas 0.2 --model kv --seed 42 --out "$WORK/kv-1m.jsonl"
gen --ops 1000000 --keys 1 --clients 16 --info 0.0005 --cas 0.3 --model register --seed 9 --values 1000000000 --out "$WORK/hour-1m.jsonl"
shapes=(hot-30k reg-10k kv-1m hour-1m)
fi
if [ "${HOT_RUN:-0}" = 1 ]; then
  $CARGO build --release -p sdr-node -p sdr-harness >&2
  "$BIN/sdr-harness" run scenarios/register-hot.yaml --seed 1 --out "$WORK/hot-run" >&2 || true
  h=$(find "$WORK/hot-run" -name history.jsonl | head -1)
  if [ -n "$h" ]; then cp "$h" "$WORK/hot-run.jsonl"; shapes=(hot-run "${shapes[@]}"); fi
fi

# measure NAME CMD... -> "secs kib verdict"
measure() {
  local out="$WORK/m.out" err="$WORK/m.err"
  if "$TIME" -f '%e %M' timeout "$TIMEOUT" "$@" >"$out" 2>"$err"; then :; fi
  local t m
  read -r t m < <(tail -1 "$err")
  if grep -q 'status 124' "$err"; then echo "timeout - timeout"; return; fi
  local v
  v=$(head -c 300 "$out" | tr '\n' ' ')
  case "$v" in
    INVALID*) v=bad ;;
    *"no anomalies"*) v=ok ;;
    *"NOT linearizable"*|*Illegal*) v=bad ;;
    unknown*|*Unknown*) v=unknown ;;
    *linearizable*|*Ok*) v=ok ;;
    *) v="?" ;;
  esac
  echo "$t $m $v"
}

ratio() { if [ "$2" = timeout ] || [ "$2" = - ]; then echo "—"; else echo "scale=2; $1 / $2" | bc; fi; }

printf '%-10s | %9s %9s %-7s | %9s %9s %-7s | %s\n' shape "sdr s" "sdr MB" verdict "porc s" "porc MB" verdict "time ratio"
for s in "${shapes[@]+"${shapes[@]}"}"; do
  model=register; [ "$s" = kv-1m ] && model=kv
  read -r st sm sv < <(measure "$BIN/sdr-check" "$WORK/$s.jsonl" --model "$model")
  if [ -n "$PORC" ] && [ "$s" != hour-1m ]; then
    read -r pt pm pv < <(measure "$PORC" "$WORK/$s.jsonl")
  else pt=-; pm=-; pv=-; fi
  smb=$([ "$sm" = timeout ] && echo - || echo $((sm / 1024)))
  pmb=$([ "$pm" = timeout ] || [ "$pm" = - ] && echo - || echo $((pm / 1024)))
  printf '%-10s | %9s %9s %-7s | %9s %9s %-7s | %s\n' "$s" "$st" "$smb" "$sv" "$pt" "$pmb" "$pv" "$(ratio "$st" "$pt")"
done

if [ "${TXN:-1}" = 1 ]; then
  for n in 10k:10000 100k:100000 1m:1000000; do
    name=${n%%:*}; ops=${n##*:}
    gen --model list-append --ops "$ops" --keys 10 --clients 50 --info 0.01 --fail 0.01 --seed 1 --out "$WORK/la-$name.jsonl"
    gen --model list-append --ops "$ops" --keys 10 --clients 50 --info 0.01 --fail 0.01 --seed 1 --plant-g-single --out "$WORK/la-$name-gs.jsonl"
    for s in "la-$name" "la-$name-gs"; do
      read -r st sm sv < <(measure "$BIN/sdr-check" "$WORK/$s.jsonl" --model list-append)
      smb=$([ "$sm" = timeout ] && echo - || echo $((sm / 1024)))
      printf '%-10s | %9s %9s %-7s | %9s %9s %-7s | %s\n' "$s" "$st" "$smb" "$sv" - - - "—"
    done
    rm -f "$WORK/la-$name.jsonl" "$WORK/la-$name-gs.jsonl"
  done
fi

if [ -n "${PORCUPINE_SRC:-}" ]; then
  # Porcupine's corpus: convert with sdr-check itself (Jepsen log / EDN -> JSON Lines).
  src="$WORK/porc-src"; mkdir -p "$src"
  if [ -f "$PORCUPINE_SRC/go.mod" ]; then cp -r "$PORCUPINE_SRC"/. "$src/"; else git --git-dir="$PORCUPINE_SRC" archive HEAD | tar -x -C "$src"; fi
  c="$WORK/corpus"; mkdir -p "$c"
  for f in "$src"/test_data/jepsen/*.log; do "$BIN/sdr-check" "$f" --emit-jsonl "$c/$(basename "$f" .log).jsonl" >/dev/null; done
  for f in "$src"/test_data/kv/*.txt; do
    n=$(basename "$f" .txt)
    # Porcupine's kv model reads a missing key as ""; ours (Redis) as nil.
    sed -E 's/(:type :ok, :f :get, :key "[^"]*", :value )""/\1nil/' "$f" > "$c/$n.edn"
    "$BIN/sdr-check" "$c/$n.edn" --emit-jsonl "$c/$n.jsonl" >/dev/null
  done
  grep -o 'checkJepsen(t, [0-9]*, [a-z]*)' "$src/porcupine_test.go" | sed 's/checkJepsen(t, \([0-9]*\), \([a-z]*\))/\1 \2/' > "$c/expected"
  total() { # CMD... -> "secs peakMB mismatches"
    local t0 t1 peak=0 bad=0 n exp f r
    t0=$(date +%s.%N)
    while read -r n exp; do
      f=$(printf '%s/etcd_%03d.jsonl' "$c" "$n")
      read -r _ m r < <(measure "$@" "$f")
      [ "$m" != timeout ] && [ "$m" -gt "$peak" ] && peak=$m
      { [ "$exp" = true ] && [ "$r" = ok ]; } || { [ "$exp" = false ] && [ "$r" = bad ]; } || bad=$((bad + 1))
    done < "$c/expected"
    for k in c01 c10 c50; do for v in ok bad; do
      read -r _ m r < <(measure "$@" "$c/$k-$v.jsonl")
      [ "$m" != timeout ] && [ "$m" -gt "$peak" ] && peak=$m
      [ "$r" = "$v" ] || bad=$((bad + 1))
    done; done
    t1=$(date +%s.%N)
    echo "$(echo "$t1 - $t0" | bc) $((peak / 1024)) $bad"
  }
  read -r st sm sb < <(total "$BIN/sdr-check")
  read -r pt pm pb < <(total "$PORC")
  printf '%-10s | %9s %9s %-7s | %9s %9s %-7s | %s\n' "porc-108" "$st" "$sm" "wrong=$sb" "$pt" "$pm" "wrong=$pb" "$(ratio "$st" "$pt")"
  for n in c50-ok c50-bad; do
    read -r st sm sv < <(measure "$BIN/sdr-check" "$c/$n.jsonl")
    read -r pt pm pv < <(measure "$PORC" "$c/$n.jsonl")
    printf '%-10s | %9s %9s %-7s | %9s %9s %-7s | %s\n' "$n" "$st" "$((sm / 1024))" "$sv" "$pt" "$((pm / 1024))" "$pv" "$(ratio "$st" "$pt")"
  done
fi
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
