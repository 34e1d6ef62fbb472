"""Fit and evaluate HE models the way the paper does: held-out test split or cross-validation.

Everything that fits a model for an evaluation lives here (the report only renders what this
returns, and the command line's ``evaluate``/``cv``/``demo`` call these functions).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from tqdm.auto import tqdm

from skhe.metrics import (
    AUCResult,
    CalibrationResult,
    DiagnosticPerformance,
    LRTResult,
    calibration,
    delong_test,
    diagnostic_performance,
    net_benefit,
    roc_auc_ci,
    youden_threshold,
)
from skhe.pipelines import CLINICAL, FEATURES, IMAGE, LOGISTIC
from skhe.utils import binary_target, check_fold_counts


@dataclass
class ModelEvaluation:
    """One fitted model and its test-set statistics.

    Attributes
    ----------
    name : str
    model : fitted Pipeline
        Fit on all training patients (holdout) or on all patients (cross-validation).
    test_prob : ndarray
        Predicted HE probability of each test patient (out-of-fold with cross-validation).
    test_pred : ndarray of int
        Prediction at the threshold chosen on the training patients (of each fold).
    threshold : float
        Youden threshold chosen on the training patients (mean over folds with cross-validation).
    auc, performance, calibration : AUCResult, DiagnosticPerformance, CalibrationResult
    decision_curve : DataFrame
    fit_seconds : float
    """

    name: str
    model: object
    test_prob: np.ndarray
    test_pred: np.ndarray
    threshold: float
    auc: AUCResult
    performance: DiagnosticPerformance
    calibration: CalibrationResult
    decision_curve: pd.DataFrame
    fit_seconds: float

    @property
    def odds_ratios(self) -> pd.DataFrame:
        """The fitted logistic model's odds ratios (95% Wald CI, p)."""
        return self.model.named_steps[LOGISTIC].odds_ratios_

    @property
    def aic(self) -> float:
        return float(self.model.named_steps[LOGISTIC].aic_)


@dataclass
class Evaluation:
    """Everything the report shows.

    Attributes
    ----------
    design : {"holdout", "cv"}
    patients : DataFrame
        All patients with a ``split`` column (``train``/``test``, or ``fold k``).
    outcome : str
    test_y : ndarray
        Labels of the evaluated (test or out-of-fold) patients, aligned with ``test_ids``.
    test_ids : ndarray of str
    models : dict of str -> ModelEvaluation
    comparisons : DataFrame
        Pairwise DeLong tests on the test patients.
    ndl_lrt : LRTResult or None
        Likelihood-ratio test of the nDL score in Integrated-to-HE (training patients).
    methods : dict
        Configuration, versions, seeds and timings, for the methods block.
    data_quality : dict
        ``"warnings"``: list of ``{"patient", "source", "message"}`` (skhe's data warnings seen
        during the run); ``"imputed"``: column -> number of values imputed.
    """

    design: str
    patients: pd.DataFrame
    outcome: str
    test_y: np.ndarray
    test_ids: np.ndarray
    models: dict[str, ModelEvaluation]
    comparisons: pd.DataFrame
    ndl_lrt: LRTResult | None
    methods: dict = field(default_factory=dict)
    data_quality: dict = field(default_factory=dict)


