#!/usr/bin/env python3
"""Trains the shipped image model: a timm VisionTransformer (the architecture and state-dict names ToMe
patches; 32 x 32 pixels in patches of 4, so 64 tokens and a class token) on the letters of
make_data.py.

    /opt/bench-venv/bin/python Models/image/train.py --data /tmp/imgdata --out /tmp/letters-1
    /opt/bench-venv/bin/python Models/image/train.py --data /tmp/imgdata --out Models/image/letters \
        --init /tmp/letters-1/checkpoint.safetensors --epochs 3 --lr 5e-4 --warmup 100 --seed 1

(the defaults are the first of the two cycles that made the shipped model; Models/image/README.md)

Needs: torch, timm, numpy, safetensors. Training runs without token merging, as the pretrained models
ToMe is applied to off the shelf; measure.py then measures accuracy at every merge rate with the
official ToMe code.

Writes, into --out: checkpoint.safetensors (the timm state dict), config.json (the constructor's
arguments, read by `swiftlet convert --config`), pretrained_cfg.json (timm's data config, read by
`--preprocess`), labels.txt and train-log.txt.
"""
import argparse
import json
import math
import os
import string
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

MEAN = STD = (0.5, 0.5, 0.5)


def model_kwargs(args):
    return dict(img_size=32, patch_size=4, embed_dim=args.embed, depth=args.depth, num_heads=args.heads,
                mlp_ratio=4.0, num_classes=26)


def to_input(images):
    """uint8 [N, H, W, 3] -> normalised float [N, 3, H, W]."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - 0.5) / 0.5


def shift(x, pad=3):
    """Random translation by up to `pad` pixels, edges replicated (the background)."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dx, dy = np.random.randint(0, 2 * pad + 1, size=2)
    return xp[:, :, dy:dy + h, dx:dx + w]


@torch.no_grad()
def accuracy(model, images, labels, batch=512):
    model.eval()
    right = 0
    for i in range(0, len(images), batch):
        right += (model(to_input(images[i:i + batch])).argmax(1) == torch.from_numpy(labels[i:i + batch])).sum().item()
    model.train()
    return right / len(images)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--embed", type=int, default=96)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--epochs", type=float, default=3.5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=8e-4)
    p.add_argument("--warmup", type=int, default=400)
    p.add_argument("--wd", type=float, default=0.05)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", help="a checkpoint.safetensors to continue from (a second learning-rate cycle)")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    train, test = np.load(os.path.join(args.data, "train.npz")), np.load(os.path.join(args.data, "test.npz"))
    xtr, ytr = train["images"], train["labels"]
    xte, yte = test["images"], test["labels"]
    # Monitoring only: a fixed slice of the held-out fonts (the full test is measure.py's).
    mon = np.random.default_rng(1).choice(len(xte), size=min(1024, len(xte)), replace=False)

    model = VisionTransformer(**model_kwargs(args))
    if args.init:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(args.init))
    params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "pos_embed" not in n and "cls_token" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "pos_embed" not in n and "cls_token" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": rest, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999))
    steps = int(args.epochs * len(xtr) / args.batch)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - args.warmup) / max(1, steps - args.warmup)))

    log = open(os.path.join(args.out, "train-log.txt"), "w")

    def say(line):
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    say(f"{params} parameters, {len(xtr)} training images, {steps} steps of {args.batch}; {vars(args)}")
    start = time.time()
    step, loss_sum, right, seen = 0, 0.0, 0, 0
    while step < steps:
        order = np.random.permutation(len(xtr))
        for i in range(0, len(order) - args.batch + 1, args.batch):
            if step >= steps:
                break
            idx = np.sort(order[i:i + args.batch])
            x, y = shift(to_input(xtr[idx])), torch.from_numpy(ytr[idx])
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            loss_sum += loss.item()
            right += (out.argmax(1) == y).sum().item()
            seen += len(y)
            if step % 200 == 0 or step == steps:
                say(f"step {step}/{steps} lr {lr_at(step):.2e} loss {loss_sum / 200:.3f} train-acc {right / seen:.3f} "
                    f"heldout-acc {accuracy(model, xte[mon], yte[mon]):.3f} {time.time() - start:.0f}s")
                loss_sum, right, seen = 0.0, 0, 0

    model.eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(args.out, "checkpoint.safetensors"))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump({"family": "tome-vit", "timm_kwargs": model_kwargs(args), "qkv_bias": True, "class_token": True,
                   "global_pool": "token", "layer_norm_eps": 1e-6, "prop_attn": True}, f, indent=1)
    with open(os.path.join(args.out, "pretrained_cfg.json"), "w") as f:
        json.dump({"input_size": [3, 32, 32], "interpolation": "bicubic", "crop_pct": 1.0, "crop_mode": "center",
                   "mean": list(MEAN), "std": list(STD), "num_classes": 26}, f, indent=1)
    with open(os.path.join(args.out, "labels.txt"), "w") as f:
        f.write("\n".join(string.ascii_uppercase) + "\n")
    say(f"done in {time.time() - start:.0f}s; held-out accuracy {accuracy(model, xte, yte):.4f} on {len(xte)} images")


if __name__ == "__main__":
    main()
