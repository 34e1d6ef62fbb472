"""The methods block: configuration, package versions, seeds, machine and timings."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from importlib import metadata

_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "statsmodels",
    "torch",
    "torchvision",
    "skorch",
    "timm",
    "segmentation-models-pytorch",
    "pydicom",
    "nibabel",
    "matplotlib",
)


def package_versions() -> dict[str, str]:
    """Installed versions of skhe and the packages it computes with."""
    from skhe import __version__

    out = {"skhe": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def methods_info(**fields) -> dict:
    """A JSON-ready dict for the report's methods block: ``fields`` plus versions, machine, date.

    Pass the configuration (preset and its networks, selection settings), seeds, data
    description and timings as keyword arguments.
    """
    import torch

    device = "cpu"
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    return {
        **fields,
        "versions": package_versions(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "device": device,
        },
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
