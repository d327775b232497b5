#!/usr/bin/env bash
# The CLI on damaged files: `swiftlet inspect` must exit non-zero with a one-line reason, never crash.
# Then the command line itself, on the test model (`swiftlet create-test-model`: rows of 4 floats in,
# scores of 3 classes named low, middle, high out, a 16-token toy language model) and the tiny test
# ViT (Tests/Fixtures/vit-tiny-test): usage, what inspect shows, run without --output, bench without
# --shape, generate at the context length, convert's progress line, and error messages that name each
# file once and speak in flags.
# Usage: scripts/check-cli.sh SWIFTLET_BINARY TEST_MODEL.swl
set -u
export LC_ALL=C.UTF-8
bin=$1 model=$2
root=$(cd "$(dirname "$0")/.." && pwd)
pass=0; fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ok() { pass=$((pass + 1)); echo "ok  $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
expect_clean_failure() {  # name file
  "$bin" inspect --verify "$2" >"$work/out" 2>"$work/err"
  code=$?
  lines=$(wc -l <"$work/err")
  if [ $code -ne 0 ] && [ $code -lt 128 ] && [ "$lines" -eq 1 ] && grep -q '^error: ' "$work/err"; then
    pass=$((pass + 1)); echo "ok  $1: $(cat "$work/err")"
  else
    fail=$((fail + 1)); echo "FAIL $1: exit $code, $lines stderr lines: $(head -c 300 "$work/err")"
  fi
}
"$bin" inspect --verify "$model" >"$work/out" 2>&1 && grep -q "checksums verified" "$work/out" \
  && { pass=$((pass + 1)); echo "ok  intact file verifies"; } || { fail=$((fail + 1)); echo "FAIL intact file: $(cat "$work/out")"; }
size=$(stat -c %s "$model")
# one flipped byte in the data section (last byte belongs to the last tensor)
cp "$model" "$work/flipped.swl"
printf '\xff' | dd of="$work/flipped.swl" bs=1 seek=$((size - 1)) conv=notrunc status=none
expect_clean_failure "flipped byte" "$work/flipped.swl"
# one flipped byte in the header
cp "$model" "$work/header.swl"
printf '\x7f' | dd of="$work/header.swl" bs=1 seek=20 conv=notrunc status=none
expect_clean_failure "flipped header byte" "$work/header.swl"
head -c $((size / 2)) "$model" >"$work/truncated.swl"
expect_clean_failure "truncated" "$work/truncated.swl"
head -c 4096 /dev/urandom >"$work/random.swl"
expect_clean_failure "random bytes" "$work/random.swl"
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n' >"$work/lfs.swl"
expect_clean_failure "Git LFS pointer" "$work/lfs.swl"
: >"$work/empty.swl"
expect_clean_failure "empty" "$work/empty.swl"
expect_clean_failure "missing" "$work/does-not-exist.swl"
"$bin" --help >/dev/null 2>&1 && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL --help"; }
for c in convert inspect run generate stream bench profile create-test-model; do
  "$bin" help $c >/dev/null 2>&1 && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL help $c"; }
done

# `swiftlet` alone is a usage error: the usage and the commands on stderr, nothing on stdout, exit 2.
"$bin" >"$work/out" 2>"$work/err"
code=$?
if [ $code = 2 ] && [ ! -s "$work/out" ] && head -1 "$work/err" | grep -qx 'USAGE: swiftlet <subcommand>' \
  && grep -q '^  convert  ' "$work/err"; then
  ok "no arguments: usage on stderr, exit 2"
else
  bad "no arguments: exit $code, stdout $(wc -c <"$work/out") bytes, stderr: $(head -3 "$work/err")"
fi

# A float32 .npy array of ones, [rows, cols] (format 1.0: magic, header length, padded header, data).
npy_ones() { # file rows cols
  local dict="{'descr': '<f4', 'fortran_order': False, 'shape': ($2, $3), }"
  local pad=$(((64 - (10 + ${#dict} + 1) % 64) % 64)) len i
  len=$((${#dict} + pad + 1))
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))"
    printf '%s%*s\n' "$dict" $pad ''
    for ((i = 0; i < $2 * $3; i++)); do printf '\x00\x00\x80\x3f'; done
  } >"$1"
}
npy_ones "$work/x.npy" 2 4

# inspect: the inputs and outputs with the batch dimension named, and the budget knobs as flags.
"$bin" inspect "$model" >"$work/out" 2>"$work/err"
if grep -qx '  x  f32  \[batch, 4\]' "$work/out" && grep -qx '  y  f32  \[batch, 3\]' "$work/out"; then
  ok "inspect shows x [batch, 4] -> y [batch, 3]"
else
  bad "inspect inputs/outputs: $(sed -n '1,6p' "$work/out")"
fi
if grep -q '^  --loops  *loops= ' "$work/out" && grep -q '^  --budget-ms  *ms= ' "$work/out" \
  && ! grep -q -- '--merge-r' "$work/out" && ! grep -q '\[N' "$work/out"; then
  ok "inspect lists the test model's knobs (--loops, --budget-ms; no --merge-r) and no [N, ...] shape"
else
  bad "inspect budget: $(grep -A5 '^budget' "$work/out")"
fi

# The README shows this part of inspect's output for the test model; it must be what inspect prints.
readme=$(awk '/^`inspect` shows what a model takes/ {on = 1} on && /^```$/ {if (++n == 2) exit; next} on && n == 1' "$root/README.md")
actual=$(sed -n '/^inputs:/,/^  --early-margin/p' "$work/out")
[ -n "$readme" ] && [ "$readme" = "$actual" ] && ok "the README shows inspect's output as it is" \
  || bad "README's inspect excerpt differs from inspect's output: $(diff <(echo "$readme") <(echo "$actual"))"

# run without --output: per input, every class (3 < --top 5) by softmax score, the scores summing to 1.
"$bin" run "$model" --input "$work/x.npy" >"$work/out" 2>"$work/err"
code=$?
names=$(awk '$1 != "input" {print $3}' "$work/out" | sort | tr '\n' ' ')
sums=$(awk '$1 == "input" {if (n) printf "%.3f ", s; s = 0; n = 1; next} {s += $1} END {printf "%.3f", s}' "$work/out")
if [ $code = 0 ] && [ "$(grep -c '^input [01]:$' "$work/out")" = 2 ] && [ "$names" = "high high low low middle middle " ] \
  && [ "$sums" = "1.000 1.000" ]; then
  ok "run without --output prints the classes of both inputs with softmax scores"
else
  bad "run without --output: exit $code: $(cat "$work/out" "$work/err")"
fi
"$bin" run "$model" --input "$work/x.npy" --top 1 >"$work/out" 2>/dev/null
[ "$(grep -vc '^input' "$work/out")" = 2 ] && ok "run --top 1: one class per input" || bad "run --top 1: $(cat "$work/out")"
"$bin" run "$model" --input "$work/x.npy" --output "$work/y.npy" >"$work/out" 2>/dev/null
if [ ! -s "$work/out" ] && head -c 6 "$work/y.npy" | grep -q NUMPY; then
  ok "run --output writes the .npy and prints no summary"
else
  bad "run --output: stdout $(cat "$work/out")"
fi

# bench without --shape: random input of batch 1 in the model's row width.
"$bin" bench "$model" --runs 2 --warmup 0 >"$work/out" 2>&1
grep -q "input \[1, 4\]" "$work/out" && ok "bench takes [1, 4] without --shape" || bad "bench: $(cat "$work/out")"

# generate past the context: 16 positions, a 2-id prompt; the first new token comes from the prompt's
# logits, so the context holds 2 + (n - 1) positions and n = 15 tokens fit.
"$bin" generate "$model" --prompt-ids 1,2 --max-tokens 30 >/dev/null 2>"$work/err"
grep -qx "stopped at the model's context length 16 after 15 of 30 tokens" "$work/err" \
  && ok "generate says where the context ended it" || bad "generate at the context length: $(cat "$work/err")"

# convert: a progress line only on a terminal, never in a pipe or with --quiet; --verbose lists the
# checkpoint's tensors with the checkpoint's shapes (timm's qkv weight is [3 * embed_dim, embed_dim]).
vit=(--family vit --config "$root/Tests/Fixtures/vit-tiny-test/config.json"
  --checkpoint "$root/Tests/Fixtures/vit-tiny-test/checkpoint.safetensors" --force --output "$work/vit.swl")
"$bin" convert "${vit[@]}" >"$work/out" 2>"$work/err"
if [ ! -s "$work/out" ] && ! grep -q $'\r' "$work/err" && grep -q '^reading ' "$work/err" \
  && grep -q '^  56 tensors, ' "$work/err" && grep -q '^done: ' "$work/err" && [ "$(wc -l <"$work/err")" = 4 ]; then
  ok "convert into a pipe: four lines, no progress line"
else
  bad "convert into a pipe: $(cat -A "$work/err" | head -8)"
fi
cmdline=$(printf '%q ' "$bin" convert "${vit[@]}")
script -qec "$cmdline" /dev/null >"$work/tty" 2>&1
if grep -q $'\r'"converting: tensor 1/56, .* (.* %)" "$work/tty" && grep -q $'\r'"writing: tensor 56/56, .* (100 %)" "$work/tty"; then
  ok "convert on a terminal shows tensors, bytes and percent on one line"
else
  bad "convert on a terminal: $(cat -A "$work/tty" | head -c 600)"
fi
script -qec "$cmdline --quiet" /dev/null >"$work/tty" 2>&1
[ ! -s "$work/tty" ] && ok "convert --quiet on a terminal prints nothing" || bad "convert --quiet: $(cat -A "$work/tty" | head -c 300)"
"$bin" convert "${vit[@]}" --verbose 2>"$work/err" >/dev/null
if grep -qx '  blocks.0.attn.qkv.weight \[144, 48\] f32' "$work/err" && ! grep -q '\[9, 48, 16\]' "$work/err"; then
  ok "convert --verbose lists checkpoint shapes ([144, 48]), not the stored panels"
else
  bad "convert --verbose: $(grep qkv "$work/err")"
fi

# Error messages: one line, each file named once, flags rather than Swift property names.
expect_error() { # name expected-stderr command...
  local name=$1 want=$2
  shift 2
  "$@" >/dev/null 2>"$work/err"
  local code=$?
  if [ $code -ne 0 ] && [ $code -lt 128 ] && [ "$(cat "$work/err")" = "$want" ]; then
    ok "$name: $want"
  else
    bad "$name: exit $code, stderr: $(head -c 400 "$work/err")"; echo "     wanted: $want"
  fi
  # camelCase words (mergeR, maxTokens) are Swift names; the scratch folder's random name is not a word.
  if sed "s#$work#WORK#g" "$work/err" | grep -Eq '\b[a-z]+[A-Z][A-Za-z]*\b'; then
    bad "$name: a Swift name in: $(cat "$work/err")"
  fi
}
printf 'not an array' >"$work/bad.npy"
expect_error "a file that is not .npy" \
  "error: --input $work/bad.npy: npy: missing the \\x93NUMPY magic (not a .npy file)" \
  "$bin" run "$model" --input "$work/bad.npy"
expect_error "a missing input" "error: --input $work/none.npy: no such file" \
  "$bin" run "$model" --input "$work/none.npy"
expect_error "a missing output folder" \
  "error: --output $work/no/y.npy: the folder $work/no does not exist; create it first (mkdir -p $work/no)" \
  "$bin" run "$model" --input "$work/x.npy" --output "$work/no/y.npy"
expect_error "convert into a missing folder" \
  "error: --output $work/no/m.swl: the folder $work/no does not exist; create it first (mkdir -p $work/no)" \
  "$bin" convert --family vit --checkpoint "$work/x.npy" --output "$work/no/m.swl"
expect_error "a knob the family does not take" \
  "error: --merge-r does not apply to a test model; it takes --budget-ms, --budget-gflops, --loops" \
  "$bin" run "$model" --input "$work/x.npy" --merge-r 8
expect_error "a bench budget the family does not take" \
  "error: --budget r=8 does not apply to a test model; it takes ms=, gflops=, loops=" \
  "$bin" bench "$model" --budget r=8
expect_error "a stream knob the family does not take" \
  "error: --min-quality does not apply to a test stream; it takes --early-margin" \
  "$bin" stream "$model" --input "$work/x.npy" --output "$work/s.npy" --min-quality 0.9
expect_error "--max-tokens below 0" $'Error: --max-tokens must be at least 0, got -1\nUsage: swiftlet generate [<options>] <model>\n  See \'swiftlet generate --help\' for more information.' \
  "$bin" generate "$model" --prompt-ids 1 --max-tokens=-1
for bad_input in "$work/bad.npy" "$work/none.npy"; do
  "$bin" run "$model" --input "$bad_input" 2>"$work/err" >/dev/null
  [ "$(grep -o "$bad_input" "$work/err" | wc -l)" = 1 ] && ok "the file is named once: $(cat "$work/err")" \
    || bad "the file is named more than once: $(cat "$work/err")"
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
