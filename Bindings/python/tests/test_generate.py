"""Language-model generation: prefill, decode, logits, sampling."""

from __future__ import annotations

import numpy as np
import pytest

import swiftlet


def test_prefill_logits_and_position(model: swiftlet.Model) -> None:
    with model.session() as session:
        report = session.prefill([1, 2, 3], swiftlet.Budget(loops=3))
        assert report.loops == 3 and report.choice == "loops=3"
        logits = session.logits()
        assert logits.shape == (3, 6) and logits.dtype == np.float32
        assert (session.position, session.context_length) == (3, 16)


def test_decode_equals_prefill(model: swiftlet.Model) -> None:
    with model.session() as session:
        session.prefill(np.array([1, 2, 3], np.int64))
        full = session.logits()[-1]
        session.prefill([1, 2])
        session.decode(3)
        step = session.logits()
        assert step.shape == (1, 6)
        np.testing.assert_allclose(step[0], full, rtol=0, atol=1e-6)


def test_greedy_generation_is_argmax_and_reproducible(model: swiftlet.Model) -> None:
    result = model.generate([1, 2, 3], max_tokens=6)
    assert len(result.tokens) == 6 and all(0 <= t < 6 for t in result.tokens)
    assert model.generate([1, 2, 3], max_tokens=6).tokens == result.tokens
    # the same by hand, choosing with NumPy
    with model.session() as session:
        session.prefill([1, 2, 3])
        expected = []
        for _ in range(6):
            expected.append(int(np.argmax(session.logits()[-1])))
            session.decode(expected[-1])
    assert result.tokens == expected
    assert result.prefill.loops == 4 and len(result.steps) == 5
    assert result.microseconds >= result.decode_microseconds >= 0
    assert result.tokens_per_second >= 0


def test_seeded_sampling_is_reproducible(model: swiftlet.Model) -> None:
    runs = {seed: model.generate([1, 2, 3], 10, temperature=1.5, top_k=4, seed=seed).tokens
            for seed in range(6)}
    for seed, tokens in runs.items():
        assert model.generate([1, 2, 3], 10, temperature=1.5, top_k=4, seed=seed).tokens == tokens
    assert len({tuple(t) for t in runs.values()}) > 1, "different seeds should give different samples"


def test_budget_is_fixed_for_the_sequence(model: swiftlet.Model) -> None:
    two = model.generate([1, 2, 3], 5, budget=swiftlet.Budget(loops=2))
    assert two.prefill.loops == 2 and all(step.loops == 2 for step in two.steps)
    with model.session() as session:
        session.prefill([1, 2, 3], swiftlet.Budget(loops=2))
        a = session.logits()
        session.prefill([1, 2, 3], swiftlet.Budget(loops=4))
        assert not np.array_equal(a, session.logits())


def test_stop_token_and_context_limit(model: swiftlet.Model) -> None:
    # Context 16 with 3 prompt tokens: 13 decodes fit, so 14 tokens are sampled at most.
    long = model.generate([1, 2, 3], max_tokens=100)
    assert len(long.tokens) == 14
    stop = long.tokens[2]
    stopped = model.generate([1, 2, 3], max_tokens=100, stop_at=stop)
    first = long.tokens.index(stop)
    assert stopped.tokens == long.tokens[: first + 1]
    assert model.generate([1, 2, 3], max_tokens=0).tokens == []


def test_generation_errors(model: swiftlet.Model) -> None:
    with model.session() as session:
        with pytest.raises(swiftlet.StateError):
            session.decode(1)
        with pytest.raises(swiftlet.StateError):
            session.logits()
        session.prefill([1, 2, 3])
        with pytest.raises(swiftlet.InvalidArgumentError):
            session.decode(6)  # vocab is 6
        for _ in range(13):
            session.decode(0)
        with pytest.raises(swiftlet.ContextFullError) as info:
            session.decode(0)
        assert info.value.status == "SWL_ERR_CONTEXT_FULL"
    with pytest.raises(swiftlet.ShapeError):
        model.generate([1.5, 2.0], 3)
    with pytest.raises(swiftlet.ShapeError):
        model.generate([[1, 2]], 3)
    with pytest.raises(swiftlet.InvalidArgumentError):
        model.generate([1, 2], -1)
    with pytest.raises(swiftlet.InvalidArgumentError):
        model.generate([1, 2], 3, temperature=-1.0)
    with pytest.raises(swiftlet.InvalidArgumentError):
        model.generate([1, 2], 3, seed=-5)


def test_sampler() -> None:
    logits = np.array([0.1, 2.0, 2.0, -1.0], np.float32)
    assert swiftlet.Sampler().sample(logits) == 1  # greedy, lowest index on ties
    a, b = swiftlet.Sampler(1.0, 3, seed=11), swiftlet.Sampler(1.0, 3, seed=11)
    picks = [a.sample(logits) for _ in range(50)]
    assert picks == [b.sample(logits) for _ in range(50)]
    assert set(picks) <= {0, 1, 2} and len(set(picks)) > 1  # top-3 only, and really sampling
    with pytest.raises(swiftlet.NumericError):
        swiftlet.Sampler().sample(np.array([0.0, np.nan], np.float32))
