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
``pickle``). A model saved by another skhe version loads with a warning.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skhe._version import __version__
from skhe.utils import atomic_output_dir

FORMAT = "skhe-model"
FORMAT_VERSION = 1
JSON_NAME = "skhe-model.json"
ARRAYS_NAME = "arrays.safetensors"
_CLASS_PREFIXES = ("sklearn.", "skhe.")
_FUNCTION_PREFIXES = ("skhe.",)
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


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, Any] = {}

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
                t = torch.from_numpy(np.ascontiguousarray(obj))
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
        if isinstance(obj, types.FunctionType) and obj.__module__.startswith(_FUNCTION_PREFIXES):
            return {"$function": _qualname(obj)}
        if isinstance(obj, BaseEstimator) and type(obj).__module__.startswith(_CLASS_PREFIXES):
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
        raise TypeError(
            f"cannot save {where}: objects of type {type(obj).__module__}.{type(obj).__name__} "
            "are not supported by the skhe model format."
        )


def _import(qualname: str, prefixes: tuple[str, ...], what: str):
    module, _, name = qualname.partition(":")
    if not module.startswith(prefixes) or not name or "<" in name:
        raise ModelFormatError(f"refusing to load {what} {qualname!r}: not an allowed {what}.")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


class _Decoder:
    def __init__(self, arrays: dict) -> None:
        self.arrays = arrays

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
            fn = _import(val, _FUNCTION_PREFIXES, "function")
            if not isinstance(fn, types.FunctionType):
                raise ModelFormatError(f"{val!r} is not a function.")
            return fn
        if tag == "$object":
            cls = _import(val, _CLASS_PREFIXES, "class")
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
        Replace an existing folder.

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

    enc = _Encoder()
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
    text = json.dumps(doc, indent=1, allow_nan=False)
    with atomic_output_dir(path, overwrite=overwrite) as tmp:
        save_file(enc.arrays, str(tmp / ARRAYS_NAME))
        (tmp / JSON_NAME).write_text(text)
    return Path(path)


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


def load_model(path: str | os.PathLike):
    """Load a model written by :func:`save_model` (JSON + safetensors, never pickle).

    Only scikit-learn and skhe classes and skhe functions are rebuilt; anything else in the file
    is refused with :class:`ModelFormatError`. A model from another skhe version loads with a
    ``UserWarning``.

    Parameters
    ----------
    path : path
        The model folder.

    Returns
    -------
    estimator
        The fitted estimator, networks on the CPU unless saved on an available GPU.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    doc = _read_document(path)
    if doc.get("skhe_version") != __version__:
        warnings.warn(
            f"{path} was saved by skhe {doc.get('skhe_version')}; this is skhe {__version__}. "
            "Check its predictions before relying on them.",
            UserWarning,
            stacklevel=2,
        )
    try:
        arrays = load_file(str(path / ARRAYS_NAME))
    except (SafetensorError, OSError) as exc:
        raise ModelFormatError(f"{path / ARRAYS_NAME}: unreadable ({exc}).") from exc
    try:
        return _Decoder(arrays).decode(doc["estimator"])
    except (KeyError, TypeError, AttributeError, ImportError) as exc:
        raise ModelFormatError(f"{path}: damaged model file ({exc!r}).") from exc
