"""Text: the tokenizer a language model carries (``swiftlet convert --tokenizer tokenizer.json``)."""

from __future__ import annotations

import ctypes
import threading
from typing import Any, List, Sequence

from ._handle import OwnedHandle
from ._library import lib
from .errors import BufferTooSmallError, BusyError

#: Leave out special tokens (end of text, padding) when turning ids into text.
DETOKENIZE_SKIP_SPECIAL = 1


def tokenize(handle: int, text: str) -> List[int]:
    data = text.encode("utf-8")
    # A token covers at least one byte, so the byte count bounds the id count.
    ids = (ctypes.c_int32 * max(1, len(data)))()
    count = ctypes.c_uint64()
    lib.swl_tokenize(handle, data, len(data), ids, len(ids), ctypes.byref(count))
    return list(ids[:count.value])


def detokenize(handle: int, ids: Sequence[int], skip_special: bool) -> str:
    array = (ctypes.c_int32 * max(1, len(ids)))(*[int(i) for i in ids])
    length = ctypes.c_uint64()
    flags = DETOKENIZE_SKIP_SPECIAL if skip_special else 0
    capacity = 8 * len(ids) + 16
    while True:
        text = ctypes.create_string_buffer(capacity)
        try:
            lib.swl_detokenize(handle, array, len(ids), flags, text, capacity, ctypes.byref(length))
        except BufferTooSmallError:
            capacity = length.value + 1
            continue
        return text.raw[:length.value].decode("utf-8")


class Detokenizer(OwnedHandle):
    """Text for ids that arrive one at a time: :meth:`push` returns only whole characters, holding
    back the bytes of a character that a token leaves unfinished; the pieces joined are
    :meth:`Model.detokenize` of all the ids. Made by :meth:`Model.detokenizer`; one thread at a time.
    """

    def __init__(self, model_handle: int, skip_special: bool) -> None:
        self._handle = None
        self._free = lib.swl_detokenizer_free
        self._lock = threading.Lock()
        out = ctypes.c_void_p()
        lib.swl_detokenizer_create(model_handle, DETOKENIZE_SKIP_SPECIAL if skip_special else 0, ctypes.byref(out))
        self._handle = out.value

    def _call(self, function: Any, *args: Any) -> str:
        if not self._lock.acquire(blocking=False):
            raise BusyError("this detokenizer is in use by another thread; use one per thread")
        try:
            if self._handle is None:
                raise ValueError("the detokenizer is closed")
            text, length = ctypes.c_void_p(), ctypes.c_uint64()
            function(self._handle, *args, ctypes.byref(text), ctypes.byref(length))
            if length.value == 0:
                return ""
            return ctypes.string_at(text.value, length.value).decode("utf-8")
        finally:
            self._lock.release()

    def push(self, token: int) -> str:
        """The text ``token`` completes (often ``""`` while a character is unfinished)."""
        return self._call(lib.swl_detokenizer_push, int(token))

    def flush(self) -> str:
        """What is still held back (an unfinished character becomes U+FFFD); then as new."""
        return self._call(lib.swl_detokenizer_flush)

    def close(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
        if handle:
            self._free(handle)
