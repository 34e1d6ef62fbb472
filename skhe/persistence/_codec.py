"""Estimators to JSON-able trees plus arrays, and back, naming only allow-listed objects."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pandas as pd

from skhe.persistence._allowlist import _TYPES, _qualname

ARRAYS_NAME = "arrays.safetensors"


class ModelFormatError(ValueError):
    """A saved model folder is damaged, tampered with, or not an skhe model."""


class _Encoder:
    def __init__(self, allowed: dict[str, Any]) -> None:
        self.arrays: dict[str, Any] = {}
        self.allowed = allowed
        self._views: dict[tuple, str] = {}  # a tensor's memory view -> its key
        self._storages: set[int] = set()

    def _store(self, value) -> str:
        """Keep a tensor once: the same memory reached twice (an estimator that is both a
        parameter and a fitted attribute, e.g. a FrozenEstimator) is stored once and
        referenced twice; an overlapping but different view is copied (safetensors refuses
        shared memory). The arrays stay referenced here, so their addresses stay unique."""
        storage = value.untyped_storage()
        view = (
            storage.data_ptr(),
            value.storage_offset(),
            tuple(value.shape),
            tuple(value.stride()),
            value.dtype,
        )
        if value.numel() and view in self._views:
            return self._views[view]
        if value.numel() and storage.data_ptr() in self._storages:
            value = value.clone()
            storage = value.untyped_storage()
        key = f"a{len(self.arrays)}"
        self.arrays[key] = value
        if value.numel():
            self._views[view] = key
            self._storages.add(storage.data_ptr())
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
            _fill_new_parameters(est)
            return est
        raise ModelFormatError(f"unknown entry tag {tag!r}.")


def _fill_new_parameters(est) -> None:
    """Give a model saved by an earlier skhe the parameters added since, at their defaults
    (which keep the earlier behaviour), so ``get_params`` and ``clone`` work on it."""
    import inspect

    params = inspect.signature(type(est).__init__).parameters
    for name in type(est)._get_param_names():
        if name not in est.__dict__ and params[name].default is not inspect.Parameter.empty:
            setattr(est, name, params[name].default)
