"""Train SliceClassifier and HematomaSegmenter on the real CT-ICH folds and report test metrics.

Usage::

    python benchmarks/ctich.py                     # CPU preset (about 15-20 minutes on 2 cores)
    python benchmarks/ctich.py --preset paper      # the paper's configuration, for a GPU
    python benchmarks/ctich.py --smoke             # seconds: checks the script end to end

Fold 0 of the dataset's fixed patient split is held out by default (``--test-fold``). Results go
to ``docs/benchmarks/ctich.{md,json}`` with the configuration, machine and wall times. The
segmenter is trained on every hemorrhage slice of the training folds plus as many slices without
hemorrhage; Dice is reported on the test slices with hemorrhage (mean per slice) and per patient
(3-D Dice over the patient's slices, for patients with hemorrhage), both with the true hemorrhage
slices given (segmenter alone) and gated by the classifier (the pipeline).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results

from skhe.datasets import load_ctich
from skhe.metrics import (
    diagnostic_performance,
    dice_coefficient,
    per_slice_dice,
    roc_auc_ci,
    youden_threshold,
)
from skhe.neural import HematomaSegmenter, SliceClassifier
from skhe.preprocessing import resize, window

PRESETS = {
    "cpu": {
        "classifier": dict(
            backbone="resnet18", image_size=128, lr=1e-3, batch_size=32, max_epochs=8
        ),
        "segmenter": dict(
            encoder="resnet18",
            decoder_channels=(128, 64, 32, 16, 8),
            image_size=128,
            lr=1e-3,
            batch_size=16,
            max_epochs=25,
        ),
    },
    "paper": {
        "classifier": dict(
            backbone="seresnext50_32x4d", image_size=512, lr=1e-4, batch_size=8, max_epochs=20
        ),
        "segmenter": dict(encoder="resnet34", image_size=512, lr=1e-3, batch_size=8, max_epochs=40),
    },
    "smoke": {
        "classifier": dict(
            backbone="test_resnet", image_size=32, lr=3e-3, batch_size=16, max_epochs=1
        ),
        "segmenter": dict(
            encoder="tu-test_resnet",
            decoder_channels=(16, 8, 8, 8, 4),
            image_size=32,
            lr=3e-3,
            batch_size=16,
            max_epochs=1,
        ),
    },
}
REFERENCES = (
    "Floor to beat: Dice 0.31 (U-Net from scratch, 5-fold CV; Hssayeni et al. 2020, the dataset's "
    "own paper). Target: the method's figures on its private cohort, slice AUC 0.994 and Dice 0.772."
)


def per_patient_dice(true: np.ndarray, pred: np.ndarray, patients: np.ndarray) -> np.ndarray:
    """3-D Dice per patient, for patients with any true hemorrhage."""
    out = []
    for p in np.unique(patients):
        sel = patients == p
        if true[sel].any():
            out.append(dice_coefficient(true[sel], pred[sel]))
    return np.array(out)


def run(args) -> dict:
    t_start = time.time()
    cfg = PRESETS["smoke" if args.smoke else args.preset]
    patients = None
    if args.smoke:
        import pandas as pd

        folds = pd.read_csv(Path(args.root) / "folds.csv", dtype={"patient": str})
        slices = pd.read_csv(Path(args.root) / "slices.csv", dtype={"patient": str})
        bleed = set(slices.loc[slices.hemorrhage == 1, "patient"])
        pick = []
        for f in sorted(folds.fold.unique()):
            pick += [p for p in folds.loc[folds.fold == f, "patient"] if p in bleed][:1]
        patients = pick
    load_size = max(cfg["classifier"]["image_size"], cfg["segmenter"]["image_size"])
    eval_size = 512 if not args.smoke else load_size
    data = load_ctich(args.root, size=None if eval_size == 512 else eval_size, patients=patients)
    t_load = time.time() - t_start
    x_full = window(data.hu, 0, 100)  # the paper's 0-100 HU window
    test = data.fold_mask(args.test_fold)
    train = ~test
    rng = np.random.default_rng(args.seed)
    common = dict(
        random_state=args.seed, verbose=args.verbose, augment=not args.smoke, n_threads=args.threads
    )

    # ---------------------------------------------------------------- classifier
    size_c = cfg["classifier"]["image_size"]
    xc = x_full if size_c == x_full.shape[-1] else resize(x_full, size_c)
    t0 = time.time()
    clf = SliceClassifier(**cfg["classifier"], **common).fit(xc[train], data.labels[train])
    t_clf = time.time() - t0
    p_train = clf.predict_proba(xc[train])[:, 1]
    thr = youden_threshold(data.labels[train], p_train)
    t0 = time.time()
    p_test = clf.predict_proba(xc[test])[:, 1]
    t_clf_pred = time.time() - t0
    auc = roc_auc_ci(data.labels[test], p_test)
    perf = diagnostic_performance(data.labels[test], p_test, threshold=thr)

    # ---------------------------------------------------------------- segmenter
    size_s = cfg["segmenter"]["image_size"]
    pos = np.flatnonzero(train & (data.labels == 1))
    neg = rng.choice(np.flatnonzero(train & (data.labels == 0)), size=len(pos), replace=False)
    idx = np.sort(np.concatenate([pos, neg]))
    xs = x_full if size_s == x_full.shape[-1] else resize(x_full[idx], size_s)
    ms = (
        data.masks[idx]
        if size_s == x_full.shape[-1]
        else resize(data.masks[idx], size_s, mask=True)
    )
    if size_s == x_full.shape[-1]:
        xs = xs[idx]
    t0 = time.time()
    seg = HematomaSegmenter(**cfg["segmenter"], **common).fit(xs, ms)
    t_seg = time.time() - t0
    t0 = time.time()
    pred = seg.predict(x_full[test])  # predicted at the training size, scored at full size
    t_seg_pred = time.time() - t0
    true = data.masks[test]
    slice_dice = per_slice_dice(true, pred)
    gated = pred * (p_test >= thr)[:, None, None]
    pat = data.patient[test]
    dice_pat = per_patient_dice(true, pred, pat)
    dice_pat_gated = per_patient_dice(true, gated, pat)
    total = time.time() - t_start

    def ci(d):
        return [float(v) for v in d]

    return {
        "preset": "smoke" if args.smoke else args.preset,
        "config": cfg,
        "test_fold": args.test_fold,
        "seed": args.seed,
        "n_train_slices": int(train.sum()),
        "n_test_slices": int(test.sum()),
        "n_test_hemorrhage_slices": int(data.labels[test].sum()),
        "n_segmenter_training_slices": len(idx),
        "classifier": {
            "auc": auc.auc,
            "auc_ci": [auc.ci_low, auc.ci_high],
            "threshold": thr,
            "accuracy": perf.accuracy,
            "accuracy_ci": ci(perf.accuracy_ci),
            "sensitivity": perf.sensitivity,
            "sensitivity_ci": ci(perf.sensitivity_ci),
            "specificity": perf.specificity,
            "specificity_ci": ci(perf.specificity_ci),
            "counts": {"tp": perf.tp, "fp": perf.fp, "tn": perf.tn, "fn": perf.fn},
            "epochs": clf.n_epochs_,
        },
        "segmenter": {
            "dice_hemorrhage_slices_mean": float(slice_dice.mean()),
            "dice_hemorrhage_slices_sd": float(slice_dice.std(ddof=1)),
            "dice_hemorrhage_slices_n": int(slice_dice.size),
            "dice_pooled_hemorrhage_slices": dice_coefficient(
                true[true.reshape(len(true), -1).any(1)], pred[true.reshape(len(true), -1).any(1)]
            ),
            "dice_per_patient_mean": float(dice_pat.mean()),
            "dice_per_patient_sd": float(dice_pat.std(ddof=1)) if dice_pat.size > 1 else 0.0,
            "dice_per_patient_gated_mean": float(dice_pat_gated.mean()),
            "n_patients_with_hemorrhage": int(dice_pat.size),
            "epochs": seg.n_epochs_,
        },
        "wall_time_s": {
            "load": round(t_load, 1),
            "classifier_fit": round(t_clf, 1),
            "classifier_predict_test": round(t_clf_pred, 1),
            "segmenter_fit": round(t_seg, 1),
            "segmenter_predict_test": round(t_seg_pred, 1),
            "total": round(total, 1),
        },
        "machine": machine_info(),
    }


def markdown(r: dict) -> str:
    c, s, m, w = r["classifier"], r["segmenter"], r["machine"], r["wall_time_s"]

    def pct(v, lo_hi):
        return f"{100 * v:.1f}% ({100 * lo_hi[0]:.1f}-{100 * lo_hi[1]:.1f})"

    cc, sc = r["config"]["classifier"], r["config"]["segmenter"]
    return f"""# CT-ICH benchmark: slice classification and hemorrhage segmentation on real CT

