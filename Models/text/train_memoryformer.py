"""Trains the shipped MemoryFormer on the standard-library corpus (model: memoryformer_model.py).

    nice -n 19 /opt/bench-venv/bin/python Models/text/train_memoryformer.py \
        --official /tmp/memoryformer-official --data /tmp/text-data --out /tmp/text-memoryformer

`--official` is a checkout of C0-Design/MemoryFormer (not part of this repository). The recipe follows
`configs/memoryformer_tiny.yml` scaled down: Adam with decoupled weight decay 0.1, betas (0.9, 0.95),
eps 1e-8, peak learning rate 3e-3 with linear warm-up over the first 1 % (here at least 30 steps) and
cosine decay to min_lr, gradient clipping 1.0, no dropout; float32 on CPU instead of fp16 on GPUs.
Batches are random windows of seq_length + 1 tokens from train.bin (a seeded generator). Writes
`ckpt.pt` (`{"model": state_dict, "config": ..., "iter_num": ..., "val_loss": ...}`) and
`config.json` (the converter's keyword arguments). Not run by CI.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memoryformer_model import MemoryFormerLM, converter_config  # noqa: E402
from train_common import add_schedule_args, cosine_lr, open_log  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="checkout of C0-Design/MemoryFormer")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden-size", type=int, default=128)
    ap.add_argument("--num-layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--code-length", type=int, default=4)
    ap.add_argument("--seq-length", type=int, default=256)
    add_schedule_args(ap, batch_size=16, max_iters=1000, warmup_iters=30, learning_rate=3e-3, min_lr=3e-4,
                      eval_interval=100, eval_iters=4, seed=1234)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    val_rng = np.random.default_rng(42)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.data, "meta.json")) as f:
        vocab = json.load(f)["vocab_size"]
    train = np.memmap(os.path.join(args.data, "train.bin"), dtype=np.uint16, mode="r")
    val = np.memmap(os.path.join(args.data, "val.bin"), dtype=np.uint16, mode="r")
    S = args.seq_length

    def batch(data, r):
        starts = r.integers(0, len(data) - S - 1, args.batch_size)
        w = torch.from_numpy(np.stack([data[s:s + S + 1].astype(np.int64) for s in starts]))
        return w[:, :-1], w[:, 1:]

    cfg = dict(hidden_size=args.hidden_size, num_attention_heads=args.heads, num_layers=args.num_layers,
               code_length=args.code_length, vocab_size=vocab, rotary_pct=0.25, rotary_emb_base=10000,
               rms_norm_epsilon=1e-8, mlp_layernorm_epsilon=1e-5, seq_length=S)
    model = MemoryFormerLM(args.official, cfg)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.learning_rate, betas=(0.9, 0.95), eps=1e-8)

    val_batches = [batch(val, val_rng) for _ in range(args.eval_iters)]

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = float(np.mean([model(X, Y)[1].item() for X, Y in val_batches]))
        model.train()
        return out

    say = open_log(args.out)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(converter_config(cfg), f, indent=1)
    say(f"args {json.dumps(vars(args))}")
    say(f"parameters {n_params}")
    t_start = t0 = time.time()
    for it in range(args.max_iters + 1):
        lr = cosine_lr(it, args)
        for g in optimizer.param_groups:
            g["lr"] = lr
        if it % args.eval_interval == 0 or it == args.max_iters:
            v = estimate_loss()
            say(f"step {it}: val loss {v:.4f} ({(time.time() - t_start) / 60:.1f} min)")
            if it > 0:
                torch.save({"model": model.state_dict(), "config": cfg, "iter_num": it, "val_loss": v},
                           os.path.join(args.out, "ckpt.pt"))
        if it == args.max_iters:
            break
        X, Y = batch(train, rng)
        _, loss = model(X, Y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t1 = time.time()
        if it % 10 == 0:
            say(f"iter {it}: loss {loss.item():.4f}, lr {lr:.2e}, {(t1 - t0) * 1000:.0f} ms")
        t0 = t1
    say(f"done in {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
