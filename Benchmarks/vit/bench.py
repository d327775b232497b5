#!/usr/bin/env python3
"""ViT (ToMe) benchmark: DeiT-Tiny and DeiT-Small at 224x224, batch 1, against PyTorch and ONNX Runtime.

For each model, random weights with timm's key names are written with numpy as safetensors next to
the timm constructor arguments (KWARGS.json) and converted with `swiftlet convert --family vit`.
Then, for every thread count and round:

  Swiftlet     `swiftlet bench M.swl --input X.npy --budget r=0 --budget r=8 --budget r=13
               --budget r=16,-1 --threads N` (its p50 column), for the f32, bf16 and q8 conversions
               (`convert --dtype`: bf16 pair panels / int8 quad panels read in place);
  PyTorch      timm's VisionTransformer with the official ToMe patch (facebookresearch/ToMe,
               `tome.patch.timm`, given by --official PATH) at the same r values and weights, eager,
               torch.inference_mode(), torch.set_num_threads(N);
  ONNX Runtime the same timm model (unpatched, r = 0) exported with torch.onnx.export, run with
               intra_op_num_threads = N; and its int8 version, onnxruntime.quantization.quantize_dynamic
               of that export (int8 weights, activations quantized at run time).

Every column uses the same image. Each figure is the median over --rounds rounds (interleaved, so a
busy spell on the shared machine hits every column alike) of a median over --runs timed runs.
Without torch (or without --official) the PyTorch column is left out, without onnxruntime the ORT
column; Swiftlet alone only needs numpy.

Targets (issue 3, f32): Swiftlet within 1.15x of ONNX Runtime at r = 0; at r = 13 at least 1.3x faster
than ONNX Runtime at r = 0; at least 2.5x faster than PyTorch + ToMe at the same r. Issue 14: Swiftlet's
best compact dtype (bf16 or q8) at r = 0 at least 1.3x faster than the faster of ORT f32 and ORT int8.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

MODELS = {
    "tiny": ("DeiT-Tiny", dict(embed_dim=192, num_heads=3)),
    "small": ("DeiT-Small", dict(embed_dim=384, num_heads=6)),
}
# Budgets as `swiftlet bench --budget` spells them, and as ToMe's `model.r` takes them.
SCHEDULES = [("r=0", 0), ("r=8", 8), ("r=13", 13), ("r=16,-1", (16, -1))]
SHORT = {"r=0": "0", "r=8": "8", "r=13": "13", "r=16,-1": "(16,-1)"}
DTYPES = ["f32", "bf16", "q8"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p.stdout


def timm_kwargs(shape):
    return dict(img_size=224, patch_size=16, embed_dim=shape["embed_dim"], depth=12,
                num_heads=shape["num_heads"], mlp_ratio=4.0, num_classes=1000)


def random_state_dict(kw, seed):
    """timm VisionTransformer names and shapes; values drawn roughly as timm initialises them."""
    rng = np.random.default_rng(seed)
    d, depth, classes, p = kw["embed_dim"], kw["depth"], kw["num_classes"], kw["patch_size"]
    hidden = int(d * kw["mlp_ratio"])
    tokens = (kw["img_size"] // p) ** 2 + 1

    def normal(*shape, std=0.02):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def near_one(n):
        return (1 + rng.standard_normal(n) * 0.05).astype(np.float32)

    sd = {
        "cls_token": normal(1, 1, d, std=1e-2),
        "pos_embed": normal(1, tokens, d),
        "patch_embed.proj.weight": normal(d, 3, p, p, std=(1 / (3 * p * p)) ** 0.5),
        "patch_embed.proj.bias": normal(d),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        sd[b + "norm1.weight"], sd[b + "norm1.bias"] = near_one(d), normal(d)
        sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"] = normal(3 * d, d), normal(3 * d)
        sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"] = normal(d, d), normal(d)
        sd[b + "norm2.weight"], sd[b + "norm2.bias"] = near_one(d), normal(d)
        sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"] = normal(hidden, d), normal(hidden)
        sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"] = normal(d, hidden), normal(d)
    sd["norm.weight"], sd["norm.bias"] = near_one(d), normal(d)
    sd["head.weight"], sd["head.bias"] = normal(classes, d), normal(classes)
    return sd


def write_safetensors(path, tensors):
    """The safetensors layout: u64 header length, JSON header (offsets into the data), raw data."""
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def tokens_left(schedule, depth=12, tokens=197, protected=1):
    """ToMe's token count after all blocks (tome.utils.parse_r and the cap in bipartite_soft_matching)."""
    if isinstance(schedule, tuple):
        r, inflect = schedule
        lo = int(r * (1.0 - inflect))
        step = (2 * r - 2 * lo) / (depth - 1)
        rs = [int(lo + step * i) for i in range(depth)]
    else:
        rs = [schedule] * depth
    for r in rs:
        tokens -= max(0, min(r, (tokens - protected) // 2))
    return tokens


# ------------------------------------------------------------------------------------------ Swiftlet

def swiftlet_bench(swiftlet, model, image, threads, runs, warmup):
    cmd = [swiftlet, "bench", model, "--input", image, "--threads", str(threads),
           "--runs", str(runs), "--warmup", str(warmup)]
    for spec, _ in SCHEDULES:
        cmd += ["--budget", spec]
    out = run(cmd)
    medians, header = {}, None
    for line in out.splitlines():
        fields = line.split()
        if fields[:1] == ["budget"]:
            header = line
            continue
        if header and fields and fields[0] in SHORT:
            # budget, chose (free text), then GFLOP, min, p50, p90, max, mean.
            medians[fields[0]] = float(fields[-4])
    missing = [s for s, _ in SCHEDULES if s not in medians]
    if missing:
        sys.exit(f"could not read {missing} from `swiftlet bench`:\n{out}")
    return medians


# ------------------------------------------------------------------------------------------ peers

def load_torch():
    try:
        import torch
        import timm  # noqa: F401
        return torch
    except ImportError as e:
        log(f"PyTorch/timm not importable ({e}): PyTorch and ONNX Runtime columns left out")
        return None


def load_ort():
    try:
        import onnxruntime
        return onnxruntime
    except ImportError:
        log("onnxruntime not importable: ONNX Runtime column left out")
        return None


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def timm_model(torch, kw, sd):
    from timm.models.vision_transformer import VisionTransformer
    m = VisionTransformer(**kw).eval()
    m.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    return m


def export_onnx(torch, model, image, path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(image),), path, dynamo=False, opset_version=17,
                          input_names=["images"], output_names=["logits"])


def quantize_onnx(path, out):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(path, out, weight_type=QuantType.QInt8)


def ort_session(ort, path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------------------------------------ report

def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def ratio(a, b):
    return a / b if a and b else None


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def verdict(value, target, larger):
    if value is None:
        return ""
    ok = value >= target if larger else value <= target
    return "ok" if ok else "SHORT"


def table(results, models, threads):
    head = ["model", "thr", "r", "tokens", "Swl f32", "Swl bf16", "Swl q8", "PyTorch+ToMe", "ORT f32", "ORT int8",
            "ORT/Swl", "Torch/Swl", "targets"]
    rows = [head]
    for key in models:
        name = MODELS[key][0]
        for n in threads:
            res = results[key][n]
            ort0, ort8 = res.get("ort"), res.get("ort_int8")
            for spec, sched in SCHEDULES:
                sw = {d: res["swiftlet"].get(d, {}).get(spec) for d in DTYPES}
                s, t = sw["f32"], res.get("torch", {}).get(spec)
                vs_ort, vs_torch = ratio(ort0, s), ratio(t, s)
                notes = []
                if spec == "r=0" and vs_ort is not None:
                    notes.append(f"Swl<=1.15xORT {verdict(s / ort0, 1.15, False)}")
                if spec == "r=0":
                    compact = [v for d, v in sw.items() if d != "f32" and v]
                    peers = [v for v in (ort0, ort8) if v]
                    if compact and peers:
                        best = min(compact)
                        notes.append(f"best compact {min(peers) / best:.2f}x faster ORT, >=1.3 "
                                     f"{verdict(min(peers) / best, 1.3, True)}")
                if spec == "r=13" and vs_ort is not None:
                    notes.append(f"ORT/Swl>=1.3 {verdict(vs_ort, 1.3, True)}")
                if vs_torch is not None:
                    notes.append(f"Torch/Swl>=2.5 {verdict(vs_torch, 2.5, True)}")
                rows.append([name, str(n), SHORT[spec], str(tokens_left(sched)), fmt(sw["f32"]), fmt(sw["bf16"]),
                             fmt(sw["q8"]), fmt(t), fmt(ort0) if spec == "r=0" else "",
                             fmt(ort8) if spec == "r=0" else "", fmt(vs_ort, 2), fmt(vs_torch, 2),
                             "; ".join(notes)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--swiftlet", default=os.path.join(ROOT, "build", "bin", "swiftlet"))
    ap.add_argument("--official", help="checkout of facebookresearch/ToMe (for the PyTorch column)")
    ap.add_argument("--models", default="tiny,small", help="comma-separated: tiny, small")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per measurement")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs before each measurement")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; figures are their median")
    ap.add_argument("--no-peers", action="store_true", help="Swiftlet only")
    ap.add_argument("--work", default="/tmp/swiftlet-bench-vit", help="weights, converted models, ONNX files")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            sys.exit(f"unknown model '{m}' (use {', '.join(MODELS)})")
    threads = [int(t) for t in args.threads.split(",")]
    if not os.path.exists(args.swiftlet):
        sys.exit(f"{args.swiftlet} not found: run `make` (or pass --swiftlet)")
    os.makedirs(args.work, exist_ok=True)

    torch = ort = None
    if not args.no_peers:
        torch = load_torch()
        ort = load_ort() if torch else None
    tome = None
    if torch and args.official:
        sys.path.insert(0, os.path.abspath(args.official))
        try:
            import tome  # noqa: F811
        except ImportError as e:
            log(f"cannot import tome from {args.official} ({e}): PyTorch column left out")
    elif torch:
        log("no --official: PyTorch column left out")

    load_before = load_average()
    image = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    image_path = os.path.join(args.work, "image.npy")
    np.save(image_path, image)

    prepared = {}
    for i, key in enumerate(models):
        name, shape = MODELS[key]
        kw = timm_kwargs(shape)
        sd = random_state_dict(kw, seed=1000 + i)
        ckpt = os.path.join(args.work, f"{key}.safetensors")
        kw_path = os.path.join(args.work, f"{key}.json")
        write_safetensors(ckpt, sd)
        with open(kw_path, "w") as f:
            json.dump(kw, f)
        entry = {"swl": {}}
        for dtype in DTYPES:
            log(f"{name}: converting ({dtype})")
            swl = os.path.join(args.work, f"{key}-{dtype}.swl")
            run([args.swiftlet, "convert", "--family", "vit", "--config", kw_path, "--checkpoint", ckpt, "--output",
                 swl, "--dtype", dtype, "--force"])
            entry["swl"][dtype] = swl
        if torch:
            torch.set_num_threads(1)
            plain = timm_model(torch, kw, sd)
            if ort:
                onnx_path = os.path.join(args.work, f"{key}.onnx")
                export_onnx(torch, plain, image, onnx_path)
                entry["ort"] = {n: ort_session(ort, onnx_path, n) for n in threads}
                int8_path = os.path.join(args.work, f"{key}-int8.onnx")
                quantize_onnx(onnx_path, int8_path)
                entry["ort_int8"] = {n: ort_session(ort, int8_path, n) for n in threads}
            if tome:
                patched = timm_model(torch, kw, sd)
                tome.patch.timm(patched)
                entry["torch"] = patched
        prepared[key] = entry

    samples = {k: {n: {"swiftlet": {d: {} for d in DTYPES}, "torch": {}, "ort": [], "ort_int8": []}
                   for n in threads} for k in models}
    for rnd in range(args.rounds):
        for key in models:
            entry = prepared[key]
            for n in threads:
                log(f"round {rnd + 1}/{args.rounds}: {MODELS[key][0]}, {n} thread(s)")
                cell = samples[key][n]
                for dtype in DTYPES:
                    for spec, ms in swiftlet_bench(args.swiftlet, entry["swl"][dtype], image_path, n, args.runs,
                                                   args.warmup).items():
                        cell["swiftlet"][dtype].setdefault(spec, []).append(ms)
                if "torch" in entry:
                    torch.set_num_threads(n)
                    x = torch.from_numpy(image)
                    with torch.inference_mode():
                        for spec, sched in SCHEDULES:
                            entry["torch"].r = sched
                            ms = timed(lambda: entry["torch"](x), args.runs, args.warmup)
                            cell["torch"].setdefault(spec, []).append(ms)
                for column in ("ort", "ort_int8"):
                    if column in entry:
                        sess = entry[column][n]
                        feed = {"images": image}
                        cell[column].append(timed(lambda: sess.run(None, feed), args.runs, args.warmup))

    results = {}
    for key in models:
        results[key] = {}
        for n in threads:
            cell = samples[key][n]
            res = {"swiftlet": {d: {s: statistics.median(v) for s, v in c.items()}
                                for d, c in cell["swiftlet"].items()}}
            if cell["torch"]:
                res["torch"] = {s: statistics.median(v) for s, v in cell["torch"].items()}
            for column in ("ort", "ort_int8"):
                if cell[column]:
                    res[column] = statistics.median(cell[column])
            results[key][n] = res

    versions = [f"numpy {np.__version__}"]
    if torch:
        import timm
        versions += [f"torch {torch.__version__}", f"timm {timm.__version__}"]
    if ort:
        versions.append(f"onnxruntime {ort.__version__}")
    print(f"machine: {machine()}; load average {load_before} before, {load_average()} after")
    if args.no_peers:
        print("peers: none (--no-peers: Swiftlet only)")
    elif not torch:
        print("peers: none (PyTorch/timm not importable: Swiftlet only)")
    else:
        missing = ([] if tome else ["no ToMe patch (--official): PyTorch column left out"]) + \
                  ([] if ort else ["no onnxruntime: ORT column left out"])
        print(f"peers: {', '.join(versions)}" + (f" ({'; '.join(missing)})" if missing else ""))
    print(f"batch 1, 224x224, median ms of {args.rounds} rounds x {args.runs} runs; "
          "ORT/Swl and Torch/Swl are speed-ups of Swiftlet f32 (ORT f32 at r=0)")
    print(table(results, models, threads))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: {str(n): v for n, v in r.items()} for k, r in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
