#!/usr/bin/env python3
"""Makes the image set of the shipped image model: the 26 capital letters rendered from the fonts that
Debian packages, augmented, as 32 x 32 RGB. Training and test fonts are different font families.

    /opt/bench-venv/bin/python Models/image/make_data.py --out /tmp/imgdata [--seed 0]

Needs: numpy, Pillow, fontTools, and fonts. The fonts on the machine that trained the shipped model
came from these Debian packages (install them for the same split):
    fonts-cantarell fonts-comic-neue fonts-crosextra-caladea fonts-crosextra-carlito fonts-dejavu-core
    fonts-dejavu-extra fonts-ebgaramond fonts-firacode fonts-freefont-ttf fonts-go fonts-hack
    fonts-inconsolata fonts-lato fonts-liberation fonts-linuxlibertine fonts-noto-core fonts-open-sans
    fonts-roboto-unhinted fonts-texgyre fonts-urw-base35

What it does:
 1. Every .ttf/.otf under /usr/share/fonts whose character map holds A-Z, minus symbol fonts (their
    letters are pictures). Fonts whose letters render identically (one design in several files) are
    kept once.
 2. Fonts are grouped by family; a stable hash of the family name puts ~20 % of families in the test
    split, so no test letter comes from a family seen in training.
 3. Each letter of each font is drawn large, then moved, scaled, rotated and sheared at random, in a
    random foreground and background colour with enough contrast, blurred or noised at random, and
    reduced to 32 x 32.
Writes train.npz / test.npz (images uint8 [N, 32, 32, 3], labels int64 [N], font index) and fonts.json.
"""
import argparse
import hashlib
import json
import os
import string
import sys

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFilter, ImageFont

LETTERS = string.ascii_uppercase
SIZE = 32
CANVAS = 96
SKIP = ("dingbat", "d050000l", "symbol", "keyboard", "math", "emoji", "music", "ornament", "standard symbols")


def family_of(tt):
    names = {r.nameID: r.toUnicode() for r in tt["name"].names if r.nameID in (1, 16)}
    return names.get(16) or names.get(1) or "?"


def fonts():
    found = []
    for root, _, files in os.walk("/usr/share/fonts"):
        for f in sorted(files):
            if not f.lower().endswith((".ttf", ".otf")):
                continue
            path = os.path.join(root, f)
            try:
                tt = TTFont(path, lazy=True)
                cmap = tt.getBestCmap() or {}
                family = family_of(tt)
            except Exception:
                continue
            if not all(ord(c) in cmap for c in LETTERS):
                continue
            if any(s in (family + " " + f).lower() for s in SKIP):
                continue
            found.append((path, family))
    found.sort()
    return found


def render_letter(font, letter):
    img = Image.new("L", (CANVAS, CANVAS), 0)
    d = ImageDraw.Draw(img)
    box = d.textbbox((0, 0), letter, font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    d.text(((CANVAS - w) / 2 - box[0], (CANVAS - h) / 2 - box[1]), letter, font=font, fill=255)
    return img


def signature(path):
    font = ImageFont.truetype(path, 40)
    return hashlib.sha1(b"".join(render_letter(font, c).tobytes() for c in "AGQRSW")).hexdigest()


def augment(mask, rng):
    """mask: L image CANVAS x CANVAS with the letter centred. Returns uint8 [SIZE, SIZE, 3]."""
    a = rng.uniform(-12, 12) * np.pi / 180
    shear = rng.uniform(-0.2, 0.2)
    scale = rng.uniform(0.75, 1.15)
    tx, ty = rng.uniform(-0.12, 0.12, size=2) * CANVAS
    # Inverse affine: output pixel -> input pixel, about the centre.
    c, s = np.cos(a), np.sin(a)
    m = np.array([[c, -s + shear], [s, c]]) / scale
    cx = cy = CANVAS / 2
    off = np.array([cx, cy]) - m @ np.array([cx + tx, cy + ty])
    img = mask.transform((CANVAS, CANVAS), Image.AFFINE, (m[0, 0], m[0, 1], off[0], m[1, 0], m[1, 1], off[1]),
                         resample=Image.BILINEAR)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    if rng.random() < 0.2:  # thicker or thinner strokes
        img = img.filter(ImageFilter.MaxFilter(3) if rng.random() < 0.5 else ImageFilter.MinFilter(3))
    small = np.asarray(img.resize((SIZE, SIZE), Image.BOX), dtype=np.float32) / 255.0
    while True:
        fg, bg = rng.uniform(0, 1, size=3), rng.uniform(0, 1, size=3)
        lum = np.array([0.299, 0.587, 0.114])
        if abs(fg @ lum - bg @ lum) > 0.3:
            break
    rgb = bg + (fg - bg) * small[..., None]
    if rng.random() < 0.5:
        rgb = rgb + rng.normal(0, rng.uniform(0.01, 0.06), size=rgb.shape)
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-per-letter", type=int, default=24, help="augmented images per letter per training font")
    p.add_argument("--test-per-letter", type=int, default=4)
    p.add_argument("--test-share", type=float, default=0.2)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    seen, kept = set(), []
    for path, family in fonts():
        sig = signature(path)
        if sig in seen:
            continue
        seen.add(sig)
        kept.append((path, family))
    def is_test(family):
        return int(hashlib.md5(family.encode()).hexdigest()[:8], 16) / 2**32 < args.test_share
    split = {"train": [f for f in kept if not is_test(f[1])], "test": [f for f in kept if is_test(f[1])]}
    print(f"{len(kept)} fonts: {len(split['train'])} train, {len(split['test'])} test "
          f"({len({f[1] for f in split['test']})} held-out families)", flush=True)
    with open(os.path.join(args.out, "fonts.json"), "w") as f:
        json.dump({k: [{"path": p, "family": fam} for p, fam in v] for k, v in split.items()}, f, indent=1)

    for name, per in (("test", args.test_per_letter), ("train", args.train_per_letter)):
        rng = np.random.default_rng(args.seed + (0 if name == "train" else 1000))
        images, labels, font_ids = [], [], []
        for i, (path, _) in enumerate(split[name]):
            font = ImageFont.truetype(path, 80)
            for k, letter in enumerate(LETTERS):
                mask = render_letter(font, letter)
                for _ in range(per):
                    images.append(augment(mask, rng))
                    labels.append(k)
                    font_ids.append(i)
            if i % 50 == 0:
                print(f"  {name}: font {i + 1}/{len(split[name])}", flush=True)
        np.savez(os.path.join(args.out, f"{name}.npz"), images=np.stack(images), labels=np.array(labels),
                 fonts=np.array(font_ids))
        print(f"{name}: {len(images)} images", flush=True)


if __name__ == "__main__":
    sys.exit(main())
