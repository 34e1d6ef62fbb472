"""Explanations: Grad-CAM heat maps and overlays; the hematoma ROIs behind a descriptor score."""

from skhe.explain._descriptor_view import descriptor_rois
from skhe.explain._gradcam import default_layer, grad_cam, overlay
from skhe.explain._ndl_gradcam import ndl_grad_cam

__all__ = ["default_layer", "descriptor_rois", "grad_cam", "ndl_grad_cam", "overlay"]
