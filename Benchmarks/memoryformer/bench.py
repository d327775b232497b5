#!/usr/bin/env python3
"""MemoryFormer benchmark: memory layers against dense Linear, and the released tiny model against PyTorch.

(a) Kernels, per token at batch 1 and 128 tokens (`swiftlet-kernel-bench`, a release build of the
    repository's benchmark executable): one memory layer 512 -> 512 (64 tables x 8 bits, hash +
    gather) against the dense OpenBLAS Linear 512x512; the MLP pair (memory 512 -> 640, LayerNorm,
    memory 640 -> 512 with 10-bit codes) against dense Linear of the same shapes and against the
    dense 4x FFN it replaces. Tables in f32, f16 and q8 (int8 + one scale per row).
(b) The released tiny configuration (configs/memoryformer_tiny.yml: hidden 512, 6 layers, 8 heads,
    64 tables x 8 bits, Pythia vocabulary 50304) with random weights, written as safetensors with
    numpy and converted with `swiftlet convert` to f32 / f16 / q8 tables; per-token decode and the
    128-token prefill through `swiftlet generate`, and a whole 128-token sequence with every
    position's logits through `swiftlet bench`.
(c) PyTorch running the official torch path of C0-Design/MemoryFormer (MemoryLayer with
    force_torch_op=True: compute_code_score_torch + my_torch_gather, one hash shared by Q/K/V as in
    _forward_memory_qkv; the official RMSNorm and rotary helpers) on the same weights, when torch
    imports and --official points at a checkout. The official module compiles C++/CUDA extensions
    at import; they are replaced by inert placeholders (the torch path never calls them), and the
    attention (whose official code allocates on CUDA) is plain torch here.

--accuracy instead measures what the compact table storages cost on the `memoryformer-test` fixture
(the official reference's logits): each table dtype converted with the CLI and run on the fixture's
input ids with `swiftlet run`.

Without torch or --official, the PyTorch columns are left out. Every timing is a median over
--rounds runs; the machine may be shared, so compare columns from the same run.
"""
import argparse
import contextlib
import io
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# configs/memoryformer_tiny.yml (official), the fields the converter reads, in the official spelling.
TINY = {
    "num-layers": 6, "hidden-size": 512, "num-attention-heads": 8, "seq-length": 2048,
    "max-position-embeddings": 2048, "pos-emb": "rotary", "rotary-pct": 0.25, "no-weight-tying": True,
    "norm": "rmsnorm", "rms_norm_epsilon": 1.0e-8, "mlp_type": "MemoryBlock", "double_mlp_table": True,
    "mlp_expand_type": "extra_bit", "vocab_size": 50304,   # Pythia tokenizer, padded to 128 as GPT-NeoX does
    "attn_memory_config": {"fc_qkv": False, "value_size": 512, "remove_projection": True,
                           "shared_projection": False, "del_dense": True, "dense_size": 512,
                           "ffn_num_table": 64, "code_length": 8, "projection_type": "dense",
                           "block_size": 64, "learn_weight": False, "act_fn": "silu"},
    "memory_config": {"remove_projection": True, "hidden_size": 512, "output_size": 512,
                      "ffn_num_table": 64, "code_length": 8, "projection_type": "dense",
                      "block_size": 64, "learn_weight": False, "act_fn": "silu", "act_pos": "none"},
}
EXTRA_BITS = 2          # hard-coded in the official get_mlp
ROTARY_BASE = 10000.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- weights

