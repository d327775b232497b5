#!/usr/bin/env python3
"""LMUFormer on the official Speech Commands shape: Swiftlet beside PyTorch eager on the official code.

Shape: 128 mel bins, embed_dims 256, one block, mlp_ratio 4, 35 classes, 128-frame (1.28 s) clips, for
the three official constructors (lmu_rnn_conv1d, slmu_rnn_conv1d, slmu_rnn_ms_conv1d). Weights are
random (seeded; speed does not depend on the values except through the spike rates, which the ranges
below keep near those of a trained model, 15-45 %). They are written as a safetensors checkpoint with
the official state-dict names and converted with `swiftlet convert`.

Measured:
  * whole clip, batch 1: `swiftlet bench` (median latency) on 1 and 2 threads, and the official
    model's forward() (test_mode 'normal') under torch.no_grad() on 1 and 2 threads;
  * streaming, 1 thread: `swiftlet stream --chunk N` (1, 7, 128) over a long input (default 100 clips,
    128 s), which prints the compute time per 10 ms frame; the length amortises what a process does
    once (page-in, the memory matrix's powers at the first 128-frame boundary, ~40 ms for the
    spiking models). The official code has no streaming path.

The PyTorch columns need torch plus the official code (`--official`: a checkout of
zeyuliu1037/LMUFormer or its src/ folder) and what it imports: timm, scipy, spikingjelly 0.0.0.0.14.
Two things are adapted at import time, neither touching the model code: the official get_act()
builds LIF neurons with spikingjelly's CUDA-only 'cupy' backend, so they are built with its 'torch'
backend; and utilities/stats.py imports scikit-learn for training metrics, stubbed when missing.
Without torch or --official the script prints Swiftlet's columns only.

Example:
  /opt/bench-venv/bin/python Benchmarks/lmuformer/bench.py --swiftlet build/bin/swiftlet \\
      --official /path/to/LMUFormer --repeat 5
"""
import argparse
import importlib
import importlib.machinery
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

F, C, DEPTH, RATIO, K, T = 128, 256, 1, 4, 35, 128
HID = int(C * RATIO)
VARIANTS = ["lmu_rnn_conv1d", "slmu_rnn_conv1d", "slmu_rnn_ms_conv1d"]
CHUNKS = [1, 7, 128]


# ---------------------------------------------------------------------------------------------
# Weights


def expm(a):
    """Matrix exponential (float64): scaling and squaring with a Taylor series."""
    n = a.shape[0]
    norm = np.abs(a).sum(axis=1).max()
    s = max(0, int(np.ceil(np.log2(norm / 0.25)))) if norm > 0.25 else 0
    x = a / (2.0 ** s)
    result = np.eye(n)
    term = np.eye(n)
    for k in range(1, 40):
        term = term @ x / k
        result = result + term
        if np.abs(term).max() < 1e-18:
            break
    for _ in range(s):
        result = result @ result
    return result


def lmu_matrices(m, theta=128):
    """A, B of the official LMU cell: the Legendre delay system, zero-order hold with dt = 1."""
    q = np.arange(m, dtype=np.float64)[:, None]
    r = (2 * q + 1) / theta
    i, j = np.meshgrid(q[:, 0], q[:, 0], indexing="ij")
    a = r * np.where(i < j, -1.0, (-1.0) ** (i - j + 1))
    b = r * ((-1.0) ** q)
    block = np.zeros((m + 1, m + 1))
    block[:m, :m] = a
    block[:m, m:] = b
    e = expm(block)
    return e[:m, :m].astype(np.float32), e[:m, m:].astype(np.float32)


