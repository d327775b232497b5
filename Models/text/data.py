"""Text corpus and tokenizer for the shipped language models: the Python standard library's source.

    /opt/bench-venv/bin/python Models/text/data.py --out /tmp/text-data [--tokenizer Models/text/tokenizer.json]

Reads every `.py` file under the running interpreter's standard library (`sysconfig`'s `stdlib`),
leaving out `site-packages` and the test folders (`test`, `tests`, `idle_test`: half the bytes, and
mostly data and fixtures rather than code) and files that are not UTF-8. Whole files are held out for
validation: those whose SHA-256 of the relative path, read as a number, is 0 mod 20 (about 5 %; the
choice depends on the path only). Each file is followed by `<|endoftext|>`.

With `--train-tokenizer` it trains a byte-level BPE exactly as GPT-2's pipeline does with the
`tokenizers` package (ByteLevel pre-tokenizer without prefix space, ByteLevel decoder, the full byte
alphabet, `<|endoftext|>` as the one special token, id 0) on the training files and writes it to
`--tokenizer`; otherwise it reads that file. Then it writes, into `--out`:
  train.bin, val.bin   uint16 token ids (nanoGPT's format: the official LoopFormer loader reads them)
  meta.json            the file lists, their hashes, token counts, interpreter version
  eval.npy             the held-out evaluation windows [N, 256] int32 (see `eval_windows`)
Not run by CI.
"""
import argparse
import hashlib
import json
import os
import sys
import sysconfig
from pathlib import Path

import numpy as np

EOT = "<|endoftext|>"
SKIP_DIRS = {"site-packages", "test", "tests", "idle_test", "__pycache__"}


def corpus_files(root: Path):
    """(relative path, text) of every usable source file, sorted by path."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS for part in rel.parts[:-1]):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip():
            out.append((str(rel), text))
    return out


def is_held_out(rel: str) -> bool:
    return int(hashlib.sha256(rel.encode()).hexdigest(), 16) % 20 == 0


def train_tokenizer(texts, vocab_size):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer, length=len(texts))
    return tok


def encode(tok, texts):
    eot = tok.token_to_id(EOT)
    ids = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        ids.extend(enc.ids)
        ids.append(eot)
    return np.array(ids, dtype=np.uint16)


def eval_windows(val: np.ndarray, count: int, length: int) -> np.ndarray:
    """`count` windows of `length` tokens, evenly spaced over the held-out stream, not overlapping."""
    starts = np.linspace(0, len(val) - length, count).astype(np.int64)
    assert np.all(np.diff(starts) >= length), "held-out stream too short for that many windows"
    return np.stack([val[s:s + length] for s in starts]).astype(np.int32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", default=str(Path(__file__).with_name("tokenizer.json")))
    ap.add_argument("--train-tokenizer", action="store_true")
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--eval-windows", type=int, default=64)
    ap.add_argument("--eval-length", type=int, default=256)
    args = ap.parse_args()

    root = Path(sysconfig.get_paths()["stdlib"])
    files = corpus_files(root)
    train = [(r, t) for r, t in files if not is_held_out(r)]
    val = [(r, t) for r, t in files if is_held_out(r)]
    print(f"{root}: {len(files)} files, {len(train)} train ({sum(len(t) for _, t in train) / 1e6:.1f} MB), "
          f"{len(val)} held out ({sum(len(t) for _, t in val) / 1e6:.2f} MB)", file=sys.stderr)

    from tokenizers import Tokenizer
    if args.train_tokenizer:
        tok = train_tokenizer([t for _, t in train], args.vocab_size)
        tok.save(args.tokenizer)
        print(f"wrote {args.tokenizer} ({tok.get_vocab_size()} tokens)", file=sys.stderr)
    tok = Tokenizer.from_file(args.tokenizer)
    assert tok.token_to_id(EOT) == 0

    os.makedirs(args.out, exist_ok=True)
    train_ids = encode(tok, [t for _, t in train])
    val_ids = encode(tok, [t for _, t in val])
    train_ids.tofile(os.path.join(args.out, "train.bin"))
    val_ids.tofile(os.path.join(args.out, "val.bin"))
    windows = eval_windows(val_ids, args.eval_windows, args.eval_length)
    np.save(os.path.join(args.out, "eval.npy"), windows)

    def digest(items):
        h = hashlib.sha256()
        for r, t in items:
            h.update(r.encode() + b"\0" + t.encode() + b"\0")
        return h.hexdigest()[:16]

    meta = dict(stdlib=str(root), python=sys.version.split()[0], vocab_size=tok.get_vocab_size(),
                tokenizer_sha256=hashlib.sha256(Path(args.tokenizer).read_bytes()).hexdigest()[:16],
                train_files=len(train), val_files=len(val), train_tokens=int(len(train_ids)),
                val_tokens=int(len(val_ids)), train_sha256=digest(train), val_sha256=digest(val),
                eval_windows=list(windows.shape), val_file_list=[r for r, _ in val])
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: v for k, v in meta.items() if k != "val_file_list"}), file=sys.stderr)


if __name__ == "__main__":
    main()
