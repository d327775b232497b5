"""Makes the image fixtures: what timm and Pillow compute on the same decoded images.

Run with a Python that has numpy, Pillow, torch and timm (the repository's tests never need them):

    python Tests/Fixtures/image-preprocess/make.py

Writes, next to this script:

- cases.json, crop_<case>.npy, tensor_<case>.npy: timm's evaluation transform
  (timm.data.create_transform with the case's input_size, interpolation, crop_pct, crop_mode, mean,
  std) on synthetic RGB images (`source()` below; the Swift test makes the same pixels). crop_* is
  the uint8 image after the resize and centre crop (the transform without ToTensor and Normalize);
  tensor_* is the float32 [3, H, W] output of the whole transform (for the smaller cases).
- decode/*.png, decode/*.jpg and decode/<file>.npy: image files of every kind the decoder handles,
  and what `PIL.Image.open(f).convert("RGB")` makes of each (timm's loader), uint8 [H, W, 3].
  decode/grey16.png and decode/cmyk.jpg are refused by the decoder; they have no .npy.
- damaged/*: damaged and unsupported files made from the good ones (truncated, bad CRCs, corrupt
  compressed data, zero and absurd sizes, other formats), and damaged/pillow.json: what Pillow does with
  each. The decoder refuses every one.
- pretrained_cfg.json, labels.txt: preprocessing and class names for the vit-tiny-test model.
- e2e_<file>_input.npy, e2e_<file>_logits.npy: for photo.jpg and photo.png, timm's transform of the
  decoded file under pretrained_cfg.json ([1, 3, 32, 32]) and the vit-tiny-test model's logits on it
  (timm VisionTransformer in float64 with the fixture's float32 weights, no token merging) [1, 10];
  e2e_<file>_pixels.npy: the decoded file (uint8 [H, W, 3]); e2e_<file>_top5.txt: the five most likely
  classes as `swiftlet run --image --top 5` prints them (softmax score, class, name).
- e2e_photo.png_pixels_batch.npy, e2e_photo.png_top1.npy: the decoded PNG as a batch of one
  (uint8 [1, H, W, 3]) and its top class (int32 [1]), for `swiftlet profile` on pictures.
"""

import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL
import timm
import torch
from PIL import Image
from timm.data import create_transform

HERE = Path(__file__).resolve().parent
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def hash32(x, y, c, seed):
    """A 32-bit integer hash of a pixel position (the Swift test computes the same)."""
    m = 0xFFFFFFFF
    v = (x * 374761393 + y * 668265263 + c * 2246822519 + seed * 3266489917) & m
    v = ((v ^ (v >> 15)) * 2246822519) & m
    return v ^ (v >> 13)


