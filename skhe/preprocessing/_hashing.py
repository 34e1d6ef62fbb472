"""Keys of input files and in-memory volumes: content hashes and cheap stat signatures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from skhe.io import CTVolume


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def stat_signature(path) -> str:
    """Hash of the names, sizes and modification times of a file or folder's files ("" for
    in-memory input): changes whenever a file is replaced or edited."""
    if path is None or isinstance(path, (CTVolume, np.ndarray)):
        return ""
    h = hashlib.sha256()
    for f in _files(Path(path)):
        st = f.stat()
        h.update(f"{f.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def content_hash(source) -> str:
    """SHA-256 of a file's or folder's bytes (or of an in-memory volume/mask)."""
    h = hashlib.sha256()
    if source is None:
        h.update(b"none")
    elif isinstance(source, CTVolume):
        h.update(np.ascontiguousarray(source.hu).tobytes())
        h.update(repr(source.spacing).encode())
    elif isinstance(source, np.ndarray):
        h.update(np.ascontiguousarray(source).tobytes())
        h.update(repr(source.shape).encode())
    else:
        for f in _files(Path(source)):
            h.update(f.name.encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()
