#!/usr/bin/env python3
"""LoopFormer benchmark: Swiftlet beside PyTorch eager running the official code.

Builds a random-weight LoopFormer of the issue's shape (d=1024, 3 blocks, 16 heads, MLP 5120,
vocab 50304, 1024 positions) as a .safetensors checkpoint (NumPy only), converts it with the
swiftlet CLI to float32 and to a compact weight type (--compact-dtype), and times

  * prefill of a 128-token prompt (the official forward computes the LM head of the last position
    only; Swiftlet's prefill likewise defers the other rows until they are read), and
  * one decode step at 128 tokens of context: Swiftlet through its K/V cache, PyTorch as the
    forward of a single token (the official sampler has no cache and recomputes the context);

at 1, 2, 4 and 8 loop steps (trajectories 1/L each) on 1 and 2 threads. Each configuration is timed
on every runtime back to back (--reps prefills and --decode-tokens decode steps after a warm-up), the
whole sweep is repeated --rounds times, and every figure is the median of all its samples: on a
shared machine a change of load then hits all columns alike. PyTorch runs in a worker process (so its
OpenMP threads never share a process with Swiftlet's), only when `torch` imports and --official points
at a checkout of armenjeddi/loopformer; otherwise only Swiftlet's columns are printed.

Swiftlet is timed through the Python bindings (Bindings/python, over libswiftlet.so) when they load,
else through `swiftlet generate` (one cold prefill per process; per-token decode times).

  python3 Benchmarks/loopformer/bench.py --official /path/to/loopformer [--threads 1,2] [--loops 1,2,4,8]
"""

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import time

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = {
    "model_type": "loopformer", "block_size": 1024, "vocab_size": 50304, "n_layer": 3, "n_head": 16,
    "n_embd": 1024, "dropout": 0.0, "bias": False, "intermediate_dim": 5120, "max_model_loops": 8,
}


# ---- checkpoint ------------------------------------------------------------------------------------

def checkpoint_shapes(cfg):
    C, I, V = cfg["n_embd"], cfg["intermediate_dim"], cfg["vocab_size"]
    shapes = {
        "transformer.wte.weight": (V, C),          # tied: lm_head.weight is the same tensor
        "transformer.wpe.weight": (cfg["block_size"], C),
        "transformer.norm_f.weight": (C,),
    }
    for e in ("time_embedder", "dt_embedder"):
        shapes.update({f"{e}.mlp.0.weight": (C, 256), f"{e}.mlp.0.bias": (C,),
                       f"{e}.mlp.2.weight": (C, C), f"{e}.mlp.2.bias": (C,)})
    for i in range(cfg["n_layer"]):
        b = f"transformer.h.blocks.{i}."
        shapes.update({b + "attn.c_attn.weight": (3 * C, C), b + "attn.c_proj.weight": (C, C),
                       b + "mlp.c_fc.weight": (I, C), b + "mlp.c_proj.weight": (C, I),
                       b + "adaLN_modulation.1.weight": (4 * C, C), b + "adaLN_modulation.1.bias": (4 * C,)})
    return shapes


def write_checkpoint(path, cfg, seed=0):
    """Random weights (N(0, 0.02²), norm gain 1) as float32 safetensors."""
    rng = np.random.default_rng(seed)
    shapes = checkpoint_shapes(cfg)
    header, offset = {}, 0
    for name, shape in shapes.items():
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name, shape in shapes.items():
            if name.endswith("norm_f.weight"):
                a = np.ones(shape, np.float32)
            else:
                a = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype("<f4")
            f.write(a.tobytes())
    os.replace(tmp, path)


