#!/usr/bin/env bash
# Converts the golden fixtures with the CLI and runs each case through the C API (Tests/C/fixture_test.c).
# Usage: scripts/check-fixtures-c.sh SWIFTLET_BINARY FIXTURE_TEST_BINARY WORKDIR
set -u
cli=$1 ft=$2 work=$3
fx=Tests/Fixtures
mkdir -p "$work"
pass=0; fail=0
run() {  # fixture_test args...
  if out=$("$ft" "$@" 2>&1); then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  echo "$out" | grep -v ' passed, '
}
convert() {  # family fixture [extra flags]: the .pth and the .safetensors must give identical bytes
  local family=$1 name=$2; shift 2
  if "$cli" convert --quiet --force --family "$family" --config "$fx/$name/config.json" \
       --checkpoint "$fx/$name/checkpoint.pth" --output "$work/$name.swl" "$@" &&
     "$cli" convert --quiet --force --family "$family" --config "$fx/$name/config.json" \
       --checkpoint "$fx/$name/checkpoint.safetensors" --output "$work/$name.st.swl" "$@"; then
    if cmp -s "$work/$name.swl" "$work/$name.st.swl"; then
      pass=$((pass + 1)); echo "ok   convert $name: .pth and .safetensors give identical .swl bytes ($(stat -c %s "$work/$name.swl") bytes)"
    else
      fail=$((fail + 1)); echo "FAIL convert $name: .pth and .safetensors give different .swl files"
    fi
  else
    fail=$((fail + 1)); echo "FAIL convert $name"
  fi
}

# LoopFormer: every trajectory, whole sequence and token by token.
convert loopformer loopformer-test
for tag in L1:traj=1 L2:traj=0.5,0.5 L3mixed:traj=0.375,0.375,0.25 L4:loops=4 L8:loops=8; do
  name=${tag%%:*} budget=${tag#*:}
  run run "$work/loopformer-test.swl" $fx/loopformer-test/input_ids.npy $fx/loopformer-test/logits_$name.npy 0 "$budget"
  run decode "$work/loopformer-test.swl" $fx/loopformer-test/input_ids.npy $fx/loopformer-test/logits_$name.npy "$budget"
done

# MemoryFormer: whole sequence and token by token, float32 tables.
convert memoryformer memoryformer-test
run run "$work/memoryformer-test.swl" $fx/memoryformer-test/input_ids.npy $fx/memoryformer-test/logits.npy 0
run decode "$work/memoryformer-test.swl" $fx/memoryformer-test/input_ids.npy $fx/memoryformer-test/logits.npy

# LMUFormer, plain and spiking: whole clip (both outputs) and streamed in chunks of 1, 7 and 128.
for name in lmu-test slmu-ms-test; do
  convert lmuformer $name
  run run "$work/$name.swl" $fx/$name/input.npy $fx/$name/logits.npy 0
  run run "$work/$name.swl" $fx/$name/input.npy $fx/$name/logits_per_step.npy 1
  for chunk in 1 7 128; do
    run stream "$work/$name.swl" $fx/$name/input.npy $fx/$name/logits_per_step.npy $chunk
  done
done

# ViT with ToMe: every budget tag of the fixture — logits, final tokens and sizes.
convert vit vit-tiny-test
for tag in r0:0 r4:4 r8:8 r8dec:8,-1 list:16,8,4; do
  name=${tag%%:*} r=${tag#*:}
  run run "$work/vit-tiny-test.swl" $fx/vit-tiny-test/input.npy $fx/vit-tiny-test/logits_$name.npy 0 "r=$r"
  run run "$work/vit-tiny-test.swl" $fx/vit-tiny-test/input.npy $fx/vit-tiny-test/tokens_$name.npy 1 "r=$r"
  [ -f $fx/vit-tiny-test/sizes_$name.npy ] &&
    run run "$work/vit-tiny-test.swl" $fx/vit-tiny-test/input.npy $fx/vit-tiny-test/sizes_$name.npy 2 "r=$r"
done

# Images: the vit fixture converted with timm's preprocessing; photos as Pillow decoded them, through
# swl_model_preprocess_image (against timm's tensor, to one 8-bit level) and swl_session_run_image
# (against the reference logits), and refused by the same model converted without --preprocess.
img=$fx/image-preprocess
if "$cli" convert --quiet --force --family vit --config "$fx/vit-tiny-test/config.json" \
     --checkpoint "$fx/vit-tiny-test/checkpoint.safetensors" --output "$work/vit-image.swl" \
     --preprocess "$img/pretrained_cfg.json" --labels "$img/labels.txt"; then
  pass=$((pass + 1)); echo "ok   convert vit-tiny-test with --preprocess and --labels"
else
  fail=$((fail + 1)); echo "FAIL convert vit-tiny-test with --preprocess"
fi
for photo in photo.jpg photo.png; do
  run image "$work/vit-image.swl" "$img/e2e_${photo}_pixels.npy" "$img/e2e_${photo}_input.npy" \
    "$img/e2e_${photo}_logits.npy" "$work/vit-tiny-test.swl"
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
