"""Explanations: Grad-CAM heat maps and overlays."""

from skhe.explain._gradcam import default_layer, grad_cam, overlay
from skhe.explain._ndl_gradcam import ndl_grad_cam

__all__ = ["default_layer", "grad_cam", "ndl_grad_cam", "overlay"]
