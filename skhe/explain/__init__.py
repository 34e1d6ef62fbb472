"""Explanations: Grad-CAM heat maps and overlays."""

from skhe.explain._gradcam import default_layer, grad_cam, overlay

__all__ = ["default_layer", "grad_cam", "overlay"]
