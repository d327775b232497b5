"""swiftlet.convert: a checkpoint converted through the swiftlet tool, loaded and run against the
reference's outputs (Tests/Fixtures/vit-tiny-test, tolerance the fixtures' stated 1e-4 + 1e-4 relative)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import swiftlet
from swiftlet import _convert
from conftest import REPO

VIT = REPO / "Tests" / "Fixtures" / "vit-tiny-test"


@pytest.fixture(autouse=True)
def _tool(cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWIFTLET_CLI", str(cli))


def convert_vit(output: Path, **options: object) -> str:
    return swiftlet.convert(family="vit", config=VIT / "config.json", checkpoint=VIT / "checkpoint.safetensors",
                            output=output, **options)


def test_convert_vit_and_run(tmp_path: Path) -> None:
    out = convert_vit(tmp_path / "vit.swl")
    assert out == str(tmp_path / "vit.swl")
    x = np.load(VIT / "input.npy")
    with swiftlet.Model(out) as model:
        assert model.family == "vit"
        # No name given: the checkpoint's file name, so the README's metadata["general.name"] works.
        assert model.metadata["general.name"] == "checkpoint"
        (logits, *_), report = model.run(x)
        np.testing.assert_allclose(logits, np.load(VIT / "logits_r0.npy"), atol=1e-4, rtol=1e-4)
        assert report.tokens_kept == 65
        (merged, *_), report = model.run(x, budget=swiftlet.Budget(merge_r=[8]))
        np.testing.assert_allclose(merged, np.load(VIT / "logits_r8.npy"), atol=1e-4, rtol=1e-4)
        assert report.choice == "r=8"


def test_options_reach_the_file(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class {i}\n" for i in range(10)))
    out = convert_vit(tmp_path / "named.swl", name="tiny vit", labels=labels, dtype="bf16", compress=True)
    plain = convert_vit(tmp_path / "plain.swl")
    with swiftlet.Model(out) as model:
        assert model.metadata["general.name"] == "tiny vit"
        assert model.labels == tuple(f"class {i}" for i in range(10))
    # bf16 weights, compressed: a smaller file
    assert os.path.getsize(out) < os.path.getsize(plain)


def test_failure_raises_with_the_tools_message(tmp_path: Path) -> None:
    missing = tmp_path / "absent.safetensors"
    with pytest.raises(swiftlet.ConvertError) as caught:
        swiftlet.convert(family="vit", checkpoint=missing, output=tmp_path / "x.swl")
    error = caught.value
    assert f"--checkpoint {missing}: no such file" in error.message and error.returncode == 1
    assert str(error).startswith("swiftlet convert failed: ") and error.message in str(error)
    assert not (tmp_path / "x.swl").exists()

    with pytest.raises(swiftlet.ConvertError, match="unknown family 'nope'; the converter knows: vit"):
        swiftlet.convert(family="nope", checkpoint=VIT / "checkpoint.safetensors", output=tmp_path / "x.swl")
    with pytest.raises(swiftlet.ConvertError, match="--dtype must be"):
        convert_vit(tmp_path / "x.swl", dtype="f8")


def test_existing_output_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "vit.swl"
    out.write_bytes(b"keep")
    with pytest.raises(swiftlet.ConvertError, match="exists; pass --force"):
        convert_vit(out)
    assert out.read_bytes() == b"keep"
    convert_vit(out, force=True)
    with swiftlet.Model(out) as model:
        assert model.family == "vit"


def test_warnings_become_python_warnings(tmp_path: Path) -> None:
    # Without num_heads the converter takes timm's default and warns, naming the key.
    config = json.loads((VIT / "config.json").read_text())
    del config["timm_kwargs"]["num_heads"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="num_heads"):
        swiftlet.convert(family="vit", config=path, checkpoint=VIT / "checkpoint.safetensors",
                         output=tmp_path / "vit.swl")


def test_tool_next_to_the_library(cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWIFTLET_CLI")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "swiftlet").symlink_to(cli)
    library = str(prefix / "lib" / "libswiftlet.so")
    assert _convert.find_tool(library) == prefix / "bin" / "swiftlet"
    # in the library's own folder (a bundle) first
    (prefix / "lib").mkdir()
    (prefix / "lib" / "swiftlet").symlink_to(cli)
    assert _convert.find_tool(library) == prefix / "lib" / "swiftlet"


def test_tool_on_path(cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWIFTLET_CLI")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "swiftlet").symlink_to(cli)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert _convert.find_tool(str(tmp_path / "nowhere" / "libswiftlet.so")) == tmp_path / "bin" / "swiftlet"


def test_missing_tool_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWIFTLET_CLI")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(swiftlet._library, "library_path", str(tmp_path / "lib" / "libswiftlet.so"))
    with pytest.raises(FileNotFoundError) as caught:
        convert_vit(tmp_path / "vit.swl")
    message = str(caught.value)
    assert "`swiftlet` command-line tool" in message and "SWIFTLET_CLI" in message and "`make`" in message
    assert str(tmp_path / "bin" / "swiftlet") in message  # where it looked next to the library

    monkeypatch.setenv("SWIFTLET_CLI", str(tmp_path / "no-such-tool"))
    with pytest.raises(FileNotFoundError, match="no-such-tool is not an executable file"):
        convert_vit(tmp_path / "vit.swl")
