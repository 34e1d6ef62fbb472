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
import hashlib
import json
import os
import warnings
from pathlib import Path

from skhe._version import __version__
from skhe.exceptions import ModelVersionWarning
from skhe.persistence._allowlist import _builtin_allowed, _extra, allowed_names
from skhe.persistence._codec import (
    ARRAYS_NAME,
    ModelFormatError,
    _Decoder,
    _Encoder,
    check_references,
)
from skhe.utils import atomic_output_dir

__all__ = [
    "ModelFormatError",
    "allowed_names",
    "check_references",
    "load_model",
    "read_model_info",
    "save_model",
]

FORMAT = "skhe-model"
FORMAT_VERSION = 1
JSON_NAME = "skhe-model.json"


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
