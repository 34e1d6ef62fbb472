"""Wrong masks, manifests and clinical values: an error naming the row/column, or a warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest

from skhe.cli import main
from skhe.clinical import PLAUSIBLE_RANGES, check_clinical_values
from skhe.datasets import make_clinical_cohort, make_synthetic_cohort
from skhe.exceptions import DataError, DataWarning
from skhe.io import (
    ManifestError,
    ct_affine,
    load_manifest,
    read_ct,
    read_mask,
    write_dicom_series,
    write_nifti,
)
from skhe.pipelines import make_clinical_to_he


# ----------------------------------------------------------------------------- masks
@pytest.fixture
def ct_and_mask(tmp_path):
    hu = np.zeros((6, 20, 24), np.int16)
    write_dicom_series(hu, tmp_path / "ct", spacing=(5.0, 0.5, 0.5), origin=(-6.0, -5.0, 0.0))
    vol = read_ct(tmp_path / "ct")
    mask = np.zeros(hu.shape, np.uint8)
    mask[2:4, 3:9, 2:7] = 1  # off-centre, so a flip moves it
    return vol, mask


def _save(mask_zyx, affine, path):
    nib.save(nib.Nifti1Image(np.transpose(mask_zyx, (2, 1, 0)), affine), str(path))
    return path


def test_mask_on_the_ct_grid_reads_as_written(ct_and_mask, tmp_path):
    vol, mask = ct_and_mask
    write_nifti(mask, tmp_path / "m.nii.gz", like=vol)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.nii.gz", like=vol), mask)


def test_mask_with_flipped_affine_against_the_ct_is_refused(ct_and_mask, tmp_path):
    """The reported case: the affine flipped, the voxels not: it would miss the hematoma."""
    vol, mask = ct_and_mask
    aff = ct_affine(vol).copy()
    aff[:3, 0] *= -1
    path = _save(mask, aff, tmp_path / "flipped.nii.gz")
    with pytest.raises(DataError, match=r"flipped.nii.gz: the mask's NIfTI geometry does not"):
        read_mask(path, like=vol)
    as_is = read_mask(path, like=vol, check_geometry=False)
    np.testing.assert_array_equal(as_is, mask)


def test_mask_stored_reoriented_is_put_back_on_the_ct_grid(ct_and_mask, tmp_path):
    """A converter that flips x and y (voxels and affine together): same voxels in space."""
    vol, mask = ct_and_mask
    aff = ct_affine(vol).copy()
    nx, ny = mask.shape[2], mask.shape[1]
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3], flip[1, 3] = nx - 1, ny - 1
    path = _save(mask[:, ::-1, ::-1], aff @ flip, tmp_path / "ras.nii.gz")
    back = read_mask(path, like=vol)
    assert int((back & mask).sum()) == int(mask.sum())  # all voxels overlap, not a few
    np.testing.assert_array_equal(back, mask)


def test_mask_shifted_against_the_ct_is_refused(ct_and_mask, tmp_path):
    vol, mask = ct_and_mask
    aff = ct_affine(vol).copy()
    aff[:3, 3] += [3.0, 0.0, 0.0]  # 6 voxels
    with pytest.raises(DataError, match="first voxel lies at CT voxel"):
        read_mask(_save(mask, aff, tmp_path / "shift.nii.gz"), like=vol)


def test_empty_mask_with_a_baseline_volume_warns_naming_the_patient(tmp_path):
    from skhe.cli._checks import check_mask_volumes

    make_synthetic_cohort(
        4, tmp_path / "c", image_size=32, n_slices=(4, 5), random_state=0, progress=False
    )
    df = load_manifest(tmp_path / "c" / "manifest.csv")
    m = read_mask(df.loc[1, "mask"])
    write_nifti(np.zeros_like(m), df.loc[1, "mask"], like=read_ct(df.loc[1, "ct"]))
    with pytest.warns(DataWarning, match=rf"patient {df.loc[1, 'patient_id']}: .* is empty") as w:
        check_mask_volumes(df, ["image"])
    assert len(w) == 1 and w[0].message.patient == df.loc[1, "patient_id"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        check_mask_volumes(df, ["clinical"])  # the clinical model reads no mask


@pytest.mark.slow
def test_data_warnings_reach_terminal_log_and_report(tmp_path, capsys):
    """A gap in one patient's CT and an empty mask in another's: seen everywhere, per patient."""
    make_synthetic_cohort(
        30, tmp_path / "c", image_size=32, n_slices=(5, 6), random_state=2, progress=False
    )
    df = load_manifest(tmp_path / "c" / "manifest.csv")
    last = sorted(Path(df.loc[0, "ct"]).iterdir())[-1]  # move the top slice up: a 10 mm gap
    ds = pydicom.dcmread(last)
    ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], ds.ImagePositionPatient[2] + 5.0]
    ds.save_as(last, enforce_file_format=True)
    write_nifti(
        np.zeros_like(read_mask(df.loc[1, "mask"])),
        df.loc[1, "mask"],
        like=read_ct(df.loc[1, "ct"]),
    )
    out = tmp_path / "report"
    code = main(
        [
            "evaluate",
            "--manifest",
            str(tmp_path / "c" / "manifest.csv"),
            "--models",
            "image",
            "--preset",
            "tiny",
            "--cv",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    p0, p1 = df.loc[0, "patient_id"], df.loc[1, "patient_id"]
    assert "warning:" in err and "gap of 10.00 mm" in err and f"patient {p1}" in err
    log = (out / "skhe.log").read_text()
    assert "gap of 10.00 mm" in log and f"patient {p1}" in log
    table = pd.read_csv(out / "tables" / "data_warnings.csv", dtype=str)
    assert set(table["patient"]) == {p0, p1}
    assert table["message"].str.contains("gap").sum() == 1  # once, not once per fold
    html = (out / "report.html").read_text()
    assert "Data warnings" in html and "2 warning(s) about the input data, for 2 patient" in html
    assert "Youden on each fold&#x27;s training folds" in html  # where thresholds were chosen
    t3 = pd.read_csv(out / "tables" / "table3_performance.csv")
    assert t3["threshold_rule"].str.contains("mean over the folds").all()
    import json

    assert json.loads((out / "methods.json").read_text())["synthetic"] is True  # evaluate too


# ----------------------------------------------------------------------------- clinical
def test_all_missing_column_is_an_error_not_silently_dropped():
    df = make_clinical_cohort(80, random_state=0)
    df["fibrinogen"] = np.nan
    with pytest.raises(DataError, match="'fibrinogen' is missing for every patient"):
        make_clinical_to_he().fit(df, df["he"])


@pytest.mark.parametrize(("column", "value"), [("age", -5), ("sbp", -120), ("platelet", -1)])
def test_impossible_values_are_errors_naming_the_row(column, value):
    df = make_clinical_cohort(80, random_state=0)
    df.loc[7, column] = value
    with pytest.raises(DataError, match=rf"column '{column}': 1 value.*plausible.*row 7: {value}"):
        make_clinical_to_he().fit(df, df["he"])
    ranges = {**PLAUSIBLE_RANGES, column: (-1000, 1000)}
    make_clinical_to_he(ranges=ranges).fit(df, df["he"])  # the explicit override accepts them


def test_text_in_a_numeric_column_names_line_and_patient():
    df = make_clinical_cohort(10, random_state=0)
    df["age"] = df["age"].astype(object)
    df.loc[3, "age"] = "sixty"
    rows = [f"line {i + 2} (patient {p})" for i, p in enumerate(df["patient_id"])]
    with pytest.raises(DataError, match=r"'age' must be numeric; line 5 \(patient SYN0004\): "):
        check_clinical_values(df, ["age"], row_names=rows)


# ----------------------------------------------------------------------------- manifest
@pytest.fixture
def manifest_dir(tmp_path):
    (tmp_path / "ct").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("patient_id;ct;he\nP1;ct;1\n", r"found \['patient_id;ct;he'\].*semicolon-delimited"),
        ("patient_id,ct,he \nP1,ct,1\n", r"leading/trailing spaces \['he '\]"),
        ("patient_id,ct,he\n", "has a header but no patient rows"),
        ("", "the file is empty"),
        (
            "patient_id,ct,he\nP1,ct,1\nP2,ct,yes\nP3,ct,0\n",
            r"1 problem\(s\):\n  line 3: he must be 0 or 1, got 'yes'$",
        ),
    ],
    ids=["semicolons", "spaced-header", "header-only", "empty", "bad-label-one-row"],
)
def test_manifest_problems_say_what_was_found(manifest_dir, text, message):
    f = manifest_dir / "m.csv"
    f.write_text(text)
    with pytest.raises(ManifestError, match=message):
        load_manifest(f, require_label=True)


def test_cli_names_line_and_patient_and_logs_imputation(tmp_path, capsys):
    df = make_clinical_cohort(100, random_state=1)
    (tmp_path / "ct").mkdir()
    df["ct"] = "ct"
    df.loc[4, "sbp"] = -130
    df.to_csv(tmp_path / "m.csv", index=False)
    args = ["fit", "--manifest", str(tmp_path / "m.csv"), "--model", "clinical", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert "line 6 (patient SYN0005): -130" in err and len(err.strip().splitlines()) == 1
    df.loc[4, "sbp"] = 130
    df.to_csv(tmp_path / "m.csv", index=False)
    assert main([*args, "--out", str(tmp_path / "model")]) == 0
    log = (tmp_path / "model" / "fit.log").read_text()
    n_missing = int(df["fibrinogen"].isna().sum())
    assert n_missing > 0 and f"imputing {n_missing} missing value(s) of 'fibrinogen'" in log


def test_clinical_model_needs_no_image_columns(tmp_path):
    """skhe fit --model clinical on a table without ct/mask columns (it reads no image)."""
    df = make_clinical_cohort(120, random_state=2)
    df.to_csv(tmp_path / "clinical.csv", index=False)
    args = ["fit", "--manifest", str(tmp_path / "clinical.csv"), "--quiet"]
    assert main([*args, "--model", "clinical", "--out", str(tmp_path / "m")]) == 0
    assert main([*args, "--model", "image", "--out", str(tmp_path / "m2")]) == 2


@pytest.mark.parametrize("factory", ["clinical", "integrated"])
def test_missing_column_is_the_same_error_at_fit_and_predict(factory):
    from skhe.pipelines import make_integrated_to_he
    from skhe.presets import make_ndl_scorer

    df = make_clinical_cohort(100, random_state=0)
    build = (
        make_clinical_to_he
        if factory == "clinical"
        else lambda: make_integrated_to_he(make_ndl_scorer("tiny"))
    )
    if factory == "clinical":
        model = build().fit(df, df["he"])
        with pytest.raises(ValueError, match=r"missing column\(s\) \['age'\] needed by this model"):
            model.predict_proba(df.drop(columns=["age"]))
    else:
        df["ct"] = "unused"
    with pytest.raises(ValueError, match=r"missing column\(s\) \['age'\] needed by this model"):
        build().fit(df.drop(columns=["age"]), df["he"])
