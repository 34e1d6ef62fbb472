"""Shared machinery of the skorch-backed deep estimators.

Each estimator *owns* a skorch ``NeuralNet`` built in ``fit`` (rather than subclassing one), so
``__init__`` only stores plain, grid-searchable parameters and the scikit-learn contract holds.
After ``fit`` the trained torch module is kept as ``module_`` and the per-epoch log as
``history_``; pickling stores CPU weights only, so a GPU-trained model loads on a CPU-only machine.

Just over 500 lines: the mixin is the estimators' one fit/predict/persist path (device and
precision, input sizing, the skorch net, inference batches, save/load); the plain torch pieces
it uses live apart (``_torch_runtime``: threads, seeding, transfers, compile; ``_net``,
``_net_options``, ``_datasets``). Splitting the remaining methods would scatter one path.
"""

from __future__ import annotations

import abc
import json
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Checkpoint, EarlyStopping, ProgressBar
from skorch.helper import predefined_split
from tqdm.auto import tqdm

from skhe.neural._datasets import _ArrayDataset, _SliceDatasetAdapter
from skhe.neural._net import _accelerated_net_class, _SkheNet, make_accelerator, sigmoid_then_2d
from skhe.neural._net_options import NetOptionsMixin
from skhe.neural._torch_runtime import resolve_device, seeded, torch_threads
from skhe.preprocessing import SliceAugmenter, resize

#: Parameters that may change between an interrupted run and its resumption.
_RESUMABLE = {
    "max_epochs",
    "verbose",
    "checkpoint_dir",
    "n_threads",
    "num_workers",
    "device",
    "predict_batch_size",
    "compile",
    "early_stopping",
    "validation_data",
}
#: Pixels per inference batch on a CPU (bigger batches of big slices fall out of the caches).
_CPU_BATCH_PIXELS = 2**18
#: Pixels per inference batch on a GPU: 256 slices at 512 px, the fastest of 16 / 64 / 256 for
#: the paper preset on an H200 (4.11 / 3.98 / 3.65 s for 760 slices, issue 17); at most
#: _GPU_MAX_BATCH slices. A batch the GPU has no memory for is halved (see _forward).
_GPU_BATCH_PIXELS = 2**26
_GPU_MAX_BATCH = 512


