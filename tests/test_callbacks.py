"""User callbacks add to the built-in ones; skorch's scoring callbacks and loggers work."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback, EpochScoring, LRScheduler

from skhe.neural import SliceClassifier


class Recorder(Callback):
    """An MLflow/TensorBoard-style logger: what it sees at each epoch's end."""

    def __init__(self, tag="rec"):
        self.tag = tag

    def initialize(self):
        self.rows, self.names = [], []
        return self

    def on_train_begin(self, net, **kwargs):
        self.names = [name for name, _ in net.callbacks_]

    def on_epoch_end(self, net, **kwargs):
        self.rows.append({k: v for k, v in net.history[-1].items() if k != "batches"})


def _data(n=48):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 0.3, (n, 1, 16, 16)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1, :, 4:10, 4:10] += 0.6
    return np.clip(X, 0, 1), y


def _clf(**kw):
    base = dict(image_size=16, max_epochs=3, batch_size=8, augment=False, random_state=0)
    return SliceClassifier("test_resnet", **{**base, **kw})


def test_callbacks_add_to_the_built_in_ones_and_scoring_works():
    X, y = _data()
    rec = Recorder()
    auc = EpochScoring("roc_auc", lower_is_better=False)

    def positive_column_auc(net, X, y):  # an independent computation of the same number
        return roc_auc_score(y, net.predict_proba(X)[:, 1])

    clf = _clf(
        validation_data=0.25,
        early_stopping=5,
        verbose=1,
        callbacks=[
            ("auc", auc),
            ("by_hand", EpochScoring(positive_column_auc)),
            ("lr", LRScheduler("StepLR", step_size=1)),
            rec,
        ],
    ).fit(X, y)
    # the built-ins are still there, the user's come after them
    assert {"progress", "early_stopping"} <= set(rec.names)
    assert rec.names.index("early_stopping") < rec.names.index("auc")
    assert len(rec.rows) == clf.n_epochs_ == 3
    for row in clf.history_:  # skorch's roc_auc scores the positive probability column
        assert row["roc_auc"] == pytest.approx(row["positive_column_auc"])


def test_callback_names_and_grid_search_over_a_callback_parameter():
    X, y = _data()
    with pytest.raises(ValueError, match="'progress' is taken"):
        _clf(verbose=1, callbacks=[("progress", Recorder())]).fit(X, y)
    est = _clf(validation_data=0.25, callbacks=[("auc", EpochScoring("roc_auc"))])
    est.set_params(callbacks__auc__lower_is_better=False)
    assert est.net_kwargs == {"callbacks__auc__lower_is_better": False}
    gs = GridSearchCV(
        est, {"callbacks__auc__lower_is_better": [False, True], "max_epochs": [1]}, cv=2
    ).fit(X, y)
    assert gs.best_params_["callbacks__auc__lower_is_better"] in (False, True)
    assert "roc_auc" in gs.best_estimator_.history_[0]


def test_class_weight_balances_a_rare_positive_class():
    """10% positives: 'balanced' weighs each 9x in the loss and lifts their probabilities."""
    import torch

    rng = np.random.default_rng(1)
    y = (np.arange(80) % 10 == 0).astype(int)  # 8 positives in 80
    X = rng.uniform(0, 0.3, (80, 1, 16, 16)).astype(np.float32)
    X[y == 1, :, 4:10, 4:10] += 0.4
    plain = _clf(max_epochs=5).fit(X, y)
    balanced = _clf(max_epochs=5, class_weight="balanced").fit(X, y)
    assert plain.pos_weight_ == 1.0 and balanced.pos_weight_ == pytest.approx(72 / 8)
    # the loss is BCE with the positive terms weighted, checked by hand
    logits, target = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([1.0, 0.0, 1.0])
    sig = torch.sigmoid(logits)
    by_hand = -(9.0 * target * torch.log(sig) + (1 - target) * torch.log(1 - sig)).mean()
    assert float(balanced._criterion()(logits, target)) == pytest.approx(float(by_hand), rel=1e-6)
    pos = y == 1
    assert balanced.predict_proba(X)[pos, 1].mean() > plain.predict_proba(X)[pos, 1].mean()
    by_dict = _clf(max_epochs=1, class_weight={0: 1.0, 1: 3.0}).fit(X, y)
    assert by_dict.pos_weight_ == pytest.approx(3.0)
    with pytest.raises(ValueError, match=r"no weight for class\(es\) \[1\]"):
        _clf(max_epochs=1, class_weight={0: 1.0}).fit(X, y)


def test_sample_weight_of_ones_changes_nothing_and_weights_count():
    """Weights in the loss: all ones is the unweighted fit; weighted positives rise."""
    import torch

    from skhe.nn import WeightedBCEWithLogitsLoss

    X, y = _data(48)
    plain = _clf(max_epochs=2).fit(X, y)
    ones = _clf(max_epochs=2).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_allclose(ones.predict_proba(X), plain.predict_proba(X), atol=1e-6)
    w = np.where(y == 1, 4.0, 1.0)
    heavy = _clf(max_epochs=2).fit(X, y, sample_weight=w)
    pos = y == 1
    assert heavy.predict_proba(X)[pos, 1].mean() > plain.predict_proba(X)[pos, 1].mean()
    # the loss: mean(weight * bce), checked by hand
    logits, labels = torch.tensor([0.5, -0.3, 1.5]), torch.tensor([1.0, 0.0, 0.0])
    weights = torch.tensor([2.0, 1.0, 0.5])
    sig = torch.sigmoid(logits)
    bce = -(labels * torch.log(sig) + (1 - labels) * torch.log(1 - sig))
    got = WeightedBCEWithLogitsLoss()(logits, torch.stack([labels, weights], 1))
    assert float(got) == pytest.approx(float((weights * bce).mean()), rel=1e-6)
    with pytest.raises(ValueError, match="non-negative"):
        _clf(max_epochs=1).fit(X, y, sample_weight=-np.ones(len(y)))
