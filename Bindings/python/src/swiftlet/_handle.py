"""Ownership of the library's handles: deterministic close(), context managers, __del__."""

from __future__ import annotations

import ctypes
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar

import numpy as np

from ._structs import AbortCallback
from .budget import KNOWN_VALUES
from .errors import BusyError, Error, NotFoundError, StateError
from .tensors import copy_rows

H = TypeVar("H", bound="OwnedHandle")


class OwnedHandle:
    """A library handle freed by ``close()``, by a ``with`` block's end, or when collected."""

    _handle: Optional[int]
    _free: Callable[[Any], None]

    def close(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __enter__(self: H) -> H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle and not sys.is_finalizing():
            self._handle = None
            self._free(handle)


def report_series(function: Callable[..., Any], handle: int, name: str) -> "np.ndarray":
    """A report series (``swl_session_report_values`` / ``swl_stream_report_values``), copied."""
    pointer = ctypes.POINTER(ctypes.c_double)()
    count = ctypes.c_uint64()
    function(handle, name.encode(), ctypes.byref(pointer), ctypes.byref(count))
    return copy_rows(pointer, 1, count.value, np.dtype(np.float64)).reshape(-1)


def known_series(function: Callable[..., Any], handle: int) -> Dict[str, "np.ndarray"]:
    """Each series of :data:`KNOWN_VALUES` that the last call reported, by name."""
    found = {}
    for name in KNOWN_VALUES:
        try:
            found[name] = report_series(function, handle, name)
        except NotFoundError:
            pass
    return found


class ExclusiveHandle(OwnedHandle):
    """A session or stream handle: one call at a time, like the C ABI's ownership rule.

    A second thread calling in while a call runs gets :class:`BusyError` at once, as the library
    would answer; doing the check here also covers multi-step calls (run, then copy the outputs out)
    and makes ``close()`` during a call impossible.
    """

    _kind = "handle"

    def __init__(self, handle: int, free: Callable[[Any], None], hook: Optional["AbortHook"] = None) -> None:
        self._handle: Optional[int] = handle
        self._free = free
        self._hook = hook  # referenced for the handle's lifetime: the library keeps its pointer
        self._lock = threading.RLock()
        self._depth = 0

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Calls the library; an exception raised by the abort callable wins over SWL_ERR_ABORTED."""
        hook = self._hook
        if hook is not None:
            hook.arm()
        try:
            return function(*args)
        except Error as error:
            pending = hook.take() if hook is not None else None
            if pending is not None:
                raise pending from error
            raise

    @contextmanager
    def _use(self) -> Iterator[int]:
        if not self._lock.acquire(blocking=False):
            raise BusyError(f"this {self._kind} is in use by another thread; use one {self._kind} per thread")
        try:
            if self._handle is None:
                raise StateError(f"this {self._kind} is closed")
            self._depth += 1
            try:
                yield self._handle
            finally:
                self._depth -= 1
        finally:
            self._lock.release()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._handle is None

    def close(self) -> None:
        """Frees the handle now. Safe to call twice; later calls on this object raise StateError."""
        if not self._lock.acquire(blocking=False):
            raise BusyError(f"cannot close this {self._kind}: another thread is using it")
        try:
            if self._depth:
                raise BusyError(f"cannot close this {self._kind} from inside one of its own calls")
            handle, self._handle = self._handle, None
        finally:
            self._lock.release()
        if handle:
            self._free(handle)


class ReportingHandle(ExclusiveHandle):
    """A session or stream: its calls leave report series, read through ``_report_values`` (the
    handle's ``swl_*_report_values``)."""

    def _report_values(self) -> Callable[..., Any]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def report_values(self, name: str) -> "np.ndarray":
        """A series of the last call (a session) or of the stream so far, e.g. ``"tokens_per_layer"``
        or ``"spike_rate"`` (a copy).

        Raises:
            NotFoundError: no such series was reported.
        """
        with self._use() as handle:
            return report_series(self._report_values(), handle, name)

    def _known_values(self, handle: int) -> Dict[str, "np.ndarray"]:
        return known_series(self._report_values(), handle)


class AbortHook:
    """Turns a Python callable into the library's abort callback.

    The callable runs on the calling thread between layers (and loop steps and frames) and returns
    True to stop the call. An exception raised inside it stops the call too and is re-raised by the
    binding once the library returns. (A signal's KeyboardInterrupt can surface as the callback is
    entered, before this wrapper can catch it; ctypes then reports it as ignored, so do not rely on
    Ctrl-C here: have the callable check a flag that a signal handler sets.)
    """

    def __init__(self, should_abort: Callable[[], bool]) -> None:
        self._should_abort = should_abort
        self.pending: List[BaseException] = []
        self.c_function = AbortCallback(self._call)

    def _call(self, _user_data: Optional[int]) -> int:
        try:
            return 1 if self._should_abort() else 0
        except BaseException as error:  # noqa: B902 - re-raised after the foreign call returns
            self.pending.append(error)
            return 1

    def arm(self) -> None:
        """Forgets exceptions left from an earlier call."""
        self.pending.clear()

    def take(self) -> Optional[BaseException]:
        """The exception the callable raised during the last call, if any."""
        error = self.pending[0] if self.pending else None
        self.pending.clear()
        return error


def null_abort() -> Any:
    """A NULL swl_abort_callback."""
    return AbortCallback()


def created(handle: Optional[int]) -> int:
    """The handle a successful _create call returned (never NULL when the status was OK)."""
    if not handle:
        raise StateError("the library returned SWL_OK without a handle")  # pragma: no cover
    return handle
