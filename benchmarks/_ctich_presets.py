"""The presets of ``benchmarks/ctich.py`` and what turns them into a run's settings: the
``--set`` overrides, the ``--segmenter-windows`` and ``--segmenter-neighbours`` channels and the
segmenter's input."""

from __future__ import annotations

import ast
import copy
from typing import NamedTuple

import numpy as np

from skhe.neural import neighbour_index
from skhe.preprocessing import rewindow

#: The augmentation of the cpu and paper presets: the paper's shift/scale/rotate, plus
#: left-right flips and brightness/contrast jitter within the window.
AUGMENT = {"flip": 0.5, "intensity": 0.1}
#: What the cpu and paper presets add to the paper's training: head-centred crops, an epoch of
#: all hemorrhage slices plus as many fresh others, cosine learning rate, test-time flips.
IMPROVED = dict(crop="head", sampling="balanced", lr_schedule="cosine", tta=True, augment=AUGMENT)
#: channels_last while training too: the segmenter's epochs 1.45x faster on the 2-core CPU
#: (16.6-17.6 s -> 11.8-11.9 s per 192-slice epoch at 192 px), which pays for the refit.
_CPU_TRAINING = dict(channels_last=True)
PRESETS = {
    "cpu": {
        "classifier": dict(
            backbone="resnet18",
            image_size=128,
            # fine-tuning the segmenter's encoder (classifier_init below): the paper's 1e-4
            lr=1e-4,
            batch_size=32,
            max_epochs=30,
            **IMPROVED,
            **_CPU_TRAINING,
        ),
        "segmenter": dict(
            encoder="resnet18",
            # 16 channels at full resolution, not 8: with 8 the last decoder stage learns to
            # mark hematoma by all-zero (ReLU) features, so the logit there is the head's bias
            # and no pixel gets past ~0.55 (docs/benchmarks/ctich.md, notes)
            decoder_channels=(128, 64, 32, 16, 16),
            # the mean of the soft Dice over the batch's pixels (which sees false alarms on
            # slices without hemorrhage) and over its hemorrhage slices (each counting
            # equally): decided on test folds 3 and 4 against the per-slice Dice alone (mean
            # Dice per patient 0.274 -> 0.307, per slice 0.405 -> 0.397, slice AUC
            # 0.9125 -> 0.9247; ctich-design.md section 23; the per-slice Dice, section 21)
            loss="mixed_dice_bce",
            image_size=192,
            lr=1e-3,
            batch_size=16,
            max_epochs=30,
            **IMPROVED,
            **_CPU_TRAINING,
        ),
        # after the choices on the validation fold, fit the networks again on it too (a
        # third more training slices: fold 0, Dice per slice 0.408 -> 0.474 and 0.523)
        "refit": True,
        # and score the test fold with the mean of both fits' probabilities (decided on fold 3
        # with the 8-channel decoder: slice AUC 0.826 -> 0.850, Dice per slice 0.287 -> 0.301
        # against the refit alone; never below the worse fit since, docs/benchmarks/ctich-design.md)
        "ensemble": True,
        # the slice score: fixed, not the best of six on the validation fold (decided on the 11
        # runs that did not test fold 0, docs/benchmarks/ctich-design.md, section 8), and with
        # equal weights on the three standardized scores, not weights fit on the 15 validation
        # patients (decided on test folds 3 and 4: 0.884 -> 0.895, 0.901 -> 0.927; section 14),
        # and with each score's mean over the two neighbouring slices (found on folds 3 and 4,
        # decided on test folds 1 and 2: 0.952 -> 0.955, 0.945 -> 0.958; section 15)
        "slice_score": "combined_equal_neighbours",
        # the classifier starts from each fit's segmenter encoder (both ResNet-18s), learnt from
        # the masks (decided on test folds 3 and 4: the classifier's AUC 0.844 -> 0.859 and
        # 0.890 -> 0.899, combined 0.8923 -> 0.8924 on average; ctich-design.md section 11)
        "classifier_init": "segmenter",
        # after the mask rule, drop stray mask regions by a logistic filter of ten label-free
        # numbers per region, fit on the validation fold's regions with its cut-off chosen
        # there together with the rule (each slice's heaviest region kept; found on test fold
        # 3: Dice per slice 0.443 -> 0.458, decided on test fold 4: 0.351 -> 0.406;
        # ctich-design.md section 29)
        "region_filter": True,
    },
    "paper": {
        "classifier": dict(
            backbone="seresnext50_32x4d",
            image_size=512,
            lr=1e-4,
            batch_size=8,
            max_epochs=30,
            **IMPROVED,
        ),
        "segmenter": dict(
            encoder="resnet34",
            image_size=512,
            lr=1e-3,
            batch_size=8,
            max_epochs=40,
            **IMPROVED,
        ),
        "refit": True,
        "ensemble": True,
        "slice_score": "combined",
    },
    "smoke": {
        "classifier": dict(
            backbone="test_resnet",
            image_size=32,
            lr=3e-3,
            batch_size=16,
            max_epochs=2,
            **{**IMPROVED, "augment": False},
        ),
        "segmenter": dict(
            encoder="tu-test_resnet",
            decoder_channels=(16, 8, 8, 8, 4),
            image_size=32,
            lr=3e-3,
            batch_size=16,
            max_epochs=2,
            **{**IMPROVED, "augment": False},
        ),
    },
}


