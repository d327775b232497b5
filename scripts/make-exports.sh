#!/usr/bin/env bash
# Regenerates the linker version script from the header, so the library exports exactly the functions
# Include/swiftlet.h declares (internal C kernels may not leak, whatever their names).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "/* Generated from Include/swiftlet.h by scripts/make-exports.sh: exactly the declared functions. */"
  echo "{"
  echo "  global:"
  grep -oE '\bswl_[a-z_0-9]+\(' Include/swiftlet.h | tr -d '(' | sort -u | sed 's/.*/    &;/'
  echo "  local: *;"
  echo "};"
} > Sources/SwiftletC/exports.map
