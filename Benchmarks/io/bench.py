#!/usr/bin/env python3
"""Text and image input: Swiftlet's tokenizer and image preprocessing beside the references they match.

  Tokenizer   `model.tokenize` / `model.detokenize` (Python bindings over swl_tokenize /
              swl_detokenize) against the Hugging Face `tokenizers` package's `encode(text,
              add_special_tokens=False)` / `decode` with the same tokenizer.json, on the held-out
              Python standard library files (one string per file, ~1 MB in all); ids compared too.
  Image       `model.preprocess(rgb)` (swl_model_preprocess_image: Pillow-exact bicubic resize, centre
              crop, mean/std) against timm's evaluation transform on a PIL image (what a PyTorch user
              runs), DeiT's pretrained_cfg at 224x224, on a 640x480 and a 1920x1080 photo-like image.

Each figure is the median of --runs timed calls after one warm-up, on one thread (neither side uses
more for one call). Needs the Python bindings importable (make && pip install ./Bindings/python, or
PYTHONPATH and SWIFTLET_LIBRARY) and, for the reference columns, tokenizers / torch+timm+Pillow.

  python3 Benchmarks/io/bench.py --lm build/models/text-loopformer.swl --tokenizer Models/text/tokenizer.json
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

import swiftlet

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "Benchmarks" / "vit"))


def timed(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def held_out_text():
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    return [f.read_text(encoding="utf-8", errors="replace") for i, f in enumerate(files) if i % 4 == 0]


def bench_tokenizer(lm_path, tokenizer_json, runs):
    texts = held_out_text()
    size = sum(len(t.encode()) for t in texts)
    with swiftlet.Model(lm_path) as lm:
        ids = [lm.tokenize(t) for t in texts]
        n_ids = sum(len(i) for i in ids)
        enc = timed(lambda: [lm.tokenize(t) for t in texts], runs)
        dec = timed(lambda: [lm.detokenize(i) for i in ids], runs)
    row = {"bytes": size, "tokens": n_ids, "swiftlet_encode_s": enc, "swiftlet_decode_s": dec}
    try:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(str(tokenizer_json))
        ref = [tok.encode(t, add_special_tokens=False).ids for t in texts]
        row["identical_ids"] = ref == ids
        row["hf_encode_s"] = timed(lambda: [tok.encode(t, add_special_tokens=False) for t in texts], runs)
        row["hf_decode_s"] = timed(lambda: [tok.decode(i, skip_special_tokens=False) for i in ids], runs)
    except ImportError:
        pass
    return row


def deit_tiny(workdir, swiftlet_cli):
    """A random-weight DeiT-Tiny converted with DeiT's preprocessing (bicubic, crop_pct 0.875)."""
    import bench as vit_bench  # Benchmarks/vit/bench.py: random timm weights written with numpy
    kw = vit_bench.timm_kwargs({"embed_dim": 192, "num_heads": 3})
    weights, config, cfg, out = (workdir / n for n in ("deit.safetensors", "kwargs.json", "cfg.json", "deit.swl"))
    vit_bench.write_safetensors(str(weights), vit_bench.random_state_dict(kw, 0))
    config.write_text(json.dumps(kw))
    cfg.write_text(json.dumps({"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.875,
                               "crop_mode": "center", "mean": [0.485, 0.456, 0.406],
                               "std": [0.229, 0.224, 0.225]}))
    subprocess.run([swiftlet_cli, "convert", "--quiet", "--force", "--family", "vit", "--config", str(config),
                    "--checkpoint", str(weights), "--preprocess", str(cfg), "--output", str(out)], check=True)
    return out, json.loads(cfg.read_text())


def photo(width, height):
    """Smooth gradients with some texture: what a resampling filter sees in a photo."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([127 + 100 * np.sin(x / 37.0), 127 + 100 * np.cos(y / 23.0),
                    127 + 60 * np.sin((x + y) / 11.0)], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def bench_image(swiftlet_cli, runs):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_path, cfg = deit_tiny(Path(tmp), swiftlet_cli)
        with swiftlet.Model(model_path) as model:
            for w, h in ((640, 480), (1920, 1080)):
                rgb = photo(w, h)
                row = {"image": f"{w}x{h}", "swiftlet_s": timed(lambda: model.preprocess(rgb), runs)}
                try:
                    import timm.data
                    import torch
                    from PIL import Image
                    torch.set_num_threads(1)
                    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, pretrained_cfg=cfg))
                    pil = Image.fromarray(rgb)
                    row["timm_s"] = timed(lambda: transform(pil), runs)
                    ours = model.preprocess(rgb)
                    row["max_abs_diff"] = float(np.abs(ours - transform(pil).numpy()[None]).max())
                except ImportError:
                    pass
                rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", help="a language model converted with --tokenizer")
    ap.add_argument("--tokenizer", help="its tokenizer.json (for the tokenizers column)")
    ap.add_argument("--swiftlet", default=str(ROOT / "build" / "bin" / "swiftlet"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}")
    if args.lm:
        r = bench_tokenizer(args.lm, args.tokenizer, args.runs)
        mb = r["bytes"] / 1e6
        print(f"\ntokenizer: {r['bytes']} bytes of held-out source, {r['tokens']} tokens"
              + (f", ids identical to tokenizers: {r['identical_ids']}" if "identical_ids" in r else ""))
        print("| | Swiftlet | tokenizers | ratio |\n|---|---:|---:|---:|")
        for what in ("encode", "decode"):
            s = r[f"swiftlet_{what}_s"]
            h = r.get(f"hf_{what}_s")
            print(f"| {what} | {mb / s:.2f} MB/s | " + (f"{mb / h:.2f} MB/s | {h / s:.2f}x |" if h else "– | – |"))
    rows = bench_image(args.swiftlet, args.runs)
    print("\nimage preprocessing to DeiT's 224x224 input (bicubic, crop_pct 0.875):")
    print("| image | Swiftlet | timm | ratio | max abs diff |\n|---|---:|---:|---:|---:|")
    for r in rows:
        t = r.get("timm_s")
        print(f"| {r['image']} | {r['swiftlet_s'] * 1e3:.2f} ms | " +
              (f"{t * 1e3:.2f} ms | {t / r['swiftlet_s']:.2f}x | {r['max_abs_diff']:.1e} |" if t else "– | – | – |"))


if __name__ == "__main__":
    main()
