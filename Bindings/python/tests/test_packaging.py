"""The package as shipped: the wheel's tag and its stripped library (the wheel scripts/test-python.sh
built and installed, $SWIFTLET_TEST_WHEEL), the build's refusal without a library, the ImportError that
names a missing system library, and the public namespace."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
import types
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

import swiftlet
from conftest import HERE, child_env

BINDINGS = HERE.parent
LIBRARY_MEMBER = "swiftlet/lib/libswiftlet.so"


def built_wheel() -> Path:
    wheel = os.environ.get("SWIFTLET_TEST_WHEEL")
    if not wheel:
        pytest.skip("needs the wheel scripts/test-python.sh builds ($SWIFTLET_TEST_WHEEL)")
    return Path(wheel)


def bundled_from() -> Path:
    source = os.environ.get("SWIFTLET_TEST_BUNDLED_FROM")
    if not source:
        pytest.skip("needs the library scripts/test-python.sh bundles ($SWIFTLET_TEST_BUNDLED_FROM)")
    return Path(source).resolve()


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} (binutils) is needed to inspect the wheel's library")
    return path


def sections(library: Path) -> List[str]:
    out = subprocess.run([tool("readelf"), "-S", "-W", str(library)], check=True, capture_output=True,
                         text=True).stdout
    return re.findall(r"^\s*\[\s*\d+\]\s+(\S+)", out, flags=re.M)


def newest_glibc(library: Path) -> tuple:
    """The newest GLIBC_X.Y among the versions of the library's dynamic symbols, as objdump -T shows them."""
    out = subprocess.run([tool("objdump"), "-T", str(library)], check=True, capture_output=True, text=True).stdout
    versions = {(int(a), int(b)) for a, b in re.findall(r"\bGLIBC_(\d+)\.(\d+)", out)}
    assert versions, f"objdump -T shows no GLIBC_ symbol versions in {library}"
    return max(versions)


