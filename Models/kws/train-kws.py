#!/usr/bin/env python3
"""Trains a small streaming keyword model — the official LMUFormer `lmu_rnn_conv1d` — on words spoken by
espeak-ng, and writes it as a test fixture that `swiftlet stream --detect` can use.

    /opt/bench-venv/bin/python Models/kws/train-kws.py --official /path/to/LMUFormer \\
        [--out Tests/Fixtures/kws-detect] [--steps 1500] [--dim 64]

Needs: espeak-ng and sox (Debian packages), and in Python torch, numpy, and what the official code
imports (timm, scipy, spikingjelly 0.0.0.0.14 — the plain model builds no spiking neuron, but the
module imports it). `--official` is a checkout of https://github.com/zeyuliu1037/LMUFormer (or its
src/ folder); nothing from it is copied into this repository.

What it does:
 1. Synthesises each keyword (yes no up down left right on off stop go) and ~40 other words (the
    `_unknown_` class) with espeak-ng over voices × variants × speeds × pitches, resampled to 16 kHz
    (cached in --cache). Two voice variants are held out for validation and the test sentence.
 2. Composes 4 s training streams: one to four words at random gaps over silence (digital zero or
    low noise), random gains.
 3. Features: the Kaldi fbank of the official data loader (128 mel bins, 25/10 ms, Hann, htk_compat),
    reimplemented here in torch and checked against Tests/Fixtures/fbank-test; normalised with the
    official Speech Commands statistics — exactly what Swiftlet's PCM streams compute.
 4. Model: the official `lmu_rnn_conv1d(in_channels=128, embed_dims=--dim, depths=1, mlp_ratios=2,
    num_classes=12)`. The official forward averages the head over time; a streaming detector needs a
    prediction per frame, so training takes `model.head` of every frame of
    `model.forward_features(x)` (the official modules, unchanged) with a per-frame cross entropy:
    frames from the middle of a word to 0.2 s after its end carry the word's class, the word's first
    half is not scored, everything else is `_silence_`. The official LMU cell's FFT form is built for
    128-step inputs; for the 400-frame streams its forward is replaced *at training time only* by the
    same convolution with the impulse response A^t·B extended to the input length — what the
    cell's recurrent form (and Swiftlet's stream) computes. The state dict keeps the official names
    and buffers (H and fft_H for 128 steps).
 5. Writes checkpoint.safetensors, config.json (`target_frames: 0`: a continuous stream, not a clip),
    labels.txt, and sentence.wav + sentence.json: "yes … stop … go" spoken by a held-out voice with
    pauses, and where each word is, for the detection test.

Class order follows Speech Commands: _silence_, _unknown_, yes, no, up, down, left, right, on, off,
stop, go. The `trained models` issue extends this script for a larger kws.swl: raise --dim, --steps,
and add voices or real recordings to `corpus()`.
"""
import argparse
import concurrent.futures
import importlib
import importlib.machinery
import json
import math
import os
import struct
import subprocess
import sys
import time
import types

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import safetensors_np  # noqa: E402

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
LABELS = ["_silence_", "_unknown_"] + KEYWORDS
UNKNOWN = ["bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "one", "two",
           "three", "four", "five", "six", "seven", "eight", "nine", "zero", "learn", "follow", "forward",
           "backward", "visual", "hello", "the", "and", "please", "turn", "light", "now", "yellow", "note",
           "door", "left-hand", "goat", "stoop", "yet", "of"]
VOICES = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan",
          "en-gb-x-gbcwmd"]
VARIANTS = ["", "m1", "m2", "m3", "m5", "m6", "m7", "f1", "f2", "f3", "f5", "klatt", "klatt2"]
HELD_OUT = ["m4", "f4"]  # never in training: validation and the test sentence
RATE = 16000
SHIFT, WIN = 160, 400
MEAN, STD = -6.845978, 5.5654526
SECONDS = 4.0


