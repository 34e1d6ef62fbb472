"""The cross-validation summary of ``benchmarks/ctich.py``: mean and SD over the test folds,
each slice score's test AUC and how often validation chose it, and the merge of single-fold
runs into one cross-validation (``--merge``), recorded in a single-fold run's results too
(``--summary-into``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: The headline metrics of a run and of each of its test folds.
_HEADLINE_KEYS = ("slice_auc", "dice_per_slice", "dice_pooled", "dice_per_patient")


def _single_fold(r: dict) -> bool:
    """Whether a results dict is one test fold's run (not a cross-validation)."""
    return "cv" not in r and len(r["folds"]) == 1


def _mean_sd(values: list[float]) -> dict:
    return {
        "mean": float(np.mean(values)),
        "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "folds": list(values),
    }


def summarize(folds: list[dict]) -> dict:
    """Mean, SD and per-fold values of the headline metrics over the test folds."""
    return {k: _mean_sd([f[k] for f in folds]) for k in _HEADLINE_KEYS}


def summarize_slice_scores(folds: list[dict]) -> dict:
    """Each slice score's test AUC over the folds (whether or not validation chose it), and
    how often validation chose it: what the default slice score is picked by."""
    names = [k for k in folds[0]["slice_scores"] if all(k in f["slice_scores"] for f in folds)]
    out = {}
    for k in names:
        out[k] = _mean_sd([f["slice_scores"][k]["auc"] for f in folds])
        out[k]["chosen"] = sum(f["slice_score"] == k for f in folds)
    return out


#: What must agree between single-fold runs merged into one cross-validation. ``config`` holds
#: the settings in effect, so a run given ``--set segmenter.loss=X`` merges with one whose preset
#: has since taken ``loss=X``; how a setting was reached (``overrides``) need not agree.
_MERGE_KEYS = ("preset", "config", "seed", "data", "resolution_px", "excluded_folds")


def _differing_key(r: dict, other: dict) -> str | None:
    """The first of ``_MERGE_KEYS`` on which two results disagree, or None."""
    return next((key for key in _MERGE_KEYS if r.get(key) != other.get(key)), None)


def merge_runs(paths: list[str]) -> dict:
    """One cross-validation result from single-fold runs of the same command (``--test-fold
    k`` for each k): what ``--cv`` computes, fold by fold, when one long run does not fit in
    a session. The runs must agree on preset, settings in effect, seed and data, and cover each
    fold once. The merged result's ``overrides`` are those of the run that tested the first
    fold; each run's own are listed in ``merged_from``."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    first = runs[0]
    for r in runs:  # runs from before --inner-folds had one
        r["config"].setdefault("inner_folds", 1)
    for path, r in zip(paths, runs, strict=True):
        if key := _differing_key(r, first):
            raise SystemExit(f"--merge: {path} differs from {paths[0]} in {key!r}")
        if not _single_fold(r):
            raise SystemExit(f"--merge: {path} is not a single-fold run")
    folds = sorted((r["folds"][0] for r in runs), key=lambda f: f["test_fold"])
    tested = [f["test_fold"] for f in folds]
    expected = [f for f in range(5) if f not in first["excluded_folds"]]
    if tested != expected:
        raise SystemExit(f"--merge: the runs test folds {tested}, not each of {expected} once")
    # (a run's own cv_summary, from an earlier --summary-into, is not carried into the merge)
    skip = ("folds", "wall_time_s", "machine", "cv_summary")
    out = {k: v for k, v in first.items() if k not in skip}
    out.update({k: folds[0][k] for k in _HEADLINE_KEYS})
    out["folds"] = folds
    out["merged_from"] = [
        {
            "file": Path(p).name,
            "test_fold": r["folds"][0]["test_fold"],
            "date": r["machine"]["date"],
            "overrides": r.get("overrides", []),
        }
        for p, r in zip(paths, runs, strict=True)
    ]
    out["cv"] = summarize(folds)
    out["cv_slice_scores"] = summarize_slice_scores(folds)
    out["wall_time_s"] = {
        "load": round(sum(r["wall_time_s"]["load"] for r in runs), 1),
        "total": round(sum(r["wall_time_s"]["total"] for r in runs), 1),
    }
    out["machine"] = first["machine"]
    return out


#: The keys of a results file that hold the same figures as the merged cross-validation's
#: fold (what ``attach_cv_summary`` checks to know it is one of the merged runs).
_FOLD_FIGURES = ("test_fold", *_HEADLINE_KEYS)


def attach_cv_summary(single: dict, merged: dict, merged_file: str) -> dict:
    """``single`` (one fold's results, e.g. the fold-0 headline) with the cross-validation it
    belongs to as ``cv_summary``: each metric's mean, SD and per-fold values, and the merged
    file's name. ``single`` must be one of the merged runs (same settings in effect, and its
    fold's figures equal to the merged fold's), so the summary cannot describe other networks."""
    if key := _differing_key(single, merged):
        raise SystemExit(
            f"--summary-into: the results file differs from the merged runs in {key!r}"
        )
    if not _single_fold(single):
        raise SystemExit("--summary-into: the results file is not a single-fold run")
    fold = single["folds"][0]
    same = [f for f in merged["folds"] if f["test_fold"] == fold["test_fold"]]
    if not same or any(same[0][k] != fold[k] for k in _FOLD_FIGURES):
        raise SystemExit(
            f"--summary-into: the results file's test fold {fold['test_fold']} is not the run "
            "merged for that fold (its figures differ)"
        )
    return {
        **single,
        "cv_summary": {
            "file": merged_file,
            "test_folds": [f["test_fold"] for f in merged["folds"]],
            **merged["cv"],
        },
    }


def compare_to(r: dict, other: dict, other_file: str) -> dict:
    """``r`` (a single-fold run) set against ``other``, an earlier run on the same test fold
    (``--compare-to``): the report's "before" column is ``other``'s, and its "previous run"
    column is ``other``'s headline, labelled with its report's name. The preset's own
    references are the fold-0 headline's, so a run on another fold needs this to be read
    against figures of its own fold."""
    for key, run in (("results", r), (other_file, other)):
        if not _single_fold(run):
            raise SystemExit(f"--compare-to: {key} is not a single-fold run")
    fold, theirs = r["folds"][0]["test_fold"], other["folds"][0]["test_fold"]
    if fold != theirs:
        raise SystemExit(
            f"--compare-to: {other_file} tests fold {theirs}, this run fold {fold}; a headline "
            "is set against figures of its own test fold"
        )
    label = f"{Path(other_file).name.removesuffix('.json')}.md"
    return {
        **r,
        "before": other["before"],
        "previous": {"label": label, **{k: other[k] for k in _HEADLINE_KEYS}},
    }
