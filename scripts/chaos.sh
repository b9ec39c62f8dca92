#!/usr/bin/env bash
# The chaos suite: runs scenarios against local sdr-node clusters and prints a verdict table.
#
#   scripts/chaos.sh                                   every scenarios/*.yaml and scenarios/planted/*.yaml
#   SCENARIO=scenarios/x.yaml SEED=7 scripts/chaos.sh  one scenario, one seed (`make chaos SCENARIO=… SEED=…`)
#   CHAOS_QUICK=1 scripts/chaos.sh                     CI set: smoke, partition-majority-minority, planted/stale-reads,
#                                                      planted/stale-reads-netns (needs root),
#                                                      external/sentinel-isolate-primary (needs redis-server)
#   scripts/chaos.sh --scenarios a.yaml b.yaml         these scenarios
#   SEEDS=20 scripts/chaos.sh …                        seeds 1..20 for each scenario (or SEEDS="3 9 12")
#
# Environment: SEED (one seed; default 1), SEEDS, CHAOS_OUT (run folders, default runs),
# SDR_HARNESS_BIN (default target/release/sdr-harness), SDR_NODE_BIN (default
# target/release/sdr-node), CHAOS_RESULTS (also append the rows to this TSV file).
# Exit status: 0 when every verdict agrees with the scenario's `expect`, 1 when one does
# not, 2 when a run failed in the harness itself (no verdict).
set -u
cd "$(dirname "$0")/.."

HARNESS=${SDR_HARNESS_BIN:-target/release/sdr-harness}
NODE=${SDR_NODE_BIN:-target/release/sdr-node}
OUT=${CHAOS_OUT:-runs}

scenarios=()
if [ "${1:-}" = "--scenarios" ]; then
  shift
  scenarios=("$@")
elif [ -n "${SCENARIO:-}" ]; then
  scenarios=("$SCENARIO")
elif [ "${CHAOS_QUICK:-0}" != "0" ]; then
  scenarios=(scenarios/smoke.yaml scenarios/partition-majority-minority.yaml scenarios/planted/stale-reads.yaml
    scenarios/planted/stale-reads-netns.yaml scenarios/external/sentinel-isolate-primary.yaml)
else
  scenarios=(scenarios/*.yaml scenarios/planted/*.yaml)
fi

if [ -n "${SEEDS:-}" ]; then
  case "$SEEDS" in
    *[!0-9]*) seeds=($SEEDS) ;;
    *) seeds=($(seq 1 "$SEEDS")) ;;
  esac
else
  seeds=("${SEED:-1}")
fi

for f in "$HARNESS" "$NODE"; do
  if [ ! -x "$f" ]; then
    echo "chaos: $f not found; build with: cargo build --release -p sdr-node -p sdr-harness" >&2
    exit 2
  fi
done

# scenarios/planted/x.yaml → planted/x
label() { local l=${1#scenarios/}; echo "${l%.yaml}"; }

mkdir -p "$OUT"
rows=()
worst=0
start=$(date +%s)
for sc in "${scenarios[@]}"; do
  expect=$(sed -n 's/^expect:[[:space:]]*\([a-z-]*\).*/\1/p' "$sc" | head -1)
  # `network: netns` (and netem) needs root and working `ip netns`: say so and skip elsewhere.
  if grep -qE '^network:[[:space:]]*netns' "$sc" && { [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; }; then
    echo "chaos: skipping $(label "$sc"): network: netns needs root and a working \`ip netns\`" >&2
    continue
  fi
  for seed in "${seeds[@]}"; do
    log=$(mktemp)
    if [ -t 2 ]; then
      # On a terminal: the harness's progress bar (phase, elapsed, ops/s, faults) and errors stay visible.
      "$HARNESS" run "$sc" --seed "$seed" --out "$OUT" --node-bin "$NODE" >"$log"
    else
      "$HARNESS" run "$sc" --seed "$seed" --out "$OUT" --node-bin "$NODE" --quiet >"$log" 2>&1
    fi
    rc=$?
    line=$(grep -E ' seed [0-9]+: ' "$log" | tail -1)
    if [ -n "$line" ]; then
      ops=$(sed -n 's/.* — \([0-9]*\) ops.*/\1/p' <<<"$line")
      case "$line" in
        *": linearizable ("*) verdict=linearizable ;;
        *"NOT linearizable"*) verdict=violation ;;
        *": valid ("*) verdict=valid ;;
        *": INVALID "*) verdict=violation ;;
        *) verdict=unknown ;;
      esac
      report=$(sed -n 's/.*; report \([^ ]*\).*/\1/p' <<<"$line")
    else
      ops=-; verdict="harness-error"; report=$(tail -1 "$log" | tr '\t' ' ')
      [ -z "$report" ] && report="(see the error above)"
    fi
    case $rc in
      0) status=PASS ;;
      1) status=MISMATCH; [ $worst -lt 1 ] && worst=1 ;;
      *) status=ERROR; worst=2 ;;
    esac
    row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s' "$(label "$sc")" "$seed" "$ops" "$verdict" "$expect" "$status" "$report")
    rows+=("$row")
    [ -n "${CHAOS_RESULTS:-}" ] && printf '%s\t%s\n' "$sc" "$row" >>"$CHAOS_RESULTS"
    printf '%-28s seed %-4s %-14s %s\n' "$(label "$sc")" "$seed" "$verdict" "$status" >&2
    rm -f "$log"
  done
done

echo
{
  printf 'SCENARIO\tSEED\tOPS\tVERDICT\tEXPECTED\tRESULT\tREPORT\n'
  printf '%s\n' "${rows[@]}"
} | column -t -s $'\t'
echo
echo "chaos: ${#rows[@]} runs in $(( $(date +%s) - start )) s; $(printf '%s\n' "${rows[@]}" | grep -c $'\tPASS\t') agree with expect"
exit $worst
