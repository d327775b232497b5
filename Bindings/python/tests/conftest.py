"""Shared fixtures: the built-in test model, made by the swiftlet CLI.

The CLI comes from $SWIFTLET_CLI or the repository's debug build (../../../.build/debug/swiftlet from
this folder); the library from $SWIFTLET_LIBRARY or the package's own search. With neither a CLI
nor $SWIFTLET_TEST_MODEL the tests fail rather than skip: a suite that skips everything proves nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, Iterator

import numpy as np
import pytest

import swiftlet

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent


def child_env(**changes: str) -> Dict[str, str]:
    """The environment for a child Python: it imports the same swiftlet package as this process
    (whatever the working directory), with `changes` applied."""
    env = dict(os.environ, **changes)
    package_root = str(Path(swiftlet.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH", "")]))
    return env


def cli_path() -> Path:
    """The swiftlet command-line tool."""
    return Path(os.environ.get("SWIFTLET_CLI") or REPO / ".build" / "debug" / "swiftlet")


@pytest.fixture(scope="session")
def cli() -> Path:
    path = cli_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"no swiftlet CLI at {path}: build it (make test-c) or set SWIFTLET_CLI")
    return path


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh test model file (family "test": 4 residual layers of width 4, 3 classes, vocab 6,
    context 16)."""
    given = os.environ.get("SWIFTLET_TEST_MODEL")
    if given:
        return Path(given)
    path = cli_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"no swiftlet CLI at {path} to create the test model: build it (make test-c), "
                    "or set SWIFTLET_CLI or SWIFTLET_TEST_MODEL")
    out = tmp_path_factory.mktemp("model") / "test-model.swl"
    subprocess.run([str(path), "create-test-model", str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def model_bytes(model_path: Path) -> bytes:
    return model_path.read_bytes()


@pytest.fixture
def model(model_path: Path) -> Iterator[swiftlet.Model]:
    with swiftlet.Model(model_path) as m:
        yield m


@pytest.fixture
def x() -> np.ndarray:
    """Two rows for the test model (the C ABI test's input)."""
    return np.array([[0.5, -0.25, 1.0, 0.0], [-1.0, 0.75, 0.1, 0.3]], dtype=np.float32)


@pytest.fixture
def frames() -> np.ndarray:
    """Ten feature frames of width 4 (the C ABI test's frames)."""
    return np.array([((i * 37) % 11) / 11.0 - 0.5 for i in range(40)], dtype=np.float32).reshape(10, 4)


@pytest.fixture(scope="session")
def text_model_path(cli: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test LoopFormer (vocabulary 101) converted with the 100-token test tokenizer."""
    fixtures = REPO / "Tests" / "Fixtures"
    out = tmp_path_factory.mktemp("text") / "lm.swl"
    subprocess.run([str(cli), "convert", "--family", "loopformer", "--quiet",
                    "--config", str(fixtures / "loopformer-test" / "config.json"),
                    "--checkpoint", str(fixtures / "loopformer-test" / "checkpoint.safetensors"),
                    "--tokenizer", str(fixtures / "tokenizer" / "tiny.json"), "--output", str(out)],
                   check=True, capture_output=True)
    return out
