"""Whole-input runs: arrays in and out, budgets and reports, errors, abort."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import swiftlet


def test_run_returns_numpy_outputs_and_report(model: swiftlet.Model, x: np.ndarray) -> None:
    outputs, report = model.run(x)
    assert isinstance(outputs, list) and len(outputs) == 1
    (y,) = outputs
    assert y.dtype == np.float32 and y.shape == (2, 3) and y.flags.writeable and y.flags.c_contiguous
    assert np.all(np.isfinite(y))
    assert isinstance(report, swiftlet.RunReport)
    assert report.completed and report.loops == 4 and report.layers == 8
    assert report.gflops == pytest.approx(2 * (4 * (2 * 16 + 8) + 24) * 1e-9)
    assert report.microseconds >= 0
    # the test model is too small to split: the caller's thread does all of it
    assert report.threads_used == 1
    np.testing.assert_array_equal(report.values["layers_used"], [4.0])


def test_loops_budget_changes_output_and_report(model: swiftlet.Model, x: np.ndarray) -> None:
    (y2,), r2 = model.run(x, budget=swiftlet.Budget(loops=2))
    (y4,), r4 = model.run(x, budget=swiftlet.Budget(loops=4))
    (full,), _ = model.run(x)
    assert (r2.loops, r2.choice) == (2, "loops=2")
    assert (r4.loops, r4.choice) == (4, "loops=4")
    assert not np.array_equal(y2, y4)
    np.testing.assert_array_equal(y4, full)  # all layers is full quality
    assert r2.gflops < r4.gflops


def test_flop_budget_chooses_loops(model: swiftlet.Model, x: np.ndarray) -> None:
    # 2 rows x (2 loops x (2*16 + 8) + 24) FLOP = 208e-9 GFLOP fits; 3 loops would not.
    _, report = model.run(x, budget=swiftlet.Budget(max_gflops=210e-9))
    assert report.loops == 2 and report.gflops <= 210e-9


def test_rows_are_independent(model: swiftlet.Model, x: np.ndarray) -> None:
    (both,), _ = model.run(x)
    for i in range(2):
        (one,), _ = model.run(x[i:i + 1])
        np.testing.assert_allclose(one[0], both[i], rtol=0, atol=1e-6)


def test_matches_the_cli(model_path: Path, model: swiftlet.Model, cli: Path, tmp_path: Path) -> None:
    """The CLI runs the Swift API in another process; the bindings go through the C ABI."""
    inp = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", inp)
    subprocess.run([str(cli), "run", str(model_path), "--input", str(tmp_path / "x.npy"),
                    "--output", str(tmp_path / "y.npy"), "--loops", "3"], check=True, capture_output=True)
    (y,), report = model.run(inp, budget=swiftlet.Budget(loops=3))
    np.testing.assert_array_equal(y, np.load(tmp_path / "y.npy"))
    assert report.loops == 3


def test_input_conversions(model: swiftlet.Model, x: np.ndarray) -> None:
    (want,), _ = model.run(x)
    # float64, nested lists, Fortran order and strided views all give the same result
    for variant in (x.astype(np.float64), x.tolist(), np.asfortranarray(x),
                    np.repeat(x, 2, axis=1)[:, ::2], np.stack([x, x])[0]):
        (got,), _ = model.run(variant)
        np.testing.assert_array_equal(got, want)
    ints = np.array([[1, 2, 3, 4]], dtype=np.int64)
    (a,), _ = model.run(ints)
    (b,), _ = model.run(ints.astype(np.float32))
    np.testing.assert_array_equal(a, b)


def test_empty_batch(model: swiftlet.Model) -> None:
    (y,), _ = model.run(np.zeros((0, 4), np.float32))
    assert y.shape == (0, 3)


def test_session_reuse(model: swiftlet.Model, x: np.ndarray) -> None:
    with model.session(threads=1) as session:
        (a,), _ = session.run(x, budget=swiftlet.Budget(loops=2))
        (b,), _ = session.run(x[::-1])
        (c,), _ = session.run(x, budget=swiftlet.Budget(loops=2))
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b[::-1], session.run(x)[0][0])
        a[:] = 0  # outputs are copies, not views of session memory
        np.testing.assert_array_equal(session.run(x, budget=swiftlet.Budget(loops=2))[0][0], c)
        np.testing.assert_array_equal(session.report_values("layers_used"), [2.0])
        with pytest.raises(swiftlet.NotFoundError):
            session.report_values("no_such_series")


def test_shape_error_carries_the_message(model: swiftlet.Model) -> None:
    with pytest.raises(swiftlet.ShapeError) as info:
        model.run(np.ones((2, 5), np.float32))
    err = info.value
    assert err.status == "SWL_ERR_SHAPE" and err.code == 7
    assert "4" in err.message and "5" in err.message, err.message
    assert str(err).startswith("SWL_ERR_SHAPE: ")
    assert isinstance(err, ValueError)
    with pytest.raises(swiftlet.ShapeError):
        model.run(np.ones((2, 2, 4), np.float32))


def test_dtype_errors_found_before_the_call(model: swiftlet.Model) -> None:
    with pytest.raises(swiftlet.ShapeError, match="input 0 \\('x'\\)"):
        model.run(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(swiftlet.InvalidArgumentError, match="1 input"):
        model.run(np.ones((1, 4)), np.ones((1, 4)))
    with pytest.raises(swiftlet.InvalidArgumentError):
        model.run()


def test_nan_input(model: swiftlet.Model, x: np.ndarray) -> None:
    x[0, 3] = np.nan
    with pytest.raises(swiftlet.NumericError) as info:
        model.run(x)
    assert info.value.status == "SWL_ERR_NUMERIC" and info.value.message
    x[0, 3] = np.inf
    with pytest.raises(swiftlet.NumericError):
        model.run(x)


@pytest.mark.parametrize("budget, error", [
    (swiftlet.Budget(loops=99), swiftlet.BudgetError),
    (swiftlet.Budget(loops=-1), swiftlet.BudgetError),
    (swiftlet.Budget(max_gflops=1e-12), swiftlet.BudgetError),
    (swiftlet.Budget(merge_r=4), swiftlet.UnsupportedError),
    (swiftlet.Budget(merge_r=[]), swiftlet.InvalidArgumentError),
    (swiftlet.Budget(loops=2.5), swiftlet.InvalidArgumentError),  # type: ignore[arg-type]
    (swiftlet.Budget(max_latency_ms="fast"), swiftlet.InvalidArgumentError),  # type: ignore[arg-type]
    (swiftlet.Budget(min_quality=0.9), swiftlet.UnsupportedError),  # no quality profile in this model
    (swiftlet.Budget(min_quality=1.5), swiftlet.BudgetError),
    (swiftlet.Budget(generation_tokens=-2), swiftlet.BudgetError),
])
def test_budget_errors(model: swiftlet.Model, x: np.ndarray, budget: swiftlet.Budget, error: type) -> None:
    with pytest.raises(error) as info:
        model.run(x, budget=budget)
    assert info.value.message


def test_latency_limit_reports_whether_it_was_met(model: swiftlet.Model, x: np.ndarray) -> None:
    session = model.session(threads=1, calibrate=True)
    _, met = session.run(x, budget=swiftlet.Budget(max_latency_ms=10_000))
    assert met.deadline_met is True
    _, plain = session.run(x)
    assert plain.deadline_met is None and plain.predicted_us == 0 and plain.predicted_quality is None


def test_budget_message_from_library(model: swiftlet.Model, x: np.ndarray) -> None:
    with pytest.raises(swiftlet.BudgetError) as info:
        model.run(x, budget=swiftlet.Budget(loops=99))
    assert "99" in info.value.message, info.value.message


def test_bad_threads(model: swiftlet.Model) -> None:
    with pytest.raises(swiftlet.InvalidArgumentError):
        model.session(threads=-1)


def test_abort_callback(model: swiftlet.Model, x: np.ndarray) -> None:
    calls = []
    with model.session(abort=lambda: calls.append(1) or True) as session:
        with pytest.raises(swiftlet.AbortedError):
            session.run(x)
        assert len(calls) == 1
    with model.session(abort=lambda: False) as session:
        (y,), report = session.run(x)
        assert report.completed


def test_exception_in_abort_callback_propagates(model: swiftlet.Model, x: np.ndarray) -> None:
    class Stop(Exception):
        pass

    def boom() -> bool:
        raise Stop("from the callback")

    with model.session(abort=boom) as session:
        with pytest.raises(Stop) as info:
            session.run(x)
        assert isinstance(info.value.__cause__, swiftlet.AbortedError)
        # the session is still usable and the stale exception does not leak into the next error
        with pytest.raises(swiftlet.ShapeError):
            session.run(np.ones((1, 5), np.float32))
