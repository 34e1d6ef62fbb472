"""What a model file may name: the allow-list of classes and functions, and plain types."""

from __future__ import annotations

import functools
import types
from typing import Any

import numpy as np

_TYPES = {
    "builtins.float": float,
    "builtins.int": int,
    "builtins.bool": bool,
    "builtins.str": str,
    "builtins.object": object,
    **{f"numpy.{t.__name__}": t for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)},
}


def _qualname(obj) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


@functools.cache
def _builtin_allowed() -> dict[str, Any]:
    """The classes and functions a model file may name: what skhe itself writes, and a few common
    scikit-learn steps users put in front of skhe's models. Imported here, never from the file."""
    from sklearn.compose import ColumnTransformer
    from sklearn.frozen import FrozenEstimator
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        MinMaxScaler,
        OneHotEncoder,
        RobustScaler,
        StandardScaler,
    )

    from skhe.clinical._preprocessing import _ColumnGuard, level_name
    from skhe.linear_model import ForwardSelectingLogisticRegression
    from skhe.neural import HematomaSegmenter, MultiTaskHEModel, NDLScorer, SliceClassifier
    from skhe.pipelines import image_columns, prepare_inputs, with_mask_column

    objects = (
        # scikit-learn
        Pipeline,
        FeatureUnion,
        ColumnTransformer,
        FunctionTransformer,
        SimpleImputer,
        OneHotEncoder,
        StandardScaler,
        MinMaxScaler,
        RobustScaler,
        LogisticRegression,
        FrozenEstimator,
        # skhe estimators
        _ColumnGuard,
        ForwardSelectingLogisticRegression,
        SliceClassifier,
        HematomaSegmenter,
        MultiTaskHEModel,
        NDLScorer,
        # skhe functions used inside pipelines
        image_columns,
        prepare_inputs,
        with_mask_column,
        level_name,
    )
    return {_qualname(o): o for o in objects}


def allowed_names(allow=()) -> list[str]:
    """The fully qualified names (``module:name``) a model file may refer to.

    Parameters
    ----------
    allow : sequence of classes or functions, default=()
        Extra classes (scikit-learn estimators) or plain functions of your own that you trust,
        as passed to :func:`save_model` / :func:`load_model`.

    Returns
    -------
    list of str
    """
    return sorted({**_builtin_allowed(), **_extra(allow)})


def _extra(allow) -> dict[str, Any]:
    from sklearn.base import BaseEstimator

    out = {}
    for obj in allow or ():
        ok = (isinstance(obj, type) and issubclass(obj, BaseEstimator)) or isinstance(
            obj, types.FunctionType
        )
        if not ok or "<" in obj.__qualname__:
            raise TypeError(
                f"allow= takes estimator classes and module-level functions; got {obj!r}."
            )
        out[_qualname(obj)] = obj
    return out
