"""Wheel build hook: bundles an already built libswiftlet.so into the package (swiftlet/lib/).

Nothing is compiled. The library comes from $SWIFTLET_BUNDLE_LIBRARY, else from the repository's
`make` output (../../build/lib/libswiftlet.so); without either the wheel is pure Python and the
package finds the library through $SWIFTLET_LIBRARY or the install prefix at import time.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path
from typing import Any, Dict

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        explicit = os.environ.get("SWIFTLET_BUNDLE_LIBRARY")
        source = Path(explicit) if explicit else Path(self.root) / ".." / ".." / "build" / "lib" / "libswiftlet.so"
        if not source.exists():
            if explicit:
                raise FileNotFoundError(f"SWIFTLET_BUNDLE_LIBRARY={explicit} does not exist")
            return
        # Follow the symlinks (libswiftlet.so -> .so.0 -> .so.0.1.0) and pack the file itself.
        build_data["force_include"][str(source.resolve())] = "swiftlet/lib/libswiftlet.so"
        # A native library inside: tag the wheel for this platform (any Python 3: ctypes, no
        # extension module), not py3-none-any.
        build_data["pure_python"] = False
        build_data["tag"] = "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(".", "_")
