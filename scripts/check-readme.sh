#!/usr/bin/env bash
# Compiles the README's C example against a staged install (header, library, swiftlet.pc, as
# `make install` lays them out) with pkg-config, and runs it on the test model; checks that the README's
# Swift snippet is Examples/readme-swift/main.swift and runs that program (SWIFT_EXAMPLE, built by make).
# Usage: scripts/check-readme.sh PREFIX TEST_MODEL.swl [SWIFT_EXAMPLE_BINARY]
set -euo pipefail
prefix=$1 model=$2 swift_example=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk '/^```c$/ {on=1; next} /^```$/ {on=0} on' README.md > "$work/example.c"
[ -s "$work/example.c" ] || { echo "FAIL: no C example in README.md"; echo "0 passed, 1 failed"; exit 1; }
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
gcc -std=c99 -Wall -Wextra -Werror -pedantic "$work/example.c" -o "$work/example" \
    $(pkg-config --cflags --libs swiftlet) -Wl,-rpath,"$prefix/lib"
out=$("$work/example" "$model")
echo "README example printed: $out"
# three finite numbers
pass=0; fail=0
if echo "$out" | awk 'NF == 3 { for (i = 1; i <= 3; i++) if ($i !~ /^-?[0-9.e+-]+$/) exit 1; exit 0 } { exit 1 }'; then
  pass=$((pass + 1))
else
  fail=$((fail + 1)); echo "FAIL: the C example printed something unexpected"
fi
awk '/^```swift$/ {on=1; next} /^```$/ {on=0} on' README.md > "$work/readme.swift"
if cmp -s "$work/readme.swift" Examples/readme-swift/main.swift; then
  pass=$((pass + 1))
else
  fail=$((fail + 1)); echo "FAIL: the README's Swift snippet differs from Examples/readme-swift/main.swift"
fi
if [ -n "$swift_example" ]; then
  sout=$("$swift_example" "$model")
  echo "README Swift example printed:"; echo "$sout" | sed 's/^/  /'
  if echo "$sout" | head -1 | grep -q '^test \[' && echo "$sout" | grep -q '^10 rows$' && echo "$sout" | grep -q '^error: input'; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); echo "FAIL: the Swift example printed something unexpected"
  fi
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