def source(width, height, seed):
    """A synthetic photo-like image, integers only: gradients, a saturated disc, inverted stripes
    (sharp edges, where resampling overshoots and clips) and noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    gx = x * 255 // max(width - 1, 1)
    gy = y * 255 // max(height - 1, 1)
    out = np.zeros((height, width, 3), np.int64)
    cx, cy, r = width * 2 // 5, height // 2, max(min(width, height) // 4, 1)
    disc = (x - cx) ** 2 + (y - cy) ** 2 < r * r
    stripe = (x // max(width // 8, 1)) % 4 == 3
    for c in range(3):
        v = [gx, gy, (gx + gy) // 2][c].copy()
        v[disc] = [255, 0, 255][c]
        v[stripe] = 255 - v[stripe]
        v = v + (hash32(x, y, c, seed) & 31) - 16
        out[..., c] = np.clip(v, 0, 255)
    return out.astype(np.uint8)


# name: (source width, height, seed, model (H, W), crop_pct, interpolation, crop_mode, keep tensor)
CASES = {
    "down_bicubic": (640, 480, 1, (32, 32), 0.9, "bicubic", "center", True),
    "down_bilinear": (500, 375, 2, (48, 48), 0.875, "bilinear", "center", True),
    "up_bicubic": (13, 9, 3, (32, 32), 0.9, "bicubic", "center", True),
    "up_bilinear_portrait": (7, 11, 4, (40, 40), 1.0, "bilinear", "center", False),
    "tall_vertical_first": (60, 300, 5, (32, 32), 0.875, "bicubic", "center", False),
    "wide": (300, 40, 6, (32, 32), 0.875, "bicubic", "center", False),
    "squash_mixed": (20, 200, 7, (48, 48), 0.875, "bicubic", "squash", False),
    "nonsquare_landscape": (123, 77, 8, (32, 48), 0.9, "bicubic", "center", True),
    "nonsquare_portrait": (77, 123, 9, (40, 24), 0.95, "bilinear", "center", False),
    "lanczos": (200, 150, 10, (32, 32), 0.95, "lanczos", "center", False),
    "box": (200, 150, 11, (32, 32), 0.9, "box", "center", False),
    "identity": (32, 32, 12, (32, 32), 1.0, "bicubic", "center", False),
    "one_pixel": (1, 1, 13, (32, 32), 0.875, "bicubic", "center", False),
    "odd_offsets": (45, 37, 14, (32, 32), 0.9, "bicubic", "center", False),
    "large_224": (1024, 768, 15, (224, 224), 0.875, "bicubic", "center", False),
}


def transform(size, crop_pct, interpolation, crop_mode):
    return create_transform(
        input_size=(3, *size), interpolation=interpolation, crop_pct=crop_pct, crop_mode=crop_mode,
        mean=MEAN, std=STD)


def make_cases():
    cases = []
    for name, (w, h, seed, size, crop_pct, interp, mode, keep_tensor) in CASES.items():
        img = Image.fromarray(source(w, h, seed))
        tf = transform(size, crop_pct, interp, mode)
        # The transform is [resize, centre crop, ToTensor, Normalize]: the first two give the pixels.
        geometric = tf.transforms[:-2]
        assert [type(t).__name__ for t in tf.transforms[-2:]] in (["ToTensor", "Normalize"], ["MaybeToTensor", "Normalize"]), tf
        pil = img
        for t in geometric:
            pil = t(pil)
        crop = np.asarray(pil)
        tensor = tf(img).numpy()
        # The tensor is the crop, scaled and normalized: one golden implies the other.
        again = (crop.astype(np.float32).transpose(2, 0, 1) / np.float32(255)
                 - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[:, None, None]
        assert np.array_equal(again, tensor), name
        np.save(HERE / f"crop_{name}.npy", crop)
        if keep_tensor:
            np.save(HERE / f"tensor_{name}.npy", tensor.astype(np.float32))
        cases.append({
            "name": name, "source": [w, h, seed], "input_size": [3, *size], "crop_pct": crop_pct,
            "interpolation": interp, "crop_mode": mode, "mean": MEAN, "std": STD,
            "tensor": keep_tensor, "transform": [repr(t) for t in geometric],
        })
    meta = {"pillow": PIL.__version__, "timm": timm.__version__, "torch": torch.__version__, "cases": cases}
    (HERE / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")


# ---- image files -----------------------------------------------------------------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(rows, width, height, depth, color_type, extra=b"", interlace=0):
    """A PNG from raw scanlines (filter byte 0 added here; Adam7 passes given by the caller)."""
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def pack_bits(values, depth):
    """One row of `depth`-bit samples, packed most significant first."""
    out, acc, n = bytearray(), 0, 0
    for v in values:
        acc = (acc << depth) | int(v)
        n += depth
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def adam7_rows(pixels):
    """Scanlines of the seven Adam7 passes of an 8-bit image ([H, W, C])."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    rows = []
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            rows += [sub[y].tobytes() for y in range(sub.shape[0])]
    return rows


