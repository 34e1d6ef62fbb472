"""skhe.preprocessing's mask regions: each region's numbers against hand-worked values, the
regions a filter keeps, and a stored filter applied as plain numbers."""

import numpy as np
import pytest

from skhe.preprocessing import (
    REGION_FEATURES,
    drop_stray_regions,
    keep_regions,
    mask_region_features,
    region_filter_proba,
    regions_kept,
)


def test_region_features_by_hand_and_the_regions_kept():
    """Each region's numbers worked out by hand; the region touching the bleed kept; the
    filter's cut-off keeps each slice's heaviest region whatever its probability."""
    col = {name: j for j, name in enumerate(REGION_FEATURES)}
    images = np.full((2, 32, 32), 0.3)  # brain, 30 HU
    images[:, :, :2] = 1.0  # bone along the left edge
    images[0, 10:14, 10:14] = 0.7  # the bleed, 70 HU
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 10:14, 10:14] = True  # 16 px
    masks[0, 20:22, 2:4] = True  # 4 px against the bone
    prob = np.where(masks, 0.8, 0.0)
    prob[0, 10, 10] = 1.0
    prob[1] = 0.5 * masks[0]  # the slice above sees the bleed at half the probability
    nb = np.array([[0, 1], [0, 1]])
    labels, f, r_slice, r_label = mask_region_features(masks, images, prob, nb)
    assert f.shape == (2, len(REGION_FEATURES)) and list(r_slice) == [0, 0]
    bleed, stray = (0, 1) if labels[0, 10, 10] == r_label[0] else (1, 0)
    assert np.exp(f[bleed, col["log_area"]]) == pytest.approx(16)
    assert f[bleed, col["max_probability"]] == 1.0
    assert f[bleed, col["mean_probability"]] == pytest.approx((15 * 0.8 + 1.0) / 16)
    assert f[bleed, col["mean_density"]] == pytest.approx(0.7)
    assert f[bleed, col["blood_fraction"]] == 1.0 and f[stray, col["blood_fraction"]] == 0.0
    assert f[bleed, col["bone_ring_fraction"]] == 0.0
    assert f[stray, col["bone_ring_fraction"]] > 0.2  # two of its ring's columns are bone
    # neighbours: slice 0's are itself (below) and slice 1 (above)
    assert f[bleed, col["neighbour_mean_probability"]] == pytest.approx(
        ((15 * 0.8 + 1.0) / 16 + 0.5) / 2
    )
    mass = (15 * 0.8 + 1.0, 4 * 0.8)
    assert f[bleed, col["probability_share"]] == pytest.approx(mass[0] / sum(mass))
    assert f[bleed, col["is_top_region"]] == 1 and f[stray, col["is_top_region"]] == 0
    touches = np.zeros(2, bool)
    touches[bleed] = True
    kept = keep_regions(labels, r_slice, r_label, touches)
    # the filter keeps regions at or above its cut-off, and each slice's heaviest whatever it is
    np.testing.assert_array_equal(regions_kept([0.05, 0.05], f, 0.0), [True, True])
    kept_low = regions_kept([0.05, 0.05], f, 0.1)
    assert kept_low[bleed] and not kept_low[stray]  # the bleed is the heavier
    assert regions_kept([0.0, 0.0], f, 0.5)[bleed] and regions_kept([0.6, 0.6], f, 0.5).all()
    np.testing.assert_array_equal(kept[0], masks[0] & (labels[0] == r_label[bleed]))
    assert not kept[1].any()
    with pytest.raises(ValueError, match="same"):
        mask_region_features(masks[:1], images, prob, nb)


def _stored_filter(coef, intercept, cutoff):
    return {
        "features": list(REGION_FEATURES),
        "mean": [0.0] * len(REGION_FEATURES),
        "scale": [1.0] * len(REGION_FEATURES),
        "coef": coef,
        "intercept": intercept,
        "cutoff": cutoff,
    }


def test_drop_stray_regions_applies_stored_numbers():
    """A stored filter that favours dense regions drops the stray bone-edge region and keeps
    the bleed; a cut-off of 0 keeps everything; a slice whose only region the filter dislikes
    keeps it (its heaviest); the probabilities are the logistic of the standardized numbers."""
    images = np.full((2, 32, 32), 0.3)
    images[:, :, :2] = 1.0
    images[0, 10:14, 10:14] = 0.7
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 10:14, 10:14] = True
    masks[0, 20:22, 2:4] = True  # stray, against the bone
    masks[1, 20:22, 2:4] = True  # the second slice's only region, also stray
    prob = np.where(masks, 0.8, 0.0)
    nb = np.array([[0, 1], [0, 1]])
    coef = [0.0] * len(REGION_FEATURES)
    coef[REGION_FEATURES.index("blood_fraction")] = 8.0
    dense = _stored_filter(coef, -4.0, 0.5)
    out = drop_stray_regions(masks, images, prob, nb, dense)
    assert out.dtype == bool
    np.testing.assert_array_equal(out[0], np.pad(np.ones((4, 4), bool), ((10, 18), (10, 18))))
    np.testing.assert_array_equal(out[1], masks[1])  # its heaviest region is kept
    np.testing.assert_array_equal(
        drop_stray_regions(masks, images, prob, nb, {**dense, "cutoff": 0.0}), masks
    )
    _, f, _, _ = mask_region_features(masks, images, prob, nb)
    z = 8.0 * f[:, REGION_FEATURES.index("blood_fraction")] - 4.0
    np.testing.assert_allclose(region_filter_proba(f, dense), 1 / (1 + np.exp(-z)))
    # scaler numbers are applied before the weights
    scaled = {**dense, "mean": [1.0] * 10, "scale": [2.0] * 10}
    np.testing.assert_allclose(
        region_filter_proba(f, scaled), 1 / (1 + np.exp(-(8.0 * (f[:, 4] - 1) / 2 - 4.0)))
    )
    assert not drop_stray_regions(np.zeros_like(masks), images, prob, nb, dense).any()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"coef": None}, "lacks coef"),
        ({"features": ["log_area"]}, "fit on features"),
        ({"scale": [0.0] * 10}, "scale must be positive"),
        ({"mean": [np.nan] * 10}, "mean must be 10 finite"),
        ({"coef": [1.0] * 3}, "coef must be 10 finite"),
    ],
)
def test_region_filter_rejects_bad_numbers(change, match):
    stored = _stored_filter([0.0] * 10, 0.0, 0.5)
    stored.update(change)
    stored = {k: v for k, v in stored.items() if v is not None}
    with pytest.raises(ValueError, match=match):
        region_filter_proba(np.zeros((1, 10)), stored)
