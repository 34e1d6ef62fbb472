"""BatchNorm running statistics recomputed with a model's final weights."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def update_batchnorm(loader: Iterable, model: nn.Module, device=None) -> int:
    """Recompute the running statistics of the BatchNorm layers that train with ``model``.

    As ``torch.optim.swa_utils.update_bn`` (reset, then one pass over ``loader`` with a
    cumulative average), except that a layer which stays in eval mode under ``model.train()``
    (a frozen part, e.g. :class:`MultiTaskHENet`'s encoder taken from a fitted segmenter) keeps
    its statistics, and no autograd graph is built.

    Parameters
    ----------
    loader : iterable of tensors, or of tuples whose first element is the input batch
    model : nn.Module
    device : torch.device or str, optional
        Where to move each batch.

    Returns
    -------
    int
        Number of BatchNorm layers recomputed.
    """
    was_training = model.training
    model.train()
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.training]
    momenta = {m: m.momentum for m in layers}
    try:
        if layers:
            for m in layers:
                m.reset_running_stats()
                m.momentum = None
            for batch in loader:
                x = batch[0] if isinstance(batch, list | tuple) else batch
                model(x if device is None else x.to(device))
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        model.train(was_training)
    return len(layers)
