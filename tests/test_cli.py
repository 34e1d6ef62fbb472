import pandas as pd

from skhe.cli import main


def test_demo_prints_selection_odds_ratios_and_performance(tmp_path, capsys):
    assert main(["demo", "--n-patients", "400", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "Selected" in out and "AUC" in out and "Wilson" in out
    ors = pd.read_csv(tmp_path / "odds_ratios.csv", index_col=0)
    assert "age" in ors.index and (ors["ci_low"] < ors["odds_ratio"]).all()
    perf = pd.read_csv(tmp_path / "test_performance.csv")
    assert 0.5 < perf.loc[0, "auc"] <= 1


def test_bad_arguments_exit_non_zero(capsys):
    assert main(["demo", "--n-patients", "1", "--quiet"]) == 2
    assert "error" in capsys.readouterr().err
