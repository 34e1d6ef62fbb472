"""NDLScorer(score="descriptors"): hematoma descriptors on the segmented hematoma instead of an HE
network (small synthetic cohort, tiny networks)."""

import copy
import logging

import numpy as np
import pytest
from _roi_scorers import SIZE, small_native_cohort, small_roi_scorer
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from skhe.exceptions import DataWarning
from skhe.explain import descriptor_rois, ndl_grad_cam
from skhe.neural import MultiTaskHEModel, NDLScorer
from skhe.pipelines import make_integrated_to_he
from skhe.preprocessing import DESCRIPTORS, hematoma_descriptors

# one xdist worker under `make test`: the module's fixtures are built once
pytestmark = pytest.mark.xdist_group("ndl_descriptors")


def descriptor_ndl(**kw):
    params = dict(slice_selection="segmenter", score="descriptors", roi_size=32)
    return small_roi_scorer(**{**params, **kw})


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return small_native_cohort(tmp_path_factory.mktemp("desc") / "cohort", 30, seed=8)


@pytest.fixture(scope="module")
def fitted(cohort):
    return descriptor_ndl().fit(cohort, cohort["he"])


def test_no_he_network_is_trained(cohort, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the HE network was trained")

    monkeypatch.setattr(MultiTaskHEModel, "fit", refuse)
    ndl = descriptor_ndl().set_params(segmenter__max_epochs=1).fit(cohort, cohort["he"])
    assert ndl.he_model_ is None
    assert list(ndl.descriptor_names_) == list(DESCRIPTORS)
    assert ndl.descriptor_coef_.shape == (len(DESCRIPTORS),)


def test_scores_are_the_regression_on_the_measured_descriptors(fitted, cohort):
    table = fitted.descriptor_table(cohort.iloc[:6])
    assert list(table.columns) == ["patient", *DESCRIPTORS, "ndl_score"]
    np.testing.assert_allclose(
        table["ndl_score"], fitted.transform(cohort.iloc[:6])[:, 0], rtol=1e-10
    )
    # by hand: the regression's log-odds, standardized like the nDL
    z = (table[list(DESCRIPTORS)].to_numpy() - fitted.descriptor_mean_) / fitted.descriptor_scale_
    lo = fitted.descriptor_intercept_ + z @ fitted.descriptor_coef_
    np.testing.assert_allclose(
        table["ndl_score"], (lo - fitted.center_) / fitted.scale_, rtol=1e-8, atol=1e-8
    )
    ors = fitted.descriptor_odds_ratios()
    np.testing.assert_allclose(ors.to_numpy(), np.exp(fitted.descriptor_coef_))


def test_the_view_shows_what_was_measured(fitted, cohort):
    row = cohort.iloc[[0]]
    view = descriptor_rois(fitted, row)
    assert view["images"].shape[1:] == (32, 32) and view["mask"].shape == view["images"].shape
    again = hematoma_descriptors(
        view["images"],
        view["mask"],
        pixel_mm=(60.0 / 32, 60.0 / 32),
        slice_mm=5.0,
    )
    for k in DESCRIPTORS:
        assert view["descriptors"][k] == pytest.approx(again[k])
    with pytest.raises(ValueError, match="descriptor"):
        ndl_grad_cam(fitted, row)


def test_a_patient_without_segmented_hematoma_gets_the_average_and_a_warning(
    fitted, cohort, monkeypatch
):
    import skhe.neural._ndl_descriptors as mod

    monkeypatch.setattr(mod, "hematoma_mask", lambda prob: None)
    with pytest.warns(DataWarning, match="no hematoma segmented"):
        s = fitted.transform(cohort.iloc[:2])
    average = (fitted.descriptor_intercept_ - fitted.center_) / fitted.scale_
    np.testing.assert_allclose(s[:, 0], average, atol=1e-9)


def test_saved_and_loaded_and_reused_frozen(fitted, cohort, tmp_path):
    from skhe.persistence import load_model, save_model

    save_model(fitted, tmp_path / "ndl")
    loaded = load_model(tmp_path / "ndl")
    assert loaded.score == "descriptors" and loaded.he_model_ is None
    np.testing.assert_allclose(
        loaded.transform(cohort.iloc[:4]), fitted.transform(cohort.iloc[:4]), atol=1e-8
    )
    # frozen networks (no HE model needed): only the descriptor regression is fit
    frozen = NDLScorer(
        None,
        FrozenEstimator(fitted.segmenter_),
        None,
        image_size=SIZE,
        slice_selection="segmenter",
        score="descriptors",
        roi_mm=60.0,
        roi_size=32,
        cv=None,
    ).fit(cohort, cohort["he"])
    np.testing.assert_allclose(frozen.descriptor_coef_, fitted.descriptor_coef_, rtol=1e-6)


def test_score_is_a_nested_parameter(fitted):
    pipe = make_integrated_to_he(clone(fitted))
    assert pipe.get_params()["features__image__score"] == "descriptors"
    pipe.set_params(features__image__score="dl", features__image__descriptor_C=1.0)
    assert pipe.get_params()["features__image__score"] == "dl"
    with pytest.raises(ValueError, match="score"):
        clone(fitted).set_params(score="radiomics").fit(None, [0, 1])
    as_dl = copy.copy(fitted)
    as_dl.score = "dl"
    with pytest.raises(ValueError, match="score='descriptors'"):
        as_dl.descriptor_table(None)


def test_a_patient_without_selected_slices_is_measured_on_its_largest_and_named(fitted, cohort):
    strict = copy.copy(fitted)
    strict.slice_threshold_ = 1e9  # no slice reaches it
    with pytest.warns(DataWarning, match="no hematoma slice found.*largest segmented area"):
        s = strict.transform(cohort.iloc[:2])
        table = strict.slice_table(cohort.iloc[:1])
    assert np.isfinite(s).all()
    view = descriptor_rois(strict, cohort.iloc[[0]])
    assert list(view["slices"]) == [int(table["area_mm2"].to_numpy().argmax())]


def test_memory_trains_a_segmenter_shared_by_two_scores_once(
    fitted, cohort, tmp_path, monkeypatch, caplog
):
    """Under ``memory`` each network fit is also cached on its own: after a ``score="dl"``
    scorer, a descriptor scorer with the same segmenter trains no segmenter, and the fit it
    loads is the one trained without the cache."""
    import torch

    from skhe.neural import HematomaSegmenter

    trained = []
    fit = HematomaSegmenter.fit

    def counted(self, X, *args, **kwargs):
        trained.append(len(X))
        return fit(self, X, *args, **kwargs)

    monkeypatch.setattr(HematomaSegmenter, "fit", counted)
    caplog.set_level(logging.INFO, logger="skhe")  # the progress lines go to skhe's logger
    cache = tmp_path / "cache"
    descriptor_ndl(score="dl", cv=2, memory=cache).fit(cohort, cohort["he"])
    assert len(trained) == 3  # two cross-fitting folds and all training patients
    cached = descriptor_ndl(cv=2, memory=cache, verbose=1).fit(cohort, cohort["he"])
    assert len(trained) == 3
    progress = caplog.text
    assert progress.count("hematoma segmenter on") == progress.count("from the cache ...") == 3
    # ``fitted`` trained the same segmenter on the same slices (all patients), uncached
    weights = fitted.segmenter_.module_.state_dict()
    assert weights.keys() == cached.segmenter_.module_.state_dict().keys()
    for name, w in cached.segmenter_.module_.state_dict().items():
        assert torch.equal(w, weights[name]), name
