import pandas as pd
import pytest

from skhe.cli import main


def test_bad_arguments_exit_non_zero(tmp_path, capsys):
    assert main(["demo", "--n-patients", "1", "--quiet", "--out", str(tmp_path / "d")]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_existing_report_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("old")
    assert main(["demo", "--preset", "tiny", "--quiet", "--out", str(out)]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert (out / "report.html").read_text() == "old"


@pytest.mark.slow
def test_cv_command_table(tmp_path):
    from skhe.datasets import make_synthetic_cohort

    make_synthetic_cohort(
        200, tmp_path / "c", image_size=32, n_slices=(4, 5), random_state=0, progress=False
    )
    out = tmp_path / "cv.csv"
    assert (
        main(
            [
                "cv",
                "--manifest",
                str(tmp_path / "c" / "manifest.csv"),
                "--models",
                "clinical",
                "--cv",
                "3",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    t = pd.read_csv(out)
    auc = t[(t.metric == "roc_auc")]
    assert len(auc) == 1 and 0.5 < auc["mean"].iloc[0] <= 1