class Combination(NamedTuple):
    """What a combined slice score reads (``slice_detection_features``) and how it weighs it."""

    #: the classifier's log-odds too (when the run has a classifier)
    classifier: bool
    #: each feature's mean over the two neighbouring slices
    neighbours: bool
    #: the patient's largest log expected area
    patient: bool
    #: weight 1 on each standardized feature, fixed in advance (no label read); else the
    #: weights are fit by logistic regression on the validation slices
    equal_weights: bool


#: The combined slice scores, in the order a run reports them (``combined_context`` only with
#: the classifier).
COMBINATIONS = {
    "combined": Combination(True, False, False, False),
    "segmenter_context": Combination(False, True, True, False),
    # combined's features with equal weights (ctich-design.md, section 14)
    "combined_equal": Combination(True, False, False, True),
    # and each one's neighbours' mean, equal weights too (section 15)
    "combined_equal_neighbours": Combination(True, True, False, True),
    "combined_context": Combination(True, True, True, False),
}
#: The slice scores a run computes (``combined_context`` and ``classifier`` need the classifier):
#: the networks' own three and the combinations; ``--slice-score validation`` picks the one with
#: the best validation AUC.
SLICE_SCORES = ("segmenter_area", "segmenter_max", "classifier", *COMBINATIONS)
#: Those a run without the classifier computes: the combinations then read the segmenter's
#: features alone, and ``combined_context`` would read exactly what ``segmenter_context`` reads.
SEGMENTER_SLICE_SCORES = tuple(
    k for k in SLICE_SCORES if k not in ("classifier", "combined_context")
)


def segmenter_input(cfg: dict, x, patient, slice_number):
    """The segmenter's input, as a function of the rows it is asked for (a boolean mask or
    indices into ``x``, the 0-100 HU slices): those slices; with ``segmenter_windows`` one
    channel per window (:func:`skhe.preprocessing.rewindow`, exact inside 0-100 HU); with
    ``segmenter_neighbours`` three channels, the slice and the slices below and above it in
    its patient's volume (:func:`skhe.neural.neighbour_index`; an edge slice repeats itself).
    Channel 0 is always the slice itself: the head crop is found there."""
    windows = cfg.get("segmenter_windows")
    if cfg.get("segmenter_neighbours"):
        rows = np.c_[np.arange(len(x)), neighbour_index(patient, slice_number)]
        return lambda sel: x[rows[sel]]
    if not windows:
        return lambda sel: x[sel]
    return lambda sel: rewindow(x[sel], windows)


def segmenter_params(cfg: dict) -> dict:
    """The segmenter's parameters, its input channels matching ``segmenter_windows`` or
    ``segmenter_neighbours``."""
    windows = cfg.get("segmenter_windows")
    chans = 3 if cfg.get("segmenter_neighbours") else len(windows) if windows else None
    return {**cfg["segmenter"], **({"in_chans": chans} if chans else {})}


def classifier_params(cfg: dict) -> dict:
    """The classifier's parameters. Started from a segmenter encoder that reads three slices
    (``segmenter_neighbours``), it takes three input channels too: its one slice, repeated by
    the slice adapter, as if the neighbours were the slice itself."""
    three = cfg.get("classifier_init") == "segmenter" and cfg.get("segmenter_neighbours")
    return {**cfg["classifier"], **({"in_chans": 3} if three else {})}


def apply_overrides(cfg: dict, items: list[str]) -> dict:
    """``--set segmenter.loss=tversky_bce`` style overrides (values as Python literals)."""
    cfg = copy.deepcopy(cfg)
    for item in items:
        key, _, raw = item.partition("=")
        part, _, name = key.partition(".")
        if part not in cfg or not name:
            raise SystemExit(f"--set {item}: use classifier.NAME=VALUE or segmenter.NAME=VALUE")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        if part == "classifier" and name == "enabled":
            cfg[part] = cfg[part] if value else None
        else:
            cfg[part][name] = value
    return cfg


def parse_windows(items: list[str]) -> list[list[float]]:
    """``["0,100", "40,90"]`` -> ``[[0.0, 100.0], [40.0, 90.0]]``, each inside 0-100 HU."""
    windows = []
    for item in items:
        try:
            lo, hi = (float(v) for v in item.split(","))
        except ValueError:
            raise SystemExit(
                f"--segmenter-windows {item}: use LOW,HIGH in HU, e.g. 40,90"
            ) from None
        if not 0 <= lo < hi <= 100:
            raise SystemExit(
                f"--segmenter-windows {item}: each window must lie inside 0-100 HU (the "
                "slices' window), with LOW < HIGH"
            )
        windows.append([lo, hi])
    return windows
