"""Deep estimators on tiny networks and small synthetic images (CPU, a few seconds each)."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skhe.neural import HematomaSegmenter, SliceClassifier
from skhe.nn import PretrainedWeightsError

TINY_CLF = dict(
    backbone="test_resnet",
    image_size=48,
    lr=3e-3,
    batch_size=16,
    max_epochs=4,
    augment=False,
    random_state=0,
)
TINY_SEG = dict(
    encoder="tu-test_resnet",
    decoder_channels=(32, 16, 8, 8, 4),
    image_size=48,
    lr=3e-3,
    batch_size=16,
    max_epochs=6,
    augment=False,
    random_state=0,
)


def blobs(n, size=48, seed=0):
    """Slices in [0, 1] with a bright disc (the 'hematoma') on half of them."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.1, 0.35, size=(n, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    yy, xx = np.ogrid[:size, :size]
    for i in range(1, n, 2):
        cy, cx = rng.integers(12, size - 12, 2)
        r = rng.integers(4, 9)
        m = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        X[i][m] = rng.uniform(0.6, 0.9)
        masks[i] = m
    return X, masks, (masks.reshape(n, -1).max(axis=1)).astype(int)


@pytest.fixture(scope="module")
def data():
    return blobs(96)


@pytest.fixture(scope="module")
def fitted_clf(data):
    X, _, y = data
    return SliceClassifier(**TINY_CLF).fit(X[:64], y[:64])


@pytest.fixture(scope="module")
def fitted_seg(data):
    X, m, _ = data
    return HematomaSegmenter(**TINY_SEG).fit(X[:64], m[:64])


def test_classifier_learns(fitted_clf, data):
    X, _, y = data
    losses = [h["train_loss"] for h in fitted_clf.history_]
    assert losses[-1] < 0.5 * losses[0]
    assert fitted_clf.score(X[64:], y[64:]) > 0.9
    p = fitted_clf.predict_proba(X[64:])
    assert p.shape == (32, 2) and np.allclose(p.sum(axis=1), 1)
    assert (fitted_clf.predict(X[64:]) == y[64:]).mean() > 0.8
    assert list(fitted_clf.classes_) == [0, 1]


def test_segmenter_learns(fitted_seg, data):
    X, m, _ = data
    losses = [h["train_loss"] for h in fitted_seg.history_]
    assert losses[-1] < 0.7 * losses[0]
    assert fitted_seg.score(X[64:], m[64:]) > 0.5
    proba = fitted_seg.predict_proba(X[64:])
    assert proba.shape == (32, 48, 48) and proba.min() >= 0 and proba.max() <= 1
    area = fitted_seg.predict_area(X[64:])
    true_area = m[64:].reshape(32, -1).sum(axis=1)
    assert np.corrcoef(area, true_area)[0, 1] > 0.8
    mm2 = fitted_seg.predict_area(X[64:66], spacing=(0.5, 0.4))
    np.testing.assert_allclose(mm2, area[:2] * 0.2)
    assert (
        fitted_seg.encode(X[:3]).ndim == 4 and fitted_seg.encode(X[:3], pooled=True).shape[0] == 3
    )


def test_inputs_of_another_size_are_resized(fitted_seg, fitted_clf, data):
    X, _m, _y = data
    big = torch.nn.functional.interpolate(
        torch.from_numpy(X[64:72, None]), size=(64, 64), mode="bilinear"
    ).numpy()[:, 0]
    assert fitted_seg.predict(big).shape == (8, 64, 64)
    assert fitted_clf.predict_proba(big).shape == (8, 2)


def test_deterministic_with_random_state(data):
    X, _, y = data
    a = SliceClassifier(**{**TINY_CLF, "max_epochs": 2}).fit(X[:32], y[:32])
    b = SliceClassifier(**{**TINY_CLF, "max_epochs": 2}).fit(X[:32], y[:32])
    assert [h["train_loss"] for h in a.history_] == [h["train_loss"] for h in b.history_]
    np.testing.assert_array_equal(a.decision_function(X[64:]), b.decision_function(X[64:]))


def test_clone_params_pickle_and_save_load(fitted_clf, fitted_seg, data, tmp_path):
    X, _m, _ = data
    c = clone(fitted_clf)
    assert not hasattr(c, "module_") and c.get_params()["backbone"] == "test_resnet"
    c.set_params(lr=0.1)
    assert c.lr == 0.1 and fitted_clf.lr == 3e-3
    for est in (fitted_clf, fitted_seg):
        again = pickle.loads(pickle.dumps(est))
        if isinstance(est, SliceClassifier):
            np.testing.assert_allclose(
                again.predict_proba(X[64:]), est.predict_proba(X[64:]), atol=1e-6
            )
        else:
            np.testing.assert_allclose(
                again.predict_proba(X[64:]), est.predict_proba(X[64:]), atol=1e-6
            )
        path = est.save(tmp_path / type(est).__name__)
        assert {p.name for p in path.iterdir()} == {
            "skhe-model.json",
            "arrays.safetensors",
            ".skhe-output",
        }
        loaded = type(est).load(path, device="cpu")
        np.testing.assert_allclose(
            loaded.predict_proba(X[64:]), est.predict_proba(X[64:]), atol=1e-6
        )
    with pytest.raises(ValueError, match="not a HematomaSegmenter"):
        HematomaSegmenter.load(tmp_path / "SliceClassifier")
    cfg = tmp_path / "SliceClassifier" / "skhe-model.json"
    cfg.write_text(cfg.read_text().replace('"skhe_version": "', '"skhe_version": "0.0.0-'))
    with pytest.warns(UserWarning, match="saved by skhe 0.0.0"):
        SliceClassifier.load(tmp_path / "SliceClassifier")


