"""Writes the two tiny safetensors seeds in Fuzz/seeds/checkpoint (every dtype the reader knows, a
scalar, an empty tensor, __metadata__). python3 Fuzz/seeds/make-checkpoint-seeds.py; no numpy needed."""
import json, struct


def safetensors(path, tensors, meta=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


safetensors("Fuzz/seeds/checkpoint/tiny-dtypes.safetensors", {
    "a.f32": ("F32", [2, 2], struct.pack("<4f", 1, -2, 0.5, 3)),
    "b.f16": ("F16", [3], struct.pack("<3e", 1, -2, 0.5)),
    "c.bf16": ("BF16", [2], struct.pack("<2H", 0x3f80, 0xc000)),
    "d.i64": ("I64", [], struct.pack("<q", 7)),
    "e.bool": ("BOOL", [2], b"\x01\x00"),
    "f.f64": ("F64", [1, 1], struct.pack("<d", 0.25)),
    "g.u8": ("U8", [0, 3], b""),
}, {"format": "pt"})
safetensors("Fuzz/seeds/checkpoint/tiny-c64.safetensors", {
    "fft": ("C64", [2], struct.pack("<4f", 1, 0, 0, 1)),
    "i32": ("I32", [2], struct.pack("<2i", -1, 5)),
})
