"""Network builders (plain torch): timm slice classifiers and smp U-Nets, local weights only."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn


class PretrainedWeightsError(ValueError):
    """Pretrained weights were asked for but cannot be loaded without a network."""


def load_state_dict_file(path: str | os.PathLike) -> dict:
    """Load a state dict from ``.safetensors`` or a torch file, never unpickling code.

    Torch files are read with ``torch.load(weights_only=True)``. A checkpoint dict holding a
    ``state_dict``/``model`` entry is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights file not found.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    return state


def _adapt_first_conv(state: dict, module: nn.Module) -> dict:
    """Sum RGB first-layer kernels into one channel when the model takes 1-channel input."""
    own = module.state_dict()
    out = {}
    for k, v in state.items():
        if k in own and v.ndim == 4 and own[k].ndim == 4 and v.shape[1] != own[k].shape[1]:
            if own[k].shape[1] == 1:
                v = v.sum(dim=1, keepdim=True)
            else:
                reps = -(-own[k].shape[1] // v.shape[1])
                v = v.repeat(1, reps, 1, 1)[:, : own[k].shape[1]] * v.shape[1] / own[k].shape[1]
        out[k] = v
    return out


def load_matching_weights(module: nn.Module, state: dict, *, what: str) -> list[str]:
    """Load the tensors of ``state`` whose names and shapes fit ``module`` (others skipped).

    Returns the names left at their initial values (e.g. the new classification head).
    """
    state = _adapt_first_conv(state, module)
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise PretrainedWeightsError(
            f"{what}: none of the weights in the file match this architecture (wrong model?)."
        )
    module.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


class SliceClassifierNet(nn.Module):
    """A timm backbone with one output logit per slice (shape (n,))."""

    def __init__(
        self,
        backbone: str = "seresnext50_32x4d",
        in_chans: int = 1,
        pretrained=False,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        import timm

        if pretrained is True:
            try:
                self.backbone = timm.create_model(
                    backbone,
                    pretrained=True,
                    num_classes=1,
                    in_chans=in_chans,
                    drop_rate=drop_rate,
                )
            except Exception as exc:
                raise PretrainedWeightsError(
                    f"pretrained=True needs timm's weights for {backbone!r}, which could not be "
                    f"loaded ({type(exc).__name__}); skhe never downloads at run time: pass "
                    "pretrained='/path/to/weights.safetensors' or pretrained=False."
                ) from exc
            return
        self.backbone = timm.create_model(
            backbone, pretrained=False, num_classes=1, in_chans=in_chans, drop_rate=drop_rate
        )
        if pretrained not in (False, None):
            missing = load_matching_weights(
                self.backbone, load_state_dict_file(pretrained), what=backbone
            )
            head = str(self.backbone.pretrained_cfg.get("classifier") or "fc")
            kept = [k for k in missing if not k.startswith(head + ".")]
            if kept:
                from skhe.exceptions import SkheWarning

                warnings.warn(
                    f"pretrained={str(pretrained)!r}: {len(kept)} of "
                    f"{len(self.backbone.state_dict())} tensors of {backbone} are not in the "
                    f"file (or have another shape) and start at random (e.g. {kept[0]}); "
                    "is it the weights of another architecture?",
                    SkheWarning,
                    stacklevel=2,
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone.forward_features(x)
        # the pooling and the logit in fp32 under mixed precision: the selection threshold is
        # applied to this number, so bf16 rounding here would flip slices (a no-op in fp32)
        with fp32_region(x):
            return self.backbone.forward_head(feats.float()).reshape(-1)


def fp32_region(x: torch.Tensor):
    """A context in which autocast is off on ``x``'s device (fp32 math for small, precision-
    sensitive tails of a network run under bf16/fp16 autocast)."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def unet_logits(unet: nn.Module, x: torch.Tensor, feats: list | None = None) -> torch.Tensor:
    """A segmentation-models-pytorch U-Net's logits, its last (1-channel) convolution in fp32.

    Equal to ``unet(x)`` in fp32; under mixed precision the probabilities, and the areas summed
    from them, then carry no bf16 rounding of the logits.
    """
    if feats is None:
        feats = unet.encoder(x)
    dec = unet.decoder(feats)
    with fp32_region(x):
        return unet.segmentation_head(dec.float())


def build_unet(
    encoder: str = "resnet34",
    in_channels: int = 1,
    *,
    pretrained=False,
    decoder_channels=(256, 128, 64, 32, 16),
) -> nn.Module:
    """A segmentation-models-pytorch U-Net with one output channel (logits).

    ``pretrained`` False/None or a local path to encoder (or whole-model) weights; smp's own
    download (True) is refused since skhe never downloads at run time.
    """
    import segmentation_models_pytorch as smp

    if pretrained is True:
        raise PretrainedWeightsError(
            "pretrained=True would download encoder weights; skhe never downloads at run time: "
            "pass pretrained='/path/to/encoder.safetensors' or pretrained=False."
        )
    depth = len(tuple(decoder_channels))
    net = smp.Unet(
        encoder,
        encoder_weights=None,
        in_channels=in_channels,
        classes=1,
        encoder_depth=depth,
        decoder_channels=tuple(decoder_channels),
    )
    if pretrained not in (False, None):
        state = load_state_dict_file(pretrained)
        if not any(k.startswith("encoder.") for k in state):
            state = {f"encoder.{k}": v for k, v in state.items()}
        load_matching_weights(net, state, what=encoder)
    return net
