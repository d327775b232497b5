"""Streams: frame-by-frame inference (LMUFormer and the test model)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from . import _structs as S
from ._handle import AbortHook, ReportingHandle, created as _created, null_abort
from ._library import decode, lib
from .budget import Budget, RunReport
from .errors import InvalidArgumentError, ShapeError
from .tensors import copy_rows

STREAM_FRAMES = 0
STREAM_PCM = 1


@dataclass(frozen=True)
class Detector:
    """Word detection on a stream (``Model.stream(pcm=True, detect=Detector(...))``).

    Per frame, the posteriors (softmax of the model's logits for that frame alone) are averaged over
    ``window`` seconds; a word class reaching ``threshold`` is reported once, at its peak (at most one
    window after it), and no other word starts for ``hold_off`` seconds after it. ``frame_seconds``:
    seconds per frame (None: the model's audio frame shift, 10 ms without one). ``background``: class
    indices never reported; None: the classes whose label is silence, unknown, background,
    background_noise or noise (any case, with surrounding ``_``: ``_silence_``, ``_unknown_``).
    A detecting stream listens until flushed (a PCM stream does not end at the model's clip length).
    """

    threshold: float = 0.5
    window: float = 0.3
    hold_off: float = 0.3
    frame_seconds: Optional[float] = None
    background: Optional[Sequence[int]] = None


@dataclass(frozen=True)
class Detection:
    """A word found by a detecting stream: its class name and index, where it is (``seconds`` into
    the input; ``frame``, counted from the stream's start or reset) and its smoothed posterior."""

    word: str
    class_index: int
    seconds: float
    score: float
    frame: int


class Stream(ReportingHandle):
    """A live input, pushed in pieces as it arrives; see ``Model.stream``.

    Every push returns the output rows it produced (one per frame, held back by the model's
    look-ahead where it has one); :meth:`flush` ends the input and returns the rest, so the rows of
    any chunking equal those of one push of everything. A stream belongs to one thread at a time.
    """

    _kind = "stream"

    @classmethod
    def _create(cls, model_handle: int, pcm: bool, threads: int,
                abort: Optional[Callable[[], bool]], detect: Any = None) -> "Stream":
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 0 <= threads < 2 ** 31:
            raise InvalidArgumentError(f"threads must be an integer >= 0, got {threads!r}")
        options = S.new(S.StreamOptions)
        options.input_kind = STREAM_PCM if pcm else STREAM_FRAMES
        options.n_threads = int(threads)
        hook = AbortHook(abort) if abort is not None else None
        options.abort_callback = hook.c_function if hook else null_abort()
        if detect is True:
            detect = Detector()
        if detect is not None and detect is not False:
            if not isinstance(detect, Detector):
                raise InvalidArgumentError(f"detect must be True or a swiftlet.Detector, got {detect!r}")
            c_detector = S.new(S.DetectorOptions)
            c_detector.threshold = detect.threshold
            c_detector.window_seconds = detect.window
            c_detector.hold_off_seconds = detect.hold_off
            c_detector.frame_seconds = detect.frame_seconds or 0.0
            if detect.background is not None:
                background = np.ascontiguousarray(np.asarray(list(detect.background), dtype=np.int64))
                if background.size and (background.min() < -2 ** 31 or background.max() >= 2 ** 31):
                    raise InvalidArgumentError(f"background classes {list(detect.background)} are out of range")
                background = background.astype(np.int32)
                keep = (ctypes.c_int32 * max(background.size, 1))(*background.tolist())
                c_detector.background = ctypes.cast(keep, ctypes.POINTER(ctypes.c_int32))
                c_detector.n_background = background.size
            options.detector = ctypes.pointer(c_detector)
        out = ctypes.c_void_p()
        lib.swl_stream_create(model_handle, ctypes.byref(options), ctypes.byref(out))
        return cls(_created(out.value), pcm, hook, detecting=options.detector is not None and bool(options.detector))

    def __init__(self, handle: int, pcm: bool, hook: Optional[AbortHook], detecting: bool = False) -> None:
        """Not public: use ``Model.stream()``."""
        super().__init__(handle, lib.swl_stream_free, hook)
        self._pcm = pcm
        self._detecting = detecting
        width = ctypes.c_uint64()
        lib.swl_stream_frame_width(handle, ctypes.byref(width))
        self._frame_width = int(width.value)
        lib.swl_stream_output_width(handle, ctypes.byref(width))
        self._output_width = int(width.value)

    @property
    def pcm(self) -> bool:
        """True if this stream takes PCM samples (``push_pcm``), False for feature frames (``push``)."""
        return self._pcm

    @property
    def detecting(self) -> bool:
        """True if this stream was made with a detector (``Model.stream(detect=...)``)."""
        return self._detecting

    @property
    def detections(self) -> List[Detection]:
        """The words the last push or flush completed, in order (a flush also reports a word still
        open at the end of the input).

        Raises:
            StateError: the stream was made without a detector.
        """
        with self._use() as handle:
            pointer = ctypes.POINTER(S.Detection)()
            n = ctypes.c_uint64()
            lib.swl_stream_detections(handle, ctypes.byref(pointer), ctypes.byref(n))
            return [Detection(word=decode(d.label), class_index=int(d.class_index), seconds=float(d.seconds),
                              score=float(d.score), frame=int(d.frame))
                    for d in (pointer[i] for i in range(n.value))]

    @property
    def frame_width(self) -> int:
        """Floats per input frame."""
        return self._frame_width

    @property
    def output_width(self) -> int:
        """Floats per output row."""
        return self._output_width

    def _rows(self, handle: int) -> np.ndarray:
        pointer = ctypes.POINTER(ctypes.c_float)()
        n = ctypes.c_uint64()
        lib.swl_stream_outputs(handle, ctypes.byref(pointer), ctypes.byref(n))
        return copy_rows(pointer, n.value, self._output_width)

    def push(self, frames: Any) -> np.ndarray:
        """Pushes feature frames: a [n, frame_width] array (or one [frame_width] frame; leading
        dimensions are flattened). Returns the rows this push produced, [n_ready, output_width]."""
        arr = np.asarray(frames)
        if arr.dtype.kind not in "fiub":
            raise ShapeError(f"frames must be numeric, got {arr.dtype}")
        if arr.ndim == 0 or arr.shape[-1] != self._frame_width:
            raise ShapeError(f"frames must have {self._frame_width} values in their last dimension, "
                             f"got shape {arr.shape}")
        arr = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1, self._frame_width)
        with self._use() as handle:
            self._call(lib.swl_stream_push, handle, arr.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                       arr.shape[0], None)
            return self._rows(handle)

    def push_pcm(self, samples: Any) -> np.ndarray:
        """Pushes 16 kHz mono PCM samples (int16; other integer arrays convert when they fit) through
        the model's audio front end. Returns the rows this push produced."""
        arr = np.asarray(samples)
        if arr.ndim != 1:
            raise ShapeError(f"PCM samples must be one-dimensional, got shape {arr.shape}")
        if arr.size and arr.dtype != np.int16:
            if arr.dtype.kind not in "iu":
                raise ShapeError(f"PCM samples must be int16, got {arr.dtype}")
            if arr.min() < -32768 or arr.max() > 32767:
                raise ShapeError(f"PCM samples {arr.min()}..{arr.max()} do not fit in int16")
        arr = np.ascontiguousarray(arr, dtype=np.int16)
        with self._use() as handle:
            self._call(lib.swl_stream_push_pcm, handle, arr.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)),
                       arr.size, None)
            return self._rows(handle)

    def flush(self) -> np.ndarray:
        """Ends the input: returns the rows still held back for look-ahead."""
        with self._use() as handle:
            self._call(lib.swl_stream_flush, handle, None)
            return self._rows(handle)

    def reset(self) -> None:
        """Forgets everything pushed: the stream is as new (its budget is kept)."""
        with self._use() as handle:
            lib.swl_stream_reset(handle)

    def set_budget(self, budget: Optional[Budget]) -> None:
        """Sets the early-decision budget (``None`` clears it).

        Raises:
            BudgetError: e.g. an ``early_fraction`` outside (0, 1].
        """
        c_budget, keep = budget.to_c() if budget is not None else (None, [])
        with self._use() as handle:
            lib.swl_stream_set_budget(handle, ctypes.byref(c_budget) if c_budget is not None else None)
        del keep

    @property
    def report(self) -> RunReport:
        """The stream so far: frames used, decision, work, time."""
        report = S.new(S.RunReport)
        with self._use() as handle:
            lib.swl_stream_report(handle, ctypes.byref(report))
            return RunReport.from_c(report, self._known_values(handle))

    @staticmethod
    def _report_values() -> Callable[..., Any]:
        return lib.swl_stream_report_values

    @property
    def state(self) -> bytes:
        """The stream state as bytes; assign it to a stream of the same model to resume there.

        Raises (on assignment):
            InvalidArgumentError: the bytes are not a state of this model's streams.
        """
        with self._use() as handle:
            size = ctypes.c_uint64()
            lib.swl_stream_state_size(handle, ctypes.byref(size))
            buffer = ctypes.create_string_buffer(size.value)
            written = ctypes.c_uint64()
            lib.swl_stream_save_state(handle, buffer, size.value, ctypes.byref(written))
            return buffer.raw[: written.value]

    @state.setter
    def state(self, value: bytes) -> None:
        data = bytes(value)
        with self._use() as handle:
            lib.swl_stream_load_state(handle, data, len(data))

    def __repr__(self) -> str:
        kind = "pcm" if self._pcm else f"frames of {self._frame_width}"
        return f"<swiftlet.Stream {kind} -> rows of {self._output_width}{' closed' if self.closed else ''}>"
