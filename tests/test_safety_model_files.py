"""A model file is data, never code: the allow-list, checksums and model metadata."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from sklearn.base import BaseEstimator
from sklearn.preprocessing import FunctionTransformer

from skhe.cli import main
from skhe.datasets import make_clinical_cohort
from skhe.exceptions import ModelVersionWarning
from skhe.persistence import ModelFormatError, allowed_names, load_model, save_model
from skhe.pipelines import make_clinical_to_he, with_mask_column

SIDE_EFFECTS: list[str] = []


class EvilEstimator(BaseEstimator):
    """An estimator whose construction and unpickling have side effects."""

    def __init__(self):
        SIDE_EFFECTS.append("init")

    def __setstate__(self, state):
        SIDE_EFFECTS.append("setstate")
        self.__dict__.update(state)


@pytest.fixture(scope="module")
def clinical(tmp_path_factory):
    """A fitted Clinical-to-HE model saved with the ``skhe fit`` layout, and its cohort."""
    d = tmp_path_factory.mktemp("models")
    df = make_clinical_cohort(120, random_state=0)
    (d / "ct").mkdir()  # the clinical model reads no image; the manifest still names one
    df["ct"] = "ct"
    model = make_clinical_to_he(threshold="youden").fit(df, df["he"])
    thr = model.named_steps["logistic"].threshold_
    save_model(model, d / "model", kind="clinical", metadata={"threshold": thr})
    manifest = d / "manifest.csv"
    df.to_csv(manifest, index=False)
    return d / "model", manifest, df


def _copy(model_dir, tmp_path):
    out = tmp_path / "m"
    shutil.copytree(model_dir, out)
    return out


def _edit(model_dir, fn):
    f = model_dir / "skhe-model.json"
    doc = json.loads(f.read_text())
    fn(doc)
    f.write_text(json.dumps(doc))


def _function_step(name: str, kw_args=None) -> list:
    """The JSON of a ("name", FunctionTransformer(func=<name>)) pipeline step, as skhe writes it."""
    tree = {
        "$object": "sklearn.preprocessing._function_transformer:FunctionTransformer",
        "state": {"func": {"$function": name}, "kw_args": kw_args, "validate": False},
    }
    return {"$tuple": [f"step_{len(name)}", tree]}


def _pipeline_steps(doc) -> list:
    return doc["estimator"]["state"]["steps"]


def test_the_reported_attack_runs_nothing(clinical, tmp_path):
    """Three FunctionTransformer steps reaching DataFrame.rename, to_csv and os.popen through
    skhe.cli._commands' namespace: refused before anything is built, no command runs."""
    marker = tmp_path / "pwned"
    model = _copy(clinical[0], tmp_path)

    def attack(doc):
        steps = _pipeline_steps(doc)
        steps.insert(0, _function_step("skhe.cli._commands:pd.DataFrame.rename"))
        steps.insert(1, _function_step("skhe.cli._commands:pd.DataFrame.to_csv"))
        steps.insert(
            2,
            _function_step(
                "skhe.cli._commands:os.popen",
                {"$dict": [["cmd", f"touch {marker}"]]},
            ),
        )

    _edit(model, attack)
    with pytest.raises(ModelFormatError, match=r"pd\.DataFrame\.rename.*allow-list"):
        load_model(model)
    out = tmp_path / "pred.csv"
    code = main(
        [
            "predict",
            "--model",
            str(model),
            "--manifest",
            str(clinical[1]),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 2
    assert not marker.exists() and not out.exists()


@pytest.mark.parametrize(
    "ref",
    [
        "os:system",
        "builtins:eval",
        "subprocess:run",
        "pandas:io.common.os.system",
        "skhe.cli._commands:os.popen",
        "skhe.persistence:importlib.import_module",
        "skhe.neural._base:_SkheNet",  # an skhe class that is not allow-listed
        f"{__name__}:EvilEstimator",
        "sklearn.pipeline:Pipeline.__init__.__globals__",
    ],
)
@pytest.mark.parametrize("tag", ["$object", "$function"])
def test_references_outside_the_allow_list_are_refused(clinical, tmp_path, ref, tag):
    model = _copy(clinical[0], tmp_path)

    def swap(doc):
        doc["estimator"]["state"]["steps"][0]["$tuple"][1] = {tag: ref, "state": {}}

    _edit(model, swap)
    SIDE_EFFECTS.clear()
    with pytest.raises(ModelFormatError, match="allow-list") as err:
        load_model(model)
    assert repr(ref) in str(err.value) and "steps" in str(err.value)
    assert SIDE_EFFECTS == []


def test_a_function_hidden_in_kw_args_is_refused(clinical, tmp_path):
    model = _copy(clinical[0], tmp_path)

    def hide(doc):
        step = _function_step(
            "skhe.pipelines:with_mask_column", {"$dict": [["f", {"$function": "os:system"}]]}
        )
        _pipeline_steps(doc).insert(0, step)

    _edit(model, hide)
    with pytest.raises(ModelFormatError, match=r"'os:system' at .*kw_args"):
        load_model(model)


def test_nothing_is_built_before_the_whole_file_is_checked(clinical, tmp_path, monkeypatch):
    """A bad reference at the end of the file: no allowed object earlier in it is built first."""
    built = []
    from sklearn.pipeline import Pipeline

    monkeypatch.setattr(Pipeline, "__setstate__", lambda self, s: built.append(s), raising=False)
    model = _copy(clinical[0], tmp_path)
    _edit(model, lambda doc: _pipeline_steps(doc).append(_function_step("os:system")))
    with pytest.raises(ModelFormatError):
        load_model(model)
    assert built == []


def test_user_classes_load_only_when_allowed(tmp_path):
    pipe = FunctionTransformer(with_mask_column)
    save_model(pipe, tmp_path / "ok")
    assert isinstance(load_model(tmp_path / "ok"), FunctionTransformer)
    with pytest.raises(TypeError, match="allow-list"):
        save_model(EvilEstimator(), tmp_path / "evil")
    SIDE_EFFECTS.clear()
    save_model(EvilEstimator(), tmp_path / "evil", allow=[EvilEstimator])
    with pytest.raises(ModelFormatError, match="EvilEstimator"):
        load_model(tmp_path / "evil")
    assert isinstance(load_model(tmp_path / "evil", allow=[EvilEstimator]), EvilEstimator)
    assert f"{__name__}:EvilEstimator" not in allowed_names()


def test_arrays_from_another_model_are_refused(clinical, tmp_path):
    """A clinical model whose arrays file was swapped for another model's: a clear error."""
    df = clinical[2]
    other = make_clinical_to_he(screen_p=None).fit(df.iloc[:80], df["he"].iloc[:80])
    save_model(other, tmp_path / "other")
    model = _copy(clinical[0], tmp_path)
    shutil.copyfile(tmp_path / "other" / "arrays.safetensors", model / "arrays.safetensors")
    with pytest.raises(ModelFormatError, match="checksum mismatch"):
        load_model(model)


def test_damaged_description_is_a_model_format_error(clinical, tmp_path):
    model = _copy(clinical[0], tmp_path)

    def damage(doc):  # drop the checksum and point at an array the file does not hold
        doc.pop("arrays_sha256")
        text = json.dumps(doc["estimator"]).replace('"$array": "a0"', '"$array": "a999"', 1)
        doc["estimator"] = json.loads(text)

    _edit(model, damage)
    with pytest.raises(ModelFormatError, match="'a999' is missing from arrays.safetensors"):
        load_model(model)


@pytest.mark.parametrize("threshold", [2.0, -0.1, "high", None, True])
def test_bad_saved_threshold_is_refused(clinical, tmp_path, capsys, threshold):
    model = _copy(clinical[0], tmp_path)
    _edit(model, lambda doc: doc["metadata"].update(threshold=threshold))
    out = tmp_path / "p.csv"
    args = ["predict", "--model", str(model), "--manifest", str(clinical[1]), "--out", str(out)]
    assert main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "threshold" in err[0] and "between 0 and 1" in err[0]
    assert not out.exists()


def test_model_kind_must_match_its_content(clinical, tmp_path, capsys):
    model = _copy(clinical[0], tmp_path)
    _edit(model, lambda doc: doc.update(kind="image"))
    out = tmp_path / "p.csv"
    args = ["predict", "--model", str(model), "--manifest", str(clinical[1]), "--out", str(out)]
    assert main([*args, "--quiet"]) == 2
    assert "says it is a 'image' model but holds a clinical pipeline" in capsys.readouterr().err


def test_other_version_warns_on_the_terminal(clinical, tmp_path, capsys):
    model = _copy(clinical[0], tmp_path)
    _edit(model, lambda doc: doc.update(skhe_version="0.0.1"))
    with pytest.warns(ModelVersionWarning, match="saved by skhe 0.0.1"):
        load_model(model)
    out = tmp_path / "p.csv"
    args = ["predict", "--model", str(model), "--manifest", str(clinical[1]), "--out", str(out)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "saved by skhe 0.0.1" in err
    assert "saved by skhe 0.0.1" in (tmp_path / "skhe.log").read_text()


def test_allow_list_covers_what_skhe_saves():
    """Every estimator class skhe exports is on the allow-list (saving never needs allow=)."""
    import skhe.linear_model
    import skhe.neural

    exported = [
        getattr(mod, n)
        for mod in (skhe.linear_model, skhe.neural)
        for n in mod.__all__
        if isinstance(getattr(mod, n), type) and issubclass(getattr(mod, n), BaseEstimator)
    ]
    names = allowed_names()
    assert exported and all(f"{c.__module__}:{c.__qualname__}" in names for c in exported)
    assert copy.copy(names) == sorted(names)


def test_edited_metadata_threshold_is_refused(clinical, tmp_path, capsys):
    model = _copy(clinical[0], tmp_path)
    _edit(model, lambda doc: doc["metadata"].update(threshold=0.9))
    args = ["predict", "--model", str(model), "--manifest", str(clinical[1])]
    assert main([*args, "--out", str(tmp_path / "p.csv"), "--quiet"]) == 2
    assert "differs from the one in its metadata" in capsys.readouterr().err


def test_python_and_the_command_line_predict_the_same(clinical, tmp_path):
    """One meaning of predict: the fitted model's threshold_, in Python and in skhe predict."""
    import pandas as pd

    model_dir, manifest, df = clinical
    out = tmp_path / "p.csv"
    args = ["predict", "--model", str(model_dir), "--manifest", str(manifest)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    cli = pd.read_csv(out)
    model = load_model(model_dir)
    X = df.drop(columns=["he"])
    lr = model.named_steps["logistic"]
    assert lr.threshold_source_ == "youden on the training data" and 0 < lr.threshold_ < 1
    assert (cli["prediction"].to_numpy() == model.predict(X)).all()
    p = model.predict_proba(X)[:, 1]
    assert ((p > lr.threshold_) == model.predict(X).astype(bool)).all()
    # the Youden threshold calls positive exactly the training patients at or above the cut
    from skhe.metrics import youden_threshold

    assert ((p >= youden_threshold(df["he"], p)) == model.predict(X).astype(bool)).all()


def test_saving_read_only_arrays_warns_nothing(tmp_path):
    """save_model used to pass torch's "array is not writable" warning to the user."""
    import warnings

    import numpy as np
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(np.arange(12.0).reshape(6, 2))
    scaler.scale_.flags.writeable = False  # as arrays read from a memory map or safetensors
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_model(scaler, tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").scale_, scaler.scale_)


def test_memory_reached_twice_is_saved_once_and_overlaps_are_copied(tmp_path):
    """An array reached through two attributes (as a FrozenEstimator that is both a parameter
    and a fitted attribute of NDLScorer) is stored once; an overlapping part of it is copied
    (safetensors refuses tensors that share memory). Both load with their values."""
    import numpy as np
    import torch
    from safetensors.torch import load_file
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(np.arange(12.0).reshape(4, 3))
    scaler.var_ = scaler.mean_  # the same memory
    scaler.scale_ = scaler.mean_[1:]  # a view overlapping it
    save_model(scaler, tmp_path / "m")
    stored = load_file(str(tmp_path / "m" / "arrays.safetensors"))
    mean = torch.from_numpy(scaler.mean_)
    assert sum(torch.equal(t, mean) for t in stored.values()) == 1
    back = load_model(tmp_path / "m")
    np.testing.assert_array_equal(back.var_, scaler.mean_)
    np.testing.assert_array_equal(back.scale_, scaler.mean_[1:])
    np.testing.assert_array_equal(back.mean_, scaler.mean_)


def test_a_model_saved_before_a_parameter_existed_loads_with_its_default(clinical, tmp_path):
    """A model saved by an earlier skhe lacks the parameters added since: they load at their
    defaults (which keep the earlier behaviour), so get_params and clone still work."""
    from sklearn.base import clone

    model = _copy(clinical[0], tmp_path)

    def drop_param(doc):
        def walk(node):
            if isinstance(node, dict):
                if str(node.get("$object", "")).endswith("ForwardSelectingLogisticRegression"):
                    node["state"].pop("max_iter")
                    return True
                return any(walk(v) for v in node.values())
            return isinstance(node, list) and any(walk(v) for v in node)

        assert walk(doc["estimator"])

    _edit(model, drop_param)
    loaded = load_model(model)
    logistic = loaded.named_steps["logistic"]
    assert logistic.max_iter == 100  # the constructor's default
    assert clone(loaded).get_params()["logistic__max_iter"] == 100
    df = clinical[2]
    expected = load_model(clinical[0]).predict_proba(df)
    assert (loaded.predict_proba(df) == expected).all()
