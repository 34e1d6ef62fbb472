"""Model variants under ``cross_validate``: the three HE models, backbones, and the CT-ICH networks.

Usage::

    python benchmarks/variants.py                  # synthetic cohort + CT-ICH (~20 min on 2 cores)
    python benchmarks/variants.py --part synthetic # or --part ctich
    python benchmarks/variants.py --smoke          # seconds

1. Synthetic cohort (``make_synthetic_cohort``, 64x64 networks as the CPU preset): stratified
   K-fold ``cross_validate`` with ``skhe.metrics.SCORERS`` of Clinical-, Image- and
   Integrated-to-HE, and of Image-/Integrated-to-HE with another backbone family (timm's
   ``test_efficientnet`` for the classifier and the U-Net encoders instead of
   ``test_resnet``). Image- and Integrated-to-HE share each fold's fitted networks through
   ``NDLScorer(memory=...)``.
2. CT-ICH (real slices, when ``../shared/data/ct-ich`` is present): patient-grouped K-fold
   ``cross_validate`` of ``SliceClassifier`` (ROC AUC) and ``HematomaSegmenter`` (Dice), each
   with timm's ``test_resnet`` and with ResNet-18.

One table per part: each metric's mean +- SD over the folds, and the mean fit time.
Results: ``docs/benchmarks/variants.{md,json}``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_validate

from skhe.datasets import load_ctich, make_synthetic_cohort
from skhe.exceptions import small_model_warnings_ignored
from skhe.io import load_manifest
from skhe.metrics import SCORERS
from skhe.neural import HematomaSegmenter, SliceClassifier
from skhe.pipelines import make_clinical_to_he, make_image_to_he, make_integrated_to_he
from skhe.preprocessing import window
from skhe.presets import make_ndl_scorer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct-ich"
METRICS = ["roc_auc", "sensitivity", "specificity", "neg_brier_score", "calibration_slope"]


def _summary(name: str, res: dict, metrics) -> dict:
    row = {"model": name, "fit_time_s": float(np.mean(res["fit_time"]))}
    for m in metrics:
        v = np.asarray(res[f"test_{m}"], float)
        v = v[~np.isnan(v)]  # folds where the metric is undefined (e.g. constant predictions)
        if v.size == 0:
            row[m] = (float("nan"), float("nan"))
        else:
            row[m] = (float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0)
    return row


def synthetic_part(args, work: Path) -> list[dict]:
    make_synthetic_cohort(
        args.patients,
        work / "cohort",
        image_size=args.size,
        n_slices=(8, 10) if not args.smoke else (6, 6),
        random_state=11,
        progress=False,
    )
    df = load_manifest(work / "cohort" / "manifest.csv")
    preset = "tiny" if args.smoke else "cpu"
    cv = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    scoring = {m: SCORERS[m] for m in METRICS}
    other = dict(
        classifier__backbone="test_efficientnet",
        segmenter__encoder="tu-test_efficientnet",
        he_model__encoder="tu-test_efficientnet",
    )
    models = {"Clinical-to-HE": make_clinical_to_he()}
    for tag, extra in (("test_resnet", {}), ("test_efficientnet", other)):
        ndl = make_ndl_scorer(preset, device="cpu", random_state=0, memory=work / f"m-{tag}")
        ndl.set_params(**extra)
        models[f"Image-to-HE ({tag})"] = make_image_to_he(ndl)
        models[f"Integrated-to-HE ({tag})"] = make_integrated_to_he(ndl)
    rows = []
    for name, model in models.items():
        print(f"[synthetic] {name}", flush=True)
        with small_model_warnings_ignored():
            res = cross_validate(model, df, df["he"], cv=cv, scoring=scoring, error_score="raise")
        rows.append(_summary(name, res, METRICS))
    return rows


def ctich_part(args) -> list[dict]:
    if not (Path(args.ctich) / "slices.csv").exists():
        print(f"[ctich] skipped: no CT-ICH data at {args.ctich}")
        return []
    data = load_ctich(args.ctich, size=args.size)
    x = window(data.hu, 0, 100).astype(np.float32)
    groups = data.patient
    if args.smoke:
        keep = np.isin(groups, np.unique(groups)[:12])
        x, groups = x[keep], groups[keep]
        labels, masks = data.labels[keep], data.masks[keep]
    else:
        labels, masks = data.labels, data.masks
    cv = list(GroupKFold(args.folds).split(x, labels, groups))
    common = dict(
        image_size=args.size,
        batch_size=32,
        augment=False,
        random_state=0,
        channels_last=True,
        device="cpu",
    )
    epochs_c, epochs_s = (1, 1) if args.smoke else (4, 15)
    classifiers = {
        "SliceClassifier test_resnet": SliceClassifier(
            "test_resnet", lr=3e-3, max_epochs=epochs_c, **common
        ),
        "SliceClassifier resnet18": SliceClassifier(
            "resnet18", lr=1e-3, max_epochs=epochs_c, **common
        ),
    }
    unets = {
        "HematomaSegmenter tu-test_resnet": HematomaSegmenter(
            "tu-test_resnet",
            decoder_channels=(32, 16, 8, 8, 4),
            lr=3e-3,
            max_epochs=epochs_s,
            **common,
        ),
        "HematomaSegmenter resnet18": HematomaSegmenter(
            "resnet18", decoder_channels=(64, 32, 16, 8, 8), lr=1e-3, max_epochs=epochs_s, **common
        ),
    }
    rows = []
    for name, est in classifiers.items():
        print(f"[ctich] {name}", flush=True)
        res = cross_validate(est, x, labels, cv=cv, scoring={"roc_auc": SCORERS["roc_auc"]})
        rows.append(_summary(name, res, ["roc_auc"]))
    # the segmenter is scored (Dice) on each test fold's hemorrhage slices, as in the paper
    hem = np.flatnonzero(labels == 1)
    seg_cv = [(np.intersect1d(tr, hem), np.intersect1d(te, hem)) for tr, te in cv]
    for name, est in unets.items():
        print(f"[ctich] {name}", flush=True)
        res = cross_validate(
            est, x, masks, cv=seg_cv, scoring={"dice": lambda e, X, y: e.score(X, y)}
        )
        rows.append(_summary(name, res, ["dice"]))
    return rows


def _table(rows: list[dict], metrics: list[str]) -> list[str]:
    head = "| model | " + " | ".join(metrics) + " | fit time (s) |"
    lines = [head, "|" + " --- |" * (len(metrics) + 2)]
    for r in rows:
        cells = [f"{r[m][0]:.3f} ± {r[m][1]:.3f}" if m in r else "" for m in metrics]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {r['fit_time_s']:.0f} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["synthetic", "ctich", "both"], default="both")
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--ctich", type=Path, default=SHARED)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.smoke:
        args.patients, args.folds, args.size = 24, 2, 32
    t0 = time.perf_counter()
    syn, ct = [], []
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("synthetic", "both"):
            syn = synthetic_part(args, Path(tmp))
        if args.part in ("ctich", "both"):
            ct = ctich_part(args)
    info = machine_info()
    results = {
        "machine": info,
        "args": {k: str(v) for k, v in vars(args).items()},
        "synthetic": syn,
        "ctich": ct,
        "wall_s": time.perf_counter() - t0,
    }
    lines = [
        "# Model variants under cross_validate",
        "",
        f"`python benchmarks/variants.py` · {info['date']} · {info['cpu']}, {info['cores']} cores"
        f" · torch {info['versions']['torch']} · total {results['wall_s'] / 60:.0f} min",
        "",
    ]
    if syn:
        lines += [
            f"## Synthetic cohort ({args.patients} patients, {args.folds}-fold stratified CV, "
            f"networks at {args.size}x{args.size})",
            "",
            "Mean ± SD over the folds (Youden threshold of each fold's training predictions for "
            "sensitivity/specificity); fit time per fold. Integrated-to-HE reuses its Image-to-HE "
            "twin's fitted networks (same fold, `NDLScorer(memory=...)`), so its fit time is "
            "mostly the regression's.",
            "",
            *_table(syn, METRICS),
            "",
        ]
    if ct:
        lines += [
            f"## CT-ICH (real slices, patient-grouped {args.folds}-fold CV, {args.size}x{args.size})",
            "",
            "Slice classification ROC AUC over all test slices; segmentation Dice over the test "
            "folds' hemorrhage slices (all pixels). Short CPU runs at a small size, without "
            "augmentation: compare the variants with each other; the networks at 128x128 with "
            "augmentation are measured in [ctich.md](ctich.md).",
            "",
            *_table(ct, ["roc_auc", "dice"]),
            "",
        ]
    md = "\n".join(lines)
    print(md)
    print(
        "written:",
        write_results("variants_smoke" if args.smoke else "variants", results, md, args.out_dir),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
