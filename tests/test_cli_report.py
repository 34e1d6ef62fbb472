"""Command line, report and safe model format on a tiny synthetic cohort (32 px, tiny nets)."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from skhe.cli import main
from skhe.datasets import make_synthetic_cohort
from skhe.io import load_manifest
from skhe.persistence import ModelFormatError, load_model, save_model
from skhe.pipelines import make_clinical_to_he


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli") / "cohort"
    make_synthetic_cohort(40, d, image_size=32, n_slices=(6, 7), random_state=3, progress=False)
    return d / "manifest.csv"


def test_fit_predict_roundtrip_and_safe_format(cohort, tmp_path):
    model_dir = tmp_path / "model"
    assert (
        main(
            [
                "fit",
                "--manifest",
                str(cohort),
                "--model",
                "clinical",
                "--out",
                str(model_dir),
                "--quiet",
            ]
        )
        == 0
    )
    assert (model_dir / "skhe-model.json").is_file() and (model_dir / "fit.log").is_file()
    # existing output is not overwritten without --overwrite (exit 2, one line)
    assert (
        main(
            [
                "fit",
                "--manifest",
                str(cohort),
                "--model",
                "clinical",
                "--out",
                str(model_dir),
                "--quiet",
            ]
        )
        == 2
    )
    out = tmp_path / "pred.csv"
    assert (
        main(
            [
                "predict",
                "--model",
                str(model_dir),
                "--manifest",
                str(cohort),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    import pandas as pd

    pred = pd.read_csv(out)
    df = load_manifest(cohort)
    direct = make_clinical_to_he().fit(df, df["he"]).predict_proba(df)[:, 1]
    np.testing.assert_allclose(pred["probability"], direct, atol=1e-6)


def test_tampered_model_is_refused(tmp_path, cohort):
    df = load_manifest(cohort)
    m = make_clinical_to_he().fit(df, df["he"])
    save_model(m, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "skhe-model.json").read_text())
    doc["estimator"]["$object"] = "os:system"
    (tmp_path / "m" / "skhe-model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFormatError, match="os:system"):
        load_model(tmp_path / "m")


def test_other_version_warns(tmp_path, cohort):
    df = load_manifest(cohort)
    save_model(make_clinical_to_he().fit(df, df["he"]), tmp_path / "m")
    f = tmp_path / "m" / "skhe-model.json"
    f.write_text(f.read_text().replace('"skhe_version": "', '"skhe_version": "0.0.0-'))
    with pytest.warns(UserWarning, match="saved by skhe 0.0.0"):
        load_model(tmp_path / "m")


def test_bad_input_exit_codes(tmp_path, cohort, capsys):
    assert (
        main(["evaluate", "--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path / "r")])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.csv" in err[0]
    assert (
        main(
            [
                "evaluate",
                "--manifest",
                str(cohort),
                "--out",
                str(tmp_path / "r"),
                "--models",
                "image,bogus",
            ]
        )
        == 2
    )
    assert "bogus" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_report_renders_in_chromium(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--preset", "tiny", "--out", str(out), "--quiet"]) == 0
    for name in (
        "report.html",
        "skhe.log",
        "methods.json",
        "tables/table3_performance.csv",
        "figures/roc.png",
        "figures/calibration.png",
        "figures/decision_curves.png",
    ):
        assert (out / name).is_file(), name
    html = (out / "report.html").read_text()
    for text in ("Table 1", "Table 2", "Table 3", "Integrated-to-HE", "DeLong", "SYNTHETIC"):
        assert text in html
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'prof'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (out / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    import re

    loaded = re.search(r'data-figures-loaded="(\d+)"', dom)
    total = re.search(r'data-figures-total="(\d+)"', dom)
    assert loaded and total and int(total.group(1)) >= 3
    assert loaded.group(1) == total.group(1)


@pytest.mark.slow
def test_no_dicom_identifier_reaches_any_output(tmp_path):
    from skhe.io import read_ct, write_dicom_series

    cohort = tmp_path / "cohort"
    make_synthetic_cohort(
        40, cohort, image_size=32, n_slices=(6, 7), random_state=5, progress=False
    )
    df = load_manifest(cohort / "manifest.csv")
    secrets = ("DOE^JANE", "MRN-771234", "St Example Hospital")
    for i, row in df.iterrows():
        vol = read_ct(row["ct"])
        shutil.rmtree(row["ct"])
        write_dicom_series(
            vol.hu,
            row["ct"],
            spacing=vol.spacing,
            origin=tuple(vol.origin),  # the masks stay on their CT's grid
            patient_name=f"{secrets[0]}{i}",
            patient_id=f"{secrets[1]}{i}",
            institution=secrets[2],
        )
    out = tmp_path / "report"
    assert (
        main(
            [
                "evaluate",
                "--manifest",
                str(cohort / "manifest.csv"),
                "--out",
                str(out),
                "--cv",
                "2",
                "--preset",
                "tiny",
                "--quiet",
            ]
        )
        == 0
    )
    model = tmp_path / "model"
    assert (
        main(
            [
                "fit",
                "--manifest",
                str(cohort / "manifest.csv"),
                "--model",
                "image",
                "--preset",
                "tiny",
                "--out",
                str(model),
                "--quiet",
            ]
        )
        == 0
    )
    pred = tmp_path / "pred" / "p.csv"
    assert (
        main(
            [
                "predict",
                "--model",
                str(model),
                "--manifest",
                str(cohort / "manifest.csv"),
                "--out",
                str(pred),
                "--quiet",
            ]
        )
        == 0
    )
    files = [p for d in (out, model, pred.parent) for p in d.rglob("*") if p.is_file()]
    assert len(files) > 10
    for p in files:
        assert not any(s.split("^")[0] in p.name for s in secrets)
        data = p.read_bytes()
        for s in secrets:  # full strings: short ones occur by chance in base64 figures
            assert s.encode() not in data, f"{s!r} found in {p}"
