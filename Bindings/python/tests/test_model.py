"""Loading models from paths and bytes, metadata, damaged files, handle lifetime."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import swiftlet

from conftest import child_env


def test_load_from_path(model_path: Path) -> None:
    with swiftlet.Model(model_path) as model:
        assert model.family == "test"
        assert model.name == "swiftlet-test"
        assert not model.closed
        assert "test" in repr(model)
    assert model.closed


def test_load_from_str_path_with_verification(model_path: Path) -> None:
    with swiftlet.Model(str(model_path), verify=True) as model:
        assert model.family == "test"


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "numpy"])
def test_load_from_bytes(model_bytes: bytes, kind: str, x: np.ndarray, model_path: Path) -> None:
    data = {"bytes": model_bytes, "bytearray": bytearray(model_bytes), "memoryview": memoryview(model_bytes),
            "numpy": np.frombuffer(model_bytes, dtype=np.uint8).copy()}[kind]
    model = swiftlet.Model.from_bytes(data, verify=True)
    # the library keeps its own copy: overwriting ours changes nothing
    if kind == "bytearray":
        data[:] = bytes(len(data))
    elif kind == "numpy":
        data[:] = 0
    with swiftlet.Model(model_path) as reference:
        assert model.metadata == reference.metadata
        (want,), _ = reference.run(x)
    (got,), _ = model.run(x)
    np.testing.assert_array_equal(got, want)
    model.close()


def test_metadata(model: swiftlet.Model) -> None:
    meta = model.metadata
    assert meta["general.family"] == "test"
    assert meta["test.width"] == "4" and meta["test.classes"] == "3"
    assert meta["test.vocab"] == "6" and meta["test.context"] == "16"
    assert list(meta) == sorted(meta), "keys come in sorted order"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    meta["general.family"] = "changed"
    assert model.metadata["general.family"] == "test", "metadata is a copy"


def test_labels(model: swiftlet.Model) -> None:
    # create-test-model names its three classes; run() results index into them.
    assert model.labels == ("low", "middle", "high")
    assert len(model.labels) == model.outputs[0].shape[-1]


def test_inputs_and_outputs(model: swiftlet.Model) -> None:
    (inp,) = model.inputs
    (out,) = model.outputs
    assert (inp.name, inp.dtype, inp.shape) == ("x", np.dtype(np.float32), (-1, 4))
    assert (out.name, out.dtype, out.shape) == ("y", np.dtype(np.float32), (-1, 3))


def test_missing_file_names_the_path() -> None:
    with pytest.raises(swiftlet.FileError) as info:
        swiftlet.Model("/nonexistent/dir/model.swl")
    assert info.value.status == "SWL_ERR_IO" and info.value.code == 2
    assert "/nonexistent/dir/model.swl" in info.value.message
    assert isinstance(info.value, swiftlet.Error)


def test_truncated_file(model_bytes: bytes, tmp_path: Path) -> None:
    path = tmp_path / "truncated.swl"
    path.write_bytes(model_bytes[: len(model_bytes) // 2])
    with pytest.raises(swiftlet.FormatError) as info:
        swiftlet.Model(path)
    assert info.value.status == "SWL_ERR_FORMAT" and info.value.message
    with pytest.raises(swiftlet.FormatError):
        swiftlet.Model.from_bytes(model_bytes[:3])
    with pytest.raises(swiftlet.Error):
        swiftlet.Model.from_bytes(b"")


def test_random_bytes(model_bytes: bytes) -> None:
    rng = np.random.default_rng(7)
    with pytest.raises(swiftlet.FormatError):
        swiftlet.Model.from_bytes(rng.integers(0, 256, len(model_bytes), dtype=np.uint8).tobytes())


def test_git_lfs_pointer_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "lfs.swl"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    with pytest.raises(swiftlet.FormatError, match="LFS"):
        swiftlet.Model(path)


def test_flipped_data_byte_caught_when_verifying(model_bytes: bytes) -> None:
    damaged = bytearray(model_bytes)
    damaged[-1] ^= 0x40
    with pytest.raises((swiftlet.ChecksumError, swiftlet.FormatError)):
        swiftlet.Model.from_bytes(damaged, verify=True)


def test_damaged_files_never_crash(model_path: Path) -> None:
    """Every single-byte corruption and truncation of the file loads, runs and streams without
    crashing: each either works or raises swiftlet.Error. In a child process, so that a crash
    reports as a failure instead of killing the test run."""
    script = textwrap.dedent("""
        import sys, numpy as np, swiftlet
        good = open(sys.argv[1], "rb").read()
        x = np.ones((2, 4), np.float32)
        cases = [good[:n] for n in range(0, len(good), 7)]
        for i in range(0, len(good), 3):
            for bit in (0x01, 0x80):
                b = bytearray(good); b[i] ^= bit; cases.append(bytes(b))
        ok = failed = 0
        for data in cases:
            try:
                with swiftlet.Model.from_bytes(data) as m:
                    m.run(x)
                    with m.stream() as s:
                        s.push(x); s.flush()
                    m.generate([1, 2], 3)
                ok += 1
            except swiftlet.Error:
                failed += 1
        print(ok, failed)
    """)
    result = subprocess.run([sys.executable, "-c", script, str(model_path)], env=child_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"child exited with {result.returncode}: {result.stderr[-2000:]}"
    ok, failed = map(int, result.stdout.split())
    assert failed > 0 and ok + failed > 1000


def test_close_is_idempotent_and_use_after_close_raises(model_path: Path, x: np.ndarray) -> None:
    model = swiftlet.Model(model_path)
    model.close()
    model.close()
    with pytest.raises(swiftlet.StateError, match="closed"):
        model.run(x)
    assert model.family == "test", "cached queries stay readable"


def test_session_and_stream_outlive_their_model(model_path: Path, x: np.ndarray) -> None:
    model = swiftlet.Model(model_path)
    session = model.session()
    stream = model.stream()
    (want,), _ = model.run(x)
    model.close()
    del model
    (got,), _ = session.run(x)
    np.testing.assert_array_equal(got, want)
    assert stream.push(x).shape == (1, 3)
    session.close()
    stream.close()
    with pytest.raises(swiftlet.StateError):
        session.run(x)
    with pytest.raises(swiftlet.StateError):
        stream.flush()


def test_handles_freed_by_garbage_collection(model_path: Path, x: np.ndarray) -> None:
    freed = []

    def spy(obj: object) -> None:
        real = obj._free  # type: ignore[attr-defined]
        obj._free = lambda handle: (freed.append(type(obj).__name__), real(handle))  # type: ignore

    model = swiftlet.Model(model_path)
    session, stream = model.session(), model.stream()
    session.run(x)
    for handle in (model, session, stream):
        spy(handle)
    del model, session, stream, handle
    gc.collect()
    assert sorted(freed) == ["Model", "Session", "Stream"]


def test_close_frees_once(model_path: Path) -> None:
    freed = []
    with swiftlet.Model(model_path) as model:
        with model.session() as session:
            real = session._free
            session._free = lambda handle: (freed.append(handle), real(handle))
        session.close()
        del session
        gc.collect()
    assert len(freed) == 1
