"""Text in and out through the tokenizer a model carries (swl_tokenize, swl_detokenize, the streamed
detokenizer, generate_text), checked against the goldens the `tokenizers` package made."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import swiftlet

from conftest import REPO

GOLDENS = REPO / "Tests" / "Fixtures" / "tokenizer" / "goldens.json.zst"


@pytest.fixture(scope="module")
def cases() -> list:
    data = subprocess.run(["zstd", "-dc", str(GOLDENS)], check=True, capture_output=True).stdout
    return [c for c in json.loads(data)["cases"] if "tiny" in c]


@pytest.fixture
def lm(text_model_path: Path):
    with swiftlet.Model(text_model_path) as m:
        yield m


def test_ids_and_text_match_the_tokenizers_package(lm: swiftlet.Model, cases: list) -> None:
    assert lm.has_tokenizer
    assert len(cases) >= 500
    for c in cases:
        assert lm.tokenize(c["text"]) == c["tiny"], c["text"]
        text = c.get("tiny_text", c["text"])
        assert lm.detokenize(c["tiny"]) == text
        assert lm.detokenize(c["tiny"], skip_special=True) == c.get("tiny_skip", text)


def test_streamed_pieces_join_to_the_whole_text(lm: swiftlet.Model, cases: list) -> None:
    # (Characters cut between tokens are checked in Swift with tokenizers that have them; this
    # 100-token one has only ASCII bytes.)
    for c in cases[:200]:
        with lm.detokenizer() as d:
            pieces = [d.push(i) for i in c["tiny"]] + [d.flush()]
        assert "".join(pieces) == lm.detokenize(c["tiny"])


def test_bad_ids_and_models_without_a_tokenizer(lm: swiftlet.Model, model: swiftlet.Model) -> None:
    with pytest.raises(swiftlet.InvalidArgumentError, match="outside the vocabulary"):
        lm.detokenize([100])
    assert not model.has_tokenizer
    with pytest.raises(swiftlet.UnsupportedError, match="--tokenizer"):
        model.tokenize("hello")


def test_generate_text_yields_the_text_of_the_generated_tokens(lm: swiftlet.Model) -> None:
    pieces = list(lm.generate_text("def f(x):", max_tokens=12))
    tokens = lm.generate(lm.tokenize("def f(x):"), max_tokens=12).tokens
    specials = [i for i, t in enumerate(tokens) if lm.is_special_token(t)]
    kept = tokens[:specials[0]] if specials else tokens
    assert "".join(pieces) == lm.detokenize(kept)
