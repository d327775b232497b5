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
    --checkpoint "$fx/$fixture/checkpoint.pth" --output "$out/$name.swl" "$@"
}

echo "Converting the reference checkpoints in $fx ..."
convert loopformer loopformer-test

run_case loopformer loopformer-test loopformer-test input_ids.npy logits_L8.npy "full (8 loops)"
run_case loopformer loopformer-test loopformer-test input_ids.npy logits_L3mixed.npy "--loops 3" --loops 3
run_case loopformer loopformer-test loopformer-test input_ids.npy logits_L2.npy "--budget-gflops 0.0001" --budget-gflops 0.0001

convert vit vit-tiny-test
run_case vit vit-tiny-test vit-tiny-test input.npy logits_r0.npy "--merge-r 0" --merge-r 0
run_case vit vit-tiny-test vit-tiny-test input.npy logits_r8dec.npy "--merge-r 8,-1" --merge-r 8,-1
run_case vit vit-tiny-test vit-tiny-test input.npy logits_r4.npy "--budget-gflops 0.0315" --budget-gflops 0.0315
convert vit vit-tiny-test vit-image --preprocess "$fx/image-preprocess/pretrained_cfg.json" \
  --labels "$fx/image-preprocess/labels.txt"
echo "An image file through the same ViT, converted with timm's preprocessing and class names (random"
echo "weights, so the classes mean nothing; timm computes the same scores, $fx/image-preprocess):"
"$bin" run "$out/vit-image.swl" --image "$fx/image-preprocess/photo.jpg" --top 3 --threads 1

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

echo
echo "Streaming $fx/fbank-test/clip0.wav through LMUFormer (front end + model in one stream; untrained"
echo "demo weights from $fx/audio-demo, so the classes mean nothing — watch the rows arrive):"
"$bin" convert --quiet --force --family lmuformer --config "$fx/audio-demo/config.json" \
  --checkpoint "$fx/audio-demo/checkpoint.safetensors" --output "$out/audio-demo.swl"
"$bin" stream "$out/audio-demo.swl" --wav "$fx/fbank-test/clip0.wav" --labels "$fx/audio-demo/labels.txt" --every 10

echo
echo "Spotting words in $fx/kws-detect/sentence.wav (\"yes ... stop ... go\", a voice the model never heard)"
echo "with the small keyword model trained by Models/kws/train-kws.py: one line per word, <seconds> <word> <score>:"
"$bin" convert --quiet --force --family lmuformer --config "$fx/kws-detect/config.json" \
  --checkpoint "$fx/kws-detect/checkpoint.safetensors" --labels "$fx/kws-detect/labels.txt" --output "$out/kws.swl"
"$bin" stream "$out/kws.swl" --wav "$fx/kws-detect/sentence.wav" --detect
echo "(live: arecord -q -f S16_LE -r 16000 -c 1 | $bin stream $out/kws.swl --pcm - --detect)"
