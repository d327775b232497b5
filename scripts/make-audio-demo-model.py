#!/usr/bin/env python3
"""Writes Tests/Fixtures/audio-demo: a small LMUFormer (lmu_rnn_conv1d, 128 mel bins in, one block,
5 classes) for `make demo` to stream a WAV file through the audio front end.

Its weights are NOT trained: they are the lmu-test fixture's weights with the first convolution
widened to 128 input channels (seeded random values of matching scale) and the second block dropped.
The demo shows streaming — rows arriving as audio is pushed — not keyword accuracy.
Needs numpy only. Run from the repository root."""
import json

import numpy as np

import safetensors_np

SRC = "Tests/Fixtures/lmu-test/checkpoint.safetensors"
DST = "Tests/Fixtures/audio-demo"

tensors = {name: a for name, a in safetensors_np.read(SRC).items() if not name.startswith("block.1.")}

rng = np.random.default_rng(128)
w0 = tensors["patch_embed.conv_layers.0.0.weight"]
std = float(w0.std()) * np.sqrt(w0.shape[1] / 128.0)
tensors["patch_embed.conv_layers.0.0.weight"] = rng.normal(0, std, (w0.shape[0], 128, w0.shape[2])).astype(np.float32)

size = safetensors_np.write(f"{DST}/checkpoint.safetensors", tensors)

config = {"constructor": {"model": "lmu_rnn_conv1d", "in_channels": 128, "embed_dims": 32, "depths": 1,
                          "mlp_ratios": 2, "num_classes": 5},
          "note": "untrained demo weights derived from lmu-test; see scripts/make-audio-demo-model.py"}
with open(f"{DST}/config.json", "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
with open(f"{DST}/labels.txt", "w") as f:
    f.write("class A\nclass B\nclass C\nclass D\nclass E\n")
print(f"wrote {DST}: {len(tensors)} tensors, {size} bytes of data")
