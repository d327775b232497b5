"""Swiftlet: a CPU inference runtime for efficient transformers that run under a compute budget.

These bindings load ``libswiftlet.so`` with ctypes (searched in ``$SWIFTLET_LIBRARY``, then next to
this package in ``swiftlet/lib/``, then the install prefixes and the dynamic loader's path) and wrap
its C interface (swiftlet.h) with NumPy in and out. The GIL is released during every library call.

Example::

    import numpy as np
    import swiftlet

    with swiftlet.Model("model.swl") as model:
        print(model.family, model.metadata["general.name"], model.inputs)
        (y,), report = model.run(np.ones((2, 4), np.float32), budget=swiftlet.Budget(loops=2))
        print(y, report.choice, report.microseconds)
"""

from __future__ import annotations

import atexit
import threading
from typing import Callable, Optional

from . import _library
from ._library import ABI_VERSION, decode, lib
from ._structs import LogCallback
from .budget import KNOWN_VALUES, Budget, RunReport
from .errors import (
    AbortedError, BudgetError, BufferTooSmallError, BusyError, ChecksumError, ContextFullError, Error,
    FileError, FormatError, InternalError, InvalidArgumentError, NotFoundError, NumericError,
    OutOfMemoryError, ShapeError, StateError, UnsupportedError, VersionError,
)
from .images import load_image
from .model import Model
from .session import Generation, Sampler, Session
from .stream import Detection, Detector, Stream
from .tensors import TensorInfo

__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION", "KNOWN_VALUES", "LOG_ERROR", "LOG_WARN", "LOG_INFO", "LOG_DEBUG",
    "Model", "Session", "Stream", "Detector", "Detection", "Budget", "RunReport", "TensorInfo", "Generation", "Sampler",
    "Error", "InvalidArgumentError", "FileError", "FormatError", "VersionError", "ChecksumError",
    "UnsupportedError", "ShapeError", "BusyError", "AbortedError", "BudgetError", "OutOfMemoryError",
    "NotFoundError", "BufferTooSmallError", "StateError", "NumericError", "ContextFullError",
    "InternalError", "library_version", "abi_version", "library_path", "set_log_handler", "load_image",
]

LOG_ERROR = 0
LOG_WARN = 1
LOG_INFO = 2
LOG_DEBUG = 3


def library_version() -> str:
    """The loaded library's version, e.g. ``"0.1.0"``."""
    return decode(lib.swl_version())


def abi_version() -> int:
    """The ABI version the loaded library implements (equal to :data:`ABI_VERSION`)."""
    return int(lib.swl_abi_version())


def library_path() -> str:
    """Where the loaded ``libswiftlet.so`` came from."""
    return _library.library_path


_log_lock = threading.Lock()
_log_trampoline: Optional[object] = None  # referenced while installed: the library keeps the pointer


def set_log_handler(handler: Optional[Callable[[int, str], None]], max_level: int = LOG_INFO) -> None:
    """Sends the library's log lines at ``max_level`` and below to ``handler(level, message)``.

    ``None`` removes the handler (the default: the library logs nothing). The handler may be called
    from any thread that calls into the library, so it must be thread-safe; exceptions it raises are
    swallowed (a log line must never break a call). To use the logging module::

        log = logging.getLogger("swiftlet")
        levels = [logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
        swiftlet.set_log_handler(lambda level, msg: log.log(levels[level], msg), swiftlet.LOG_DEBUG)
    """
    global _log_trampoline
    with _log_lock:
        if handler is None:
            lib.swl_set_log_callback(LogCallback(), 0, None)
            _log_trampoline = None
            return

        def trampoline(level: int, message: Optional[bytes], _user_data: Optional[int]) -> None:
            try:
                handler(int(level), decode(message))
            except Exception:  # noqa: BLE001 - see the docstring
                pass

        callback = LogCallback(trampoline)
        lib.swl_set_log_callback(callback, int(max_level), None)
        _log_trampoline = callback


@atexit.register
def _remove_log_handler() -> None:
    # The trampoline dies with the interpreter; the library must not call it afterwards.
    if _log_trampoline is not None:
        lib.swl_set_log_callback(LogCallback(), 0, None)
