"""Scale-out on existing engines: Dask (joblib backend) and Hugging Face Accelerate.

- cross_validate / GridSearchCV of the HE pipelines on a ``dask.distributed.LocalCluster`` with
  two worker processes give the same numbers as the same calls run in this process.
- The deep estimators train through skorch's ``AccelerateMixin`` (Accelerate's CPU
  single-process mode here; ``accelerate launch`` spreads the same code over several GPUs).
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from skhe.datasets import make_clinical_cohort, make_synthetic_cohort
from skhe.exceptions import small_model_warnings_ignored
from skhe.io import load_manifest
from skhe.metrics import SCORERS
from skhe.neural import HematomaSegmenter, MultiTaskHEModel, NDLScorer, SliceClassifier
from skhe.pipelines import make_clinical_to_he, make_image_to_he

SIZE = 32
NETS = dict(image_size=SIZE, batch_size=32, random_state=0, augment=False, n_threads=1)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _scores(cv_result: dict) -> pd.DataFrame:
    return pd.DataFrame({k: v for k, v in cv_result.items() if k.startswith("test_")})


def test_clinical_cross_validate_and_grid_search_on_dask(dask_client):
    from joblib import parallel_backend

    df = make_clinical_cohort(400, random_state=2)
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    model = make_clinical_to_he()
    grid = {"logistic__p_enter": [0.01, 0.05, 0.2], "logistic__screen_p": [0.05, 0.2]}
    local_cv = cross_validate(model, df, df["he"], cv=cv, scoring=SCORERS)
    local_gs = GridSearchCV(model, grid, cv=cv, scoring="roc_auc").fit(df, df["he"])
    with parallel_backend("dask"):
        dask_cv = cross_validate(model, df, df["he"], cv=cv, scoring=SCORERS, n_jobs=-1)
        dask_gs = GridSearchCV(model, grid, cv=cv, scoring="roc_auc", n_jobs=-1).fit(df, df["he"])
    pd.testing.assert_frame_equal(_scores(dask_cv), _scores(local_cv))
    assert dask_gs.best_params_ == local_gs.best_params_
    np.testing.assert_array_equal(
        dask_gs.cv_results_["mean_test_score"], local_gs.cv_results_["mean_test_score"]
    )
    # the work really ran on the cluster's workers
    executed = dask_client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and sum(executed.values()) > 0


def test_image_pipeline_cross_validate_on_dask(dask_client, tmp_path):
    from joblib import parallel_backend

    make_synthetic_cohort(
        32, tmp_path / "c", image_size=SIZE, n_slices=(6, 6), random_state=5, progress=False
    )
    df = load_manifest(tmp_path / "c" / "manifest.csv")
    unet = dict(decoder_channels=(16, 8, 8, 8, 4), lr=3e-3, max_epochs=1, **NETS)
    ndl = NDLScorer(
        SliceClassifier("test_resnet", lr=3e-3, max_epochs=1, **NETS),
        HematomaSegmenter("tu-test_resnet", **unet),
        MultiTaskHEModel("tu-test_resnet", **unet),
        image_size=SIZE,
        cv=2,
        random_state=0,
    )
    model = make_image_to_he(ndl)
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    scoring = {k: SCORERS[k] for k in ("roc_auc", "neg_brier_score")}
    with small_model_warnings_ignored():
        local = cross_validate(clone(model), df, df["he"], cv=cv, scoring=scoring)
        with parallel_backend("dask"):
            remote = cross_validate(clone(model), df, df["he"], cv=cv, scoring=scoring, n_jobs=-1)
    # same seeds, one torch thread each: the same networks, the same scores
    pd.testing.assert_frame_equal(_scores(remote), _scores(local), rtol=1e-6)


def _blob_slices(n: int, seed: int):
    """Slices with a bright blob (label 1) or without (label 0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 0.05, size=(n, SIZE, SIZE)).astype(np.float32)
    y = rng.integers(0, 2, n)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for i in np.flatnonzero(y):
        cy, cx = rng.integers(8, SIZE - 8, 2)
        x[i][(yy - cy) ** 2 + (xx - cx) ** 2 < 16] = 0.9
    return np.clip(x, 0, 1), y


def test_slice_classifier_trains_through_accelerate(monkeypatch):
    accelerate = pytest.importorskip("accelerate")
    prepared = []
    original = accelerate.Accelerator.prepare

    def spy(self, *objs, **kw):
        prepared.extend(type(o).__name__ for o in objs)
        return original(self, *objs, **kw)

    monkeypatch.setattr(accelerate.Accelerator, "prepare", spy)
    X, y = _blob_slices(192, 0)
    Xt, yt = _blob_slices(96, 1)
    clf = SliceClassifier("test_resnet", lr=3e-3, max_epochs=4, accelerate={"cpu": True}, **NETS)
    assert clone(clf).get_params()["accelerate"] == {"cpu": True}
    clf.fit(X, y)
    # Accelerate prepared the module, the optimizer and the data loader
    assert "SliceClassifierNet" in prepared and "AdamW" in "".join(prepared)
    assert any("DataLoader" in name for name in prepared)
    assert type(clf.module_).__name__ == "SliceClassifierNet"  # unwrapped after training
    assert clf.device_ == "cpu" and len(clf.history_) == 4
    assert roc_auc_score(yt, clf.predict_proba(Xt)[:, 1]) > 0.9


def test_accelerate_parameter_is_checked():
    X, y = _blob_slices(16, 0)
    with pytest.raises(ValueError, match="'accelerate' parameter of SliceClassifier must be None"):
        SliceClassifier("test_resnet", max_epochs=1, accelerate="yes", **NETS).fit(X, y)
