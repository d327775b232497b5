#!/usr/bin/env python3
"""The PyTorch reference figures of the image model: top-1 accuracy on the held-out fonts at every merge
setting, with the official ToMe code applied to the timm model. Also writes the evaluation subset that
`make image-models` profiles in Swiftlet, and a few sample PNGs.

    /opt/bench-venv/bin/python Models/image/measure.py --tome /path/to/ToMe --data /tmp/imgdata \\
        [--model Models/image/letters] [--write-eval Models/image/eval] [--samples Models/image/samples]

`--tome` is a checkout of https://github.com/facebookresearch/ToMe (nothing from it is copied here).
Settings are those `swiftlet profile` measures by default: constant r = 0 ... 16 and the decreasing
schedules (r, -1) for r = 2, 4, ..., 16. Prints a table and writes measure-pytorch.json into --model.
With --swiftlet and --swl, also runs the converted model on the same float inputs at each setting and
reports its accuracy, how many images get the same class as PyTorch, and the largest logit difference.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from safetensors.torch import load_file
from timm.models.vision_transformer import VisionTransformer

SETTINGS = [("r=%d" % r, r) for r in range(17)] + [("r=%d,-1" % r, (r, -1)) for r in range(2, 17, 2)]


def to_input(images):
    """uint8 [N, H, W, 3] -> the model's input, as train.py makes it."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)
    return (x - 0.5) / 0.5


def logits_of(model, x, batch=256):
    with torch.no_grad():
        return np.concatenate([model(x[i:i + batch]).numpy() for i in range(0, len(x), batch)])


def swiftlet_logits(binary, swl, x_path, setting, out_path):
    """`swiftlet run` on the same float input at one merge setting."""
    subprocess.run([binary, "run", swl, "--input", x_path, "--output", out_path, "--threads", "1",
                    "--merge-r", setting.split("=", 1)[1]], check=True, capture_output=True)
    return np.load(out_path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tome", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--model", default="Models/image/letters")
    p.add_argument("--write-eval", help="folder for the committed evaluation subset (images.npy, labels.npy)")
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--samples", help="folder for sample PNGs")
    p.add_argument("--swiftlet", help="a swiftlet binary: also run --swl on the same inputs and compare")
    p.add_argument("--swl", help="the converted model, for --swiftlet")
    args = p.parse_args()
    sys.path.insert(0, args.tome)
    import tome  # the official code

    torch.set_num_threads(2)
    config = json.load(open(os.path.join(args.model, "config.json")))
    model = VisionTransformer(**config["timm_kwargs"])
    model.load_state_dict(load_file(os.path.join(args.model, "checkpoint.safetensors")))
    model.eval()
    tome.patch.timm(model, trace_source=False, prop_attn=config.get("prop_attn", True))

    test = np.load(os.path.join(args.data, "test.npz"))
    images, labels = test["images"], test["labels"]
    # The evaluation subset: the first --per-class images of each letter in a fixed shuffle.
    order = np.random.default_rng(0).permutation(len(labels))
    pick = np.sort(np.concatenate([order[labels[order] == k][:args.per_class] for k in range(26)]))
    if args.write_eval:
        os.makedirs(args.write_eval, exist_ok=True)
        np.save(os.path.join(args.write_eval, "images.npy"), images[pick])
        np.save(os.path.join(args.write_eval, "labels.npy"), labels[pick].astype(np.int32))

    x = to_input(images)
    tmp = tempfile.mkdtemp(prefix="image-measure-")
    if args.swiftlet:
        np.save(os.path.join(tmp, "x.npy"), x.numpy())
    results = {}
    head = f"{'setting':<10} {'held-out fonts (%d)' % len(labels):>20} {'eval subset (%d)' % len(pick):>17}"
    # ToMe's matching is a discrete choice: where two pairs of tokens are nearly equally similar (letters
    # on a flat background have many), a rounding-level change of the input can change which pair merges.
    # The jitter column measures that in PyTorch alone: the same model on the input plus noise of 1e-6.
    jittered = x + 1e-6 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    head += "   PyTorch itself, input ±1e-6: max |logit diff|"
    print(head + ("   Swiftlet top-1  same class  max |logit diff|" if args.swiftlet else ""))
    for name, r in SETTINGS:
        model.r = r
        logits = logits_of(model, x)
        pred = logits.argmax(1)
        full, sub = float((pred == labels).mean()), float((pred[pick] == labels[pick]).mean())
        results[name] = {"test_top1": full, "eval_top1": sub}
        jitter = float(np.abs(logits_of(model, jittered) - logits).max())
        results[name]["pytorch_jitter_max_abs_logit_diff"] = jitter
        line = f"{name:<10} {full:>20.4f} {sub:>17.4f}   {jitter:>44.2e}"
        if args.swiftlet:
            theirs = swiftlet_logits(args.swiftlet, args.swl, os.path.join(tmp, "x.npy"), name,
                                     os.path.join(tmp, "y.npy"))
            same = int((theirs.argmax(1) == pred).sum())
            diff = float(np.abs(theirs - logits).max())
            results[name].update(swiftlet_test_top1=float((theirs.argmax(1) == labels).mean()), same_class=same,
                                 max_abs_logit_diff=diff)
            line += f"   {results[name]['swiftlet_test_top1']:>14.4f}  {same:>5}/{len(labels)}  {diff:>16.2e}"
        print(line, flush=True)
    json.dump({"test_images": int(len(labels)), "eval_images": int(len(pick)), "top1": results},
              open(os.path.join(args.model, "measure-pytorch.json"), "w"), indent=1)

    if args.samples:
        # Letters from held-out fonts, drawn larger than the model's 32 x 32 so that `--image` resizes.
        os.makedirs(args.samples, exist_ok=True)
        fonts = json.load(open(os.path.join(args.data, "fonts.json")))["test"]
        rng = np.random.default_rng(7)
        for letter in "SWIFT":
            path = fonts[rng.integers(len(fonts))]["path"]
            font = ImageFont.truetype(path, 72)
            img = Image.new("RGB", (96, 96), tuple(int(v) for v in rng.integers(150, 256, size=3)))
            d = ImageDraw.Draw(img)
            box = d.textbbox((0, 0), letter, font=font)
            d.text(((96 - box[2] - box[0]) / 2, (96 - box[3] - box[1]) / 2), letter, font=font,
                   fill=tuple(int(v) for v in rng.integers(0, 100, size=3)))
            img.save(os.path.join(args.samples, f"{letter}.png"))
            print(f"sample {letter}.png from {os.path.basename(path)}")


if __name__ == "__main__":
    main()
