"""Helpers shared by the benchmark scripts: machine description and result writing."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def machine_info() -> dict:
    """CPU/GPU, core count, memory and the versions of the packages that matter."""
    import numpy
    import segmentation_models_pytorch
    import sklearn
    import skorch
    import timm
    import torch

    import skhe

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": mem,
        "gpu": gpu,
        "python": platform.python_version(),
        "versions": {
            "skhe": skhe.__version__,
            "torch": torch.__version__,
            "timm": timm.__version__,
            "segmentation_models_pytorch": segmentation_models_pytorch.__version__,
            "skorch": skorch.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": numpy.__version__,
        },
    }


def write_results(name: str, results: dict, markdown: str, out_dir: Path | None = None) -> Path:
    """Write ``<name>.json`` and ``<name>.md`` under docs/benchmarks (or ``out_dir``)."""
    out = Path(out_dir) if out_dir is not None else DOCS
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1, default=str))
    (out / f"{name}.md").write_text(markdown)
    return out / f"{name}.md"
