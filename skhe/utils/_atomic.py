"""Output locations: atomic folders that carry skhe's marker, and refusal to overwrite inputs.

Every folder skhe writes (models, reports, synthetic cohorts) holds a marker file,
:data:`MARKER`. ``overwrite=True`` replaces only a folder that has it, and never a folder that is
or contains one of the run's inputs, so ``--overwrite`` cannot delete a cohort.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from skhe.exceptions import OutputError

#: The file that marks a folder as written by skhe (and so replaceable with ``overwrite``).
MARKER = ".skhe-output"


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_not_input(
    out: str | os.PathLike,
    inputs: Iterable[str | os.PathLike | None],
    *,
    inside_ok: bool = False,
) -> None:
    """Raise :class:`~skhe.exceptions.OutputError` when ``out`` is, holds or lies in an input.

    Parameters
    ----------
    out : path
        The output file or folder.
    inputs : iterable of paths
        Everything the run reads: the manifest, CT series, masks, a model folder. None is skipped.
    inside_ok : bool, default=False
        Allow ``out`` inside an input folder (never used by the command line: writing into a
        DICOM series folder would add a file to the series).
    """
    from skhe.io import path_given  # here: skhe.io itself imports skhe.utils

    o = _resolved(out)
    for raw in inputs:
        if not path_given(raw):
            continue
        p = _resolved(raw)
        if _within(p, o):
            what = "is" if p == o else "contains"
            raise OutputError(
                f"refusing to write {out}: it {what} an input of this run ({raw}); choose "
                "another output location. Nothing was changed."
            )
        if not inside_ok and p.is_dir() and _within(o, p):
            raise OutputError(
                f"refusing to write {out}: it lies inside the input folder {raw}; choose "
                "another output location. Nothing was changed."
            )


def check_output_dir(
    path: str | os.PathLike,
    overwrite: bool,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> Path:
    """Check that ``path`` may be written as an output folder, and return it.

    Parameters
    ----------
    path : path
        The output folder.
    overwrite : bool
        Whether an existing, non-empty folder may be replaced. It must then be a folder skhe
        wrote (it holds :data:`MARKER`).
    inputs : iterable of paths, default=()
        The run's inputs; ``path`` must not be, contain or lie inside any of them.

    Raises
    ------
    FileExistsError
        ``path`` is a file, or a non-empty folder and ``overwrite`` is False.
    skhe.exceptions.OutputError
        ``path`` is an input, holds one, or is a non-empty folder skhe did not write.
    """
    out = Path(path)
    check_not_input(out, inputs)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder.")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out} exists and is not empty; use --overwrite (overwrite=True in Python) to "
                "replace a folder that skhe wrote."
            )
        if not (out / MARKER).is_file():
            raise OutputError(
                f"refusing to replace {out}: it is not a folder skhe wrote (no {MARKER} marker "
                "inside), so it may hold data of yours. Choose another output folder or remove "
                "it yourself. Nothing was changed."
            )
    return out


def _write_marker(folder: Path) -> None:
    from skhe._version import __version__

    info = {
        "written_by": f"skhe {__version__}",
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "note": "this folder was written by skhe; skhe may replace it with --overwrite",
    }
    (folder / MARKER).write_text(json.dumps(info) + "\n")


@contextlib.contextmanager
def atomic_output_dir(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> Iterator[Path]:
    """Write a folder atomically: yield a hidden temporary sibling, renamed to ``path`` at the end.

    On an exception the temporary folder is removed and ``path`` is left as it was. An existing,
    non-empty ``path`` is an error unless ``overwrite`` and it is a folder skhe wrote (see
    :func:`check_output_dir`); it is then replaced only after the new folder is complete. The new
    folder holds the :data:`MARKER` file.

    Parameters
    ----------
    path : path
        The folder to create.
    overwrite : bool, default=False
    inputs : iterable of paths, default=()
        The run's inputs, which ``path`` must not be, contain or lie inside.

    Yields
    ------
    Path
        The temporary folder to write into.
    """
    out = check_output_dir(path, overwrite, inputs=inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        _write_marker(tmp)
        old = None
        if out.exists():
            check_output_dir(out, overwrite, inputs=inputs)  # still ours after the run
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "x")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
