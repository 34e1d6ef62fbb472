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
    t = pd.read_csv(out, keep_default_na=False)
    auc = t[(t.metric == "roc_auc")]
    assert len(auc) == 1 and 0.5 < auc["mean"].iloc[0] <= 1
    # the table says where the threshold-dependent rates' threshold comes from
    assert (t.loc[t.metric == "sensitivity", "threshold"] == "youden on the test fold").all()
    assert (auc["threshold"] == "").all()


def test_set_overrides_any_model_parameter(tmp_path, capsys):
    """--set NAME=VALUE reaches the pipeline (logistic__...) and the image model's NDLScorer."""
    from skhe.datasets import make_synthetic_cohort
    from skhe.persistence import load_model

    make_synthetic_cohort(
        60, tmp_path / "c", image_size=32, n_slices=(4, 5), random_state=4, progress=False
    )
    manifest = str(tmp_path / "c" / "manifest.csv")
    args = ["fit", "--manifest", manifest, "--quiet", "--preset", "tiny"]
    assert (
        main(
            [
                *args,
                "--model",
                "clinical",
                "--out",
                str(tmp_path / "m"),
                "--set",
                "logistic__p_enter=0.2",
                "--set",
                "logistic__screen_p=None",
            ]
        )
        == 0
    )
    lr = load_model(tmp_path / "m").named_steps["logistic"]
    assert lr.p_enter == 0.2 and lr.screen_p is None
    assert (
        main(
            [
                *args,
                "--model",
                "image",
                "--out",
                str(tmp_path / "i"),
                "--set",
                "classifier__max_epochs=1",
                "--set",
                "cv=2",
            ]
        )
        == 0
    )
    ndl = load_model(tmp_path / "i").named_steps["features"].named_transformers_["image"]
    assert ndl.cv == 2 and ndl.classifier_.n_epochs_ == 1
    assert (
        main(
            [
                *args,
                "--model",
                "image",
                "--out",
                str(tmp_path / "x"),
                "--set",
                "classifier__bogus=1",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--set classifier__bogus: no such parameter" in err and "'cv'" in err


def test_set_reaches_every_model_of_a_run_that_has_the_parameter():
    """demo/evaluate/cv build three models: an image parameter skips the clinical model (it
    used to stop the run), a pipeline parameter reaches all three, a name none has is refused."""
    import argparse

    from skhe.cli._runtime import CommandError, build_models

    def run(*sets):
        args = argparse.Namespace(preset="tiny", seed=0, device="cpu", overrides=list(sets))
        return build_models(args, ["image", "clinical", "integrated"])

    models = run("classifier__max_epochs=1", "score=descriptors", "logistic__p_enter=0.2")
    for name, model in models.items():
        params = model.get_params()
        assert params["logistic__p_enter"] == 0.2
        if name != "Clinical-to-HE":
            assert params["features__image__classifier__max_epochs"] == 1
            assert params["features__image__score"] == "descriptors"
    with pytest.raises(CommandError, match=r"--set nonsense: no such parameter.*'score'"):
        run("classifier__max_epochs=1", "nonsense=1")
