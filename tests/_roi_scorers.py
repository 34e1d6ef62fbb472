"""Shared by the ROI and descriptor tests: a small NDLScorer on hematoma ROIs, and its cohort."""

from skhe.datasets import make_synthetic_cohort
from skhe.io import load_manifest
from skhe.neural import HematomaSegmenter, MultiTaskHEModel, NDLScorer, SliceClassifier

SIZE = 32  # the networks' slices
NATIVE = 96  # the CT's
COMMON = dict(image_size=SIZE, batch_size=32, random_state=0, augment=False)
DEC = (16, 8, 8, 8, 4)


def small_roi_scorer(**kw) -> NDLScorer:
    """Tiny networks on 32 px slices; 60 mm ROIs at 24 px; no cross-fitting (``kw`` overrides)."""
    params = dict(
        image_size=SIZE, he_input="roi", roi_mm=60.0, roi_size=24, random_state=0, cv=None
    )
    params.update(kw)
    return NDLScorer(
        SliceClassifier("test_resnet", max_epochs=1, **COMMON),
        HematomaSegmenter("tu-test_resnet", decoder_channels=DEC, lr=3e-3, max_epochs=10, **COMMON),
        MultiTaskHEModel("tu-test_resnet", decoder_channels=DEC, lr=3e-3, max_epochs=1, **COMMON),
        **params,
    )


def small_native_cohort(folder, n_patients: int, seed: int):
    """A synthetic cohort with a 96 px CT, 6-7 slices per patient."""
    make_synthetic_cohort(
        n_patients, folder, image_size=NATIVE, n_slices=(6, 7), random_state=seed, progress=False
    )
    return load_manifest(folder / "manifest.csv")
