"""The selection itself: univariable screening, then forward (optionally stepwise) selection of
groups of columns, given a function that fits a Logit on a list of groups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skhe.linear_model._logit import LogitFit, lr_p, wald_p


def group_p(fit: LogitFit, base: LogitFit | None, cols: list[str], test: str) -> float:
    """p-value of adding ``cols`` to ``base`` (giving ``fit``): Wald for one column with
    ``test="wald"``, else the likelihood-ratio test."""
    if len(cols) == 1 and test == "wald":
        return wald_p(fit.result, cols[0])
    return lr_p(fit.result, base.result)[1]


@dataclass
class Selection:
    """What :func:`stepwise_select` found."""

    screening: pd.DataFrame  # feature, p_value, kept
    path: pd.DataFrame  # step, action ("force", "enter", "remove"), feature, p_value
    selected: list[str]
    null: LogitFit  # the intercept-only fit


def stepwise_select(
    fit_groups: Callable[[list[str]], LogitFit],
    groups: dict[str, list[str]],
    forced: list[str],
    *,
    screen_p: float | None,
    p_enter: float,
    p_remove: float | None,
    test: str,
    warn: Callable[[str, str, str], None],
) -> Selection:
    """Screen each group alone, then enter the most significant group while its p < ``p_enter``
    (after each entry, with ``p_remove``, remove the least significant one above it).

    Parameters
    ----------
    fit_groups : callable
        ``fit_groups(list of group names) -> LogitFit`` on the training data.
    groups : dict
        Group name -> its columns.
    forced : list of str
        Groups in the model from the start, never screened or removed.
    screen_p, p_enter, p_remove, test
        As :class:`ForwardSelectingLogisticRegression`'s.
    warn : callable
        ``warn(group, problem, what)`` for a fit that failed (separation, non-convergence...).

    Returns
    -------
    Selection
    """
    null = fit_groups([])
    screening, candidates = [], []
    for g in groups:
        if g in forced:
            continue
        f = fit_groups([g])
        if not f.ok:
            warn(g, f.problem, "excluded at univariable screening")
            screening.append((g, np.nan, False))
            continue
        p = group_p(f, null, groups[g], test)
        keep = screen_p is None or p < screen_p
        screening.append((g, p, keep))
        if keep:
            candidates.append(g)

    path = [(0, "force", g, np.nan) for g in forced]
    selected = list(forced)
    current = fit_groups(selected)
    if not current.ok:
        warn(", ".join(forced), current.problem, "forced features kept anyway")
    seen = {frozenset(selected)}
    failed: set[str] = set()
    step = 0
    while True:
        best, best_p, best_fit = None, np.inf, None
        for g in candidates:
            if g in selected or g in failed:
                continue
            f = fit_groups([*selected, g])
            if not f.ok:
                failed.add(g)
                warn(g, f.problem, "not entered")
                continue
            p = group_p(f, current, groups[g], test)
            if p < best_p:
                best, best_p, best_fit = g, p, f
        if best is None or not best_p < p_enter:
            break
        if frozenset([*selected, best]) in seen:
            break
        step += 1
        selected.append(best)
        current = best_fit
        seen.add(frozenset(selected))
        path.append((step, "enter", best, best_p))
        if p_remove is not None:
            worst, worst_p, worst_fit = None, -np.inf, None
            for g in selected:
                if g in forced or g == best:
                    continue
                if len(groups[g]) == 1 and test == "wald":
                    # Wald needs no refit; the reduced model is fit only if g leaves
                    p, reduced = wald_p(current.result, groups[g][0]), None
                else:
                    reduced = fit_groups([s for s in selected if s != g])
                    p = lr_p(current.result, reduced.result)[1] if reduced.ok else 0.0
                if p > worst_p:
                    worst, worst_p, worst_fit = g, p, reduced
            if worst is not None and worst_p > p_remove:
                step += 1
                selected.remove(worst)
                current = worst_fit if worst_fit is not None else fit_groups(selected)
                seen.add(frozenset(selected))
                path.append((step, "remove", worst, worst_p))
    return Selection(
        screening=pd.DataFrame(screening, columns=["feature", "p_value", "kept"]),
        path=pd.DataFrame(path, columns=["step", "action", "feature", "p_value"]),
        selected=selected,
        null=null,
    )