def tiny_shapes(layers):
    H, T, L = 512, 64, 8
    W = T * (L + EXTRA_BITS)
    V = TINY["vocab_size"]
    shapes = [("word_embeddings.weight", (V, H), "normal")]
    for i in range(layers):
        p = f"layers.{i}."
        shapes.append((p + "input_layernorm.scale", (H,), "ones"))
        for proj in ("query_proj", "key_proj", "value_proj"):
            shapes.append((p + f"attention.{proj}.tables", (T << L, H), "normal"))
            shapes.append((p + f"attention.{proj}.bias", (H,), "small"))
        shapes.append((p + "post_attention_layernorm.scale", (H,), "ones"))
        shapes.append((p + "mlp.0.tables", (T << L, W), "normal"))
        shapes.append((p + "mlp.0.bias", (W,), "small"))
        shapes.append((p + "mlp.1.weight", (W,), "ones"))
        shapes.append((p + "mlp.1.bias", (W,), "zeros"))
        shapes.append((p + "mlp.2.tables", (T << (L + EXTRA_BITS), H), "normal"))
        shapes.append((p + "mlp.2.bias", (H,), "small"))
    shapes.append(("final_norm.scale", (H,), "ones"))
    shapes.append(("lm_head.weight", (V, H), "normal"))
    return shapes


def write_checkpoint(path, layers, seed=0):
    """Random weights of the tiny model as float32 safetensors (0.02·N(0,1) as the official init)."""
    rng = np.random.default_rng(seed)
    shapes = tiny_shapes(layers)
    header, offset = {}, 0
    for name, shape, _ in shapes:
        n = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for name, shape, kind in shapes:
            if kind == "normal":
                a = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
            elif kind == "small":
                a = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.001)
            elif kind == "ones":
                a = np.ones(shape, np.float32)
            else:
                a = np.zeros(shape, np.float32)
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
    os.replace(tmp, path)


def read_checkpoint(path):
    """name -> float32 array, copy-on-write mapped from the safetensors file."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    mm = np.memmap(path, dtype=np.uint8, mode="c")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        out[name] = mm[8 + n + s:8 + n + e].view("<f4").reshape(info["shape"])
    return out


# ---------------------------------------------------------------------------------------- runners

def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout, p.stderr


def kernel_rounds(exe, threads, rounds, repeats, copies):
    """{(name, storage, tokens): median over rounds of the per-round median µs/token}."""
    acc = {}
    for r in range(rounds):
        out, _ = run([exe, "--json", "--tokens", "1,128", "--threads", str(threads), "--repeats", str(repeats),
                      "--copies", str(copies)])
        for x in json.loads(out)["results"]:
            acc.setdefault((x["name"], x["storage"], x["tokens"]), []).append(x["median_us"])
        log(f"  kernels, {threads} thread(s): round {r + 1}/{rounds}")
    return {k: statistics.median(v) for k, v in acc.items()}


def generate_once(swiftlet, model, prompt, decode, threads):
    out, err = run([swiftlet, "generate", model, "--prompt-ids", ",".join(map(str, prompt)),
                    "--max-tokens", str(decode + 1), "--threads", str(threads)])
    m = re.search(r"prefill (\d+) tokens: .*?([\d.]+) µs", err)
    prefill = float(m.group(2))
    steps = [float(x) for x in re.findall(r"^\d+\t([\d.]+) µs$", out, re.M)]
    return prefill, statistics.median(steps)


def whole_sequence(swiftlet, model, tokens, threads, runs):
    out, _ = run([swiftlet, "bench", model, "--shape", f"1,{tokens}", "--runs", str(runs), "--warmup", "2",
                  "--threads", str(threads)])
    # columns: budget chose GFLOP min p50 p90 max mean
    row = [l for l in out.splitlines() if l.startswith("full")][0].split()
    return float(row[4]) * 1000


def table_bytes(swiftlet, model):
    out, _ = run([swiftlet, "inspect", model])
    total = 0
    for line in out.splitlines():
        if ".tables" in line:
            nums = [int(x) for x in re.findall(r"\b(\d{4,})\b", line.replace(",", ""))]
            if nums:
                total += nums[-1]
    return total


# ---------------------------------------------------------------------------------------- PyTorch

def load_official(path):
    """The official MemoryLayer, RMSNorm and rotary helpers, with the C++/CUDA extensions (compiled at
    import, and never called by the torch path) replaced by placeholders: the loader the shipped
    model's training uses (Models/text/memoryformer_model.py)."""
    sys.path.insert(0, os.path.join(ROOT, "Models", "text"))
    from memoryformer_model import load_official as load

    return load(path)


