#!/usr/bin/env bash
# `swiftlet run --image`: image files in, class names out, against timm/Pillow's goldens
# (Tests/Fixtures/image-preprocess, made by its make.py); damaged and unsupported files exit 1 with one
# line naming the file, never a crash.
# Usage: scripts/check-images.sh SWIFTLET_BINARY WORKDIR
set -u
bin=$1 work=$2
fx=Tests/Fixtures
img=$fx/image-preprocess
mkdir -p "$work"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# One clean failure: exit 1 (not a signal), one stderr line starting "error: " that contains NEEDLE.
expect_error() {  # NAME NEEDLE -- COMMAND...
  local name=$1 needle=$2; shift 3
  "$@" >"$work/out" 2>"$work/err"
  local code=$? lines
  lines=$(wc -l <"$work/err")
  if [ $code -eq 1 ] && [ "$lines" -eq 1 ] && grep -q '^error: ' "$work/err" && grep -qF -- "$needle" "$work/err"; then
    ok "$name: $(cat "$work/err")"
  else
    bad "$name: exit $code, $lines stderr lines, wanted '$needle': $(head -c 300 "$work/err")"
  fi
}

convert() {  # output [flags...]
  local out=$1; shift
  "$bin" convert --quiet --force --family vit --config "$fx/vit-tiny-test/config.json" \
    --checkpoint "$fx/vit-tiny-test/checkpoint.safetensors" --output "$out" "$@"
}
if convert "$work/vit-image.swl" --preprocess "$img/pretrained_cfg.json" --labels "$img/labels.txt" 2>"$work/err"; then
  ok "convert with --preprocess and --labels"
else
  bad "convert with --preprocess: $(cat "$work/err")"
fi
convert "$work/vit-plain.swl" && ok "convert without preprocessing" || bad "convert without preprocessing"

# Photos: the printed classes, the model input and the logits, as timm computes them on Pillow's decoding.
# The input is compared to one 8-bit level (1 / (255 · std) for the channel with the largest std).
for photo in photo.jpg photo.png; do
  if "$bin" run "$work/vit-image.swl" --image "$img/$photo" --top 5 --output "$work/logits.npy" \
       --save-input "$work/input.npy" >"$work/top" 2>"$work/err"; then
    cmp -s "$work/top" "$img/e2e_${photo}_top5.txt" && ok "$photo: top 5 as timm's softmax ranks them" \
      || bad "$photo: printed $(cat "$work/top"), expected $(cat "$img/e2e_${photo}_top5.txt")"
    "$bin" compare "$work/input.npy" "$img/e2e_${photo}_input.npy" --atol 0.0171 --rtol 0 >"$work/cmp" \
      && ok "$photo: model input within one level of timm ($(cat "$work/cmp"))" || bad "$photo input: $(cat "$work/cmp")"
    "$bin" compare "$work/logits.npy" "$img/e2e_${photo}_logits.npy" >"$work/cmp" \
      && ok "$photo: logits ($(cat "$work/cmp"))" || bad "$photo logits: $(cat "$work/cmp")"
  else
    bad "$photo: $(cat "$work/err")"
  fi
done
"$bin" run "$work/vit-image.swl" --image "$img/photo.jpg" --top 2 2>/dev/null | wc -l | grep -qx 2 \
  && ok "--top 2 prints two lines" || bad "--top 2"

# Every kind of file the decoder takes (PNG 1-16 bits, palette, alpha, interlaced; JPEG baseline,
# progressive, grey, restarts, EXIF) runs.
for f in "$img"/decode/*.npy; do
  file=${f%.npy}
  "$bin" run "$work/vit-image.swl" --image "$file" --top 1 >/dev/null 2>"$work/err" && ok "runs on $(basename "$file")" \
    || bad "$(basename "$file"): $(cat "$work/err")"
done

# Damaged, unsupported and missing files, and models that take no images.
for f in "$img"/damaged/*.png "$img"/damaged/*.jpg "$img"/damaged/*.gif; do
  expect_error "damaged $(basename "$f")" "$f" -- "$bin" run "$work/vit-image.swl" --image "$f"
done
expect_error "16-bit grey PNG" "16-bit greyscale" -- "$bin" run "$work/vit-image.swl" --image "$img/decode/grey16.png"
expect_error "CMYK JPEG" "CMYK" -- "$bin" run "$work/vit-image.swl" --image "$img/decode/cmyk.jpg"
expect_error "missing file" "$work/nothing.png" -- "$bin" run "$work/vit-image.swl" --image "$work/nothing.png"
expect_error "a directory" "$img/decode" -- "$bin" run "$work/vit-image.swl" --image "$img/decode"
expect_error "model without preprocessing" "--preprocess" -- "$bin" run "$work/vit-plain.swl" --image "$img/photo.jpg"
"$bin" create-test-model "$work/test-model.swl"
expect_error "a family without images" "does not take images" -- "$bin" run "$work/test-model.swl" --image "$img/photo.jpg"
printf '{"crop_mode": "border"}' >"$work/border.json"
expect_error "convert refuses crop_mode border" "crop_mode 'border'" -- convert "$work/x.swl" --preprocess "$work/border.json"
printf '{"input_size": [3, 224, 224]}' >"$work/size.json"
expect_error "convert refuses another input_size" "input_size" -- convert "$work/x.swl" --preprocess "$work/size.json"

# Usage: one of --input and --image; --help explains --image and --top.
"$bin" run "$work/vit-image.swl" --image "$img/photo.jpg" --input x.npy >/dev/null 2>&1; [ $? -ne 0 ] \
  && ok "--input with --image is refused" || bad "--input with --image"
# --input without --output: the top 5 of the 10 classes for each of the fixture's two images, named.
"$bin" run "$work/vit-image.swl" --input "$fx/vit-tiny-test/input.npy" >"$work/out" 2>/dev/null \
  && [ "$(grep -c '^input [01]:$' "$work/out")" = 2 ] && [ "$(grep -c '^  0\.[0-9]* *[0-9]  [a-z]' "$work/out")" = 10 ] \
  && ok "--input without --output prints the top classes of each input" || bad "--input without --output: $(cat "$work/out")"
"$bin" help run >"$work/help" 2>&1 && grep -q -- "--image" "$work/help" && grep -q -- "--top" "$work/help" \
  && ok "run --help explains --image and --top" || bad "run --help"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
