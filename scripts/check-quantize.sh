#!/usr/bin/env bash
# `swiftlet quantize` on the golden fixtures: a LoopFormer quantized to f16 / bf16 / q8 runs the
# fixture's prompts within the tolerance of Tests/SwiftletTests/LoopFormerCompactTests.swift (1.5e-3,
# 1.5e-2, 4e-2 of the largest |logit|, about 9.3: --atol 0.014 / 0.14 / 0.37) of the official logits
# at 1 and 8 loop steps; the deviation report has a line per output; a tokenizer survives and a quality
# profile is left out with a note; refusals exit non-zero with their reason; from an f32 file the
# other families' quantized files are byte for byte those of `convert --dtype` (ViT: repacked panels).
# Usage: check-quantize.sh SWIFTLET WORKDIR
set -euo pipefail
cli=$1
dir=$2
fx=Tests/Fixtures/loopformer-test
fail() { echo "check-quantize: $*" >&2; exit 1; }
mkdir -p "$dir"
rm -f "$dir"/*.swl "$dir"/*.npy

"$cli" convert --quiet --force --family loopformer --config $fx/config.json --checkpoint $fx/checkpoint.safetensors \
    --tokenizer Tests/Fixtures/tokenizer/tiny.json --output "$dir/lf.swl" 2>/dev/null
for spec in f16:0.014 bf16:0.14 q8:0.37; do
    dtype=${spec%%:*} atol=${spec#*:}
    out=$("$cli" quantize "$dir/lf.swl" --dtype $dtype --output "$dir/lf-$dtype.swl" 2>&1) || fail "$dtype: $out"
    grep -q "^wrote $dir/lf-$dtype.swl: 11 loopformer matrices" <<<"$out" || fail "$dtype: no summary line in: $out"
    grep -Eq "^  logits \[1, 32, 101\]: max \|Δ\| .*, max \|Δ\|/scale .*, top-1 agreement .* of 32 rows$" <<<"$out" ||
        fail "$dtype: no deviation line in: $out"
    for loops in 1 8; do
        "$cli" run "$dir/lf-$dtype.swl" --input $fx/input_ids.npy --output "$dir/out.npy" --loops $loops 2>/dev/null
        "$cli" compare "$dir/out.npy" $fx/logits_L$loops.npy --atol $atol --rtol 0 >/dev/null ||
            fail "$dtype at $loops loops: $("$cli" compare "$dir/out.npy" $fx/logits_L$loops.npy --atol $atol --rtol 0)"
    done
    # The tokenizer came along.
    [ "$("$cli" tokenize "$dir/lf-$dtype.swl" --text "def f")" = "$("$cli" tokenize "$dir/lf.swl" --text "def f")" ] ||
        fail "$dtype: the tokenizer changed"
done
out=$("$cli" quantize "$dir/lf.swl" --dtype bf16 --output "$dir/lf-cal.swl" --input $fx/input_ids.npy 2>&1)
grep -q "calibration input $fx/input_ids.npy \[2, 11\]" <<<"$out" || fail "--input not used: $out"
grep -q "top-1 agreement .* of 22 rows" <<<"$out" || fail "--input: no deviation over its 22 rows: $out"

# A quality profile is measured on the original weights: left out, with a note.
"$cli" profile "$dir/lf.swl" --data $fx/input_ids.npy --settings "loops=1;loops=2" --output "$dir/lf-profiled.swl" 2>/dev/null
grep -q "quality.scores" <<<"$("$cli" inspect "$dir/lf-profiled.swl")" || fail "the profile was not stored"
out=$("$cli" quantize "$dir/lf-profiled.swl" --dtype q8 --output "$dir/lf-profiled-q8.swl" 2>&1)
grep -q "note: the quality profile (quality.data, quality.metric, quality.samples, quality.scores, quality.settings)" \
    <<<"$out" || fail "no note about the dropped profile: $out"
if grep -q "quality\." <<<"$("$cli" inspect "$dir/lf-profiled-q8.swl")"; then fail "the profile was kept"; fi

# Refusals: exit status 1 (64 for a usage error) and the reason on stderr.
refuse() {
    local want=$1 status=$2
    shift 2
    local got rc=0
    got=$("$cli" "$@" 2>&1 >/dev/null) || rc=$?
    [ $rc -eq "$status" ] || fail "'$*' exited $rc, want $status ($got)"
    grep -qF -- "$want" <<<"$got" || fail "'$*' said: $got (want: $want)"
}
refuse "the weights are already bf16" 1 quantize "$dir/lf-bf16.swl" --dtype bf16 --output "$dir/x.swl"
refuse "is stored as bf16, which is less precise than f16" 1 quantize "$dir/lf-bf16.swl" --dtype f16 --output "$dir/x.swl"
refuse "is stored as q8_row, which is less precise than bf16" 1 quantize "$dir/lf-q8.swl" --dtype bf16 --output "$dir/x.swl"
refuse "--dtype must be f16, bf16, q8 or q4, got 'int2'" 64 quantize "$dir/lf.swl" --dtype int2 --output "$dir/x.swl"
refuse "a loopformer model cannot use q4_block" 1 quantize "$dir/lf.swl" --dtype q4 --output "$dir/x.swl"
refuse "convert the checkpoint again for f32" 64 quantize "$dir/lf.swl" --dtype f32 --output "$dir/x.swl"
refuse "exists; give --force" 1 quantize "$dir/lf.swl" --dtype f16 --output "$dir/lf-f16.swl"
refuse "is the input model" 1 quantize "$dir/lf.swl" --dtype f16 --output "$dir/lf.swl" --force
"$cli" convert --quiet --force --family lmuformer --config Tests/Fixtures/lmu-test/config.json \
    --checkpoint Tests/Fixtures/lmu-test/checkpoint.safetensors --output "$dir/lmu.swl" 2>/dev/null
grep -q "top-1 agreement" <<<"$("$cli" quantize "$dir/lmu.swl" --dtype f16 --output "$dir/lmu-f16.swl")" ||
    fail "lmuformer f16: no deviation report"

# From an f32 file, quantize writes byte for byte the file `convert --dtype` writes from the checkpoint:
# LMUFormer f16/bf16/q8, MemoryFormer (f16/q8: tables, embedding and head; bf16: embedding and head;
# q4: tables),
# and ViT bf16/q8, whose matrices are repacked from float32 panels into other layouts (also zstd).
same() { # same NAME CONVERTED QUANTIZED
    cmp -s "$2" "$3" || fail "$1: quantize did not write the bytes convert writes ($2 vs $3)"
}
for dtype in bf16 q8; do
    "$cli" convert --quiet --force --family lmuformer --config Tests/Fixtures/lmu-test/config.json \
        --checkpoint Tests/Fixtures/lmu-test/checkpoint.safetensors --dtype $dtype --output "$dir/lmu-c-$dtype.swl" 2>/dev/null
    "$cli" quantize "$dir/lmu.swl" --dtype $dtype --output "$dir/lmu-$dtype.swl" >/dev/null
    same "lmuformer $dtype" "$dir/lmu-c-$dtype.swl" "$dir/lmu-$dtype.swl"
done
"$cli" convert --quiet --force --family lmuformer --config Tests/Fixtures/lmu-test/config.json \
    --checkpoint Tests/Fixtures/lmu-test/checkpoint.safetensors --dtype f16 --output "$dir/lmu-c-f16.swl" 2>/dev/null
same "lmuformer f16" "$dir/lmu-c-f16.swl" "$dir/lmu-f16.swl"
mf=(--family memoryformer --config Tests/Fixtures/memoryformer-test/config.json
    --checkpoint Tests/Fixtures/memoryformer-test/checkpoint.safetensors)
"$cli" convert --quiet --force "${mf[@]}" --output "$dir/mf.swl" 2>/dev/null
for dtype in f16 bf16 q8 q4; do
    types=(--dtype $dtype --table-dtype $dtype)
    [ $dtype = bf16 ] && types=(--dtype bf16)
    [ $dtype = q4 ] && types=(--table-dtype q4) # int4 tables only: an int4 head costs more than it saves
    "$cli" convert --quiet --force "${mf[@]}" "${types[@]}" --output "$dir/mf-c-$dtype.swl" 2>/dev/null
    "$cli" quantize "$dir/mf.swl" --dtype $dtype --output "$dir/mf-$dtype.swl" >/dev/null
    same "memoryformer $dtype" "$dir/mf-c-$dtype.swl" "$dir/mf-$dtype.swl"
done
vit=(--family vit --config Tests/Fixtures/vit-tiny-test/config.json
    --checkpoint Tests/Fixtures/vit-tiny-test/checkpoint.safetensors)
"$cli" convert --quiet --force "${vit[@]}" --output "$dir/vit.swl" 2>/dev/null
"$cli" convert --quiet --force --compress "${vit[@]}" --output "$dir/vit-z.swl" 2>/dev/null
for dtype in bf16 q8; do
    "$cli" convert --quiet --force "${vit[@]}" --dtype $dtype --output "$dir/vit-c-$dtype.swl" 2>/dev/null
    out=$("$cli" quantize "$dir/vit.swl" --dtype $dtype --output "$dir/vit-$dtype.swl" 2>&1) || fail "vit $dtype: $out"
    grep -q "^wrote $dir/vit-$dtype.swl: 18 vit matrices" <<<"$out" || fail "vit $dtype: no summary line in: $out"
    same "vit $dtype" "$dir/vit-c-$dtype.swl" "$dir/vit-$dtype.swl"
    "$cli" convert --quiet --force --compress "${vit[@]}" --dtype $dtype --output "$dir/vit-cz-$dtype.swl" 2>/dev/null
    "$cli" quantize "$dir/vit-z.swl" --dtype $dtype --output "$dir/vit-z-$dtype.swl" >/dev/null
    same "vit $dtype (zstd)" "$dir/vit-cz-$dtype.swl" "$dir/vit-z-$dtype.swl"
done
refuse "a vit model cannot use f16 weights" 1 quantize "$dir/vit.swl" --dtype f16 --output "$dir/x.swl"
refuse "this file has 'panels16_bf16_pairs': quantize the f32 file" 1 quantize "$dir/vit-bf16.swl" --dtype q8 --output "$dir/x.swl"
[ ! -e "$dir/x.swl" ] || fail "a refused quantization left $dir/x.swl behind"
echo "check-quantize: loopformer f16/bf16/q8 within tolerance of the official logits, --input, tokenizer kept, profile left out, lmuformer f16/bf16/q8, memoryformer f16/bf16/q8/q4 and vit bf16/q8 (raw and zstd) byte-identical to convert, 10 refusals ok"
