"""The loaded library: versions, struct layouts, the library search, logging."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import swiftlet
from swiftlet import _structs
from swiftlet._library import lib

from conftest import REPO, child_env

HEADER = REPO / "Include" / "swiftlet.h"


def test_versions() -> None:
    assert swiftlet.abi_version() == swiftlet.ABI_VERSION == 1
    version = swiftlet.library_version()
    assert version and all(part.isdigit() for part in version.split(".")), version
    assert os.path.exists(swiftlet.library_path())


def test_struct_sizes_match_expectations() -> None:
    assert ctypes.sizeof(_structs.Tensor) == 96
    for c_name, struct in {**_structs.STRUCTS, **_structs.OUTPUT_STRUCTS}.items():
        assert ctypes.sizeof(struct) == _structs.EXPECTED_SIZES[c_name], c_name


@pytest.mark.parametrize("c_name", sorted(_structs.STRUCTS))
def test_library_init_writes_our_struct_size(c_name: str) -> None:
    # The library's _init function stores sizeof(its struct) in struct_size: it must equal ours.
    # A roomy buffer keeps a (hypothetical) larger struct from writing out of bounds.
    buffer = ctypes.create_string_buffer(1024)
    init = getattr(lib, c_name + "_init")
    init(ctypes.cast(buffer, init.argtypes[0]))
    size = int.from_bytes(buffer.raw[:4], sys.byteorder)
    assert size == ctypes.sizeof(_structs.STRUCTS[c_name])
    assert not any(buffer.raw[size:]), "the library wrote past its struct"


def test_stream_options_defaults_match_library() -> None:
    # Our mirrors start zeroed; the library's init is the reference for defaults that are not zero.
    ours = _structs.new(_structs.StreamOptions)
    theirs = _structs.StreamOptions()
    lib.swl_stream_options_init(ctypes.byref(theirs))
    assert theirs.n_threads == 1 and theirs.input_kind == ours.input_kind == 0
    # 0 threads means one thread for streams, so our zero default is the same choice.


def test_detector_options_defaults_match_library() -> None:
    theirs = _structs.DetectorOptions()
    lib.swl_detector_options_init(ctypes.byref(theirs))
    ours = swiftlet.Detector()
    assert (theirs.threshold, theirs.window_seconds, theirs.hold_off_seconds, theirs.frame_seconds) == (
        ours.threshold, ours.window, ours.hold_off, 0.0)
    assert not theirs.background and theirs.n_background == 0


def test_layout_matches_c_compiler(tmp_path: Path) -> None:
    """Every field offset of every mirror equals what gcc computes from swiftlet.h."""
    if not HEADER.exists() or not shutil.which("gcc"):
        pytest.skip("needs gcc and Include/swiftlet.h")
    lines = []
    every = {**_structs.STRUCTS, **_structs.OUTPUT_STRUCTS}
    for c_name, struct in every.items():
        lines.append(f'printf("{c_name} sizeof %zu\\n", sizeof({c_name}));')
        for field, _ in struct._fields_:
            lines.append(f'printf("{c_name} {field} %zu\\n", offsetof({c_name}, {field}));')
    source = tmp_path / "layout.c"
    source.write_text(textwrap.dedent("""\
        #include <stddef.h>
        #include <stdio.h>
        #include "swiftlet.h"
        int main(void) {
        %s
            return 0;
        }
        """) % "\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run(["gcc", "-std=c99", "-I", str(HEADER.parent), str(source), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    checked = 0
    for line in filter(None, out):
        c_name, field, value = line.split()
        struct = every[c_name]
        got = ctypes.sizeof(struct) if field == "sizeof" else getattr(struct, field).offset
        assert got == int(value), f"{c_name}.{field}: ctypes {got}, gcc {value}"
        checked += 1
    assert checked == sum(len(s._fields_) + 1 for s in every.values())


def _import_in_subprocess(env: dict) -> subprocess.CompletedProcess:
    code = "import swiftlet; print(swiftlet.library_path())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_bad_library_variable_gives_clear_import_error() -> None:
    env = child_env(SWIFTLET_LIBRARY="/nonexistent/libswiftlet.so")
    result = _import_in_subprocess(env)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "/nonexistent/libswiftlet.so" in result.stderr and "SWIFTLET_LIBRARY" in result.stderr
    assert "make" in result.stderr


def test_library_variable_is_used() -> None:
    env = child_env(SWIFTLET_LIBRARY=swiftlet.library_path())
    result = _import_in_subprocess(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == swiftlet.library_path()


def test_library_next_to_package_is_found() -> None:
    staged = sorted((Path(swiftlet.__file__).parent / "lib").glob("libswiftlet.so*"))
    if not staged:
        pytest.skip("no library staged inside the installed package (scripts/test-python.sh bundles one)")
    env = child_env()
    env.pop("SWIFTLET_LIBRARY", None)
    result = _import_in_subprocess(env)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).parent == staged[0].parent


def test_log_handler_receives_load_messages(model_path: Path) -> None:
    lines = []
    swiftlet.set_log_handler(lambda level, message: lines.append((level, message)), swiftlet.LOG_DEBUG)
    try:
        swiftlet.Model(model_path).close()
    finally:
        swiftlet.set_log_handler(None)
    assert lines, "no log lines while loading"
    assert all(0 <= level <= swiftlet.LOG_DEBUG and isinstance(msg, str) for level, msg in lines)
    count = len(lines)
    swiftlet.Model(model_path).close()
    assert len(lines) == count, "the handler was still called after removal"
