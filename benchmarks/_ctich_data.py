"""CT-ICH for ``benchmarks/ctich.py``: the PNG folder, or a compact packed copy of it."""

from __future__ import annotations

import io
import lzma
from pathlib import Path

import numpy as np

from skhe.datasets import load_ctich
from skhe.datasets._ctich import CTICH_LEVEL, CTICH_WIDTH, CTICHData


def write_packed(root: str, path: str, size: int) -> None:
    """A compact copy of CT-ICH: uint8 slices (the PNG values) at ``size`` px, lzma."""
    data = load_ctich(root, size=size)
    png = np.clip(np.rint((data.hu - (CTICH_LEVEL - CTICH_WIDTH / 2)) * 255 / CTICH_WIDTH), 0, 255)
    buf = io.BytesIO()
    np.savez(
        buf,
        images=png.astype(np.uint8),
        masks=np.packbits(data.masks.astype(bool), axis=-1),
        labels=data.labels.astype(np.int8),
        patient=data.patient.astype(str),
        slice=data.slice_number.astype(np.int16),
        fold_patient=np.array(list(data.folds), dtype=str),
        fold=np.array(list(data.folds.values()), dtype=np.int8),
    )
    Path(path).write_bytes(lzma.compress(buf.getvalue(), preset=6))


def read_packed(path: str) -> CTICHData:
    """Read :func:`write_packed`'s file."""
    z = np.load(io.BytesIO(lzma.decompress(Path(path).read_bytes())))
    size = z["images"].shape[-1]
    hu = z["images"].astype(np.float32) * (CTICH_WIDTH / 255) + (CTICH_LEVEL - CTICH_WIDTH / 2)
    masks = np.unpackbits(z["masks"], axis=-1, count=size).astype(np.uint8)
    return CTICHData(
        hu=hu,
        masks=masks,
        labels=z["labels"].astype(int),
        patient=z["patient"].astype(object),
        slice_number=z["slice"].astype(int),
        folds=dict(zip(z["fold_patient"].tolist(), z["fold"].astype(int).tolist(), strict=True)),
    )


def load(args) -> CTICHData:
    if args.packed:
        return read_packed(args.packed)
    patients = None
    if args.smoke:  # one patient with hemorrhage per fold, at 64 px
        import pandas as pd

        folds = pd.read_csv(Path(args.root) / "folds.csv", dtype={"patient": str})
        slices = pd.read_csv(Path(args.root) / "slices.csv", dtype={"patient": str})
        bleed = set(slices.loc[slices.hemorrhage == 1, "patient"])
        patients = []
        for f in sorted(folds.fold.unique()):
            patients += [p for p in folds.loc[folds.fold == f, "patient"] if p in bleed][:1]
    return load_ctich(args.root, size=64 if args.smoke else None, patients=patients)
