"""The skorch network the deep estimators own: autocast and channels_last in the forward pass,
and skorch's Hugging Face Accelerate integration when asked for."""

from __future__ import annotations

import torch
from skorch import NeuralNet


def sigmoid_then_2d(logits: torch.Tensor) -> torch.Tensor:
    """Binary logits (n,) to ``[1 - p, p]`` probabilities (n, 2), as skorch's classifiers."""
    p = torch.sigmoid(logits.reshape(-1).float())
    return torch.stack([1 - p, p], dim=1)


class _SkheNet(NeuralNet):
    """skorch NeuralNet with autocast (mixed precision) and channels_last in the forward pass."""

    def __init__(self, *args, amp_dtype=None, channels_last=False, classes=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.classes = classes

    @property
    def classes_(self):
        """The labels of a binary classifier's two ``predict_proba`` columns (scorers use it)."""
        if self.classes is None:
            raise AttributeError("classes_: this network is not a classifier")
        return self.classes

    @property
    def _estimator_type(self):  # sklearn scorers pick predict_proba's positive column
        return "classifier" if self.classes is not None else None

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        if self.classes is None:
            return Tags(estimator_type=None, target_tags=TargetTags(required=False))
        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=False),
            input_tags=InputTags(),
        )

    def infer(self, x, **fit_params):
        if self.device is not None:  # None: Accelerate places the batches
            x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        device_type = "cuda" if str(self.device).startswith("cuda") else "cpu"
        with torch.autocast(
            device_type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            out = self.module_(x, **fit_params)
        if isinstance(out, dict):
            return {k: v.float() for k, v in out.items()}
        return out.float()


def _accelerated_net_class():
    """``_SkheNet`` with skorch's Accelerate integration (imported only when asked for)."""
    from skorch.hf import AccelerateMixin

    class _AcceleratedSkheNet(AccelerateMixin, _SkheNet):
        pass

    return _AcceleratedSkheNet


def make_accelerator(accelerate):
    """An ``accelerate.Accelerator`` from the estimators' ``accelerate`` parameter (or None)."""
    if accelerate is None or accelerate is False:
        return None
    if accelerate is not True and not isinstance(accelerate, dict):
        raise ValueError(
            "accelerate must be None, True or a dict of accelerate.Accelerator arguments; got "
            f"{accelerate!r}."
        )
    try:
        from accelerate import Accelerator
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "accelerate=... needs the 'accelerate' package: pip install 'skhe[distributed]'."
        ) from exc
    return Accelerator(**({} if accelerate is True else accelerate))
