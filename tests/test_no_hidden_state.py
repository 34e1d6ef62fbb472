"""No hidden process-wide state: caches belong to their owner, fits leave global RNGs alone,
predicting leaves the fitted network alone."""

from __future__ import annotations

import copy
import pickle
import random

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skhe.io import CTVolume
from skhe.neural import SliceClassifier
from skhe.preprocessing import PatientSliceCache, preprocess_patient


def _blobs(n=24, size=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 0.3, size=(n, 1, size, size)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1, :, 4:10, 4:10] += 0.6
    return np.clip(X, 0, 1), y


def _clf(**kw):
    return SliceClassifier(
        "test_resnet", image_size=16, max_epochs=1, batch_size=8, augment=False, **kw
    )


def _global_states():
    legacy = np.random.get_state()[1].copy()  # noqa: NPY002 - the caller's state under test
    return random.getstate(), legacy, torch.get_rng_state().clone()


def test_fit_leaves_the_callers_random_state_alone_and_is_reproducible():
    X, y = _blobs()
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002 - the caller's global state under test
    torch.manual_seed(123)
    before = _global_states()
    a = _clf(random_state=7).fit(X, y)
    after = _global_states()
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    assert torch.equal(before[2], after[2])
    b = _clf(random_state=7).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-6)


def test_predict_does_not_change_the_fitted_module():
    X, y = _blobs()
    clf = _clf(random_state=0, channels_last=False).fit(X, y)
    state = {k: (v.clone(), v.stride()) for k, v in clf.module_.state_dict().items()}
    clf.predict_proba(X)
    for k, v in clf.module_.state_dict().items():
        assert torch.equal(v, state[k][0]) and v.stride() == state[k][1], k


def _volume(value: int) -> CTVolume:
    hu = np.full((3, 8, 8), value, np.int16)
    return CTVolume(hu, (5.0, 1.0, 1.0))


def test_cache_keys_in_memory_volumes_by_content_not_identity():
    """id() is reused once an object is freed: the key must be the content."""
    cache = PatientSliceCache()
    first = cache.get(_volume(10), image_size=4)
    second = cache.get(_volume(90), image_size=4)  # may well get the first volume's id()
    assert first.images.max() == pytest.approx(0.1, abs=1e-3)
    assert second.images.max() == pytest.approx(0.9, abs=1e-3)
    assert len(cache) == 2
    cache.get(_volume(10), image_size=4)  # same content, another object: a hit
    assert len(cache) == 2


def test_cache_keys_files_by_path_and_stat(tmp_path):
    path = tmp_path / "ct.npz"
    np.savez(path, hu=np.full((2, 8, 8), 20, np.int16), spacing=np.array([5.0, 1.0, 1.0]))
    cache = PatientSliceCache()
    assert cache.get(path, image_size=4).images.max() == pytest.approx(0.2, abs=1e-3)
    np.savez(path, hu=np.full((2, 8, 8), 70, np.int16), spacing=np.array([5.0, 1.0, 1.0]))
    assert cache.get(path, image_size=4).images.max() == pytest.approx(0.7, abs=1e-3)


def test_cache_size_limit_and_sharing():
    one = preprocess_patient(_volume(10), None, image_size=4).images.astype(np.float16).nbytes
    cache = PatientSliceCache(max_bytes=2 * one)
    for v in (10, 20, 30):
        cache.get(_volume(v), image_size=4)
    assert len(cache) == 2 and cache.nbytes <= 2 * one  # the least recently used went
    assert copy.deepcopy(cache) is cache  # clones share it
    restored = pickle.loads(pickle.dumps(cache))
    assert restored.max_bytes == cache.max_bytes and len(restored) == 0  # contents stay behind


def test_ndl_scorer_clones_share_a_given_cache_only():
    from skhe.neural import NDLScorer

    shared = PatientSliceCache()
    scorer = NDLScorer(slice_cache=shared)
    assert clone(scorer).slice_cache is shared
    own = NDLScorer()
    assert own._slices() is not NDLScorer()._slices()
    with pytest.raises(ValueError, match="slice_cache must be"):
        NDLScorer(slice_cache="big")._slices()


def test_clinical_users_never_load_torch():
    """import skhe.pipelines + make_clinical_to_he: no torch, skorch or albumentations."""
    import subprocess
    import sys

    code = (
        "import sys, skhe.pipelines as p; m = p.make_clinical_to_he(); "
        "print(sorted(k for k in ('torch', 'skorch', 'albumentations', 'timm') "
        "if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validation_arrays_are_shared_by_clones_not_copied():
    from skhe.neural import ValidationData

    X, y = _blobs()
    val = ValidationData(X[:8], y[:8])
    clf = _clf(random_state=0, validation_data=val, early_stopping=1)
    assert clone(clf).validation_data is val  # no copy of the arrays per fold or candidate
    fitted = clf.fit(X[8:], y[8:])
    assert "valid_loss" in fitted.history_[0]


def test_gpu_sized_training_on_a_cpu_says_so():
    from skhe.exceptions import PerformanceWarning

    X = np.zeros((4, 1, 16, 16), np.float32)
    est = SliceClassifier(
        "test_resnet", image_size=384, max_epochs=1, batch_size=4, augment=False, device="cpu"
    )
    with pytest.warns(PerformanceWarning, match=r"384x384 px is sized for a GPU.*4 slices"):
        est.fit(X, [0, 1, 0, 1])


def test_html_diagram_links_to_the_api_reference(monkeypatch):
    from sklearn.utils import estimator_html_repr

    from skhe.pipelines import make_clinical_to_he, make_image_to_he

    monkeypatch.setenv("SKHE_DOCS_URL", "https://docs.example/skhe/")
    html = estimator_html_repr(make_image_to_he())
    assert 'href="https://docs.example/skhe/neural.html#skhe.neural.NDLScorer"' in html
    assert "linear_model.html#skhe.linear_model.ForwardSelectingLogisticRegression" in html
    monkeypatch.setenv("SKHE_DOCS_URL", "")
    from skhe.utils import _docs

    monkeypatch.setattr(_docs, "docs_base_url", lambda: "")
    assert "skhe.linear_model.ForwardSelecting" not in estimator_html_repr(make_clinical_to_he())
