"""What makes the image networks work on real CT: head-centred crops, balanced epochs, losses for
small bleeds, augmentation, test-time flips, the learning-rate schedule, and slice detection from
the segmentation (tiny networks, small synthetic slices; the real-CT figures are measured by
benchmarks/ctich.py)."""

import re

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from skorch.callbacks import Callback

from skhe.metrics import dice_coefficient
from skhe.neural import BalancedSampler, HematomaSegmenter, SliceClassifier
from skhe.nn import DiceBCELoss, TverskyBCELoss, per_slice_soft_dice
from skhe.preprocessing import SliceAugmenter, crop_to_boxes, head_boxes, paste_from_boxes

# one xdist worker under `make test`: the module's fixtures are built once
pytestmark = pytest.mark.xdist_group("real_ct_training")


TINY_SEG = dict(
    encoder="tu-test_resnet",
    decoder_channels=(32, 16, 8, 8, 4),
    lr=3e-3,
    batch_size=16,
    augment=False,
    random_state=0,
)


def heads(n, size=96, head=(30, 50), seed=0):
    """Slices with a 'head' (an ellipse of brain at 0.35 inside a bright skull ring) off-centre
    in a larger field of view, a thin 'head holder' arc, and a bright lesion on odd slices."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    X = np.zeros((n, size, size), np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    ry, rx = head
    for i in range(n):
        cy, cx = 40 + rng.integers(-3, 4), 52 + rng.integers(-3, 4)
        ell = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        X[i][ell <= 1.0] = 1.0  # skull
        X[i][ell <= 0.8] = rng.uniform(0.3, 0.4)  # brain
        arc = np.abs(np.hypot(yy - cy, xx - cx) - (ry + 14)) < 0.6
        X[i][arc & (yy > cy + ry)] = 0.5  # holder below the head
        if i % 2:
            ly, lx = cy + rng.integers(-12, 13), cx + rng.integers(-25, 26)
            lesion = (yy - ly) ** 2 + (xx - lx) ** 2 <= rng.integers(3, 6) ** 2
            lesion &= ell <= 0.7
            X[i][lesion] = rng.uniform(0.65, 0.85)
            masks[i] = lesion
    return X, masks, masks.reshape(n, -1).any(axis=1).astype(int)


# ------------------------------------------------------------------------ head-centred crops
def test_head_boxes_find_the_head_not_the_holder():
    X, _, _ = heads(4, size=96, head=(25, 40))
    boxes = head_boxes(X, margin=0.04, step=1)
    for (top, left, side), img in zip(boxes, X, strict=True):
        rows, cols = np.nonzero((img >= 0.3) & (img != 0.5))  # skull and brain, not the arc
        extent = max(np.ptp(rows), np.ptp(cols)) + 1
        assert abs(side - extent * 1.08) <= 3  # longer side + 4% each end
        assert abs((top + side / 2) - (rows.min() + rows.max() + 1) / 2) <= 2
        assert abs((left + side / 2) - (cols.min() + cols.max() + 1) / 2) <= 2


def test_head_boxes_small_and_empty_slices():
    X = np.zeros((2, 64, 64), np.float32)
    X[0, 30:38, 30:38] = 0.4  # a small vertex slice: at least min_side of the slice
    boxes = head_boxes(X, min_side=0.5, step=1)
    assert boxes[0, 2] == 32 and abs(boxes[0, 0] + 16 - 34) <= 1
    assert boxes[1].tolist() == [0, 0, 64]  # nothing there: the whole slice
    with pytest.raises(ValueError, match="min_side"):
        head_boxes(X, min_side=0)


def test_crop_and_paste_back_map_masks_onto_the_original_pixels():
    X, masks, y = heads(6, size=96)
    boxes = head_boxes(X)
    boxes[0] = (-10, 70, 40)  # a box past the slice's edge: padded with 0
    crops = crop_to_boxes(X, boxes, 64)
    assert crops.shape == (6, 64, 64) and crops.dtype == np.float32
    assert crops.min() >= 0 and crops.max() <= 1
    assert (crops[0, :6] == 0).all()  # rows above the slice
    m = crop_to_boxes(masks, boxes, 128, mask=True)
    assert set(np.unique(m)) <= {0, 1}
    back = paste_from_boxes(torch.from_numpy(m[:, None].astype(np.float32)), boxes, (96, 96))
    back = (back[:, 0].numpy() >= 0.5).astype(np.uint8)
    pos = y[1:] == 1
    assert dice_coefficient(masks[1:][pos], back[1:][pos]) > 0.9
    assert back[0, 30:].sum() == 0  # nothing outside the box


# ------------------------------------------------------------------------ balanced epochs
def test_balanced_sampler_epochs():
    positive = np.zeros(50, bool)
    positive[[3, 10, 20, 33, 41]] = True
    g = torch.Generator().manual_seed(0)
    s = BalancedSampler(positive, generator=g)
    assert len(s) == 10
    seen = set()
    epochs = [list(s) for _ in range(100)]
    for e in epochs:
        assert len(e) == len(set(e)) == 10
        assert sorted(i for i in e if positive[i]) == [3, 10, 20, 33, 41]
        seen |= set(e)
    assert epochs[0] != epochs[1]  # fresh negatives each epoch
    assert seen == set(range(50))  # over the epochs, every slice
    g2 = torch.Generator().manual_seed(0)
    assert list(BalancedSampler(positive, generator=g2)) == epochs[0]  # reproducible
    with pytest.raises(ValueError, match="no positive"):
        BalancedSampler(np.zeros(5, bool))


class _CountSamples(Callback):
    def initialize(self):
        self.per_epoch = []
        return self

    def on_epoch_begin(self, net, **kw):
        self.per_epoch.append(0)

    def on_batch_end(self, net, batch=None, training=None, **kw):
        if training:
            self.per_epoch[-1] += len(batch[0])


def test_balanced_sampling_trains_on_all_positives_and_as_many_others():
    X, masks, y = heads(60, size=48, head=(15, 20))
    keep = np.flatnonzero((y == 0) | (np.arange(60) % 6 == 1))  # few lesion slices
    n_pos = int(y[keep].sum())
    assert 3 <= n_pos < len(keep) / 3
    count = _CountSamples()
    seg = HematomaSegmenter(
        **TINY_SEG, image_size=48, max_epochs=3, sampling="balanced", callbacks=[count]
    ).fit(X[keep], masks[keep])
    assert count.per_epoch == [2 * n_pos] * 3
    clf_count = _CountSamples()
    SliceClassifier(
        "test_resnet",
        image_size=48,
        max_epochs=2,
        batch_size=8,
        augment=False,
        random_state=0,
        sampling="balanced",
        callbacks=[clf_count],
    ).fit(X[keep], y[keep])
    assert clf_count.per_epoch == [2 * n_pos] * 2
    assert seg.n_epochs_ == 3


def test_progress_bar_counts_the_batches_of_a_balanced_epoch(capsys):
    """With verbose, the bar's total is the balanced epoch's batches, not the training set's."""
    X, masks, y = heads(60, size=48, head=(15, 20))
    keep = np.flatnonzero((y == 0) | (np.arange(60) % 6 == 1))
    n_pos = int(y[keep].sum())
    params = {**TINY_SEG, "batch_size": 4, "verbose": 1}
    HematomaSegmenter(**params, image_size=32, max_epochs=2, sampling="balanced").fit(
        X[keep], masks[keep]
    )
    totals = {int(t) for t in re.findall(r"\d+/(\d+) \[", capsys.readouterr().err)}
    assert totals == {-(-2 * n_pos // 4)}, totals
    assert -(-2 * n_pos // 4) < -(-len(keep) // 4)  # what skorch's default would have shown


# ------------------------------------------------------------------------ losses
def test_per_slice_dice_weighs_each_bleed_equally():
    logits = torch.full((3, 1, 4, 4), -20.0)
    target = torch.zeros(3, 1, 4, 4)
    target[0, 0, :2] = 1  # a large bleed (8 px), found
    logits[0, 0, :2] = 20.0
    target[1, 0, 0, 0] = 1  # a one-pixel bleed, missed
    # slice 2 has no bleed and no prediction: left out
    d = per_slice_soft_dice(logits, target, smooth=0.0)
    assert d.item() == pytest.approx(0.5, abs=1e-6)  # (1 + 0) / 2
    from skhe.nn import soft_dice

    assert soft_dice(logits, target, smooth=0.0).item() == pytest.approx(16 / 17, abs=1e-6)


def test_mixed_dice_counts_false_alarms_on_slices_without_bleed():
    logits = torch.full((2, 1, 4, 4), -20.0)
    target = torch.zeros(2, 1, 4, 4)
    target[0, 0, :2] = 1  # an 8 px bleed, found
    logits[0, 0, :2] = 20.0
    logits[1, 0, :2] = 20.0  # 8 px marked on the slice without bleed

    def dice_loss(share):
        return DiceBCELoss(bce_weight=0.0, smooth=0.0, per_slice=share)(logits, target).item()

    assert dice_loss(True) == pytest.approx(0.0, abs=1e-6)  # blind to the false alarms
    assert dice_loss(False) == pytest.approx(1 - 16 / 24, abs=1e-6)  # 2 * 8 / (16 + 8)
    assert dice_loss(0.5) == pytest.approx((1 - 16 / 24) / 2, abs=1e-6)
    assert HematomaSegmenter(loss="mixed_dice_bce")._criterion().per_slice == 0.5
    with pytest.raises(ValueError, match="per_slice"):
        DiceBCELoss(per_slice=1.5)


def test_tversky_is_dice_at_one_half_and_penalizes_misses_more():
    torch.manual_seed(0)
    logits, target = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.7).float()
    half = TverskyBCELoss(alpha=0.5, beta=0.5, smooth=0.0)(logits, target)
    assert half.item() == pytest.approx(DiceBCELoss(smooth=0.0)(logits, target).item(), rel=1e-6)
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 0] = 1
    miss = torch.full((1, 1, 4, 4), -20.0)  # 4 missed pixels
    extra = torch.full((1, 1, 4, 4), -20.0)
    extra[0, 0, :2] = 20.0  # 4 found + 4 false alarms
    loss = TverskyBCELoss(bce_weight=0.0, smooth=0.0)
    assert loss(miss, target).item() == pytest.approx(1.0, abs=1e-5)
    assert loss(extra, target).item() == pytest.approx(1 - 4 / (4 + 0.3 * 4), abs=1e-5)


def test_segmenter_losses_are_parameters():
    seg = HematomaSegmenter(loss="tversky_bce", dice_weight=2.0)
    assert isinstance(seg._criterion(), TverskyBCELoss) and seg._criterion().tversky_weight == 2.0
    assert HematomaSegmenter(loss="slice_dice_bce")._criterion().per_slice
    assert not HematomaSegmenter()._criterion().per_slice


# ------------------------------------------------------------------------ augmentation
def test_augmentation_flips_and_moves_channels_together():
    img = np.random.default_rng(0).uniform(0, 0.5, (2, 32, 32)).astype(np.float32)
    img[1] = img[0] * 2  # a second window of the same slice
    mask = (img[0] > 0.45).astype(np.uint8)
    flip = SliceAugmenter(flip=1.0, p=0.0, random_state=0)
    out, m = flip(img, mask)
    np.testing.assert_array_equal(out, img[:, :, ::-1])
    np.testing.assert_array_equal(m, mask[:, ::-1])
    geo = SliceAugmenter(p=1.0, random_state=1)
    out, m = geo(img, mask)
    assert out.shape == (2, 32, 32) and not np.allclose(out[0], img[0])
    np.testing.assert_allclose(out[1], np.clip(out[0] * 2, 0, 1), atol=1e-5)
    jitter = SliceAugmenter(p=1.0, shift=0, scale=0, rotate=0, intensity=0.2, random_state=2)
    out, _ = jitter(img[0])
    assert out.min() >= 0 and out.max() <= 1 and not np.allclose(out, img[0])


# ------------------------------------------------------------------------ fitted estimators
@pytest.fixture(scope="module")
def head_data():
    return heads(96, size=96, head=(26, 40))


CROPPED = dict(
    image_size=48, max_epochs=20, crop="head", tta=True, lr_schedule="cosine", sampling="balanced"
)


@pytest.fixture(scope="module")
def cropped_seg(head_data):
    X, masks, _ = head_data
    return HematomaSegmenter(**TINY_SEG, **CROPPED).fit(X[:64], masks[:64])


def test_head_cropped_segmenter_maps_back_and_detects_slices(cropped_seg, head_data):
    X, masks, y = head_data
    proba = cropped_seg.predict_proba(X[64:])
    assert proba.shape == (32, 96, 96)  # the input's pixels, not the crop's
    boxes = head_boxes(X[64:])
    for p, (top, left, side) in zip(proba, boxes, strict=True):
        outside = np.ones((96, 96), bool)
        outside[max(top, 0) : top + side, max(left, 0) : left + side] = False
        assert p[outside].max() == 0
    dice = cropped_seg.score(X[64:], masks[64:])
    assert dice > 0.7
    # the same network on whole slices sees the small lesions with fewer pixels and does worse
    whole = HematomaSegmenter(**TINY_SEG, **{**CROPPED, "crop": "none"}).fit(X[:64], masks[:64])
    assert dice > whole.score(X[64:], masks[64:]) + 0.05
    area = cropped_seg.slice_score(X[64:])
    peak = cropped_seg.slice_score(X[64:], kind="max")
    assert roc_auc_score(y[64:], area) > 0.9 and roc_auc_score(y[64:], peak) > 0.9
    np.testing.assert_allclose(area, proba.reshape(32, -1).sum(1), rtol=1e-5)
    with pytest.raises(ValueError, match="kind"):
        cropped_seg.slice_score(X[:2], kind="mean")


def test_segmenter_reads_a_second_channel(head_data):
    """Input channels beyond the first are used: with the lesion visible only in channel 1
    (channel 0, where the head is found, shows brain there), a 2-channel segmenter finds it;
    channel 0 alone cannot."""
    X, masks, _ = head_data
    hidden = X.copy()
    hidden[masks.astype(bool)] = 0.35  # the lesion painted over with brain
    two = np.stack([hidden, X], axis=1)
    params = {**TINY_SEG, **CROPPED, "max_epochs": 12}
    seg = HematomaSegmenter(**params, in_chans=2).fit(two[:64], masks[:64])
    assert seg.predict_proba(two[64:]).shape == (32, 96, 96)
    blind = HematomaSegmenter(**params).fit(hidden[:64], masks[:64])
    assert seg.score(two[64:], masks[64:]) > 0.5
    assert blind.score(hidden[64:], masks[64:]) < 0.2


def test_cosine_schedule_reaches_zero(cropped_seg):
    lrs = [h["event_lr"] for h in cropped_seg.history_]
    expected = [3e-3 * (1 + np.cos(np.pi * e / 20)) / 2 for e in range(20)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)


def test_test_time_flips_make_predictions_flip_equivariant(cropped_seg, head_data):
    X, _, y = head_data
    Xf = np.ascontiguousarray(X[64:72, :, ::-1])
    # the head box of a flipped slice is the flipped box only up to a pixel; compare on a
    # segmenter without the crop
    seg = HematomaSegmenter(**TINY_SEG, image_size=48, max_epochs=2, tta=True).fit(
        X[:32], head_data[1][:32]
    )
    np.testing.assert_allclose(
        seg.predict_proba(Xf), seg.predict_proba(X[64:72])[:, :, ::-1], atol=1e-5
    )
    clf = SliceClassifier(
        "test_resnet", image_size=48, max_epochs=2, augment=False, random_state=0, tta=True
    ).fit(X[:32], y[:32])
    np.testing.assert_allclose(
        clf.decision_function(Xf), clf.decision_function(X[64:72]), atol=1e-4
    )
    plain = clf.set_params(tta=False).decision_function(Xf)
    assert not np.allclose(plain, clf.decision_function(X[64:72]), atol=1e-4)


def test_bad_new_parameters_are_refused():
    from skhe.utils._compat import InvalidParameterError

    X, masks, _ = heads(4, size=32, head=(8, 10))
    with pytest.raises(InvalidParameterError, match="crop"):
        HematomaSegmenter(crop="skull").fit(X, masks)
    with pytest.raises(InvalidParameterError, match="loss"):
        HematomaSegmenter(loss="focal").fit(X, masks)
    with pytest.raises(InvalidParameterError, match="sampling"):
        SliceClassifier(sampling="oversample").fit(X, [0, 1, 0, 1])


def test_cropped_or_flipped_segmenters_do_not_share_the_he_models_encoder_pass():
    """The shared pass feeds whole slices once; a segmenter that crops or flips must run its
    own pass (else its areas would be in crop pixels and differ from predict_proba)."""
    from sklearn.base import clone

    from skhe.neural import MultiTaskHEModel

    X, masks, _ = heads(16, size=48, head=(14, 18))
    seg = HematomaSegmenter(**TINY_SEG, image_size=48, max_epochs=1).fit(X, masks)
    he = MultiTaskHEModel(
        "tu-test_resnet",
        decoder_channels=(32, 16, 8, 8, 4),
        image_size=48,
        max_epochs=1,
        augment=False,
        random_state=0,
    ).fit(X, np.arange(16) // 2 % 2, masks=masks, unet_state=seg.module_.state_dict())
    assert seg.shares_encoder_with(he)
    for change in ({"crop": "head"}, {"tta": True}):
        other = clone(seg).set_params(**change)
        other.module_ = seg.module_
        assert not other.shares_encoder_with(he)
