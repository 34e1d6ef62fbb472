"""GridSearchCV over a parameter deep inside the Image-to-HE pipeline (the slice classifier's).

Run: ``python examples/grid_search_deep_parameter.py`` (``--tiny``: seconds, for a check).
Nested names follow scikit-learn: ``features__image__classifier__max_epochs`` is the
``max_epochs`` of the ``classifier`` of the ``image`` branch of the ``features`` step.
"""

import argparse
import tempfile
from pathlib import Path

from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skhe.datasets import make_synthetic_cohort
from skhe.exceptions import small_model_warnings_ignored
from skhe.pipelines import make_image_to_he
from skhe.preprocessing import PatientSliceCache
from skhe.presets import make_ndl_scorer


def main(tiny: bool = False) -> GridSearchCV:
    n, preset, size = (48, "tiny", 32) if tiny else (160, "cpu", 64)
    with tempfile.TemporaryDirectory() as tmp:
        df = make_synthetic_cohort(
            n, Path(tmp) / "cohort", image_size=size, n_slices=(5, 6), random_state=1
        )
        # memory: each network fit is cached, so the grid's points train the segmenter and
        # the HE network once per fold and only the classifier once per point
        ndl = make_ndl_scorer(
            preset, device="cpu", slice_cache=PatientSliceCache(), memory=Path(tmp) / "fits"
        )
        grid = {"features__image__classifier__max_epochs": [1, 2] if tiny else [4, 8]}
        search = GridSearchCV(
            make_image_to_he(ndl),
            grid,
            scoring="roc_auc",
            cv=StratifiedKFold(2, shuffle=True, random_state=0),
        )
        with small_model_warnings_ignored():
            search.fit(df, df["he"])
    print("best:", search.best_params_, f"AUC {search.best_score_:.3f}")
    return search


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny networks and cohort")
    main(parser.parse_args().tiny)
