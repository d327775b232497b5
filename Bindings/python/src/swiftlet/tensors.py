"""Tensor descriptions and the NumPy <-> swl_tensor conversions."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Dict, Tuple

import numpy as np

from . import _structs as S
from ._library import decode
from .errors import InternalError, InvalidArgumentError, ShapeError

# SWL_DTYPE_* <-> NumPy.
DTYPES: Dict[int, np.dtype] = {
    1: np.dtype(np.float32),
    2: np.dtype(np.int32),
    3: np.dtype(np.int64),
    4: np.dtype(np.int16),
    5: np.dtype(np.uint8),
}
CODES: Dict[np.dtype, int] = {v: k for k, v in DTYPES.items()}


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: its name, element type and shape (-1 = any size, e.g. batch)."""

    name: str
    dtype: np.dtype
    shape: Tuple[int, ...]

    @classmethod
    def from_c(cls, info: S.TensorInfo) -> "TensorInfo":
        if info.dtype not in DTYPES:
            raise InternalError(f"the library described a tensor with unknown dtype {info.dtype}")
        return cls(decode(info.name), DTYPES[info.dtype], tuple(int(d) for d in info.shape[: info.n_dims]))


def as_input(value: Any, info: TensorInfo, index: int) -> np.ndarray:
    """``value`` as a C-contiguous array of the input's dtype (copied only when needed).

    Numbers convert to float inputs; integer token ids (int64 included) convert to int32 inputs when
    they fit. Anything else raises :class:`ShapeError` naming the input.
    """
    what = f"input {index} ('{info.name}')"
    arr = np.asarray(value)
    want = info.dtype
    if arr.dtype != want:
        kind = arr.dtype.kind
        if want.kind == "f":
            if kind not in "fiub":
                raise ShapeError(f"{what} must be numeric ({want}), got {arr.dtype}")
        else:
            if kind not in "iu":
                raise ShapeError(f"{what} must hold integers ({want}), got {arr.dtype}")
            limits = np.iinfo(want)
            if arr.size and (arr.min() < limits.min or arr.max() > limits.max):
                raise ShapeError(f"{what}: values {arr.min()}..{arr.max()} do not fit in {want}")
        arr = arr.astype(want)
    if arr.ndim > S.MAX_DIMS:
        raise ShapeError(f"{what} has {arr.ndim} dimensions; at most {S.MAX_DIMS} are supported")
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    return arr


def describe(arr: np.ndarray) -> S.Tensor:
    """A swl_tensor viewing ``arr`` (which must stay alive and C-contiguous during the call)."""
    if arr.dtype not in CODES:
        raise InvalidArgumentError(f"dtype {arr.dtype} cannot cross the Swiftlet interface")
    t = S.new(S.Tensor)
    t.dtype = CODES[arr.dtype]
    t.n_dims = arr.ndim
    for i, d in enumerate(arr.shape):
        t.shape[i] = d
    t.data = arr.ctypes.data if arr.size else None
    t.size_bytes = arr.nbytes
    return t


def copy_out(t: S.Tensor) -> np.ndarray:
    """A NumPy copy of a library-owned tensor (valid only until the owner's next call)."""
    if t.dtype not in DTYPES or not 0 <= t.n_dims <= S.MAX_DIMS:
        raise InternalError(f"the library returned a tensor with dtype {t.dtype} and {t.n_dims} dims")
    shape = tuple(int(d) for d in t.shape[: t.n_dims])
    out = np.empty(shape, dtype=DTYPES[t.dtype])
    if out.nbytes > t.size_bytes:
        raise InternalError(f"the library returned {t.size_bytes} bytes for a {shape} tensor")
    if out.nbytes:
        ctypes.memmove(out.ctypes.data, t.data, out.nbytes)
    return out


def copy_rows(pointer: Any, n_rows: int, width: int, dtype: np.dtype = np.dtype(np.float32)) -> np.ndarray:
    """A NumPy copy of ``n_rows`` x ``width`` library-owned values at ``pointer``."""
    out = np.empty((n_rows, width), dtype=dtype)
    if out.nbytes:
        ctypes.memmove(out.ctypes.data, pointer, out.nbytes)
    return out
