"""Trains the shipped LoopFormer on the standard-library corpus with the official code and recipe.

    nice -n 19 /opt/bench-venv/bin/python Models/text/train_loopformer.py \
        --official /tmp/loopformer-official --data /tmp/text-data --out /tmp/text-loopformer

`--official` is a checkout of armenjeddi/loopformer (not part of this repository); the model is its
`models/loopformer.py` `GPT`, the data loader and trajectory sampler its `utils.py`. The step is the
official `train.py`'s for `model_type == 'loopformer'`: every batch runs the full trajectory
(max_model_loops steps of 1/max_model_loops) and one random shorter trajectory
(`sample_short_trajectory`), loss = loss_full + 0.1·loss_short + 0.1·MSE(x_full.detach(), x_short)
(shortcut consistency); AdamW from `GPT.configure_optimizers`, cosine learning rate with linear
warm-up, gradient clipping 1.0, windows of block_size tokens in the loader's permuted order.
Differences from `train.py`, all outside the model: CPU float32, no DDP/wandb, a fixed seed for the
trajectory sampler, fewer iterations, and the checkpoint leaves out the optimizer state (it would
triple the file); it is otherwise the dict `train.py` saves (`model`, `model_args`, `iter_num`,
`best_val_loss`, `config`). Not run by CI.
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from train_common import add_schedule_args, cosine_lr, open_log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="checkout of armenjeddi/loopformer")
    ap.add_argument("--data", required=True, help="folder with train.bin / val.bin (Models/text/data.py)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-layer", type=int, default=1)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=256)
    ap.add_argument("--intermediate-dim", type=int, default=1024)
    ap.add_argument("--block-size", type=int, default=256)
    ap.add_argument("--max-model-loops", type=int, default=8)
    add_schedule_args(ap, batch_size=16, max_iters=1200, warmup_iters=60, learning_rate=2e-3, min_lr=2e-4,
                      eval_interval=200, eval_iters=8, seed=1337)
    args = ap.parse_args()

    sys.path.insert(0, args.official)
    from models.loopformer import GPT, GPTConfig
    from utils import build_loader, sample_short_trajectory, seed_everything

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.data, "meta.json")) as f:
        vocab = json.load(f)["vocab_size"]

    def loader(split, seed):
        return build_loader(args.data, split, block_size=args.block_size, batch_size=args.batch_size,
                            mode="permuted", stride=args.block_size, seed=seed, num_workers=1,
                            persistent_workers=True, drop_last=True)

    def batches(split, seed):
        epoch = 0
        while True:  # more than one pass restarts the permutation with the next seed
            yield from loader(split, seed + epoch)
            epoch += 1

    train_iter = batches("train", args.seed)
    val_iter = batches("val", 42)

    model_args = dict(n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, block_size=args.block_size,
                      bias=False, vocab_size=vocab, dropout=0.0, intermediate_dim=args.intermediate_dim)
    gptconf = GPTConfig(**model_args)
    model = GPT(gptconf)
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = model.configure_optimizers(args.weight_decay, args.learning_rate, (0.9, 0.95), "cpu")
    L = args.max_model_loops
    long_trajectory = [1 / L] * L

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = {}
        batches_ = [next(val_iter) for _ in range(args.eval_iters)]
        for loops in sorted({1, 2, 4, L}):
            losses = [model(X, Y, [1 / loops] * loops)[1].item() for X, Y in batches_]
            out[loops] = float(np.mean(losses))
        model.train()
        return out

    say = open_log(args.out)
    say(f"args {json.dumps(vars(args))}")
    say(f"parameters {n_params} (tied embedding counted once)")
    t_start = time.time()
    best_val = float("inf")
    X, Y = next(train_iter)
    t0 = time.time()
    for it in range(args.max_iters + 1):
        lr = cosine_lr(it, args)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if it % args.eval_interval == 0 or it == args.max_iters:
            val = estimate_loss()
            best_val = min(best_val, val[L])
            say(f"step {it}: val loss by loops {json.dumps(val)} "
                f"({(time.time() - t_start) / 60:.1f} min)")
            if it > 0:
                ckpt = {"model": model.state_dict(), "model_args": model_args, "iter_num": it,
                        "best_val_loss": best_val, "config": gptconf}
                torch.save(ckpt, os.path.join(args.out, "ckpt.pt"))
        if it == args.max_iters:
            break
        short_trajectory = sample_short_trajectory(L)
        _, loss1, x1 = model(X, Y, long_trajectory)
        _, loss2, x2 = model(X, Y, short_trajectory)
        loss_ntp = loss1 + 0.1 * loss2
        loss_consistency = F.mse_loss(x1.detach(), x2)
        loss = loss_ntp + 0.1 * loss_consistency
        X, Y = next(train_iter)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t1 = time.time()
        if it % 10 == 0:
            say(f"iter {it}: loss {loss.item():.4f} (full {loss1.item():.4f}, short {loss2.item():.4f} over "
                f"{len(short_trajectory)} steps, mse {loss_consistency.item():.5f}), lr {lr:.2e}, {(t1 - t0) * 1000:.0f} ms")
        t0 = t1
    say(f"done in {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