class DeepEstimatorMixin(NetOptionsMixin, abc.ABC):
    """fit/predict plumbing shared by SliceClassifier, HematomaSegmenter and MultiTaskHEModel."""

    # the model format saves weights and fitted attributes, not the caller's data or folders
    _not_persisted = ("validation_data", "checkpoint_dir")

    @abc.abstractmethod
    def _build_module(self, pretrained) -> torch.nn.Module:
        """The estimator's network (``pretrained``: False or a local weights path)."""

    @abc.abstractmethod
    def _criterion(self) -> torch.nn.Module:
        """The training loss."""

    # ------------------------------------------------------------------ device and precision
    def _amp_dtype(self, device: str):
        mp = self.mixed_precision
        if mp is False:
            return None
        if not str(device).startswith("cuda"):
            # CPU: fp32 (bf16 autocast is far slower on CPUs without AMX/bf16 units), unless
            # bf16 is asked for by name (e.g. to check bf16 scores against fp32 ones)
            return torch.bfloat16 if mp == "bf16" else None
        if mp in ("auto", True, "bf16"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if mp == "fp16":
            return torch.float16
        raise ValueError(
            f"mixed_precision must be 'auto', True, False, 'bf16' or 'fp16'; got {mp!r}"
        )

    def _loader_workers(self, device: str) -> int:
        """DataLoader workers: ``num_workers``, or for "auto" half the cores (at most 8) on a
        GPU and none on a CPU."""
        if self.num_workers != "auto":
            return int(self.num_workers)
        if not str(device).startswith("cuda"):
            return 0
        return max(1, min(8, (os.cpu_count() or 2) // 2))

    def _channels_last(self, device: str, training: bool) -> bool:
        if self.channels_last == "auto":
            return str(device).startswith("cuda") or not training
        return bool(self.channels_last)

    def _for_inference(self, module: torch.nn.Module, device: str) -> torch.nn.Module:
        """``module`` on ``device`` in eval mode and the inference memory format: done once when
        the model is fit or loaded, so predicting never changes the fitted module."""
        module = module.to(device)
        if self._channels_last(str(device), training=False):
            module = module.to(memory_format=torch.channels_last)
        return module.eval()

    # ------------------------------------------------------------------ data
    def _prepare_images(self, X) -> np.ndarray:
        """Validate slices and bring them to the network's size (head-cropped with ``crop``)."""
        from skhe.neural._validation import check_images

        raw = check_images(X, in_chans=self.in_chans)
        return self._to_model_size(raw, self._crop_boxes(raw))

    def _crop_boxes(self, raw: np.ndarray) -> np.ndarray | None:
        """Head boxes of validated (n, C, H, W) slices when ``crop="head"``, else None."""
        if getattr(self, "crop", "none") != "head":
            return None
        from skhe.preprocessing import head_boxes

        return head_boxes(raw)

    def _image_chunks(self, X, chunk: int = 1024):
        """Prepared slices of ``X`` in chunks: an array in one piece; a ``SliceDataset`` read
        lazily, ``chunk`` slices at a time (predicting from a slice cache as fitting does)."""
        from skhe.preprocessing import SliceDataset

        if not isinstance(X, SliceDataset):
            yield self._prepare_images(X)
            return
        adapter = _SliceDatasetAdapter(
            X, self.image_size, self.in_chans, crop=getattr(self, "crop", "none")
        )
        for start in range(0, len(adapter), chunk):
            items = [adapter[i][0] for i in range(start, min(start + chunk, len(adapter)))]
            yield torch.stack(items).numpy().astype(np.float32, copy=False)

    def _to_model_size(self, arr: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        """Resize already validated (n, C, H, W) slices to ``image_size`` (cutting ``boxes``,
        from :func:`skhe.preprocessing.head_boxes`, first)."""
        if boxes is not None:
            from skhe.preprocessing import crop_to_boxes

            arr = crop_to_boxes(arr, boxes, self.image_size)
        elif arr.shape[2:] != (self.image_size, self.image_size):
            arr = np.stack([resize(arr[:, c], self.image_size) for c in range(arr.shape[1])], 1)
            arr = np.clip(arr, 0.0, 1.0)
        return np.ascontiguousarray(arr, dtype=np.float32)

    def _masks_to_model_size(self, masks: np.ndarray, boxes: np.ndarray | None = None):
        """Resize validated (n, 1, H, W) masks to ``image_size``, keeping them binary."""
        if boxes is not None:
            from skhe.preprocessing import crop_to_boxes

            return crop_to_boxes(masks, boxes, self.image_size, mask=True).astype(np.float32)
        if masks.shape[2:] == (self.image_size, self.image_size):
            return masks
        return resize(masks[:, 0], self.image_size, mask=True)[:, None].astype(np.float32)

    def _augmenter(self):
        if not self.augment:
            return None
        kwargs = self.augment if isinstance(self.augment, dict) else {}
        return SliceAugmenter(random_state=self.random_state, **kwargs)

    # ------------------------------------------------------------------ fitting
    def _make_net(self, train_ds, valid_ds, device: str, accelerator=None) -> _SkheNet:
        callbacks = []
        generator = torch.Generator()
        if self.random_state is not None:
            generator.manual_seed(int(self.random_state))
        sampler = self._train_sampler(train_ds, generator)
        per_epoch = len(sampler) if sampler is not None else len(train_ds)
        drop_last = _lone_last_batch(per_epoch, self.batch_size)
        if self.verbose:
            # the batches an epoch really has: a balanced sampler draws fewer slices than the
            # training set holds, so skorch's default (from the dataset's length) overstates it
            n_batches = _n_batches(per_epoch, self.batch_size, drop_last)
            if valid_ds is not None:
                n_batches += _n_batches(len(valid_ds), self.batch_size, False)
            callbacks.append(("progress", ProgressBar(batches_per_epoch=n_batches)))
        if self.early_stopping:
            monitor = "valid_loss" if valid_ds is not None else "train_loss"
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor=monitor, patience=int(self.early_stopping), load_best=True
                    ),
                )
            )
        if self.checkpoint_dir is not None:
            callbacks.append(
                (
                    "checkpoint",
                    Checkpoint(
                        dirname=str(self.checkpoint_dir),
                        monitor=None,
                        f_params="params.pt",
                        f_optimizer="optimizer.pt",
                        f_criterion=None,
                        f_history="history.json",
                    ),
                )
            )
        if getattr(self, "lr_schedule", None) == "cosine":
            from skorch.callbacks import LRScheduler

            callbacks.append(
                (
                    "lr_scheduler",
                    LRScheduler(
                        policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                        T_max=int(self.max_epochs),
                    ),
                )
            )
        kwargs = dict(
            module=self._build_module(self.pretrained),
            criterion=self._criterion(),
            optimizer=torch.optim.AdamW,
            lr=self.lr,
            optimizer__weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            train_split=predefined_split(valid_ds) if valid_ds is not None else None,
            callbacks=callbacks,
            device=device,
            iterator_train__shuffle=sampler is None,
            iterator_train__sampler=sampler,
            iterator_train__drop_last=drop_last,
            iterator_train__generator=generator,
            iterator_train__num_workers=self._loader_workers(device),
            iterator_valid__num_workers=self._loader_workers(device),
            iterator_train__pin_memory=device.startswith("cuda"),
            verbose=int(self.verbose),
            amp_dtype=self._amp_dtype(device),
            channels_last=self._channels_last(device, training=True),
        )
        net_class = _SkheNet
        if accelerator is not None:  # Accelerate places the data and handles mixed precision
            kwargs.update(device=None, accelerator=accelerator, amp_dtype=None)
            net_class = _accelerated_net_class()
        kwargs["callbacks"] = callbacks + self._user_callbacks(callbacks)
        kwargs["classes"] = self._net_classes()
        if kwargs["classes"] is not None:  # predict_proba (n, 2) for skorch's scoring callbacks
            kwargs["predict_nonlinearity"] = sigmoid_then_2d
        kwargs.update(self.net_kwargs or {})
        net = net_class(**kwargs)
        if kwargs["channels_last"]:
            net.initialize()
            net.module_.to(memory_format=torch.channels_last)
        return net

    def _train_sampler(self, train_ds, generator):
        """The training slices' sampler (None: every slice once per epoch, shuffled)."""
        return None

    def _tta_views(self, x: torch.Tensor):
        """The inputs of test-time augmentation: ``x`` and, with ``tta``, its left-right flip."""
        return (x, x.flip(-1)) if getattr(self, "tta", False) else (x,)

    def _config_for_resume(self) -> dict:
        params = self.get_params(deep=False)
        return {k: repr(v) for k, v in sorted(params.items()) if k not in _RESUMABLE}

    def _fit_datasets(self, train_ds, valid_ds, init_net=None) -> None:
        """Train on torch datasets; ``init_net(net)`` may adjust the built net before training."""
        accelerator = make_accelerator(self.accelerate)
        if accelerator is not None:
            device = str(accelerator.device)
        else:
            device = resolve_device(self.device)
        self._warn_if_gpu_sized(device, len(train_ds))
        with seeded(self.random_state):
            net = self._make_net(train_ds, valid_ds, device, accelerator)
            if init_net is not None:
                init_net(net)
            with torch_threads(self.n_threads):
                resumed = self.checkpoint_dir is not None and self._resume(net, train_ds)
                if not resumed:
                    net.fit(train_ds, None)
            if self.bn_recalibration and _has_batchnorm(net.module_):
                self._recalibrate_bn(net, train_ds, device)
        self.module_ = self._for_inference(net.module_, device)
        self.device_ = device
        self.history_ = [
            {k: v for k, v in epoch.items() if k != "batches"} for epoch in net.history
        ]
        self.n_epochs_ = len(self.history_)

    def _recalibrate_bn(self, net: _SkheNet, train_ds, device: str) -> None:
        """Recompute BatchNorm running statistics with the final weights (one no-grad pass).

        After few optimizer steps the running averages lag behind the weights and eval-mode
        predictions suffer; this is the ``update_bn`` step of stochastic weight averaging.
        """
        from torch.utils.data import DataLoader

        from skhe.nn import update_batchnorm

        if isinstance(train_ds, _ArrayDataset):
            train_ds = _ArrayDataset(train_ds.images, train_ds.targets, None)
        loader = DataLoader(
            train_ds,
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self._loader_workers(device),
            drop_last=_lone_last_batch(len(train_ds), self.batch_size),
        )
        amp = self._amp_dtype(device)
        with (
            torch_threads(self.n_threads),
            torch.autocast(
                "cuda" if device.startswith("cuda") else "cpu",
                dtype=amp or torch.float32,
                enabled=amp is not None,
            ),
        ):
            update_batchnorm(loader, net.module_, device=torch.device(device))

    def _resume(self, net: _SkheNet, train_ds) -> bool:
        ckpt = Path(self.checkpoint_dir)
        ckpt.mkdir(parents=True, exist_ok=True)
        cfg_path = ckpt / "skhe_config.json"
        config = self._config_for_resume()
        if not (ckpt / "params.pt").exists() or not (ckpt / "history.json").exists():
            cfg_path.write_text(json.dumps(config, indent=1))
            return False
        if cfg_path.exists() and json.loads(cfg_path.read_text()) != config:
            raise ValueError(
                f"{ckpt}: holds a checkpoint of a different configuration; use another "
                "checkpoint_dir or delete it to start over."
            )
        if not getattr(net, "initialized_", False):  # keep what init_net set (frozen encoder)
            net.initialize()
        net.load_params(
            f_params=ckpt / "params.pt",
            f_optimizer=ckpt / "optimizer.pt",
            f_history=ckpt / "history.json",
        )
        remaining = int(self.max_epochs) - len(net.history)
        if remaining > 0:
            net.fit_loop(train_ds, None, epochs=remaining)
        return True

    # ------------------------------------------------------------------ inference
    def _predict_batch(self, device: str, pixels: int) -> int:
        """Inference batch size: the parameter, else as many slices as make 2^26 pixels on a
        GPU (256 at 512 px, at most 512) and 2^18 on a CPU (measured fastest on a 2-core CPU:
        batch 1 at 512x512 is 1.4x faster per slice than batch 8 for SEResNeXt-50); see
        benchmarks/inference.py."""
        if self.predict_batch_size:
            return int(self.predict_batch_size)
        if device.startswith("cuda"):
            return max(1, min(_GPU_MAX_BATCH, _GPU_BATCH_PIXELS // max(1, int(pixels))))
        return max(1, _CPU_BATCH_PIXELS // max(1, int(pixels)))

    def _compile_targets(self) -> list[torch.nn.Module]:
        """The parts of ``module_`` whose calls ``compile`` compiles (the whole network; the
        U-Net estimators name its encoder and decoder, which their predictions call)."""
        return [self.module_]

    def _compiled(self):
        """A context in which ``compile`` (if set) compiles :meth:`_compile_targets`' calls."""
        from skhe.neural._torch_runtime import compiled_calls

        options = getattr(self, "compile", False)
        if not options:
            return compiled_calls([], False, {})
        cache = self.__dict__.setdefault("_compiled_calls", {})  # never pickled or saved
        return compiled_calls(self._compile_targets(), options, cache)

    def _forward(self, images: np.ndarray, fn=None, desc: str = "predicting") -> list:
        """Run the module over ``images`` in batches under inference_mode; apply ``fn``.

        ``fn(module, x)`` returns a tensor or a tuple of tensors on the module's device; they
        come back on the CPU, one list entry per batch. On a GPU, batches go in through pinned
        memory and come back with non-blocking copies, with one wait at the end (not one per
        batch). A batch the device has no memory for is halved until it fits (with a
        PerformanceWarning), and later batches keep the smaller size.
        """
        from skhe.neural._torch_runtime import (
            batch_to_device,
            halved_batch,
            outputs_to_host,
            wait_for_copies,
        )

        check_is_fitted(self)
        module = self.module_
        device = next(module.parameters()).device
        cl = self._channels_last(str(device), training=False)
        bs = self._predict_batch(str(device), images.shape[-2] * images.shape[-1])
        amp = self._amp_dtype(str(device))
        out = []
        overlap = device.type == "cuda"
        module.eval()  # a no-op unless something switched it to training mode
        bar = tqdm(
            total=len(images),
            desc=desc,
            unit="slice",
            disable=None if self.verbose and len(images) >= 20 * bs else True,
            leave=False,
        )
        with torch_threads(self.n_threads), torch.inference_mode(), self._compiled(), bar:
            start = 0
            while start < len(images):
                part = images[start : start + bs]
                try:
                    x = batch_to_device(part, device, cl)
                    with torch.autocast(
                        device.type, dtype=amp or torch.float32, enabled=amp is not None
                    ):
                        y = module(x) if fn is None else fn(module, x)
                except torch.OutOfMemoryError:
                    if bs == 1:
                        raise
                    bs = halved_batch(bs, device, type(self).__name__)
                    continue
                out.append(outputs_to_host(y, non_blocking=overlap))
                start += len(part)
                bar.update(len(part))
            wait_for_copies(device)
        return out

    # ------------------------------------------------------------------ persistence
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_compiled_calls", None)  # compiled code lives in memory only
        module = state.pop("module_", None)
        if module is not None:
            state["_module_state"] = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        return state

    def __setstate__(self, state):
        weights = state.pop("_module_state", None)
        self.__dict__.update(state)
        if weights is not None:
            with torch.random.fork_rng(devices=[]):  # building draws random weights
                module = self._build_module(False)
            module.load_state_dict(weights)
            device = getattr(self, "device_", "cpu")
            if str(device).startswith("cuda") and not torch.cuda.is_available():
                self.device_ = "cpu"
            self.module_ = self._for_inference(module, self.device_)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save the fitted estimator to the folder ``path`` in skhe's model format.

        The same format as :func:`skhe.persistence.save_model` (JSON + safetensors, never
        pickle): a model file cannot run code when loaded. ``validation_data`` and
        ``checkpoint_dir`` are not saved (they load as None).

        Parameters
        ----------
        path : path
        overwrite : bool, default=False
            Replace a folder skhe wrote before.

        Returns
        -------
        Path
        """
        from skhe.persistence import save_model

        check_is_fitted(self)
        return save_model(self, path, kind=type(self).__name__, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str = "auto"):
        """Load an estimator written by :meth:`save` (or :func:`skhe.persistence.save_model`).

        Parameters
        ----------
        path : path
        device : str, default="auto"
            Where the network goes: "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N".

        Returns
        -------
        estimator of this class

        Warns
        -----
        skhe.exceptions.ModelVersionWarning
            When the model was saved by another skhe version.
        """
        from skhe.persistence import load_model

        path = Path(path)
        if (path / "config.json").is_file() and (path / "weights.safetensors").is_file():
            raise ValueError(
                f"{path}: saved in the two-file format of earlier skhe development versions; "
                "re-fit and save it with this version (one format: skhe.persistence)."
            )
        est = load_model(path)
        if type(est) is not cls:
            raise ValueError(f"{path} holds a {type(est).__name__}, not a {cls.__name__}.")
        device = resolve_device(device)
        est.module_ = est._for_inference(est.module_, device)
        est.device_ = device
        return est


def _n_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """The batches of ``batch_size`` that ``n`` samples make."""
    return n // int(batch_size) if drop_last else -(-n // int(batch_size))


def _lone_last_batch(n: int, batch_size: int) -> bool:
    """Whether ``n`` samples leave a last batch of one, which BatchNorm cannot train on."""
    return n > int(batch_size) and n % int(batch_size) == 1


def _has_batchnorm(module: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())
