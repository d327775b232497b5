"""Models: a loaded .swl file, immutable and shareable between threads."""

from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _structs as S
from ._handle import OwnedHandle
from ._library import decode, lib
from .budget import Budget, RunReport
from .errors import BufferTooSmallError, BusyError, InvalidArgumentError, StateError
from .images import rgb8
from .session import Generation, Session
from .stream import Detector, Stream
from .tensors import TensorInfo
from .text import Detokenizer, detokenize, tokenize

#: Verify every tensor checksum while loading (otherwise each tensor is verified on first use).
LOAD_VERIFY_EAGER = 1
#: swl_model_load_memory: the library copies the buffer.
LOAD_COPY_BUFFER = 2

BytesLike = Union[bytes, bytearray, memoryview, np.ndarray]


class Model(OwnedHandle):
    """A Swiftlet model loaded from a ``.swl`` file.

    A model is immutable: any number of threads may use it at once (queries, sessions, streams,
    :meth:`run`). Free it with :meth:`close` or a ``with`` block; sessions and streams made from it
    keep the underlying model alive until they are closed too.

    Example::

        with swiftlet.Model("model.swl") as model:
            (y,), report = model.run(np.ones((2, 4), np.float32), budget=swiftlet.Budget(loops=2))
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], *, verify: bool = False) -> None:
        """Loads (memory-maps) a ``.swl`` file.

        Args:
            path: the file.
            verify: check every tensor's checksum now instead of on first use.

        Raises:
            FileError: the file cannot be opened or mapped.
            FormatError, VersionError, ChecksumError, UnsupportedError: the file is not a usable model.
        """
        self._handle: Optional[int] = None
        options = S.new(S.LoadOptions)
        options.flags = LOAD_VERIFY_EAGER if verify else 0
        out = ctypes.c_void_p()
        lib.swl_model_load(os.fsencode(path), ctypes.byref(options), ctypes.byref(out))
        self._adopt(out.value, os.fspath(path))

    @classmethod
    def from_bytes(cls, data: BytesLike, *, verify: bool = False) -> "Model":
        """Loads a model from the bytes of a ``.swl`` file (the library keeps its own copy).

        Args:
            data: bytes, bytearray, memoryview or a contiguous NumPy array holding the file.
            verify: check every tensor's checksum now.
        """
        buffer: Any
        if isinstance(data, bytes):
            buffer, size = data, len(data)  # passed in place; the library copies it
        else:
            view = memoryview(data)  # type: ignore[arg-type]  # any buffer-protocol object
            if not view.c_contiguous:
                view = memoryview(view.tobytes())
            raw = view.cast("B")
            size = len(raw)
            buffer = (ctypes.c_char * size).from_buffer_copy(raw) if size else None
        options = S.new(S.LoadOptions)
        options.flags = LOAD_COPY_BUFFER | (LOAD_VERIFY_EAGER if verify else 0)
        out = ctypes.c_void_p()
        self = cls.__new__(cls)
        self._handle = None
        lib.swl_model_load_memory(buffer, size, ctypes.byref(options), ctypes.byref(out))
        self._adopt(out.value, f"<{size} bytes>")
        return self

    def _adopt(self, handle: Optional[int], origin: str) -> None:
        if not handle:
            raise StateError("the library returned no model")  # pragma: no cover - status said OK
        self._free = lib.swl_model_free
        self._handle = handle
        self._users = 0
        self._lock = threading.Lock()
        self._origin = origin
        # The model is immutable: read everything once.
        self._family = decode(lib.swl_model_family(handle))
        self._metadata = self._read_metadata(handle)
        self._labels = self._read_labels(handle)
        self._inputs = tuple(self._read_info(handle, lib.swl_model_input_count, lib.swl_model_input_info))
        self._outputs = tuple(self._read_info(handle, lib.swl_model_output_count, lib.swl_model_output_info))

    @staticmethod
    def _read_metadata(handle: int) -> Dict[str, str]:
        result: Dict[str, str] = {}
        key, value = ctypes.c_char_p(), ctypes.c_char_p()
        for i in range(lib.swl_model_metadata_count(handle)):
            lib.swl_model_metadata_key(handle, i, ctypes.byref(key))
            lib.swl_model_metadata(handle, key.value, ctypes.byref(value))
            result[decode(key.value)] = decode(value.value)
        return result

    @staticmethod
    def _read_labels(handle: int) -> Tuple[str, ...]:
        label = ctypes.c_char_p()
        names = []
        for i in range(lib.swl_model_label_count(handle)):
            lib.swl_model_label(handle, i, ctypes.byref(label))
            names.append(decode(label.value))
        return tuple(names)

    @staticmethod
    def _read_info(handle: int, count: Callable[[int], int], get: Callable[..., int]) -> List[TensorInfo]:
        infos = []
        for i in range(count(handle)):
            info = S.new(S.TensorInfo)
            get(handle, i, ctypes.byref(info))
            infos.append(TensorInfo.from_c(info))
        return infos

    # ---- queries ----------------------------------------------------------------------------------

    @property
    def family(self) -> str:
        """The model family: ``"vit"``, ``"lmuformer"``, ``"loopformer"``, ``"memoryformer"`` or ``"test"``."""
        return self._family

    @property
    def metadata(self) -> Dict[str, str]:
        """All metadata as text (numbers in decimal, arrays as ``"[a, b]"``), e.g. ``"general.name"``.
        A fresh dict each time."""
        return dict(self._metadata)

    @property
    def name(self) -> str:
        """``general.name`` from the metadata, or "" if the file has none."""
        return self._metadata.get("general.name", "")

    @property
    def labels(self) -> Tuple[str, ...]:
        """Class names (``general.labels``), one per output class; empty if the model has none."""
        return self._labels

    @property
    def inputs(self) -> Tuple[TensorInfo, ...]:
        """The inputs :meth:`run` takes, in order (shape entries of -1 mean any size)."""
        return self._inputs

    @property
    def outputs(self) -> Tuple[TensorInfo, ...]:
        """The outputs :meth:`run` returns, in order."""
        return self._outputs

    # ---- use --------------------------------------------------------------------------------------

    @contextmanager
    def _use(self) -> Iterator[int]:
        with self._lock:
            if self._handle is None:
                raise StateError("this model is closed")
            self._users += 1
        try:
            yield self._handle
        finally:
            with self._lock:
                self._users -= 1

    def session(self, threads: int = 0, abort: Optional[Callable[[], bool]] = None, *,
                calibrate: bool = False) -> Session:
        """A session for repeated whole-input runs or generation (one thread at a time).

        Args:
            threads: compute threads; 0 = all cores.
            abort: called between layers; return True to stop the call with AbortedError. An
                exception it raises stops the call and propagates.
            calibrate: measure now what each budget setting costs with these threads, so that the
                first call with ``max_latency_ms`` already chooses from measured costs (otherwise
                that call measures them and takes longer).
        """
        with self._use() as handle:
            return Session._create(handle, self._inputs, threads, abort, calibrate)

    def stream(self, pcm: bool = False, *, budget: Optional[Budget] = None, threads: int = 0,
               abort: Optional[Callable[[], bool]] = None, detect: Union[bool, Detector] = False) -> Stream:
        """A stream for frame-by-frame inference (LMUFormer and the test model).

        Args:
            pcm: feed 16 kHz mono int16 PCM through the model's audio front end (``push_pcm``)
                instead of feature frames (``push``).
            budget: an early-decision budget (``early_fraction``/``expected_frames``, ``early_margin``).
            threads: compute threads; 0 = 1 (per-frame work is too small to split).
            abort: as for :meth:`session`, polled between frames.
            detect: spot words (``True``: the default :class:`Detector`); read them from
                :attr:`Stream.detections` after each push or flush.
        """
        with self._use() as handle:
            stream = Stream._create(handle, pcm, threads, abort, detect)
        if budget is not None:
            try:
                stream.set_budget(budget)
            except BaseException:
                stream.close()
                raise
        return stream

    def run(self, *inputs: Any, budget: Optional[Budget] = None,
            threads: int = 0) -> Tuple[List[np.ndarray], RunReport]:
        """Runs the model once on whole inputs (one array per entry of :attr:`inputs`).

        Uses a fresh session; for repeated calls, keep one from :meth:`session`.

        Returns:
            The outputs (NumPy copies, in the order of :attr:`outputs`) and the run report.
        """
        with self.session(threads) as session:
            return session.run(*inputs, budget=budget)

    def run_image(self, image: Any, budget: Optional[Budget] = None,
                  threads: int = 0) -> Tuple[List[np.ndarray], RunReport]:
        """Runs an image classifier once on one image (see :meth:`Session.run_image`).

        Example::

            (logits,), report = model.run_image(swiftlet.load_image("photo.jpg"))
            best = int(logits[0].argmax())
            print(model.labels[best] if model.labels else best)
        """
        with self.session(threads) as session:
            return session.run_image(image, budget=budget)

    def preprocess(self, image: Any) -> np.ndarray:
        """The input the model makes of an image: float32 ``[1, 3, H, W]``, timm's evaluation
        transform with the file's ``image.*`` settings (for batching images into :meth:`run`, or
        checking). ``image`` as for :meth:`Session.run_image`.

        Raises:
            UnsupportedError: the model carries no image preprocessing.
        """
        pixels, stride = rgb8(image)
        height, width = pixels.shape[:2]
        t = S.new(S.Tensor)
        with self._use() as handle:
            try:  # the shape first: no buffer asks for it
                lib.swl_model_preprocess_image(handle, pixels.ctypes.data, width, height, stride, ctypes.byref(t))
            except BufferTooSmallError:
                pass
            out = np.empty(tuple(int(d) for d in t.shape[: t.n_dims]), np.float32)
            t.data = out.ctypes.data
            t.size_bytes = out.nbytes
            lib.swl_model_preprocess_image(handle, pixels.ctypes.data, width, height, stride, ctypes.byref(t))
        return out

    def generate(self, prompt_ids: Sequence[int], max_tokens: int = 16, *, temperature: float = 0.0,
                 top_k: int = 0, seed: int = 0, budget: Optional[Budget] = None,
                 stop_at: Optional[int] = None, threads: int = 0) -> Generation:
        """Generates tokens with a language model through its KV cache (see :meth:`Session.generate`)."""
        with self.session(threads) as session:
            return session.generate(prompt_ids, max_tokens, temperature=temperature, top_k=top_k,
                                    seed=seed, budget=budget, stop_at=stop_at)

    # ---- text -------------------------------------------------------------------------------------

    @property
    def has_tokenizer(self) -> bool:
        """Whether the model carries a tokenizer (converted with ``--tokenizer tokenizer.json``)."""
        with self._use() as handle:
            return bool(lib.swl_model_has_tokenizer(handle))

    def tokenize(self, text: str) -> List[int]:
        """The token ids of ``text``, as Hugging Face tokenizers' ``encode(text,
        add_special_tokens=False).ids`` gives them (special tokens written in the text become ids)."""
        with self._use() as handle:
            return tokenize(handle, text)

    def detokenize(self, ids: Sequence[int], *, skip_special: bool = False) -> str:
        """The text of ``ids``, as tokenizers' ``decode`` gives it (bytes that do not form UTF-8 become
        U+FFFD); without special tokens if ``skip_special``."""
        with self._use() as handle:
            return detokenize(handle, ids, skip_special)

    def detokenizer(self, *, skip_special: bool = False) -> Detokenizer:
        """A :class:`Detokenizer` for text that arrives one token at a time."""
        with self._use() as handle:
            return Detokenizer(handle, skip_special)

    def is_special_token(self, token: int) -> bool:
        """Whether ``token`` is a special token of the tokenizer (end of text, padding)."""
        with self._use() as handle:
            return bool(lib.swl_model_token_is_special(handle, int(token)))

    def generate_text(self, prompt: str, max_tokens: int = 16, *, temperature: float = 0.0, top_k: int = 0,
                      seed: int = 0, budget: Optional[Budget] = None, keep_special: bool = False,
                      threads: int = 0) -> Iterator[str]:
        """Generates text from a text prompt, yielding it piece by piece as tokens come (each piece
        whole characters). Stops at a special token (end of text) unless ``keep_special``."""
        prompt_ids = self.tokenize(prompt)
        if not prompt_ids:
            raise InvalidArgumentError("the prompt is empty; give at least one character")
        with self.session(threads) as session, self.detokenizer() as text:
            for token in session.generate_tokens(prompt_ids, max_tokens, temperature=temperature, top_k=top_k,
                                                 seed=seed, budget=budget):
                if not keep_special and self.is_special_token(token):
                    break
                piece = text.push(token)
                if piece:
                    yield piece
            rest = text.flush()
            if rest:
                yield rest

    # ---- lifetime ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._handle is None

    def close(self) -> None:
        """Frees the model now (sessions and streams made from it keep working). Safe to call twice."""
        with self._lock:
            if self._users:
                raise BusyError("cannot close this model while another thread is using it")
            handle, self._handle = self._handle, None
        if handle:
            self._free(handle)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"family={self._family!r}"
        return f"<swiftlet.Model {self._origin} {state}>"
