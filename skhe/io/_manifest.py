"""The cohort manifest: one row per patient, paths relative to the CSV."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from skhe.exceptions import DataError

REQUIRED = ("patient_id", "ct")
PATH_COLUMNS = ("ct", "mask")


def path_given(entry) -> bool:
    """Whether a manifest cell names a file: None, NaN, ``pd.NA`` and blank strings do not.

    The one test of "this patient has a ct/mask" for the manifest, the estimators and the
    command line (in-memory volumes and arrays count as given).
    """
    if entry is None or entry is pd.NA:
        return False
    if isinstance(entry, str):
        return bool(entry.strip())
    if isinstance(entry, float):
        return entry == entry  # NaN is the one float unequal to itself
    return True


class ManifestError(DataError):
    """A manifest has problems; the message lists every bad row."""


def _check_header(csv_path: Path, df: pd.DataFrame, required: list[str]) -> None:
    cols = [str(c) for c in df.columns]
    spaced = [c for c in cols if c != c.strip()]
    if spaced:
        raise ManifestError(
            f"{csv_path}: column name(s) with leading/trailing spaces {spaced}; rename them "
            f"(e.g. {spaced[0].strip()!r})."
        )
    missing = [c for c in required if c not in cols]
    if not missing:
        return
    found = cols if len(cols) <= 12 else [*cols[:12], "..."]
    hint = ""
    if len(cols) == 1:
        for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if sep in cols[0]:
                hint = f" The file looks {name}-delimited: save it comma-separated (CSV)."
                break
    raise ManifestError(f"{csv_path}: missing required column(s) {missing}; found {found}.{hint}")


def load_manifest(
    csv_path: str | os.PathLike, *, require_label: bool = False, require_ct: bool = True
) -> pd.DataFrame:
    """Read and validate a cohort manifest.

    Columns: ``patient_id`` and ``ct`` (required); ``mask`` (optional); follow-up columns
    (``baseline_volume``, ``followup_volume``), clinical columns and the outcome ``he`` (0/1)
    optional. Paths are relative to the CSV's folder and come back absolute.

    Parameters
    ----------
    csv_path : path
    require_label : bool, default=False
        Whether ``he`` must be present (for fitting).
    require_ct : bool, default=True
        Whether ``ct`` must be present (False for clinical-only models, which read no image).

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
    except pd.errors.EmptyDataError as exc:
        raise ManifestError(f"{csv_path}: the file is empty (no header, no rows).") from exc
    except Exception as exc:
        raise ManifestError(f"{csv_path}: not a readable CSV ({exc}).") from exc
    required = [c for c in REQUIRED if require_ct or c != "ct"]
    _check_header(csv_path, df, [*required, *(["he"] if require_label else [])])
    if len(df) == 0:
        raise ManifestError(f"{csv_path}: has a header but no patient rows.")
    base = csv_path.parent
    he_num = pd.to_numeric(df["he"], errors="coerce") if "he" in df.columns else None
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
            if not path_given(val):
                if col == "ct" and require_ct:
                    problems.append(f"line {line}: empty ct path")
                continue
            p = Path(str(val))
            p = p if p.is_absolute() else base / p
            if not p.exists():
                problems.append(f"line {line}: {col} path {str(val)!r} does not exist")
            df.at[i, col] = str(p.resolve())
        if he_num is not None:
            he = row["he"]
            if pd.isna(he):
                if require_label:
                    problems.append(f"line {line}: missing he label")
            elif he_num[i] not in (0.0, 1.0):
                problems.append(f"line {line}: he must be 0 or 1, got {he!r}")
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise ManifestError(f"{csv_path}: {len(problems)} problem(s):\n  {shown}{more}")
    if he_num is not None:
        df["he"] = he_num.astype(int) if he_num.notna().all() else he_num
    df["patient_id"] = df["patient_id"].astype(str)
    return df.reset_index(drop=True)
