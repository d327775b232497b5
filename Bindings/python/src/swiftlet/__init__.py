"""Swiftlet: a CPU inference runtime for efficient transformers that run under a compute budget.

These bindings load ``libswiftlet.so`` with ctypes (searched in ``$SWIFTLET_LIBRARY``, then next to
this package in ``swiftlet/lib/``, then the install prefixes and the dynamic loader's path) and wrap
its C interface (swiftlet.h) with NumPy in and out. The GIL is released during every library call.
The library needs the system's OpenBLAS and zstd (Debian/Ubuntu: ``apt-get install libopenblas0
libzstd1``); ``swiftlet.convert`` runs the ``swiftlet`` command-line tool.

Example::

    import numpy as np
    import swiftlet

    with swiftlet.Model("model.swl") as model:
        print(model.family, model.metadata["general.name"], model.inputs)
        (y,), report = model.run(np.ones((2, 4), np.float32), budget=swiftlet.Budget(loops=2))
        print(y, report.choice, report.microseconds)
"""

# Only the names of __all__ (and the submodules) are public here: helpers stay inside their modules.
from ._convert import ConvertError, convert
from ._library import ABI_VERSION, abi_version, library_version, loaded_library_path as library_path
from ._log import LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARN, set_log_handler
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
    "convert", "ConvertError",
]
