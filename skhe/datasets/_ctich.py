"""Loader for the real CT-ICH slices in ``../shared/data/ct-ich`` (PhysioNet ct-ich 1.2.0)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skhe.io import read_png_stack, read_windowed_slices
from skhe.preprocessing import resize

#: The CT-ICH PNGs are windowed with level 40 HU / width 120 HU.
CTICH_LEVEL, CTICH_WIDTH = 40.0, 120.0


@dataclass
class CTICHData:
    """CT-ICH slices, masks and labels, one row per slice.

    Attributes
    ----------
    hu : ndarray float32 (n, H, W)
        HU recovered from the windowed PNGs (only -20..100 HU is recoverable).
    masks : ndarray uint8 (n, H, W)
    labels : ndarray int (n,)
        Hemorrhage on the slice.
    patient : ndarray of str (n,)
    slice_number : ndarray int (n,)
    folds : dict
        Patient -> fold (0-4) of the dataset's fixed split; fold 0 is the default test fold.
    """

    hu: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    patient: np.ndarray
    slice_number: np.ndarray
    folds: dict

    def fold_mask(self, fold: int) -> np.ndarray:
        """Boolean mask of the slices whose patient is in ``fold``."""
        return np.array([self.folds[p] == fold for p in self.patient])


def load_ctich(
    root: str | os.PathLike, *, size: int | None = None, patients=None, n_threads: int = 4
) -> CTICHData:
    """Load the CT-ICH dataset (75 patients, 2,814 slices, 318 with hemorrhage).

    Parameters
    ----------
    root : path
        The ``ct-ich`` folder (with ``slices.csv``, ``folds.csv`` and ``scans/``).
    size : int, default=None
        Resize slices (and masks, kept binary) to ``size`` x ``size``; None keeps 512.
    patients : sequence of str, default=None
        Subset of patient ids (e.g. ``"049"``).
    n_threads : int, default=4

    Returns
    -------
    CTICHData
    """
    root = Path(root)
    for name in ("slices.csv", "folds.csv"):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root / name}: not found; is {root} the ct-ich folder?")
    slices = pd.read_csv(root / "slices.csv", dtype={"patient": str})
    folds = pd.read_csv(root / "folds.csv", dtype={"patient": str})
    if patients is not None:
        wanted = {str(p) for p in patients}
        unknown = wanted - set(slices["patient"])
        if unknown:
            raise ValueError(f"unknown CT-ICH patient(s): {sorted(unknown)}")
        slices = slices[slices["patient"].isin(wanted)]
    slices = slices.sort_values(["patient", "slice"]).reset_index(drop=True)

    def load(group):
        _, g = group
        hu = read_windowed_slices(
            [root / p for p in g["image"]], level=CTICH_LEVEL, width=CTICH_WIDTH
        )
        m = (read_png_stack([root / p for p in g["mask"]]) > 127).astype(np.uint8)
        if size is not None and size != hu.shape[-1]:
            hu, m = resize(hu, size), resize(m, size, mask=True)
        return hu, m

    groups = list(slices.groupby("patient", sort=False))
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        parts = list(pool.map(load, groups))
    hu = np.concatenate([p[0] for p in parts])
    masks = np.concatenate([p[1] for p in parts])
    return CTICHData(
        hu=hu,
        masks=masks,
        labels=slices["hemorrhage"].to_numpy(dtype=int),
        patient=slices["patient"].to_numpy(dtype=object),
        slice_number=slices["slice"].to_numpy(dtype=int),
        folds=dict(zip(folds["patient"], folds["fold"].astype(int), strict=True)),
    )
