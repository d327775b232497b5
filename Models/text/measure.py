"""Held-out perplexity of the shipped text models in Swiftlet, beside the PyTorch reference on the same tokens.

    make models                                   # build/models/text-{loopformer,memoryformer}.swl
    /opt/bench-venv/bin/python Models/text/measure.py \
        --loopformer-official /tmp/loopformer-official --memoryformer-official /tmp/memoryformer-official

Data: `Models/text/heldout-ids.npy`, 64 windows of 256 tokens from the held-out standard-library files
(`data.py`). Perplexity = exp(mean negative log-likelihood of every next token in a window given the
tokens before it), over 64 × 255 predictions — the definition `swiftlet profile` uses.

Swiftlet runs through the Python bindings (`Bindings/python`, on the library `--library`,
default build/lib/libswiftlet.so): `Model.run` on batches of windows gives the logits of every
position. LoopFormer: at 1, 2, 4 and 8 loop steps (trajectory 1/L each; `--all-loops`: 1…8).
MemoryFormer: the model converted with f32, f16 and q8 tables (`swiftlet convert --table-dtype`; the
f16 and q8 files are written into --work). PyTorch: the official LoopFormer `GPT` on the shipped
checkpoint, and the MemoryFormer of `memoryformer_model.py` (official layers) on the shipped weights
— for the f16 and q8 rows also with its tables rounded as the converter stores them (f16
round-to-nearest-even; int8 with scale max|row|/127, round half to even), so that each Swiftlet figure
has a PyTorch figure computed on the same numbers. Prints Markdown tables; not run by CI.

    /opt/bench-venv/bin/python Models/text/measure.py --memoryformer-weight-dtypes f32,f16,bf16,q8

    /opt/bench-venv/bin/python Models/text/measure.py --memoryformer-q4 [--memoryformer-official DIR]

measures int4 (`q4_block`): the model converted with every pair of table storage (--table-dtype
f32, q8, q4) and embedding/head storage (--dtype f32, q8, q4), perplexity through `Model.run` and
through the KV cache, file size; with --memoryformer-official also PyTorch with the tables rounded
to int4 with one scale per block of 32 (as the converter stores them: a check of Swiftlet's figure)
and with one scale per row (what blocks are measured against), f32 embedding and head.

--memoryformer-weight-dtypes instead measures only the MemoryFormer's embedding and LM head storage (`swiftlet convert --dtype`, f32
tables), in Swiftlet alone (no official code needed): perplexity through `Model.run` (the head over
every position: decoded panels, or int8 products for q8) and through the KV cache on the first
--cached-windows windows (the head one row at a time: the compact matrix-vector product), each beside
the f32 file's figure on the same tokens.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def official_memoryformer(code):
    """The official MemoryFormer (checkout `code`) with the trained weights, in eval mode; also the
    weights."""
    sys.path.insert(0, HERE)
    from memoryformer_model import MemoryFormerLM
    from safetensors.torch import load_file
    weights = load_file(os.path.join(HERE, "memoryformer.safetensors"))
    with open(os.path.join(HERE, "memoryformer-config.json")) as f:
        mcfg = json.load(f)
    keys = ("hidden_size", "num_attention_heads", "num_layers", "code_length", "vocab_size", "rotary_pct",
            "rotary_emb_base", "rms_norm_epsilon", "mlp_layernorm_epsilon", "seq_length")
    mf = MemoryFormerLM(code, {k: mcfg[k] for k in keys})
    mf.eval()
    return mf, weights


def nll_sum(logits, ids):
    """Sum of -log p(next token) over positions 0..T-2 of every row, in float64, and the count."""
    lg = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    logp = torch.log_softmax(lg[:, :-1], dim=-1)
    tgt = torch.as_tensor(ids[:, 1:], dtype=torch.long)
    return float(-logp.gather(-1, tgt[..., None]).sum()), tgt.numel()


def swiftlet_perplexity(swiftlet, path, ids, batch, budget=None):
    nll, n = 0.0, 0
    with swiftlet.Model(path) as model, model.session(threads=0) as session:
        logits_all = []
        for s in range(0, len(ids), batch):
            (logits,), _ = session.run(ids[s:s + batch].astype(np.int32), budget=budget)
            a, c = nll_sum(logits, ids[s:s + batch])
            nll, n = nll + a, n + c
            logits_all.append(logits)
    return float(np.exp(nll / n)), np.concatenate(logits_all)


def swiftlet_cached(swiftlet, path, ids, budget=None, split=128):
    """Logits through the KV cache: prefill the first `split` tokens of each window, then decode the
    rest one token at a time. Returns the perplexity and the logits [N, T-1, V] (rows predict 1..T-1)."""
    rows = []
    with swiftlet.Model(path) as model, model.session(threads=0) as session:
        for w in ids:
            session.prefill(w[:split].astype(np.int32), budget=budget)
            out = [session.logits()]
            for token in w[split:-1]:
                session.decode(int(token))
                out.append(session.logits())
            rows.append(np.concatenate(out))
    logits = np.stack(rows)
    nll, n = nll_sum(np.concatenate([logits, logits[:, :1]], axis=1), ids)
    return float(np.exp(nll / n)), logits


def torch_perplexity(forward, ids, batch):
    nll, n = 0.0, 0
    logits_all = []
    with torch.no_grad():
        for s in range(0, len(ids), batch):
            x = torch.as_tensor(ids[s:s + batch], dtype=torch.long)
            logits = forward(x).float().numpy()
            a, c = nll_sum(logits, ids[s:s + batch])
            nll, n = nll + a, n + c
            logits_all.append(logits)
    return float(np.exp(nll / n)), np.concatenate(logits_all)


def compare(a, b):
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return float(d.max()), float(np.mean(a.argmax(-1) == b.argmax(-1)))


def q8_rows(t):
    """The converter's q8_row: scale = max|row| / 127, q = round-half-even(x / scale) clamped to ±127."""
    x = t.double()
    scale = (x.abs().amax(dim=-1, keepdim=True) / 127.0).float().double()
    q = torch.where(scale > 0, torch.round(x / torch.where(scale > 0, scale, 1.0)), torch.zeros_like(x)).clamp(-127, 127)
    return (q.float() * scale.float()).float()


