#!/usr/bin/env bash
# Runs one fuzzer for a bounded time on its corpus (kept between runs) and its seeds, then prints one
# line: seconds, executions, coverage, corpus size and findings. A finding (crash, sanitizer report,
# leak, timeout, out-of-memory, oracle failure) is left in WORK/findings/TARGET/ and makes the
# script fail after printing the report's key lines.
# Extra libFuzzer flags can be given in $FUZZ_FLAGS (e.g. FUZZ_FLAGS=-jobs=2).
# Usage: Fuzz/run.sh BIN_DIR TARGET SECONDS SEEDS_DIR WORK_DIR   (TARGET: model, state, checkpoint or image)
set -uo pipefail
bin=$1 target=$2 seconds=$3 seed_dir=$4 work=$5
corpus=$work/corpus/$target seeds=$seed_dir/$target findings=$work/findings/$target log=$work/logs/$target.log
mkdir -p "$corpus" "$findings" "$work/logs"
case $target in
  model) flags=(-max_len=2500000 -timeout=60 -rss_limit_mb=3072) ;;
  state) flags=(-max_len=16384 -timeout=20) ;;
  checkpoint) flags=(-max_len=600000 -timeout=20 -dict=Fuzz/checkpoint.dict) ;;
  image) flags=(-max_len=65536 -timeout=20 -rss_limit_mb=3072) ;;
  *) echo "unknown fuzz target '$target'" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
SWL_FUZZ_MODELS=$seed_dir/model "$bin/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$findings/" "${flags[@]}" ${FUZZ_FLAGS:-} "$corpus" "$seeds" > "$log" 2>&1
status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1)
cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | cut -d' ' -f2)
corp=$(echo "$last" | grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]+' | cut -d' ' -f2)
found=$(find "$findings" -type f | wc -l)
echo "fuzz_$target: ${seconds}s, ${execs:-?} executions, coverage ${cov:-?} edges, corpus ${corp:-?}, $found finding(s) in $findings (log $log)"
if [ $status -ne 0 ]; then
  grep -E 'ERROR: |SUMMARY: |fuzz oracle|Fatal error|Test unit written|^    #[0-9] ' "$log" | head -25
fi
exit $status
