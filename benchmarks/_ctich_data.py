"""CT-ICH for ``benchmarks/ctich.py``: the PNG folder, or a compact packed copy of it, and the
split of its patient folds into test, training and inner validation slices."""

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


#: ``validation="mixed"``: the share of each training fold's patients (with and without
#: hemorrhage alike) that validates instead of training.
MIXED_VALIDATION_SHARE = 0.25


def split(
    data: CTICHData,
    test_fold: int,
    exclude: list[int],
    n_inner: int = 1,
    validation: str = "next",
    seed: int = 0,
):
    """Boolean masks of the test fold and of each inner fit: ``[(train, validation,
    validation fold)]``, the validation folds being the next ``n_inner`` folds after the test
    fold and each fit training on the other folds (three of five with one fold tested).

    With ``validation="mixed"`` (one inner fit) the validation patients are instead a quarter
    of each remaining fold's patients, drawn (``seed``) separately among those with and without
    hemorrhage, and the fit trains on the rest of every fold: it sees patients of all four
    folds, as the refit does. The validation fold is then reported as ``"mixed"``."""
    folds = np.array([data.folds[p] for p in data.patient])
    n_folds = int(folds.max()) + 1
    order = [f for f in range(n_folds) if f not in exclude]
    if not 1 <= n_inner <= len(order) - 2:
        raise ValueError(
            f"inner folds: {n_inner} asked, but {len(order)} folds leave 1 to "
            f"{len(order) - 2} (one tested, at least one to train on)"
        )
    test = folds == test_fold
    usable = ~test & ~np.isin(folds, exclude)
    if validation == "mixed":
        if n_inner != 1:
            raise ValueError(f"validation='mixed' takes one inner fit; {n_inner} asked")
        # systematic sampling: the patients in fold order (shuffled within each fold), every
        # fourth from a random start, separately with and without hemorrhage, so each fold
        # gives about a quarter and every group at least one patient
        rng = np.random.default_rng(seed)
        bleeds = {p for p, lab in zip(data.patient, data.labels, strict=True) if lab}
        present = set(data.patient[usable])
        step = round(1 / MIXED_VALIDATION_SHARE)
        chosen = []
        for with_bleed in (True, False):
            group = [
                p
                for f in order
                if f != test_fold
                for p in rng.permutation(
                    sorted(p for p in present if data.folds[p] == f and (p in bleeds) == with_bleed)
                )
            ]
            chosen += group[int(rng.integers(step)) :: step] if group else []
        val = usable & np.isin(data.patient, chosen)
        return test, [(usable & ~val, val, "mixed")]
    if validation != "next":
        raise ValueError(f"validation must be 'next' or 'mixed'; got {validation!r}")
    inner = []
    for j in range(1, n_inner + 1):
        val_fold = order[(order.index(test_fold) + j) % len(order)]
        val = folds == val_fold
        inner.append((usable & ~val, val, val_fold))
    return test, inner
