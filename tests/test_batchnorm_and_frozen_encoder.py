"""BatchNorm recalibration skips frozen layers; a frozen HE encoder is the segmenter's exactly."""

import copy

import torch
from torch import nn
from torch.optim.swa_utils import update_bn

from skhe.nn import MultiTaskHENet, build_unet, update_batchnorm

DEC = (16, 8, 8, 8, 4)


def _batches(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(6, 1, 32, 32, generator=g) * 3 + 1, None) for _ in range(n)]


def test_update_batchnorm_equals_torch_update_bn_without_frozen_layers():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 3))
    net.eval()
    ref = copy.deepcopy(net)
    update_bn([b[0] for b in _batches()], ref)
    assert update_batchnorm(_batches(), net) == 1
    bn, bn_ref = net[1], ref[1]
    torch.testing.assert_close(bn.running_mean, bn_ref.running_mean)
    torch.testing.assert_close(bn.running_var, bn_ref.running_var)
    # the cumulative average over the loader: mean of the per-batch means of the conv output
    with torch.no_grad():
        means = torch.stack([net[0](x).mean(dim=(0, 2, 3)) for x, _ in _batches()])
    torch.testing.assert_close(bn.running_mean, means.mean(0), rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.1 and not net.training  # restored


def test_frozen_encoder_keeps_its_statistics_through_training_and_recalibration():
    torch.manual_seed(0)
    seg = build_unet("tu-test_resnet", decoder_channels=DEC)
    update_batchnorm(_batches(seed=1), seg)  # some non-trivial encoder statistics
    he = MultiTaskHENet("tu-test_resnet", decoder_channels=DEC)
    he.unet.load_state_dict(seg.state_dict())
    he.freeze_encoder()
    before = {k: v.clone() for k, v in he.unet.encoder.state_dict().items()}
    he.train()
    assert not he.unet.encoder.training and he.unet.decoder.training
    opt = torch.optim.SGD([p for p in he.parameters() if p.requires_grad], lr=0.1)
    for x, _ in _batches(2, seed=2):
        out = he(x)
        (out["seg"].mean() + out["he"].mean()).backward()
        opt.step()
    n_recomputed = update_batchnorm(_batches(seed=3), he)
    after = he.unet.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in he.modules())
    n_enc = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in he.unet.encoder.modules())
    assert n_enc > 0 and n_recomputed == n_bn - n_enc
    # the decoder's statistics did move
    dec_bn = next(m for m in he.unet.decoder.modules() if isinstance(m, nn.BatchNorm2d))
    assert not torch.allclose(dec_bn.running_var, torch.ones_like(dec_bn.running_var))


def test_forward_with_given_encoder_features_equals_the_full_forward():
    torch.manual_seed(0)
    he = MultiTaskHENet("tu-test_resnet", decoder_channels=DEC).eval()
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        full = he(x)
        shared = he(x, feats=he.unet.encoder(x))
    assert torch.equal(full["he"], shared["he"]) and torch.equal(full["seg"], shared["seg"])
