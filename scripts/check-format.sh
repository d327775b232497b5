#!/usr/bin/env bash
# Fails when a tracked Swift or C file differs from what the committed formatter configs make of it
# (.swift-format for `swift format`, .clang-format for clang-format 14 as Debian 12 ships it).
# Fix with: scripts/check-format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
[ "${1:-}" = "--fix" ] && fix=1
mapfile -t swift_files < <(git ls-files '*.swift')
mapfile -t c_files < <(git ls-files '*.c' '*.h')

if ! command -v clang-format >/dev/null; then
    echo "check-format: clang-format is missing; install it with: sudo apt-get install -y clang-format" >&2
    exit 1
fi
cf_major=$(clang-format --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
if [ "$cf_major" != "14" ]; then
    echo "check-format: clang-format $cf_major found, the committed style is checked with 14 (Debian 12);" >&2
    echo "              other versions break lines differently. Install Debian 12's clang-format." >&2
    exit 1
fi

if [ $fix = 1 ]; then
    swift format format -i --configuration .swift-format "${swift_files[@]}"
    clang-format -i "${c_files[@]}"
    exit 0
fi

# Format copies, then compare: the tree itself is never touched by the check.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "${swift_files[@]}" "${c_files[@]}"; do
    mkdir -p "$tmp/$(dirname "$f")"
    cp "$f" "$tmp/$f"
done
(cd "$tmp" && swift format format -i --configuration "$OLDPWD/.swift-format" "${swift_files[@]}")
(cd "$tmp" && clang-format --style="file:$OLDPWD/.clang-format" -i "${c_files[@]}")
bad=0
for f in "${swift_files[@]}" "${c_files[@]}"; do
    if ! cmp -s "$f" "$tmp/$f"; then
        [ $bad = 0 ] && echo "check-format: these files are not formatted (fix with scripts/check-format.sh --fix):" >&2
        echo "  $f" >&2
        diff -u "$f" "$tmp/$f" | head -20 >&2 || true
        bad=1
    fi
done
[ $bad = 0 ] && echo "check-format: ${#swift_files[@]} Swift and ${#c_files[@]} C files formatted"
exit $bad
