"""Finds and loads libswiftlet.so and declares the C functions of swiftlet.h.

ctypes.CDLL releases the GIL for the duration of every foreign call, so long runs on different
sessions proceed in parallel from Python threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
from pathlib import Path
from typing import Any, List, Optional, Tuple

from . import _structs as S
from .errors import STATUS_NAMES, error_for

#: The ABI version these bindings were written against (SWL_ABI_VERSION of swiftlet.h).
ABI_VERSION = 1

ENV_VAR = "SWIFTLET_LIBRARY"

_P = ctypes.c_void_p          # opaque handles and untyped pointers
_STATUS = ctypes.c_int32      # swl_status
_U32, _I32, _U64, _I64 = ctypes.c_uint32, ctypes.c_int32, ctypes.c_uint64, ctypes.c_int64
_STR = ctypes.c_char_p


def _ptr(t: Any) -> Any:
    return ctypes.POINTER(t)


# name: (restype, argtypes). Functions returning swl_status get an errcheck that raises.
_PROTOTYPES = {
    "swl_version": (_STR, []),
    "swl_abi_version": (_U32, []),
    "swl_status_name": (_STR, [_STATUS]),
    "swl_last_error": (_STR, []),
    "swl_set_log_callback": (None, [S.LogCallback, _I32, _P]),
    "swl_tensor_init": (None, [_ptr(S.Tensor)]),
    "swl_tensor_info_init": (None, [_ptr(S.TensorInfo)]),
    "swl_load_options_init": (None, [_ptr(S.LoadOptions)]),
    "swl_model_load": (_STATUS, [_STR, _ptr(S.LoadOptions), _ptr(_P)]),
    "swl_model_load_memory": (_STATUS, [_P, _U64, _ptr(S.LoadOptions), _ptr(_P)]),
    "swl_model_free": (None, [_P]),
    "swl_model_family": (_STR, [_P]),
    "swl_model_metadata": (_STATUS, [_P, _STR, _ptr(_STR)]),
    "swl_model_metadata_count": (_U32, [_P]),
    "swl_model_metadata_key": (_STATUS, [_P, _U32, _ptr(_STR)]),
    "swl_model_label_count": (_U32, [_P]),
    "swl_model_label": (_STATUS, [_P, _U32, _ptr(_STR)]),
    "swl_model_has_tokenizer": (_U32, [_P]),  # int32_t 0 or 1; _I32 would get the status errcheck
    "swl_model_token_is_special": (_U32, [_P, _I32]),  # int32_t 0 or 1
    "swl_tokenize": (_STATUS, [_P, _STR, _U64, _ptr(_I32), _U64, _ptr(_U64)]),
    "swl_detokenize": (_STATUS, [_P, _ptr(_I32), _U64, _U32, _P, _U64, _ptr(_U64)]),
    "swl_detokenizer_create": (_STATUS, [_P, _U32, _ptr(_P)]),
    "swl_detokenizer_free": (None, [_P]),
    "swl_detokenizer_push": (_STATUS, [_P, _I32, _ptr(ctypes.c_void_p), _ptr(_U64)]),
    "swl_detokenizer_flush": (_STATUS, [_P, _ptr(ctypes.c_void_p), _ptr(_U64)]),
    "swl_model_input_count": (_U32, [_P]),
    "swl_model_output_count": (_U32, [_P]),
    "swl_model_input_info": (_STATUS, [_P, _U32, _ptr(S.TensorInfo)]),
    "swl_model_output_info": (_STATUS, [_P, _U32, _ptr(S.TensorInfo)]),
    "swl_budget_init": (None, [_ptr(S.Budget)]),
    "swl_run_report_init": (None, [_ptr(S.RunReport)]),
    "swl_session_options_init": (None, [_ptr(S.SessionOptions)]),
    "swl_session_create": (_STATUS, [_P, _ptr(S.SessionOptions), _ptr(_P)]),
    "swl_session_free": (None, [_P]),
    "swl_session_run": (_STATUS, [_P, _ptr(S.Tensor), _U32, _ptr(S.Tensor), _U32, _ptr(S.Budget),
                                  _ptr(S.RunReport)]),
    "swl_session_output": (_STATUS, [_P, _U32, _ptr(S.Tensor)]),
    "swl_session_run_image": (_STATUS, [_P, _P, _U32, _U32, _U64, _ptr(S.Budget), _ptr(S.RunReport)]),
    "swl_model_preprocess_image": (_STATUS, [_P, _P, _U32, _U32, _U64, _ptr(S.Tensor)]),
    "swl_session_report_values": (_STATUS, [_P, _STR, _ptr(_ptr(ctypes.c_double)), _ptr(_U64)]),
    "swl_session_prefill": (_STATUS, [_P, _ptr(_I32), _U64, _ptr(S.Budget), _ptr(S.RunReport)]),
    "swl_session_decode": (_STATUS, [_P, _I32, _ptr(S.RunReport)]),
    "swl_session_logits": (_STATUS, [_P, _ptr(_ptr(ctypes.c_float)), _ptr(_U64), _ptr(_U64)]),
    "swl_session_last_logits": (_STATUS, [_P, _ptr(_ptr(ctypes.c_float)), _ptr(_U64)]),
    "swl_session_position": (_STATUS, [_P, _ptr(_U64), _ptr(_U64)]),
    "swl_sampler_init": (None, [_ptr(S.Sampler)]),
    "swl_sample": (_STATUS, [_ptr(ctypes.c_float), _U64, _ptr(S.Sampler), _ptr(_U64), _ptr(_I32)]),
    "swl_stream_options_init": (None, [_ptr(S.StreamOptions)]),
    "swl_stream_create": (_STATUS, [_P, _ptr(S.StreamOptions), _ptr(_P)]),
    "swl_stream_free": (None, [_P]),
    "swl_stream_frame_width": (_STATUS, [_P, _ptr(_U64)]),
    "swl_stream_output_width": (_STATUS, [_P, _ptr(_U64)]),
    "swl_stream_push": (_STATUS, [_P, _ptr(ctypes.c_float), _U64, _ptr(_U64)]),
    "swl_stream_push_pcm": (_STATUS, [_P, _ptr(ctypes.c_int16), _U64, _ptr(_U64)]),
    "swl_stream_flush": (_STATUS, [_P, _ptr(_U64)]),
    "swl_stream_outputs": (_STATUS, [_P, _ptr(_ptr(ctypes.c_float)), _ptr(_U64)]),
    "swl_detector_options_init": (None, [_ptr(S.DetectorOptions)]),
    "swl_stream_detections": (_STATUS, [_P, _ptr(_ptr(S.Detection)), _ptr(_U64)]),
    "swl_stream_reset": (_STATUS, [_P]),
    "swl_stream_set_budget": (_STATUS, [_P, _ptr(S.Budget)]),
    "swl_stream_report": (_STATUS, [_P, _ptr(S.RunReport)]),
    "swl_stream_report_values": (_STATUS, [_P, _STR, _ptr(_ptr(ctypes.c_double)), _ptr(_U64)]),
    "swl_stream_state_size": (_STATUS, [_P, _ptr(_U64)]),
    "swl_stream_save_state": (_STATUS, [_P, _P, _U64, _ptr(_U64)]),
    "swl_stream_load_state": (_STATUS, [_P, _P, _U64]),
}


def _candidates() -> List[Tuple[str, str]]:
    """(path or name, where it came from) in search order."""
    found: List[Tuple[str, str]] = []
    env = os.environ.get(ENV_VAR)
    if env:
        # An explicit choice is the only candidate: silently falling back elsewhere would hide a typo.
        return [(env, f"${ENV_VAR}")]
    here = Path(__file__).resolve().parent
    for folder in (here / "lib", here):
        names = sorted(p.name for p in folder.glob("libswiftlet.so*")) if folder.is_dir() else []
        # Prefer the plain name, then the soname, then any versioned file.
        names.sort(key=lambda n: (n != "libswiftlet.so", n != "libswiftlet.so.0", n))
        found += [(str(folder / n), "next to the package") for n in names]
        if not names:
            found.append((str(folder / "libswiftlet.so"), "next to the package"))
    prefixes = [sys.prefix, "/usr/local", "/usr"]
    for prefix in dict.fromkeys(prefixes):
        for libdir in ("lib", "lib64"):
            found.append((os.path.join(prefix, libdir, "libswiftlet.so"), "install prefix"))
    name = ctypes.util.find_library("swiftlet")
    if name:
        found.append((name, "ctypes.util.find_library"))
    # Last, the dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache).
    found.append(("libswiftlet.so.0", "dynamic loader search path"))
    return found


# The system libraries libswiftlet.so links (not bundled) and the Debian/Ubuntu packages that hold them.
SYSTEM_LIBRARIES = {"libopenblas.so.0": "libopenblas0", "libzstd.so.1": "libzstd1"}
APT_COMMAND = "apt-get install " + " ".join(SYSTEM_LIBRARIES.values())


def explain_load_error(message: str) -> Optional[str]:
    """What to do about a dynamic loader error (``ctypes.CDLL``'s OSError text) that is about the
    library's dependencies rather than the library itself; None for any other error."""
    missing = re.search(r"([^\s:/]+\.so[.\d]*): cannot open shared object file", message)
    if missing:
        name = missing.group(1)
        if name.startswith("libswiftlet.so"):
            return None  # the library itself: the search below says where it looked
        if name in SYSTEM_LIBRARIES:
            return (f"libswiftlet.so needs the system library {name}, which is not installed. Install it "
                    f"(Debian/Ubuntu: `sudo {APT_COMMAND}`; elsewhere the packages that provide "
                    f"{' and '.join(SYSTEM_LIBRARIES)}).")
        return f"libswiftlet.so needs {name}, which the dynamic loader cannot find."
    glibc = re.search(r"version `GLIBC_([\d.]+)' not found", message)
    if glibc:
        have = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
        return (f"libswiftlet.so was built against glibc {glibc.group(1)}, newer than this system's "
                f"({have or 'unknown'}). Build Swiftlet on this system (`make`) and install the package again.")
    return None


def _load() -> Tuple[ctypes.CDLL, str]:
    tried: List[str] = []
    advice: List[str] = []
    for candidate, origin in _candidates():
        is_path = os.sep in candidate
        if is_path and not os.path.exists(candidate):
            tried.append(f"  {candidate} ({origin}): no such file")
            continue
        try:
            return ctypes.CDLL(candidate), candidate
        except OSError as error:
            tried.append(f"  {candidate} ({origin}): {error}")
            hint = explain_load_error(str(error))
            if hint and hint not in advice:
                advice.append(hint)
    if advice:
        # The library is there but cannot load: what is missing comes first, the search after.
        raise ImportError("swiftlet: cannot load libswiftlet.so. " + " ".join(advice) + "\nTried:\n" +
                          "\n".join(tried))
    raise ImportError(
        "swiftlet: cannot load libswiftlet.so. Looked in:\n" + "\n".join(tried) + "\n"
        "Build it with `make` in the Swiftlet repository, then either set "
        f"{ENV_VAR}=/path/to/swiftlet/build/lib/libswiftlet.so, copy build/lib/libswiftlet.so* into "
        f"{Path(__file__).resolve().parent / 'lib'}, or `make install` it. It needs the system libraries "
        f"{' and '.join(SYSTEM_LIBRARIES)} (Debian/Ubuntu: `sudo {APT_COMMAND}`)."
    )


def _errcheck(result: int, func: Any, args: Tuple[Any, ...]) -> int:
    if result != 0:
        # Read on the failing call's thread: swl_last_error is thread-local.
        message = (lib.swl_last_error() or b"").decode("utf-8", "replace")
        name = (lib.swl_status_name(result) or b"").decode("ascii", "replace")
        raise error_for(result, message, name if name != "SWL_ERR_UNKNOWN" else STATUS_NAMES.get(result))
    return result


def _declare(cdll: ctypes.CDLL) -> None:
    missing = [name for name in _PROTOTYPES if not hasattr(cdll, name)]
    if missing:
        raise ImportError(f"swiftlet: {library_path} lacks {', '.join(missing)}; it is not a Swiftlet "
                          f"library of ABI {ABI_VERSION}")
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(cdll, name)
        fn.restype = restype
        fn.argtypes = argtypes
        if restype is _STATUS:
            fn.errcheck = _errcheck


S.check_layout()
lib, library_path = _load()
_declare(lib)
if lib.swl_abi_version() != ABI_VERSION:
    raise ImportError(
        f"swiftlet: {library_path} implements ABI {lib.swl_abi_version()}, these bindings need ABI "
        f"{ABI_VERSION}; install matching versions of the library and the Python package"
    )


def decode(text: Optional[bytes]) -> str:
    """A library string (UTF-8, may be NULL) as str."""
    return "" if text is None else text.decode("utf-8", "replace")


def library_version() -> str:
    """The loaded library's version, e.g. ``"0.1.0"``."""
    return decode(lib.swl_version())


def abi_version() -> int:
    """The ABI version the loaded library implements (equal to :data:`ABI_VERSION`)."""
    return int(lib.swl_abi_version())


def loaded_library_path() -> str:
    """Where the loaded ``libswiftlet.so`` came from."""
    return library_path