Data: CT-ICH (PhysioNet 1.2.0, 75 patients, CC BY 4.0), fixed patient folds, test fold
{r["test_fold"]} held out ({r["n_test_slices"]} slices, {r["n_test_hemorrhage_slices"]} with
hemorrhage; {r["n_train_slices"]} training slices). Preset `{r["preset"]}`; seed {r["seed"]}.
Slices are the dataset's brain-window PNGs mapped back to HU and windowed to 0-100 HU. No
pretrained weights (training from scratch).

| model | configuration |
| --- | --- |
| SliceClassifier | `{cc["backbone"]}`, {cc["image_size"]} px, lr {cc["lr"]}, batch {cc["batch_size"]}, {c["epochs"]} epochs, augmentation |
| HematomaSegmenter | U-Net `{sc["encoder"]}`, {sc["image_size"]} px, lr {sc["lr"]}, batch {sc["batch_size"]}, {s["epochs"]} epochs, Dice + BCE, augmentation; trained on {r["n_segmenter_training_slices"]} slices (all training hemorrhage slices + as many without) |

## Slice classification (test fold)

| metric | value (95% CI) |
| --- | --- |
| AUC (DeLong) | {c["auc"]:.3f} ({c["auc_ci"][0]:.3f}-{c["auc_ci"][1]:.3f}) |
| accuracy (Wilson) | {pct(c["accuracy"], c["accuracy_ci"])} |
| sensitivity | {pct(c["sensitivity"], c["sensitivity_ci"])} ({c["counts"]["tp"]}/{c["counts"]["tp"] + c["counts"]["fn"]}) |
| specificity | {pct(c["specificity"], c["specificity_ci"])} ({c["counts"]["tn"]}/{c["counts"]["tn"] + c["counts"]["fp"]}) |

