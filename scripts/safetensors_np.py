"""safetensors with numpy alone (no torch, no safetensors package), for the scripts that write models
and fixtures: float32, int64 and complex64 tensors."""
import json
import struct

import numpy as np

DTYPES = {"F32": np.float32, "I64": np.int64, "C64": np.complex64}
NAMES = {np.dtype(t): name for name, t in DTYPES.items()}


def read(path):
    """{name: array} in the header's order, without __metadata__; the arrays are read-only views."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


def write(path, tensors):
    """Writes {name: array} in name order, the JSON header padded with spaces to 8 bytes. Returns the
    number of bytes of tensor data."""
    meta, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name]).tobytes()
        meta[name] = {"dtype": NAMES[tensors[name].dtype], "shape": list(tensors[name].shape),
                      "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    head = json.dumps(meta, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))
    return offset
