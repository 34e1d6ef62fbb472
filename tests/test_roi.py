"""Hematoma-centred ROIs: the pure geometry functions and NDLScorer(he_input="roi")."""

import numpy as np
import pytest
from _roi_scorers import DEC, NATIVE, SIZE, small_native_cohort, small_roi_scorer
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from skhe.explain import ndl_grad_cam
from skhe.neural import MultiTaskHEModel, NDLScorer
from skhe.preprocessing import (
    cut_rois,
    model_to_native,
    native_to_model,
    paste_rois,
    resize,
    roi_centres,
)

# one xdist worker under `make test`: the module's fixtures are built once
pytestmark = pytest.mark.xdist_group("roi")


def disc(shape, centre, radius_px):
    r, c = np.mgrid[: shape[0], : shape[1]]
    return (((r - centre[0]) ** 2 + (c - centre[1]) ** 2) <= radius_px**2).astype(np.float32)


def test_roi_of_a_disc_has_the_disc_at_its_centre_at_the_requested_scale():
    # 200 x 240 slice of 0.5 mm pixels; a disc of radius 10 mm centred at (80, 150)
    img = disc((200, 240), (80, 150), 20)[None]
    roi = cut_rois(img, [[80, 150]], (0.5, 0.5), roi_mm=40, roi_size=32, mask=True)[0]
    # 40 mm over 32 px = 1.25 mm per px: the disc (radius 8 px) fills pi * 8^2 ~ 201 px
    assert abs(int(roi.sum()) - np.pi * 8**2) < 12
    assert roi[15:17, 15:17].all() and roi[0].sum() == 0 and roi[:, 0].sum() == 0
    rows, cols = np.nonzero(roi)
    assert rows.mean() == pytest.approx(15.5, abs=0.3) and cols.mean() == pytest.approx(
        15.5, abs=0.3
    )
    # anisotropic pixels: 0.5 mm rows, 1.0 mm columns -> the same disc in millimetres
    img2 = (
        ((np.mgrid[:200, :120][0] - 80) * 0.5) ** 2 + ((np.mgrid[:200, :120][1] - 75) * 1.0) ** 2
        <= 100
    ).astype(np.float32)[None]
    roi2 = cut_rois(img2, [[80, 75]], (0.5, 1.0), roi_mm=40, roi_size=32, mask=True)[0]
    assert abs(int(roi2.sum()) - np.pi * 8**2) < 12


def test_roi_outside_the_slice_is_air_and_paste_inverts_cut():
    rng = np.random.default_rng(0)
    img = rng.random((2, 64, 64)).astype(np.float32)
    centres = np.array([[31.5, 31.5], [5.0, 60.0]])
    rois = cut_rois(img, centres, (1.0, 1.0), roi_mm=32, roi_size=32)
    # one ROI pixel per slice pixel, centred between pixels: the slice's block, exactly
    np.testing.assert_allclose(rois[0], img[0, 16:48, 16:48], atol=1e-6)
    assert (rois[1][:5] == 0).all()  # above the slice's first row: air
    back = paste_rois(rois, centres, (1.0, 1.0), (64, 64), roi_mm=32)
    np.testing.assert_allclose(back[0, 17:47, 17:47], img[0, 17:47, 17:47], atol=1e-5)
    assert back[0, :10].max() == 0 and back[0, :, :10].max() == 0


def test_native_and_model_frames_follow_the_padding_and_resize():
    # a point on a non-square slice (padded to a square, then resized) lands where resize puts it
    native = np.zeros((1, 60, 100), np.float32)
    native[0, 20:24, 70:74] = 1.0  # centre (21.5, 71.5)
    small = resize(native, 50)[0]
    r, c = np.mgrid[:50, :50]
    centroid = np.array([(small * r).sum(), (small * c).sum()]) / small.sum()
    expected = native_to_model([[21.5, 71.5]], native.shape[1:], 50)[0]
    np.testing.assert_allclose(centroid, expected, atol=0.05)
    np.testing.assert_allclose(model_to_native([expected], native.shape[1:], 50)[0], [21.5, 71.5])


