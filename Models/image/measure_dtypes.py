#!/usr/bin/env python3
"""Accuracy of the image model's compact conversions (issue 14): the letters checkpoint converted with
`swiftlet convert --dtype f32|bf16|q8`, run by Swiftlet on the committed evaluation subset
(Models/image/eval: 780 letters in 26 held-out fonts) at each merge setting. Prints top-1 accuracy
and the top-1 agreement with the f32 conversion at the same setting, and the largest logit difference.

    /opt/bench-venv/bin/python Models/image/measure_dtypes.py [--swiftlet build/bin/swiftlet]
        [--settings 0,8] [--work /tmp/swiftlet-image-dtypes]

Needs numpy only (the input is made as train.py makes it: uint8 → [0, 1] → (x − 0.5) / 0.5, NCHW).
"""
import argparse
import os
import subprocess

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--swiftlet", default=os.path.join(ROOT, "build", "bin", "swiftlet"))
    p.add_argument("--settings", default="0,8", help="comma-separated merge r values")
    p.add_argument("--dtypes", default="f32,bf16,q8")
    p.add_argument("--work", default="/tmp/swiftlet-image-dtypes")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)

    images = np.load(os.path.join(HERE, "eval", "images.npy"))
    labels = np.load(os.path.join(HERE, "eval", "labels.npy"))
    x = ((images.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2).copy()
    x_path = os.path.join(args.work, "eval.npy")
    np.save(x_path, x)

    letters = os.path.join(HERE, "letters")
    logits = {}
    for dtype in args.dtypes.split(","):
        swl = os.path.join(args.work, f"image-{dtype}.swl")
        subprocess.run([args.swiftlet, "convert", "--quiet", "--force", "--family", "vit", "--config",
                        os.path.join(letters, "config.json"), "--checkpoint",
                        os.path.join(letters, "checkpoint.safetensors"), "--dtype", dtype, "--output", swl],
                       check=True)
        for r in args.settings.split(","):
            out = os.path.join(args.work, f"logits-{dtype}-r{r}.npy")
            subprocess.run([args.swiftlet, "run", swl, "--input", x_path, "--output", out, "--threads", "1",
                            "--merge-r", r], check=True, capture_output=True)
            logits[dtype, r] = np.load(out)

    print(f"{len(labels)} images (Models/image/eval), swiftlet {args.swiftlet}")
    print(f"{'dtype':6} {'r':>3} {'top-1':>7} {'agree f32':>10} {'max |dlogit|':>13}")
    for (dtype, r), lg in logits.items():
        top1 = float((lg.argmax(1) == labels).mean())
        ref = logits.get(("f32", r))
        agree = float((lg.argmax(1) == ref.argmax(1)).mean()) if ref is not None else float("nan")
        diff = float(np.abs(lg - ref).max()) if ref is not None else float("nan")
        print(f"{dtype:6} {r:>3} {100 * top1:6.2f}% {100 * agree:9.2f}% {diff:13.4f}")


if __name__ == "__main__":
    main()
