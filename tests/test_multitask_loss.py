"""Each term of the multi-task loss behaves as its docstring says."""

import torch
import torch.nn.functional as F

from skhe.nn import DiceBCELoss, MultiTaskHELoss, MultiTaskHENet


def _target(mask, he, has_mask=None):
    n = mask.shape[0]
    has_hem = mask.reshape(n, -1).amax(dim=1)
    return {
        "mask": mask,
        "he": he,
        "has_hematoma": has_hem,
        "has_mask": torch.ones(n) if has_mask is None else has_mask,
    }


def test_segmentation_term_is_dice_bce_on_slices_with_masks():
    torch.manual_seed(0)
    mask = (torch.rand(4, 1, 8, 8) > 0.7).float()
    seg = torch.randn(4, 1, 8, 8)
    out = {"seg": seg, "he": torch.zeros(4)}
    loss = MultiTaskHELoss()
    has_mask = torch.tensor([1.0, 0.0, 1.0, 0.0])
    c = loss.components(out, _target(mask, torch.zeros(4), has_mask))
    ref = DiceBCELoss()(seg[[0, 2]], mask[[0, 2]])
    assert torch.isclose(c["seg"], ref)
    c0 = loss.components(out, _target(mask, torch.zeros(4), torch.zeros(4)))
    assert c0["seg"] == 0
    # a perfect, confident segmentation has (almost) zero segmentation loss
    perfect = {"seg": (mask * 2 - 1) * 50, "he": torch.zeros(4)}
    assert loss.components(perfect, _target(mask, torch.zeros(4)))["seg"] < 1e-3


def test_he_term_is_bce_over_hematoma_slices_only():
    mask = torch.zeros(3, 1, 8, 8)
    mask[0, 0, 2:4, 2:4] = 1
    mask[2, 0, 5:7, 5:7] = 1
    he_logit = torch.tensor([2.0, -7.0, -1.0])
    he = torch.tensor([1.0, 1.0, 0.0])
    c = MultiTaskHELoss().components(
        {"seg": torch.zeros(3, 1, 8, 8), "he": he_logit}, _target(mask, he)
    )
    ref = F.binary_cross_entropy_with_logits(he_logit[[0, 2]], he[[0, 2]])
    assert torch.isclose(c["he"], ref)  # slice 1 (no hematoma) does not count


def test_consistency_term_penalizes_he_where_nothing_is_segmented():
    loss = MultiTaskHELoss()
    he_logit = torch.tensor([3.0, 3.0])
    nothing = {"seg": torch.full((2, 1, 8, 8), -30.0), "he": he_logit}
    confident = {"seg": torch.full((2, 1, 8, 8), 30.0), "he": he_logit}
    tgt = _target(torch.zeros(2, 1, 8, 8), torch.zeros(2), torch.zeros(2))
    c_none = loss.components(nothing, tgt)["consistency"]
    c_conf = loss.components(confident, tgt)["consistency"]
    assert torch.isclose(c_none, torch.sigmoid(he_logit).mean(), atol=1e-6)
    assert c_conf < 1e-6
    # it never pushes the segmentation up: no gradient reaches the seg logits
    seg = torch.full((2, 1, 8, 8), -3.0, requires_grad=True)
    s = he_logit.clone().requires_grad_(True)
    loss.components({"seg": seg, "he": s}, tgt)["consistency"].backward()
    assert seg.grad is None or torch.all(seg.grad == 0)
    assert torch.all(s.grad > 0)  # and lowers the HE score


def test_total_is_the_weighted_sum():
    torch.manual_seed(1)
    mask = (torch.rand(4, 1, 8, 8) > 0.8).float()
    out = {"seg": torch.randn(4, 1, 8, 8), "he": torch.randn(4)}
    tgt = _target(mask, torch.tensor([1.0, 0.0, 1.0, 0.0]))
    loss = MultiTaskHELoss(seg_weight=0.3, he_weight=2.0, consistency_weight=0.7)
    c = loss.components(out, tgt)
    assert torch.isclose(loss(out, tgt), 0.3 * c["seg"] + 2.0 * c["he"] + 0.7 * c["consistency"])


def test_network_outputs():
    net = MultiTaskHENet("tu-test_resnet", decoder_channels=(16, 8, 8, 8, 4)).eval()
    with torch.no_grad():
        out = net(torch.rand(3, 1, 64, 64))
    assert out["seg"].shape == (3, 1, 64, 64) and out["he"].shape == (3,)
