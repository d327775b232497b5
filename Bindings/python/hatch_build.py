"""Wheel build hook: bundles an already built libswiftlet.so, stripped, into the package (swiftlet/lib/)
and tags the wheel for what that library needs.

Nothing is compiled. The library comes from $SWIFTLET_BUNDLE_LIBRARY, else from the repository's
`make` output (../../build/lib/libswiftlet.so); without either the build fails and says to run
`make` first: a wheel without the library would install fine and then fail at `import swiftlet`.

The wheel's tag, ``py3-none-manylinux_<glibc>_<arch>``:

- ``py3-none``: the package is pure Python over ctypes, with no extension module, so any Python 3
  interpreter and ABI can use it.
- ``manylinux_X_Y_<arch>``: X.Y is the newest GLIBC_* symbol version the library asks for (its
  .gnu.version_r section, what ``objdump -T`` lists per symbol), so pip refuses the wheel on a system
  whose glibc is older instead of installing a library that cannot load. The architecture is the
  library's own (ELF e_machine). The other dependencies the manylinux policy allows (libstdc++,
  libgcc_s, libm) come from the same toolchain generation.

What the tag cannot say: the library also links the system's libopenblas.so.0 and libzstd.so.1,
which the manylinux policy does not list and which are not bundled (`auditwheel repair` would copy
them in; Swiftlet is built to use the system's OpenBLAS). So this wheel is for machines with those
packages (Debian/Ubuntu: libopenblas0 libzstd1), not for upload to PyPI; `import swiftlet` names the
missing library and the apt command when one is absent (swiftlet/_library.py).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLE_VARIABLE = "SWIFTLET_BUNDLE_LIBRARY"

# ELF e_machine values → the architecture part of a wheel's platform tag.
_ARCHITECTURES = {3: "i686", 62: "x86_64", 183: "aarch64", 40: "armv7l", 21: "ppc64le", 22: "s390x",
                  243: "riscv64"}
_SHT_SYMTAB = 2
_SHT_GNU_VERNEED = 0x6FFFFFFE


class ElfInfo:
    """What the tag and the strip check need from an ELF shared library, read from its headers."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        if data[:4] != b"\x7fELF":
            raise ValueError(f"{path} is not an ELF file")
        bits = {1: 32, 2: 64}.get(data[4])
        order = {1: "<", 2: ">"}.get(data[5])
        if bits is None or order is None:
            raise ValueError(f"{path}: unknown ELF class or byte order")
        self.machine: int = struct.unpack_from(order + "H", data, 18)[0]
        if bits == 64:
            shoff, = struct.unpack_from(order + "Q", data, 40)
            shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 58)
            section = order + "IIQQQQIIQQ"  # name type flags addr offset size link info align entsize
        else:
            shoff, = struct.unpack_from(order + "I", data, 32)
            shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 46)
            section = order + "IIIIIIIIII"
        headers = [struct.unpack_from(section, data, shoff + i * shentsize) for i in range(shnum)]

        def string(table: Tuple[int, ...], offset: int) -> str:
            start = table[4] + offset
            return data[start:data.index(b"\0", start)].decode("ascii", "replace")

        self.sections: List[Tuple[str, int]] = [(string(headers[shstrndx], h[0]), h[1]) for h in headers]
        # Version needs: per needed file, the version names it must provide (GLIBC_2.34, GLIBCXX_3.4.29).
        self.version_needs: Set[Tuple[str, str]] = set()
        for h in headers:
            if h[1] != _SHT_GNU_VERNEED:
                continue
            strings, offset = headers[h[6]], h[4]
            for _ in range(h[7]):  # sh_info: the number of entries
                _version, count, file_name, aux, next_entry = struct.unpack_from(order + "HHIII", data, offset)
                at = offset + aux
                for _ in range(count):
                    _hash, _flags, _other, name, next_aux = struct.unpack_from(order + "IHHII", data, at)
                    self.version_needs.add((string(strings, file_name), string(strings, name)))
                    at += next_aux
                offset += next_entry

    @property
    def unstripped_sections(self) -> List[str]:
        """The static symbol table and debug sections: what ``strip --strip-unneeded`` removes."""
        return [name for name, kind in self.sections if kind == _SHT_SYMTAB or name.startswith(".debug")]

    @property
    def glibc(self) -> Optional[Tuple[int, int]]:
        """The newest GLIBC_X.Y the library needs (None: it asks glibc for no versioned symbol)."""
        found = [re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", name) for _, name in self.version_needs]
        versions = [(int(m.group(1)), int(m.group(2))) for m in found if m]
        return max(versions) if versions else None

    def platform_tag(self) -> str:
        arch = _ARCHITECTURES.get(self.machine)
        if arch is None:
            raise ValueError(f"libswiftlet.so is built for ELF machine {self.machine}, which has no wheel tag here")
        if self.glibc is None:
            # Not linked against glibc's versioned symbols (musl, say): no manylinux claim can be made.
            return f"linux_{arch}"
        return f"manylinux_{self.glibc[0]}_{self.glibc[1]}_{arch}"


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        # An editable install runs the source tree, which has no swiftlet/lib: the package finds the
        # library through $SWIFTLET_LIBRARY or the install prefix (hatchling ignores force_include there).
        if self.target_name != "wheel" or version == "editable":
            return
        source = self._source()
        self._scratch = tempfile.mkdtemp(prefix="swiftlet-wheel-")
        bundled = Path(self._scratch) / "libswiftlet.so"
        # Follow the symlinks (libswiftlet.so -> .so.0 -> .so.0.1.0) and pack the file itself.
        shutil.copyfile(source.resolve(), bundled)
        if ElfInfo(bundled).unstripped_sections:
            strip = shutil.which("strip")
            if strip is None:
                raise RuntimeError("the wheel bundles a stripped libswiftlet.so, but `strip` was not found; "
                                   "install binutils (apt-get install binutils)")
            subprocess.run([strip, "--strip-unneeded", str(bundled)], check=True)
        info = ElfInfo(bundled)
        left = info.unstripped_sections
        if left:
            raise RuntimeError(f"strip left {', '.join(left)} in {bundled}")
        build_data["force_include"][str(bundled)] = "swiftlet/lib/libswiftlet.so"
        build_data["pure_python"] = False
        build_data["tag"] = "py3-none-" + info.platform_tag()

    def finalize(self, version: str, build_data: Dict[str, Any], artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    def _source(self) -> Path:
        explicit = os.environ.get(BUNDLE_VARIABLE)
        if explicit:
            if not Path(explicit).exists():
                raise FileNotFoundError(f"{BUNDLE_VARIABLE}={explicit} does not exist")
            return Path(explicit)
        built = (Path(self.root) / ".." / ".." / "build" / "lib" / "libswiftlet.so").resolve(strict=False)
        if not built.exists():
            raise FileNotFoundError(
                f"no libswiftlet.so to bundle: {built} does not exist. Run `make` in the Swiftlet repository "
                f"first (it builds build/lib/libswiftlet.so), then `pip install ./Bindings/python` again; or "
                f"set {BUNDLE_VARIABLE}=/path/to/libswiftlet.so (e.g. an installed one, /usr/local/lib/libswiftlet.so)."
            )
        return built
