"""A synthetic clinical ICH cohort (no real patient is in it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skhe.clinical import gcs_group, he_label

#: Coefficients of the true outcome model (log-odds scale) of :func:`make_clinical_cohort`.
TRUE_CLINICAL_MODEL = {
    "intercept": -2.3,
    "age_per_year": 0.055,  # centred at 62 years
    "gcs_moderate": 1.0,
    "gcs_severe": 1.8,
    "fibrinogen_per_g_l": -1.1,  # centred at 2.9 g/L; low fibrinogen favours expansion
}

_MISSING_RATE = {
    "fibrinogen": 0.05,
    "aptt": 0.04,
    "inr": 0.03,
    "platelet": 0.01,
    "time_to_ct": 0.02,
}


def clinical_logit(age, gcs_grp, fibrinogen, *, intercept: float | None = None) -> np.ndarray:
    """True linear predictor of HE in the synthetic cohort (see ``TRUE_CLINICAL_MODEL``)."""
    m = TRUE_CLINICAL_MODEL
    g = np.asarray(gcs_grp, dtype=object)
    return (
        (m["intercept"] if intercept is None else intercept)
        + m["age_per_year"] * (np.asarray(age, float) - 62)
        + m["gcs_moderate"] * (g == "moderate")
        + m["gcs_severe"] * (g == "severe")
        + m["fibrinogen_per_g_l"] * (np.asarray(fibrinogen, float) - 2.9)
    )


def draw_clinical_variables(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Draw the paper's clinical candidates (no volumes, no outcome) for ``n`` patients."""
    sex = np.where(rng.random(n) < 0.62, "male", "female")
    age = np.clip(np.round(rng.normal(62, 13, n)), 18, 98)
    gcs = np.clip(np.round(15 - rng.gamma(1.3, 2.6, n)), 3, 15).astype(int)
    grp = np.asarray(gcs_group(gcs)).astype(object)
    sbp = np.round(rng.normal(165, 28, n))
    dbp = np.round(0.45 * sbp + rng.normal(21, 11, n))
    return pd.DataFrame(
        {
            "patient_id": [f"SYN{i:04d}" for i in range(1, n + 1)],
            "sex": sex,
            "age": age,
            "gcs": gcs,
            "gcs_group": pd.Categorical(
                grp, categories=["mild", "moderate", "severe"], ordered=True
            ),
            "sbp": sbp,
            "dbp": dbp,
            "fibrinogen": np.round(np.clip(rng.normal(2.9, 0.8, n), 0.8, 7.0), 2),
            "inr": np.round(np.clip(rng.normal(1.02, 0.12, n), 0.8, 3.0), 2),
            "platelet": np.round(np.clip(rng.normal(205, 62, n), 20, 600)),
            "antiplatelet": (rng.random(n) < 0.14).astype(int),
            "time_to_ct": np.round(np.clip(rng.gamma(2.0, 1.6, n), 0.3, 24), 1),
            "aptt": np.round(np.clip(rng.normal(30.5, 5.0, n), 18, 80), 1),
        }
    )


def followup_volumes(rng: np.random.Generator, baseline: np.ndarray, he: np.ndarray) -> np.ndarray:
    """Follow-up volumes consistent with the ">= 6 mL or >= 33%" rule for the given labels."""
    follow = np.empty(len(baseline))
    for i, (b, h) in enumerate(zip(baseline, he, strict=True)):
        if h:
            follow[i] = b * (1 + rng.uniform(0.35, 1.5)) + rng.uniform(0, 3)
        else:
            follow[i] = b + rng.uniform(-0.25 * b, min(5.5, 0.30 * b))
    return np.round(follow, 2)


def add_missing_values(rng: np.random.Generator, df: pd.DataFrame) -> pd.DataFrame:
    """Blank laboratory values at random (fibrinogen 5%, aPTT 4%, INR 3%, ...)."""
    for col, rate in _MISSING_RATE.items():
        df.loc[rng.random(len(df)) < rate, col] = np.nan
    return df


def make_clinical_cohort(n_patients: int = 572, *, random_state=None) -> pd.DataFrame:
    """Draw a synthetic clinical cohort of spontaneous ICH patients with an HE label.

    The marginal distributions loosely follow published ICH cohorts (HE prevalence about 20%,
    age 62 +- 13 years, SBP 165 +- 28 mmHg, fibrinogen 2.9 +- 0.8 g/L, ...) and a few laboratory
    values are missing at random (fibrinogen 5%, aPTT 4%, INR 3%, platelets 1%, time to CT 2%).
    The paper's printed Table 1 was not available to us, so these are literature-typical values,
    not the paper's. The outcome is drawn from a logistic model in age, GCS group and fibrinogen
    only (``TRUE_CLINICAL_MODEL``), so a correct Clinical-to-HE pipeline recovers those three
    predictors. The numbers are synthetic and describe no real patients.

    Parameters
    ----------
    n_patients : int, default=572
        The paper's cohort size.
    random_state : int, Generator or None

    Returns
    -------
    DataFrame
        Columns ``patient_id``, ``sex`` ("female"/"male"), ``age``, ``gcs`` (3-15), ``gcs_group``,
        ``sbp``, ``dbp``, ``fibrinogen`` (g/L), ``inr``, ``platelet`` (10^9/L), ``antiplatelet``
        (0/1), ``time_to_ct`` (hours), ``aptt`` (s), ``baseline_volume`` and ``followup_volume``
        (mL), ``he`` (0/1, equal to ``he_label(baseline_volume, followup_volume)``).
    """
    if int(n_patients) < 2:
        raise ValueError(f"n_patients must be >= 2; got {n_patients}.")
    n = int(n_patients)
    rng = np.random.default_rng(random_state)
    df = draw_clinical_variables(rng, n)
    baseline = np.round(np.clip(rng.lognormal(np.log(14), 0.85, n), 0.5, 150), 2)
    p = 1 / (1 + np.exp(-clinical_logit(df["age"], df["gcs_group"], df["fibrinogen"])))
    he = (rng.random(n) < p).astype(int)
    df["baseline_volume"] = baseline
    df["followup_volume"] = followup_volumes(rng, baseline, he)
    df["he"] = he_label(df["baseline_volume"], df["followup_volume"]).to_numpy()
    if not (df["he"].to_numpy() == he).all():  # pragma: no cover - guarded by construction
        raise RuntimeError("follow-up volumes inconsistent with the HE rule")
    return add_missing_values(rng, df)
