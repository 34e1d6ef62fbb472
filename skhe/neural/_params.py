"""Parameter constraints of the deep estimators, checked at the start of every ``fit``."""

from __future__ import annotations

import os
from numbers import Integral, Real

from skhe.neural._datasets import ValidationData
from skhe.utils._compat import HasMethods, Interval, Options, RealNotInt, StrOptions

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_NON_NEGATIVE = Interval(Real, 0, None, closed="left")
_SEED = Interval(Integral, 0, None, closed="left")

#: Shared by SliceClassifier, HematomaSegmenter and MultiTaskHEModel.
DEEP_CONSTRAINTS: dict = {
    "pretrained": ["boolean", str, os.PathLike],
    "in_chans": [Options(Integral, {1, 3})],
    "image_size": [Interval(Integral, 8, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [_NON_NEGATIVE],
    "batch_size": [_POSITIVE_INT],
    "max_epochs": [_POSITIVE_INT],
    "augment": ["boolean", dict],
    "validation_data": [
        None,
        Interval(RealNotInt, 0, 1, closed="neither"),
        tuple,
        list,
        ValidationData,
        HasMethods(["__getitem__", "__len__"]),
    ],
    "early_stopping": [None, _POSITIVE_INT],
    "checkpoint_dir": [None, str, os.PathLike],
    "device": [str],  # auto, cpu, cuda, cuda:N or mps: checked by check_deep_params
    "mixed_precision": [StrOptions({"auto", "bf16", "fp16"}), "boolean"],
    "channels_last": [StrOptions({"auto"}), "boolean"],
    "n_threads": [None, _POSITIVE_INT],
    "num_workers": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
    "predict_batch_size": [None, _POSITIVE_INT],
    "compile": ["boolean", dict],
    "threshold": [Interval(Real, 0, 1, closed="both")],
    "bn_recalibration": ["boolean"],
    "random_state": [None, _SEED],
    "verbose": ["verbose"],
    "net_kwargs": [None, dict],
    "callbacks": [None, list],
    "accelerate": [None, "boolean", dict],
}

#: Head-centred input, test-time flips and the learning-rate schedule (classifier, segmenter).
_INPUT_AND_SCHEDULE = {
    "crop": [StrOptions({"none", "head"})],
    "tta": ["boolean"],
    "lr_schedule": [None, StrOptions({"cosine"})],
    "sampling": [StrOptions({"all", "balanced"})],
}

_UNET = {
    "encoder": [str],
    "decoder_channels": [tuple, list],
}

CLASSIFIER_CONSTRAINTS = {
    **DEEP_CONSTRAINTS,
    **_INPUT_AND_SCHEDULE,
    "backbone": [str],
    "class_weight": [None, StrOptions({"balanced"}), dict],
}
SEGMENTER_CONSTRAINTS = {
    **DEEP_CONSTRAINTS,
    **_INPUT_AND_SCHEDULE,
    **_UNET,
    "dice_weight": [_NON_NEGATIVE],
    "bce_weight": [_NON_NEGATIVE],
    "loss": [StrOptions({"dice_bce", "slice_dice_bce", "mixed_dice_bce", "tversky_bce"})],
    # any channel count: e.g. several HU windows (skhe.preprocessing.rewindow)
    "in_chans": [_POSITIVE_INT],
}
MULTITASK_CONSTRAINTS = {
    **DEEP_CONSTRAINTS,
    **_UNET,
    "consistency_weight": [_NON_NEGATIVE],
    "he_weight": [_NON_NEGATIVE],
    "seg_weight": [_NON_NEGATIVE],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "freeze_encoder": ["boolean"],
    # any channel count: NDLScorer(he_input="roi") gives it the ROI plus a hematoma channel
    "in_chans": [_POSITIVE_INT],
    "hidden": [_POSITIVE_INT],
    "image_features": [_POSITIVE_INT],
}


def check_deep_params(estimator) -> None:
    """``_parameter_constraints`` plus what constraints cannot say, with the same wording."""
    from skhe.utils._compat import InvalidParameterError, validate_params

    validate_params(estimator)
    name = type(estimator).__name__
    if isinstance(estimator.early_stopping, bool):
        raise InvalidParameterError(
            f"The 'early_stopping' parameter of {name} must be None or a patience in epochs "
            f"(an int >= 1). Got {estimator.early_stopping!r} instead."
        )
    from skhe.utils import check_device

    try:
        check_device(estimator.device, f"The 'device' parameter of {name}")
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None
