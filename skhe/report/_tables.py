"""The report's tables as DataFrames (also written as CSV): Tables 1-3 and model comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skhe.clinical import PAPER_CATEGORICAL, PAPER_NUMERIC
from skhe.metrics import univariable_analysis
from skhe.model_selection import Evaluation
from skhe.pipelines import LOGISTIC


def table1(ev: Evaluation, numeric=None, categorical=None) -> pd.DataFrame:
    """Cohort characteristics by HE with univariable odds ratios (the paper's Table 1).

    Uses the paper's clinical variables (and the baseline hematoma volume) present in the
    cohort; all patients of the evaluation (training and test).
    """
    numeric = list(
        dict.fromkeys([*(PAPER_NUMERIC if numeric is None else numeric), "baseline_volume"])
    )
    categorical = dict(PAPER_CATEGORICAL if categorical is None else categorical)
    df = ev.patients
    cols = [c for c in [*numeric, *categorical] if c in df.columns]
    if not cols:
        return pd.DataFrame()
    refs = {c: categorical[c][1] for c in categorical if c in df.columns}
    return univariable_analysis(df[[*cols, ev.outcome]], ev.outcome, categorical=refs)


def table2(ev: Evaluation) -> pd.DataFrame:
    """Odds ratios with 95% CI and p of each model's selected variables (the paper's Table 2)."""
    frames = []
    for name, m in ev.models.items():
        o = m.odds_ratios.copy()
        o.index.name = "variable"
        frames.append(o.reset_index().assign(model=name))
    out = pd.concat(frames, ignore_index=True)
    return out[["model", "variable", "odds_ratio", "ci_low", "ci_high", "p_value"]]


def threshold_rule(ev: Evaluation) -> str:
    """Where Table 3's thresholds were chosen, in words (the report and its CSV say it)."""
    if ev.design == "cv":
        return (
            "Youden on each fold's training folds, applied to its test fold; the threshold "
            "shown is the mean over the folds"
        )
    return "Youden on the training patients, applied unchanged to the test patients"


def table3(ev: Evaluation) -> pd.DataFrame:
    """Accuracy, sensitivity, specificity (Wilson 95% CI, counts) and AUC (DeLong 95% CI)."""
    rows = []
    for name, m in ev.models.items():
        p = m.performance
        rows.append(
            {
                "model": name,
                "n": p.n,
                "threshold": m.threshold,
                "threshold_rule": threshold_rule(ev),
                "auc": m.auc.auc,
                "auc_ci_low": m.auc.ci_low,
                "auc_ci_high": m.auc.ci_high,
                "accuracy": p.accuracy,
                "accuracy_ci_low": p.accuracy_ci[0],
                "accuracy_ci_high": p.accuracy_ci[1],
                "accuracy_count": f"{p.tp + p.tn}/{p.n}",
                "sensitivity": p.sensitivity,
                "sensitivity_ci_low": p.sensitivity_ci[0],
                "sensitivity_ci_high": p.sensitivity_ci[1],
                "sensitivity_count": f"{p.tp}/{p.tp + p.fn}",
                "specificity": p.specificity,
                "specificity_ci_low": p.specificity_ci[0],
                "specificity_ci_high": p.specificity_ci[1],
                "specificity_count": f"{p.tn}/{p.tn + p.fp}",
                "brier": m.calibration.brier,
                "calibration_slope": m.calibration.slope,
            }
        )
    return pd.DataFrame(rows)


def model_fit_table(ev: Evaluation) -> pd.DataFrame:
    """AIC, log-likelihood and size of each fitted logistic model (training patients)."""
    rows = []
    for name, m in ev.models.items():
        lr = m.model.named_steps[LOGISTIC]
        rows.append(
            {
                "model": name,
                "variables": ", ".join(map(str, lr.selected_features_)),
                "n_parameters": len(lr.selected_features_) + 1,
                "log_likelihood": lr.llf_,
                "aic": lr.aic_,
                "n_patients": lr.n_obs_,
                "fit_seconds": m.fit_seconds,
            }
        )
    return pd.DataFrame(rows)


def predictions_table(ev: Evaluation) -> pd.DataFrame:
    """Per evaluated patient: label, each model's probability and prediction."""
    out = pd.DataFrame({"patient_id": ev.test_ids, ev.outcome: ev.test_y})
    for name, m in ev.models.items():
        key = _slug(name)
        out[f"{key}_probability"] = np.round(m.test_prob, 6)
        out[f"{key}_prediction"] = m.test_pred
    return out


def _slug(name: str) -> str:
    return name.lower().replace("-to-he", "").replace("-", "_").replace(" ", "_")
