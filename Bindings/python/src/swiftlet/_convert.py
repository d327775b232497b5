"""Checkpoint conversion from Python, through the ``swiftlet convert`` command-line tool."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import List, Optional, Union

from . import _library

#: The variable naming the swiftlet tool; when set, it is the only place looked at.
CLI_VARIABLE = "SWIFTLET_CLI"

PathLike = Union[str, "os.PathLike[str]"]


class ConvertError(RuntimeError):
    """``swiftlet convert`` failed.

    Attributes:
        message: the tool's error message (its ``error:`` lines, without the prefix).
        returncode: the tool's exit status.
        command: the command line that ran.
        stderr: everything the tool wrote to stderr.
    """

    def __init__(self, message: str, returncode: int, command: List[str], stderr: str) -> None:
        self.message = message
        self.returncode = returncode
        self.command = command
        self.stderr = stderr
        super().__init__(f"swiftlet convert failed: {message}")


def _next_to(library: Optional[str]) -> List[Path]:
    """Where the tool may sit next to a library: the same folder (a bundle) and ../bin (`make`'s
    build/lib and build/bin, an install prefix's lib and bin). Nothing for a library the dynamic
    loader found by name."""
    if not library or os.sep not in library:
        return []
    folder = Path(library).parent
    return [folder / "swiftlet", folder.parent / "bin" / "swiftlet"]


def find_tool(library: Optional[str] = None) -> Path:
    """The ``swiftlet`` command-line tool: ``$SWIFTLET_CLI`` if set, else next to the loaded library
    (``library``, by default the one this process loaded), else on ``PATH``.

    Raises:
        FileNotFoundError: the tool is not in any of those places.
    """
    explicit = os.environ.get(CLI_VARIABLE)
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise FileNotFoundError(f"${CLI_VARIABLE}={explicit} is not an executable file")
        return Path(explicit)
    nearby = _next_to(_library.library_path if library is None else library)
    for candidate in nearby:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("swiftlet")
    if on_path:
        return Path(on_path)
    looked = "".join(f"{c}, " for c in nearby)
    raise FileNotFoundError(
        f"swiftlet.convert needs the `swiftlet` command-line tool and found none (looked at ${CLI_VARIABLE}, "
        f"{looked}and PATH). Build it with `make` in the Swiftlet repository (build/bin/swiftlet) or "
        f"`make install` it, then put it on PATH or set {CLI_VARIABLE}=/path/to/swiftlet."
    )


def convert(
    *,
    family: str,
    checkpoint: PathLike,
    output: PathLike,
    config: Optional[PathLike] = None,
    dtype: Optional[str] = None,
    table_dtype: Optional[str] = None,
    name: Optional[str] = None,
    labels: Optional[PathLike] = None,
    tokenizer: Optional[PathLike] = None,
    preprocess: Optional[PathLike] = None,
    compress: bool = False,
    force: bool = False,
) -> str:
    """Converts an official PyTorch checkpoint into a ``.swl`` model file with ``swiftlet convert``;
    the keywords are its options (``swiftlet convert --help`` says more).

    Args:
        family: the model family: ``"vit"``, ``"lmuformer"``, ``"loopformer"``, ``"memoryformer"``.
        checkpoint: a torch.save ``.pth``/``.pt``, a ``.safetensors`` file, or a Hugging Face folder.
        output: the ``.swl`` file to write.
        config: JSON of the reference constructor's keyword arguments the checkpoint does not record.
        dtype: storage type of weight matrices: ``"f32"`` (the tool's default), ``"f16"``, ``"bf16"``, ``"q8"``.
        table_dtype: MemoryFormer's hash tables: ``"f32"``, ``"f16"`` or ``"q8"``.
        name: ``general.name``; the tool's default is the checkpoint's file name without extension.
        labels: a classifier's class names, one per line.
        tokenizer: a language model's Hugging Face ``tokenizer.json``.
        preprocess: a ViT's timm ``pretrained_cfg`` as JSON (for ``Model.run_image``).
        compress: zstd-compress the tensors.
        force: overwrite ``output`` if it exists.

    Returns:
        ``output`` as a string, ready for :class:`swiftlet.Model`.

    Raises:
        ConvertError: the tool refused or failed; ``.message`` holds its error message.
        FileNotFoundError: the tool was not found (see :func:`find_tool`).

    The tool's warnings (a default it fell back to, say) are issued as :class:`UserWarning`.
    """
    command = [str(find_tool()), "convert", "--quiet", "--family", family,
               "--checkpoint", os.fspath(checkpoint), "--output", os.fspath(output)]
    paths = {"--config": config, "--labels": labels, "--tokenizer": tokenizer, "--preprocess": preprocess}
    texts = {"--dtype": dtype, "--table-dtype": table_dtype, "--name": name}
    for flag, path in paths.items():
        if path is not None:
            command += [flag, os.fspath(path)]
    for flag, text in texts.items():
        if text is not None:
            command += [flag, text]
    command += ["--compress"] * compress + ["--force"] * force
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("warning: "):
            warnings.warn(f"swiftlet convert: {line[len('warning: '):]}", UserWarning, stacklevel=2)
    if result.returncode != 0:
        errors = [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("error:")]
        others = [line for line in lines if not line.startswith("warning: ")]
        message = "; ".join(errors) or "\n".join(others) or f"exit status {result.returncode}, no message"
        raise ConvertError(message, result.returncode, command, result.stderr)
    return os.fspath(output)
