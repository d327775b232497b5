"""Copies the trained checkpoints into Models/text in the shipped form.

    /opt/bench-venv/bin/python Models/text/export.py --loopformer /tmp/text-loopformer --memoryformer /tmp/text-memoryformer

- `loopformer-ckpt.pt`: the training script's `ckpt.pt` as it is (the dict the official train.py saves,
  less the optimizer state): `model` (state dict with the official `GPT` names), `model_args`,
  `iter_num`, `best_val_loss`, `config` (the pickled `GPTConfig`).
- `memoryformer.safetensors`: the state dict (fixture names, float32), with the model's settings in
  the safetensors metadata; `memoryformer-config.json`: the converter's keyword arguments.
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loopformer", required=True, help="output folder of train_loopformer.py")
    ap.add_argument("--memoryformer", required=True, help="output folder of train_memoryformer.py")
    args = ap.parse_args()

    shutil.copyfile(os.path.join(args.loopformer, "ckpt.pt"), os.path.join(HERE, "loopformer-ckpt.pt"))

    ckpt = torch.load(os.path.join(args.memoryformer, "ckpt.pt"), map_location="cpu", weights_only=True)
    state = {k: v.contiguous() for k, v in ckpt["model"].items()}
    meta = {k: str(v) for k, v in ckpt["config"].items()}
    meta["iter_num"] = str(ckpt["iter_num"])
    save_file(state, os.path.join(HERE, "memoryformer.safetensors"), metadata=meta)
    shutil.copyfile(os.path.join(args.memoryformer, "config.json"), os.path.join(HERE, "memoryformer-config.json"))
    for name in ("loopformer-ckpt.pt", "memoryformer.safetensors"):
        print(name, os.path.getsize(os.path.join(HERE, name)), "bytes")


if __name__ == "__main__":
    main()