def _statistics(name, model, y, prob, pred, threshold, seconds) -> ModelEvaluation:
    # counts from the binary predictions (each fold's own threshold under cross-validation)
    perf = diagnostic_performance(y, pred.astype(float), threshold=0.5)
    perf = DiagnosticPerformance(**{**perf.to_dict(), "threshold": float(threshold)})
    n_bins = int(min(10, max(3, len(y) // 15)))
    return ModelEvaluation(
        name=name,
        model=model,
        test_prob=prob,
        test_pred=pred,
        threshold=float(threshold),
        auc=roc_auc_ci(y, prob),
        performance=perf,
        calibration=calibration(y, prob, n_bins=n_bins),
        decision_curve=net_benefit(y, prob),
        fit_seconds=float(seconds),
    )


def _comparisons(y, models: dict[str, ModelEvaluation]) -> pd.DataFrame:
    rows = []
    names = list(models)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            t = delong_test(y, models[a].test_prob, models[b].test_prob)
            rows.append(
                {
                    "model_a": a,
                    "model_b": b,
                    "auc_a": t.auc_a,
                    "auc_b": t.auc_b,
                    "difference": t.difference,
                    "ci_low": t.ci_low,
                    "ci_high": t.ci_high,
                    "z": t.statistic,
                    "p_value": t.p_value,
                }
            )
    return pd.DataFrame(rows)


def _ndl_lrt(models: dict[str, ModelEvaluation], X, y):
    from skhe.pipelines import ndl_likelihood_ratio_test

    for ev in models.values():
        steps = ev.model.named_steps
        feats = steps.get(FEATURES)
        if feats is not None and {IMAGE, CLINICAL} <= set(feats.named_transformers_):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ndl_likelihood_ratio_test(ev.model, X, y)
    return None


def _fit(model, X, y):
    t0 = time.perf_counter()
    fitted = clone(model).fit(X, y)
    return fitted, time.perf_counter() - t0


def _predict(model, X) -> np.ndarray:
    return model.predict_proba(X)[:, 1]


def evaluate_holdout(
    models: dict,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    outcome: str = "he",
    patient_column: str = "patient_id",
    progress: bool = True,
) -> Evaluation:
    """Fit each model on ``train`` and evaluate it on ``test`` (the paper's design).

    The classification threshold of each model is the Youden-optimal one on the training
    patients, then applied unchanged to the test patients.

    Parameters
    ----------
    models : dict of str -> unfitted estimator
        E.g. ``{"Image-to-HE": make_image_to_he(...), ...}``; each is cloned.
    train, test : DataFrame
        Patients (one row each) with the ``outcome`` column.
    outcome : str, default="he"
    patient_column : str, default="patient_id"
    progress : bool, default=True

    Returns
    -------
    Evaluation
    """
    y_tr, _ = binary_target(_outcome(train, outcome, "training"), name=outcome)
    y_te, _ = binary_target(_outcome(test, outcome, "test"), name=outcome)
    results = {}
    for name, model in tqdm(
        models.items(), desc="models", disable=None if progress else True, unit="model"
    ):
        fitted, secs = _fit(model, train, y_tr)
        thr = youden_threshold(y_tr, _predict(fitted, train))
        prob = _predict(fitted, test)
        results[name] = _statistics(name, fitted, y_te, prob, (prob >= thr).astype(int), thr, secs)
    patients = pd.concat([train.assign(split="train"), test.assign(split="test")])
    return Evaluation(
        design="holdout",
        patients=patients,
        outcome=outcome,
        test_y=y_te,
        test_ids=_ids(test, patient_column),
        models=results,
        comparisons=_comparisons(y_te, results),
        ndl_lrt=_ndl_lrt(results, train, y_tr),
    )


def evaluate_cv(
    models: dict,
    patients: pd.DataFrame,
    *,
    cv: int = 5,
    outcome: str = "he",
    patient_column: str = "patient_id",
    random_state: int | None = 0,
    progress: bool = True,
) -> Evaluation:
    """Stratified k-fold evaluation: every patient is predicted by models that never saw them.

    Each fold's threshold is chosen on its training folds; the test statistics pool the
    out-of-fold predictions. Odds ratios, the likelihood-ratio test and the explanations come
    from models refit on all patients.

    Parameters
    ----------
    models : dict of str -> unfitted estimator
    patients : DataFrame
    cv : int, default=5
    outcome, patient_column : str
    random_state : int or None, default=0
    progress : bool, default=True

    Returns
    -------
    Evaluation
    """
    from sklearn.model_selection import StratifiedKFold

    y, _ = binary_target(_outcome(patients, outcome, "the"), name=outcome)
    k = int(cv)
    _check_folds(y, k, outcome)
    folds = list(StratifiedKFold(k, shuffle=True, random_state=random_state).split(patients, y))
    split = np.empty(len(patients), dtype=object)
    for i, (_, te) in enumerate(folds):
        split[te] = f"fold {i + 1}"
    results = {}
    bar = tqdm(
        total=len(models) * (k + 1), desc="fits", disable=None if progress else True, unit="fit"
    )
    for name, model in models.items():
        prob, pred, thrs, secs = np.empty(len(y)), np.empty(len(y), int), [], 0.0
        for tr, te in folds:
            fitted, s = _fit(model, patients.iloc[tr], y[tr])
            thr = youden_threshold(y[tr], _predict(fitted, patients.iloc[tr]))
            prob[te] = _predict(fitted, patients.iloc[te])
            pred[te] = prob[te] >= thr
            thrs.append(thr)
            secs += s
            bar.update()
        full, s = _fit(model, patients, y)
        bar.update()
        results[name] = _statistics(
            name, full, y, prob, pred, float(np.mean(thrs)), (secs + s) / (k + 1)
        )
    bar.close()
    return Evaluation(
        design="cv",
        patients=patients.assign(split=split),
        outcome=outcome,
        test_y=y,
        test_ids=_ids(patients, patient_column),
        models=results,
        comparisons=_comparisons(y, results),
        ndl_lrt=_ndl_lrt(results, patients, y),
    )


def _outcome(df: pd.DataFrame, outcome: str, which: str) -> pd.Series:
    if outcome not in df.columns:
        raise ValueError(f"the {which} patients have no {outcome!r} column (the HE label).")
    return df[outcome]


def _ids(df: pd.DataFrame, column: str) -> np.ndarray:
    if column in df.columns:
        return df[column].astype(str).to_numpy()
    return np.array([f"row {i}" for i in range(len(df))])


def cross_validate_models(
    models: dict,
    patients: pd.DataFrame,
    *,
    cv: int = 5,
    outcome: str = "he",
    random_state: int | None = 0,
    scoring=None,
) -> pd.DataFrame:
    """``sklearn.model_selection.cross_validate`` of each model on the same stratified folds.

    Parameters
    ----------
    models : dict of str -> unfitted estimator
    patients : DataFrame
    cv : int, default=5
    outcome : str, default="he"
    random_state : int or None, default=0
    scoring : dict, default=None
        Default :data:`skhe.metrics.SCORERS`.

    Returns
    -------
    DataFrame
        Long format: ``model``, ``metric``, ``mean``, ``sd`` (ddof=1) over the folds, ``folds``,
        ``threshold``: for ``sensitivity``/``specificity``, "youden on the test fold" (the
        scorers' rule, optimistic as the paper's), unlike :func:`evaluate_cv`, whose thresholds
        come from the training folds; empty for threshold-free metrics.
    """
    from sklearn.model_selection import StratifiedKFold, cross_validate

    from skhe.metrics import SCORERS

    y, _ = binary_target(_outcome(patients, outcome, "the"), name=outcome)
    _check_folds(y, int(cv), outcome)
    folds = StratifiedKFold(int(cv), shuffle=True, random_state=random_state)
    rows = []
    for name, model in models.items():
        res = cross_validate(
            model, patients, y, cv=folds, scoring=scoring or SCORERS, error_score="raise"
        )
        for key, vals in res.items():
            rows.append(
                {
                    "model": name,
                    "metric": key.removeprefix("test_"),
                    "mean": float(np.mean(vals)),
                    "sd": float(np.std(vals, ddof=1)),
                    "folds": int(cv),
                    "threshold": "youden on the test fold"
                    if key.removeprefix("test_") in ("sensitivity", "specificity")
                    else "",
                }
            )
    return pd.DataFrame(rows, columns=["model", "metric", "mean", "sd", "folds", "threshold"])


def _check_folds(y: np.ndarray, k: int, outcome: str) -> None:
    if k < 2:
        raise ValueError(f"cv must be at least 2; got {k}.")
    check_fold_counts(y, k, outcome=outcome)
