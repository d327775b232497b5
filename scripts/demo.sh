#!/usr/bin/env bash
# `make demo`: first the models trained here (`make models` → build/models): words found in a spoken
# sentence, text continued at 1, 2, 4 and 8 loops, an image classified at several merge rates — each
# beside the quality its setting costs, from the profile stored in the model. Then the small reference
# checkpoints in Tests/Fixtures under two or three budgets each: what the budget chose, the time, and
# the agreement with the official implementation's output.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin/swiftlet
fx=Tests/Fixtures
models=build/models
out=build/demo
mkdir -p "$out"
[ -x "$bin" ] || { echo "build first: make" >&2; exit 1; }
[ -f "$models/kws.swl" ] || { echo "convert the trained models first: make models" >&2; exit 1; }

# profiled MODEL SETTING → "<score> <fraction of full>" from the quality profile `inspect` prints.
profiled() { "$bin" inspect "$1" | awk -v s="$2" '$1 == s { print $2, $3; exit }'; }

echo "== Spoken commands: $models/kws.swl (Models/kws) =="
echo "Models/kws/demo/commands.wav: \"go left please right up and stop\", word by word, by a voice the"
echo "model never heard. One line per command found: <seconds> <word> <score> (\"please\" and \"and\""
echo "are not commands):"
"$bin" stream "$models/kws.swl" --wav Models/kws/demo/commands.wav --detect 2>/dev/null
echo "(live: arecord -q -f S16_LE -r 16000 -c 1 | $bin stream $models/kws.swl --pcm - --detect)"

echo
echo "== Text: $models/text-loopformer.swl (Models/text), one shared block looped 1 to 8 times =="
prompt="class Reader:"
echo "The prompt \"$prompt\" continued (sampled: temperature 0.7, top-k 40, seed 3), beside the"
echo "model's perplexity on held-out Python files at that loop count (lower is better):"
for loops in 1 2 4 8; do
  read -r ppl fraction <<<"$(profiled "$models/text-loopformer.swl" "loops=$loops")"
  text=$("$bin" generate "$models/text-loopformer.swl" --prompt "$prompt" --max-tokens 32 --loops "$loops" \
    --temperature 0.7 --top-k 40 --seed 3 --threads 1 2>"$out/generate.err")
  speed=$(sed -n 's/^mean decode \([0-9.]*\) µs\/token.*/\1/p' "$out/generate.err")
  printf -- '--- %d loop(s): held-out perplexity %.1f, %s µs per token\n' "$loops" "$ppl" "$speed"
  printf '%s%s\n' "$prompt" "$text"
done

if [ -f "$models/image.swl" ]; then
  echo
  echo "== Images: $models/image.swl (Models/image), a ViT that merges tokens (ToMe) =="
  for png in Models/image/samples/*.png; do
    echo "$png, at merge rates r from the model's profile (top-1 accuracy on held-out fonts beside each):"
    "$bin" inspect "$models/image.swl" | awk '/^quality profile/ { on = 1; getline; next } on && NF == 3 { print $1; next } on { exit }' |
      while read -r setting; do
        read -r acc fraction <<<"$(profiled "$models/image.swl" "$setting")"
        top=$("$bin" run "$models/image.swl" --image "$png" --top 1 --threads 1 --merge-r "${setting#r=}" 2>/dev/null)
        printf '  %-10s accuracy %.3f  →  %s\n' "$setting" "$acc" "$(echo "$top" | awk '{ print $3, "(" $1 ")" }')"
      done
  done
fi

echo
echo "== The reference checkpoints in $fx, beside the official implementations' outputs =="
rows=()
row() { rows+=("$(printf '%-13s %-22s %-50s %10s  %s' "$@")"); }

# run FAMILY MODEL FIXTURE INPUT EXPECTED BUDGET_LABEL [budget flags...]
run_case() {
  local family=$1 model=$2 fixture=$3 input=$4 expected=$5 label=$6; shift 6
  local result="$out/$fixture-$(echo "$label" | tr -c 'a-zA-Z0-9' _).npy"
  local report
  report=$("$bin" run "$out/$model.swl" --input "$fx/$fixture/$input" --output "$result" --threads 1 "$@" 2>&1 >/dev/null)
  local choice=$(echo "$report" | sed -n 's/^chose \(.*\), \([0-9.]*\) µs.*/\1/p')
  local micros=$(echo "$report" | sed -n 's/^chose .*, \([0-9.]*\) µs.*/\1/p')
  local agree=$("$bin" compare "$result" "$fx/$fixture/$expected" 2>&1 || true)
  agree=$(echo "$agree" | sed -e 's/ over [0-9]* values//' -e 's/: agree/: within 1e-4 ✓/')
  case "$label" in
    *f16*|*q8*) agree=$(echo "$agree" | sed 's/: DIFFER/ (compact tables are approximate)/') ;;
  esac
  row "$family" "$label" "$choice" "$micros" "$agree"
}

convert() {  # FAMILY FIXTURE [OUTPUT_NAME [converter flags...]]
  local family=$1 fixture=$2 name=${3:-$2}; shift $(( $# < 3 ? $# : 3 ))
  "$bin" convert --quiet --force --family "$family" --config "$fx/$fixture/config.json" \
    --checkpoint "$fx/$fixture/checkpoint.pth" --output "$out/$name.swl" "$@" 2>>"$out/convert.log"
}

convert loopformer loopformer-test

run_case loopformer loopformer-test loopformer-test input_ids.npy logits_L8.npy "full (8 loops)"
run_case loopformer loopformer-test loopformer-test input_ids.npy logits_L3mixed.npy "--loops 3" --loops 3
run_case loopformer loopformer-test loopformer-test input_ids.npy logits_L2.npy "--budget-gflops 0.0001" --budget-gflops 0.0001

convert vit vit-tiny-test
run_case vit vit-tiny-test vit-tiny-test input.npy logits_r0.npy "--merge-r 0" --merge-r 0
run_case vit vit-tiny-test vit-tiny-test input.npy logits_r8dec.npy "--merge-r 8,-1" --merge-r 8,-1
run_case vit vit-tiny-test vit-tiny-test input.npy logits_r4.npy "--budget-gflops 0.0315" --budget-gflops 0.0315

convert lmuformer lmu-test
run_case lmuformer lmu-test lmu-test input.npy logits.npy "whole clip"
convert lmuformer slmu-ms-test
run_case lmuformer slmu-ms-test slmu-ms-test input.npy logits.npy "whole clip (spiking)"

for dtype in f32 f16 q8; do
  convert memoryformer memoryformer-test memoryformer-$dtype --table-dtype $dtype
  run_case memoryformer memoryformer-$dtype memoryformer-test input_ids.npy logits.npy "tables $dtype (converter)"
done

echo
printf '%-13s %-22s %-50s %10s  %s\n' family budget "what the budget chose" "µs" "agreement with the reference"
printf '%s\n' "${rows[@]}"

