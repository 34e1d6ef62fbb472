"""Atomic output folders: a failed run leaves nothing that looks complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def check_output_dir(path: str | os.PathLike, overwrite: bool) -> Path:
    """Raise ``FileExistsError`` when ``path`` exists, is not empty and ``overwrite`` is False."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder.")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite to replace it.")
    return out


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Write a folder atomically: yield a hidden temporary sibling, renamed to ``path`` at the end.

    On an exception the temporary folder is removed and ``path`` is left as it was. An existing,
    non-empty ``path`` is an error unless ``overwrite``; it is then replaced only after the new
    folder is complete.

    Parameters
    ----------
    path : path
        The folder to create.
    overwrite : bool, default=False

    Yields
    ------
    Path
        The temporary folder to write into.
    """
    out = check_output_dir(path, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "x")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
