"""What the commands check before and after they run: the manifest's columns, values, masks and
folds, the output locations, and a loaded model's threshold and kind."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from skhe.cli._runtime import LOGGER, CommandError, RunLog
from skhe.exceptions import DataWarning
from skhe.pipelines import FEATURES, LOGISTIC

PREDICTIONS_HEADER = "patient_id,probability,prediction"
CV_TABLE_HEADER = "model,metric,mean,sd,folds,threshold"


def check_clinical_columns(df, kinds: list[str], where: str) -> None:
    """Every clinical column the clinical models need is in the manifest (else name them)."""
    from skhe.clinical import clinical_candidates

    if "clinical" in kinds:
        numeric, cats = clinical_candidates()
    elif "integrated" in kinds:  # leaves the baseline volume out, as the paper
        numeric, cats = clinical_candidates(exclude=("baseline_volume",))
    else:
        return
    need = [*numeric, *cats]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise CommandError(
            f"{where}: missing clinical column(s) {missing} needed by the clinical models "
            "(see docs/user-guide.md, 'Manifest')."
        )


def check_masks(df, kinds: list[str], where: str) -> None:
    """Image models need a hematoma mask for every training patient."""
    if not any(k in kinds for k in ("image", "integrated")):
        return
    if "mask" not in df.columns:
        raise CommandError(
            f"{where}: no 'mask' column; training the image models needs a hematoma mask "
            "(NIfTI) for every patient."
        )
    from skhe.io import path_given

    empty = df.loc[~df["mask"].map(path_given), "patient_id"].tolist()
    if empty:
        raise CommandError(
            f"{where}: no mask for patient(s) {empty[:10]}{' ...' if len(empty) > 10 else ''}; "
            "training the image models needs one for every patient."
        )


def check_folds(df, k: int, where: str) -> None:
    """Stratified k-fold needs at least k patients with and k without HE."""
    from skhe.utils import check_fold_counts

    try:
        check_fold_counts(df["he"].to_numpy(), k, option="--cv {}")
    except ValueError as exc:
        raise CommandError(f"{where}: {exc}") from None


def check_clinical_values_in(df, kinds: list[str], where: str) -> dict[str, int]:
    """Check the manifest's clinical values (naming CSV line and patient); return missing counts.

    Returns
    -------
    dict
        Column -> number of missing values that the models will impute (median / most frequent).
    """
    from skhe.clinical import PAPER_CATEGORICAL, PAPER_NUMERIC, check_clinical_values

    if not any(k in kinds for k in ("clinical", "integrated")):
        return {}
    numeric = [c for c in PAPER_NUMERIC if c in df.columns]
    cats = {c: v[0] for c, v in PAPER_CATEGORICAL.items() if c in df.columns}
    rows = [f"line {i + 2} (patient {pid})" for i, pid in enumerate(df["patient_id"])]
    try:
        check_clinical_values(df, numeric, cats, allow_missing=True, row_names=rows)
    except ValueError as exc:
        raise CommandError(f"{where}: {exc}") from exc
    missing = {c: int(df[c].isna().sum()) for c in [*numeric, *cats] if df[c].isna().any()}
    return missing


def check_mask_volumes(df, kinds: list[str], min_volume_ml: float = 1.0) -> None:
    """Warn (DataWarning, per patient) when a mask is empty but ``baseline_volume`` is not."""
    from skhe.io import path_given, read_mask

    if not any(k in kinds for k in ("image", "integrated")):
        return
    if "mask" not in df.columns or "baseline_volume" not in df.columns:
        return
    for pid, path, vol in zip(df["patient_id"], df["mask"], df["baseline_volume"], strict=True):
        if not path_given(path) or not np.isfinite(vol) or vol < min_volume_ml:
            continue
        if not read_mask(path).any():
            warnings.warn(
                DataWarning(
                    f"patient {pid}: the hematoma mask {Path(path).name} is empty, but the "
                    f"baseline volume is {vol:g} mL; the image models learn from this patient "
                    "as if it had no hematoma. Check the mask.",
                    source=path,
                    patient=pid,
                ),
                stacklevel=2,
            )


def input_paths(df, *extra) -> list:
    """Every path a run reads: the manifest's CT and mask paths, plus ``extra``."""
    from skhe.io import path_given

    paths = [*extra]
    for col in ("ct", "mask"):
        if df is not None and col in df.columns:
            paths += [p for p in df[col] if path_given(p)]
    return paths


