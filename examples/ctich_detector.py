"""A hemorrhage detector on real CT (CT-ICH): train the slice classifier and the segmenter,
save them, load them back as frozen sub-estimators of an NDLScorer (the paper's two-stage design).

Run: ``python examples/ctich_detector.py PATH/TO/ct-ich`` (about 15 minutes on 2 CPU cores;
``--tiny``: a few patients, 32 px, for a check). CT-ICH is not shipped with skhe; see
``../shared/data/ct-ich/README.md`` for its source and license. ``benchmarks/ctich.py`` is the
full, measured version.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator

from skhe.datasets import load_ctich
from skhe.metrics import roc_auc_ci
from skhe.neural import HematomaSegmenter, NDLScorer, SliceClassifier
from skhe.preprocessing import window


def main(root, tiny: bool = False) -> float:
    folds = pd.read_csv(Path(root) / "folds.csv", dtype={"patient": str})
    patients = folds["patient"].tolist()[: 12 if tiny else None]
    data = load_ctich(root, size=64 if tiny else None, patients=patients)
    x = window(data.hu, 0, 100)  # the paper's 0-100 HU window
    test = data.fold_mask(0)
    # what works on real CT (docs/benchmarks/ctich.md): head-centred crops, every slice with
    # balanced epochs, flips and intensity jitter, a cosine schedule, test-time flips
    real_ct = dict(
        crop="head",
        sampling="balanced",
        lr_schedule="cosine",
        tta=True,
        augment=False if tiny else {"flip": 0.5, "intensity": 0.1},
        random_state=0,
    )
    seg = HematomaSegmenter(
        "resnet18",
        decoder_channels=(16, 8, 8, 8, 4) if tiny else (128, 64, 32, 16, 16),
        image_size=32 if tiny else 192,
        max_epochs=1 if tiny else 30,
        **real_ct,
    ).fit(x[~test], data.masks[~test])
    with tempfile.TemporaryDirectory() as tmp:
        # the classifier starts from the encoder the segmenter learnt from the masks (both
        # ResNet-18s), and fine-tunes it at the paper's lr 1e-4 (ctich-design.md, section 11)
        encoder = seg.save_encoder(Path(tmp) / "encoder.safetensors")
        clf = SliceClassifier(
            "resnet18",
            pretrained=str(encoder),
            image_size=32 if tiny else 128,
            max_epochs=1 if tiny else 30,
            lr=1e-4,
            **real_ct,
        ).fit(x[~test], data.labels[~test])
    for name, score in [
        ("classifier", clf.predict_proba(x[test])[:, 1]),
        ("segmenter expected area", seg.slice_score(x[test])),
    ]:
        auc = roc_auc_ci(data.labels[test], score)
        print(f"slice AUC on fold 0, {name}: {auc.auc:.3f} ({auc.ci_low:.3f}-{auc.ci_high:.3f})")

    with tempfile.TemporaryDirectory() as tmp:
        clf.save(Path(tmp) / "classifier")  # skhe's safe model format
        seg.save(Path(tmp) / "segmenter")
        detector = SliceClassifier.load(Path(tmp) / "classifier", device="cpu")
        segmenter = HematomaSegmenter.load(Path(tmp) / "segmenter", device="cpu")
    # trained on annotated slices, frozen inside the nDL score of the HE cohort (the HE head is
    # what the HE cohort trains); the segmenter alone can also pick the slices
    ndl = NDLScorer(FrozenEstimator(detector), FrozenEstimator(segmenter), image_size=512)
    by_area = NDLScorer(None, FrozenEstimator(segmenter), slice_selection="segmenter")
    # both networks' scores and their neighbouring slices', standardized on the HE cohort's
    # slices and summed with weight 1 (NDLScorer.fit reads the annotations only for the
    # threshold; "combined" would fit the weights there too)
    combined = NDLScorer(
        FrozenEstimator(detector), FrozenEstimator(segmenter), slice_selection="combined_equal"
    )
    areas = segmenter.predict_area(x[test][:4], spacing=(0.45, 0.45))
    print("NDLScorer with the frozen detector:", type(ndl.classifier).__name__)
    print("or selecting slices by segmented area:", by_area.slice_selection)
    print("or by both, with equal weights:", combined.slice_selection)
    print("segmented areas of 4 test slices (mm^2):", np.round(areas, 1))
    return auc.auc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the ct-ich folder (slices.csv, folds.csv, scans/)")
    parser.add_argument("--tiny", action="store_true", help="12 patients at 32 px, 1 epoch")
    args = parser.parse_args()
    main(args.root, args.tiny)
