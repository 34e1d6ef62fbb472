"""The cohort manifest: one row per patient, paths relative to the CSV."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

REQUIRED = ("patient_id", "ct")
PATH_COLUMNS = ("ct", "mask")


class ManifestError(ValueError):
    """A manifest has problems; the message lists every bad row."""


def load_manifest(csv_path: str | os.PathLike, *, require_label: bool = False) -> pd.DataFrame:
    """Read and validate a cohort manifest.

    Columns: ``patient_id`` and ``ct`` (required); ``mask`` (optional); follow-up columns
    (``baseline_volume``, ``followup_volume``), clinical columns and the outcome ``he`` (0/1)
    optional. Paths are relative to the CSV's folder and come back absolute.

    Parameters
    ----------
    csv_path : path
    require_label : bool, default=False
        Whether ``he`` must be present (for fitting).

    Returns
    -------
    DataFrame
        One row per patient, ``patient_id`` as str.

    Raises
    ------
    ManifestError
        (a ValueError) listing every problem with its CSV line number.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: no such manifest.")
    try:
        df = pd.read_csv(csv_path, dtype={"patient_id": str, "ct": str, "mask": str})
    except Exception as exc:
        raise ManifestError(f"{csv_path}: not a readable CSV ({exc}).") from exc
    missing = [c for c in REQUIRED if c not in df.columns]
    if require_label and "he" not in df.columns:
        missing.append("he")
    if missing:
        raise ManifestError(f"{csv_path}: missing required column(s) {missing}.")
    base = csv_path.parent
    problems: list[str] = []
    dup = df["patient_id"].duplicated(keep=False) & df["patient_id"].notna()
    for i, row in df.iterrows():
        line = int(i) + 2  # header is line 1
        pid = row["patient_id"]
        if pd.isna(pid) or str(pid).strip() == "":
            problems.append(f"line {line}: empty patient_id")
        elif dup[i]:
            problems.append(f"line {line}: duplicate patient_id")
        for col in PATH_COLUMNS:
            if col not in df.columns:
                continue
            val = row[col]
            if pd.isna(val) or str(val).strip() == "":
                if col == "ct":
                    problems.append(f"line {line}: empty ct path")
                continue
            p = Path(str(val))
            p = p if p.is_absolute() else base / p
            if not p.exists():
                problems.append(f"line {line}: {col} path {str(val)!r} does not exist")
            df.at[i, col] = str(p.resolve())
        if "he" in df.columns:
            he = row["he"]
            if pd.isna(he):
                if require_label:
                    problems.append(f"line {line}: missing he label")
            elif he not in (0, 1, 0.0, 1.0, True, False):
                problems.append(f"line {line}: he must be 0 or 1, got {he!r}")
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise ManifestError(f"{csv_path}: {len(problems)} problem(s):\n  {shown}{more}")
    if "he" in df.columns and df["he"].notna().all():
        df["he"] = df["he"].astype(int)
    df["patient_id"] = df["patient_id"].astype(str)
    return df.reset_index(drop=True)