class TorchTiny:
    """The tiny model on the official torch path, with a KV cache (keys after rotary)."""

    def __init__(self, official, weights, layers):
        import torch
        memory, norms, pos = load_official(official)
        self.torch = torch
        H, T, L, heads = 512, 64, 8, 8
        self.H, self.heads, self.hd = H, heads, H // heads
        self.rot = int(self.hd * TINY["rotary-pct"])
        W = T * (L + EXTRA_BITS)

        def memory_layer(prefix, hidden, out, bits):
            cfg = dict(hidden_size=hidden, output_size=out, ffn_num_table=T, code_length=bits,
                       block_size=64, remove_projection=True, act_fn="silu", projection_type="dense")
            with contextlib.redirect_stdout(io.StringIO()):
                m = memory.MemoryLayer(cfg, force_torch_op=True)
            m.tables = torch.nn.Parameter(torch.from_numpy(weights[prefix + ".tables"]), requires_grad=False)
            m.bias = torch.nn.Parameter(torch.from_numpy(weights[prefix + ".bias"]), requires_grad=False)
            return m

        def rms(name):
            n = norms.RMSNorm(H, eps=TINY["rms_norm_epsilon"])
            n.scale = torch.nn.Parameter(torch.from_numpy(weights[name]), requires_grad=False)
            return n

        self.layers = []
        for i in range(layers):
            p = f"layers.{i}."
            ln = torch.nn.LayerNorm(W, eps=1e-5)
            ln.weight = torch.nn.Parameter(torch.from_numpy(weights[p + "mlp.1.weight"]), requires_grad=False)
            ln.bias = torch.nn.Parameter(torch.from_numpy(weights[p + "mlp.1.bias"]), requires_grad=False)
            self.layers.append(dict(
                input_norm=rms(p + "input_layernorm.scale"), post_norm=rms(p + "post_attention_layernorm.scale"),
                q=memory_layer(p + "attention.query_proj", H, H, L), k=memory_layer(p + "attention.key_proj", H, H, L),
                v=memory_layer(p + "attention.value_proj", H, H, L),
                mlp=torch.nn.Sequential(memory_layer(p + "mlp.0", H, W, L), ln,
                                        memory_layer(p + "mlp.2", W, H, L + EXTRA_BITS))))
        self.embedding = torch.from_numpy(weights["word_embeddings.weight"])
        self.final_norm = rms("final_norm.scale")
        self.head = torch.from_numpy(weights["lm_head.weight"])
        self.rotary = pos.RotaryEmbedding(self.rot, 2048, base=ROTARY_BASE, precision=torch.float32)
        self.apply_rotary = pos.apply_rotary_pos_emb_torch

    def forward(self, ids, cache):
        """ids: LongTensor [S] at positions len(cache) ...; returns the last position's logits."""
        torch = self.torch
        S, start = ids.shape[0], (cache[0][0].shape[0] if cache[0] is not None else 0)
        x = self.embedding[ids]
        cos, sin = self.rotary(x, seq_len=2048)
        for i, l in enumerate(self.layers):
            hn = l["input_norm"](x)
            # _forward_memory_qkv: one hash (value_proj's) for Q, K and V.
            code, score = l["v"].hash(hn, force_torch_op=True)
            shared = (code, score, hn.shape[:-1])
            q = l["q"](None, precompute_code_score_shape=shared).view(S, 1, self.heads, self.hd)
            k = l["k"](None, precompute_code_score_shape=shared).view(S, 1, self.heads, self.hd)
            v = l["v"](None, precompute_code_score_shape=shared).view(S, self.heads, self.hd)
            qr, kr = self.apply_rotary(q[..., :self.rot], k[..., :self.rot], cos, sin, offset=start)
            q = torch.cat((qr, q[..., self.rot:]), -1).view(S, self.heads, self.hd)
            k = torch.cat((kr, k[..., self.rot:]), -1).view(S, self.heads, self.hd)
            if cache[i] is not None:
                k = torch.cat((cache[i][0], k))
                v = torch.cat((cache[i][1], v))
            cache[i] = (k, v)
            scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(self.hd)
            if S > 1:
                mask = torch.arange(start + S)[None, :] > (start + torch.arange(S))[:, None]
                scores = scores.masked_fill(mask[None], float("-inf"))
            ctx = torch.einsum("hqk,khd->qhd", torch.softmax(scores, -1), v).reshape(S, self.H)
            a = ctx + x
            x = l["mlp"](l["post_norm"](a)) + a
        return self.final_norm(x[-1:]) @ self.head.T


