"""Budgets (what a call may spend) and run reports (what it chose and what it cost)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _structs as S
from ._library import decode
from .errors import InvalidArgumentError


@dataclass(frozen=True)
class Budget:
    """What a call may spend, and the per-family knobs. ``None`` (or 0) means "not set".

    Explicit knobs win over limits; with neither, the model runs at full quality. A budget that no
    setting of the model can meet raises :class:`~swiftlet.BudgetError` rather than silently
    exceeding it.

    Attributes:
        max_latency_ms: wall-clock limit per call (per token for language models).
        max_gflops: work limit per call in GFLOP (per token for language models).
        loops: LoopFormer loop steps.
        trajectory: LoopFormer explicit step sizes summing to 1 (overrides ``loops``).
        merge_r: token merging (ToMe's r): an int (constant r), ``(r, -1)`` (decreasing from 2r to
            0) or a per-layer list.
        early_fraction: streams: decide once this fraction (0, 1] of ``expected_frames`` arrived.
        early_margin: streams: decide once the top-1 minus top-2 score exceeds this.
        expected_frames: streams: the number of frames a whole input has.
        generation_tokens: language models, at prefill: the tokens the generation will add, so that
            a per-token latency limit plans for the context length it reaches (``generate`` sets it).
        min_quality: models with a quality profile: the least quality to keep, a fraction (0, 1] of
            full quality; the cheapest profiled setting that keeps it is chosen.
        generation_ms: LoopFormer, at prefill: a deadline for the whole generation (the prefill and
            ``generation_tokens`` decode steps), in milliseconds.
    """

    max_latency_ms: Optional[float] = None
    max_gflops: Optional[float] = None
    loops: Optional[int] = None
    trajectory: Optional[Sequence[float]] = None
    merge_r: Optional[Union[int, Sequence[int]]] = None
    early_fraction: Optional[float] = None
    early_margin: Optional[float] = None
    expected_frames: Optional[int] = None
    generation_tokens: Optional[int] = None
    min_quality: Optional[float] = None
    generation_ms: Optional[float] = None

    def to_c(self) -> Tuple[S.Budget, List[Any]]:
        """The C struct, and the arrays it points to (keep them alive for the call)."""
        b = S.new(S.Budget)
        keep: List[Any] = []
        b.max_latency_ms = _number(self.max_latency_ms, "max_latency_ms")
        b.max_gflops = _number(self.max_gflops, "max_gflops")
        b.loops = _integer(self.loops, "loops", 32)
        if self.trajectory is not None:
            steps = [float(_number(v, "trajectory")) for v in self.trajectory]
            b.n_trajectory, b.trajectory = _array(steps, ctypes.c_float, "trajectory", keep)
        if self.merge_r is not None:
            rs = [self.merge_r] if isinstance(self.merge_r, (int, np.integer)) else list(self.merge_r)
            values = [_integer(v, "merge_r", 32) for v in rs]
            b.n_merge_r, b.merge_r = _array(values, ctypes.c_int32, "merge_r", keep)
        b.early_fraction = _number(self.early_fraction, "early_fraction")
        b.early_margin = _number(self.early_margin, "early_margin")
        b.expected_frames = _integer(self.expected_frames, "expected_frames", 64)
        b.generation_tokens = _integer(self.generation_tokens, "generation_tokens", 64)
        b.min_quality = _number(self.min_quality, "min_quality")
        b.generation_ms = _number(self.generation_ms, "generation_ms")
        return b, keep


def _array(values: List[Any], ctype: Any, name: str, keep: List[Any]) -> Tuple[int, Any]:
    """(count, pointer) for a C array of `values`, which `keep` holds alive for the call."""
    if not values:
        raise InvalidArgumentError(f"Budget.{name} must not be empty (use None for 'not set')")
    arr = (ctype * len(values))(*values)
    keep.append(arr)
    return len(values), ctypes.cast(arr, ctypes.POINTER(ctype))


def _number(value: Optional[float], name: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"Budget.{name} must be a number, got {value!r}")
    return float(value)


def _integer(value: Optional[int], name: str, bits: int) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"Budget.{name} must be an integer, got {value!r}")
    v = int(value)
    if not -(2 ** (bits - 1)) <= v < 2 ** (bits - 1):
        raise InvalidArgumentError(f"Budget.{name} = {v} does not fit in {bits} bits")
    return v


@dataclass
class RunReport:
    """What a call chose and what it cost (``swl_run_report``).

    Attributes:
        completed: the call ran to the end (False if aborted or decided early).
        microseconds: wall-clock time of the call.
        gflops: work done in GFLOP (a multiply-add counts 2).
        loops: LoopFormer loop steps run.
        layers: blocks evaluated (all loop steps counted).
        tokens_kept: ViT tokens left after the last block, per image.
        frames_used: streams: frames consumed (before deciding, with an early decision).
        decided: streams: an early decision was made.
        choice: what the budget chose, e.g. ``"r=8"`` or ``"loops=4 (0.25,0.25,0.25,0.25)"``.
        threads_used: threads that did work in the call (never more than the session's).
        predicted_us: with a latency limit, the time the budget planned for (its p95 prediction of
            the chosen setting); 0 without one.
        deadline_met: with a latency limit, whether the call ended within it; None without one.
        predicted_quality: with a quality profile, the chosen setting's quality as a fraction of
            full quality; None when the model has none or the setting was not profiled.
        values: per-layer or per-step series the call reported (e.g. ``"tokens_per_layer"``,
            ``"spike_rate"``, ``"trajectory"``), for the names in :data:`KNOWN_VALUES`.
    """

    completed: bool = False
    microseconds: float = 0.0
    gflops: float = 0.0
    loops: int = 0
    layers: int = 0
    tokens_kept: int = 0
    frames_used: int = 0
    decided: bool = False
    choice: str = ""
    threads_used: int = 1
    predicted_us: float = 0.0
    deadline_met: Optional[bool] = None
    predicted_quality: Optional[float] = None
    values: Dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_c(cls, r: S.RunReport, values: Optional[Dict[str, np.ndarray]] = None) -> "RunReport":
        """Copies a C report (its ``choice`` string is only valid until the owner's next call)."""
        return cls(
            completed=bool(r.completed),
            microseconds=float(r.microseconds),
            gflops=float(r.gflops),
            loops=int(r.loops),
            layers=int(r.layers),
            tokens_kept=int(r.tokens_kept),
            frames_used=int(r.frames_used),
            decided=bool(r.decided),
            choice=decode(r.choice),
            threads_used=int(r.threads_used),
            predicted_us=float(r.predicted_us),
            deadline_met=None if r.deadline_met < 0 else bool(r.deadline_met),
            predicted_quality=float(r.predicted_quality) if r.predicted_quality > 0 else None,
            values=values or {},
        )


#: Report series the families publish; :attr:`RunReport.values` holds those a call reported. Any
#: other name can still be read with ``Session.report_values`` / ``Stream.report_values``.
KNOWN_VALUES: Tuple[str, ...] = (
    "tokens_per_layer", "merged_per_layer", "corrected_after_block",  # vit
    "alone_after_block", "helper_wait_us",
    "calibration_us", "planned_generation_us",                        # vit, loopformer
    "spike_rate", "u_active_fraction", "frames_in",                  # lmuformer
    "trajectory",                                                    # loopformer
    "resident_table_bytes", "resident_table_bytes_per_layer",        # memoryformer
    "table_bytes", "table_rows_touched",
    "layers_used", "rows_emitted",                                   # test
)

