"""Sessions: whole-input runs and language-model generation; and the token sampler."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field, replace as _replace
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import _structs as S
from ._handle import AbortHook, ReportingHandle, created as _created, null_abort
from ._library import lib
from .budget import Budget, RunReport
from .errors import InvalidArgumentError, NotFoundError, ShapeError, StateError
from .images import rgb8
from .tensors import TensorInfo, as_input, copy_out, copy_rows, describe

_U64_MASK = (1 << 64) - 1


def _threads(threads: int) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 0 <= threads < 2 ** 31:
        raise InvalidArgumentError(f"threads must be an integer >= 0 (0 = default), got {threads!r}")
    return int(threads)


def token_array(ids: Any, what: str = "token ids") -> np.ndarray:
    """Token ids as a contiguous 1-D int32 array (int64 and other integer arrays convert when they fit)."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ShapeError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, np.int32)
    if arr.dtype.kind not in "iu":
        raise ShapeError(f"{what} must be integers, got {arr.dtype}")
    if arr.min() < -(2 ** 31) or arr.max() >= 2 ** 31:
        raise ShapeError(f"{what} do not fit in int32 ({arr.min()}..{arr.max()})")
    return np.ascontiguousarray(arr, dtype=np.int32)


class Sampler:
    """Picks tokens from logits (``swl_sample``): greedy, or temperature with optional top-k.

    The generator state is seeded once; the same seed gives the same sequence of picks.
    """

    def __init__(self, temperature: float = 0.0, top_k: int = 0, seed: int = 0) -> None:
        """
        Args:
            temperature: 0 = greedy (argmax, lowest index on ties).
            top_k: sample among the k most likely tokens; 0 = whole vocabulary.
            seed: any integer in [0, 2**64).
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= _U64_MASK:
            raise InvalidArgumentError(f"seed must be an integer in [0, 2**64), got {seed!r}")
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 0 <= top_k < 2 ** 31:
            raise InvalidArgumentError(f"top_k must be an integer >= 0, got {top_k!r}")
        self._c = S.new(S.Sampler)
        self._c.temperature = float(temperature)
        self._c.top_k = int(top_k)
        self._state = ctypes.c_uint64(int(seed))

    @property
    def temperature(self) -> float:
        """Sampling temperature (0 = greedy)."""
        return float(self._c.temperature)

    @property
    def top_k(self) -> int:
        """Candidates considered (0 = all)."""
        return int(self._c.top_k)

    def _sample_pointer(self, logits: Any, vocab: int) -> int:
        token = ctypes.c_int32()
        lib.swl_sample(logits, vocab, ctypes.byref(self._c), ctypes.byref(self._state), ctypes.byref(token))
        return int(token.value)

    def sample(self, logits: Any) -> int:
        """The next token id for a 1-D array of logits."""
        arr = np.ascontiguousarray(logits, dtype=np.float32)
        if arr.ndim != 1:
            raise ShapeError(f"logits must be one-dimensional, got shape {arr.shape}")
        return self._sample_pointer(arr.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), arr.size)


@dataclass
class Generation:
    """The result of :meth:`Session.generate`.

    Attributes:
        tokens: the generated ids (the prompt excluded).
        prefill: the report of the prompt's prefill (what the budget chose for the sequence).
        steps: one report per decode step (``len(tokens) - 1`` or fewer when stopped early).
    """

    tokens: List[int]
    prefill: RunReport
    steps: List[RunReport] = field(default_factory=list)

    @property
    def decode_microseconds(self) -> float:
        """Time spent in decode steps."""
        return sum(r.microseconds for r in self.steps)

    @property
    def microseconds(self) -> float:
        """Time spent in prefill and decode."""
        return self.prefill.microseconds + self.decode_microseconds

    @property
    def tokens_per_second(self) -> float:
        """Decode speed (0 if there was no decode step)."""
        us = self.decode_microseconds
        return len(self.steps) / (us * 1e-6) if us > 0 else 0.0


class Session(ReportingHandle):
    """The per-caller state of a model (scratch memory, KV cache, outputs); see ``Model.session``.

    A session belongs to one thread at a time: a call while another thread's call runs raises
    :class:`~swiftlet.BusyError`. Different sessions run in parallel (the GIL is released during
    every library call).
    """

    _kind = "session"

    @classmethod
    def _create(cls, model_handle: int, inputs: Tuple[TensorInfo, ...], threads: int,
                abort: Optional[Callable[[], bool]], calibrate: bool = False) -> "Session":
        options = S.new(S.SessionOptions)
        options.n_threads = _threads(threads)
        options.flags = S.SESSION_CALIBRATE if calibrate else 0
        hook = AbortHook(abort) if abort is not None else None
        options.abort_callback = hook.c_function if hook else null_abort()
        out = ctypes.c_void_p()
        lib.swl_session_create(model_handle, ctypes.byref(options), ctypes.byref(out))
        return cls(_created(out.value), inputs, hook)

    def __init__(self, handle: int, inputs: Tuple[TensorInfo, ...], hook: Optional[AbortHook]) -> None:
        """Not public: use ``Model.session()``."""
        super().__init__(handle, lib.swl_session_free, hook)
        self._inputs = inputs

    # ---- whole-input runs -------------------------------------------------------------------------

    def run(self, *inputs: Any, budget: Optional[Budget] = None) -> Tuple[List[np.ndarray], RunReport]:
        """Runs the model on one array per model input.

        Inputs are converted to the model's dtypes (numbers to float32; integer token ids, int64
        included, to int32) and made C-contiguous where needed; they are read only during the call.

        Returns:
            The outputs, copied out of session memory, and the run report.

        Raises:
            ShapeError, NumericError, BudgetError, UnsupportedError, AbortedError, BusyError, ...
        """
        if len(inputs) != len(self._inputs):
            names = ", ".join(i.name for i in self._inputs)
            raise InvalidArgumentError(f"the model takes {len(self._inputs)} input(s) ({names}), got {len(inputs)}")
        arrays = [as_input(x, info, i) for i, (x, info) in enumerate(zip(inputs, self._inputs))]
        tensors = (S.Tensor * max(len(arrays), 1))(*[describe(a) for a in arrays])
        c_budget, keep = budget.to_c() if budget is not None else (None, [])
        report = S.new(S.RunReport)
        with self._use() as handle:
            self._call(lib.swl_session_run, handle, tensors, len(arrays), None, 0,
                       ctypes.byref(c_budget) if c_budget is not None else None, ctypes.byref(report))
            outputs = self._outputs(handle)
            result = RunReport.from_c(report, self._known_values(handle))
        del keep, arrays
        return outputs, result

    def run_image(self, image: Any, budget: Optional[Budget] = None) -> Tuple[List[np.ndarray], RunReport]:
        """Runs an image classifier (a vit converted with ``--preprocess``) on one image.

        The model's preprocessing (timm's evaluation transform, from the file) makes the
        ``[1, 3, H, W]`` input; the report's time and a latency budget cover it too.

        Args:
            image: a uint8 ``(height, width, 3)`` RGB array (grey ``(H, W)`` and RGBA ``(H, W, 4)``
                are converted as Pillow's ``convert("RGB")`` does: alpha dropped), or a PIL image.
                See :func:`swiftlet.load_image` for files.
            budget: as for :meth:`run` (e.g. ``Budget(merge_r=[8])``).

        Returns:
            The outputs (``outputs[0]``: logits ``[1, classes]``, named by ``Model.labels``) and the
            run report.

        Raises:
            UnsupportedError: the model carries no image preprocessing.
            ShapeError, InvalidArgumentError: a bad image (dtype, shape, empty, over 65535 pixels a side).
        """
        pixels, stride = rgb8(image)
        height, width = pixels.shape[:2]
        c_budget, keep = budget.to_c() if budget is not None else (None, [])
        report = S.new(S.RunReport)
        with self._use() as handle:
            self._call(lib.swl_session_run_image, handle, pixels.ctypes.data, width, height, stride,
                       ctypes.byref(c_budget) if c_budget is not None else None, ctypes.byref(report))
            outputs = self._outputs(handle)
            result = RunReport.from_c(report, self._known_values(handle))
        del keep, pixels
        return outputs, result

    @staticmethod
    def _outputs(handle: int) -> List[np.ndarray]:
        outputs = []
        i = 0
        while True:
            t = S.new(S.Tensor)
            try:
                lib.swl_session_output(handle, i, ctypes.byref(t))
            except NotFoundError:
                return outputs
            outputs.append(copy_out(t))
            i += 1

    @staticmethod
    def _report_values() -> Callable[..., Any]:
        return lib.swl_session_report_values

    # ---- language models --------------------------------------------------------------------------

    def prefill(self, token_ids: Sequence[int], budget: Optional[Budget] = None) -> RunReport:
        """Starts a new sequence: clears the KV cache, fixes the budget's choice for the whole
        sequence and computes logits for every prompt position (read them with :meth:`logits`)."""
        ids = token_array(token_ids, "prompt ids")
        c_budget, keep = budget.to_c() if budget is not None else (None, [])
        report = S.new(S.RunReport)
        with self._use() as handle:
            self._call(lib.swl_session_prefill, handle, ids.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                       ids.size, ctypes.byref(c_budget) if c_budget is not None else None, ctypes.byref(report))
            result = RunReport.from_c(report, self._known_values(handle))
        del keep
        return result

    def decode(self, token_id: int) -> RunReport:
        """Appends one token using the KV cache; its logits are then :meth:`logits` (one row)."""
        if isinstance(token_id, bool) or not isinstance(token_id, (int, np.integer)) \
                or not -(2 ** 31) <= token_id < 2 ** 31:
            raise InvalidArgumentError(f"token id must be an int32, got {token_id!r}")
        report = S.new(S.RunReport)
        with self._use() as handle:
            self._call(lib.swl_session_decode, handle, int(token_id), ctypes.byref(report))
            return RunReport.from_c(report)

    def logits(self) -> np.ndarray:
        """Logits of the last prefill (one row per prompt position) or decode (one row):
        a float32 array [n_positions, vocab_size]."""
        with self._use() as handle:
            pointer, rows, vocab = self._logits(handle)
            return copy_rows(pointer, rows, vocab)

    @staticmethod
    def _logits(handle: int) -> Tuple[Any, int, int]:
        pointer = ctypes.POINTER(ctypes.c_float)()
        rows, vocab = ctypes.c_uint64(), ctypes.c_uint64()
        lib.swl_session_logits(handle, ctypes.byref(pointer), ctypes.byref(rows), ctypes.byref(vocab))
        return pointer, rows.value, vocab.value

    @staticmethod
    def _last_logits(handle: int) -> Tuple[Any, int, int]:
        # Only the last row: after a prefill the other rows may not be computed yet (and need not be).
        pointer = ctypes.POINTER(ctypes.c_float)()
        vocab = ctypes.c_uint64()
        lib.swl_session_last_logits(handle, ctypes.byref(pointer), ctypes.byref(vocab))
        return pointer, 1, vocab.value

    @property
    def position(self) -> int:
        """Tokens in the KV cache."""
        return self._position()[0]

    @property
    def context_length(self) -> int:
        """The model's context limit."""
        return self._position()[1]

    def _position(self) -> Tuple[int, int]:
        with self._use() as handle:
            return self._position_of(handle)

    @staticmethod
    def _position_of(handle: int) -> Tuple[int, int]:
        position, context = ctypes.c_uint64(), ctypes.c_uint64()
        lib.swl_session_position(handle, ctypes.byref(position), ctypes.byref(context))
        return position.value, context.value

    def generate(self, prompt_ids: Sequence[int], max_tokens: int = 16, *, temperature: float = 0.0,
                 top_k: int = 0, seed: int = 0, budget: Optional[Budget] = None,
                 stop_at: Optional[int] = None) -> Generation:
        """Prefills the prompt, then samples and decodes up to ``max_tokens`` tokens.

        Stops early after ``stop_at`` (which is included) or when the context is full.

        Args:
            prompt_ids: the prompt's token ids (int32 or int64).
            max_tokens: how many tokens to generate.
            temperature: 0 = greedy (reproducible); otherwise sampling, reproducible for a ``seed``.
            top_k: sample among the k most likely tokens (0 = all).
            seed: the sampler's generator seed.
            budget: fixed at prefill for the whole sequence (e.g. ``Budget(loops=4)``).
            stop_at: a token id that ends the generation.
        """
        result = Generation(tokens=[], prefill=None)  # type: ignore[arg-type]
        for _ in self._generate(result, prompt_ids, max_tokens, temperature, top_k, seed, budget, stop_at):
            pass
        return result

    def generate_tokens(self, prompt_ids: Sequence[int], max_tokens: int = 16, *, temperature: float = 0.0,
                        top_k: int = 0, seed: int = 0, budget: Optional[Budget] = None,
                        stop_at: Optional[int] = None) -> Iterator[int]:
        """:meth:`generate`, yielding each token as it is sampled (to print text as it comes). The
        session is held until the generator ends or is closed."""
        result = Generation(tokens=[], prefill=None)  # type: ignore[arg-type]
        yield from self._generate(result, prompt_ids, max_tokens, temperature, top_k, seed, budget, stop_at)

    def _generate(self, result: Generation, prompt_ids: Sequence[int], max_tokens: int, temperature: float,
                  top_k: int, seed: int, budget: Optional[Budget], stop_at: Optional[int]) -> Iterator[int]:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 0:
            raise InvalidArgumentError(f"max_tokens must be an integer >= 0, got {max_tokens!r}")
        sampler = Sampler(temperature, top_k, seed)
        if budget is not None and budget.generation_tokens is None and max_tokens > 1:
            # A per-token limit plans for the context the generation reaches.
            budget = _replace(budget, generation_tokens=int(max_tokens) - 1)
        # Held for the whole sequence so that no other thread's call interleaves with it.
        with self._use() as handle:
            result.prefill = self.prefill(prompt_ids, budget)
            for i in range(int(max_tokens)):
                pointer, rows, vocab = self._last_logits(handle)
                if rows == 0 or vocab == 0:
                    raise StateError("the model returned no logits to sample from")
                last = ctypes.cast(ctypes.addressof(pointer.contents) + (rows - 1) * vocab * 4,
                                   ctypes.POINTER(ctypes.c_float))
                token = sampler._sample_pointer(last, vocab)
                result.tokens.append(token)
                yield token
                if token == stop_at or i == max_tokens - 1:
                    break
                position, context = self._position_of(handle)
                if position >= context:
                    break
                result.steps.append(self.decode(token))
