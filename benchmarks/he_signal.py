"""How much of the image's HE signal the nDL score recovers: repeated stratified CV on the demo's
synthetic cohort.

Usage::

    python benchmarks/he_signal.py                      # cpu preset, 3 x 5-fold CV
    python benchmarks/he_signal.py --set score=dl       # the HE network on hematoma ROIs
    python benchmarks/he_signal.py --set score=dl --set he_input=slice  # the paper's design
    python benchmarks/he_signal.py --smoke              # seconds (tiny preset, 2 x 2 folds)

The cohort is the demo's (``make_synthetic_cohort`` with the preset's demo size, slice count
and CT resolution) drawn with another seed (``--seed``, default 1; the demo uses 0), so nothing
here is tuned on the demo's test split. On the same folds it reports, as mean +- SD over all
folds:

- Image-, Clinical- and Integrated-to-HE test AUC (``skhe.pipelines``; Image- and
  Integrated-to-HE share each fold's fitted networks through ``NDLScorer(memory=...)``);
- the **oracle**: a logistic regression on the generator's true image features (irregularity,
  heterogeneity, log volume), the most any image model can give, and the fraction of it the
  nDL recovers (``image_auc / oracle_image_auc``);
- the nDL likelihood-ratio test in Integrated-to-HE on out-of-fold scores: every patient's nDL
  comes from networks that never saw it; Integrated-to-HE's regression (nDL forced in, clinical
  variables forward-selected, baseline volume excluded) is fit on all patients with those
  scores and compared with its clinical part alone (one test per repetition; the median p);
- wall time.

Results: ``docs/benchmarks/he_signal.{md,json}`` (keys ``image_auc``, ``oracle_image_auc``,
``clinical_auc``, ``integrated_auc``, ``ndl_lrt_p``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from skhe.clinical import clinical_candidates, make_clinical_preprocessor
from skhe.datasets import make_synthetic_cohort
from skhe.exceptions import small_model_warnings_ignored
from skhe.io import load_manifest
from skhe.linear_model import ForwardSelectingLogisticRegression
from skhe.metrics import likelihood_ratio_test
from skhe.pipelines import (
    FEATURES,
    IMAGE,
    INPUTS,
    make_clinical_to_he,
    make_image_to_he,
    make_integrated_to_he,
)
from skhe.presets import get_preset, make_ndl_scorer

ORACLE = ["true_irregularity", "true_heterogeneity", "log_volume"]


def parse_value(text: str):
    """``--set`` values: int, float, bool, None or a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def oracle_auc(train: pd.DataFrame, test: pd.DataFrame) -> float:
    """Test AUC of a logistic model on the generator's true image features."""
    model = LogisticRegression(C=1e6, max_iter=1000).fit(train[ORACLE], train["he"])
    return float(roc_auc_score(test["he"], model.predict_proba(test[ORACLE])[:, 1]))


def oof_lrt(df: pd.DataFrame, ndl: np.ndarray):
    """nDL LRT in Integrated-to-HE's regression, fit on all patients with out-of-fold nDL."""
    numeric, categorical = clinical_candidates(None, None, ("baseline_volume",))
    design = make_clinical_preprocessor(numeric, categorical).set_output(transform="pandas")
    x = design.fit_transform(df, df["he"])
    x["ndl_score"] = ndl
    full = ForwardSelectingLogisticRegression(force=["ndl_score"]).fit(x, df["he"])
    clinical = [f for f in full.selected_features_ if f != "ndl_score"]
    restricted = ForwardSelectingLogisticRegression(
        screen_p=None, p_enter=1e-300, force=clinical or None
    ).fit(x[clinical] if clinical else x.drop(columns="ndl_score"), df["he"])
    return likelihood_ratio_test(restricted, full)


