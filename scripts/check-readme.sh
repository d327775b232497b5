#!/usr/bin/env bash
# Compiles the README's C example against a staged install (header, library, swiftlet.pc, as
# `make install` lays them out) with pkg-config, and runs it on the test model.
# Usage: scripts/check-readme.sh PREFIX TEST_MODEL.swl
set -euo pipefail
prefix=$1 model=$2
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
if echo "$out" | awk 'NF == 3 { for (i = 1; i <= 3; i++) if ($i !~ /^-?[0-9.e+-]+$/) exit 1; exit 0 } { exit 1 }'; then
  echo "1 passed, 0 failed"
else
  echo "FAIL: unexpected output"; echo "0 passed, 1 failed"; exit 1
fi
