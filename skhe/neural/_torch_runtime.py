"""Where and how torch runs a fit: device choice, intra-op threads, and seeding that leaves the
caller's random state alone."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Temporarily set torch's intra-op thread count (None leaves it alone)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is present, else ``"cpu"``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but CUDA is not available here.")
    return str(device)


@contextlib.contextmanager
def seeded(seed: int | None):
    """Run a fit reproducibly without touching the caller's random state.

    Network initialisation and dropout draw from torch's global generator (timm and smp build
    their modules with it), so the fit runs inside ``torch.random.fork_rng`` seeded with
    ``seed``; Python's and NumPy's global generators are seeded too, for libraries that use
    them, and every generator is given back in the state the caller left it. The data loaders
    shuffle with their own ``torch.Generator``. None: no seeding at all.
    """
    if seed is None:
        yield
        return
    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 - restored below
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            random.seed(seed)
            np.random.seed(seed % 2**32)  # noqa: NPY002 - restored below
            torch.manual_seed(seed)
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
