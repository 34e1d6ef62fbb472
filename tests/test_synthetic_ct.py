import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from skhe.clinical import he_label
from skhe.datasets import make_synthetic_cohort
from skhe.io import load_manifest, read_ct, read_mask

# one xdist worker under `make test`: the module's fixtures are built once
pytestmark = pytest.mark.xdist_group("synthetic_ct")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "cohort"
    df = make_synthetic_cohort(64, out, image_size=128, random_state=7, progress=False)
    return out, df


def test_files_manifest_and_anatomy(cohort):
    out, df = cohort
    m = load_manifest(out / "manifest.csv", require_label=True)
    assert len(m) == 64 and m["patient_id"].is_unique
    for i in (0, 5):
        vol = read_ct(m.loc[i, "ct"])
        mask = read_mask(m.loc[i, "mask"], like=vol)
        assert vol.shape[1:] == (128, 128) and 24 <= vol.shape[0] <= 40
        assert vol.spacing[0] == 5.0
        hu = vol.hu
        assert hu.max() > 1000  # skull
        assert np.median(hu[hu < -500]) <= -990  # air
        soft = hu[(hu > 20) & (hu < 45)]
        assert soft.size > 1000  # parenchyma in 25-40 HU (with noise)
        lesion = hu[mask == 1]
        assert 45 <= np.median(lesion) <= 92
        volume = mask.sum() * np.prod(vol.spacing) / 1000
        assert volume == pytest.approx(m.loc[i, "baseline_volume"], abs=0.01)
        assert "Synthetic" not in repr(vol.metadata)
    assert (he_label(df["baseline_volume"], df["followup_volume"]) == df["he"]).all()
    assert 0.1 < df["he"].mean() < 0.4
    assert df["true_ivh"].sum() > 0  # some hematomas extend into a ventricle


def test_deterministic(cohort, tmp_path):
    out, df = cohort
    again = make_synthetic_cohort(
        64, tmp_path / "again", image_size=128, random_state=7, progress=False
    )
    paths = ["ct", "mask"]
    pd.testing.assert_frame_equal(df.drop(columns=paths), again.drop(columns=paths))
    assert (
        again["ct"] == [str((tmp_path / "again").resolve() / p / "ct") for p in df.patient_id]
    ).all()
    a = sorted((out / "SYN0003" / "ct").iterdir())
    b = sorted((tmp_path / "again" / "SYN0003" / "ct").iterdir())
    assert all(filecmp.cmp(x, y, shallow=False) for x, y in zip(a, b, strict=True))


def test_image_features_alone_carry_he_signal(tmp_path):
    df = make_synthetic_cohort(
        400, tmp_path / "big", image_size=48, n_slices=(8, 10), random_state=1, progress=False
    )
    X = np.column_stack([df.true_irregularity, df.true_heterogeneity, np.log(df.baseline_volume)])
    p = cross_val_predict(LogisticRegression(), X, df.he, cv=5, method="predict_proba")[:, 1]
    assert roc_auc_score(df.he, p) > 0.7
    clin = pd.get_dummies(df.gcs_group, drop_first=True).assign(
        age=df.age, fib=df.fibrinogen.fillna(df.fibrinogen.median())
    )
    pc = cross_val_predict(
        LogisticRegression(max_iter=1000), clin.to_numpy(float), df.he, cv=5, method="predict_proba"
    )[:, 1]
    both = np.column_stack([X, clin.to_numpy(float)])
    pb = cross_val_predict(
        LogisticRegression(max_iter=1000), both, df.he, cv=5, method="predict_proba"
    )[:, 1]
    assert roc_auc_score(df.he, pc) > 0.65
    assert roc_auc_score(df.he, pb) > max(roc_auc_score(df.he, p), roc_auc_score(df.he, pc))


def test_bad_arguments_and_existing_output(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        make_synthetic_cohort(2, tmp_path / "full", image_size=32, n_slices=(4, 4), progress=False)
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    with pytest.raises(ValueError, match="n_slices"):
        make_synthetic_cohort(2, tmp_path / "o", n_slices=(10, 5))
    assert not (tmp_path / "o").exists()


def test_returned_frame_opens_from_anywhere(cohort, tmp_path, monkeypatch):
    """The returned manifest's paths are absolute: it can be fed straight to the estimators."""
    out, df = cohort
    monkeypatch.chdir(tmp_path)  # not the cohort's folder
    assert Path(df.loc[0, "ct"]).is_absolute() and Path(df.loc[0, "mask"]).is_absolute()
    vol = read_ct(df.loc[0, "ct"])
    assert read_mask(df.loc[0, "mask"], like=vol).sum() > 0
    csv = pd.read_csv(out / "manifest.csv")
    assert csv.loc[0, "ct"] == f"{df.loc[0, 'patient_id']}/ct"  # the CSV stays relative