def test_grid_search_over_nested_parameters(data):
    X, _, y = data
    gs = GridSearchCV(
        SliceClassifier(**{**TINY_CLF, "max_epochs": 2}), {"lr": [1e-5, 3e-3]}, cv=2
    ).fit(X[:48], y[:48])
    assert gs.best_params_["lr"] == 3e-3  # 1e-5 barely moves in 2 epochs
    assert set(gs.cv_results_["mean_test_score"].round(3)) != {np.nan}


def test_checkpoint_and_resume(data, tmp_path):
    X, _, y = data
    params = {**TINY_CLF, "checkpoint_dir": str(tmp_path / "ckpt")}
    first = SliceClassifier(**{**params, "max_epochs": 2}).fit(X[:32], y[:32])
    assert (tmp_path / "ckpt" / "params.pt").exists()
    resumed = SliceClassifier(**{**params, "max_epochs": 3}).fit(X[:32], y[:32])
    assert resumed.n_epochs_ == 3
    assert [h["train_loss"] for h in resumed.history_[:2]] == [
        h["train_loss"] for h in first.history_
    ]
    with pytest.raises(ValueError, match="different configuration"):
        SliceClassifier(**{**params, "lr": 0.5}).fit(X[:32], y[:32])


def test_explicit_validation_and_early_stopping(data):
    X, m, y = data
    est = SliceClassifier(
        **{**TINY_CLF, "max_epochs": 30, "lr": 1e-9, "early_stopping": 2},
        validation_data=(X[64:], y[64:]),
    ).fit(X[:32], y[:32])
    assert "valid_loss" in est.history_[0] and est.n_epochs_ < 30
    seg = HematomaSegmenter(**{**TINY_SEG, "max_epochs": 1}, validation_data=0.25).fit(
        X[:32], m[:32]
    )
    assert "valid_loss" in seg.history_[0]
    no_valid = SliceClassifier(**{**TINY_CLF, "max_epochs": 1}).fit(X[:32], y[:32])
    assert "valid_loss" not in no_valid.history_[0]  # no silent split


def test_augmentation_runs(data):
    X, m, _y = data
    est = HematomaSegmenter(**{**TINY_SEG, "max_epochs": 1, "augment": True}).fit(X[:32], m[:32])
    assert est.n_epochs_ == 1


@pytest.mark.parametrize(
    "X_mut, y_mut, match",
    [
        (lambda X: X.reshape(len(X), -1), None, "shaped"),
        (lambda X: X * 300, None, r"\[0, 1\]"),
        (lambda X: np.where(X > 0.85, np.nan, X), None, "NaN"),
        (None, lambda y: np.ones_like(y), "one class"),
        (None, lambda y: y[:-3], "labels"),
    ],
)
def test_classifier_bad_input(data, X_mut, y_mut, match):
    X, _, y = data
    X, y = X[:16], y[:16]
    with pytest.raises(ValueError, match=match):
        SliceClassifier(**TINY_CLF).fit(X_mut(X) if X_mut else X, y_mut(y) if y_mut else y)


@pytest.mark.parametrize(
    "m_mut, match",
    [
        (lambda m: m * 3, "binary"),
        (lambda m: m[:, :40], "does not match"),
        (lambda m: m[:-1], "does not match"),
        (lambda m: np.zeros_like(m), "every mask is empty"),
    ],
)
def test_segmenter_bad_input(data, m_mut, match):
    X, m, _ = data
    with pytest.raises(ValueError, match=match):
        HematomaSegmenter(**TINY_SEG).fit(X[:16], m_mut(m[:16]))


def test_local_pretrained_weights(tmp_path):
    import timm
    from safetensors.torch import save_file

    src = timm.create_model("test_resnet", pretrained=False, num_classes=10, in_chans=3)
    save_file(
        {k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "w.safetensors")
    )
    clf = SliceClassifier("test_resnet", pretrained=str(tmp_path / "w.safetensors"))
    net = clf._build_module(clf.pretrained)
    first = next(k for k, v in src.state_dict().items() if v.ndim == 4)
    np.testing.assert_allclose(
        net.backbone.state_dict()[first],
        src.state_dict()[first].sum(dim=1, keepdim=True),
        rtol=1e-6,
    )
    with pytest.raises(FileNotFoundError, match="nope"):
        clf.set_params(pretrained=str(tmp_path / "nope.pt"))._build_module(clf.pretrained)
    with pytest.raises(PretrainedWeightsError, match="never downloads"):
        HematomaSegmenter("resnet18", pretrained=True)._build_module(True)