def torch_bench(official, checkpoint, layers, prompt, decode, threads, rounds):
    import torch
    torch.set_num_threads(threads)
    model = TorchTiny(official, read_checkpoint(checkpoint), layers)
    prefills, steps = [], []
    with torch.inference_mode():
        for r in range(rounds):
            cache = [None] * layers
            t0 = time.perf_counter()
            logits = model.forward(torch.tensor(prompt), cache)
            prefills.append((time.perf_counter() - t0) * 1e6)
            token = int(logits.argmax())
            for _ in range(decode):
                t0 = time.perf_counter()
                logits = model.forward(torch.tensor([token]), cache)
                steps.append((time.perf_counter() - t0) * 1e6)
                token = int(logits.argmax())
            log(f"  PyTorch, {threads} thread(s): round {r + 1}/{rounds}")
    return statistics.median(prefills), statistics.median(steps)


# ---------------------------------------------------------------------------------------- accuracy

def accuracy(swiftlet, work, dtypes):
    """Max / mean abs logit error and argmax agreement of each table dtype on the fixture."""
    fixture = os.path.join(ROOT, "Tests", "Fixtures", "memoryformer-test")
    with open(os.path.join(fixture, "config.json")) as f:
        config = json.load(f)["config"]
    kwargs = os.path.join(work, "fixture-kwargs.json")
    with open(kwargs, "w") as f:
        json.dump(config, f)
    want = np.load(os.path.join(fixture, "logits.npy"))
    print(f"\nfixture memoryformer-test ({want.shape[0]}×{want.shape[1]} positions, vocab {want.shape[2]}), "
          "against the official reference logits")
    print(f"{'tables':<7} {'table bytes':>12} {'vs f32':>7} {'max abs':>10} {'mean abs':>10} {'argmax agree':>13}")
    f32 = None
    rows = []
    for dt in dtypes:
        model = os.path.join(work, f"fixture-{dt}.swl")
        out = os.path.join(work, f"fixture-{dt}-logits.npy")
        run([swiftlet, "convert", "--family", "memoryformer", "--config", kwargs,
             "--checkpoint", os.path.join(fixture, "checkpoint.safetensors"), "--output", model,
             "--table-dtype", dt, "--force", "--quiet"])
        run([swiftlet, "run", model, "--input", os.path.join(fixture, "input_ids.npy"), "--output", out,
             "--threads", "1"])
        got = np.load(out)
        err = np.abs(got.astype(np.float64) - want)
        agree = float(np.mean(got.argmax(-1) == want.argmax(-1)))
        tb = table_bytes(swiftlet, model)
        f32 = f32 or (tb if dt == "f32" else None)
        rows.append(dict(tables=dt, table_bytes=tb, max_abs=float(err.max()), mean_abs=float(err.mean()),
                         argmax_agreement=agree))
        print(f"{dt:<7} {tb:>12} {(f'{tb / f32:.2f}×' if f32 else '-'):>7} {err.max():>10.3g} {err.mean():>10.3g} "
              f"{agree:>13.3f}")
    return rows


# ---------------------------------------------------------------------------------------- report

def fmt(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.2f} µs"


