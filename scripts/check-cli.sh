#!/usr/bin/env bash
# The CLI on damaged files: `swiftlet inspect` must exit non-zero with a one-line reason, never crash.
# Usage: scripts/check-cli.sh SWIFTLET_BINARY TEST_MODEL.swl
set -u
bin=$1 model=$2
pass=0; fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
