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


# ---------------------------------------------------------------------- inference transfers
def batch_to_device(batch: np.ndarray, device: torch.device, channels_last: bool) -> torch.Tensor:
    """One inference batch of slices on ``device`` as float32.

    On a GPU the batch goes through pinned (page-locked) host memory with a non-blocking copy,
    so the host goes on preparing the next batch while the GPU copies and computes; another
    dtype crosses as it is and becomes float32 on the device. On a CPU it is
    ``torch.from_numpy`` (as float32).
    """
    batch = np.ascontiguousarray(batch)
    if not batch.flags.writeable:  # torch wraps only writable arrays without a warning
        batch = batch.copy()
    t = torch.from_numpy(batch)
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    t = t.float()
    if channels_last and t.ndim == 4:
        t = t.contiguous(memory_format=torch.channels_last)
    return t


def outputs_to_host(out, non_blocking: bool):
    """A network output (a tensor or a tuple/list of them) copied to CPU memory.

    ``non_blocking``: the copies go to pinned host memory without waiting for the GPU; call
    :func:`wait_for_copies` before reading them. (One wait per prediction instead of one per
    batch.)
    """
    if isinstance(out, tuple | list):
        return type(out)(outputs_to_host(o, non_blocking) for o in out)
    if out.device.type == "cpu":
        return out
    if not non_blocking:
        return out.cpu()
    host = torch.empty(out.shape, dtype=out.dtype, device="cpu", pin_memory=True)
    return host.copy_(out, non_blocking=True)


def halved_batch(bs: int, device: torch.device, who: str) -> int:
    """Half of ``bs`` after ``device`` ran out of memory on a batch of ``bs`` slices, with a
    PerformanceWarning naming ``who`` (the estimator) and the cached GPU memory released."""
    import warnings

    from skhe.exceptions import PerformanceWarning
    from skhe.utils import user_stacklevel

    if device.type == "cuda":
        torch.cuda.empty_cache()
    warnings.warn(
        PerformanceWarning(
            f"{who}: {device} ran out of memory on a batch of {bs} slices; predicting "
            f"{bs // 2} at a time (set predict_batch_size to choose)."
        ),
        stacklevel=user_stacklevel(),
    )
    return bs // 2


def wait_for_copies(device: torch.device) -> None:
    """Wait until ``device``'s queued work, including non-blocking copies, is done."""
    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()


# ---------------------------------------------------------------------- torch.compile
@contextlib.contextmanager
def compiled_calls(modules, options, cache: dict):
    """Calls of ``modules`` go through ``torch.compile`` inside this context.

    Parameters
    ----------
    modules : list of nn.Module
        The modules whose ``__call__`` is compiled (each compiled once per ``options``, kept
        in ``cache``).
    options : bool or dict
        False: nothing is compiled; True: torch.compile's defaults; a dict: torch.compile's
        keyword arguments (``{"mode": "reduce-overhead"}`` for CUDA graphs).
    cache : dict
        Where compiled calls are kept between predictions (the estimator's, never pickled).

    The modules are plain again afterwards (copying or saving them is unaffected).
    """
    if not options:
        yield
        return
    kwargs = dict(options) if isinstance(options, dict) else {}
    key_opts = repr(sorted(kwargs.items()))
    keep = {id(m) for m in modules}
    for key in [k for k, (m, _) in cache.items() if id(m) not in keep or k[1] != key_opts]:
        del cache[key]  # a refit's old modules, other options: let them go
    active = []
    try:
        for m in modules:
            key = (id(m), key_opts)
            hit = cache.get(key)
            if hit is None or hit[0] is not m:
                hit = cache[key] = (m, torch.compile(m._call_impl, **kwargs))
            active.append((m, m._compiled_call_impl))
            m._compiled_call_impl = hit[1]
        yield
    finally:
        for m, before in active:
            m._compiled_call_impl = before
