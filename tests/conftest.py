"""Shared fixtures: paths to the optional real data in ../shared (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

SHARED = Path(os.environ.get("SKHE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def asah() -> pd.DataFrame:
    """The real aSAH table from pROC (113 patients); skipped when ../shared is absent."""
    path = SHARED / "data" / "asah" / "asah.csv"
    if not path.exists():
        pytest.skip(f"real aSAH data not available at {path}")
    df = pd.read_csv(path)
    df["poor"] = (df["outcome"] == "Poor").astype(int)
    return df


@pytest.fixture(scope="session")
def ctich_dir() -> Path:
    """The real CT-ICH slices; skipped when ../shared is absent."""
    path = SHARED / "data" / "ct-ich"
    if not (path / "slices.csv").exists():
        pytest.skip(f"real CT-ICH data not available at {path}")
    return path