def test_centres_fall_back_to_the_patients_hematoma():
    maps = np.zeros((3, 20, 20))
    maps[0, 4:8, 10:14] = 1.0  # centre (5.5, 11.5), mass 16
    maps[1, 10:12, 2:4] = 1.0  # centre (10.5, 2.5), mass 4
    centres, found = roi_centres(maps)
    assert found.tolist() == [True, True, False]
    np.testing.assert_allclose(centres[:2], [[5.5, 11.5], [10.5, 2.5]])
    np.testing.assert_allclose(centres[2], [(16 * 5.5 + 4 * 10.5) / 20, (16 * 11.5 + 4 * 2.5) / 20])
    centres, found = roi_centres(np.zeros((2, 9, 7)))
    assert not found.any() and np.allclose(centres, [[4.0, 3.0], [4.0, 3.0]])
    # a probability map: the blob at half its peak, not a diffuse background or a weak speck
    prob = np.full((1, 30, 30), 0.05)
    prob[0, 20:24, 5:9] = 0.9  # centre (21.5, 6.5)
    prob[0, 2, 25] = 0.6  # a speck above half the peak, lighter than the blob
    np.testing.assert_allclose(roi_centres(prob)[0][0], [21.5, 6.5])
    weak = prob * 0.5  # peak 0.45 < min_peak: no hematoma of its own
    assert not roi_centres(weak)[1][0]
    with pytest.raises(ValueError, match=r"\(n, H, W\)"):
        roi_centres(np.zeros((9, 7)))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return small_native_cohort(tmp_path_factory.mktemp("roi") / "cohort", 24, seed=5)


@pytest.fixture(scope="module")
def fitted(cohort):
    return small_roi_scorer().fit(cohort, cohort["he"])


def test_roi_scorer_trains_its_he_model_on_hematoma_centred_rois(fitted, cohort):
    he = fitted.he_model_
    assert (he.image_size, he.in_chans) == (24, 2)
    assert he.input_shape_ == (2, 24, 24)
    assert not fitted.shared_encoder_
    # the ROIs it scores are centred on the segmented hematoma: the true mask, cut with the
    # scorer's own centres, has its mass in the ROI's middle
    pats = fitted._patients(cohort.iloc[:6], need_masks=True)
    for ps in pats:
        hem = np.flatnonzero(ps.masks.reshape(len(ps.masks), -1).sum(axis=1) > 0)
        maps = fitted.segmenter_.predict_proba(ps.images[hem].astype(np.float32))
        run = np.isin(np.arange(len(ps.images)), hem)
        x, centres = fitted._roi_inputs([ps], run, maps)
        assert x.shape == (len(hem), 2, 24, 24)
        mask_rois = cut_rois(
            ps.native_masks[hem], centres, ps.native_spacing[1:], roi_mm=60, roi_size=24
        )
        r = np.arange(24) - 11.5
        dist = np.sqrt(r[:, None] ** 2 + r[None] ** 2)
        inner = (mask_rois * (dist < 8)).sum() / max(mask_rois.sum(), 1)
        assert inner > 0.6
    s = fitted.transform(cohort.iloc[:5])
    assert s.shape == (5, 1) and np.isfinite(s).all()


