"""ctypes mirrors of the structs in swiftlet.h, field for field.

Each struct starts with ``struct_size``; :func:`new` sets it to our ``sizeof`` (the library reads and
writes only that many bytes, so these mirrors keep working with a newer library). We never call the
library's ``_init`` functions on these mirrors: a newer library would zero its own, larger size.
"""

from __future__ import annotations

import ctypes
from typing import Dict, Type, TypeVar

MAX_DIMS = 8

# swl_abort_callback: int32_t (*)(void *user_data)
AbortCallback = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)
# swl_log_callback: void (*)(int32_t level, const char *message, void *user_data)
LogCallback = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_char_p, ctypes.c_void_p)


class Tensor(ctypes.Structure):
    """swl_tensor"""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("dtype", ctypes.c_int32),
        ("n_dims", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
        ("shape", ctypes.c_int64 * MAX_DIMS),
        ("data", ctypes.c_void_p),
        ("size_bytes", ctypes.c_uint64),
    ]


class TensorInfo(ctypes.Structure):
    """swl_tensor_info"""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("dtype", ctypes.c_int32),
        ("n_dims", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
        ("shape", ctypes.c_int64 * MAX_DIMS),
        ("name", ctypes.c_char_p),
    ]


class LoadOptions(ctypes.Structure):
    """swl_load_options"""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
    ]


class Budget(ctypes.Structure):
    """swl_budget"""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("max_latency_ms", ctypes.c_double),
        ("max_gflops", ctypes.c_double),
        ("loops", ctypes.c_int32),
        ("n_trajectory", ctypes.c_int32),
        ("trajectory", ctypes.POINTER(ctypes.c_float)),
        ("n_merge_r", ctypes.c_int32),
        ("reserved2", ctypes.c_int32),
        ("merge_r", ctypes.POINTER(ctypes.c_int32)),
        ("early_fraction", ctypes.c_double),
        ("early_margin", ctypes.c_double),
        ("expected_frames", ctypes.c_int64),
        ("generation_tokens", ctypes.c_int64),
        ("min_quality", ctypes.c_double),
        ("generation_ms", ctypes.c_double),
    ]


class RunReport(ctypes.Structure):
    """swl_run_report"""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("completed", ctypes.c_int32),
        ("microseconds", ctypes.c_double),
        ("gflops", ctypes.c_double),
        ("loops", ctypes.c_int32),
        ("layers", ctypes.c_int32),
        ("tokens_kept", ctypes.c_int64),
        ("frames_used", ctypes.c_int64),
        ("decided", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
        ("choice", ctypes.c_char_p),
        ("threads_used", ctypes.c_int32),
        ("reserved2", ctypes.c_int32),
        ("predicted_us", ctypes.c_double),
        ("deadline_met", ctypes.c_int32),
        ("reserved3", ctypes.c_int32),
        ("predicted_quality", ctypes.c_double),
    ]


class SessionOptions(ctypes.Structure):
    """swl_session_options"""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("n_threads", ctypes.c_int32),
        ("abort_callback", AbortCallback),
        ("abort_user_data", ctypes.c_void_p),
        ("flags", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


#: swl_session_options.flags
SESSION_CALIBRATE = 1


class Sampler(ctypes.Structure):
    """swl_sampler"""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_int32),
        ("reserved", ctypes.c_uint32),
    ]


class DetectorOptions(ctypes.Structure):
    """swl_detector_options"""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("n_background", ctypes.c_uint32),
        ("threshold", ctypes.c_double),
        ("window_seconds", ctypes.c_double),
        ("hold_off_seconds", ctypes.c_double),
        ("frame_seconds", ctypes.c_double),
        ("background", ctypes.POINTER(ctypes.c_int32)),
    ]


class StreamOptions(ctypes.Structure):
    """swl_stream_options"""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("input_kind", ctypes.c_int32),
        ("n_threads", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
        ("abort_callback", AbortCallback),
        ("abort_user_data", ctypes.c_void_p),
        ("detector", ctypes.POINTER(DetectorOptions)),
    ]


class Detection(ctypes.Structure):
    """swl_detection (output only, no struct_size: the library's arrays have this stride)"""

    _fields_ = [
        ("class_index", ctypes.c_int32),
        ("score", ctypes.c_float),
        ("frame", ctypes.c_int64),
        ("seconds", ctypes.c_double),
        ("label", ctypes.c_char_p),
    ]


# sizeof each struct on LP64 (x86-64 and AArch64 Linux), as a C compiler lays out swiftlet.h.
EXPECTED_SIZES: Dict[str, int] = {
    "swl_tensor": 96,
    "swl_tensor_info": 88,
    "swl_load_options": 8,
    "swl_budget": 104,
    "swl_run_report": 96,
    "swl_session_options": 32,
    "swl_sampler": 16,
    "swl_stream_options": 40,
    "swl_detector_options": 48,
    "swl_detection": 32,
}

# The mirror of each C struct, by its C name.
STRUCTS: Dict[str, Type[ctypes.Structure]] = {
    "swl_tensor": Tensor,
    "swl_tensor_info": TensorInfo,
    "swl_load_options": LoadOptions,
    "swl_budget": Budget,
    "swl_run_report": RunReport,
    "swl_session_options": SessionOptions,
    "swl_sampler": Sampler,
    "swl_stream_options": StreamOptions,
    "swl_detector_options": DetectorOptions,
}

# Output-only structs (no struct_size, no _init), laid out as the header says.
OUTPUT_STRUCTS: Dict[str, Type[ctypes.Structure]] = {
    "swl_detection": Detection,
}


def check_layout() -> None:
    """Raises ImportError if a mirror's size differs from the C layout (e.g. on a 32-bit Python)."""
    for c_name, struct in {**STRUCTS, **OUTPUT_STRUCTS}.items():
        got, want = ctypes.sizeof(struct), EXPECTED_SIZES[c_name]
        if got != want:
            raise ImportError(
                f"swiftlet: ctypes lays out {c_name} in {got} bytes, but swiftlet.h needs {want}; "
                "Swiftlet supports 64-bit Linux only"
            )


S = TypeVar("S", bound=ctypes.Structure)


def new(struct: Type[S]) -> S:
    """A zeroed struct with struct_size set, like the library's ``_init`` functions."""
    value = struct()
    value.struct_size = ctypes.sizeof(struct)
    return value
