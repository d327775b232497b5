#!/usr/bin/env bash
# Checks an install tree as users meet it (`make stage` into PREFIX with the tool): the library is
# stripped; the tool needs nothing from the Swift toolchain; a C program finds Swiftlet with CMake's
# find_package and runs without LD_LIBRARY_PATH; the README's Swift dependency line resolves.
# Usage: scripts/check-install.sh PREFIX MODEL.swl
set -euo pipefail
prefix=$1 model=$2
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

lib="$prefix/lib/libswiftlet.so.0.1.0"
if readelf -S "$lib" | grep -q '\.symtab\|\.debug_'; then bad "$lib is not stripped"; else ok; fi

tool="$prefix/bin/swiftlet"
if ldd "$tool" | grep -qi 'swift'; then bad "the installed tool needs Swift toolchain libraries:"; ldd "$tool" | grep -i swift
else ok; fi
# SwiftPM's own $ORIGIN is harmless; a path into the toolchain is not.
if readelf -d "$tool" | grep 'R.*PATH' | grep -v 'path: \[\$ORIGIN\]$'; then bad "the installed tool has the RPATH/RUNPATH above"
else ok; fi
# With the toolchain out of reach (no PATH, no library path), the tool still runs.
if out=$(env -i "$tool" inspect "$model" 2>&1) && echo "$out" | grep -q 'Swiftlet model format'; then ok
else bad "the installed tool does not run without the toolchain: $out"; fi
# The static tool converts too (a @TaskLocal once crashed there, and only there).
fx="$root/Tests/Fixtures/vit-tiny-test"
if out=$(env -i "$tool" convert --quiet --family vit --config "$fx/config.json" --checkpoint "$fx/checkpoint.safetensors" \
  --output "$work/converted.swl" 2>&1) && env -i "$tool" inspect "$work/converted.swl" >/dev/null 2>&1; then ok
else bad "the installed tool cannot convert: $out"; fi

# CMake: find_package(swiftlet CONFIG) → swiftlet::swiftlet, built and run with no LD_LIBRARY_PATH.
if cmake -S "$root/Tests/Consumers/cmake" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$work/cmake.log" 2>&1 &&
  cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1; then
  if out=$(env -u LD_LIBRARY_PATH "$work/cmake/consumer" "$model" 2>&1) && echo "$out" | grep -q '^swiftlet 0\.1\.0, family '; then
    echo "CMake consumer printed: $out"; ok
  else bad "the CMake consumer failed: $out"; fi
else
  bad "the CMake consumer did not build:"; cat "$work/cmake.log"
fi
# An older major or a newer minor than installed is refused by the version file.
sed 's/find_package(swiftlet 0.1 /find_package(swiftlet 0.9 /' "$root/Tests/Consumers/cmake/CMakeLists.txt" >"$work/newer.txt"
mkdir -p "$work/newer" && cp "$work/newer.txt" "$work/newer/CMakeLists.txt" && cp "$root/Tests/Consumers/cmake/main.c" "$work/newer/"
if cmake -S "$work/newer" -B "$work/newer/build" -DCMAKE_PREFIX_PATH="$prefix" >"$work/newer.log" 2>&1; then
  bad "find_package(swiftlet 0.9) accepted version 0.1.0"
elif grep -q 'version: 0.1.0' "$work/newer.log"; then ok
else bad "find_package(swiftlet 0.9) failed for another reason:"; cat "$work/newer.log"; fi

# Swift: the README's dependency line, in a scratch package that depends on this checkout by path
# (a folder named swiftlet, as a clone is): the product and package names must resolve.
line=$(grep -o '\.product(name: "Swiftlet", package: "[a-z-]*")' "$root/README.md" | head -1)
if [ -z "$line" ]; then
  bad "README.md has no .product(name: \"Swiftlet\", package: ...) line"
else
  mkdir -p "$work/deps" "$work/app/Sources/app"
  ln -s "$root" "$work/deps/swiftlet"
  cat >"$work/app/Package.swift" <<SWIFT
// swift-tools-version:6.1
import PackageDescription
let package = Package(
    name: "app",
    dependencies: [.package(path: "../deps/swiftlet")],
    targets: [.executableTarget(name: "app", dependencies: [$line])]
)
SWIFT
  echo 'import Swiftlet' >"$work/app/Sources/app/main.swift"
  if (cd "$work/app" && swift package describe >"$work/swift.log" 2>&1); then ok
  else bad "the README's Swift dependency line does not resolve:"; cat "$work/swift.log"; fi
fi
echo "check-install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
