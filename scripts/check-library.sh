#!/usr/bin/env bash
# Checks what a built libswiftlet.so promises: only swl_* exported, a soname, and no dependency on the
# Swift toolchain's shared libraries. Prints "N passed, N failed".
set -u
lib=$1
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

header=${2:-Include/swiftlet.h}
# Global (upper-case type letter) dynamic symbols are the exports; local ones are not visible.
exports=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[A-Z]$/ {print $3}' | sort)
other=$(echo "$exports" | grep -v '^swl_' | grep -v '^$')
[ -z "$other" ] && ok || bad "exports other than swl_*: $(echo "$other" | head -5 | tr '\n' ' ')"
declared=$(grep -oE '\bswl_[a-z_0-9]+\(' "$header" | tr -d '(' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exports"))
[ -z "$missing" ] && ok || bad "declared in the header but not exported: $(echo $missing)"
extra=$(comm -13 <(echo "$declared") <(echo "$exports"))
[ -z "$extra" ] && ok || bad "exported but not declared in the header: $(echo $extra)"
count=$(echo "$declared" | wc -l)
[ "$count" -gt 0 ] && [ -n "$(echo "$declared" | head -1)" ] && ok || bad "no swl_* declarations found in $header"
readelf -d "$lib" | grep -q 'SONAME.*libswiftlet.so.0' && ok || bad "soname is not libswiftlet.so.0"
swiftdeps=$(ldd "$lib" | grep -iE 'swift|Foundation|dispatch|BlocksRuntime' || true)
[ -z "$swiftdeps" ] && ok || bad "depends on toolchain libraries: $swiftdeps"
needed=$(readelf -d "$lib" | awk '/NEEDED/ {gsub(/[\[\]]/, "", $5); print $5}' | tr '\n' ' ')
for n in $needed; do
  case $n in
    libc.so.*|libm.so.*|libstdc++.so.*|libgcc_s.so.*|libopenblas.so.*|libzstd.so.*|ld-linux*) ;;
    *) bad "unexpected NEEDED library $n";;
  esac
done
[ -n "$needed" ] && ok || bad "readelf found no NEEDED entries (not a dynamic library?)"
echo "library: $count swl_* symbols, NEEDED: $needed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