def run(args, work: Path) -> dict:
    preset = get_preset(args.preset)
    n = args.patients or preset.demo_patients
    size = args.native_size or preset.demo_image_size
    t0 = time.perf_counter()
    cohort = Path(args.cohort) if args.cohort else work / "cohort"
    if not (cohort / "manifest.csv").exists():
        make_synthetic_cohort(
            n, cohort, image_size=size, n_slices=preset.demo_slices, random_state=args.seed
        )
    df = load_manifest(cohort / "manifest.csv", require_label=True)
    df["log_volume"] = np.log(df["baseline_volume"])
    t_cohort = time.perf_counter() - t0
    overrides = {k: parse_value(v) for k, v in (s.split("=", 1) for s in args.set)}
    rows, lrts = [], []
    t_fit = time.perf_counter()
    for rep in range(args.repeats):
        oof = np.full(len(df), np.nan)
        folds = StratifiedKFold(args.folds, shuffle=True, random_state=rep)
        for k, (tr, te) in enumerate(folds.split(df, df["he"])):
            train, test = df.iloc[tr], df.iloc[te]
            t1 = time.perf_counter()
            ndl = make_ndl_scorer(
                preset, device=args.device, random_state=rep, memory=work / "ndl-memory"
            ).set_params(**overrides)
            with small_model_warnings_ignored():
                image = make_image_to_he(ndl).fit(train, train["he"])
                integrated = make_integrated_to_he(ndl).fit(train, train["he"])
                clinical = make_clinical_to_he().fit(train, train["he"])
                scorer = image.named_steps[FEATURES].named_transformers_[IMAGE]
                oof[te] = np.asarray(scorer.transform(image.named_steps[INPUTS].transform(test)))[
                    :, 0
                ]
                row = {
                    "repeat": rep,
                    "fold": k,
                    "image_auc": roc_auc_score(test["he"], image.predict_proba(test)[:, 1]),
                    "clinical_auc": roc_auc_score(test["he"], clinical.predict_proba(test)[:, 1]),
                    "integrated_auc": roc_auc_score(
                        test["he"], integrated.predict_proba(test)[:, 1]
                    ),
                    "oracle_image_auc": oracle_auc(train, test),
                    "seconds": time.perf_counter() - t1,
                }
            rows.append(row)
            print(
                f"repeat {rep} fold {k}: image {row['image_auc']:.3f} oracle "
                f"{row['oracle_image_auc']:.3f} clinical {row['clinical_auc']:.3f} integrated "
                f"{row['integrated_auc']:.3f} ({row['seconds']:.0f} s)",
                flush=True,
            )
        lrt = oof_lrt(df, oof)
        lrts.append({"repeat": rep, **lrt.to_dict()})
        print(f"repeat {rep}: out-of-fold nDL LRT p = {lrt.p_value:.3g}", flush=True)
    folds_df = pd.DataFrame(rows)
    summary = {
        key: [float(folds_df[key].mean()), float(folds_df[key].std(ddof=1))]
        for key in ("image_auc", "oracle_image_auc", "clinical_auc", "integrated_auc")
    }
    summary["fraction_of_oracle"] = summary["image_auc"][0] / summary["oracle_image_auc"][0]
    summary["integrated_minus_clinical"] = summary["integrated_auc"][0] - summary["clinical_auc"][0]
    summary["ndl_lrt_p"] = float(np.median([r["p_value"] for r in lrts]))
    summary["ndl_lrt_p_max"] = float(np.max([r["p_value"] for r in lrts]))
    return {
        "benchmark": "he_signal",
        "command": "python benchmarks/he_signal.py " + " ".join(sys.argv[1:]),
        "machine": machine_info(),
        "preset": preset.name,
        "overrides": overrides,
        "cohort": {
            "patients": len(df),
            "he_rate": float(df["he"].mean()),
            "native_size": size,
            "slices": list(preset.demo_slices),
            "seed": args.seed,
        },
        "design": f"{args.repeats} x {args.folds}-fold stratified CV",
        **summary,
        "folds": rows,
        "lrt": lrts,
        "seconds": {
            "cohort": round(t_cohort, 1),
            "cv": round(time.perf_counter() - t_fit, 1),
            "per_fold_mean": round(float(folds_df["seconds"].mean()), 1),
        },
    }


def markdown(res: dict) -> str:
    def ms(key):
        m, s = res[key]
        return f"{m:.3f} ± {s:.3f}"

    c = res["cohort"]
    lines = [
        "# The nDL score's image signal (`benchmarks/he_signal.py`)",
        "",
        f"Command: `{res['command']}`; machine: {res['machine'].get('cpu', '?')}, "
        f"{res['machine'].get('cores', '?')} cores, torch {res['machine']['versions']['torch']}, "
        f"{res['machine']['date']}.",
        "",
        f"Cohort: `make_synthetic_cohort`, {c['patients']} patients (HE {c['he_rate']:.1%}), "
        f"{c['native_size']} px CT, {c['slices'][0]}-{c['slices'][1]} slices, seed {c['seed']} "
        f"(the demo uses 0). Preset `{res['preset']}`"
        + (f" with {res['overrides']}" if res["overrides"] else "")
        + f"; {res['design']}.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| Image-to-HE AUC | {ms('image_auc')} |",
        f"| oracle (true image features) AUC | {ms('oracle_image_auc')} |",
        f"| fraction of the oracle | {res['fraction_of_oracle']:.1%} |",
        f"| Clinical-to-HE AUC | {ms('clinical_auc')} |",
        f"| Integrated-to-HE AUC | {ms('integrated_auc')} |",
        f"| Integrated - Clinical | {res['integrated_minus_clinical']:+.3f} |",
        f"| nDL LRT p, out-of-fold (median; max) | {res['ndl_lrt_p']:.2g}; "
        f"{res['ndl_lrt_p_max']:.2g} |",
        f"| wall time | cohort {res['seconds']['cohort']:.0f} s, CV "
        f"{res['seconds']['cv'] / 60:.1f} min ({res['seconds']['per_fold_mean']:.0f} s/fold) |",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--patients", type=int, default=None, help="default: the preset's demo size")
    p.add_argument("--native-size", type=int, default=None, help="CT pixels (default: demo's)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=1, help="cohort seed (the demo uses 0)")
    p.add_argument("--set", action="append", default=[], help="NDLScorer parameter=value")
    p.add_argument("--cohort", default=None, help="reuse (or create) the cohort in this folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--name", default="he_signal", help="results file name under docs/benchmarks")
    p.add_argument("--out-dir", default=None, help="results folder (default docs/benchmarks)")
    p.add_argument("--smoke", action="store_true", help="tiny preset, 60 patients, 2 x 2 folds")
    args = p.parse_args(argv)
    if args.smoke:
        args.preset, args.patients, args.repeats, args.folds = "tiny", args.patients or 60, 2, 2
        args.name = "he_signal_smoke" if args.name == "he_signal" else args.name
    with tempfile.TemporaryDirectory(prefix="skhe-he-signal-") as tmp:
        res = run(args, Path(tmp))
    path = write_results(args.name, res, markdown(res), args.out_dir)
    print(markdown(res))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