Threshold {c["threshold"]:.3f}: Youden-optimal on the training slices, then applied to the test fold.

## Segmentation (test fold)

| metric | value |
| --- | --- |
| Dice per hemorrhage slice, mean ± SD (n={s["dice_hemorrhage_slices_n"]}) | {s["dice_hemorrhage_slices_mean"]:.3f} ± {s["dice_hemorrhage_slices_sd"]:.3f} |
| Dice pooled over hemorrhage slices | {s["dice_pooled_hemorrhage_slices"]:.3f} |
| Dice per patient (3-D), mean ± SD (n={s["n_patients_with_hemorrhage"]}) | {s["dice_per_patient_mean"]:.3f} ± {s["dice_per_patient_sd"]:.3f} |
| Dice per patient, masks gated by the classifier | {s["dice_per_patient_gated_mean"]:.3f} |

{REFERENCES}

## Run

Wall time (s): load {w["load"]}, classifier fit {w["classifier_fit"]}, classifier predict
{w["classifier_predict_test"]}, segmenter fit {w["segmenter_fit"]}, segmenter predict
{w["segmenter_predict_test"]}, total {w["total"]}.

Machine: {m["cpu"]}, {m["cores"]} cores, {m["memory_gib"]} GiB, GPU: {m["gpu"] or "none"};
Python {m["python"]}; {", ".join(f"{k} {v}" for k, v in m["versions"].items())}; {m["date"]}.

Reproduce: `python benchmarks/ctich.py --preset {r["preset"]} --seed {r["seed"]}`.
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ct-ich")
    )
    ap.add_argument("--preset", choices=["cpu", "paper"], default="cpu")
    ap.add_argument("--smoke", action="store_true", help="tiny run to check the script")
    ap.add_argument("--test-fold", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--verbose", type=int, default=0)
    ap.add_argument("--out", default=None, help="results folder (default docs/benchmarks)")
    args = ap.parse_args(argv)
    if not (Path(args.root) / "slices.csv").exists():
        print(f"CT-ICH data not found at {args.root}; nothing to do.", file=sys.stderr)
        return 2
    r = run(args)
    name = "ctich" if args.preset == "cpu" and not args.smoke else f"ctich-{r['preset']}"
    path = write_results(name, r, markdown(r), args.out)
    print(markdown(r))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
