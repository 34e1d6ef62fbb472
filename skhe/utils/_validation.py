"""Validation helpers shared by the metrics and the estimators."""

from __future__ import annotations

import functools
import hashlib
import re
import sys

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.utils.multiclass import type_of_target


def binary_target(y, *, pos_label=None, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Validate a binary target and encode it as 0/1.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Target with exactly two distinct values.
    pos_label : scalar, default=None
        The positive class. By default the larger of the two labels (``1``, ``True``,
        or the later one in sort order).
    name : str, default="y"
        Name used in error messages.

    Returns
    -------
    y01 : ndarray of shape (n_samples,), dtype int
        1 for the positive class, 0 otherwise.
    classes : ndarray of shape (2,)
        The two labels, negative first.

    Raises
    ------
    ValueError
        If ``y`` has missing values, a single class, or more than two classes.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {np.shape(y)}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty.")
    if pd.isna(arr).any():
        raise ValueError(f"{name} contains NaN / missing values; drop or impute those rows first.")
    classes = np.unique(arr)
    if classes.size == 1:
        raise ValueError(
            f"{name} contains only one class ({classes[0]!r}); at least one sample of each of the "
            "two classes is needed (a single-class fold or split?)."
        )
    if classes.size > 2:
        y_type = type_of_target(arr, input_name=name)
        raise ValueError(
            "Only binary classification is supported. The type of the target is "
            f"{y_type} ({classes.size} classes in {name})."
        )
    if pos_label is None:
        pos_label = classes[1]
    elif pos_label not in set(classes.tolist()):
        raise ValueError(f"pos_label={pos_label!r} is not one of the labels in {name}: {classes}.")
    neg = classes[0] if classes[1] == pos_label else classes[1]
    return (arr == pos_label).astype(int), np.array([neg, pos_label], dtype=classes.dtype)


def column_names(X) -> list[str]:
    """Column names of a DataFrame, or ``x0..x{n-1}`` for an array."""
    if hasattr(X, "columns"):
        return [str(c) for c in X.columns]
    n = np.shape(X)[1]
    return [f"x{i}" for i in range(n)]


def unwrap_frozen(est):
    """The estimator inside a ``sklearn.frozen.FrozenEstimator``, else ``est`` itself."""
    return est.estimator if isinstance(est, FrozenEstimator) else est


def outcome_fingerprint(y01) -> str:
    """Fingerprint of a 0/1 outcome vector in row order: what "fit on the same rows" compares.

    The one definition used by :class:`~skhe.linear_model.ForwardSelectingLogisticRegression`
    (``train_fingerprint_``) and by :func:`~skhe.metrics.likelihood_ratio_test` for statsmodels
    results, so the two can be compared whether the model was fit on an array or a DataFrame.
    """
    return hashlib.sha1(np.ascontiguousarray(np.asarray(y01), dtype=np.int8).tobytes()).hexdigest()


_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")


def check_device(device, what: str = "device") -> str:
    """``device`` if it is auto, cpu, cuda, cuda:N or mps; else a ValueError listing them."""
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ValueError(
            f"{what} must be auto (a GPU when there is one), cpu, cuda, cuda:N (N = GPU index, "
            f"e.g. cuda:0) or mps. Got {device!r} instead."
        )
    return device


def positive_scores(y_score, n: int, *, name: str = "y_score", probabilities: bool = False):
    """Scores of the positive class as a float vector of ``n`` values, checked.

    Accepts what scikit-learn's scorers accept: a vector, or ``predict_proba``'s two-column
    output (the second column, the positive class, is used).

    Parameters
    ----------
    y_score : array-like of shape (n,), (n, 1) or (n, 2)
    n : int
        The number of labels they go with.
    name : str
        Name in messages.
    probabilities : bool, default=False
        Also require values in [0, 1].

    Returns
    -------
    ndarray of shape (n,), float
    """
    s = np.asarray(y_score, dtype=float)
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, 1]
    elif s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    elif s.ndim != 1:
        raise ValueError(
            f"{name} must be one score per sample (n,) or predict_proba's (n, 2); got shape "
            f"{s.shape}."
        )
    if s.shape[0] != n:
        raise ValueError(f"{name} has {s.shape[0]} values but y_true has {n}.")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} contains NaN or inf values.")
    if probabilities and (s.min(initial=0.0) < 0 or s.max(initial=0.0) > 1):
        raise ValueError(f"{name} must be probabilities in [0, 1].")
    return s


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """The folders of skhe and of the libraries it runs inside (looked up once)."""
    import importlib.util
    import os

    roots = []
    for name in ("skhe", "sklearn", "joblib", "skorch", "torch", "statsmodels", "pandas"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            roots += [os.path.join(p, "") for p in spec.submodule_search_locations]
    return tuple(roots)


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the user's code.

    Call it in the function that calls ``warnings.warn``: it counts the frames from there up to
    the first one outside skhe and the libraries skhe runs inside (scikit-learn, joblib, skorch,
    torch, statsmodels, pandas), so a warning raised while a Pipeline or ``cross_validate`` fits
    names the user's line rather than ``sklearn/base.py``.
    """
    roots = _library_roots()
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(roots):
        frame = frame.f_back
        level += 1
    return level


def check_fold_counts(y01, k: int, *, outcome: str = "HE", option: str = "cv={}") -> None:
    """Stratified ``k``-fold needs ``k`` samples of each class; else a ValueError giving both
    counts and the largest ``k`` that works (written with ``option``, e.g. ``"--cv {}"``).

    The one check behind NDLScorer's cross-fitting, :mod:`skhe.model_selection` and ``skhe cv``.
    """
    counts = np.bincount(np.asarray(y01, dtype=int), minlength=2)
    n_neg, n_pos = int(counts[0]), int(counts[1])
    if min(n_pos, n_neg) < k:
        few = outcome if n_pos < n_neg else f"non-{outcome}"
        largest = option.format(max(2, min(n_pos, n_neg)))
        raise ValueError(
            f"too few {few} patients for {k}-fold cross-validation ({n_pos} with {outcome}, "
            f"{n_neg} without; each fold needs both); use {largest} or fewer, or a larger cohort."
        )
