"""The report's figures (matplotlib, Agg): ROC, calibration, decision curves, Grad-CAM or the
hematoma descriptors."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

from skhe.exceptions import DataWarning
from skhe.model_selection import Evaluation
from skhe.pipelines import FEATURES, IMAGE

COLORS = {"Image-to-HE": "#1f77b4", "Clinical-to-HE": "#2ca02c", "Integrated-to-HE": "#d62728"}


def _color(name: str, i: int) -> str:
    return COLORS.get(name, f"C{i + 3}")


def roc_figure(ev: Evaluation):
    """ROC curves of all models on the test patients, AUC (95% CI) in the legend."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for i, (name, m) in enumerate(ev.models.items()):
        fpr, tpr, _ = roc_curve(ev.test_y, m.test_prob)
        a = m.auc
        ax.plot(
            fpr,
            tpr,
            color=_color(name, i),
            lw=2,
            label=f"{name}: AUC {a.auc:.2f} ({a.ci_low:.2f}-{a.ci_high:.2f})",
        )
        p = m.performance
        ax.plot(1 - p.specificity, p.sensitivity, "o", color=_color(name, i), ms=6)
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("ROC curves (dots: threshold chosen on training)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def calibration_figure(ev: Evaluation):
    """Observed against predicted HE risk per risk group, with the ideal diagonal."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for i, (name, m) in enumerate(ev.models.items()):
        c = m.calibration
        cur = c.curve
        ax.plot(
            cur["mean_predicted"],
            cur["observed"],
            "o-",
            color=_color(name, i),
            label=f"{name}: slope {c.slope:.2f}, Brier {c.brier:.3f}",
        )
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="ideal")
    ax.set(xlabel="predicted probability", ylabel="observed HE fraction", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Calibration (test patients, risk groups)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def decision_curve_figure(ev: Evaluation):
    """Net benefit of each model against treat-all and treat-none."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    first = None
    for i, (name, m) in enumerate(ev.models.items()):
        d = m.decision_curve
        first = d if first is None else first
        ax.plot(d["threshold"], d["model"], color=_color(name, i), lw=2, label=name)
    ax.plot(first["threshold"], first["treat_all"], color="0.4", lw=1, label="treat all")
    ax.axhline(0, color="k", lw=1, label="treat none")
    prevalence = float(np.mean(ev.test_y))
    ax.set(xlabel="threshold probability", ylabel="net benefit", xlim=(0, 1))
    ax.set_ylim(-0.05, max(0.05, prevalence * 1.1))
    ax.set_title("Decision curves (test patients)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def image_model(ev: Evaluation):
    """(name, fitted NDLScorer) of the first model with an image branch, or (None, None)."""
    for name in ("Integrated-to-HE", "Image-to-HE", *ev.models):
        m = ev.models.get(name)
        if m is None:
            continue
        feats = m.model.named_steps.get(FEATURES)
        if feats is not None and IMAGE in getattr(feats, "named_transformers_", {}):
            return name, feats.named_transformers_[IMAGE]
    return None, None


def gradcam_cases(ev: Evaluation, per_group: int = 2) -> list[dict]:
    """True- and false-positive test patients of the image model, most confident first."""
    name, ndl = image_model(ev)
    if ndl is None:
        return []
    m = ev.models[name]
    cases = []
    for label, truth in (("true positive", 1), ("false positive", 0)):
        idx = np.flatnonzero((m.test_pred == 1) & (ev.test_y == truth))
        idx = idx[np.argsort(-m.test_prob[idx])][:per_group]
        cases += [{"group": label, "index": int(i), "prob": float(m.test_prob[i])} for i in idx]
    return cases


def gradcam_figure(ev: Evaluation, per_group: int = 2):
    """Grad-CAM of the HE head on the most heavily weighted slice of TP and FP test patients,
    on the slice at the CT's resolution (with the ROI outlined when the HE model sees ROIs).

    Returns None when no model has an image branch or no patient was called positive.
    """
    from skhe.explain import ndl_grad_cam, overlay

    name, ndl = image_model(ev)
    if getattr(ndl, "he_model_", None) is None:  # a descriptor score: no network to explain
        return None
    cases = gradcam_cases(ev, per_group)
    if not cases:
        return None
    tested = ev.patients if ev.design == "cv" else ev.patients[ev.patients["split"] == "test"]
    fig, axes = plt.subplots(
        1, len(cases), figsize=(3.2 * len(cases), 3.9), squeeze=False, layout="constrained"
    )
    blank = 0
    for ax, case in zip(axes[0], cases, strict=True):
        row = tested.iloc[[case["index"]]]
        with warnings.catch_warnings():
            # re-scoring a test patient for its picture: its data warnings were shown already
            warnings.simplefilter("ignore", DataWarning)
            expl = ndl_grad_cam(ndl, row.drop(columns=["mask"], errors="ignore"))
        k, cam = expl["slice"], expl["cam"]
        ax.imshow(overlay(expl["image"], cam))
        if expl["box"] is not None:  # where the HE model looked: the hematoma ROI
            top, left, height, width = expl["box"]
            ax.add_patch(
                plt.Rectangle(
                    (left - 0.5, top - 0.5), width, height, fill=False, ec="white", lw=0.8, ls="--"
                )
            )
        if not cam.max() > 0:  # say so rather than show a silently blank panel
            blank += 1
            ax.text(
                0.5,
                0.04,
                "blank map: no positive evidence\nat the last encoder layer",
                transform=ax.transAxes,
                ha="center",
                va="bottom",
                fontsize=7,
                color="white",
                bbox={"facecolor": "black", "alpha": 0.6, "pad": 2},
            )
        ax.set_title(
            f"{case['group']}\npatient {ev.test_ids[case['index']]}, slice {k}, "
            f"p={case['prob']:.2f}",
            fontsize=8,
        )
        ax.axis("off")
    note = (
        f" - {blank} of {len(cases)} maps blank (the HE score's gradient at the last encoder "
        "layer is not positive anywhere; common with the small cpu/tiny networks)"
        if blank
        else ""
    )
    fig.suptitle(f"Grad-CAM of the HE head ({name}){note}", fontsize=9 if blank else 10, wrap=True)
    return fig


def descriptor_figure(ev: Evaluation, per_group: int = 2):
    """For a descriptor score (``NDLScorer(score="descriptors")``): the odds ratio per SD of
    each hematoma descriptor, and the segmented hematoma (outlined) on the largest ROI of the
    most confident true- and false-positive test patients.

    Returns None when the image model is not a descriptor score.
    """
    from skhe.explain import descriptor_rois

    name, ndl = image_model(ev)
    if ndl is None or not getattr(ndl, "_descriptors", lambda: False)():
        return None
    cases = gradcam_cases(ev, per_group)
    tested = ev.patients if ev.design == "cv" else ev.patients[ev.patients["split"] == "test"]
    fig, axes = plt.subplots(
        1,
        1 + len(cases),
        figsize=(4.2 + 2.6 * len(cases), 3.6),
        squeeze=False,
        layout="constrained",
        width_ratios=[1.6] + [1] * len(cases),
    )
    ors = ndl.descriptor_odds_ratios().sort_values()
    ax = axes[0, 0]
    ax.barh(
        ors.index,
        ors.to_numpy() - 1.0,
        left=1.0,
        color=["#d62728" if v > 1 else "#1f77b4" for v in ors],
    )
    ax.axvline(1.0, color="k", lw=0.8)
    lo, hi = min(ors.min(), 1.0), max(ors.max(), 1.0)
    ax.set_xlim(lo - 0.05 * (hi - lo) - 1e-3, hi + 0.05 * (hi - lo) + 1e-3)
    ax.set_xlabel("odds ratio of HE per SD (penalized)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f"descriptor regression ({name})", fontsize=9)
    for ax, case in zip(axes[0, 1:], cases, strict=True):
        row = tested.iloc[[case["index"]]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # shown when the patient was scored
            view = descriptor_rois(ndl, row.drop(columns=["mask"], errors="ignore"))
        mask = view["mask"]
        k = int(np.argmax(mask.reshape(len(mask), -1).sum(axis=1))) if mask is not None else 0
        ax.imshow(view["images"][k], cmap="gray", vmin=0, vmax=1)
        if mask is not None and mask[k].any():
            ax.contour(mask[k].astype(float), levels=[0.5], colors="#ffcc00", linewidths=0.8)
        d = view["descriptors"]
        ax.set_title(
            f"{case['group']}, p={case['prob']:.2f}\nslice {view['slices'][k]}, "
            f"{view['roi_mm']:.0f} mm ROI\ndensity SD {d['density_sd']:.1f} HU, "
            f"solidity {d['solidity']:.2f}",
            fontsize=7,
        )
        ax.axis("off")
    fig.suptitle("Hematoma descriptors behind the image score", fontsize=10)
    return fig
