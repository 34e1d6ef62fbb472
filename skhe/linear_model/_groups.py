"""Which columns enter and leave a selection together: one-hot levels of one variable."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def infer_groups(X: pd.DataFrame) -> dict[str, list[str]]:
    """Group one-hot columns named ``<variable>__<level>`` into blocks.

    Columns sharing the text before their last ``"__"`` form a block only when they look like the
    dummies of one categorical variable: every value is 0 or 1 and at most one of them is 1 in any
    row. Anything else (e.g. ``num__age`` and ``num__sbp`` from a verbose ColumnTransformer) stays
    a feature of its own.

    Parameters
    ----------
    X : DataFrame
        Numeric design table.

    Returns
    -------
    dict
        Group name -> list of column names, in column order; single features map to themselves.
    """
    prefixes: dict[str, list[str]] = {}
    for c in X.columns:
        if "__" in c:
            prefixes.setdefault(c.rsplit("__", 1)[0], []).append(c)
    grouped: dict[str, str] = {}
    for prefix, cols in prefixes.items():
        if len(cols) < 2:
            continue
        block = X[cols].to_numpy(dtype=float)
        is01 = np.isin(block, (0.0, 1.0)).all()
        if is01 and block.sum(axis=1).max() <= 1:
            for c in cols:
                grouped[c] = prefix
    groups: dict[str, list[str]] = {}
    for c in X.columns:
        groups.setdefault(grouped.get(c, c), []).append(c)
    return groups


def resolve_groups(groups, X: pd.DataFrame) -> dict[str, list[str]]:
    """The blocks of ``X``'s columns for a ``groups`` setting.

    Parameters
    ----------
    groups : "auto", None, dict or list of lists
        As :class:`ForwardSelectingLogisticRegression`'s ``groups``: "auto" infers them
        (:func:`infer_groups`), None keeps every column alone, a dict maps names to columns, a
        list of lists names each block by its first column's prefix.
    X : DataFrame

    Returns
    -------
    dict
        Group name -> columns, in column order; columns not named form groups of their own.

    Raises
    ------
    ValueError
        A named column not in ``X``, or in two groups.
    """
    cols = list(X.columns)
    if groups is None:
        return {c: [c] for c in cols}
    if isinstance(groups, str):
        return infer_groups(X)
    if isinstance(groups, Mapping):
        blocks = {str(k): [str(c) for c in v] for k, v in groups.items()}
    else:
        blocks = {}
        for block in groups:
            block = [str(c) for c in block]
            prefix = block[0].rsplit("__", 1)[0] if len(block) > 1 else block[0]
            blocks[prefix] = block
    member = {}
    for g, block in blocks.items():
        for c in block:
            if c not in cols:
                raise ValueError(f"groups: column {c!r} (group {g!r}) is not in X.")
            if c in member:
                raise ValueError(f"groups: column {c!r} is in two groups.")
            member[c] = g
    out: dict[str, list[str]] = {}
    for c in cols:
        out.setdefault(member.get(c, c), []).append(c)
    return out
