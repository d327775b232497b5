"""Exceptions: one class per swl_status, all subclasses of :class:`Error`."""

from __future__ import annotations

from typing import Dict, Optional, Type

# Status codes of swiftlet.h; part of the ABI, never renumbered.
OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_IO = 2
ERR_FORMAT = 3
ERR_VERSION = 4
ERR_CHECKSUM = 5
ERR_UNSUPPORTED = 6
ERR_SHAPE = 7
ERR_BUSY = 8
ERR_ABORTED = 9
ERR_BUDGET = 10
ERR_OUT_OF_MEMORY = 11
ERR_NOT_FOUND = 12
ERR_BUFFER_TOO_SMALL = 13
ERR_STATE = 14
ERR_NUMERIC = 15
ERR_CONTEXT_FULL = 16
ERR_INTERNAL = 99

STATUS_NAMES: Dict[int, str] = {
    OK: "SWL_OK",
    ERR_INVALID_ARGUMENT: "SWL_ERR_INVALID_ARGUMENT",
    ERR_IO: "SWL_ERR_IO",
    ERR_FORMAT: "SWL_ERR_FORMAT",
    ERR_VERSION: "SWL_ERR_VERSION",
    ERR_CHECKSUM: "SWL_ERR_CHECKSUM",
    ERR_UNSUPPORTED: "SWL_ERR_UNSUPPORTED",
    ERR_SHAPE: "SWL_ERR_SHAPE",
    ERR_BUSY: "SWL_ERR_BUSY",
    ERR_ABORTED: "SWL_ERR_ABORTED",
    ERR_BUDGET: "SWL_ERR_BUDGET",
    ERR_OUT_OF_MEMORY: "SWL_ERR_OUT_OF_MEMORY",
    ERR_NOT_FOUND: "SWL_ERR_NOT_FOUND",
    ERR_BUFFER_TOO_SMALL: "SWL_ERR_BUFFER_TOO_SMALL",
    ERR_STATE: "SWL_ERR_STATE",
    ERR_NUMERIC: "SWL_ERR_NUMERIC",
    ERR_CONTEXT_FULL: "SWL_ERR_CONTEXT_FULL",
    ERR_INTERNAL: "SWL_ERR_INTERNAL",
}


class Error(Exception):
    """An error reported by Swiftlet (or found by these bindings before calling it).

    Attributes:
        code: the numeric ``swl_status`` (e.g. 7).
        status: its constant name (e.g. ``"SWL_ERR_SHAPE"``).
        message: the library's one-line message (``swl_last_error()``).
    """

    #: The status this class stands for; subclasses override it.
    default_code: int = ERR_INTERNAL

    def __init__(self, message: str, code: Optional[int] = None, status: Optional[str] = None) -> None:
        self.code: int = self.default_code if code is None else code
        self.status: str = status or STATUS_NAMES.get(self.code, "SWL_ERR_UNKNOWN")
        self.message: str = message
        super().__init__(f"{self.status}: {message}" if message else self.status)


class InvalidArgumentError(Error, ValueError):
    """NULL where not allowed, a bad struct_size or a bad option value (SWL_ERR_INVALID_ARGUMENT)."""

    default_code = ERR_INVALID_ARGUMENT


class FileError(Error):
    """The file could not be opened, read, mapped or written (SWL_ERR_IO)."""

    default_code = ERR_IO


class FormatError(Error):
    """The file is not a valid .swl file: truncated, corrupt, ... (SWL_ERR_FORMAT)."""

    default_code = ERR_FORMAT


class VersionError(Error):
    """The file needs a newer Swiftlet (SWL_ERR_VERSION)."""

    default_code = ERR_VERSION


class ChecksumError(Error):
    """A checksum did not match: the file is damaged (SWL_ERR_CHECKSUM)."""

    default_code = ERR_CHECKSUM


class UnsupportedError(Error):
    """Unknown family, dtype, codec or an option the model lacks (SWL_ERR_UNSUPPORTED)."""

    default_code = ERR_UNSUPPORTED


class ShapeError(Error, ValueError):
    """An input has the wrong dtype, rank or dimensions (SWL_ERR_SHAPE)."""

    default_code = ERR_SHAPE


class BusyError(Error):
    """The session or stream is in use by another call (SWL_ERR_BUSY)."""

    default_code = ERR_BUSY


class AbortedError(Error):
    """The abort callback asked to stop (SWL_ERR_ABORTED)."""

    default_code = ERR_ABORTED


class BudgetError(Error, ValueError):
    """The budget is out of range or cannot be met (SWL_ERR_BUDGET)."""

    default_code = ERR_BUDGET


class OutOfMemoryError(Error, MemoryError):
    """An allocation failed (SWL_ERR_OUT_OF_MEMORY)."""

    default_code = ERR_OUT_OF_MEMORY


class NotFoundError(Error, LookupError):
    """No such metadata key, input, output or report value (SWL_ERR_NOT_FOUND)."""

    default_code = ERR_NOT_FOUND


class BufferTooSmallError(Error):
    """A caller-owned buffer is too small (SWL_ERR_BUFFER_TOO_SMALL)."""

    default_code = ERR_BUFFER_TOO_SMALL


class StateError(Error):
    """The call is not valid now, e.g. decode before prefill or a closed handle (SWL_ERR_STATE)."""

    default_code = ERR_STATE


class NumericError(Error, ValueError):
    """An input holds NaN or infinity (SWL_ERR_NUMERIC)."""

    default_code = ERR_NUMERIC


class ContextFullError(Error):
    """A language model's context length would be exceeded (SWL_ERR_CONTEXT_FULL)."""

    default_code = ERR_CONTEXT_FULL


class InternalError(Error):
    """A bug in Swiftlet; please report it with the message (SWL_ERR_INTERNAL)."""

    default_code = ERR_INTERNAL


ERROR_CLASSES: Dict[int, Type[Error]] = {
    cls.default_code: cls
    for cls in (
        InvalidArgumentError, FileError, FormatError, VersionError, ChecksumError, UnsupportedError,
        ShapeError, BusyError, AbortedError, BudgetError, OutOfMemoryError, NotFoundError,
        BufferTooSmallError, StateError, NumericError, ContextFullError, InternalError,
    )
}


def error_for(code: int, message: str, status: Optional[str] = None) -> Error:
    """The exception for a status: its own subclass, or plain :class:`Error` for a code this version
    of the bindings does not know yet."""
    cls = ERROR_CLASSES.get(code, Error)
    return cls(message, code=code, status=status)
