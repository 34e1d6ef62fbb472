"""The CT-ICH loader against the real data in ../shared (skipped when absent)."""

import numpy as np

from skhe.datasets import load_ctich


def test_load_ctich_subset_matches_published_counts(ctich_dir):
    data = load_ctich(ctich_dir, size=64, patients=["049", "050"])
    # README / slices.csv: 049 has 39 slices (9 with hemorrhage), 050 has 32 (12)
    assert data.hu.shape == (71, 64, 64) and data.masks.shape == (71, 64, 64)
    assert data.labels.sum() == 21
    assert data.hu.min() >= -20 and data.hu.max() <= 100.001
    assert set(np.unique(data.masks)) <= {0, 1}
    # slice labels agree with the masks
    assert (data.masks.reshape(71, -1).max(axis=1) == data.labels).mean() > 0.97
    assert data.folds["050"] == 0 and data.folds["049"] == 3
    assert data.fold_mask(0).sum() == 32


def test_full_dataset_counts(ctich_dir):
    import pandas as pd

    slices = pd.read_csv(ctich_dir / "slices.csv", dtype={"patient": str})
    assert len(slices) == 2814 and slices.hemorrhage.sum() == 318
    assert slices.patient.nunique() == 75