def check_output_file(out: Path, overwrite: bool, inputs, header: str) -> Path:
    """An output CSV: not a folder, not an input, parent not a file; replaced only when it is
    skhe's own (its first line is ``header``) and ``overwrite``."""
    from skhe.utils import check_not_input

    out = Path(out)
    check_not_input(out, inputs)
    if out.is_dir():
        raise CommandError(f"--out {out} is a folder; give the path of the CSV file to write.")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CommandError(f"--out {out}: {parent} is a file, not a folder.")
            break
    if out.exists():
        if not overwrite:
            raise CommandError(f"{out} exists; use --overwrite to replace it.")
        try:
            first = out.open(encoding="utf-8").readline().strip()
        except (OSError, UnicodeDecodeError):
            first = ""
        if first != header:
            raise CommandError(
                f"refusing to replace {out}: it is not a table skhe wrote (its first line is "
                f"not {header!r}). Choose another --out. Nothing was changed."
            )
    return out


def log_imputation(missing: dict[str, int], n: int) -> None:
    for col, k in missing.items():
        LOGGER.info("imputing %d missing value(s) of %r (of %d patients)", k, col, n)


def prepare_cohort(df, kinds, where: str, log: RunLog) -> dict[str, int]:
    """Checks that need the run's log: data warnings per patient, imputation counts."""
    log.add_patients(df)
    check_mask_volumes(df, kinds)
    missing = check_clinical_values_in(df, kinds, where)
    log_imputation(missing, len(df))
    return missing


def write_csv_atomically(table: pd.DataFrame, out: Path) -> None:
    """Write ``table`` to ``out`` through a temporary sibling: complete, or not at all."""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        table.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def model_threshold(info: dict, model_path) -> float:
    """The saved decision threshold: a number in [0, 1], else a clear error."""
    raw = (info.get("metadata") or {}).get("threshold", 0.5)
    try:
        thr = float(raw)
    except (TypeError, ValueError):
        thr = float("nan")
    if isinstance(raw, bool) or not (0.0 <= thr <= 1.0):
        raise CommandError(
            f"{model_path}: the model's decision threshold {raw!r} is not a probability between "
            "0 and 1; the model file is damaged or was edited. Refit it with 'skhe fit'."
        )
    return thr


def check_kind(model, kind: str, model_path) -> None:
    """The model file's kind must match what it holds (no image networks in a clinical model)."""
    from skhe.neural import NDLScorer

    steps = getattr(model, "named_steps", {})
    features = steps.get(FEATURES)
    has_image = features is not None and any(
        isinstance(t, NDLScorer) for _, t, _ in getattr(features, "transformers_", [])
    )
    if has_image != (kind in ("image", "integrated")) or LOGISTIC not in steps:
        raise CommandError(
            f"{model_path}: the model file says it is a {kind!r} model but holds "
            f"{'an image' if has_image else 'a clinical'} pipeline; the file is damaged or was "
            "assembled from two models. Refit it with 'skhe fit'."
        )


def check_threshold(model, saved: float, model_path) -> float:
    """The fitted model's decision threshold; the file's metadata must agree with it."""
    lr = model.named_steps[LOGISTIC]
    if not hasattr(lr, "threshold_"):  # a model saved before thresholds were part of it
        lr.threshold_, lr.threshold_source_ = float(saved), "the model file's metadata"
    if abs(float(lr.threshold_) - float(saved)) > 1e-9:
        raise CommandError(
            f"{model_path}: the model's decision threshold ({lr.threshold_:.6g}) differs from "
            f"the one in its metadata ({saved:.6g}); the file is damaged or was edited. Refit "
            "it with 'skhe fit'."
        )
    return float(lr.threshold_)
