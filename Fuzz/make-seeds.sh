#!/usr/bin/env bash
# Writes the seed corpora of the fuzzers into OUT_DIR (nothing large is committed): model files of
# every family converted from the golden fixtures with the CLI (f32, f16 + zstd, q8 and q8 tables, so
# every dtype and codec path is seeded) and the built-in test model; checkpoint files (the small
# torch.save cases, the fixture checkpoints but the 2 MB MemoryFormer ones, the .npy cases and the
# tiny hand-written seeds in Fuzz/seeds/checkpoint); the image files of Tests/Fixtures/image-preprocess.
# The stream-state seeds need the built library and are written by fuzz_state_seeds (see Fuzz/fuzz.mk).
# Usage: Fuzz/make-seeds.sh SWIFTLET_CLI OUT_DIR
set -euo pipefail
cli=$1 out=$2
fx=Tests/Fixtures
mkdir -p "$out/model" "$out/checkpoint" "$out/state" "$out/image"

convert() {  # family fixture output [flags]
  local family=$1 name=$2 output=$3; shift 3
  "$cli" convert --quiet --force --family "$family" --config "$fx/$name/config.json" \
    --checkpoint "$fx/$name/checkpoint.safetensors" --output "$out/model/$output" "$@"
}
"$cli" create-test-model "$out/model/test.swl"
convert loopformer loopformer-test loopformer-test.swl
convert loopformer loopformer-test loopformer-test.f16z.swl --dtype f16 --compress
convert loopformer loopformer-test loopformer-test.q8.swl --dtype q8
convert loopformer loopformer-test loopformer-test.text.swl --tokenizer "$fx/tokenizer/tiny.json" 2>/dev/null
convert memoryformer memoryformer-test memoryformer-test.swl
convert memoryformer memoryformer-test memoryformer-test.q8t.swl --table-dtype q8 --compress
convert lmuformer lmu-test lmu-test.swl
convert lmuformer lmu-test lmu-test.f16z.swl --dtype f16 --compress
convert lmuformer slmu-ms-test slmu-ms-test.swl
convert lmuformer audio-demo audio-demo.swl
convert vit vit-tiny-test vit-tiny-test.swl
convert vit vit-tiny-test vit-tiny-test.q8z.swl --dtype q8 --compress
convert vit vit-tiny-test vit-tiny-test.bf16.swl --dtype bf16
convert vit vit-tiny-test vit-tiny-test.image.swl --preprocess $fx/image-preprocess/pretrained_cfg.json \
  --labels $fx/image-preprocess/labels.txt

cp $fx/checkpoint-cases/*.pth $fx/checkpoint-cases/*.npy Fuzz/seeds/checkpoint/* "$out/checkpoint/"
for name in loopformer-test lmu-test slmu-ms-test vit-tiny-test; do
  cp $fx/$name/checkpoint.pth "$out/checkpoint/$name.pth"
  cp $fx/$name/checkpoint.safetensors "$out/checkpoint/$name.safetensors"
done
cp $fx/audio-demo/checkpoint.safetensors "$out/checkpoint/audio-demo.safetensors"
# Image files of every kind the decoder takes, and the damaged ones it refuses.
cp $fx/image-preprocess/decode/*.png $fx/image-preprocess/decode/*.jpg $fx/image-preprocess/damaged/*.png \
  $fx/image-preprocess/damaged/*.jpg "$out/image/"
echo "fuzz seeds: $(ls "$out/model" | wc -l) models, $(ls "$out/checkpoint" | wc -l) checkpoints, $(ls "$out/image" | wc -l) images in $out"
