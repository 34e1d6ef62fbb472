"""Forward-selecting (optionally stepwise) logistic regression on statsmodels' Logit: the
estimator (input checks, fitted attributes, predictions). The selection algorithm is in
``_stepwise``, the grouping of one-hot levels in ``_groups``, the Logit fitting and its failure
modes in ``_logit``.
"""

from __future__ import annotations

import typing
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from skhe.linear_model._groups import resolve_groups
from skhe.linear_model._logit import LogitFit, design, fit_logit, result_bic, result_iterations
from skhe.linear_model._stepwise import stepwise_select
from skhe.utils import binary_target, column_names, outcome_fingerprint, user_stacklevel
from skhe.utils._compat import Interval, StrOptions, validate_params
from skhe.utils._docs import DocLinkMixin

_PROBLEM_TEXT = {
    "separation": "perfect or quasi-perfect separation (it predicts the outcome almost exactly)",
    "nonconvergence": "the maximum-likelihood fit did not converge",
    "singular": "a singular information matrix (collinear with the other features?)",
}


class ForwardSelectingLogisticRegression(DocLinkMixin, ClassifierMixin, BaseEstimator):
    """Logistic regression with univariable screening and forward (or stepwise) selection.

    Reproduces the multivariable modelling of the paper (done there in MedCalc): candidates whose
    univariable p-value is below ``screen_p`` enter a forward selection by p-value; the final model
    is an unpenalized maximum-likelihood Logit (statsmodels) with Wald odds ratios.

    Parameters
    ----------
    screen_p : float or None, default=0.05
        Univariable screening level; None keeps every candidate.
    p_enter : float, default=0.05
        A candidate enters when its p-value in the model with the current features is below this.
    p_remove : float or None, default=None
        None is pure forward selection. A number (e.g. 0.10, must be >= ``p_enter``) makes it
        stepwise: after each entry, the selected feature with the largest p-value above
        ``p_remove`` leaves.
    groups : "auto", None, dict or list of lists, default="auto"
        Blocks of columns that enter and leave together (the dummies of a categorical variable),
        judged by a likelihood-ratio test. ``"auto"`` infers them from ``<variable>__<level>``
        names (see :func:`infer_groups`); None treats every column alone; a dict maps a group name
        to its columns; a list of lists names the blocks (named by their common prefix).
    force : sequence of str or None, default=None
        Features (or group names) always in the model, entered before selection and never removed
        (e.g. the nDL score in the Integrated-to-HE model).
    test : {"wald", "lrt"}, default="wald"
        Test for a single feature's entry, removal and screening p-value. Blocks always use the
        likelihood-ratio test.
    alpha : float, default=0.05
        Level of the odds-ratio confidence intervals (Wald, ``1 - alpha``).
    max_iter : int, default=100
        Newton iterations per Logit fit.
    threshold : float in (0, 1) or "youden", default=0.5
        Decision threshold of :meth:`predict` (positive when the probability exceeds it): a
        fixed probability, or ``"youden"``, the Youden-optimal threshold on the training
        patients' fitted probabilities (what the paper's tables use). The value in use is
        ``threshold_``; the ``skhe`` command and Python predict with the same one. For a
        cross-validated choice, wrap the model in scikit-learn's ``TunedThresholdClassifierCV``.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    selected_features_ : ndarray of str
        Columns in the final model, in order of entry.
    selected_groups_ : list of str
        Selected groups (a categorical variable counts once).
    screening_ : DataFrame
        Univariable p-value per candidate group and whether it passed screening.
    selection_path_ : DataFrame
        One row per step: ``step``, ``action`` ("force", "enter", "remove"), ``feature`` (group
        name), ``p_value``.
    coef_ : ndarray of shape (1, ``n_features_in_``)
        Zero for features not selected.
    intercept_ : ndarray of shape (1,)
    results_ : statsmodels LogitResults
        The final fit, with the data removed (``remove_data``) so it pickles small.
    llf_, aic_, bic_ : float
        Log-likelihood, AIC and BIC of the final model.
    n_obs_ : int
    n_iter_ : ndarray of shape (1,)
        Newton iterations of the final fit.
    odds_ratios_ : DataFrame
        Indexed by selected feature: ``odds_ratio``, ``ci_low``, ``ci_high``, ``p_value``.
    train_fingerprint_ : str
        :func:`skhe.utils.outcome_fingerprint` of the training outcome, used to check that two
        models compared by a likelihood-ratio test were fit on the same rows.
    threshold_ : float
        The decision threshold :meth:`predict` uses (see ``threshold``).
    threshold_source_ : str
        Where it comes from: ``"fixed"`` or ``"youden on the training data"``.

    Examples
    --------
    >>> from skhe.datasets import make_clinical_cohort
    >>> from skhe.clinical import make_clinical_preprocessor
    >>> from sklearn.pipeline import make_pipeline
    >>> df = make_clinical_cohort(600, random_state=0)
    >>> model = make_pipeline(make_clinical_preprocessor(impute="median"),
    ...                       ForwardSelectingLogisticRegression()).fit(df, df["he"])
    >>> "age" in model[-1].selected_features_
    True
    """

    _parameter_constraints: typing.ClassVar[dict] = {
        "screen_p": [Interval(Real, 0, 1, closed="right"), None],
        "p_enter": [Interval(Real, 0, 1, closed="right")],
        "p_remove": [Interval(Real, 0, 1, closed="right"), None],
        "groups": [StrOptions({"auto"}), dict, list, None],
        "force": [list, tuple, None],
        "test": [StrOptions({"wald", "lrt"})],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "threshold": [Interval(Real, 0, 1, closed="neither"), StrOptions({"youden"})],
    }

    # statsmodels results are kept in memory only (skhe.persistence saves None)
    _not_persisted = ("results_",)

    def __init__(
        self,
        *,
        screen_p=0.05,
        p_enter=0.05,
        p_remove=None,
        groups="auto",
        force=None,
        test="wald",
        alpha=0.05,
        max_iter=100,
        threshold=0.5,
    ):
        self.screen_p = screen_p
        self.p_enter = p_enter
        self.p_remove = p_remove
        self.groups = groups
        self.force = force
        self.test = test
        self.alpha = alpha
        self.max_iter = max_iter
        self.threshold = threshold

    # ------------------------------------------------------------------ sklearn plumbing
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = False
        return tags

    def _check_X(self, X, *, reset: bool) -> pd.DataFrame:
        if hasattr(X, "columns"):
            bad = [
                str(c)
                for c in X.columns
                if not pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
            ]
            if bad:
                raise ValueError(
                    f"Non-numeric column(s) {bad}: encode categorical variables first, e.g. with "
                    "skhe.clinical.make_clinical_preprocessor()."
                )
        names = column_names(X) if hasattr(X, "columns") else None
        arr = validate_data(
            self,
            X,
            reset=reset,
            ensure_all_finite=False,
            dtype=np.float64,
            ensure_min_features=1,
        )
        if names is None:
            names = [f"x{i}" for i in range(arr.shape[1])]
        finite = np.isfinite(arr)
        if not finite.all():
            bad_cols = [names[j] for j in np.flatnonzero(~finite.all(axis=0))]
            raise ValueError(
                f"Column(s) {bad_cols} contain NaN or inf values; impute them (e.g. "
                "make_clinical_preprocessor(impute='median')) or drop those rows explicitly."
            )
        return pd.DataFrame(arr, columns=names)

    # ------------------------------------------------------------------ helpers
    def _warn(self, group: str, problem: str, what: str) -> None:
        warnings.warn(
            f"Feature {group!r}: {_PROBLEM_TEXT[problem]}; {what}.",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None):
        """Screen, select and fit the final logistic model.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Numeric features (encode categorical variables first).
        y : array-like of shape (n_samples,)
            Binary outcome.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights (non-negative): screening, selection, odds ratios, CIs and the
            likelihood are those of the data with each row repeated that many times (a binomial
            GLM with ``freq_weights``). None: the paper's unweighted Logit.

        Returns
        -------
        self
        """
        validate_params(self)
        if self.p_remove is not None and self.p_remove < self.p_enter:
            raise ValueError(
                f"p_remove ({self.p_remove}) must be >= p_enter ({self.p_enter}), or selection "
                "could cycle."
            )
        Xdf = self._check_X(X, reset=True)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        y01, self.classes_ = binary_target(y, name="y")
        if y01.shape[0] != Xdf.shape[0]:
            raise ValueError(f"X has {Xdf.shape[0]} rows but y has {y01.shape[0]}.")
        weights = None
        if sample_weight is not None:
            from skhe.utils._compat import check_sample_weight

            weights = check_sample_weight(sample_weight, Xdf.to_numpy(), dtype=np.float64)
            if (weights < 0).any() or not weights.sum() > 0:
                raise ValueError("sample_weight must be non-negative with a positive sum.")
        const = [c for c in Xdf.columns if np.ptp(Xdf[c].to_numpy()) == 0]
        if const:
            raise ValueError(
                f"Column(s) {const} are constant in the training data and carry no information; "
                "drop them (a category level absent from this training set?)."
            )
        groups = resolve_groups(self.groups, Xdf)
        forced = []
        for name in self.force or ():
            name = str(name)
            if name in groups:
                forced.append(name)
            else:
                owner = [g for g, cs in groups.items() if name in cs]
                if not owner:
                    raise ValueError(f"force: feature {name!r} is not a column of X.")
                forced.append(owner[0])
        forced = list(dict.fromkeys(forced))

        def fit_groups(selected: list[str]) -> LogitFit:
            cols = [c for g in selected for c in groups[g]]
            return fit_logit(y01, design(Xdf, cols), maxiter=self.max_iter, weights=weights)

        sel = stepwise_select(
            fit_groups,
            groups,
            forced,
            screen_p=self.screen_p,
            p_enter=self.p_enter,
            p_remove=self.p_remove,
            test=self.test,
            warn=self._warn,
        )
        self.screening_ = sel.screening
        self.selection_path_ = sel.path
        self.selected_groups_ = list(sel.selected)
        selected, null = sel.selected, sel.null
        cols = [c for g in selected for c in groups[g]]
        final = fit_groups(selected)
        if final.result is None:  # cannot happen after a successful step; keep a safe fallback
            self._warn(
                ", ".join(selected), final.problem, "falling back to the intercept-only model"
            )
            cols, final = [], null
        self._set_fitted(final.result, cols, Xdf, y01)
        self._set_threshold(Xdf, y01)
        return self

    def _set_threshold(self, Xdf: pd.DataFrame, y01: np.ndarray) -> None:
        if self.threshold == "youden":
            from skhe.metrics import youden_threshold

            p = self.predict_proba(Xdf)[:, 1]
            cut = float(youden_threshold(y01, p))  # scores >= cut are called positive
            below = p[p < cut]
            # the midpoint below the cut: "p > threshold_" calls the same training patients positive
            self.threshold_ = (
                (cut + float(below.max())) / 2 if below.size else float(np.nextafter(cut, 0))
            )
            self.threshold_source_ = "youden on the training data"
        else:
            self.threshold_ = float(self.threshold)
            self.threshold_source_ = "fixed"

    def _set_fitted(self, res, cols: list[str], Xdf: pd.DataFrame, y01) -> None:
        names = list(Xdf.columns)
        params = res.params
        self.selected_features_ = np.array(cols, dtype=object)
        self.coef_ = np.zeros((1, len(names)))
        for c in cols:
            self.coef_[0, names.index(c)] = float(params[c])
        self.intercept_ = np.array([float(params["const"])])
        z = stats.norm.isf(self.alpha / 2)
        bse = res.bse[cols]
        coef = params[cols]
        self.odds_ratios_ = pd.DataFrame(
            {
                "odds_ratio": np.exp(coef),
                "ci_low": np.exp(coef - z * bse),
                "ci_high": np.exp(coef + z * bse),
                "p_value": res.pvalues[cols],
            },
            index=pd.Index(cols, name="feature"),
        ).astype(float)
        self.llf_ = float(res.llf)
        self.aic_ = float(res.aic)
        self.bic_ = result_bic(res)
        self.n_obs_ = int(res.nobs)
        self.n_iter_ = np.array([result_iterations(res)])
        self.train_fingerprint_ = outcome_fingerprint(y01)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res.remove_data()
        self.results_ = res

    # ------------------------------------------------------------------ predict
    def decision_function(self, X) -> np.ndarray:
        """Linear predictor (log-odds of the positive class).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        Xdf = self._check_X(X, reset=False)
        return Xdf.to_numpy() @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns ordered as ``classes_``.

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        d = self.decision_function(X)
        p = 1.0 / (1.0 + np.exp(-np.clip(d, -700, 700)))
        return np.column_stack([1 - p, p])

    def predict_log_proba(self, X) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """Predicted class: positive when the probability exceeds ``threshold_``."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p > self.threshold_).astype(int)]

    def summary_frame(self) -> pd.DataFrame:
        """Odds ratios with the intercept, as a table for reports."""
        check_is_fitted(self)
        return self.odds_ratios_.copy()
