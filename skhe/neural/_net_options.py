"""What the deep estimators add to their skorch net: the caller's callbacks after the built-in
ones, a binary classifier's ``classes_`` for skorch's scoring callbacks, and a warning when a
GPU-sized network is about to train on a CPU."""

from __future__ import annotations

import warnings

from skhe.utils import user_stacklevel


class NetOptionsMixin:
    """Callbacks, classifier outputs and the CPU warning of a DeepEstimatorMixin estimator."""

    #: Slices of at least this size train impractically slowly on a CPU (measured: about 1 s per
    #: slice for SEResNeXt-50 or a ResNet-34 U-Net at 512 px on the 2-core development CPU).
    _GPU_SIZED_PIXELS = 384

    def _warn_if_gpu_sized(self, device: str, n_slices: int) -> None:
        """Say so when a GPU-sized configuration is about to train on a CPU."""
        if not str(device).startswith("cpu") or int(self.image_size) < self._GPU_SIZED_PIXELS:
            return
        from skhe.exceptions import PerformanceWarning

        epochs = int(self.max_epochs) * n_slices
        warnings.warn(
            PerformanceWarning(
                f"{type(self).__name__} at {self.image_size}x{self.image_size} px is sized for "
                f"a GPU but trains on the CPU ({n_slices} slices x {self.max_epochs} epochs; "
                f"at about 1 s per slice on a small CPU that is ~{epochs / 3600:.1f} h). Use "
                "device='cuda', the 'cpu' preset (64-128 px), or a smaller image_size."
            ),
            stacklevel=user_stacklevel(),
        )

    def _net_classes(self):
        """The skorch net's ``classes_`` (binary classifiers), so skorch's scoring callbacks
        (``EpochScoring("roc_auc")``) take the positive probability column."""
        return None

    def _user_callbacks(self, builtin: list) -> list:
        """``callbacks`` as named pairs, after the built-in ones (which they never replace)."""
        taken = {name for name, _ in builtin}
        out = []
        for item in self.callbacks or ():
            name, cb = item if isinstance(item, tuple) else (None, item)
            if name is None:
                base = type(cb).__name__.lower() if not isinstance(cb, type) else cb.__name__
                name, k = base, 1
                while name in taken:
                    k += 1
                    name = f"{base}_{k}"
            if name in taken:
                raise ValueError(
                    f"callback name {name!r} is taken (built-in callbacks: "
                    f"{sorted(n for n, _ in builtin)}); give yours another name."
                )
            taken.add(name)
            out.append((name, cb))
        return out

    def set_params(self, **params):
        """As scikit-learn's; ``callbacks__<name>__<param>`` reaches the named skorch callback
        (so GridSearchCV can tune a callback's settings)."""
        routed = {k: params.pop(k) for k in list(params) if k.startswith("callbacks__")}
        if routed:
            self.net_kwargs = {**(self.net_kwargs or {}), **routed}
        return super().set_params(**params) if params else self
