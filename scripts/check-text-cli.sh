#!/usr/bin/env bash
# Text through the CLI on a language model converted with --tokenizer: `tokenize --text` then
# `tokenize --ids` gives the input back byte for byte (trailing newlines included; the test tokenizer has no tab), `--text -`
# reads standard input, and `generate --prompt` prints text. Usage: check-text-cli.sh SWIFTLET LM.swl
set -euo pipefail
cli=$1
lm=$2
fail() { echo "check-text-cli: $*" >&2; exit 1; }

text=$'def f(x):\n    return x  # <|endoftext|> too\n\n'
ids=$("$cli" tokenize "$lm" --text "$text")
[ -n "$ids" ] || fail "no ids for the text"
back=$("$cli" tokenize "$lm" --ids "$ids"; printf x)
[ "${back%x}" = "$text" ] || fail "round trip changed the text: '${back%x}'"
from_stdin=$(printf '%s' "$text" | "$cli" tokenize "$lm" --text -)
[ "$from_stdin" = "$ids" ] || fail "--text - gave $from_stdin, --text gave $ids"
"$cli" tokenize "$lm" --ids 0,65 --skip-special | grep -qx a || fail "--skip-special kept the special token"
out=$("$cli" generate "$lm" --prompt "def f(x):" --max-tokens 8 2>/dev/null)
[ -n "$out" ] || fail "generate --prompt printed no text"
if "$cli" generate "$lm" --prompt "" --max-tokens 2 2>/dev/null; then fail "an empty prompt was accepted"; fi
if "$cli" tokenize "$lm" --ids 1,100000 2>/dev/null; then fail "an id outside the vocabulary was accepted"; fi
echo "check-text-cli: round trip, standard input, --skip-special and generate --prompt ok"
