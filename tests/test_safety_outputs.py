"""--overwrite never deletes inputs; unwritable outputs, bad options and signals end cleanly."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from skhe.cli import main
from skhe.datasets import make_synthetic_cohort
from skhe.exceptions import OutputError
from skhe.persistence import save_model
from skhe.utils import MARKER, atomic_output_dir, check_output_dir


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A small synthetic DICOM + NIfTI cohort; a fresh copy per test that may damage it."""
    d = tmp_path_factory.mktemp("outputs") / "cohort"
    make_synthetic_cohort(60, d, image_size=32, n_slices=(4, 5), random_state=1, progress=False)
    return d


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _fit_clinical(manifest, out, *extra) -> int:
    args = ["fit", "--manifest", str(manifest), "--model", "clinical", "--out", str(out)]
    return main([*args, "--quiet", *extra])


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_overwrite_never_deletes_the_inputs(cohort, capsys):
    """The reported case: fit --out <cohort folder> --overwrite deleted the manifest and DICOM."""
    before = _files(cohort)
    manifest = cohort / "manifest.csv"
    for out in (cohort, cohort / "manifest.csv", cohort / "SYN0001" / "ct", cohort.parent):
        assert _fit_clinical(manifest, out, "--overwrite") == 2
        assert "input" in _one_error_line(capsys)
        assert _files(cohort) == before


def test_overwrite_replaces_only_folders_skhe_wrote(cohort, tmp_path, capsys):
    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work")
    args = ["fit", "--manifest", str(cohort / "manifest.csv"), "--model", "clinical", "--quiet"]
    assert main([*args, "--out", str(mine), "--overwrite"]) == 2
    assert "not a folder skhe wrote" in _one_error_line(capsys)
    assert (mine / "thesis.docx").read_text() == "years of work"
    model = tmp_path / "model"
    assert main([*args, "--out", str(model)]) == 0
    assert (model / MARKER).is_file()
    assert main([*args, "--out", str(model)]) == 2
    assert "--overwrite" in _one_error_line(capsys)
    assert main([*args, "--out", str(model), "--overwrite"]) == 0


def test_atomic_output_dir_checks_inputs_and_marker(tmp_path):
    src = tmp_path / "data" / "scan"
    src.mkdir(parents=True)
    with pytest.raises(OutputError, match="contains an input"):
        check_output_dir(tmp_path / "data", True, inputs=[src])
    with pytest.raises(OutputError, match="lies inside the input folder"):
        check_output_dir(src / "out", True, inputs=[src])
    with atomic_output_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("1")
    assert (tmp_path / "out" / MARKER).is_file()
    with atomic_output_dir(tmp_path / "out", overwrite=True) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(os.listdir(tmp_path / "out")) == [MARKER, "b.txt"]