def make_files():
    d = HERE / "decode"
    d.mkdir(exist_ok=True)
    w, h = 37, 23
    rgb = source(w, h, 20)
    rng = np.random.default_rng(20)
    alpha = rng.integers(0, 256, (h, w, 1), dtype=np.uint8)
    grey = rgb[..., 1]
    files = {}
    files["rgb8.png"] = png([rgb[y].tobytes() for y in range(h)], w, h, 8, 2)
    files["rgba8.png"] = png([np.concatenate([rgb, alpha], -1)[y].tobytes() for y in range(h)], w, h, 8, 6)
    files["grey8.png"] = png([grey[y].tobytes() for y in range(h)], w, h, 8, 0, png_chunk(b"tRNS", b"\x00\x10"))
    files["greyalpha8.png"] = png([np.stack([grey, alpha[..., 0]], -1)[y].tobytes() for y in range(h)], w, h, 8, 4)
    for depth in (1, 2, 4):
        q = grey.astype(int) >> (8 - depth)
        files[f"grey{depth}.png"] = png([pack_bits(q[y], depth) for y in range(h)], w, h, depth, 0)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    index = (rgb[..., 0].astype(int) * 7 + rgb[..., 2]) % 256
    trns = png_chunk(b"tRNS", bytes(rng.integers(0, 256, 40, dtype=np.uint8)))
    files["palette8.png"] = png([bytes(index[y].astype(np.uint8)) for y in range(h)], w, h, 8, 3,
                                png_chunk(b"PLTE", palette.tobytes()) + trns)
    files["palette4.png"] = png([pack_bits(index[y] % 16, 4) for y in range(h)], w, h, 4, 3,
                                png_chunk(b"PLTE", palette[:16].tobytes()))
    deep = rng.integers(0, 65536, (h, w, 4)).astype(">u2")
    files["rgb16.png"] = png([deep[y, :, :3].tobytes() for y in range(h)], w, h, 16, 2)
    files["rgba16.png"] = png([deep[y].tobytes() for y in range(h)], w, h, 16, 6)
    files["greyalpha16.png"] = png([deep[y, :, :2].tobytes() for y in range(h)], w, h, 16, 4)
    files["grey16.png"] = png([deep[y, :, 0].tobytes() for y in range(h)], w, h, 16, 0)
    files["interlaced.png"] = png(adam7_rows(rgb), w, h, 8, 2, interlace=1)

    def jpeg(image, **options):
        buf = io.BytesIO()
        image.save(buf, "JPEG", **options)
        return buf.getvalue()

    rgb_img = Image.fromarray(rgb)
    files["baseline420.jpg"] = jpeg(rgb_img, quality=90, subsampling=2)
    files["baseline444.jpg"] = jpeg(rgb_img, quality=95, subsampling=0)
    files["progressive.jpg"] = jpeg(rgb_img, quality=85, progressive=True)
    files["restart422.jpg"] = jpeg(rgb_img, quality=80, subsampling=1, restart_marker_rows=1)
    files["grey.jpg"] = jpeg(Image.fromarray(grey), quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display; timm's loader ignores it
    files["exif_rotated.jpg"] = jpeg(rgb_img, quality=90, exif=exif.tobytes())
    files["cmyk.jpg"] = jpeg(rgb_img.convert("CMYK"), quality=90)

    refused = {"grey16.png", "cmyk.jpg"}
    for name, data in files.items():
        (d / name).write_bytes(data)
        if name in refused:
            continue
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        assert decoded.shape == (h, w, 3), (name, decoded.shape)
        np.save(d / f"{name}.npy", decoded)


# ---- damaged files ------------------------------------------------------------------------------

def make_damaged():
    """Damaged and unsupported files (damaged/), made from the good ones above, and what Pillow does
    with each (damaged/pillow.json: "refused: <error>" or "loads"). The decoder refuses all of them."""
    d = HERE / "damaged"
    d.mkdir(exist_ok=True)
    good_png = (HERE / "decode" / "rgb8.png").read_bytes()
    good_jpg = (HERE / "decode" / "baseline420.jpg").read_bytes()

    def with_chunk(data, kind, new_body, fix_crc=True):
        """`data` with the first chunk of `kind` given a new body (and a correct or stale CRC)."""
        pos = 8
        while pos < len(data):
            n = struct.unpack(">I", data[pos:pos + 4])[0]
            if data[pos + 4:pos + 8] == kind:
                crc = data[pos + 8 + n:pos + 12 + n]
                chunk = png_chunk(kind, new_body) if fix_crc else struct.pack(">I", len(new_body)) + kind + new_body + crc
                return data[:pos] + chunk + data[pos + 12 + n:]
            pos += 12 + n
        raise ValueError(kind)

    def chunk_body(data, kind):
        pos = 8
        while True:
            n = struct.unpack(">I", data[pos:pos + 4])[0]
            if data[pos + 4:pos + 8] == kind:
                return data[pos + 8:pos + 8 + n]
            pos += 12 + n

    ihdr = bytearray(chunk_body(good_png, b"IHDR"))
    idat = bytearray(chunk_body(good_png, b"IDAT"))

    def ihdr_size(w, h):
        b = bytearray(ihdr)
        b[0:8] = struct.pack(">II", w, h)
        return bytes(b)

    flipped_ihdr = bytearray(ihdr)
    flipped_ihdr[3] ^= 0x40
    flipped_idat = bytearray(idat)
    flipped_idat[len(idat) // 2] ^= 0x01
    bad_zlib = bytearray(idat)
    bad_zlib[2:40] = bytes(38)  # the deflate stream's first blocks zeroed
    files = {
        "truncated.png": good_png[:len(good_png) // 2],
        "no_iend.png": good_png[:-12],
        "signature_only.png": good_png[:8],
        "header_crc.png": with_chunk(good_png, b"IHDR", bytes(flipped_ihdr), fix_crc=False),
        "data_crc.png": with_chunk(good_png, b"IDAT", bytes(flipped_idat), fix_crc=False),
        "bad_deflate.png": with_chunk(good_png, b"IDAT", bytes(bad_zlib)),
        "zero_width.png": with_chunk(good_png, b"IHDR", ihdr_size(0, 23)),
        "huge_side.png": with_chunk(good_png, b"IHDR", ihdr_size(100000, 4)),
        "bomb.png": with_chunk(good_png, b"IHDR", ihdr_size(65535, 65535)),
    }
    sos = good_jpg.index(b"\xff\xda")
    sof = good_jpg.index(b"\xff\xc0")
    dht = good_jpg.index(b"\xff\xc4")
    scan = sos + 2 + struct.unpack(">H", good_jpg[sos + 2:sos + 4])[0]

    def sof_size(w, h):
        b = bytearray(good_jpg)
        b[sof + 5:sof + 9] = struct.pack(">HH", h, w)
        return bytes(b)

    bogus_dht = bytearray(good_jpg)
    bogus_dht[dht + 5:dht + 21] = bytes([255] * 16)  # code counts that add up to more than 256
    files.update({
        "truncated.jpg": good_jpg[:len(good_jpg) // 2],
        "no_eoi.jpg": good_jpg[:-2],
        "headers_only.jpg": good_jpg[:scan],
        "eoi_in_scan.jpg": good_jpg[:(scan + len(good_jpg)) // 2] + b"\xff\xd9",
        "bogus_huffman.jpg": bytes(bogus_dht),
        "zero_height.jpg": sof_size(37, 0),
        "huge.jpg": sof_size(65500, 65500),
        "empty.png": b"",
        "random.jpg": bytes(np.random.default_rng(40).integers(0, 256, 2000, dtype=np.uint8)),
        "animation.gif": b"GIF89a" + bytes(40),
    })
    verdicts = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        try:
            Image.open(io.BytesIO(data)).convert("RGB")
            verdicts[name] = "loads"
        except Exception as e:  # noqa: BLE001 - any refusal counts
            verdicts[name] = "refused: " + re.sub(r" at 0x[0-9a-f]+", "", f"{type(e).__name__}: {e}")
    (d / "pillow.json").write_text(json.dumps(verdicts, indent=1) + "\n")


# ---- end to end: the vit-tiny-test model --------------------------------------------------------

def make_end_to_end():
    fixture = HERE.parent / "vit-tiny-test"
    config = json.loads((fixture / "config.json").read_text())
    cfg = {"input_size": [3, 32, 32], "interpolation": "bicubic", "crop_pct": 0.9, "crop_mode": "center",
           "mean": list(MEAN), "std": list(STD), "num_classes": 10,
           "first_conv": "patch_embed.proj", "classifier": "head"}
    (HERE / "pretrained_cfg.json").write_text(json.dumps(cfg, indent=1) + "\n")
    labels = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (HERE / "labels.txt").write_text("\n".join(labels) + "\n")

    model = timm.models.vision_transformer.VisionTransformer(
        **config["timm_kwargs"], qkv_bias=True, class_token=True, global_pool="token")
    state = torch.load(fixture / "checkpoint.pth", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model = model.double().eval()
    # The fixture's own golden, as a check that this is the model the fixture describes.
    x = torch.from_numpy(np.load(fixture / "input.npy")).double()
    with torch.no_grad():
        assert np.abs(model(x).numpy() - np.load(fixture / "logits_r0.npy")).max() < 1e-5

    tf = create_transform(**timm.data.resolve_data_config(pretrained_cfg=cfg))
    photo = Image.fromarray(source(96, 64, 30))
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    (HERE / "photo.jpg").write_bytes(buf.getvalue())
    rgba = np.concatenate([source(50, 70, 32), np.full((70, 50, 1), 200, np.uint8)], -1)
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG")
    (HERE / "photo.png").write_bytes(buf.getvalue())
    for name in ("photo.jpg", "photo.png"):
        # timm's loader: PIL open, convert("RGB").
        img = Image.open(HERE / name).convert("RGB")
        np.save(HERE / f"e2e_{name}_pixels.npy", np.asarray(img))
        x = tf(img).unsqueeze(0)
        np.save(HERE / f"e2e_{name}_input.npy", x.numpy().astype(np.float32))
        with torch.no_grad():
            logits = model(x.double()).numpy()
        np.save(HERE / f"e2e_{name}_logits.npy", logits.astype(np.float32))
        # What `swiftlet run --image --top 5` prints: softmax score, class, name. Scores are compared
        # as text, so none may sit near a rounding boundary of the 4 decimals shown.
        scores = torch.softmax(torch.from_numpy(logits[0]), 0).numpy()
        lines = []
        for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:5]:
            assert abs(scores[i] * 1e4 - np.floor(scores[i] * 1e4) - 0.5) > 0.01, (name, scores[i])
            lines.append(f"{scores[i]:.4f}  {i:5d}  {labels[i]}")
        (HERE / f"e2e_{name}_top5.txt").write_text("\n".join(lines) + "\n")
        if name == "photo.png":
            np.save(HERE / f"e2e_{name}_pixels_batch.npy", np.asarray(img)[None])
            np.save(HERE / f"e2e_{name}_top1.npy", np.array([int(np.argmax(logits[0]))], np.int32))


if __name__ == "__main__":
    make_cases()
    make_files()
    make_damaged()
    make_end_to_end()
    print("wrote", len(CASES), "transform cases, decoder files and end-to-end goldens into", HERE)
