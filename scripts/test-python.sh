#!/usr/bin/env bash
# The Python bindings' test: a fresh virtual environment under build/test/venv, the wheel built from
# Bindings/python as users build it (`pip wheel`; the build hook bundles the debug library of
# `make test-c`, stripped, and tags the wheel for it), installed (so the package's own library search
# finds the bundled copy), then pytest. The tests inspect the wheel ($SWIFTLET_TEST_WHEEL) and build
# others without build isolation (hatchling is installed in the venv for that).
#
# Usage: scripts/test-python.sh            (after `make test-c`; run from anywhere)
# Environment: PYTHON (default python3), SWIFTLET_CLI (default .build/debug/swiftlet), and
# TEST_LIB (default build/test/lib/libswiftlet.so).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

python=${PYTHON:-python3}
lib=${TEST_LIB:-$root/build/test/lib/libswiftlet.so}
cli=${SWIFTLET_CLI:-$root/.build/debug/swiftlet}
venv=$root/build/test/venv

fail() { echo "test-python: $*" >&2; exit 1; }
[ -e "$lib" ] || fail "no library at $lib; run \`make test-c\` first (it stages the debug build there)"
[ -x "$cli" ] || fail "no swiftlet CLI at $cli (the tests make their model with it); run \`make test-c\` or set SWIFTLET_CLI"
command -v "$python" >/dev/null || fail "$python not found; install Python 3.9+ with the venv module (apt-get install python3-venv)"

echo "== fresh virtual environment in $venv"
rm -rf "$venv"
"$python" -m venv "$venv" || fail "could not create a venv (on Debian: apt-get install python3-venv)"
vpy=$venv/bin/python
"$vpy" -m pip install --quiet --disable-pip-version-check numpy pytest hatchling
wheels=$root/build/test/wheel
rm -rf "$wheels"
# The wheel's build hook bundles this library, stripped, as swiftlet/lib/libswiftlet.so (hatch_build.py).
SWIFTLET_BUNDLE_LIBRARY=$lib "$vpy" -m pip wheel --quiet --disable-pip-version-check --no-deps \
  --wheel-dir "$wheels" "$root/Bindings/python"
wheel=$(echo "$wheels"/swiftlet-*.whl)
[ -f "$wheel" ] || fail "pip wheel made no swiftlet wheel in $wheels"
"$vpy" -m pip install --quiet --disable-pip-version-check "$wheel"
# find_spec locates the package without importing it (importing loads the library).
pkgdir=$("$vpy" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("swiftlet").origin))')
[ -f "$pkgdir/lib/libswiftlet.so" ] || fail "the installed package has no lib/libswiftlet.so: the build hook did not run"
echo "== installed $(basename "$wheel"): $(readlink -f "$lib") ($(stat -c %s "$(readlink -f "$lib")") bytes) stripped to" \
  "$pkgdir/lib/libswiftlet.so ($(stat -c %s "$pkgdir/lib/libswiftlet.so") bytes)"

echo "== pytest"
unset SWIFTLET_LIBRARY  # exercise the package's own search; the tests cover the variable separately
export PYTHONDONTWRITEBYTECODE=1  # keep the source tree clean
export SWIFTLET_CLI=$cli
export SWIFTLET_TEST_WHEEL=$wheel SWIFTLET_TEST_BUNDLED_FROM=$lib  # tests/test_packaging.py
status=0
(cd "$root/Bindings/python" && "$vpy" -m pytest -p no:cacheprovider -q tests) || status=$?
case $status in
  0) echo "test-python: all tests passed" ;;
  5) fail "pytest collected no tests (exit 5)" ;;
  *) fail "pytest failed (exit $status)" ;;
esac
