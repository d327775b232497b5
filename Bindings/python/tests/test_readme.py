"""Runs the Python snippets of the READMEs on the test model, as the C snippet is run by make test."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HERE, REPO, child_env

README = REPO / "README.md"


def python_snippets(text: str) -> list:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_snippet_extraction() -> None:
    text = "intro\n```python\nprint(1)\n```\n```sh\nls\n```\n```python\nprint(2)\n```\n"
    assert python_snippets(text) == ["print(1)\n", "print(2)\n"]


def run_snippets(readme: Path, model_path: Path, tmp_path: Path) -> None:
    snippets = python_snippets(readme.read_text())
    if not snippets:
        pytest.skip(f"{readme} has no ```python snippet yet")
    # A snippet reads "model.swl" (or argv[1]) from the working directory, like the C example.
    shutil.copy(model_path, tmp_path / "model.swl")
    for i, code in enumerate(snippets):
        script = tmp_path / f"snippet{i}.py"
        script.write_text(code)
        result = subprocess.run([sys.executable, str(script), str(tmp_path / "model.swl")], cwd=tmp_path,
                                env=child_env(), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{readme.name} snippet {i} failed:\n{code}\n{result.stderr}"
        assert result.stdout.strip(), f"{readme.name} snippet {i} printed nothing"


def test_repository_readme_python_snippet(model_path: Path, tmp_path: Path) -> None:
    if not README.exists():
        pytest.skip("no repository README.md next to the bindings")
    run_snippets(README, model_path, tmp_path)


def test_bindings_readme_snippet(model_path: Path, tmp_path: Path) -> None:
    run_snippets(HERE.parent / "README.md", model_path, tmp_path)
