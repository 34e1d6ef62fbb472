"""Hematoma descriptors (pure functions) against analytic shapes and densities."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression

from skhe.neural._ndl_descriptors import descriptor_probability, hematoma_mask
from skhe.preprocessing import DESCRIPTORS, hematoma_descriptors
from skhe.preprocessing._descriptors import slice_perimeter, slice_radial_cv, slice_solidity


def disc(size=96, r=20.0, centre=None):
    c = (size - 1) / 2 if centre is None else centre
    yy, xx = np.mgrid[:size, :size]
    return np.hypot(yy - c, xx - c) <= r


def lobed(size=96, r=20.0, amp=0.5, k=5):
    c = (size - 1) / 2
    yy, xx = np.mgrid[:size, :size]
    theta = np.arctan2(yy - c, xx - c)
    return np.hypot(yy - c, xx - c) <= r * (1 + amp * np.cos(k * theta))


def test_perimeter_of_a_disc_is_two_pi_r():
    for r in (10.0, 20.0, 35.0):
        p = slice_perimeter(disc(r=r))
        assert p == pytest.approx(2 * np.pi * r, rel=0.04)
    # pixel size scales the length: 0.5 mm pixels halve it
    assert slice_perimeter(disc(r=20), (0.5, 0.5)) == pytest.approx(
        0.5 * slice_perimeter(disc(r=20))
    )


def test_solidity_and_radial_spread_separate_a_disc_from_a_lobed_outline():
    assert slice_solidity(disc()) > 0.93
    assert slice_solidity(lobed()) < 0.8
    assert slice_radial_cv(disc()) < 0.05
    assert slice_radial_cv(lobed()) > 0.2
    # a square is convex: solidity 1 exactly (the hull of its pixel squares is the square)
    sq = np.zeros((20, 20), bool)
    sq[5:15, 3:17] = True
    assert slice_solidity(sq) == pytest.approx(1.0)


def test_shape_descriptors_rank_irregularity():
    img = np.full((1, 96, 96), 0.6)
    round_ = hematoma_descriptors(img, disc()[None])
    irregular = hematoma_descriptors(img, lobed()[None])
    assert round_["compactness"] == pytest.approx(1.0, abs=0.08)
    assert irregular["compactness"] < round_["compactness"] - 0.3
    assert irregular["solidity"] < round_["solidity"] - 0.1
    assert irregular["log_surface_to_volume"] > round_["log_surface_to_volume"]


def test_uniform_density_has_no_heterogeneity():
    d = hematoma_descriptors(np.full((2, 64, 64), 0.62), np.stack([disc(64, 15)] * 2))
    assert d["density_sd"] == pytest.approx(0.0, abs=1e-9)
    assert d["density_p90_p10"] == pytest.approx(0.0, abs=1e-9)
    assert d["density_skewness"] == 0.0 and d["density_kurtosis"] == 0.0
    assert d["density_entropy"] == pytest.approx(0.0, abs=1e-12)


def test_blend_density_matches_the_two_point_distribution():
    # left half 40 HU, right half 80 HU, a square hematoma: the eroded core is split evenly
    img = np.zeros((1, 40, 40))
    img[0, :, :20], img[0, :, 20:] = 0.4, 0.8
    m = np.zeros((1, 40, 40), bool)
    m[0, 5:35, 5:35] = True
    d = hematoma_descriptors(img, m)
    assert d["density_sd"] == pytest.approx(20.0)  # half the 40 HU difference
    assert d["density_p90_p10"] == pytest.approx(40.0)
    assert d["density_skewness"] == pytest.approx(0.0, abs=1e-9)
    assert d["density_kurtosis"] == pytest.approx(-2.0)  # excess kurtosis of two equal points
    assert d["density_entropy"] == pytest.approx(np.log(2))


def test_first_order_descriptors_against_scipy_on_random_densities():
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(0.6, 0.1, (3, 50, 50)), 0, 1)
    m = np.stack([disc(50, 18)] * 3)
    d = hematoma_descriptors(img, m, hu_window=(0.0, 100.0))
    from scipy import ndimage

    core = np.stack([ndimage.binary_erosion(s) for s in m])
    hu = img[core] * 100
    assert d["density_sd"] == pytest.approx(np.std(hu))
    assert d["density_skewness"] == pytest.approx(stats.skew(hu))
    assert d["density_kurtosis"] == pytest.approx(stats.kurtosis(hu))
    counts, _ = np.histogram(hu, bins=20, range=(0, 100))
    assert d["density_entropy"] == pytest.approx(stats.entropy(counts))
    # another window rescales the densities: SD in HU follows
    d2 = hematoma_descriptors(img, m, hu_window=(-50.0, 150.0))
    assert d2["density_sd"] == pytest.approx(2 * d["density_sd"])


def test_volume_in_ml_from_pixels_and_slice_thickness():
    m = np.zeros((3, 30, 30), bool)
    m[:, 5:25, 10:20] = True  # 200 pixels per slice
    d = hematoma_descriptors(np.full(m.shape, 0.6), m, pixel_mm=(0.8, 1.25), slice_mm=5.0)
    assert np.exp(d["log_volume_ml"]) == pytest.approx(3 * 200 * 0.8 * 1.25 * 5.0 / 1000)
    assert tuple(d) == DESCRIPTORS


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="empty"):
        hematoma_descriptors(np.zeros((1, 8, 8)), np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="same"):
        hematoma_descriptors(np.zeros((1, 8, 8)), np.ones((2, 8, 8)))
    # one slice may come as 2-D
    assert hematoma_descriptors(np.full((16, 16), 0.5), disc(16, 5))["density_sd"] == 0.0


def test_hematoma_mask_thresholds_and_falls_back_to_half_the_peak():
    p = np.zeros((1, 10, 10))
    p[0, 2:5, 2:5] = 0.7
    p[0, 7, 7] = 0.4
    assert hematoma_mask(p).sum() == 9
    weak = p * 0.5  # peak 0.35: half of it, 0.175, also takes the 0.2 pixel
    assert hematoma_mask(weak).sum() == 10
    assert hematoma_mask(p * 0.01) is None  # nothing there


def test_descriptor_probability_is_the_logistic_model():
    rng = np.random.default_rng(1)
    table = pd.DataFrame(rng.normal(size=(60, len(DESCRIPTORS))), columns=list(DESCRIPTORS))
    y = (table["density_sd"] + rng.normal(size=60) > 0).astype(int)
    mean, scale = table.mean().to_numpy(), table.std(ddof=0).to_numpy()
    model = LogisticRegression(C=0.5).fit((table - mean) / scale, y)
    p = descriptor_probability(table, mean, scale, model.coef_[0], model.intercept_[0])
    np.testing.assert_allclose(p, model.predict_proba((table - mean) / scale)[:, 1], rtol=1e-10)
    missing = table.iloc[:1].copy()
    missing.iloc[0] = np.nan  # no hematoma: the training average (z = 0)
    q = descriptor_probability(missing, mean, scale, model.coef_[0], model.intercept_[0])
    assert q[0] == pytest.approx(1 / (1 + np.exp(-model.intercept_[0])))


def _dice(a, b):
    return 2 * np.sum(a & b) / (a.sum() + b.sum())


def test_refining_a_coarse_segmentation_with_the_ct_recovers_the_hematoma():
    """A blurred, too-large segmentation of a lobed 65 HU hematoma (with a 35 HU black-hole
    centre) on 30 HU brain: the refined outline is the hematoma's, its hypodense centre stays
    inside, and bright pixels the segmenter never reached stay out."""
    from scipy import ndimage

    from skhe.preprocessing import refine_hematoma_mask

    truth = lobed(r=18.0, amp=0.35, k=5)
    hu = np.full(truth.shape, 30.0)
    hu[truth] = 65.0
    hu[disc(r=4.0)] = 35.0  # black hole, inside the hematoma
    far = disc(r=5.0, centre=12.0)
    hu[far] = 70.0  # another bright spot, away from the hematoma
    prob = ndimage.gaussian_filter(disc(r=18.0).astype(float), 6.0)  # coarse and smooth
    prob = prob / prob.max()
    images = np.clip(hu / 100.0, 0, 1)[None]
    core = prob[None] >= 0.5
    refined = refine_hematoma_mask(images, prob[None], core)
    assert _dice(refined[0], truth) > 0.95  # 0.978
    assert _dice(core[0], truth) < 0.85  # 0.769: the segmentation alone misses the lobes
    assert refined[0][disc(r=4.0)].all() and not refined[0][far].any()
    # a slice without dense pixels keeps its segmentation; shapes must agree
    dark = refine_hematoma_mask(np.zeros_like(images), prob[None], core)
    np.testing.assert_array_equal(dark, core)
    with pytest.raises(ValueError, match="same shape"):
        refine_hematoma_mask(images, prob[None], core[:, :10])


def test_largest_region_keeps_the_region_with_the_most_probability():
    """Per slice, the region with the largest probability mass stays: a small sure region (9 px
    at 0.9, mass 8.1) loses to a larger fainter one (25 px at 0.4, mass 10) on one slice and
    wins against a fainter one of the same size (9 px at 0.3) on another; a slice with one
    region keeps it, an empty slice stays empty, diagonal neighbours are separate regions."""
    from skhe.preprocessing import largest_region

    masks = np.zeros((4, 12, 12), bool)
    prob = np.zeros((4, 12, 12))
    masks[0, 1:4, 1:4], prob[0, 1:4, 1:4] = True, 0.9  # small, sure
    masks[0, 6:11, 6:11], prob[0, 6:11, 6:11] = True, 0.4  # larger, faint: more mass
    masks[1, 1:4, 1:4], prob[1, 1:4, 1:4] = True, 0.9
    masks[1, 6:9, 6:9], prob[1, 6:9, 6:9] = True, 0.3
    masks[2, 2:5, 2:5] = True
    masks[3, 0, 0] = masks[3, 1, 1] = True  # touching by a corner only: 4-connected, two
    prob[3, 1, 1] = 0.5
    kept = largest_region(masks, prob)
    assert kept.dtype == bool and kept.shape == masks.shape
    np.testing.assert_array_equal(kept[0], masks[0] & (prob[0] == 0.4))
    np.testing.assert_array_equal(kept[1], masks[1] & (prob[1] == 0.9))
    np.testing.assert_array_equal(kept[2], masks[2])
    assert kept[3].sum() == 1 and kept[3, 1, 1]
    assert not largest_region(np.zeros((1, 5, 5)), np.zeros((1, 5, 5))).any()
    with pytest.raises(ValueError, match="same"):
        largest_region(masks, prob[:, :10])
