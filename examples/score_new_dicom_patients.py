"""Fit Integrated-to-HE, save it (no pickle), load it elsewhere and score new DICOM patients.

Run: ``python examples/score_new_dicom_patients.py`` (``--tiny``: seconds, for a check). The
command line does the same: ``skhe fit ... --out model/`` then ``skhe predict --model model/``.
"""

import argparse
import tempfile
from pathlib import Path

from skhe.datasets import make_synthetic_cohort
from skhe.exceptions import small_model_warnings_ignored
from skhe.persistence import load_model, save_model
from skhe.pipelines import make_integrated_to_he
from skhe.presets import make_ndl_scorer


def main(tiny: bool = False):
    n, preset, size = (60, "tiny", 32) if tiny else (240, "cpu", 64)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train = make_synthetic_cohort(
            n, tmp / "train", image_size=size, n_slices=(5, 6), random_state=2
        )
        new = make_synthetic_cohort(
            6, tmp / "new", image_size=size, n_slices=(5, 6), random_state=3
        ).drop(columns=["mask", "he"])  # new patients: a DICOM folder and clinical values
        model = make_integrated_to_he(make_ndl_scorer(preset, device="cpu"), threshold="youden")
        with small_model_warnings_ignored():
            model.fit(train, train["he"])
        save_model(model, tmp / "model", kind="integrated")  # JSON + safetensors

        loaded = load_model(tmp / "model")  # only allow-listed classes are rebuilt
        prob = loaded.predict_proba(new)[:, 1]
        call = loaded.predict(new)  # at the model's own threshold_ (Youden on training data)
        for pid, p, c in zip(new["patient_id"], prob, call, strict=True):
            print(f"{pid}: P(HE) = {p:.3f} -> {'expansion' if c else 'no expansion'}")
        print("threshold:", round(loaded.named_steps["logistic"].threshold_, 3))
    return prob, call


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny networks and cohort")
    main(parser.parse_args().tiny)
