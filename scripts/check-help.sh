#!/usr/bin/env bash
# Every command's help as an 80-column terminal (or a pipe) shows it: `swiftlet --help` and
# `swiftlet <command> --help` for each command `swiftlet --help` lists. Fails when a line is wider than
# 80 columns, or when an example (a line starting with `swiftlet `, indented) runs on into the next
# line without a trailing `\`. The help reflows paragraphs itself and puts the rest of a line too long
# for the terminal at column 0, so a broken example shows up as a line that is not indented; the
# lines after a trailing `\` must be indented deeper than the example. A `code` span in prose must not
# be broken either.
# Usage: scripts/check-help.sh SWIFTLET_BINARY
set -u
export LC_ALL=C.UTF-8 # count characters, not bytes
bin=$1
pass=0 fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The commands, from the SUBCOMMANDS section of the top-level help.
COLUMNS=80 "$bin" --help >"$work/top" 2>&1 || { echo "FAIL: swiftlet --help exited $?"; exit 1; }
mapfile -t commands < <(awk '/^SUBCOMMANDS:/ {on=1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}' "$work/top")
if [ ${#commands[@]} -lt 5 ]; then
  echo "FAIL: found only ${#commands[@]} commands in swiftlet --help: ${commands[*]}"; exit 1
fi

check() { # title file
  local title=$1 file=$2 n bad=0 line next indent="" cont=0
  mapfile -t lines <"$file"
  [ ${#lines[@]} -gt 3 ] || { echo "FAIL $title: only ${#lines[@]} lines of help"; fail=$((fail + 1)); return; }
  for ((n = 0; n < ${#lines[@]}; n++)); do
    line=${lines[n]}
    if [ ${#line} -gt 80 ]; then
      echo "FAIL $title: line $((n + 1)) is ${#line} columns wide: $line"; bad=1
    fi
    ticks=${line//[!\`]/}
    if [ $((${#ticks} % 2)) = 1 ]; then
      echo "FAIL $title: line $((n + 1)) breaks a \`code\` span: $line"; bad=1
    fi
    if [ $cont = 1 ]; then # the rest of an example after a trailing \ is indented deeper
      if [[ $line != "$indent"[[:space:]]* ]]; then
        echo "FAIL $title: line $((n + 1)) continues an example but is not indented: $line"; bad=1
      fi
    elif [[ $line =~ ^([[:space:]]*)swiftlet[[:space:]] ]]; then
      indent=${BASH_REMATCH[1]}
    else
      continue
    fi
    if [[ $line == *'\' ]]; then cont=1; continue; fi
    cont=0
    # The example ends here: what follows is a blank line, or a line indented but not deeper (the
    # next example, or the next command of a pipe). A line at column 0 is the rest of a broken line.
    next=${lines[n + 1]:-}
    [[ $next =~ ^([[:space:]]*) ]]
    if [ -n "$next" ] && { [ ${#BASH_REMATCH[1]} = 0 ] || [ ${#BASH_REMATCH[1]} -gt ${#indent} ]; }; then
      echo "FAIL $title: the example ending on line $((n + 1)) runs on into the next line without a trailing \\:"
      echo "    $line"; echo "    $next"; bad=1
    fi
  done
  if [ $bad = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}

check "swiftlet --help" "$work/top"
for c in "${commands[@]}"; do
  COLUMNS=80 "$bin" "$c" --help >"$work/$c" 2>&1 || { echo "FAIL: swiftlet $c --help exited $?"; fail=$((fail + 1)); continue; }
  check "swiftlet $c --help" "$work/$c"
  # Piped without COLUMNS, the help must come out the same (80 columns is the default width).
  (unset COLUMNS; "$bin" "$c" --help 2>&1 | cat) >"$work/$c.piped"
  cmp -s "$work/$c" "$work/$c.piped" && pass=$((pass + 1)) \
    || { fail=$((fail + 1)); echo "FAIL swiftlet $c --help | cat differs from COLUMNS=80"; }
done
echo "check-help: ${#commands[@]} commands (${commands[*]}): $pass passed, $fail failed"
[ $fail -eq 0 ]
