"""Every script in examples/ runs (tiny networks and cohorts) and gives sensible numbers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    tested = {
        "three_pipelines_cross_validate",
        "grid_search_deep_parameter",
        "statistics_on_your_predictions",
        "score_new_dicom_patients",
        "ctich_detector",
    }
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_three_pipelines_cross_validate(capsys):
    aucs = _load("three_pipelines_cross_validate").main(tiny=True)
    assert set(aucs) == {"Clinical-to-HE", "Image-to-HE", "Integrated-to-HE"}
    assert all(np.isfinite(a).all() and len(a) == 3 for a in aucs.values())
    assert "Integrated-to-HE  AUC" in capsys.readouterr().out


def test_grid_search_deep_parameter():
    search = _load("grid_search_deep_parameter").main(tiny=True)
    assert search.best_params_["features__image__classifier__max_epochs"] in (1, 2)


def test_statistics_on_your_predictions():
    out = _load("statistics_on_your_predictions").main()
    perf = out["performance"]
    assert 0.5 < out["auc"].auc < 1 and 0 <= out["delong"].p_value <= 1
    assert perf.tp + perf.fn + perf.tn + perf.fp == 107  # the paper's test set size
    assert perf.sensitivity == pytest.approx(perf.tp / (perf.tp + perf.fn))
    assert perf.sensitivity_ci[0] <= perf.sensitivity <= perf.sensitivity_ci[1]


def test_score_new_dicom_patients():
    prob, call = _load("score_new_dicom_patients").main(tiny=True)
    assert prob.shape == (6,) and ((prob >= 0) & (prob <= 1)).all()
    assert set(np.unique(call)) <= {0, 1}


@pytest.mark.shared_data
def test_ctich_detector(ctich_dir):
    auc = _load("ctich_detector").main(ctich_dir, tiny=True)
    assert 0 <= auc <= 1
