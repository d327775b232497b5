"""Threads: the GIL is released during calls; one session per thread; BUSY on a shared session."""

from __future__ import annotations

import threading
import time
from typing import List

import numpy as np
import pytest

import swiftlet


def test_gil_released_during_a_call(model: swiftlet.Model) -> None:
    """While one thread is inside a long library call, this thread keeps running Python code."""
    session = model.session(threads=1)
    # Grow the input until one call takes a while (a release build is much faster than debug).
    rows = 10_000
    while True:
        big = np.random.default_rng(1).standard_normal((rows, 4)).astype(np.float32)
        _, report = session.run(big)
        if report.microseconds >= 50_000 or rows >= 4_000_000:
            break
        rows *= 4
    window: List[float] = []

    def worker() -> None:
        start = time.perf_counter()
        session.run(big)
        window.extend([start, time.perf_counter()])

    thread = threading.Thread(target=worker)
    ticks: List[float] = []
    thread.start()
    while thread.is_alive():
        ticks.append(time.perf_counter())
    thread.join()
    session.close()
    start, end = window
    assert end - start > 0.02, "the call was too short to tell"
    # The middle of the call: with the GIL held there, this thread could not have ticked at all.
    lo, hi = start + 0.25 * (end - start), end - 0.25 * (end - start)
    inside = sum(lo <= t <= hi for t in ticks)
    assert inside > 10, f"only {inside} ticks while the library worked for {1e3 * (end - start):.1f} ms"


def test_two_threads_two_sessions(model: swiftlet.Model) -> None:
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal((2000, 4)).astype(np.float32) for _ in range(2)]
    expected = [model.run(x)[0][0] for x in inputs]
    errors: List[BaseException] = []
    results: List[List[np.ndarray]] = [[], []]

    def worker(i: int) -> None:
        try:
            with model.session(threads=1) as session:
                for loops in (4, 2, 4):
                    (y,), _ = session.run(inputs[i], budget=swiftlet.Budget(loops=loops))
                    results[i].append(y)
                with model.stream() as stream:
                    stream.push(inputs[i][:50])
                    stream.flush()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(2):
        np.testing.assert_array_equal(results[i][0], expected[i])
        np.testing.assert_array_equal(results[i][2], expected[i])
        assert not np.array_equal(results[i][1], expected[i])


def test_shared_session_is_busy(model: swiftlet.Model) -> None:
    """Thread A waits inside its abort callback (mid-run); a call on the same session from here
    gets BusyError at once, and closing it too, while another session is unaffected."""
    inside, release = threading.Event(), threading.Event()

    def hold() -> bool:
        inside.set()
        release.wait(10)
        return False

    x = np.ones((1, 4), np.float32)
    session = model.session(abort=hold)
    outcome: List[object] = []
    holder = threading.Thread(target=lambda: outcome.append(session.run(x)))
    holder.start()
    try:
        assert inside.wait(10), "the run never reached its abort callback"
        with pytest.raises(swiftlet.BusyError) as info:
            session.run(x)
        assert info.value.status == "SWL_ERR_BUSY"
        with pytest.raises(swiftlet.BusyError):
            session.close()
        with model.session() as other:
            other.run(x)
    finally:
        release.set()
        holder.join(10)
    assert len(outcome) == 1, "the holder's run did not finish"
    session.close()


def test_shared_stream_is_busy(model: swiftlet.Model, frames: np.ndarray) -> None:
    inside, release = threading.Event(), threading.Event()

    def hold() -> bool:
        inside.set()
        release.wait(10)
        return False

    stream = model.stream(abort=hold)
    holder = threading.Thread(target=stream.push, args=(frames,))
    holder.start()
    try:
        assert inside.wait(10)
        with pytest.raises(swiftlet.BusyError):
            stream.flush()
        with pytest.raises(swiftlet.BusyError):
            _ = stream.state
    finally:
        release.set()
        holder.join(10)
    assert stream.flush().shape == (1, 3)
    stream.close()
