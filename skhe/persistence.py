"""Saving fitted models without pickle: a JSON description plus safetensors arrays.

A saved model is a folder with two files:

``skhe-model.json``
    The estimator tree: each estimator as its class (only scikit-learn and skhe classes are
    accepted) and its attributes, each function by name (only skhe functions), scalars, lists,
    tables and references to arrays; plus the skhe version, the model kind and free metadata.
``arrays.safetensors``
    Every numeric array and network weight tensor.

Loading reads both with ``json`` and ``safetensors`` only and rebuilds objects of allow-listed
classes from their saved attributes, so a file someone else made cannot run code on load (unlike
``pickle``):

- every class, function and type reference in the file must be one of an explicit allow-list of
  fully qualified names (:func:`allowed_names`: the classes and functions skhe itself writes, a
  few common scikit-learn steps, and whatever the caller passes as ``allow=``). Names are looked
  up in that list, never imported or followed through attributes, so
  ``"skhe.cli._commands:os.popen"`` or ``"pandas:io.common.os.system"`` are refused;
- the whole file is checked before any object is built; a refused reference raises
  :class:`ModelFormatError` naming it and where it sits in the model;
- the JSON records the SHA-256 of its arrays file, so arrays from another model are refused.

A model saved by another skhe version loads with a :class:`~skhe.exceptions.ModelVersionWarning`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skhe._version import __version__
from skhe.exceptions import ModelVersionWarning
from skhe.utils import atomic_output_dir

FORMAT = "skhe-model"
FORMAT_VERSION = 1
JSON_NAME = "skhe-model.json"
ARRAYS_NAME = "arrays.safetensors"
_TYPES = {
    "builtins.float": float,
    "builtins.int": int,
    "builtins.bool": bool,
    "builtins.str": str,
    "builtins.object": object,
    **{f"numpy.{t.__name__}": t for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)},
}


class ModelFormatError(ValueError):
    """A saved model folder is damaged, tampered with, or not an skhe model."""


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
    from skhe.pipelines import image_columns, with_mask_column

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


class _Encoder:
    def __init__(self, allowed: dict[str, Any]) -> None:
        self.arrays: dict[str, Any] = {}
        self.allowed = allowed

    def _store(self, value) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = value
        return key

    def encode(self, obj, where: str):
        import torch
        from sklearn.base import BaseEstimator

        if obj is None or isinstance(obj, bool | str) or type(obj) is int:
            return obj
        if type(obj) is float:
            return obj if np.isfinite(obj) else {"$float": repr(obj)}
        if isinstance(obj, np.generic):
            value = obj.item()
            if isinstance(value, float) and not np.isfinite(value):
                value = repr(value)
            return {"$scalar": obj.dtype.str, "value": value}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"$tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            return {
                "$dict": [
                    [self.encode(k, where), self.encode(v, f"{where}[{k!r}]")]
                    for k, v in obj.items()
                ]
            }
        if isinstance(obj, torch.Tensor):
            return {"$tensor": self._store(obj.detach().cpu().contiguous())}
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind in "biuf":
                arr = np.ascontiguousarray(obj)
                t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
                return {"$array": self._store(t)}
            if obj.dtype.kind in "OU":
                return {
                    "$objarray": [self.encode(v, where) for v in obj.ravel().tolist()],
                    "shape": list(obj.shape),
                    "dtype": obj.dtype.str,
                }
        if isinstance(obj, slice):
            return {"$slice": [obj.start, obj.stop, obj.step]}
        if isinstance(obj, np.dtype):
            return {"$dtype": obj.str}
        if isinstance(obj, pd.DataFrame):
            return {
                "$dataframe": {
                    "columns": self.encode(list(obj.columns), where),
                    "index": self.encode(obj.index.tolist(), where),
                    "data": [
                        self.encode(obj.iloc[:, i].to_numpy(), f"{where}.{c}")
                        for i, c in enumerate(obj.columns)
                    ],
                }
            }
        if isinstance(obj, type) and f"{obj.__module__}.{obj.__name__}" in _TYPES:
            return {"$type": f"{obj.__module__}.{obj.__name__}"}
        if isinstance(obj, types.FunctionType) and self.allowed.get(_qualname(obj)) is obj:
            return {"$function": _qualname(obj)}
        if isinstance(obj, BaseEstimator) and self.allowed.get(_qualname(type(obj))) is type(obj):
            state = obj.__getstate__() if hasattr(obj, "__getstate__") else dict(obj.__dict__)
            # attributes a class keeps in memory only (caches, statsmodels results) load as None
            blank = getattr(type(obj), "_not_persisted", ())
            return {
                "$object": _qualname(type(obj)),
                "state": {
                    k: self.encode(None if k in blank else v, f"{where}.{k}")
                    for k, v in state.items()
                },
            }
        what = obj if isinstance(obj, types.FunctionType | type) else type(obj)
        raise TypeError(
            f"cannot save {where}: {getattr(what, '__module__', '?')}."
            f"{getattr(what, '__qualname__', what)} is not in the skhe model format's allow-list "
            "(see skhe.persistence.allowed_names); pass it in allow=[...] to save_model and "
            "load_model if you trust it."
        )


def check_references(tree, allowed: dict[str, Any], where: str = "model") -> None:
    """Refuse a model description naming anything outside ``allowed``, before anything is built.

    Parameters
    ----------
    tree : the decoded JSON of ``skhe-model.json``'s ``"estimator"`` entry
    allowed : dict
        Fully qualified name -> object.
    where : str
        The path of ``tree`` inside the model, for the message.

    Raises
    ------
    ModelFormatError
        Naming the first refused reference and where it sits.
    """
    if isinstance(tree, list):
        for i, v in enumerate(tree):
            check_references(v, allowed, f"{where}[{i}]")
        return
    if not isinstance(tree, dict):
        return
    for tag in ("$object", "$function"):
        if tag in tree:
            ref = tree[tag]
            what = "class" if tag == "$object" else "function"
            if not isinstance(ref, str) or ref not in allowed:
                raise ModelFormatError(
                    f"refusing to load {what} {ref!r} at {where}: not in the skhe model format's "
                    "allow-list (a model file may only name the classes and functions skhe "
                    "writes, see skhe.persistence.allowed_names). The file was not made by skhe "
                    "or was tampered with; nothing was loaded."
                )
            obj = allowed[ref]
            if tag == "$object" and not isinstance(obj, type):
                raise ModelFormatError(f"refusing {ref!r} at {where}: not a class.")
            if tag == "$function" and not isinstance(obj, types.FunctionType):
                raise ModelFormatError(f"refusing {ref!r} at {where}: not a function.")
    if "$type" in tree and tree["$type"] not in _TYPES:
        raise ModelFormatError(f"refusing to load type {tree['$type']!r} at {where}.")
    for key, value in tree.items():
        if key in ("$object", "$function", "$type"):
            continue
        if key == "state" and isinstance(value, dict):
            name = str(tree.get("$object", "")).rpartition(":")[2]
            for k, v in value.items():
                check_references(v, allowed, f"{where}.{name}.{k}")
        else:
            check_references(value, allowed, where)


class _Decoder:
    def __init__(self, arrays: dict, allowed: dict[str, Any]) -> None:
        self.arrays = arrays
        self.allowed = allowed

    def _array(self, key: str):
        if key not in self.arrays:
            raise ModelFormatError(f"array {key!r} is missing from {ARRAYS_NAME}.")
        return self.arrays[key]

    def decode(self, obj):
        from sklearn.base import BaseEstimator

        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict) or len(obj) == 0:
            raise ModelFormatError(f"unexpected entry {obj!r}.")
        tag = next(iter(obj))
        val = obj[tag]
        if tag == "$float":
            return float(val)
        if tag == "$scalar":
            v = obj["value"]
            return np.dtype(val).type(float(v) if isinstance(v, str) else v)
        if tag == "$tuple":
            return tuple(self.decode(v) for v in val)
        if tag == "$dict":
            return {self.decode(k): self.decode(v) for k, v in val}
        if tag == "$tensor":
            return self._array(val).clone()
        if tag == "$array":
            return self._array(val).numpy().copy()
        if tag == "$objarray":
            dtype = np.dtype(obj["dtype"])
            if dtype.kind not in "OU":
                raise ModelFormatError(f"unexpected object array dtype {obj['dtype']!r}.")
            items = [self.decode(v) for v in val]
            out = np.empty(len(items), dtype=dtype)
            out[:] = items
            return out.reshape(obj["shape"])
        if tag == "$slice":
            return slice(*val)
        if tag == "$dtype":
            return np.dtype(val)
        if tag == "$dataframe":
            cols = self.decode(val["columns"])
            data = {i: self.decode(v) for i, v in enumerate(val["data"])}
            df = pd.DataFrame(data, index=self.decode(val["index"]))
            df.columns = cols
            return df
        if tag == "$type":
            if val not in _TYPES:
                raise ModelFormatError(f"refusing to load type {val!r}.")
            return _TYPES[val]
        if tag == "$function":
            fn = self.allowed.get(val) if isinstance(val, str) else None
            if not isinstance(fn, types.FunctionType):
                raise ModelFormatError(f"refusing to load function {val!r}.")
            return fn
        if tag == "$object":
            cls = self.allowed.get(val) if isinstance(val, str) else None
            if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
                raise ModelFormatError(f"refusing to load {val!r}: not an estimator class.")
            state = {k: self.decode(v) for k, v in obj["state"].items()}
            est = cls.__new__(cls)
            est.__setstate__(state)
            return est
        raise ModelFormatError(f"unknown entry tag {tag!r}.")


def save_model(
    estimator,
    path: str | os.PathLike,
    *,
    kind: str | None = None,
    metadata: dict | None = None,
    overwrite: bool = False,
    allow=(),
    inputs=(),
) -> Path:
    """Save a fitted estimator (a pipeline, NDLScorer, logistic model...) to the folder ``path``.

    Parameters
    ----------
    estimator : fitted scikit-learn or skhe estimator
        Anything built from scikit-learn and skhe classes, skhe functions, arrays and tables. The
        statsmodels results of :class:`~skhe.linear_model.ForwardSelectingLogisticRegression`
        (``results_``) and the cache folder of :class:`~skhe.neural.NDLScorer` (``memory``) load
        as None; coefficients, odds ratios, selection and network weights are saved.
    path : path
        Folder to create; written atomically.
    kind : str, optional
        Free label stored with the model (the command line uses image/clinical/integrated).
    metadata : dict, optional
        JSON-serializable information stored with the model (e.g. feature columns).
    overwrite : bool, default=False
        Replace an existing folder (only one that skhe wrote).
    allow : sequence of classes or functions, default=()
        Your own estimator classes or functions inside ``estimator`` that the model format may
        name (see :func:`allowed_names`); ``load_model`` needs the same ``allow``.
    inputs : sequence of paths, default=()
        Files and folders the model was made from; ``path`` must not be, hold or lie in one.

    Returns
    -------
    Path
        The model folder.

    Raises
    ------
    TypeError
        When part of the estimator cannot be stored (the message names the attribute).
    """
    from safetensors.torch import save_file

    enc = _Encoder({**_builtin_allowed(), **_extra(allow)})
    tree = enc.encode(estimator, type(estimator).__name__)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skhe_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "kind": kind,
        "metadata": metadata or {},
        "estimator": tree,
    }
    with atomic_output_dir(path, overwrite=overwrite, inputs=inputs) as tmp:
        save_file(enc.arrays, str(tmp / ARRAYS_NAME))
        doc["arrays_sha256"] = _sha256(tmp / ARRAYS_NAME)
        (tmp / JSON_NAME).write_text(json.dumps(doc, indent=1, allow_nan=False))
    return Path(path)


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_document(path: Path) -> dict:
    file = path / JSON_NAME
    if not file.is_file() or not (path / ARRAYS_NAME).is_file():
        raise FileNotFoundError(
            f"{path}: not a saved skhe model ({JSON_NAME} or {ARRAYS_NAME} missing)."
        )
    try:
        doc = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{file}: not valid JSON ({exc}).") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFormatError(f"{file}: not an skhe model file.")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"{file}: model format version {doc.get('format_version')}; this skhe reads "
            f"{FORMAT_VERSION}."
        )
    return doc


def read_model_info(path: str | os.PathLike) -> dict:
    """The header of a saved model (format, skhe version, kind, metadata), without loading it."""
    return {k: v for k, v in _read_document(Path(path)).items() if k != "estimator"}


def load_model(path: str | os.PathLike, *, allow=()):
    """Load a model written by :func:`save_model` (JSON + safetensors, never pickle).

    Only the allow-listed classes and functions (:func:`allowed_names`) are rebuilt; a file
    naming anything else is refused with :class:`ModelFormatError` before any object is built.
    A model from another skhe version loads with a
    :class:`~skhe.exceptions.ModelVersionWarning`.

    Parameters
    ----------
    path : path
        The model folder.
    allow : sequence of classes or functions, default=()
        Your own trusted classes/functions the model was saved with (``save_model(allow=...)``).

    Returns
    -------
    estimator
        The fitted estimator, networks on the CPU unless saved on an available GPU.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    doc = _read_document(path)
    allowed = {**_builtin_allowed(), **_extra(allow)}
    if "estimator" not in doc:
        raise ModelFormatError(f"{path / JSON_NAME}: no estimator in the model file.")
    check_references(doc["estimator"], allowed)
    expected = doc.get("arrays_sha256")
    if expected is not None and _sha256(path / ARRAYS_NAME) != expected:
        raise ModelFormatError(
            f"{path / ARRAYS_NAME}: does not belong to {JSON_NAME} (checksum mismatch): the "
            "arrays file was replaced or damaged; nothing was loaded."
        )
    if doc.get("skhe_version") != __version__:
        warnings.warn(
            f"{path} was saved by skhe {doc.get('skhe_version')}; this is skhe {__version__}. "
            "Check its predictions before relying on them.",
            ModelVersionWarning,
            stacklevel=2,
        )
    try:
        arrays = load_file(str(path / ARRAYS_NAME))
    except (SafetensorError, OSError) as exc:
        raise ModelFormatError(f"{path / ARRAYS_NAME}: unreadable ({exc}).") from exc
    try:
        return _Decoder(arrays, allowed).decode(doc["estimator"])
    except ModelFormatError:
        raise
    except Exception as exc:
        raise ModelFormatError(
            f"{path}: damaged model file; its description and arrays do not fit together "
            f"({type(exc).__name__}: {exc})."
        ) from exc