def q4_rows(t, block):
    """int4 with a scale per `block` values of a row (block = row length: one scale per row): the
    converter's q4_block rule, scale = m / -8 for the value m of largest magnitude, q = round-half-even
    clamped to -8..7."""
    x = t.double()
    R, C = x.shape
    assert C % block == 0
    b = x.reshape(R, C // block, block)
    idx = b.abs().argmax(dim=-1, keepdim=True)
    scale = (b.gather(-1, idx) / -8.0).float().double()
    q = torch.where(scale != 0, torch.round(b / torch.where(scale != 0, scale, 1.0)),
                    torch.zeros_like(b)).clamp(-8, 7)
    return (q.float() * scale.float()).float().reshape(R, C)


def q4_study(args, swiftlet, ids, results):
    """Perplexity with int4 tables, int4 embedding + head, both, beside q8 and f32."""
    rows = []
    k = args.cached_windows
    pairs = [("f32", "f32"), ("q8", "f32"), ("q4", "f32"), ("f32", "q8"), ("f32", "q4"), ("q8", "q8"),
             ("q8", "q4"), ("q4", "q8"), ("q4", "q4")]
    for tables, weights in pairs:
        path = os.path.join(args.work, f"text-memoryformer-t{tables}-w{weights}.swl")
        subprocess.run([args.swiftlet, "convert", "--family", "memoryformer", "--config",
                        os.path.join(HERE, "memoryformer-config.json"), "--checkpoint",
                        os.path.join(HERE, "memoryformer.safetensors"), "--table-dtype", tables, "--dtype", weights,
                        "--output", path, "--force", "--quiet"], check=True)
        sw, logits = swiftlet_perplexity(swiftlet, path, ids, args.batch)
        row = dict(tables=tables, weights=weights, file_bytes=os.path.getsize(path), swiftlet=sw)
        if k:
            row.update(cached=swiftlet_cached(swiftlet, path, ids[:k])[0])
        if rows:
            d, a = compare(logits, f32_logits)
            row.update(max_abs_diff_vs_f32=d, argmax_agreement_vs_f32=a)
        else:
            f32_logits = logits
        rows.append(row)
        print(f"memoryformer tables {tables} head {weights}: perplexity {sw:.4f}", file=sys.stderr)
    results["memoryformer_q4"] = rows
    print(f"\nHeld-out perplexity, {ids.shape[0]} windows × {ids.shape[1]} tokens; KV cache: first {k} windows, "
          "prefill 128 then decode\n")
    print("| tables | embedding + head | file | perplexity | vs f32 | through the KV cache | argmax agreement vs f32 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base = rows[0]["swiftlet"]
    for r in rows:
        agree = f"{r['argmax_agreement_vs_f32']:.4f}" if "argmax_agreement_vs_f32" in r else "—"
        cached = f"{r['cached']:.3f}" if "cached" in r else "—"
        print(f"| {r['tables']} | {r['weights']} | {r['file_bytes'] / 1e6:.2f} MB | {r['swiftlet']:.3f} | "
              f"{100 * (r['swiftlet'] / base - 1):+.2f} % | {cached} | {agree} |")
    if args.memoryformer_official:
        mf, weights = official_memoryformer(args.memoryformer_official)
        study = []
        for label, block in (("f32", None), ("int4, a scale per block of 32", 32), ("int4, a scale per row", 0)):
            w = dict(weights)
            for name in w:
                if name.endswith(".tables") and block is not None:
                    w[name] = q4_rows(w[name], block or w[name].shape[1])
            mf.load_state_dict(w)
            pt, _ = torch_perplexity(lambda x: mf(x)[0], ids, args.batch)
            study.append(dict(tables=label, pytorch=pt))
            print(f"pytorch tables {label}: {pt:.4f}", file=sys.stderr)
        results["memoryformer_q4_pytorch"] = study
        print("\n| PyTorch (memoryformer_model.py), tables | perplexity |\n|---|---:|")
        for r in study:
            print(f"| {r['tables']} | {r['pytorch']:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def weight_dtypes(args, swiftlet, ids, results):
    """Perplexity of the MemoryFormer with its embedding and LM head stored in each dtype (f32 tables)."""
    rows = []
    k = args.cached_windows
    for dt in args.memoryformer_weight_dtypes.split(","):
        path = os.path.join(args.work, f"text-memoryformer-weights-{dt}.swl")
        subprocess.run([args.swiftlet, "convert", "--family", "memoryformer", "--config",
                        os.path.join(HERE, "memoryformer-config.json"), "--checkpoint",
                        os.path.join(HERE, "memoryformer.safetensors"), "--dtype", dt, "--output", path,
                        "--force", "--quiet"], check=True)
        sw, logits = swiftlet_perplexity(swiftlet, path, ids, args.batch)
        row = dict(weights=dt, file_bytes=os.path.getsize(path), swiftlet=sw)
        if k:
            cw, c_logits = swiftlet_cached(swiftlet, path, ids[:k])
            row.update(cached=cw)
        if rows:
            d, a = compare(logits, f32_logits)
            row.update(max_abs_diff_vs_f32=d, argmax_agreement_vs_f32=a)
        else:
            f32_logits = logits
        rows.append(row)
        print(f"memoryformer weights {dt}: perplexity {sw:.4f}", file=sys.stderr)
    results["memoryformer_weights"] = rows
    print(f"\nHeld-out perplexity, {ids.shape[0]} windows × {ids.shape[1]} tokens; embedding and LM head "
          f"stored as given (f32 tables); KV cache: first {k} windows, prefill 128 then decode\n")
    print("| embedding + head | file | perplexity | through the KV cache | max abs logit diff vs the first row | "
          "argmax agreement |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        extra = (f"{r['max_abs_diff_vs_f32']:.1e} | {r['argmax_agreement_vs_f32']:.4f}"
                 if "max_abs_diff_vs_f32" in r else "— | —")
        cached = f"{r['cached']:.3f}" if "cached" in r else "—"
        print(f"| {r['weights']} | {r['file_bytes'] / 1e6:.2f} MB | {r['swiftlet']:.3f} | {cached} | {extra} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loopformer-official")
    ap.add_argument("--memoryformer-official")
    ap.add_argument("--memoryformer-weight-dtypes",
                    help="only the MemoryFormer embedding/head storages given (e.g. f32,f16,bf16,q8), Swiftlet alone")
    ap.add_argument("--memoryformer-q4", action="store_true",
                    help="int4 study: every pair of f32/q8/q4 tables and embedding/head (PyTorch too with --memoryformer-official)")
    ap.add_argument("--models", default=os.path.join(ROOT, "build", "models"))
    ap.add_argument("--swiftlet", default=os.path.join(ROOT, "build", "bin", "swiftlet"))
    ap.add_argument("--library", default=os.path.join(ROOT, "build", "lib", "libswiftlet.so"))
    ap.add_argument("--ids", default=os.path.join(HERE, "heldout-ids.npy"))
    ap.add_argument("--work", default="/tmp/swiftlet-text-measure")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--all-loops", action="store_true")
    ap.add_argument("--cached-windows", type=int, default=4,
                    help="windows also run through prefill + decode (the KV cache generation uses)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    os.environ.setdefault("SWIFTLET_LIBRARY", args.library)
    sys.path.insert(0, os.path.join(ROOT, "Bindings", "python", "src"))
    import swiftlet

    torch.set_num_threads(args.threads)
    ids = np.load(args.ids).astype(np.int64)
    os.makedirs(args.work, exist_ok=True)
    results = {"windows": list(ids.shape)}
    if args.memoryformer_weight_dtypes:
        weight_dtypes(args, swiftlet, ids, results)
        return
    if args.memoryformer_q4:
        q4_study(args, swiftlet, ids, results)
        return
    if not args.loopformer_official or not args.memoryformer_official:
        ap.error("--loopformer-official and --memoryformer-official are required (or --memoryformer-weight-dtypes)")

    # ---- LoopFormer
    sys.path.insert(0, args.loopformer_official)
    from models.loopformer import GPT, GPTConfig
    ckpt = torch.load(os.path.join(HERE, "loopformer-ckpt.pt"), map_location="cpu", weights_only=False)
    lf = GPT(GPTConfig(**ckpt["model_args"]))
    lf.load_state_dict(ckpt["model"])
    lf.eval()
    with open(os.path.join(HERE, "loopformer-config.json")) as f:
        max_loops = json.load(f)["max_model_loops"]
    loops = list(range(1, max_loops + 1)) if args.all_loops else [1, 2, 4, 8]
    rows = []
    for L in loops:
        steps = [1 / L] * L
        # The official forward returns every position's logits when given targets.
        pt, pt_logits = torch_perplexity(lambda x: lf(x, x, steps)[0], ids, args.batch)
        sw, sw_logits = swiftlet_perplexity(swiftlet, os.path.join(args.models, "text-loopformer.swl"), ids,
                                            args.batch, swiftlet.Budget(loops=L))
        diff, agree = compare(sw_logits, pt_logits)
        row = dict(loops=L, swiftlet=sw, pytorch=pt, max_abs_logit_diff=diff, argmax_agreement=agree)
        if args.cached_windows:
            k = args.cached_windows
            cw, c_logits = swiftlet_cached(swiftlet, os.path.join(args.models, "text-loopformer.swl"), ids[:k],
                                           swiftlet.Budget(loops=L))
            pk = float(np.exp(nll_sum(pt_logits[:k], ids[:k])[0] / (k * (ids.shape[1] - 1))))
            row.update(cached_swiftlet=cw, cached_pytorch=pk,
                       cached_max_abs_logit_diff=compare(c_logits, pt_logits[:k, :-1])[0])
        rows.append(row)
        print(f"loopformer loops={L}: swiftlet {sw:.4f} pytorch {pt:.4f} max|Δlogit| {diff:.2e}", file=sys.stderr)
    results["loopformer"] = rows
    sys.path.remove(args.loopformer_official)
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.") or m == "utils"]:
        del sys.modules[name]

    # ---- MemoryFormer
    mf, weights = official_memoryformer(args.memoryformer_official)
    rows = []
    for dt in ("f32", "f16", "q8"):
        path = os.path.join(args.models, "text-memoryformer.swl")
        if dt != "f32":
            path = os.path.join(args.work, f"text-memoryformer-{dt}.swl")
            subprocess.run([args.swiftlet, "convert", "--family", "memoryformer", "--config",
                            os.path.join(HERE, "memoryformer-config.json"), "--checkpoint",
                            os.path.join(HERE, "memoryformer.safetensors"), "--table-dtype", dt, "--output", path,
                            "--force", "--quiet"], check=True)
        w = dict(weights)
        for k in w:
            if k.endswith(".tables"):
                w[k] = w[k].half().float() if dt == "f16" else q8_rows(w[k]) if dt == "q8" else w[k]
        mf.load_state_dict(w)
        pt, pt_logits = torch_perplexity(lambda x: mf(x)[0], ids, args.batch)
        sw, sw_logits = swiftlet_perplexity(swiftlet, path, ids, args.batch)
        diff, agree = compare(sw_logits, pt_logits)
        row = dict(tables=dt, file_bytes=os.path.getsize(path), swiftlet=sw, pytorch_same_tables=pt,
                   max_abs_logit_diff=diff, argmax_agreement=agree)
        if dt == "f32":
            f32_logits = pt_logits
            if args.cached_windows:
                k = args.cached_windows
                cw, c_logits = swiftlet_cached(swiftlet, path, ids[:k])
                pk = float(np.exp(nll_sum(pt_logits[:k], ids[:k])[0] / (k * (ids.shape[1] - 1))))
                row.update(cached_swiftlet=cw, cached_pytorch=pk,
                           cached_max_abs_logit_diff=compare(c_logits, pt_logits[:k, :-1])[0])
        else:
            d32, a32 = compare(sw_logits, f32_logits)
            row.update(max_abs_diff_vs_f32_pytorch=d32, argmax_agreement_vs_f32_pytorch=a32)
        rows.append(row)
        print(f"memoryformer {dt}: swiftlet {sw:.4f} pytorch {pt:.4f} max|Δlogit| {diff:.2e}", file=sys.stderr)
    results["memoryformer"] = rows

    print(f"\nHeld-out perplexity, {ids.shape[0]} windows × {ids.shape[1]} tokens ({ids.shape[0] * (ids.shape[1] - 1)} "
          "predictions)\n")
    print("| LoopFormer loops | Swiftlet | PyTorch (official GPT) | max abs logit diff | argmax agreement |")
    print("|---:|---:|---:|---:|---:|")
    for r in results["loopformer"]:
        print(f"| {r['loops']} | {r['swiftlet']:.3f} | {r['pytorch']:.3f} | {r['max_abs_logit_diff']:.1e} | "
              f"{r['argmax_agreement']:.4f} |")
    print("\n| MemoryFormer tables | file | Swiftlet | PyTorch, same tables | max abs logit diff | argmax agreement |"
          " vs f32 PyTorch: max abs logit diff | argmax agreement |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["memoryformer"]:
        extra = (f"{r['max_abs_diff_vs_f32_pytorch']:.1e} | {r['argmax_agreement_vs_f32_pytorch']:.4f}"
                 if "max_abs_diff_vs_f32_pytorch" in r else "— | —")
        print(f"| {r['tables']} | {r['file_bytes'] / 1e6:.1f} MB | {r['swiftlet']:.3f} | {r['pytorch_same_tables']:.3f} | "
              f"{r['max_abs_logit_diff']:.1e} | {r['argmax_agreement']:.4f} | {extra} |")
    if args.cached_windows:
        k = args.cached_windows
        print(f"\nThrough the KV cache (prefill 128 tokens, then 127 decode steps), first {k} windows:\n")
        print("| model | Swiftlet | PyTorch | max abs logit diff |")
        print("|---|---:|---:|---:|")
        for r in results["loopformer"]:
            print(f"| LoopFormer, loops={r['loops']} | {r['cached_swiftlet']:.3f} | {r['cached_pytorch']:.3f} | "
                  f"{r['cached_max_abs_logit_diff']:.1e} |")
        r = results["memoryformer"][0]
        print(f"| MemoryFormer, f32 tables | {r['cached_swiftlet']:.3f} | {r['cached_pytorch']:.3f} | "
              f"{r['cached_max_abs_logit_diff']:.1e} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
