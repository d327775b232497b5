#!/usr/bin/env bash
# Checks the system packages Swiftlet needs. As root it installs what is missing; otherwise it prints
# the exact apt command. Usage: scripts/deps.sh [--python]  (--python: also what `make test` needs beyond the
# build: the bindings' Python venv, clang-format, which checks the C formatting, and the AArch64 cross
# compiler and qemu-user, which run the C kernels' tests as on an ARM64 board)
set -euo pipefail
need=()
pkg-config --exists openblas 2>/dev/null || need+=(libopenblas-dev)
pkg-config --exists libzstd 2>/dev/null || need+=(libzstd-dev)
# The tool's image decoding (`swiftlet run --image`); the library links neither.
pkg-config --exists libpng 2>/dev/null || need+=(libpng-dev)
pkg-config --exists libjpeg 2>/dev/null || need+=(libjpeg62-turbo-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v gcc >/dev/null || need+=(gcc)
command -v g++ >/dev/null || need+=(g++)
if [ "${1:-}" = "--python" ]; then
  command -v python3 >/dev/null || need+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  command -v clang-format >/dev/null || need+=(clang-format)
  command -v zstd >/dev/null || need+=(zstd) # the tests read the compressed tokenizer goldens with it
  command -v cmake >/dev/null || need+=(cmake) # a consumer of the install tree, built the CMake way
  # make test-arm64: the kernels cross-compiled (statically, so with the cross C library) and run under qemu
  command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
  [ -e /usr/aarch64-linux-gnu/lib/libc.a ] || need+=(libc6-dev-arm64-cross)
  command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "Swiftlet needs these Debian packages: ${need[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
if ! command -v swift >/dev/null; then
  echo "Swift 6.3 or newer is needed (https://www.swift.org/install/linux/); 'swift' is not on PATH." >&2
  exit 1
fi