@pytest.fixture(scope="module")
def clinical_model(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "model"
    assert _fit_clinical(cohort / "manifest.csv", out) == 0
    return out


def _predict(model, manifest, out, *extra):
    return main(
        [
            "predict",
            "--model",
            str(model),
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )


def test_predict_output_problems_are_one_clear_line(cohort, clinical_model, tmp_path, capsys):
    manifest = cohort / "manifest.csv"
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert _predict(clinical_model, manifest, folder) == 2
    assert "is a folder" in _one_error_line(capsys)
    (tmp_path / "plain_file").write_text("x")
    assert _predict(clinical_model, manifest, tmp_path / "plain_file" / "p.csv") == 2
    assert "is a file, not a folder" in _one_error_line(capsys)
    before = manifest.read_text()
    assert _predict(clinical_model, manifest, manifest, "--overwrite") == 2
    assert "input" in _one_error_line(capsys)
    assert manifest.read_text() == before
    assert _predict(clinical_model, manifest, clinical_model / "p.csv") == 2
    assert "input" in _one_error_line(capsys)
    other = tmp_path / "notes.csv"
    other.write_text("my,own\n1,2\n")
    assert _predict(clinical_model, manifest, other, "--overwrite") == 2
    assert "not a table skhe wrote" in _one_error_line(capsys)
    good = tmp_path / "pred.csv"
    assert _predict(clinical_model, manifest, good) == 0
    assert _predict(clinical_model, manifest, good, "--overwrite") == 0
    assert list(pd.read_csv(good).columns) == ["patient_id", "probability", "prediction"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_read_only_output_is_one_line(cohort, clinical_model, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert _predict(clinical_model, cohort / "manifest.csv", ro / "p.csv") == 2
        assert "Permission denied" in _one_error_line(capsys)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize(
    ("code", "text"),
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")],
)
def test_unwritable_output_is_one_line_and_nothing_half_written(
    cohort, tmp_path, capsys, monkeypatch, code, text
):
    """A read-only file system or a full disk while the model is written: exit 2, one line."""
    import skhe.persistence

    def full(*a, **k):
        raise OSError(code, text, str(tmp_path / "model"))

    monkeypatch.setattr(skhe.persistence, "save_file", full, raising=False)
    monkeypatch.setattr("safetensors.torch.save_file", full)
    code = _fit_clinical(cohort / "manifest.csv", tmp_path / "model")
    assert code == 2
    line = _one_error_line(capsys)
    assert text in line
    assert not (tmp_path / "model").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.partial")]


def test_a_full_disk_under_the_log_stops_the_run_with_one_line(cohort, tmp_path):
    """Writes to the log fail (/dev/full): one line, not a 'Logging error' per message."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    from skhe.cli._runtime import LOGGER, run_log

    with pytest.raises(OSError, match="No space left on device"):
        with run_log("/dev/full", quiet=True):
            LOGGER.info("x" * 10_000)
            for _ in range(200):
                LOGGER.info("more")


@pytest.mark.parametrize("device", ["gpu0", "cuda0", "CUDA", "cuda:x"])
def test_bad_device_lists_the_valid_ones(cohort, tmp_path, capsys, device):
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "fit",
                "--manifest",
                str(cohort / "manifest.csv"),
                "--model",
                "image",
                "--out",
                str(tmp_path / "m"),
                "--device",
                device,
            ]
        )
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"invalid device {device!r}" in err and "cpu, cuda, cuda:N" in err


def test_fold_counts_are_checked(cohort, tmp_path, capsys):
    df = pd.read_csv(cohort / "manifest.csv")
    few = pd.concat([df[df.he == 1].head(3), df[df.he == 0]])
    manifest = cohort / "few_he.csv"
    few.to_csv(manifest, index=False)
    try:
        assert (
            main(
                ["cv", "--manifest", str(manifest), "--models", "clinical", "--cv", "5", "--quiet"]
            )
            == 2
        )
        line = _one_error_line(capsys)
        assert "too few HE patients for 5-fold" in line and "3 with HE" in line
        assert "--cv 3" in line
        with pytest.raises(SystemExit):
            main(
                ["evaluate", "--manifest", str(manifest), "--out", str(tmp_path / "r"), "--cv", "0"]
            )
        assert "at least 2 folds" in capsys.readouterr().err
    finally:
        manifest.unlink()


def test_sigterm_cleans_up_like_sigint(tmp_path):
    """SIGTERM during the demo: exit 143, no temporary folder, no partial output, a log."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from skhe.cli import main; sys.exit(main())",
            "demo",
            "--preset",
            "tiny",
            "--n-patients",
            "160",
            "--out",
            str(out),
            "--quiet",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 180  # the networks' cache folder appears when fitting starts
    while time.time() < deadline and not list(tmp.glob("skhe-ndl-cache-*")):
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    created = [p for p in tmp.iterdir() if p.name.startswith("skhe-")]
    assert len(created) == 2  # the synthetic cohort and the networks' cache
    assert all((p.stat().st_mode & 0o777) == 0o700 for p in created)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminated" in err
    assert [p.name for p in tmp.iterdir()] == []
    assert not out.exists()
    assert (tmp_path / "demo.failed.log").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".demo")]


def test_save_model_refuses_to_replace_foreign_folder(tmp_path):
    from sklearn.preprocessing import StandardScaler

    foreign = tmp_path / "f"
    foreign.mkdir()
    (foreign / "data.csv").write_text("1")
    with pytest.raises(OutputError, match="not a folder skhe wrote"):
        save_model(StandardScaler().fit([[0.0], [1.0]]), foreign, overwrite=True)
    assert (foreign / "data.csv").read_text() == "1"


def test_demo_on_valid_data_raises_no_warning(tmp_path, capsys):
    """Nothing valid is refused or flagged: the synthetic cohort passes every check."""
    out = tmp_path / "demo"
    assert main(["demo", "--preset", "tiny", "--n-patients", "40", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning:" not in err
    # progress bars stay off a non-terminal stderr: no bar debris, no blank lines but the table's
    assert "\r" not in err and err.count("\n\n") <= 1
    assert pd.read_csv(out / "tables" / "data_warnings.csv").empty
    assert "No data warnings" in (out / "report.html").read_text()