def read_checkpoint(path):
    """name -> float32 array, from a safetensors file written above."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"])
    return out


# ---- Swiftlet ----------------------------------------------------------------------------------------

def find_cli(explicit):
    for c in [explicit, os.path.join(REPO, "build", "bin", "swiftlet"), shutil.which("swiftlet")]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    sys.exit("no swiftlet CLI: run `make` or pass --swiftlet PATH")


def convert(cli, cfg_path, ckpt, out, dtype):
    """Converts (unless done before); returns the dtype written, or None if the CLI refused it."""
    if os.path.exists(out):
        return dtype
    r = subprocess.run([cli, "convert", "--family", "loopformer", "--config", cfg_path, "--checkpoint", ckpt,
                        "--output", out, "--dtype", dtype, "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"note: swiftlet convert --dtype {dtype} failed: {r.stderr.strip()}", file=sys.stderr)
        return None
    return dtype


def load_bindings(library):
    if library:
        os.environ["SWIFTLET_LIBRARY"] = library
    elif "SWIFTLET_LIBRARY" not in os.environ:
        built = os.path.join(REPO, "build", "lib", "libswiftlet.so")
        if os.path.exists(built):
            os.environ["SWIFTLET_LIBRARY"] = built
    sys.path.insert(0, os.path.join(REPO, "Bindings", "python", "src"))
    try:
        import swiftlet
        return swiftlet
    except Exception as e:  # ImportError listing where it looked, or a ctypes error
        print(f"note: Python bindings unavailable ({str(e).splitlines()[0]}); timing through `swiftlet generate`",
              file=sys.stderr)
        return None


def prompt_ids(n, vocab):
    return [(i * 7919 + 13) % vocab for i in range(n)]


class SwiftletBindings:
    """Times through the bindings: one session per (model, thread count), wall-clock per call."""

    def __init__(self, sw, paths, args):
        self.sw, self.args = sw, args
        self.models = {d: sw.Model(p) for d, p in paths.items()}
        self.sessions = {}
        self.ids = prompt_ids(args.prompt, CONFIG["vocab_size"])

    def measure(self, dtype, threads, loops):
        """Lists of prefill and decode times (ms)."""
        key = (dtype, threads)
        if key not in self.sessions:
            self.sessions[key] = self.models[dtype].session(threads=threads)
        s, budget = self.sessions[key], self.sw.Budget(loops=loops)
        s.prefill(self.ids, budget)                       # warm-up: pages, modulations, cache
        pre = []
        for _ in range(self.args.reps):
            t = time.perf_counter()
            s.prefill(self.ids, budget)
            pre.append((time.perf_counter() - t) * 1e3)
        dec = []
        for i in range(self.args.decode_tokens):
            t = time.perf_counter()
            s.decode(self.ids[i % len(self.ids)])
            dec.append((time.perf_counter() - t) * 1e3)
        return pre, dec


    def deviations(self, loops_list):
        """Each compact model's prompt logits (all 128 rows, 1 thread) against the f32 model's:
        max |diff| over the largest |f32 logit|, and the share of rows with the same argmax."""
        lines = []
        for loops in loops_list:
            budget = self.sw.Budget(loops=loops)
            s = self.models["f32"].session(threads=1)
            s.prefill(self.ids, budget)
            ref = np.asarray(s.logits(), dtype=np.float64)
            for d, m in self.models.items():
                if d == "f32":
                    continue
                c = m.session(threads=1)
                c.prefill(self.ids, budget)
                got = np.asarray(c.logits(), dtype=np.float64)
                dev = np.abs(got - ref).max() / np.abs(ref).max()
                agree = (got.argmax(axis=1) == ref.argmax(axis=1)).mean()
                lines.append(f"logits {d} vs f32, L={loops}: max |diff| / max |logit| {dev:.2e}, "
                             f"argmax agreement {100 * agree:.1f} % of {len(ref)} positions")
        return lines


class SwiftletCLI:
    """Fallback: `swiftlet generate` (its one prefill per process is cold; per-token decode times)."""

    def __init__(self, cli, paths, args):
        self.cli, self.paths, self.args = cli, paths, args
        self.ids = ",".join(map(str, prompt_ids(args.prompt, CONFIG["vocab_size"])))

    def measure(self, dtype, threads, loops):
        r = subprocess.run([self.cli, "generate", self.paths[dtype], "--prompt-ids", self.ids, "--max-tokens",
                            str(self.args.decode_tokens + 1), "--loops", str(loops), "--threads", str(threads)],
                           capture_output=True, text=True, check=True)
        m = re.search(r"prefill \d+ tokens: .*?([\d.]+) µs", r.stderr)
        pre = [float(m.group(1)) / 1e3] if m else []
        dec = [float(x) / 1e3 for x in re.findall(r"^\d+\t([\d.]+) µs$", r.stdout, re.M)]
        return pre, dec


# ---- PyTorch (a worker process) ----------------------------------------------------------------------

def torch_worker(args):
    """Loads the official model once, then answers `threads loops` lines with JSON timings (ms)."""
    import torch
    sys.path.insert(0, args.official)
    from models.loopformer import GPT, GPTConfig
    cfg = {k: v for k, v in CONFIG.items() if k != "max_model_loops"}
    with contextlib.redirect_stdout(io.StringIO()):       # the constructor prints the parameter count
        model = GPT(GPTConfig(**cfg))
    sd = {k: torch.from_numpy(np.array(v)) for k, v in read_checkpoint(args.checkpoint).items()}
    sd["lm_head.weight"] = sd["transformer.wte.weight"]   # tied
    model.load_state_dict(sd, strict=True)
    model.eval()
    ids = torch.tensor([prompt_ids(args.prompt, CONFIG["vocab_size"])], dtype=torch.long)
    one = ids[:, :1]

    def timed(f, n):
        f()
        xs = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            xs.append((time.perf_counter() - t) * 1e3)
        return xs

    print(json.dumps({"ready": torch.__version__}), flush=True)
    with torch.inference_mode():
        for line in sys.stdin:
            threads, loops = map(int, line.split())
            torch.set_num_threads(threads)
            steps = [1.0 / loops] * loops
            pre = timed(lambda: model(ids, steps=steps), args.reps)
            dec = timed(lambda: model(one, steps=steps), args.decode_tokens)
            print(json.dumps({"prefill": pre, "decode": dec}), flush=True)


class TorchPeer:
    def __init__(self, args):
        self.proc, self.note = None, "no --official checkout: PyTorch not run"
        if not args.official:
            return
        cmd = [args.python or sys.executable, os.path.abspath(__file__), "--torch-worker", "--official", args.official,
               "--checkpoint", args.checkpoint, "--reps", str(args.reps), "--decode-tokens", str(args.decode_tokens),
               "--prompt", str(args.prompt)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().strip().splitlines()
            self.note = "torch not importable: PyTorch not run" if "No module named 'torch'" in "\n".join(err) \
                else f"PyTorch worker failed: {err[-1] if err else '?'}"
            self.proc = None
            return
        self.note = f"PyTorch {json.loads(line)['ready']} eager, official models/loopformer.py"

    def measure(self, threads, loops):
        if not self.proc:
            return None
        self.proc.stdin.write(f"{threads} {loops}\n")
        self.proc.stdin.flush()
        r = json.loads(self.proc.stdout.readline())
        return r["prefill"], r["decode"]

    def close(self):
        if self.proc:
            self.proc.stdin.close()
            self.proc.wait()


# ---- main ------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", help="local checkout of armenjeddi/loopformer (enables the PyTorch column)")
    p.add_argument("--python", help="Python with torch for the PyTorch column (default: this one)")
    p.add_argument("--swiftlet", help="swiftlet CLI (default: build/bin/swiftlet, then PATH)")
    p.add_argument("--library", help="libswiftlet.so for the bindings (default: build/lib/libswiftlet.so)")
    p.add_argument("--workdir", default="/tmp/swiftlet-bench-loopformer", help="checkpoint and .swl files (reused)")
    p.add_argument("--compact-dtype", default="q8",
                   help="compact weight types to convert to, comma-separated (q8, f16, bf16; none: f32 only)")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--loops", default="1,2,4,8")
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--decode-tokens", type=int, default=16)
    p.add_argument("--reps", type=int, default=5, help="timed calls per configuration and round")
    p.add_argument("--rounds", type=int, default=2, help="sweeps over all configurations")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.loops = [int(x) for x in str(args.loops).split(",")]
    if args.torch_worker:
        return torch_worker(args)
    threads_list = [int(x) for x in args.threads.split(",")]

    os.makedirs(args.workdir, exist_ok=True)
    args.checkpoint = os.path.join(args.workdir, "loopformer-d1024.safetensors")
    cfg_path = os.path.join(args.workdir, "config.json")
    if not os.path.exists(args.checkpoint):
        print("writing the random checkpoint ...", file=sys.stderr)
        write_checkpoint(args.checkpoint, CONFIG)
    with open(cfg_path, "w") as f:
        json.dump(CONFIG, f)
    cli = find_cli(args.swiftlet)
    models = {}
    wanted = ["f32"] + ([] if args.compact_dtype == "none" else args.compact_dtype.split(","))
    for dtype in wanted:
        path = os.path.join(args.workdir, f"loopformer-d1024-{dtype}.swl")
        if convert(cli, cfg_path, args.checkpoint, path, dtype):
            models[dtype] = path
        elif dtype == "q8":
            # A CLI whose --dtype does not take q8 yet: the next most compact type.
            path = os.path.join(args.workdir, "loopformer-d1024-f16.swl")
            if convert(cli, cfg_path, args.checkpoint, path, "f16"):
                models["f16"] = path
    sw = load_bindings(args.library)
    swiftlet = SwiftletBindings(sw, models, args) if sw else SwiftletCLI(cli, models, args)
    peer = TorchPeer(args)

    # Rounds of the whole sweep, each configuration timed back to back on every runtime, so that a
    # change in the load of a shared machine hits all columns alike; medians over all samples.
    samples = {}
    for _ in range(args.rounds):
        for t in threads_list:
            for L in args.loops:
                for d in models:
                    pre, dec = swiftlet.measure(d, t, L)
                    samples.setdefault((t, L, d), ([], []))[0].extend(pre)
                    samples[(t, L, d)][1].extend(dec)
                pt = peer.measure(t, L)
                if pt:
                    samples.setdefault((t, L, "torch"), ([], []))[0].extend(pt[0])
                    samples[(t, L, "torch")][1].extend(pt[1])
    peer.close()
    med = {k: (statistics.median(v[0]) if v[0] else float("nan"), statistics.median(v[1]) if v[1] else float("nan"))
           for k, v in samples.items()}
    rows = [(t, L, {d: med[(t, L, d)] for d in models}, med.get((t, L, "torch"))) for t in threads_list for L in args.loops]
    notes = [peer.note]

    dtypes = list(models)
    # Speed-ups are PyTorch's time over Swiftlet's (above 1: Swiftlet faster).
    head = ["threads", "loops"] + [f"prefill {d}" for d in dtypes] + ["prefill torch"] \
        + [f"x {d}" for d in dtypes] + [f"decode {d}" for d in dtypes] + ["1-token torch"] + [f"x {d}" for d in dtypes]
    table = [head]
    for t, L, sw_times, pt in rows:
        line = [str(t), str(L)] + [f"{sw_times[d][0]:.1f}" for d in dtypes]
        line += [f"{pt[0]:.1f}"] + [f"{pt[0] / sw_times[d][0]:.2f}" for d in dtypes] if pt else ["-"] * (1 + len(dtypes))
        line += [f"{sw_times[d][1]:.2f}" for d in dtypes]
        line += [f"{pt[1]:.1f}"] + [f"{pt[1] / sw_times[d][1]:.2f}" for d in dtypes] if pt else ["-"] * (1 + len(dtypes))
        table.append(line)
    print(f"LoopFormer d=1024, 3 blocks, 16 heads, MLP 5120, vocab 50304; prompt {args.prompt} tokens; "
          f"decode = steps after the prompt; ms, medians of {args.rounds} rounds x {args.reps} prefills / "
          f"{args.decode_tokens} decode steps; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; peer: {'; '.join(notes)}")
    if isinstance(swiftlet, SwiftletBindings):
        for line in swiftlet.deviations([min(args.loops), max(args.loops)]):
            print(line)
    if args.markdown:
        print("| " + " | ".join(table[0]) + " |")
        print("|" + "---|" * len(table[0]))
        for r in table[1:]:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        for r in table:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