def ratio(a, b):
    return f"{a / b:.1f}×" if a and b else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--swiftlet", default=os.path.join(ROOT, "build", "bin", "swiftlet"))
    ap.add_argument("--kernel-bench", default=os.path.join(ROOT, ".build", "release", "swiftlet-kernel-bench"))
    ap.add_argument("--official", help="checkout of C0-Design/MemoryFormer (PyTorch column)")
    ap.add_argument("--work", default="/tmp/swiftlet-bench-memoryformer", help="weights and converted models")
    ap.add_argument("--threads", default="1", help="comma-separated thread counts, e.g. 1,2")
    ap.add_argument("--rounds", type=int, default=5, help="repetitions; medians are reported")
    ap.add_argument("--repeats", type=int, default=7, help="kernel timings per round")
    ap.add_argument("--copies", type=int, default=1, help="kernel tables rotated per call (>1: colder tables)")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--prompt", type=int, default=128, help="prompt tokens")
    ap.add_argument("--decode", type=int, default=32, help="decoded tokens per round")
    ap.add_argument("--dtypes", default="f32,f16,q8", help="table storages to convert and time")
    ap.add_argument("--weight-dtype", default="f32",
                    help="storages of the embedding and LM head (`swiftlet convert --dtype`), comma-separated: "
                         "f32, f16, bf16, q8; every table dtype is converted with each")
    ap.add_argument("--skip-kernels", action="store_true")
    ap.add_argument("--skip-model", action="store_true")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--accuracy", action="store_true", help="only the table-dtype accuracy on the fixture")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    dtypes = args.dtypes.split(",")
    results = {"machine": platform.processor() or platform.machine(), "threads": threads,
               "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset")}
    if args.accuracy:
        if not os.path.exists(args.swiftlet):
            sys.exit(f"{args.swiftlet} not found: run `make` (or pass --swiftlet)")
        os.makedirs(args.work, exist_ok=True)
        results["accuracy"] = accuracy(args.swiftlet, args.work, dtypes)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        return

    # (a) kernels
    if not args.skip_kernels:
        if not os.path.exists(args.kernel_bench):
            sys.exit(f"{args.kernel_bench} not found: build it with "
                     "`swift build -c release --product swiftlet-kernel-bench` (or pass --kernel-bench)")
        print("\n(a) memory layers vs dense Linear, µs per token (median of rounds)")
        print(f"{'threads':>7} {'tokens':>6}  {'shape':<26} {'dense':>9}  {'f32':>16} {'f16':>16} {'q8':>16}")
        kernels = {}
        for t in threads:
            k = kernel_rounds(args.kernel_bench, t, args.rounds, args.repeats, args.copies)
            kernels[t] = {f"{n}|{s}|{tok}": v for (n, s, tok), v in k.items()}
            for tokens in (1, 128):
                rows = [("layer 512→512 (64×8)", "dense linear 512x512", "memory layer 512x512"),
                        ("pair 512→640→512", "dense pair 512-640-512", "memory pair 512-640-512"),
                        ("pair vs 4× FFN 512→2048→512", "dense ffn 512-2048-512", "memory pair 512-640-512")]
                for label, dense_name, mem_name in rows:
                    d = k.get((dense_name, "f32", tokens))
                    cells = []
                    for s in ("f32", "f16", "q8"):
                        m = k.get((mem_name, s, tokens))
                        cells.append(f"{m:7.2f} ({ratio(d, m):>6})" if m else "-")
                    print(f"{t:>7} {tokens:>6}  {label:<26} {d:9.2f}  " + " ".join(f"{c:>16}" for c in cells))
            for tokens in (1, 128):
                h8, h10 = k.get(("hash 64x8", "-", tokens)), k.get(("hash 64x10", "-", tokens))
                print(f"{t:>7} {tokens:>6}  hash alone: 64×8 {h8:.2f} µs, 64×10 {h10:.2f} µs")
        print("(ratio = dense time / memory time; > 1 means the memory layer is faster)")
        results["kernels"] = kernels

    # (b) + (c) the tiny model
    if not args.skip_model:
        if not os.path.exists(args.swiftlet):
            sys.exit(f"{args.swiftlet} not found: run `make` (or pass --swiftlet)")
        os.makedirs(args.work, exist_ok=True)
        ckpt = os.path.join(args.work, f"tiny-{args.layers}l.safetensors")
        kwargs = os.path.join(args.work, "kwargs.json")
        if not os.path.exists(ckpt):
            log(f"writing random weights to {ckpt} ...")
            write_checkpoint(ckpt, args.layers)
        cfg = dict(TINY, **{"num-layers": args.layers})
        with open(kwargs, "w") as f:
            json.dump(cfg, f, indent=1)
        models = {}
        weight_dtypes = args.weight_dtype.split(",")
        for wdt in weight_dtypes:
            for dt in dtypes:
                head = "" if wdt == "f32" else f"-head{wdt}"
                out = os.path.join(args.work, f"tiny-{args.layers}l-{dt}{head}.swl")
                if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(ckpt):
                    log(f"converting {dt} tables, {wdt} embedding and head ...")
                    run([args.swiftlet, "convert", "--family", "memoryformer", "--config", kwargs, "--checkpoint",
                         ckpt, "--output", out, "--table-dtype", dt, "--dtype", wdt, "--force", "--quiet"])
                models[(dt, wdt)] = out
        rng = np.random.default_rng(1)
        prompt = [int(x) for x in rng.integers(0, TINY["vocab_size"], args.prompt)]
        f32_tables = table_bytes(args.swiftlet, models[("f32", weight_dtypes[0])]) if "f32" in dtypes else 0
        print(f"\n(b, c) tiny model (hidden 512, {args.layers} layers, vocab {TINY['vocab_size']}), "
              f"{args.prompt}-token prompt, {args.decode} decoded tokens, medians of {args.rounds} rounds "
              "(the Swiftlet models interleaved within each round)")
        print(f"{'threads':>7}  {'runtime':<34} {'table MB':>9} {'decode/token':>13} {'prefill':>10} "
              f"{'whole seq':>10}  {'decode vs torch':>15}")
        model_rows = []
        for t in threads:
            torch_row = None
            if args.official and not args.skip_torch:
                try:
                    import torch  # noqa: F401
                    p, d = torch_bench(args.official, ckpt, args.layers, prompt, min(args.decode, 8), t,
                                       max(1, min(args.rounds, 3)))
                    torch_row = (p, d)
                except ImportError:
                    log("torch is not importable: PyTorch column skipped")
            pre = {k: [] for k in models}
            dec = {k: [] for k in models}
            whole = {k: [] for k in models}
            for r in range(args.rounds):
                for key, path in models.items():
                    p, d = generate_once(args.swiftlet, path, prompt, args.decode, t)
                    pre[key].append(p)
                    dec[key].append(d)
                    whole[key].append(whole_sequence(args.swiftlet, path, args.prompt, t, 3))
                log(f"  Swiftlet, {t} thread(s): round {r + 1}/{args.rounds}")
            for (dt, wdt), path in models.items():
                key = (dt, wdt)
                tb = table_bytes(args.swiftlet, path)
                row = dict(threads=t, tables=dt, weights=wdt, table_bytes=tb, decode_us=statistics.median(dec[key]),
                           prefill_us=statistics.median(pre[key]), whole_us=statistics.median(whole[key]))
                model_rows.append(row)
                rel = f"{tb / f32_tables:.2f}× f32" if f32_tables else ""
                vs = ratio(torch_row[1], row["decode_us"]) if torch_row else "-"
                label = f"Swiftlet {dt} tables, {wdt} head"
                print(f"{t:>7}  {label:<34} {tb / 1e6:9.0f} {fmt(row['decode_us']):>13} "
                      f"{fmt(row['prefill_us']):>10} {fmt(row['whole_us']):>10}  {vs:>15}  {rel}")
            if torch_row:
                model_rows.append(dict(threads=t, tables="torch f32", decode_us=torch_row[1], prefill_us=torch_row[0]))
                print(f"{t:>7}  {'PyTorch official path (f32)':<34} {f32_tables / 1e6:9.0f} {fmt(torch_row[1]):>13} "
                      f"{fmt(torch_row[0]):>10} {'-':>10}  {'1.0×':>15}")
        print("(prefill: generate's prompt pass, LM head of the last position only (the others' run when "
              "read); whole seq: `swiftlet bench`, logits of every position; PyTorch: last position's head)")
        results["model"] = model_rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
