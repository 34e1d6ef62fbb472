"""``make_synthetic_cohort``: DICOM series, NIfTI masks, clinical table and HE labels on disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from skhe.clinical import he_label
from skhe.datasets._clinical import (
    add_missing_values,
    clinical_logit,
    draw_clinical_variables,
    followup_volumes,
)
from skhe.datasets._phantom import add_noise, draw_head, draw_hematoma
from skhe.io import CTVolume, write_dicom_series, write_nifti
from skhe.utils import atomic_output_dir, check_output_dir

DICOM_GRID = {"source_format": "dicom-series"}  # the geometry write_dicom_series gives

#: Image part of the true HE model: log-odds per generator feature (z-scored).
TRUE_IMAGE_MODEL = {
    "intercept": -2.75,
    "irregularity": 1.0,
    "heterogeneity": 1.0,
    "log_volume": 0.5,
}
SLICE_MM = 5.0


def image_logit(irregularity, heterogeneity, volume_ml) -> np.ndarray:
    """Image part of the HE linear predictor (irregular shape, heterogeneous density, volume)."""
    m = TRUE_IMAGE_MODEL
    irr = (np.asarray(irregularity, float) - 0.5) / 0.2887
    het = (np.asarray(heterogeneity, float) - 0.5) / 0.2887
    logv = (np.log(np.asarray(volume_ml, float)) - np.log(14.0)) / 0.85
    return m["irregularity"] * irr + m["heterogeneity"] * het + m["log_volume"] * logv


def make_synthetic_cohort(
    n_patients: int,
    out_dir: str | os.PathLike,
    *,
    image_size: int = 512,
    n_slices: tuple[int, int] = (24, 40),
    random_state=None,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Write a realistic synthetic ICH cohort: DICOM series, hematoma masks, clinical table.

    Per patient: a CT head phantom as a DICOM series (skull > 1000 HU, parenchyma 25-40 HU,
    ventricles and CSF 0-15 HU, noise; head size, position and slice count vary), a hematoma
    (50-90 HU, irregular outline, swirl/blend/black-hole density patterns, sometimes extending into
    a ventricle) with its NIfTI mask, baseline and follow-up volumes, and the clinical variables of
    :func:`make_clinical_cohort`. The HE label depends on both the clinical variables (age, GCS
    group, fibrinogen) and image features known to predict expansion (irregularity, heterogeneity,
    volume), so Image-, Clinical- and Integrated-to-HE each carry signal and the integrated model
    can beat both. Everything is synthetic.

    Parameters
    ----------
    n_patients : int
    out_dir : path
        Created; must not exist or be empty unless ``overwrite``. Written atomically (a failed
        run leaves nothing behind).
    image_size : int, default=512
        Rows = columns; the field of view is 230 mm whatever the size.
    n_slices : (min, max), default=(24, 40)
        Slices per patient (5 mm apart), drawn uniformly.
    random_state : int or None
        The same value gives the same cohort, file for file.
    overwrite : bool, default=False
    progress : bool, default=True

    Returns
    -------
    DataFrame
        The manifest with absolute ``ct``/``mask`` paths, so the estimators open it as is (also
        written to ``out_dir/manifest.csv`` with paths relative to that folder): clinical
        columns, ``ct``, ``mask``, ``baseline_volume``, ``followup_volume``, ``he`` and the
        generator's truth ``true_irregularity``, ``true_heterogeneity``, ``true_pattern``,
        ``true_ivh`` (for checks; not clinical variables).
    """
    n = int(n_patients)
    if n < 2:
        raise ValueError(f"n_patients must be >= 2; got {n_patients}.")
    lo, hi = int(n_slices[0]), int(n_slices[1])
    if not 4 <= lo <= hi:
        raise ValueError(f"n_slices must be (min, max) with 4 <= min <= max; got {n_slices}.")
    if int(image_size) < 32:
        raise ValueError(f"image_size must be >= 32; got {image_size}.")
    check_output_dir(out_dir, overwrite)
    seed_seq = np.random.SeedSequence(random_state)
    rng = np.random.default_rng(seed_seq)
    clinical = draw_clinical_variables(rng, n)
    child = seed_seq.spawn(n)
    entropy = str(random_state) if random_state is not None else None
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        rows = []
        for i in tqdm(
            range(n), desc="synthetic cohort", disable=None if progress else True, unit="patient"
        ):
            prng = np.random.default_rng(child[i])
            pid = clinical.loc[i, "patient_id"]
            k = int(prng.integers(lo, hi + 1))
            hu, brain, vent, geo = draw_head(prng, k, int(image_size))
            volume_target = float(np.clip(prng.lognormal(np.log(14), 0.85), 1.0, 120.0))
            irr, het = prng.uniform(0, 1), prng.uniform(0, 1)
            mask, feats = draw_hematoma(
                prng,
                hu,
                brain,
                vent,
                geo,
                volume_ml=volume_target,
                irregularity=irr,
                heterogeneity=het,
                slice_mm=SLICE_MM,
            )
            hu = add_noise(prng, hu)
            spacing = (SLICE_MM, geo["px"], geo["px"])
            origin = (-115.0, -115.0, -SLICE_MM * k / 2)
            write_dicom_series(
                hu,
                tmp / pid / "ct",
                spacing=spacing,
                origin=origin,
                patient_name=f"Synthetic^{pid}",
                patient_id=pid,
                uid_entropy=[entropy, pid] if entropy else None,
            )
            grid = CTVolume(hu, spacing, origin=np.array(origin), metadata=DICOM_GRID)
            write_nifti(mask, tmp / pid / "mask.nii.gz", like=grid)  # on the CT's grid
            volume = float(mask.sum()) * np.prod(spacing) / 1000.0
            rows.append(
                {
                    "ct": f"{pid}/ct",
                    "mask": f"{pid}/mask.nii.gz",
                    "baseline_volume": round(volume, 2),
                    "true_irregularity": round(feats.irregularity, 4),
                    "true_heterogeneity": round(feats.heterogeneity, 4),
                    "true_pattern": feats.pattern,
                    "true_ivh": int(feats.ivh),
                }
            )
        img = pd.DataFrame(rows)
        df = pd.concat([clinical.reset_index(drop=True), img], axis=1)
        lp = clinical_logit(
            df["age"], df["gcs_group"], df["fibrinogen"], intercept=TRUE_IMAGE_MODEL["intercept"]
        ) + image_logit(df["true_irregularity"], df["true_heterogeneity"], df["baseline_volume"])
        he = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
        df["followup_volume"] = followup_volumes(rng, df["baseline_volume"].to_numpy(), he)
        df["he"] = he_label(df["baseline_volume"], df["followup_volume"]).to_numpy()
        df = add_missing_values(rng, df)
        cols = ["patient_id", "ct", "mask"] + [
            c for c in df.columns if c not in ("patient_id", "ct", "mask")
        ]
        df = df[cols]
        df.to_csv(tmp / "manifest.csv", index=False)
        (tmp / "README.txt").write_text(
            "SYNTHETIC data generated by skhe.datasets.make_synthetic_cohort; no real patient.\n"
        )
    root = Path(out_dir).resolve()  # the returned frame opens as is; the CSV stays relative
    for col in ("ct", "mask"):
        df[col] = [str(root / p) for p in df[col]]
    return df
