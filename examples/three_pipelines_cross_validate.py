"""Image-, Clinical- and Integrated-to-HE under scikit-learn's cross_validate.

Run: ``python examples/three_pipelines_cross_validate.py`` (``--tiny``: seconds, for a check).
The cohort is skhe's synthetic one (no real patient); put your own manifest in its place.
"""

import argparse
import tempfile
from pathlib import Path

from sklearn.model_selection import StratifiedKFold, cross_validate

from skhe.datasets import make_synthetic_cohort
from skhe.exceptions import small_model_warnings_ignored
from skhe.metrics import SCORERS
from skhe.pipelines import make_clinical_to_he, make_image_to_he, make_integrated_to_he
from skhe.preprocessing import PatientSliceCache
from skhe.presets import make_ndl_scorer


def main(tiny: bool = False) -> dict:
    n, preset = (60, "tiny") if tiny else (240, "cpu")
    size = 32 if tiny else 64
    with tempfile.TemporaryDirectory() as tmp:
        df = make_synthetic_cohort(
            n, Path(tmp) / "cohort", image_size=size, n_slices=(5, 7), random_state=0
        )
        # one cache of preprocessed CTs shared by every clone cross_validate makes, and one
        # of fitted networks: Integrated-to-HE loads the networks Image-to-HE trained on
        # the same folds instead of training them again
        ndl = make_ndl_scorer(
            preset, device="cpu", slice_cache=PatientSliceCache(), memory=Path(tmp) / "fits"
        )
        models = {
            "Clinical-to-HE": make_clinical_to_he(),
            "Image-to-HE": make_image_to_he(ndl),
            "Integrated-to-HE": make_integrated_to_he(ndl),
        }
        cv = StratifiedKFold(3, shuffle=True, random_state=0)
        results = {}
        for name, model in models.items():
            with small_model_warnings_ignored():
                res = cross_validate(model, df, df["he"], cv=cv, scoring=SCORERS)
            results[name] = res["test_roc_auc"]
            print(
                f"{name:17s} AUC {res['test_roc_auc'].mean():.3f} ± {res['test_roc_auc'].std():.3f}"
            )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny networks and cohort")
    main(parser.parse_args().tiny)