def state_dict(variant, seed=7, lmu=None):
    """Random weights under the official names and shapes. `lmu` (A, B) overrides the matrices."""
    rng = np.random.default_rng(seed)
    spiking = variant != "lmu_rnn_conv1d"
    ms = variant == "slmu_rnn_ms_conv1d"
    m = 2 * C if spiking else C
    sd = {}

    def u(name, shape, scale):
        sd[name] = rng.uniform(-scale, scale, shape).astype(np.float32)

    def bn(p, n, bias=(0.4, 1.4)):
        sd[p + ".weight"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
        sd[p + ".bias"] = rng.uniform(bias[0], bias[1], n).astype(np.float32)
        sd[p + ".running_mean"] = rng.uniform(-0.2, 0.2, n).astype(np.float32)
        sd[p + ".running_var"] = rng.uniform(0.5, 1.5, n).astype(np.float32)

    pe = "patch_embed."
    if spiking:
        for i, n in enumerate(["proj_conv", "proj_conv1", "proj_conv2", "proj_conv3"]):
            u(pe + n + ".weight", (C, F if i == 0 else C, 3), 0.15)
        for n in ["proj_bn", "proj_bn1", "proj_bn2", "proj_bn3"]:
            bn(pe + n, C)
        if not ms:
            bn(pe + "rpe_bn", C)
    else:
        for i in range(4):
            u(pe + f"conv_layers.{i}.0.weight", (C, F if i == 0 else C, 3), 0.06)
            bn(pe + f"conv_layers.{i}.3", C, bias=(-0.2, 0.2))
    u(pe + "rpe_conv.weight", (C, C, 3), 0.15 if spiking else 0.03)
    q = "block.0."
    a, b = lmu if lmu is not None else lmu_matrices(m)
    sd[q + "attn.lmu.A"] = a
    sd[q + "attn.lmu.B"] = b
    u(q + "attn.lmu.W_u.weight", (1, C), 0.1)
    sd[q + "attn.lmu.W_u.bias"] = np.array([0.7], dtype=np.float32)
    u(q + "attn.lmu.W_h.weight", (C, m + C), 0.08)
    u(q + "attn.lmu.W_h.bias", (C,), 0.2)
    if spiking:
        bn(q + "attn.lmu.bn_u", 1)
        bn(q + "attn.lmu.bn_m", m)
        bn(q + "attn.lmu.bn_h", C)
    if ms:
        bn(q + "attn.prev_bn", C)
    small = (0.4, 1.4) if spiking else (-0.2, 0.2)
    u(q + "attn.proj_conv.weight", (C, C, 1), 0.12)
    u(q + "attn.proj_conv.bias", (C,), 0.2)
    bn(q + "attn.proj_bn", C, bias=small)
    u(q + "mlp.fc1_conv.weight", (HID, C, 1), 0.1)
    u(q + "mlp.fc1_conv.bias", (HID,), 0.2)
    bn(q + "mlp.fc1_bn", C if ms else HID, bias=small)
    u(q + "mlp.fc2_conv.weight", (C, HID, 1), 0.05)
    u(q + "mlp.fc2_conv.bias", (C,), 0.2)
    bn(q + "mlp.fc2_bn", HID if ms else C, bias=small)
    u("head.weight", (K, C), 0.2)
    u("head.bias", (K,), 0.1)
    if ms:
        bn("head_bn", C)
    return sd


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for blob in blobs:
            f.write(blob)


def kwargs(variant):
    return {"model": variant, "in_channels": F, "embed_dims": C, "depths": DEPTH, "mlp_ratios": RATIO,
            "num_classes": K, "num_heads": 1}


# ---------------------------------------------------------------------------------------------
# Swiftlet


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p.stdout + p.stderr


def swiftlet_clip_ms(exe, model, x_path, threads, runs):
    """(median, min) latency of `swiftlet bench`."""
    out = run([exe, "bench", model, "--input", x_path, "--threads", str(threads), "--runs", str(runs), "--warmup", "5"])
    lines = [l for l in out.splitlines() if l.strip()]
    head = next(i for i, l in enumerate(lines) if l.startswith("budget"))
    cols = re.split(r"\s{2,}", lines[head].strip())
    row = re.split(r"\s{2,}", lines[head + 1].strip())
    return float(row[cols.index("p50 ms")]), float(row[cols.index("min ms")])


def swiftlet_stream_us(exe, model, x_path, chunk, out_path):
    out = run([exe, "stream", model, "--input", x_path, "--chunk", str(chunk), "--output", out_path])
    m = re.search(r"([0-9.]+) µs per frame;", out)
    p = re.search(r"\(([0-9.]+) µs per frame at p50\)", out)
    if not m or not p:
        sys.exit(f"no 'µs per frame' figures in the output of swiftlet stream:\n{out}")
    return float(m.group(1)), float(p.group(1))


# ---------------------------------------------------------------------------------------------
# PyTorch eager, official code


def load_official(path):
    """Imports the official lmu_rnn module from a checkout (or its src/ folder)."""
    src = path if os.path.exists(os.path.join(path, "lmu_rnn.py")) else os.path.join(path, "src")
    if not os.path.exists(os.path.join(src, "lmu_rnn.py")):
        sys.exit(f"{path}: no lmu_rnn.py (give the LMUFormer checkout or its src/ folder)")
    sys.path.insert(0, src)
    try:
        importlib.import_module("sklearn.metrics")
    except ImportError:
        # utilities/stats.py imports scikit-learn for training metrics only.
        for n in ("sklearn", "sklearn.metrics"):
            mod = types.ModuleType(n)
            mod.__spec__ = importlib.machinery.ModuleSpec(n, None)
            sys.modules[n] = mod
        sys.modules["sklearn"].metrics = sys.modules["sklearn.metrics"]
    util = importlib.import_module("utilities.util")
    lif = util.MultiStepLIFNode
    # get_act() asks for the CUDA-only 'cupy' backend; the CPU runs spikingjelly's torch backend.
    util.MultiStepLIFNode = lambda **kw: lif(**{**kw, "backend": "torch"})
    lmu_rnn = importlib.import_module("lmu_rnn")
    functional = importlib.import_module("spikingjelly.clock_driven.functional")
    return lmu_rnn, functional


def official_model(official, variant):
    import torch
    lmu_rnn, _ = official
    model = getattr(lmu_rnn, variant)(**{k: v for k, v in kwargs(variant).items() if k != "model"}).eval()
    sd = model.state_dict()
    # The model's own A and B (scipy's discretisation) go into the checkpoint both sides run.
    a, b = sd["block.0.attn.lmu.A"].numpy(), sd["block.0.attn.lmu.B"].numpy()
    weights = state_dict(variant, lmu=(a, b))
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    assert not unexpected, unexpected
    assert all(k.endswith(("num_batches_tracked", ".H", "fft_H")) for k in missing), missing
    return model, weights


def torch_clip_ms(official, model, x, threads, runs):
    import torch
    _, functional = official
    torch.set_num_threads(threads)
    xt = torch.from_numpy(x)
    times = []
    with torch.no_grad():
        for i in range(5 + runs):
            functional.reset_net(model)  # every clip starts from zero membranes (official eval loop)
            t0 = time.perf_counter()
            model(xt)
            if i >= 5:
                times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def torch_worker(args):
    """Child process: builds the official model, writes the shared checkpoint, times PyTorch. Run
    apart so that PyTorch's worker threads (which spin after each call) are gone while Swiftlet runs."""
    official = load_official(args.official)
    model, weights = official_model(official, args.variant)
    write_safetensors(args.checkpoint, weights)
    clip = np.load(args.clip)
    out = {}
    for threads in (1, 2):
        out[f"torch_clip_ms_{threads}t"] = statistics.median(
            torch_clip_ms(official, model, clip, threads, args.runs) for _ in range(args.repeat))
    print(json.dumps(out))


def torch_available(path):
    if not path:
        print("no --official checkout given: PyTorch columns skipped", file=sys.stderr)
        return False
    try:
        importlib.import_module("torch")
    except ImportError:
        print("torch is not importable: PyTorch columns skipped", file=sys.stderr)
        return False
    return True


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--swiftlet", default=None, help="the swiftlet CLI (default: build/bin/swiftlet)")
    ap.add_argument("--official", default=None, help="LMUFormer checkout (or its src/) for the PyTorch columns")
    ap.add_argument("--runs", type=int, default=50, help="timed whole-clip runs per measurement")
    ap.add_argument("--repeat", type=int, default=5, help="measurements per figure; the table shows their median")
    ap.add_argument("--stream-clips", type=int, default=100,
                    help="clips streamed back to back per measurement (long enough to amortise one-time set-up)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--workdir", default=None, help="where to write checkpoints and models (default: a temp dir)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--no-stream", action="store_true", help="whole clips only")
    ap.add_argument("--dtypes", default="f32",
                    help="weight storages (`swiftlet convert --dtype`), comma-separated: f32, f16, bf16, q8; "
                         "their measurements are interleaved within each repetition")
    ap.add_argument("--chunks", default=",".join(map(str, CHUNKS)), help="stream chunk sizes")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--checkpoint", help=argparse.SUPPRESS)
    ap.add_argument("--clip", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        torch_worker(args)
        return

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = args.swiftlet or os.path.join(root, "build", "bin", "swiftlet")
    if not os.access(exe, os.X_OK):
        sys.exit(f"{exe}: not found; run `make` first or pass --swiftlet")
    work = args.workdir or tempfile.mkdtemp(prefix="lmuformer-bench-")
    os.makedirs(work, exist_ok=True)
    with_torch = torch_available(args.official)

    rng = np.random.default_rng(99)
    clip = rng.uniform(-1.2, 1.2, (1, T, F)).astype(np.float32)   # normalised fbank features
    clip_path = os.path.join(work, "clip.npy")
    np.save(clip_path, clip)
    long = rng.uniform(-1.2, 1.2, (args.stream_clips * T, F)).astype(np.float32)
    long_path = os.path.join(work, "stream.npy")
    np.save(long_path, long)

    results = {}
    chunks = [] if args.no_stream else [int(c) for c in args.chunks.split(",")]
    for variant in args.variants.split(","):
        print(f"== {variant}", file=sys.stderr)
        ckpt = os.path.join(work, f"{variant}.safetensors")
        cfg = os.path.join(work, f"{variant}.json")
        swl = os.path.join(work, f"{variant}.swl")
        r = {}
        if with_torch:
            out = run([sys.executable, os.path.abspath(__file__), "--torch-worker", "--official", args.official,
                       "--variant", variant, "--checkpoint", ckpt, "--clip", clip_path,
                       "--runs", str(args.runs), "--repeat", str(args.repeat)])
            r.update(json.loads(next(l for l in out.splitlines() if l.startswith('{"torch_clip'))))
        else:
            write_safetensors(ckpt, state_dict(variant))
        with open(cfg, "w") as f:
            json.dump(kwargs(variant), f)
        dtypes = args.dtypes.split(",")
        models = {}
        for dt in dtypes:
            models[dt] = swl if dt == "f32" else os.path.join(work, f"{variant}-{dt}.swl")
            run([exe, "convert", "--family", "lmuformer", "--config", cfg, "--checkpoint", ckpt, "--output",
                 models[dt], "--dtype", dt, "--force", "--quiet"])
        clips = {(dt, t): [] for dt in dtypes for t in (1, 2)}
        streams = {(dt, c): [] for dt in dtypes for c in chunks}
        for _ in range(args.repeat):
            for dt in dtypes:
                for threads in (1, 2):
                    clips[(dt, threads)].append(swiftlet_clip_ms(exe, models[dt], clip_path, threads, args.runs))
                for chunk in chunks:
                    streams[(dt, chunk)].append(
                        swiftlet_stream_us(exe, models[dt], long_path, chunk, os.path.join(work, "steps.npy")))
        for dt in dtypes:
            rd = dict(r) if dt == dtypes[0] else {}
            for threads in (1, 2):
                rd[f"swiftlet_clip_ms_{threads}t"] = statistics.median(m for m, _ in clips[(dt, threads)])
                rd[f"swiftlet_clip_min_ms_{threads}t"] = min(b for _, b in clips[(dt, threads)])
            for chunk in chunks:
                rd[f"swiftlet_stream_us_chunk{chunk}"] = statistics.median(m for m, _ in streams[(dt, chunk)])
                rd[f"swiftlet_stream_p50_us_chunk{chunk}"] = statistics.median(p for _, p in streams[(dt, chunk)])
            rd["file_bytes"] = os.path.getsize(models[dt])
            results[variant if dt == "f32" and len(dtypes) == 1 else f"{variant} {dt}"] = rd
            print(json.dumps(rd), file=sys.stderr)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    have_torch = any("torch_clip_ms_1t" in r for r in results.values())
    print("\nWhole 1.28 s clip, batch 1 (median ms; Swiftlet's best run in brackets)\n")
    head = "| model | Swiftlet 1 thread | Swiftlet 2 threads |"
    rule = "|---|---:|---:|"
    if have_torch:
        head += " PyTorch eager 1 thread | PyTorch eager 2 threads | speed-up, 2 threads |"
        rule += "---:|---:|---:|"
    print(head)
    print(rule)
    for v, r in results.items():
        row = (f"| {v} | {r['swiftlet_clip_ms_1t']:.2f} ({r['swiftlet_clip_min_ms_1t']:.2f}) |"
               f" {r['swiftlet_clip_ms_2t']:.2f} ({r['swiftlet_clip_min_ms_2t']:.2f}) |")
        if have_torch and "torch_clip_ms_1t" in r:
            row += (f" {r['torch_clip_ms_1t']:.2f} | {r['torch_clip_ms_2t']:.2f} |"
                    f" {r['torch_clip_ms_2t'] / r['swiftlet_clip_ms_2t']:.1f}× |")
        elif have_torch:
            row += " | | |"
        print(row)
    if args.no_stream:
        return
    print(f"\nStreaming, 1 thread: µs per 10 ms frame ({args.stream_clips} clips back to back): the mean over "
          "the run (× real time) / the median push per frame (the mean also holds time spent preempted)\n")
    print("| model | " + " | ".join(f"chunk {c}" for c in chunks) + " |")
    print("|---|" + "---:|" * len(chunks))
    for v, r in results.items():
        cells = [f"{r[f'swiftlet_stream_us_chunk{c}']:.1f} ({10000 / r[f'swiftlet_stream_us_chunk{c}']:.0f}×)"
                 f" / {r[f'swiftlet_stream_p50_us_chunk{c}']:.1f}" for c in chunks]
        print(f"| {v} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
