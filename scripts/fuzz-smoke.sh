#!/usr/bin/env bash
# Fuzz smoke test (CI, `make fuzz-smoke`): builds every cargo-fuzz target of fuzz/ and runs each
# for a few seconds (FUZZ_SMOKE_SECS, default 5) starting from its committed seed corpus
# (fuzz/corpus/<target>); fails on any crash, leak, timeout or memory-limit hit. New corpus
# entries go to a temporary directory, so the committed corpus is never modified.
# Needs the nightly toolchain and cargo-fuzz; installs either if missing. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${FUZZ_SMOKE_SECS:-5}"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz-smoke: the nightly toolchain is missing (cargo fuzz needs it); installing it:" \
       "rustup toolchain install nightly --profile minimal"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: cargo-fuzz is missing; installing it: cargo install --locked cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

cd fuzz
start=$(date +%s)
cargo +nightly fuzz build
built=$(date +%s)
echo "fuzz-smoke: built the targets in $((built - start)) s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for t in $(cargo +nightly fuzz list); do
  mkdir -p "$work/$t"
  echo "fuzz-smoke: $t for ${SECS} s"
  if ! cargo +nightly fuzz run "$t" "$work/$t" "corpus/$t" -- \
      -max_total_time="$SECS" -rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 \
      -print_final_stats=1 >"$work/$t.log" 2>&1; then
    tail -n 60 "$work/$t.log"
    failed+=("$t")
  else
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$work/$t.log" | tr '\n' ' '
    echo
  fi
done
echo "fuzz-smoke: done in $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]} (reproducers under fuzz/artifacts/)"
  exit 1
fi