def test_pretrained_true_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PretrainedWeightsError, match="never downloads"):
        SliceClassifier("test_resnet", pretrained=True)._build_module(True)


@pytest.mark.slow
def test_paper_configurations_construct_and_run_one_forward():
    """Full-size networks: construction and one forward pass only (CPU-slow)."""
    x = torch.rand(1, 1, 512, 512)
    clf = SliceClassifier()  # the paper's defaults
    assert (clf.backbone, clf.lr, clf.weight_decay, clf.batch_size, clf.image_size) == (
        "seresnext50_32x4d",
        1e-4,
        1e-6,
        8,
        512,
    )
    with torch.inference_mode():
        assert clf._build_module(False).eval()(x).shape == (1,)
        seg = HematomaSegmenter()
        assert (seg.encoder, seg.lr) == ("resnet34", 1e-3)
        assert seg._build_module(False).eval()(x).shape == (1, 1, 512, 512)


def test_fit_from_a_lazy_slice_cache(tmp_path):
    """Cohorts larger than memory: fit straight from a SliceCache through a SliceDataset."""
    import pandas as pd

    from skhe.io import read_ct, write_dicom_series, write_nifti
    from skhe.preprocessing import SliceCache, SliceDataset

    X, m, y = blobs(48, size=40, seed=3)
    rows = []
    for k in range(4):  # four "patients" of 12 slices, stored as DICOM + NIfTI
        sl = slice(12 * k, 12 * (k + 1))
        hu = np.rint(X[sl] * 100).astype(np.int16)  # back to HU over the 0-100 window
        write_dicom_series(hu, tmp_path / f"p{k}" / "ct", spacing=(5, 1, 1))
        write_nifti(
            m[sl], tmp_path / f"p{k}" / "mask.nii.gz", like=read_ct(tmp_path / f"p{k}" / "ct")
        )
        rows.append(
            {
                "patient_id": f"p{k}",
                "ct": str(tmp_path / f"p{k}" / "ct"),
                "mask": str(tmp_path / f"p{k}" / "mask.nii.gz"),
            }
        )
    cache = SliceCache(tmp_path / "cache", size=40).build(pd.DataFrame(rows), progress=False)
    clf = SliceClassifier(**{**TINY_CLF, "max_epochs": 3}).fit(
        SliceDataset(cache, ["p0", "p1", "p2"])
    )
    assert clf.score(X[36:], y[36:]) > 0.8  # learned from the cache, scored on arrays
    # predicting from the cache (read lazily, in chunks) equals predicting from its arrays
    held_out = SliceDataset(cache, ["p3"])
    from_cache = clf.predict_proba(held_out)[:, 1]
    arrays = np.stack([cache.slice("p3", k) for k in range(len(held_out))])
    np.testing.assert_allclose(from_cache, clf.predict_proba(arrays)[:, 1], atol=1e-5)
    chunks = list(clf._image_chunks(held_out, chunk=5))
    assert [len(c) for c in chunks] == [5, 5, 2]
    seg = HematomaSegmenter(**{**TINY_SEG, "max_epochs": 2}).fit(SliceDataset(cache, target="mask"))
    assert seg.n_epochs_ == 2 and seg.input_shape_ == (1, 48, 48)
    with pytest.raises(ValueError, match="target='label'"):
        SliceClassifier(**TINY_CLF).fit(SliceDataset(cache, target="mask"))


def test_object_arrays_are_refused():
    with pytest.raises(ValueError, match="numbers"):
        SliceClassifier().fit(np.full((2, 16, 16), "a", dtype=object), [0, 1])


def test_segmenter_encoder_seeds_a_classifier(data, tmp_path):
    """save_encoder writes the U-Net's encoder (safetensors); a classifier of the same
    architecture loads every tensor but its head, another one warns what starts at random."""
    from skhe.exceptions import SkheWarning

    X, m, _ = data
    seg = HematomaSegmenter(
        "resnet18",
        decoder_channels=(16, 8, 8, 8, 4),
        image_size=32,
        max_epochs=1,
        batch_size=8,
        augment=False,
        random_state=0,
    ).fit(X[:16], m[:16])
    path = seg.save_encoder(tmp_path / "enc")
    assert path.name == "enc.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkheWarning)
        net = SliceClassifier("resnet18", pretrained=str(path))._build_module(str(path))
    enc = seg.module_.encoder.state_dict()
    own = net.backbone.state_dict()
    assert set(own) - set(enc) == {"fc.weight", "fc.bias"}
    for k, v in enc.items():
        np.testing.assert_array_equal(own[k].numpy(), v.numpy())
    with pytest.warns(SkheWarning, match=r"tensors of resnet34 are not in the file"):
        SliceClassifier("resnet34", pretrained=str(path))._build_module(str(path))
