"""The one place skhe touches scikit-learn's private APIs (so an sklearn upgrade breaks here).

``sklearn.utils._param_validation`` holds the constraint classes scikit-learn's own estimators
declare ``_parameter_constraints`` with; skhe's estimators use the same, so their errors read
like scikit-learn's (``InvalidParameterError``, a ValueError and TypeError).
"""

from __future__ import annotations

from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    Options,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import _check_sample_weight as check_sample_weight

__all__ = [
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "Options",
    "RealNotInt",
    "StrOptions",
    "check_sample_weight",
    "validate_params",
]


def validate_params(estimator) -> None:
    """Check ``estimator``'s parameters against its ``_parameter_constraints``.

    Raises
    ------
    InvalidParameterError
        Naming the parameter, what it must be and what it got.
    """
    validate_parameter_constraints(
        estimator._parameter_constraints,
        estimator.get_params(deep=False),
        caller_name=type(estimator).__name__,
    )
