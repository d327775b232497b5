#!/usr/bin/env bash
# Replays the fuzz regressions: every file under DIR/TARGET/ runs once through that target's harness
# (with the sanitizers). A *.edit file is first turned into a .swl file by swl_edit from its seed
# model. With --expect-crash (for Tests/Fuzz/known), each input is run on its own and the script
# reports which still crash instead of failing.
# Usage: Fuzz/regress.sh BIN_DIR DIR SEEDS_DIR WORK_DIR [--expect-crash]
set -uo pipefail
bin=$1 dir=$2 seeds=$3 work=$4 mode=${5:-}
out=$work/replay
mkdir -p "$out"
pass=0 fail=0
for target in model state checkpoint image; do
  [ -d "$dir/$target" ] || continue
  inputs=()
  for f in "$dir/$target"/*; do
    [ -f "$f" ] || continue
    case $f in
      *.md) continue ;;
      *.edit)
        swl=$out/$(basename "${f%.edit}").swl
        if ! "$bin/swl_edit" "$f" "$seeds/model" "$swl"; then
          echo "FAIL $f: swl_edit could not build it"; fail=$((fail + 1)); continue
        fi
        inputs+=("$swl") ;;
      *) inputs+=("$f") ;;
    esac
  done
  [ ${#inputs[@]} -gt 0 ] || continue
  if [ "$mode" = --expect-crash ]; then
    for f in "${inputs[@]}"; do
      if SWL_FUZZ_KNOWN=1 SWL_FUZZ_MODELS=$seeds/model "$bin/fuzz_$target" -rss_limit_mb=3072 "$f" > "$out/$(basename "$f").log" 2>&1; then
        echo "fixed      $target/$(basename "$f") (no longer crashes: move it to Tests/Fuzz/regressions)"
      else
        log=$out/$(basename "$f").log
        why=$(grep -m1 -oE 'Fatal error: .*|Swift runtime failure: [^/]*|(Address|Leak|UndefinedBehavior)Sanitizer: [a-z-]+.*|fuzz oracle: .*' "$log")
        echo "crashes    $target/$(basename "$f"): ${why:-$(grep -m1 'ERROR: ' "$log")}" | cut -c1-200
      fi
    done
    continue
  fi
  if SWL_FUZZ_MODELS=$seeds/model "$bin/fuzz_$target" -rss_limit_mb=3072 "${inputs[@]}" > "$out/$target.log" 2>&1; then
    pass=$((pass + ${#inputs[@]}))
    echo "ok   fuzz regressions $target: ${#inputs[@]} input(s) replayed"
  else
    fail=$((fail + 1))
    echo "FAIL fuzz regressions $target (log $out/$target.log):"
    grep -E 'Running: |ERROR: |SUMMARY: |fuzz oracle|Fatal error' "$out/$target.log" | tail -8
  fi
done
[ "$mode" = --expect-crash ] || [ $fail -eq 0 ]
