"""Images for image classifiers (vit models converted with ``--preprocess``): RGB8 arrays in.

The library takes decoded 8-bit RGB pixels and preprocesses them as the model file says (timm's
evaluation transform: Pillow's resize, centre crop, mean/std). Decoding files is the caller's: use
:func:`load_image` (Pillow, if installed, exactly as timm's loader opens files) or any decoder that
gives a ``(height, width, 3)`` uint8 array.
"""

from __future__ import annotations

import os
from typing import Any, Tuple, Union

import numpy as np

from .errors import ShapeError

__all__ = ["load_image", "rgb8"]


def load_image(path: Union[str, "os.PathLike[str]"]) -> np.ndarray:
    """A PNG, JPEG (or any format Pillow reads) as a ``(height, width, 3)`` uint8 array.

    Exactly what timm's loader gives the model: ``PIL.Image.open(path).convert("RGB")`` — alpha
    dropped (not composited), grey and palette images made RGB, EXIF orientation ignored.

    Raises:
        ImportError: Pillow is not installed (``pip install pillow``), or decode the file yourself.
    """
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "swiftlet.load_image needs Pillow (pip install pillow); or decode the image yourself and "
            "pass a (height, width, 3) uint8 array") from error
    with Image.open(os.fspath(path)) as image:
        return np.asarray(image.convert("RGB"))


def rgb8(image: Any) -> Tuple[np.ndarray, int]:
    """``image`` as the library takes it: a uint8 array ``(height, width, 3)`` whose pixels are
    contiguous, and its row stride in bytes. Rows may be further apart than the pixels (a crop of a
    larger array is passed without a copy).

    Accepts a uint8 array ``(H, W, 3)`` (RGB), ``(H, W)`` or ``(H, W, 1)`` (grey, copied to R, G
    and B), ``(H, W, 4)`` (RGBA; alpha dropped, as Pillow's ``convert("RGB")``), or a PIL image
    (converted with ``convert("RGB")``).

    Raises:
        ShapeError: another dtype or shape.
    """
    if hasattr(image, "convert") and hasattr(image, "mode") and not isinstance(image, np.ndarray):
        image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ShapeError(f"an image must be uint8 RGB (height, width, 3), got dtype {arr.dtype}; "
                         "scale and convert it (e.g. np.clip(x * 255, 0, 255).astype(np.uint8))")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ShapeError(f"an image must be (height, width, 3) RGB, (height, width) grey or "
                         f"(height, width, 4) RGBA, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    height, width = arr.shape[:2]
    rows_apart = arr.strides[0]
    if not (arr.strides[2] == 1 and arr.strides[1] == 3 and (height <= 1 or rows_apart >= 3 * width)):
        arr = np.ascontiguousarray(arr)
        rows_apart = 3 * width
    return arr, int(rows_apart) if height > 1 else 3 * width
