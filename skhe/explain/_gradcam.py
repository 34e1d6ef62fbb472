"""Grad-CAM heat maps of what an image model looks at (Selvaraju et al. 2017)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skhe.utils import unwrap_frozen


def _unwrap(model):
    """(torch module, image preparation function, output selector) for a fitted skhe model."""
    est = unwrap_frozen(model)
    if hasattr(est, "he_model_"):  # NDLScorer
        if est.he_model_ is None:
            raise ValueError(
                "grad_cam: this NDLScorer has no HE network (score='descriptors'); see "
                "NDLScorer.descriptor_table and skhe.explain.descriptor_rois."
            )
        if getattr(est, "he_input", "slice") == "roi":
            raise ValueError(
                "grad_cam: this NDLScorer's HE model sees hematoma ROIs, not whole slices; use "
                "skhe.explain.ndl_grad_cam(ndl, patient_row), which cuts the ROI and maps the "
                "result back onto the slice."
            )
        est = unwrap_frozen(est.he_model_)
    if isinstance(est, nn.Module):
        return est, (lambda x: np.asarray(x, np.float32)), None
    if not hasattr(est, "module_"):
        raise ValueError(f"grad_cam needs a fitted skhe image model; got {type(est).__name__}.")
    return est.module_, est._prepare_images, est


def default_layer(module: nn.Module) -> nn.Module:
    """The last Conv2d of the network's encoder/backbone (before any head)."""
    for attr in ("unet", "backbone"):
        if hasattr(module, attr):
            sub = getattr(module, attr)
            module = sub.encoder if hasattr(sub, "encoder") else sub
            break
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("grad_cam: the model has no Conv2d layer; pass layer=...")
    return convs[-1]


def grad_cam(model, slices, *, layer: nn.Module | None = None) -> np.ndarray:
    """Grad-CAM maps of the model's score (HE logit, or slice logit) for each slice.

    Parameters
    ----------
    model : fitted MultiTaskHEModel, SliceClassifier, NDLScorer (its HE model), or nn.Module
    slices : array-like of shape (n, H, W) or (n, 1, H, W), values in [0, 1]
    layer : nn.Module, default=None
        Layer whose activations are weighted; default the last convolution of the encoder
        (backbone) feeding the HE head.

    Returns
    -------
    ndarray of float32, shape (n, H, W)
        Maps in [0, 1] at the input's size (all zeros where no positive evidence).
    """
    module, prepare, _est = _unwrap(model)
    raw = np.asarray(slices, dtype=np.float32)
    if raw.ndim == 3:
        raw = raw[:, None]
    x = torch.from_numpy(prepare(raw))
    layer = layer if layer is not None else default_layer(module)
    device = next(module.parameters()).device
    module.eval()
    store = {}

    def hook(_m, _inp, out):
        out.retain_grad()
        store["act"] = out

    handle = layer.register_forward_hook(hook)
    maps = []
    try:
        for i in range(len(x)):
            xi = x[i : i + 1].to(device).requires_grad_(True)
            with torch.enable_grad():
                out = module(xi)
                score = out["he"] if isinstance(out, dict) else out
                module.zero_grad(set_to_none=True)
                score.sum().backward()
            act, grad = store["act"], store["act"].grad
            weights = grad.mean(dim=(2, 3), keepdim=True)
            cam = F.relu((weights * act).sum(dim=1, keepdim=True))
            cam = F.interpolate(cam, size=raw.shape[2:], mode="bilinear", align_corners=False)
            cam = cam[0, 0].detach().cpu().numpy()
            top = cam.max()
            maps.append(cam / top if top > 0 else np.zeros_like(cam))
    finally:
        handle.remove()
    return np.stack(maps).astype(np.float32)


def overlay(slice_2d, cam, *, alpha: float = 0.4, cmap: str = "jet") -> np.ndarray:
    """Blend a grayscale slice in [0, 1] with a heat map in [0, 1]: RGB uint8 (H, W, 3)."""
    import matplotlib

    img = np.clip(np.asarray(slice_2d, np.float32), 0, 1)
    heat = matplotlib.colormaps[cmap](np.clip(np.asarray(cam, np.float32), 0, 1))[..., :3]
    rgb = (1 - alpha) * np.repeat(img[..., None], 3, axis=2) + alpha * heat
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