# ------------------------------------------------------------------------------------------------
# Speech


def speak(text, voice, speed, pitch, gap=0):
    """espeak-ng → 16 kHz mono int16."""
    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout"]
    if gap:
        cmd += ["-g", str(gap)]
    wav = subprocess.run(cmd + [text], check=True, capture_output=True).stdout
    raw = subprocess.run(["sox", "-t", "wav", "-", "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed",
                          "-t", "raw", "-"], input=wav, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768


def trim(x, rel=0.03):
    """The spoken part: from the first to the last sample above rel × the peak."""
    idx = np.nonzero(np.abs(x) > rel * np.abs(x).max())[0]
    return x[idx[0]:idx[-1] + 1] if len(idx) else x


def corpus(cache, variants, per_word, seed):
    """{class index: [utterances]} for every keyword and unknown word, cached as .npz."""
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=True)
        return z["data"].item()
    rng = np.random.default_rng(seed)
    jobs = []
    for label, words in [(LABELS.index(k), [k]) for k in KEYWORDS] + [(1, UNKNOWN)]:
        n = per_word if label != 1 else max(per_word // 4, 4)
        for w in words:
            for _ in range(n):
                v = VOICES[rng.integers(len(VOICES))]
                var = variants[rng.integers(len(variants))]
                jobs.append((label, w, v + ("+" + var if var else ""), int(rng.integers(110, 230)),
                             int(rng.integers(20, 80))))
    data = {}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for (label, *_), x in zip(jobs, pool.map(lambda j: trim(speak(*j[1:])), jobs)):
            data.setdefault(label, []).append(x)
    os.makedirs(os.path.dirname(cache) or ".", exist_ok=True)
    np.savez(cache, data=np.array(data, dtype=object))
    return data


CLIP_FRAMES = 128  # the official Speech Commands clip: 1.28 s
CLIP_SAMPLES = WIN + (CLIP_FRAMES - 1) * SHIFT


def background(rng, n):
    if rng.random() < 0.25:
        return np.zeros(n, np.float32)
    x = (rng.normal(0, 1, n) * 10 ** rng.uniform(-4.5, -2.3)).astype(np.float32)
    if rng.random() < 0.3:  # brown-ish noise
        x = np.cumsum(x) * 0.05
        x -= np.convolve(x, np.ones(801) / 801, mode="same")
    return x.astype(np.float32)


def one_word_clip(data, rng):
    """A 1.28 s clip (128 frames, the official shape) holding one word at a random place, or nothing
    (_silence_); returns samples and the class."""
    x = background(rng, CLIP_SAMPLES)
    r = rng.random()
    label = 0 if r < 0.08 else 1 if r < 0.2 else int(rng.integers(2, len(LABELS)))
    if label:
        u = data[label][rng.integers(len(data[label]))] * 10 ** rng.uniform(-1.2, 0.1)
        u = u[:CLIP_SAMPLES - 800]
        pos = int(rng.integers(400, CLIP_SAMPLES - len(u) - 399))
        x[pos:pos + len(u)] += u
    return np.clip(x, -1, 1), label


def compose(data, rng, seconds=SECONDS):
    """A stream of words over background; returns samples and [(class, start, end)] in samples."""
    n = int(seconds * RATE)
    if rng.random() < 0.25:
        x = np.zeros(n, np.float32)
    else:
        x = (rng.normal(0, 1, n) * 10 ** rng.uniform(-4.5, -2.3)).astype(np.float32)
        if rng.random() < 0.3:  # brown-ish noise
            x = np.cumsum(x) * 0.05
            x -= np.convolve(x, np.ones(801) / 801, mode="same")
            x = x.astype(np.float32)
    words = []
    pos = int(rng.uniform(0.05, 0.8) * RATE)
    for _ in range(int(rng.integers(1, 5))):
        label = 1 if rng.random() < 0.2 else int(rng.integers(2, len(LABELS)))
        u = data[label][rng.integers(len(data[label]))] * 10 ** rng.uniform(-1.2, 0.1)
        if pos + len(u) > n:
            break
        x[pos:pos + len(u)] += u
        words.append((label, pos, pos + len(u)))
        pos += len(u) + int(rng.uniform(0.15, 1.0) * RATE)
    return np.clip(x, -1, 1), words


def targets(words, frames):
    """Per-frame classes: the word from its middle to 0.2 s after its end, -100 (unscored) in its first
    half, _silence_ elsewhere."""
    y = np.zeros(frames, np.int64)
    centre = np.arange(frames) * SHIFT + WIN // 2
    for label, s, e in words:
        y[(centre >= s - 0.05 * RATE) & (centre < s + 0.5 * (e - s))] = -100
        y[(centre >= s + 0.5 * (e - s)) & (centre < e + 0.2 * RATE)] = label
    return y


# ------------------------------------------------------------------------------------------------
# Features: torchaudio.compliance.kaldi.fbank as the official loader calls it


def mel_banks(torch, bins=128, fft=512, low=20.0, high=RATE / 2):
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)
    lo, hi = mel(low), mel(high)
    delta = (hi - lo) / (bins + 1)
    b = np.arange(bins)[:, None]
    left, centre, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
    m = mel(RATE / fft * np.arange(fft // 2))[None, :]
    w = np.maximum(0, np.minimum((m - left) / (centre - left), (right - m) / (right - centre)))
    w = np.concatenate([w, np.zeros((bins, 1))], axis=1)  # the Nyquist bin
    return torch.tensor(w.T, dtype=torch.float64)


def fbank(torch, x, banks):
    """x [B, samples] float (int16 / 32768) → log-mel [B, frames, 128], float32."""
    x = x.to(torch.float64)
    frames = x.unfold(-1, WIN, SHIFT)
    frames = frames - frames.mean(-1, keepdim=True)
    prev = torch.cat([frames[..., :1], frames[..., :-1]], -1)
    frames = frames - 0.97 * prev
    frames = frames * torch.hann_window(WIN, periodic=False, dtype=torch.float64)
    spec = torch.fft.rfft(frames, n=512).abs() ** 2
    e = spec @ banks
    return torch.log(torch.clamp(e, min=float(np.finfo(np.float32).eps))).to(torch.float32)


def normalise(f):
    return (f - MEAN) / (2 * STD)


# ------------------------------------------------------------------------------------------------
# The official model


_lif_code = None


def fast_lif():
    global _lif_code
    if _lif_code is None:
        import torch

        @torch.jit.script
        def lif_forward(x, tau: float, vth: float):
            v = torch.zeros_like(x[0])
            hs = torch.empty_like(x)
            ss = torch.empty_like(x)
            for t in range(x.shape[0]):
                h = v + (x[t] - v) / tau
                s = (h >= vth).to(x.dtype)
                v = h * (1.0 - s)
                hs[t] = h
                ss[t] = s
            return ss, hs

        @torch.jit.script
        def lif_backward(grad_s, hs, ss, tau: float, vth: float):
            gx = torch.empty_like(grad_s)
            gv = torch.zeros_like(grad_s[0])
            for i in range(grad_s.shape[0]):
                t = grad_s.shape[0] - 1 - i
                sg = torch.sigmoid(4.0 * (hs[t] - vth))
                gh = grad_s[t] * 4.0 * sg * (1.0 - sg) + gv * (1.0 - ss[t])
                gx[t] = gh / tau
                gv = gh * (1.0 - 1.0 / tau)
            return gx

        class Fn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, tau, vth):
                s, h = lif_forward(x, tau, vth)
                ctx.save_for_backward(h, s)
                ctx.tau, ctx.vth = tau, vth
                return s

            @staticmethod
            def backward(ctx, g):
                h, s = ctx.saved_tensors
                return lif_backward(g.contiguous(), h, s, ctx.tau, ctx.vth), None, None

        _lif_code = Fn
    return _lif_code


class FastLIF:
    @staticmethod
    def apply(x, tau, vth):
        return fast_lif().apply(x, tau, vth)


def load_official(path):
    src = path if os.path.exists(os.path.join(path, "lmu_rnn.py")) else os.path.join(path, "src")
    if not os.path.exists(os.path.join(src, "lmu_rnn.py")):
        sys.exit(f"{path}: no lmu_rnn.py (give the LMUFormer checkout or its src/ folder)")
    sys.path.insert(0, src)
    from spikingjelly.clock_driven import neuron
    if not getattr(neuron.MultiStepLIFNode, "_cpu", False):
        class CPULIF(neuron.MultiStepLIFNode):  # the official get_act asks for backend='cupy' (GPU only)
            _cpu = True

            def __init__(self, *a, **k):
                k["backend"] = "torch"
                super().__init__(*a, **k)

            def forward(self, x_seq):
                """Training-time speed-up, the same numbers as spikingjelly's torch backend for a neuron
                that starts from a zero membrane (hard reset to 0, decay_input, detach_reset, sigmoid
                surrogate alpha 4): the loop over time in TorchScript, backward written out."""
                assert self.v_reset == 0.0 and self.decay_input and self.detach_reset
                return FastLIF.apply(x_seq, float(self.tau), float(self.v_threshold))
        neuron.MultiStepLIFNode = CPULIF
    try:
        importlib.import_module("sklearn.metrics")
    except ImportError:  # utilities/stats.py imports scikit-learn for metrics only
        for n in ("sklearn", "sklearn.metrics"):
            mod = types.ModuleType(n)
            mod.__spec__ = importlib.machinery.ModuleSpec(n, None)
            sys.modules[n] = mod
        sys.modules["sklearn"].metrics = sys.modules["sklearn.metrics"]
    return importlib.import_module("lmu_rnn"), importlib.import_module("blocks.lmu_cell")


def long_input_forward(torch, cell_class, spiking_class=None):
    """The LMU cell's FFT forward for any input length, with the impulse response A^t B extended to it."""
    official = cell_class.forward
    cache = {}

    def forward(self, x):
        n = x.shape[1]
        if n == self.seq_len:
            return official(self, x)
        fft_h = impulse(self, n)
        u = self.f_u(self.W_u(x))
        fu = torch.fft.rfft(u.permute(0, 2, 1), n=2 * n, dim=-1)
        m = torch.fft.irfft(fu * fft_h.unsqueeze(0), n=2 * n, dim=-1)[:, :, :n].permute(0, 2, 1)
        return self.f_h(self.W_h(torch.cat((m, x), dim=-1))), None

    def spiking_forward(self, x):  # SpikingLMUFFTCell.forward with the impulse response for len(x)
        n = x.shape[1]
        if n == self.seq_len:
            return spiking_official(self, x)
        fft_h = impulse(self, n)
        u = self.f_u(self.bn_u(self.W_u(x).transpose(-1, -2)).permute(2, 0, 1).contiguous()).permute(1, 0, 2)
        fu = torch.fft.rfft(u.permute(0, 2, 1), n=2 * n, dim=-1)
        m = torch.fft.irfft(fu * fft_h.unsqueeze(0), n=2 * n, dim=-1)[:, :, :n]
        m = self.f_m(self.bn_m(m).permute(2, 1, 0).contiguous()).permute(2, 1, 0).contiguous().permute(0, 2, 1)
        h = self.f_h(self.bn_h(self.W_h(torch.cat((m, x), dim=-1)).transpose(-1, -2)).permute(2, 0, 1).contiguous())
        h = h.permute(1, 0, 2).contiguous()
        return h, h[:, -1, :].unsqueeze(-1)

    def impulse(self, n):  # rfft of A^t B for t < n, per cell and length
        key = (id(self), n)
        if key not in cache:
            with torch.no_grad():
                a, b = self.A.double(), self.B.double()
                h, cur = [], b
                for _ in range(n):
                    h.append(cur)
                    cur = a @ cur
                cache[key] = torch.fft.rfft(torch.cat(h, -1).float(), n=2 * n, dim=-1)
        return cache[key]

    cell_class.forward = forward
    if spiking_class is not None:
        spiking_official = spiking_class.forward
        spiking_class.forward = spiking_forward


def reset(model):
    """Spikingjelly neurons keep their membranes between calls: every batch starts from zero."""
    from spikingjelly.clock_driven import functional
    functional.reset_net(model)


def frame_logits(model, feats):
    """[B, T, F] → per-frame logits [B, T, K]: the official modules, the head on every frame (after the
    official head BatchNorm and LIF in the spiking model)."""
    reset(model)
    x = model.forward_features(feats.unsqueeze(1))
    if model.with_head_lif:
        x = model.head_bn(x)
        x = model.head_lif(x.permute(2, 1, 0).contiguous()).permute(2, 1, 0).contiguous()
    return model.head(x.permute(0, 2, 1))


# ------------------------------------------------------------------------------------------------
# Output


def write_wav(path, x):
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
                struct.pack("<IHHIIHH", 16, 1, 1, RATE, 2 * RATE, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)


def sentence(words, voice, speed, pitch, gaps, seed):
    """Words spoken one by one and joined with pauses over low noise; returns samples and word spans."""
    rng = np.random.default_rng(seed)
    parts, spans, pos = [np.zeros(int(0.4 * RATE), np.float32)], [], int(0.4 * RATE)
    for w, gap in zip(words, gaps):
        u = trim(speak(w, voice, speed, pitch)) * 0.6
        spans.append((w, pos / RATE, (pos + len(u)) / RATE))
        parts += [u, np.zeros(int(gap * RATE), np.float32)]
        pos += len(u) + int(gap * RATE)
    x = np.concatenate(parts)
    return x + (rng.normal(0, 3e-4, len(x))).astype(np.float32), spans


def evaluate_detection(args):
    """Held-out sentences through `swiftlet stream --detect`: three to five words (keywords and unknown
    words) spoken by held-out voice variants with pauses; counts keywords found in order, missed,
    and reported where none was said."""
    import difflib
    import tempfile
    rng = np.random.default_rng(args.seed + 7)
    work = tempfile.mkdtemp(prefix="kws-eval-")
    model = f"{work}/kws.swl"
    subprocess.run([args.swiftlet, "convert", "--quiet", "--family", "lmuformer", "--config", f"{args.out}/config.json",
                    "--checkpoint", f"{args.out}/checkpoint.safetensors", "--labels", f"{args.out}/labels.txt",
                    "--output", model], check=True)
    said_total = hits = false_alarms = exact = others = 0
    for i in range(args.evaluate):
        words = [KEYWORDS[rng.integers(len(KEYWORDS))] if rng.random() < 0.8 else UNKNOWN[rng.integers(len(UNKNOWN))]
                 for _ in range(int(rng.integers(3, 6)))]
        voice = VOICES[rng.integers(len(VOICES))] + "+" + HELD_OUT[rng.integers(len(HELD_OUT))]
        x, _ = sentence(words, voice, int(rng.integers(120, 200)), int(rng.integers(30, 70)),
                        rng.uniform(0.3, 0.9, len(words)), args.seed + i)
        write_wav(f"{work}/s.wav", x)
        out = subprocess.run([args.swiftlet, "stream", model, "--wav", f"{work}/s.wav", "--detect"],
                             check=True, capture_output=True, text=True).stdout.split()
        found = out[1::3]
        said = [w for w in words if w in KEYWORDS]
        match = sum(b.size for b in difflib.SequenceMatcher(a=said, b=found).get_matching_blocks())
        said_total += len(said)
        others += len(words) - len(said)
        hits += match
        false_alarms += len(found) - match
        exact += found == said
    print(f"held-out sentences: {args.evaluate}, keywords said {said_total}, found in order {hits} "
          f"({100 * hits / max(said_total, 1):.1f} %), false alarms {false_alarms} (with {others} other words said), "
          f"sentences exactly right {exact} ({100 * exact / max(args.evaluate, 1):.0f} %)", flush=True)


def save(args, model, config, accuracy):
    """checkpoint.safetensors, config.json, labels.txt in --out (also during training: a run cut short
    leaves its last checkpoint)."""
    os.makedirs(args.out, exist_ok=True)
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    safetensors_np.write(f"{args.out}/checkpoint.safetensors", sd)
    with open(f"{args.out}/config.json", "w") as f:
        json.dump({"constructor": {**config, "audio_mean": MEAN, "audio_std": STD, "target_frames": 0},
                   "note": "trained on espeak-ng keywords by Models/kws/train-kws.py; per-frame head (see README)",
                   "steps": args.steps, "seed": args.seed, "argv": sys.argv[1:],
                   "heldout_word_frame_accuracy": round(accuracy[0], 4),
                   "heldout_clip_accuracy": round(accuracy[1], 4)}, f, indent=2)
        f.write("\n")
    with open(f"{args.out}/labels.txt", "w") as f:
        f.write("\n".join(LABELS) + "\n")


def read_safetensors(torch, path):
    return {k: torch.from_numpy(v.copy()) for k, v in safetensors_np.read(path).items()}


def measure(args, torch, model, banks, held):
    """Held-out 1.28 s clips (the official Speech Commands shape, held-out voice variants): the official
    model in eval mode (`model(x)`, the mean of the head over the 128 frames) beside Swiftlet's stream of the
    converted model (`swiftlet profile`: the stream's decision after a fraction of the frames)."""
    import tempfile
    rng = np.random.default_rng(99)  # the same test clips for every model
    xs, ys = zip(*[one_word_clip(held, rng) for _ in range(args.measure)])
    feats = normalise(fbank(torch, torch.from_numpy(np.stack(xs)), banks))
    labels = np.array(ys, np.int32)
    model.eval()
    fractions = [0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]
    preds, early = [], {f: [] for f in fractions}
    with torch.no_grad():
        for i in range(0, len(feats), 50):
            reset(model)
            preds.append(model(feats[i:i + 50]).argmax(-1))
            per_frame = frame_logits(model, feats[i:i + 50])
            running = per_frame.cumsum(1) / torch.arange(1, per_frame.shape[1] + 1).view(1, -1, 1)
            for f in fractions:
                early[f].append(running[:, math.ceil(f * CLIP_FRAMES) - 1].argmax(-1))
    torch_pred = torch.cat(preds).numpy().astype(np.int32)
    work = tempfile.mkdtemp(prefix="kws-measure-")
    np.save(f"{work}/clips.npy", feats.numpy())
    np.save(f"{work}/labels.npy", labels)
    np.save(f"{work}/torch.npy", torch_pred)
    if args.eval_set:
        os.makedirs(args.eval_set, exist_ok=True)
        np.save(f"{args.eval_set}/clips.npy", feats[:30].numpy())
        np.save(f"{args.eval_set}/labels.npy", labels[:30])
    acc = (torch_pred == labels).mean()
    print(f"{args.measure} held-out clips; PyTorch (official forward, eval mode) accuracy {acc:.4f}", flush=True)
    for f in fractions:
        print(f"  PyTorch early_fraction={f}: running mean of the head at frame {math.ceil(f * CLIP_FRAMES)}: "
              f"accuracy {(torch.cat(early[f]).numpy() == labels).mean():.4f}", flush=True)
    settings = ";".join(f"early_fraction={f}" for f in fractions[:-1])
    for dtype in args.dtypes.split(","):
        # Weight storage (`swiftlet convert --dtype`): f32 is exact; f16, bf16 and q8 are read in place.
        swl = f"{work}/model-{dtype}.swl"
        subprocess.run([args.swiftlet, "convert", "--quiet", "--family", "lmuformer", "--config",
                        f"{args.out}/config.json", "--checkpoint", f"{args.out}/checkpoint.safetensors", "--labels",
                        f"{args.out}/labels.txt", "--dtype", dtype, "--output", swl], check=True)
        for what, ref in (("Swiftlet accuracy", "labels"), ("Swiftlet agreement with PyTorch's clip decision", "torch")):
            out = subprocess.run([args.swiftlet, "profile", swl, "--output", f"{work}/profiled.swl", "--data",
                                  f"{work}/clips.npy", "--labels", f"{work}/{ref}.npy", "--settings", settings],
                                 capture_output=True, text=True)
            print(f"{what} ({dtype} weights):\n" + out.stdout + out.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", help="checkout of zeyuliu1037/LMUFormer (or its src/); needed to train")
    ap.add_argument("--out", default="Tests/Fixtures/kws-detect")
    ap.add_argument("--cache", default="/tmp/swiftlet-kws/corpus.npz")
    ap.add_argument("--per-word", type=int, default=160, help="utterances per keyword (unknown words: a quarter)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--swiftlet", help="a swiftlet binary: after training, evaluate detection with it")
    ap.add_argument("--evaluate", type=int, default=100, help="held-out sentences to evaluate (with --swiftlet)")
    ap.add_argument("--evaluate-only", action="store_true", help="evaluate the model already in --out")
    ap.add_argument("--spiking", action="store_true", help="the official slmu_rnn_ms_conv1d instead of lmu_rnn_conv1d")
    ap.add_argument("--seconds", type=float, default=SECONDS, help="length of the training streams")
    ap.add_argument("--clip-batch", type=int, default=0,
                    help="also train the official clip output (mean of the head over 128 frames) on this many "
                         "one-word 1.28 s clips per step")
    ap.add_argument("--init", help="a checkpoint.safetensors to start from")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--log-every", type=int, default=100, help="evaluate every this many steps (and save every twice as many)")
    ap.add_argument("--measure", type=int, default=0,
                    help="measure the model in --out on this many held-out 1.28 s clips in PyTorch and Swiftlet "
                         "(needs --official and --swiftlet)")
    ap.add_argument("--eval-set", help="with --measure: also write the first 30 clips here (features .npy + labels)")
    ap.add_argument("--dtypes", default="f32",
                    help="with --measure: the weight storages to convert and measure (`swiftlet convert --dtype`), "
                         "comma-separated: f32, f16, bf16, q8")
    args = ap.parse_args()
    if args.evaluate_only:
        evaluate_detection(args)
        return
    if not args.official:
        ap.error("--official is needed to train")

    import torch
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    rng = np.random.default_rng(args.seed)

    # The features must be the runtime's: check against the fbank fixture first.
    banks = mel_banks(torch)
    fx = "Tests/Fixtures/fbank-test"
    for clip in ("clip0", "clip1"):
        pcm = np.frombuffer(open(f"{fx}/{clip}.wav", "rb").read()[44:], dtype="<i2").astype(np.float32) / 32768
        mine = fbank(torch, torch.from_numpy(pcm)[None], banks)[0].numpy()
        ref = np.load(f"{fx}/{clip}_fbank_raw.npy")
        err = np.abs(mine - ref).max()
        assert mine.shape == ref.shape and err < 1e-3, (clip, mine.shape, ref.shape, err)
    print(f"fbank matches the fixture; synthesising (cache {args.cache}) ...", flush=True)

    # --measure uses the held-out voices only.
    train = {} if args.measure else corpus(args.cache, VARIANTS, args.per_word, args.seed)
    held = corpus(args.cache.replace(".npz", "-heldout.npz"), HELD_OUT, max(args.per_word // 8, 8), args.seed + 1)
    print(f"{sum(map(len, train.values()))} training and {sum(map(len, held.values()))} held-out utterances "
          f"({time.time() - t0:.0f} s)", flush=True)

    lmu_rnn, lmu_cell = load_official(args.official)
    long_input_forward(torch, lmu_cell.LMUFFTCell, lmu_cell.SpikingLMUFFTCell)
    config = {"model": "slmu_rnn_ms_conv1d" if args.spiking else "lmu_rnn_conv1d", "in_channels": 128,
              "embed_dims": args.dim, "depths": 1, "mlp_ratios": 2, "num_heads": 1, "num_classes": len(LABELS)}
    model = getattr(lmu_rnn, config["model"])(**{k: v for k, v in config.items() if k != "model"})
    if args.measure and not args.init:
        args.init = f"{args.out}/checkpoint.safetensors"
    if args.init:
        model.load_state_dict(read_safetensors(torch, args.init), strict=False)
    if args.measure:
        measure(args, torch, model, banks, held)
        return
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    weight = torch.ones(len(LABELS))
    weight[0] = 0.3  # silence frames are the majority

    def make(source, n):
        xs, ys = [], []
        for _ in range(n):
            x, words = compose(source, rng, args.seconds)
            xs.append(x)
            ys.append(targets(words, 1 + (len(x) - WIN) // SHIFT))
        feats = normalise(fbank(torch, torch.from_numpy(np.stack(xs)), banks))
        return feats, torch.from_numpy(np.stack(ys))

    val = [make(held, args.batch) for _ in range(4)]

    def make_clips(source, n):
        xs, ys = zip(*[one_word_clip(source, rng) for _ in range(n)])
        return normalise(fbank(torch, torch.from_numpy(np.stack(xs)), banks)), torch.tensor(ys)

    val_clips = [make_clips(held, 48) for _ in range(2)] if args.clip_batch else []

    def evaluate():
        model.eval()
        right = total = clip_right = clip_total = 0
        with torch.no_grad():
            for feats, y in val:
                pred = frame_logits(model, feats).argmax(-1)
                mask = y > 0  # word frames
                right += int((pred[mask] == y[mask]).sum())
                total += int(mask.sum())
            for feats, y in val_clips:
                clip_right += int((frame_logits(model, feats).mean(1).argmax(-1) == y).sum())
                clip_total += len(y)
        model.train()
        return right / max(total, 1), clip_right / max(clip_total, 1)

    model.train()
    for step in range(1, args.steps + 1):
        feats, y = make(train, args.batch)
        logits = frame_logits(model, feats)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(LABELS)), y.reshape(-1),
                                                 weight=weight, ignore_index=-100)
        if args.clip_batch:
            cf, cy = make_clips(train, args.clip_batch)
            loss = loss + torch.nn.functional.cross_entropy(frame_logits(model, cf).mean(1), cy)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % args.log_every == 0 or step == args.steps:
            print(f"step {step}: loss {loss.item():.3f}, held-out word-frame / clip accuracy "
                  f"{'%.3f / %.3f' % evaluate()} ({time.time() - t0:.0f} s)", flush=True)
        if step % (2 * args.log_every) == 0 or step == args.steps:
            save(args, model, config, evaluate())

    model.eval()
    save(args, model, config, evaluate())

    # The test sentence: a held-out voice variant, words the test expects in order.
    x, spans = sentence(["yes", "stop", "go"], "en-us+f4", 150, 55, [0.7, 0.7, 0.6], args.seed)
    write_wav(f"{args.out}/sentence.wav", x)
    with open(f"{args.out}/sentence.json", "w") as f:
        json.dump({"voice": "en-us+f4", "speed": 150, "pitch": 55,
                   "words": [{"word": w, "start": round(s, 3), "end": round(e, 3)} for w, s, e in spans]}, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out} in {time.time() - t0:.0f} s", flush=True)
    if args.swiftlet:
        evaluate_detection(args)


if __name__ == "__main__":
    main()
