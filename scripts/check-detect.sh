#!/usr/bin/env bash
# Spoken words in, words out, through the CLI and the C example: the keyword model of
# Tests/Fixtures/kws-detect must print one line per word of its test sentence, in order, from a WAV
# file, from raw PCM in a file and from standard input; a model with random weights (audio-demo) must
# print well-formed lines or none; bad audio input must fail with a one-line error.
# Usage: scripts/check-detect.sh SWIFTLET_BINARY STREAM_WAV_BINARY WORK_DIR
set -u
bin=$1 example=$2 work=$3
fx=Tests/Fixtures/kws-detect
pass=0 fail=0
mkdir -p "$work"
ok() { pass=$((pass + 1)); echo "ok  $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

"$bin" convert --quiet --force --family lmuformer --config $fx/config.json --checkpoint $fx/checkpoint.safetensors \
  --labels $fx/labels.txt --output "$work/kws.swl" || { echo "FAIL converting $fx"; exit 1; }
"$bin" convert --quiet --force --family lmuformer --config Tests/Fixtures/audio-demo/config.json \
  --checkpoint Tests/Fixtures/audio-demo/checkpoint.safetensors --output "$work/audio-demo.swl" 2>/dev/null || exit 1
expected=$(grep -o '"word": "[^"]*"' $fx/sentence.json | cut -d'"' -f4 | tr '\n' ' ')
tail -c +45 $fx/sentence.wav >"$work/sentence.raw" # the script writes a 44-byte WAV header

# Every line is "<seconds> <word> <score>" and the words are the sentence's, in order.
check_words() { # name file
  if ! grep -qvE '^[0-9]+\.[0-9]{2} [^ ]+ [01]\.[0-9]{2}$' "$2" && [ "$(cut -d' ' -f2 "$2" | tr '\n' ' ')" = "$expected" ]; then
    ok "$1: $(tr '\n' '|' <"$2")"
  else
    bad "$1: expected the words '$expected', got: $(tr '\n' '|' <"$2")"
  fi
}
"$bin" stream "$work/kws.swl" --wav $fx/sentence.wav --detect >"$work/wav.out" 2>"$work/err" || bad "--wav exit"
check_words "swiftlet stream --wav --detect" "$work/wav.out"
"$bin" stream "$work/kws.swl" --pcm "$work/sentence.raw" --detect >"$work/pcm.out" 2>"$work/err" || bad "--pcm FILE exit"
check_words "swiftlet stream --pcm FILE --detect" "$work/pcm.out"
"$bin" stream "$work/kws.swl" --pcm - --detect <"$work/sentence.raw" >"$work/stdin.out" 2>"$work/err" || bad "--pcm - exit"
check_words "swiftlet stream --pcm - --detect" "$work/stdin.out"
cmp -s "$work/wav.out" "$work/stdin.out" && ok "same words and times from a WAV file and from standard input" \
  || bad "WAV and standard input differ"
# Standard input arriving in pieces, as from a microphone, gives the same words.
(for skip in 0 1 2 3 4 5 6 7; do dd if="$work/sentence.raw" bs=16000 skip=$skip count=1 status=none; sleep 0.05; done) \
  | "$bin" stream "$work/kws.swl" --pcm - --detect >"$work/live.out" 2>"$work/err"
cmp -s "$work/wav.out" "$work/live.out" && ok "standard input in pieces gives the same words" || bad "live: $(cat "$work/live.out")"
"$example" --detect "$work/kws.swl" $fx/sentence.wav >"$work/c-wav.out" 2>"$work/err" || bad "C example exit"
check_words "C example (stream_wav --detect), WAV" "$work/c-wav.out"
"$example" --detect "$work/kws.swl" - <"$work/sentence.raw" >"$work/c-stdin.out" 2>"$work/err" || bad "C example - exit"
check_words "C example (stream_wav --detect), standard input" "$work/c-stdin.out"
cmp -s "$work/wav.out" "$work/c-wav.out" && ok "the C example prints what the CLI prints" || bad "C example differs from the CLI"

# Random weights: whatever is found is printed well-formed; nothing crashes.
"$bin" stream "$work/audio-demo.swl" --wav Tests/Fixtures/fbank-test/clip0.wav --detect --threshold 0.3 \
  >"$work/demo.out" 2>"$work/err" && ! grep -qvE '^[0-9]+\.[0-9]{2} [^ ]+ [01]\.[0-9]{2}$' "$work/demo.out" \
  && ok "random-weight model: $(wc -l <"$work/demo.out") well-formed line(s)" || bad "audio-demo --detect: $(cat "$work/demo.out" "$work/err")"

# Bad input: an error message (a line, or the usage for a bad option), a non-zero exit, no crash.
expect_error() { # name args...
  local name=$1
  shift
  "$bin" "$@" >"$work/out" 2>"$work/err"
  local code=$?
  if [ $code -ne 0 ] && [ $code -lt 128 ] && grep -qi '^error: ' "$work/err"; then ok "$name: $(head -1 "$work/err")"; else
    bad "$name: exit $code, $(cat "$work/err")"
  fi
}
expect_error "missing PCM file" stream "$work/kws.swl" --pcm "$work/none.raw" --detect
expect_error "not a WAV file" stream "$work/kws.swl" --wav Tests/Fixtures/audio-demo/labels.txt --detect
python3 -c 'import struct, sys; d = bytes(3200); sys.stdout.buffer.write(b"RIFF" + struct.pack("<I", 36 + len(d)) + b"WAVEfmt "
  + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", len(d)) + d)' >"$work/8k.wav"
expect_error "WAV at 8 kHz" stream "$work/kws.swl" --wav "$work/8k.wav" --detect
expect_error "threshold out of range" stream "$work/kws.swl" --wav $fx/sentence.wav --detect --threshold 1.5
expect_error "negative window" stream "$work/kws.swl" --wav $fx/sentence.wav --detect --window=-1
expect_error "--detect on frames" stream "$work/kws.swl" --input x.npy --output y.npy --detect
head -c 1001 /dev/urandom >"$work/odd.raw"
"$bin" stream "$work/kws.swl" --pcm "$work/odd.raw" --detect >/dev/null 2>&1 && ok "an odd number of bytes of noise" \
  || bad "odd bytes of noise"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