@pytest.fixture(scope="module")
def wheel_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library inside the built wheel, extracted."""
    with zipfile.ZipFile(built_wheel()) as wheel:
        out = tmp_path_factory.mktemp("wheel") / "libswiftlet.so"
        out.write_bytes(wheel.read(LIBRARY_MEMBER))
    return out


def test_wheel_is_tagged_for_the_bundled_library(wheel_library: Path) -> None:
    wheel = built_wheel()
    major, minor = newest_glibc(wheel_library)
    # Pure Python over ctypes (any Python 3, no extension ABI); the platform is what the library needs.
    tag = f"py3-none-manylinux_{major}_{minor}_{platform.machine()}"
    assert wheel.name == f"swiftlet-{swiftlet.__version__}-{tag}.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"swiftlet-{swiftlet.__version__}.dist-info/WHEEL").decode()
        assert re.findall(r"^Tag: (.*)$", metadata, flags=re.M) == [tag]
        assert "Root-Is-Purelib: false" in metadata
        # The library and the Python sources, nothing else of the build.
        libraries = [n for n in archive.namelist() if ".so" in n]
        assert libraries == [LIBRARY_MEMBER]
    installed = importlib.metadata.distribution("swiftlet").read_text("WHEEL") or ""
    assert re.findall(r"^Tag: (.*)$", installed, flags=re.M) == [tag], "the installed package is not this wheel"


def test_bundled_library_is_stripped(wheel_library: Path, tmp_path: Path) -> None:
    names = sections(wheel_library)
    assert ".dynsym" in names and ".gnu.version_r" in names, names  # the exports and versions stay
    assert ".symtab" not in names and not [n for n in names if n.startswith(".debug")], names
    # The bound: the library it was made from, stripped here the way `make install` strips it.
    source = bundled_from()
    stripped = tmp_path / "stripped.so"
    shutil.copyfile(source, stripped)
    subprocess.run([tool("strip"), "--strip-unneeded", str(stripped)], check=True)
    bound = stripped.stat().st_size
    assert wheel_library.stat().st_size <= bound, (wheel_library.stat().st_size, bound)
    if ".symtab" in sections(source):
        assert wheel_library.stat().st_size < source.stat().st_size
    # The installed package loads that very file.
    installed = Path(swiftlet.__file__).parent / "lib" / "libswiftlet.so"
    assert installed.read_bytes() == wheel_library.read_bytes()
    assert Path(swiftlet.library_path()).resolve() == installed.resolve()


# ---- building the wheel: without a library the build fails and says to run make ------------------

def pip_wheel(project: Path, out: Path, **env_changes: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("hatchling") is None:
        pytest.fail("building a wheel without build isolation needs hatchling in this environment "
                    "(scripts/test-python.sh installs it)")
    env = {k: v for k, v in os.environ.items() if k != "SWIFTLET_BUNDLE_LIBRARY"}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-cache-dir", "--disable-pip-version-check", "--wheel-dir", str(out), str(project)],
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def bindings_copy(tmp_path: Path) -> Path:
    """Bindings/python copied to <tmp>/Bindings/python: the hook's default library,
    <tmp>/build/lib/libswiftlet.so, does not exist."""
    project = tmp_path / "Bindings" / "python"
    shutil.copytree(BINDINGS, project, ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "lib",
                                                                     "*.egg-info", ".pytest_cache"))
    assert not (tmp_path / "build").exists()
    return project


def test_build_without_library_fails_and_says_run_make(bindings_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "wheels"
    result = pip_wheel(bindings_copy, out)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "no libswiftlet.so to bundle" in output and "Run `make`" in output, output
    assert "SWIFTLET_BUNDLE_LIBRARY" in output
    assert not out.exists() or not list(out.glob("*.whl"))


def test_build_with_missing_bundle_variable_fails(bindings_copy: Path, tmp_path: Path) -> None:
    result = pip_wheel(bindings_copy, tmp_path / "wheels", SWIFTLET_BUNDLE_LIBRARY="/nonexistent/libswiftlet.so")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "SWIFTLET_BUNDLE_LIBRARY=/nonexistent/libswiftlet.so does not exist" in output, output


def test_build_finds_the_make_output(bindings_copy: Path, tmp_path: Path) -> None:
    # The same copy builds once the library is where `make` puts it (so the failures above are about
    # the library, not the copy).
    built = tmp_path / "build" / "lib"
    built.mkdir(parents=True)
    (built / "libswiftlet.so").symlink_to(Path(swiftlet.library_path()).resolve())
    out = tmp_path / "wheels"
    result = pip_wheel(bindings_copy, out)
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list(out.glob("swiftlet-*.whl"))
    assert len(wheels) == 1 and re.search(r"-py3-none-manylinux_\d+_\d+_\w+\.whl$", wheels[0].name), wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        assert archive.read(LIBRARY_MEMBER) == Path(swiftlet.library_path()).read_bytes()


# ---- import: a missing system library is named, with the command that installs it --------------

def import_with_failing_loader(error: str) -> subprocess.CompletedProcess:
    """Imports swiftlet in a child whose ctypes.CDLL fails for libswiftlet with `error` (the text
    dlopen gives), as it does on a system without the library's dependencies."""
    code = textwrap.dedent(f"""\
        import ctypes, os, sys
        real = ctypes.CDLL
        def failing(name, *args, **kwargs):
            if os.path.basename(str(name)).startswith("libswiftlet"):
                raise OSError({error!r})
            return real(name, *args, **kwargs)
        ctypes.CDLL = failing
        try:
            import swiftlet
        except ImportError as e:
            print(e)
            sys.exit(0)
        sys.exit("swiftlet imported although its library could not be loaded")
        """)
    env = child_env()
    env.pop("SWIFTLET_LIBRARY", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("missing", ["libopenblas.so.0", "libzstd.so.1"])
def test_missing_system_library_is_named_with_apt_command(missing: str) -> None:
    result = import_with_failing_loader(f"{missing}: cannot open shared object file: No such file or directory")
    assert result.returncode == 0, result.stderr
    message = result.stdout
    assert f"libswiftlet.so needs the system library {missing}, which is not installed" in message, message
    assert "apt-get install libopenblas0 libzstd1" in message, message


def test_too_old_glibc_is_explained() -> None:
    result = import_with_failing_loader("version `GLIBC_2.99' not found (required by /x/libswiftlet.so)")
    assert result.returncode == 0, result.stderr
    assert "built against glibc 2.99" in result.stdout and "`make`" in result.stdout, result.stdout


def test_real_loader_error_names_the_missing_dependency(tmp_path: Path) -> None:
    """A library whose dependency is absent, loaded by the real dynamic loader: the message parsing
    holds for the loader's own wording."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed to build the stand-in library")
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "dep.c").write_text("int absent_dependency(void) { return 1; }\n")
    (tmp_path / "stub.c").write_text("int absent_dependency(void);\nint swl_abi_version(void) { return absent_dependency(); }\n")
    dep = deps / "libabsent-dependency.so.7"
    subprocess.run([gcc, "-shared", "-fPIC", "-Wl,-soname,libabsent-dependency.so.7", "-o", str(dep),
                    str(deps / "dep.c")], check=True)
    stub = tmp_path / "libswiftlet.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(stub), str(tmp_path / "stub.c"), str(dep)], check=True)
    shutil.rmtree(deps)
    env = child_env(SWIFTLET_LIBRARY=str(stub))
    result = subprocess.run([sys.executable, "-c", "import swiftlet"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "libswiftlet.so needs libabsent-dependency.so.7, which the dynamic loader cannot find" in result.stderr, \
        result.stderr


def test_readme_states_system_requirements() -> None:
    readme = (BINDINGS / "README.md").read_text()
    assert "apt-get install libopenblas0 libzstd1" in readme
    pyproject = (BINDINGS / "pyproject.toml").read_text()
    description = re.search(r'^description = "(.*)"$', pyproject, flags=re.M)
    assert description and "OpenBLAS" in description.group(1) and "zstd" in description.group(1)


# ---- the public namespace -------------------------------------------------------------------------

def test_all_lists_every_public_name() -> None:
    assert len(set(swiftlet.__all__)) == len(swiftlet.__all__), "duplicates in __all__"
    assert [n for n in swiftlet.__all__ if not hasattr(swiftlet, n)] == []
    # Public names are those of __all__ and the package's own submodules (swiftlet.model, ...).
    stray = [n for n in dir(swiftlet) if not n.startswith("_") and n not in swiftlet.__all__
             and not (isinstance(getattr(swiftlet, n), types.ModuleType)
                      and getattr(swiftlet, n).__name__ == f"swiftlet.{n}")]
    assert stray == []


def test_no_helper_leaks_into_the_namespace() -> None:
    helpers = ["Optional", "Callable", "Any", "Dict", "List", "Path", "annotations", "atexit", "threading",
               "ctypes", "os", "sys", "re", "np", "numpy", "lib", "decode", "LogCallback", "subprocess"]
    assert [n for n in helpers if n in dir(swiftlet)] == []
    # Every class and function offered is Swiftlet's own, not something re-exported from elsewhere.
    for name in swiftlet.__all__:
        value = getattr(swiftlet, name)
        if isinstance(value, (type, types.FunctionType)):
            assert value.__module__.startswith("swiftlet."), (name, value.__module__)


def test_star_import_gives_all() -> None:
    namespace: Dict[str, object] = {}
    exec("from swiftlet import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(swiftlet.__all__)