def test_roi_and_slice_inputs_are_interchangeable_parameters(fitted, cohort):
    params = fitted.get_params()
    assert params["he_input"] == "roi" and params["roi_size"] == 24
    sliced = clone(fitted).set_params(he_input="slice", cv=None).fit(cohort, cohort["he"])
    assert (sliced.he_model_.image_size, sliced.he_model_.in_chans) == (SIZE, 1)
    # without the mask channel: one channel
    one = clone(fitted).set_params(roi_mask_channel=False)
    one.fit(cohort, cohort["he"])
    assert one.he_model_.in_chans == 1
    # a frozen HE model must take the ROIs it will be given
    frozen = NDLScorer(
        FrozenEstimator(fitted.classifier_),
        FrozenEstimator(fitted.segmenter_),
        FrozenEstimator(sliced.he_model_),
        image_size=SIZE,
        he_input="roi",
        roi_size=24,
        slice_threshold=0.5,
    )
    with pytest.raises(ValueError, match="roi_size=24"):
        frozen.fit(cohort, cohort["he"])
    # the fitted networks, frozen, give the fitted scorer's scores
    reused = clone(frozen).set_params(
        he_model=FrozenEstimator(fitted.he_model_),
        roi_mm=60.0,
        slice_threshold=fitted.slice_threshold_,
        cv=None,
    )
    np.testing.assert_allclose(
        reused.fit(cohort, cohort["he"]).transform(cohort.iloc[:4]),
        fitted.transform(cohort.iloc[:4]),
        atol=1e-6,
    )


def test_grad_cam_of_an_roi_scorer_maps_back_onto_the_native_slice(fitted, cohort):
    out = ndl_grad_cam(fitted, cohort.iloc[[0]])
    assert out["image"].shape == (NATIVE, NATIVE) and out["cam"].shape == (NATIVE, NATIVE)
    assert out["box"] is not None
    top, left, height, width = out["box"]
    assert (height, width) == (26, 26)  # 60 mm over pixels of 230 / 96 mm, rounded up
    outside = np.ones((NATIVE, NATIVE), bool)
    outside[max(top, 0) : top + height, max(left, 0) : left + width] = False
    assert out["cam"][outside].max() == 0  # nothing outside the ROI
    assert 0 <= out["cam"].min() and out["cam"].max() <= 1
    assert out["image"].max() > 0.5  # the windowed slice, not an empty frame
    with pytest.raises(ValueError, match="ndl_grad_cam"):
        from skhe.explain import grad_cam

        grad_cam(fitted, np.zeros((1, SIZE, SIZE), np.float32))


def test_he_model_takes_several_channels_and_augments_them_together():
    rng = np.random.default_rng(0)
    x = rng.random((12, 2, 16, 16)).astype(np.float32)
    x[:, 1] = 0.0
    x[:, 1, 4:10, 4:10] = 1.0  # the hematoma channel
    masks = (x[:, 1] > 0.5).astype(np.uint8)
    y = np.arange(12) % 2
    he = MultiTaskHEModel(
        "tu-test_resnet",
        decoder_channels=DEC,
        in_chans=2,
        image_size=16,
        max_epochs=1,
        batch_size=4,
        augment={"flip": 1.0},
        random_state=0,
    ).fit(x, y, masks=masks)
    assert he.input_shape_ == (2, 16, 16)
    assert he.predict_proba(x).shape == (12, 2)
    with pytest.raises(ValueError, match="3 channels; the model takes 4"):
        clone(he).set_params(in_chans=4).fit(np.repeat(x, 2, axis=1)[:, :3], y, masks=masks)


def test_an_roi_scorer_saves_and_loads_with_its_scores(fitted, cohort, tmp_path):
    from skhe.persistence import load_model, save_model

    save_model(fitted, tmp_path / "ndl")
    loaded = load_model(tmp_path / "ndl")
    assert loaded.get_params()["he_input"] == "roi" and loaded.roi_mm == 60.0
    np.testing.assert_allclose(
        loaded.transform(cohort.iloc[:4]), fitted.transform(cohort.iloc[:4]), atol=1e-6
    )


def test_slice_threshold_is_an_area_for_the_segmenter_and_a_probability_for_the_classifier(
    cohort,
):
    with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
        small_roi_scorer(slice_threshold=40.0).fit(cohort, cohort["he"])
    ndl = small_roi_scorer(slice_threshold=40.0, slice_selection="segmenter").fit(
        cohort, cohort["he"]
    )
    assert ndl.slice_threshold_ == 40.0 and ndl.classifier_ is None
    table = ndl.slice_table(cohort.iloc[:3])
    assert (table["selected"] == (table["selection_score"] >= 40.0)).all()
