"""SliceClassifier: hematoma present/absent per CT slice (timm backbone, skorch training)."""

from __future__ import annotations

import typing

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from skhe.neural._base import DeepEstimatorMixin
from skhe.neural._binary import BinaryProbaMixin
from skhe.neural._datasets import balanced_sampler, dataset_input, make_datasets
from skhe.neural._params import CLASSIFIER_CONSTRAINTS, check_deep_params
from skhe.nn import SliceClassifierNet
from skhe.utils import binary_target
from skhe.utils._docs import DocLinkMixin


class SliceClassifier(
    DocLinkMixin, BinaryProbaMixin, DeepEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """Per-slice hematoma classifier: a timm backbone with one logit, BCE-with-logits loss.

    Defaults are the paper's: SEResNeXt-50 (``seresnext50_32x4d``), 512 x 512 slices windowed to
    0-100 HU, AdamW with lr 1e-4 and weight decay 1e-6, batch 8.

    Parameters
    ----------
    backbone : str, default="seresnext50_32x4d"
        Any timm model name (e.g. ``"resnet18"``, ``"mobilenetv3_small_100"``).
    pretrained : bool or str, default=False
        False: random initialization. A path: local weights (``.safetensors`` or a torch state
        dict, read with ``weights_only=True``; RGB first layers are summed to one channel).
        True: timm's hub weights, only when already cached (skhe never downloads).
    in_chans : {1, 3}, default=1
        Input channels; a 1-channel slice is repeated for 3.
    image_size : int, default=512
        Slices of another size are resized to this.
    lr, weight_decay, batch_size, max_epochs : training hyperparameters
    augment : bool or dict, default=True
        The paper's shift/scale/rotate augmentation (:class:`skhe.preprocessing.SliceAugmenter`);
        a dict passes its arguments.
    validation_data : None, float, ValidationData or (X_val, y_val), default=None
        Explicit validation data, or a stratified fraction of the training slices. None: no
        validation split (never a silent one). Wrap large arrays in
        :class:`~skhe.neural.ValidationData` so that ``clone`` shares them instead of copying.
    early_stopping : int or None, default=None
        Patience in epochs (monitors the validation loss, or the training loss without
        validation); the best weights are restored.
    checkpoint_dir : str or None, default=None
        Saves weights, optimizer and history every epoch; a later ``fit`` with the same
        configuration resumes from there (up to ``max_epochs`` epochs in total).
    device : str, default="auto"
        "auto" uses CUDA when present.
    mixed_precision : {"auto", True, False, "bf16", "fp16"}, default="auto"
        Autocast on a GPU ("auto"/True: bf16 where supported, else fp16); a CPU runs fp32
        unless "bf16" is named (slow on CPUs without bf16 units; useful to check bf16 scores
        against fp32 ones). The small heads that give the scores (the classifier's pooling and
        logit, the segmenter's last convolution, the HE head) always run in fp32.
    channels_last : {"auto", True, False}, default="auto"
        "auto": on GPU always, on CPU for inference only.
    n_threads : int or None, default=None
        torch intra-op threads during fit/predict.
    num_workers : int or "auto", default="auto"
        DataLoader workers (augmentation runs in them). "auto": on a GPU half the CPU cores, at
        most 8 (the CPU prepares batches while the GPU trains); on a CPU 0 (workers would take
        cores from the training itself).
    predict_batch_size : int or None, default=None
        Slices per inference batch. None: on a GPU as many slices as make 2^26 pixels (256 at
        512x512, the fastest measured on an H200; at most 512), halved with a warning where
        the GPU has too little memory; on a CPU as many as make 2^18 pixels (1 at 512x512, 64
        at 64x64), the fastest there because larger batches fall out of the CPU caches
        (``benchmarks/inference.py``).
    compile : bool or dict, default=False
        Predict through ``torch.compile`` (training stays eager): True with its defaults, or a
        dict of its arguments, e.g. ``{"mode": "reduce-overhead"}`` (CUDA graphs on a GPU) or
        ``{"mode": "max-autotune"}``. The first predictions pay the compilation (seconds to
        minutes; again for a new batch shape), later ones run faster where the network is
        dispatch-bound (measured in ``benchmarks/inference.py --compile``); the outputs agree
        with eager ones to float rounding. The compiled code lives in memory only (never
        pickled or saved).
    threshold : float, default=0.5
        Probability above which :meth:`predict` says "hematoma".
    crop : {"none", "head"}, default="none"
        "head": each slice is cropped to a square around the head
        (:func:`skhe.preprocessing.head_boxes`) before it is resized to ``image_size``, which
        about doubles the pixels on the brain at 128-192 px; outputs map back to the original
        pixels. "none": the whole slice (the paper).
    tta : bool, default=False
        Test-time augmentation: predictions average the slice and its left-right flip.
    lr_schedule : None or "cosine", default=None
        None: constant ``lr`` (the paper); "cosine": cosine annealing to 0 over ``max_epochs``.
    sampling : {"all", "balanced"}, default="all"
        "all": every training slice once per epoch (the paper). "balanced": each epoch holds
        every hematoma slice and as many others, drawn anew each epoch
        (:class:`~skhe.neural.BalancedSampler`): balanced classes at a fraction of the epoch's
        cost, and over the epochs every slice is seen.
    class_weight : None, "balanced" or dict, default=None
        Weights of the two classes in the loss (hemorrhage slices are ~11% of CT-ICH):
        "balanced" weighs them inversely to their frequency (``n / (2 n_class)``); a dict maps
        each label to its weight. Applied as BCE's ``pos_weight`` (the ratio of the two), so the
        positive class counts that many times a negative one. The value used is ``pos_weight_``.
    bn_recalibration : bool, default=True
        After training, recompute BatchNorm running statistics with the final weights (one
        forward pass over the training slices without augmentation, as SWA's ``update_bn``); this
        keeps eval-mode predictions faithful after short training.
    random_state : int or None, default=None
        Seeds initialization, shuffling and augmentation.
    verbose : int, default=0
        1 prints the epoch log with a progress bar.
    net_kwargs : dict or None, default=None
        Passed to the underlying ``skorch.NeuralNet`` (e.g. ``{"optimizer__betas": (0.9, 0.99)}``).
    callbacks : list or None, default=None
        skorch callbacks, or ``(name, callback)`` pairs, added after the built-in ones (progress
        bar, early stopping, checkpoint), which they never replace: e.g.
        ``[("auc", EpochScoring("roc_auc", lower_is_better=False))]`` or a logger such as
        ``skorch.callbacks.TensorBoard`` / an MLflow callback. ``set_params(callbacks__auc__...)``
        reaches a named callback's parameters (GridSearchCV too).
    accelerate : None, True or dict, default=None
        Train through Hugging Face Accelerate (skorch's ``AccelerateMixin``): True or a dict of
        ``accelerate.Accelerator`` arguments (e.g. ``{"mixed_precision": "bf16"}``). Run the
        script with ``accelerate launch`` to train on several GPUs (data parallel); the device
        and mixed precision then come from Accelerate, not from ``device``/``mixed_precision``.
        Needs ``pip install 'skhe[distributed]'``.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    pos_weight_ : float
        The positive class's weight relative to the negative one in the loss (1 without
        ``class_weight``).
    module_ : torch.nn.Module
        The trained network (eval mode).
    history_ : list of dict
        Per-epoch ``train_loss`` (and ``valid_loss``), ``dur``.
    n_epochs_ : int
    device_ : str
    input_shape_ : tuple (C, H, W) seen in fit (before resizing).
    """

    _parameter_constraints: typing.ClassVar[dict] = CLASSIFIER_CONSTRAINTS

    def __init__(
        self,
        backbone="seresnext50_32x4d",
        *,
        pretrained=False,
        in_chans=1,
        image_size=512,
        lr=1e-4,
        weight_decay=1e-6,
        batch_size=8,
        max_epochs=10,
        augment=True,
        validation_data=None,
        early_stopping=None,
        checkpoint_dir=None,
        device="auto",
        mixed_precision="auto",
        channels_last="auto",
        n_threads=None,
        num_workers="auto",
        predict_batch_size=None,
        compile=False,
        threshold=0.5,
        crop="none",
        tta=False,
        lr_schedule=None,
        sampling="all",
        class_weight=None,
        bn_recalibration=True,
        random_state=None,
        verbose=0,
        net_kwargs=None,
        callbacks=None,
        accelerate=None,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.in_chans = in_chans
        self.image_size = image_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.augment = augment
        self.validation_data = validation_data
        self.early_stopping = early_stopping
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last
        self.n_threads = n_threads
        self.num_workers = num_workers
        self.predict_batch_size = predict_batch_size
        self.compile = compile
        self.threshold = threshold
        self.crop = crop
        self.tta = tta
        self.lr_schedule = lr_schedule
        self.sampling = sampling
        self.class_weight = class_weight
        self.bn_recalibration = bn_recalibration
        self.random_state = random_state
        self.verbose = verbose
        self.net_kwargs = net_kwargs
        self.callbacks = callbacks
        self.accelerate = accelerate

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.non_deterministic = self.random_state is None
        return tags

    def _net_classes(self):
        return np.array([0, 1])

    def _build_module(self, pretrained):
        return SliceClassifierNet(self.backbone, in_chans=self.in_chans, pretrained=pretrained)

    def _criterion(self):
        from skhe.nn import WeightedBCEWithLogitsLoss

        pos_weight = getattr(self, "pos_weight_", None)
        return WeightedBCEWithLogitsLoss(None if pos_weight in (None, 1.0) else pos_weight)

    def _train_sampler(self, train_ds, generator):
        # targets are labels (n,) or [label, weight] pairs (n, 2)
        return balanced_sampler(
            self, train_ds, generator, lambda t: (t if t.ndim == 1 else t[:, 0]) > 0.5
        )

    def _set_pos_weight(self, y01: np.ndarray, classes) -> None:
        """``pos_weight_`` from ``class_weight`` and the training labels (0/1)."""
        cw = self.class_weight
        if cw is None:
            self.pos_weight_ = 1.0
        elif isinstance(cw, str):  # "balanced": n / (2 n_c) per class; their ratio
            n_pos = int(np.sum(y01 == 1))
            self.pos_weight_ = float((len(y01) - n_pos) / n_pos)
        else:
            missing = [c for c in np.asarray(classes).tolist() if c not in cw]
            if missing:
                raise ValueError(f"class_weight has no weight for class(es) {missing}.")
            w0, w1 = float(cw[classes[0]]), float(cw[classes[1]])
            if not (w0 > 0 and w1 > 0):
                raise ValueError(f"class_weight values must be positive; got {cw!r}.")
            self.pos_weight_ = w1 / w0

    def _prepare_xy(self, X, y):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        check_classification_targets(y)
        y01, classes = binary_target(y, name="y")
        images = self._prepare_images(X)
        if len(y01) != len(images):
            raise ValueError(f"X has {len(images)} slices but y has {len(y01)} labels.")
        return images, y01.astype(np.float32), classes

    def fit(self, X, y=None, sample_weight=None):
        """Train on windowed slices.

        Parameters
        ----------
        X : array-like of shape (n, H, W) or (n, 1, H, W), or SliceDataset
            Slices windowed to [0, 1] (see :func:`skhe.preprocessing.window`), or a
            :class:`skhe.preprocessing.SliceDataset` (``target="label"``) reading a slice cache
            lazily, for cohorts larger than memory (then ``y`` is ignored).
        y : array-like of shape (n,)
            Binary slice labels (hematoma present), both classes required.
        sample_weight : array-like of shape (n,), default=None
            Non-negative weight of each slice in the loss (e.g. a reader's confidence);
            combined with ``class_weight``. Not with a SliceDataset.

        Returns
        -------
        self
        """
        check_deep_params(self)
        lazy = dataset_input(self, X, "label")
        if lazy is not None and sample_weight is not None:
            raise ValueError("sample_weight is not supported with a SliceDataset input.")
        if lazy is not None:
            labels = X.labels
            if len(np.unique(labels)) < 2:
                raise ValueError("the SliceDataset's slices contain only one class.")
            if self.validation_data is not None and not isinstance(self.validation_data, type(X)):
                raise ValueError("with a SliceDataset, validation_data must be one too (or None).")
            valid = (
                dataset_input(self, self.validation_data, "label")
                if self.validation_data is not None
                else None
            )
            self.classes_ = np.array([0, 1])
            self._set_pos_weight(np.asarray(labels), self.classes_)
            self.input_shape_ = (1, self.image_size, self.image_size)
            self._fit_datasets(lazy, valid)
            return self
        images, y01, classes = self._prepare_xy(X, y)
        self.classes_ = classes
        self._set_pos_weight(y01, classes)
        targets = y01
        if sample_weight is not None:
            from skhe.utils._compat import check_sample_weight

            w = check_sample_weight(sample_weight, images, dtype=np.float32)
            if (w < 0).any() or not w.sum() > 0:
                raise ValueError("sample_weight must be non-negative with a positive sum.")
            targets = np.column_stack([y01, w]).astype(np.float32)  # the loss reads both
        self.input_shape_ = tuple(np.shape(X)[1:]) if np.ndim(X) == 4 else (1, *np.shape(X)[1:])

        def prepare_valid(Xv, yv):
            vi, vy, _ = self._prepare_xy(Xv, yv)
            return vi, vy

        train, valid = make_datasets(
            images,
            targets,
            self._augmenter(),
            self.validation_data,
            prepare_valid,
            self.random_state,
            stratify=y01,
        )
        self._fit_datasets(train, valid)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Slice logits, shape (n,); ``X`` as in :meth:`fit` (arrays or a SliceDataset)."""
        check_is_fitted(self)

        def run(module, x):  # logits, averaged over the test-time views
            return torch.stack([module(v).float() for v in self._tta_views(x)]).mean(0)

        out = [torch.cat(self._forward(images, run)) for images in self._image_chunks(X)]
        return torch.cat(out).float().numpy()
