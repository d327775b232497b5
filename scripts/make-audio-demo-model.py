#!/usr/bin/env python3
"""Writes Tests/Fixtures/audio-demo: a small LMUFormer (lmu_rnn_conv1d, 128 mel bins in, one block,
5 classes) for `make demo` to stream a WAV file through the audio front end.

Its weights are NOT trained: they are the lmu-test fixture's weights with the first convolution
widened to 128 input channels (seeded random values of matching scale) and the second block dropped.
The demo shows streaming — rows arriving as audio is pushed — not keyword accuracy.
Needs numpy only. Run from the repository root."""
import json
import struct

import numpy as np

SRC = "Tests/Fixtures/lmu-test/checkpoint.safetensors"
DST = "Tests/Fixtures/audio-demo"

raw = open(SRC, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
dtypes = {"F32": np.float32, "I64": np.int64, "C64": np.complex64}

tensors = {}
for name, info in header.items():
    if name == "__metadata__" or name.startswith("block.1."):
        continue
    a, b = info["data_offsets"]
    tensors[name] = np.frombuffer(data[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])

rng = np.random.default_rng(128)
w0 = tensors["patch_embed.conv_layers.0.0.weight"]
std = float(w0.std()) * np.sqrt(w0.shape[1] / 128.0)
tensors["patch_embed.conv_layers.0.0.weight"] = rng.normal(0, std, (w0.shape[0], 128, w0.shape[2])).astype(np.float32)

names = sorted(tensors)
meta, offset, blobs = {}, 0, []
back = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.complex64): "C64"}
for name in names:
    blob = np.ascontiguousarray(tensors[name]).tobytes()
    meta[name] = {"dtype": back[tensors[name].dtype], "shape": list(tensors[name].shape),
                  "data_offsets": [offset, offset + len(blob)]}
    offset += len(blob)
    blobs.append(blob)
head = json.dumps(meta, separators=(",", ":")).encode()
head += b" " * (-len(head) % 8)
with open(f"{DST}/checkpoint.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))

config = {"constructor": {"model": "lmu_rnn_conv1d", "in_channels": 128, "embed_dims": 32, "depths": 1,
                          "mlp_ratios": 2, "num_classes": 5},
          "note": "untrained demo weights derived from lmu-test; see scripts/make-audio-demo-model.py"}
with open(f"{DST}/config.json", "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
with open(f"{DST}/labels.txt", "w") as f:
    f.write("class A\nclass B\nclass C\nclass D\nclass E\n")
print(f"wrote {DST}: {len(names)} tensors, {offset} bytes of data")
