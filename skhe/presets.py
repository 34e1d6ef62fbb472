"""Named network configurations for the nDL score: ``paper`` (GPU), ``cpu`` (demo) and ``tiny``.

A preset fixes the three networks of :class:`skhe.neural.NDLScorer`, the slice size and, for the
demo, the size of the synthetic cohort. Everything a preset sets is an ordinary parameter, so a
preset is only a starting point: ``make_ndl_scorer("cpu").set_params(classifier__max_epochs=8)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from skhe.neural import HematomaSegmenter, MultiTaskHEModel, NDLScorer, SliceClassifier

__all__ = ["PRESETS", "Preset", "get_preset", "make_ndl_scorer"]


@dataclass(frozen=True)
class Preset:
    """A named configuration of the nDL networks and of the demo cohort.

    Attributes
    ----------
    name : str
    description : str
    image_size : int
        Slice size the networks see (pixels).
    classifier, segmenter, he_model : dict
        Parameters of :class:`SliceClassifier`, :class:`HematomaSegmenter`,
        :class:`MultiTaskHEModel` (besides ``image_size`` and ``random_state``).
    ndl : dict
        Parameters of :class:`NDLScorer` itself (``he_input``, ``roi_mm``, ``slice_selection``,
        ...).
    cv : int
        Cross-fitting folds of the nDL score.
    demo_patients : int
        Default size of the demo's synthetic cohort.
    demo_slices : (int, int)
        Slices per synthetic patient (min, max).
    demo_image_size : int or None
        Pixels of the demo's synthetic CT slices (None: ``image_size``). With hematoma ROIs
        the CT is finer than the slices the segmenter sees.
    demo_test_size : float
        The demo's held-out fraction (default the paper's 107 of 572).
    """

    name: str
    description: str
    image_size: int
    classifier: dict = field(default_factory=dict)
    segmenter: dict = field(default_factory=dict)
    he_model: dict = field(default_factory=dict)
    ndl: dict = field(default_factory=dict)
    cv: int = 3
    demo_patients: int = 572
    demo_slices: tuple[int, int] = (24, 40)
    demo_image_size: int | None = None
    demo_test_size: float = 107 / 572

    def __post_init__(self):
        if self.demo_image_size is None:
            object.__setattr__(self, "demo_image_size", self.image_size)


_TINY_DECODER = (32, 16, 8, 8, 4)
# channels_last also while training: 1.1-1.4x faster for these small nets on a 2-core CPU
# (benchmarks/README.md); the estimators' default uses it on CPUs for inference only
_CPU_NETS = dict(batch_size=32, lr=3e-3, augment=False, channels_last=True)
_TINY_UNET = dict(
    decoder_channels=(16, 8, 8, 8, 4),
    max_epochs=2,
    batch_size=32,
    augment=False,
    channels_last=True,
)

PRESETS: dict[str, Preset] = {
    "paper": Preset(
        name="paper",
        description=(
            "The published configuration: SEResNeXt-50 slice classifier and ResNet-34 U-Net at "
            "512x512, lr 1e-4 / 1e-3, batch 8. Meant for a GPU (about 1 s per slice on a CPU)."
        ),
        image_size=512,
        classifier=dict(backbone="seresnext50_32x4d", lr=1e-4, weight_decay=1e-6, batch_size=8),
        segmenter=dict(encoder="resnet34", lr=1e-3, batch_size=8, max_epochs=20),
        he_model=dict(encoder="resnet34", lr=1e-3, batch_size=8, max_epochs=20),
        demo_patients=572,
        demo_slices=(24, 40),
    ),
    "cpu": Preset(
        name="cpu",
        description=(
            "Small ResNets that train on two CPU cores in a few minutes; the demo's default. The "
            "classifier and segmenter find the hematoma on 64x64 slices; the image score is a "
            "penalized logistic regression on hematoma descriptors (density heterogeneity, "
            "shape irregularity, volume) measured in 80 mm ROIs cut from the CT at its own "
            "resolution (score='descriptors'; score='dl' trains the HE network on those ROIs "
            "instead). Shows the method end to end, not the paper's accuracy."
        ),
        image_size=64,
        classifier=dict(backbone="test_resnet", max_epochs=4, **_CPU_NETS),
        segmenter=dict(
            encoder="tu-test_resnet", decoder_channels=_TINY_DECODER, max_epochs=8, **_CPU_NETS
        ),
        he_model=dict(
            encoder="tu-test_resnet",
            decoder_channels=_TINY_DECODER,
            max_epochs=4,
            he_weight=0.3,
            **{**_CPU_NETS, "augment": {"flip": 0.5}},
        ),
        ndl=dict(he_input="roi", roi_mm=80.0, roi_size=64, score="descriptors"),
        demo_patients=400,
        demo_slices=(8, 10),
        demo_image_size=192,
        demo_test_size=0.3,  # 120 test patients (the paper: 107): an AUC CI of about +-0.1
    ),
    "tiny": Preset(
        name="tiny",
        description="Seconds per fit at 32x32: checks an installation or a pipeline, nothing more.",
        image_size=32,
        classifier=dict(
            backbone="test_resnet", max_epochs=1, batch_size=32, augment=False, channels_last=True
        ),
        segmenter=dict(encoder="tu-test_resnet", **_TINY_UNET),
        he_model=dict(encoder="tu-test_resnet", **_TINY_UNET),
        cv=2,
        demo_patients=60,
        demo_slices=(6, 8),
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (``"paper"``, ``"cpu"`` or ``"tiny"``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name]


def make_ndl_scorer(
    preset: str | Preset = "cpu",
    *,
    device: str = "auto",
    random_state: int | None = 0,
    memory=None,
    slice_cache=None,
    verbose: int = 0,
) -> NDLScorer:
    """An unfitted :class:`NDLScorer` with the networks of a preset.

    Parameters
    ----------
    preset : str or Preset, default="cpu"
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int or None, default=0
    memory : str, path or joblib.Memory, optional
        See :class:`NDLScorer`.
    slice_cache : None, int or PatientSliceCache, optional
        See :class:`NDLScorer`.
    verbose : int, default=0

    Returns
    -------
    NDLScorer
    """
    p = get_preset(preset) if isinstance(preset, str) else preset
    common = dict(image_size=p.image_size, random_state=random_state, device=device)
    return NDLScorer(
        SliceClassifier(**{**p.classifier, **common}),
        HematomaSegmenter(**{**p.segmenter, **common}),
        MultiTaskHEModel(**{**p.he_model, **common}),
        image_size=p.image_size,
        **p.ndl,
        cv=p.cv,
        memory=memory,
        slice_cache=slice_cache,
        random_state=random_state,
        verbose=verbose,
    )
