"""The benchmark scripts run end to end (tiny settings; real data skipped when absent)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(script: str):
    """The benchmark script ``script`` imported as a module (once per process)."""
    name = "benchmark_" + Path(script).stem
    if name not in sys.modules:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / script)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def _run_main(script: str, *argv) -> int:
    """``script``'s ``main(argv)`` run in this process: starting an interpreter and importing
    torch, timm and statsmodels costs more than most smoke runs. Torch's thread count is put
    back (a run may change it)."""
    import torch

    threads = torch.get_num_threads()
    try:
        return _benchmark(script).main([str(a) for a in argv])
    finally:
        torch.set_num_threads(threads)


def _run_command(script: str, *argv) -> None:
    """``python benchmarks/<script> argv`` in a fresh interpreter; it must succeed."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *(str(a) for a in argv)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-1500:] + out.stderr[-2500:]


def _ctich_args(ctich_dir, tmp_path) -> list[str]:
    """The CT-ICH benchmark's smoke arguments, writing its results under ``tmp_path``."""
    return ["--smoke", "--root", str(ctich_dir), "--out", str(tmp_path)]


def _ctich_main(*argv) -> int:
    """The CT-ICH benchmark's ``main`` run in this process on ``argv``."""
    return _run_main("ctich.py", *argv)


def _ctich_smoke(ctich_dir, tmp_path, *extra: str, own_process: bool = False) -> dict:
    """Run the CT-ICH benchmark's smoke preset with ``extra`` arguments; its results.
    ``own_process``: as a command, ``python benchmarks/ctich.py ...``."""
    argv = [*_ctich_args(ctich_dir, tmp_path), *extra]
    if own_process:
        _run_command("ctich.py", *argv)
    else:
        assert _ctich_main(*argv) == 0
    return json.loads((tmp_path / "ctich-smoke.json").read_text())


def _ctich_refuses(message: str, *argv) -> None:
    """The CT-ICH benchmark refuses ``argv`` with an error that contains ``message``."""
    with pytest.raises(SystemExit) as refused:
        _ctich_main(*argv)
    assert message in str(refused.value.code)


def test_ctich_benchmark_smoke(ctich_dir, tmp_path):
    models, scores = tmp_path / "models", tmp_path / "scores"
    r = _ctich_smoke(
        ctich_dir,
        tmp_path,
        *("--save-models", str(models), "--save-scores", str(scores), "--refit", "--ensemble"),
        "--region-filter",
        own_process=True,  # the command itself, once
    )
    for key in ("slice_auc", "dice_per_slice", "dice_pooled", "dice_per_patient"):
        assert 0 <= r[key] <= 1
    fold = r["folds"][0]
    assert fold["test_fold"] == 0 and fold["validation_fold"] == 1
    assert fold["n_test_hemorrhage_slices"] > 0
    # --refit: the networks fit again on the training + validation folds score the test fold
    assert r["refit"] and {"segmenter_refit", "classifier_refit"} <= set(fold["wall_time_s"])
    # --ensemble: the mean of both fits' probabilities scores the test fold; both are saved
    assert r["ensemble"] and fold["test_fold_scored_by"] == "mean of the first fit and the refit"
    # every slice score reported; the one in use chosen on the validation fold, not the test
    val_auc = {k: v["validation_auc"] for k, v in fold["slice_scores"].items()}
    assert set(val_auc) == {
        "classifier",
        "segmenter_area",
        "segmenter_max",
        "combined",
        "segmenter_context",
        "combined_context",
        "combined_equal",
        "combined_equal_neighbours",
    }
    assert fold["slice_score"] == max(val_auc, key=val_auc.get)
    seg = fold["segmentation"]
    by_rule = seg["validation_dice_per_slice_by_rule"]
    assert by_rule[" ".join(str(v) for v in seg["mask_rule"])] == max(by_rule.values())
    assert len(by_rule) == 6 + 12  # thresholds and density refinements
    # --region-filter: the rule and cut-off chosen together on validation, the best of the
    # table; the smoke's one validation patient cannot train a filter (cut-off 0 only), so the
    # rule is the one chosen without it and no region is dropped
    rf = seg["region_filter"]
    table = rf["validation_dice_by_rule_and_cutoff"]
    assert len(table) == 18 and all(k.endswith("cutoff 0") for k in table)
    assert rf["validation_dice_per_slice"] == max(d[0] for d in table.values())
    assert rf["mask_rule"] == seg["mask_rule"] and rf["cutoff"] == 0 and rf["filter"] is None
    assert rf["validation_without_filter"]["mask_rule"] == seg["mask_rule"]
    assert seg["by_mask_criterion"]["slice"]["dice_per_slice"] == pytest.approx(r["dice_per_slice"])
    report = (tmp_path / "ctich-smoke.md").read_text()
    assert "Nothing is tuned on the test fold" in report
    assert "Stray-region filter: no cut-off above 0 raised the validation Dice" in report
    # each fit alone beside the mean, with the same choices; the run's own command reproduces it
    assert set(fold["by_fit"]) == {"first_fit", "refit"}
    assert f"| mean of both (reported) | {r['slice_auc']:.3f} |" in report
    assert (
        "`python benchmarks/ctich.py --smoke --seed 0 --slice-score validation --region-filter "
        "--inner-folds 1 --refit --ensemble`" in report
    )
    # the saved networks load in skhe's safe format, with the chosen mask threshold
    from skhe.neural import HematomaSegmenter, SliceClassifier

    loaded = HematomaSegmenter.load(models / "segmenter", device="cpu")
    assert loaded.threshold == seg["mask_threshold"] and loaded.crop == "head"
    assert SliceClassifier.load(models / "classifier", device="cpu").tta is True
    detector = json.loads((models / "detector.json").read_text())
    assert detector["slice_score"] == fold["slice_score"]
    assert detector["ensemble"] == ["", "_first"] and detector["refit"] is True
    first = HematomaSegmenter.load(models / "segmenter_first", device="cpu")
    assert first.threshold == seg["mask_threshold"]
    assert SliceClassifier.load(models / "classifier_first", device="cpu").n_epochs_ > 0
    assert detector["mask_rule"] == seg["mask_rule"]
    assert detector["region_filter"] == rf["filter"]
    ctx = detector["combinations"]["combined_context"]
    assert len(ctx["features"]) == len(ctx["coef"]) == 3 + 3 + 1
    nb = detector["combinations"]["combined_equal_neighbours"]
    assert nb["features"] == ctx["features"][:6] and nb["coef"] == [1.0] * 6
    # the results file records the same weights, with or without --save-models
    assert fold["combinations"] == detector["combinations"]
    # --save-scores: the slice scores behind every reported AUC, recomputed independently
    from sklearn.metrics import roc_auc_score

    saved = np.load(scores / fold["scores_file"])
    assert fold["scores_file"] == "scores-fold0.npz"
    assert len(saved["test/label"]) == fold["n_test_slices"] == len(saved["test/patient"])
    assert len(saved["validation/label"]) == fold["n_validation_slices"]
    for name, auc in fold["slice_scores"].items():
        assert roc_auc_score(saved["test/label"], saved[f"test/{name}"]) == pytest.approx(
            auc["auc"]
        )
    for fit, figures in fold["by_fit"].items():
        chosen = saved[f"test_{fit}/{fold['slice_score']}"]
        assert roc_auc_score(saved["test/label"], chosen) == pytest.approx(figures["slice_auc"])
    # the validation fold's own scores (the combinations' there are in-sample, not the
    # reported out-of-fold AUC)
    assert roc_auc_score(
        saved["validation/label"], saved["validation/segmenter_max"]
    ) == pytest.approx(fold["slice_scores"]["segmenter_max"]["validation_auc"])
    # the region analysis reads the saved networks: the rule it chooses without a filter is
    # the run's (same probabilities, same rules), and its test-fold Dice the run's
    regions_argv = ["--smoke", "--root", ctich_dir, "--models", models, "--test-fold", "0"]
    regions_argv += ["--out", tmp_path / "regions"]
    assert _run_main("ctich_regions.py", *regions_argv) == 0
    regions = json.loads((tmp_path / "regions" / "ctich-fold0-regions.json").read_text())
    assert regions["validation_fold"] == 1
    assert "| with the filter |" in (tmp_path / "regions" / "ctich-fold0-regions.md").read_text()
    without = regions["without_filter"]
    assert without["cutoff"] == 0.0
    if without["rule"] == seg["mask_rule"]:  # the smoke offers 3 of the run's 18 rules
        assert without["test"]["dice_per_slice"] == pytest.approx(r["dice_per_slice"], abs=0.02)
    # --from-models: the saved networks instead of new fits give the same figures
    again = tmp_path / "again"
    from_models = [*_ctich_args(ctich_dir, again), "--from-models", str(models)]
    assert _ctich_main(*from_models, "--region-filter", "--refit", "--ensemble") == 0
    rerun = json.loads((again / "ctich-smoke.json").read_text())
    for key in ("slice_auc", "dice_per_slice", "dice_pooled", "dice_per_patient"):
        assert rerun[key] == r[key]
    assert (
        rerun["networks_from_saved_models"]
        and "segmenter_fit" not in rerun["folds"][0]["wall_time_s"]
    )
    assert "leave out their training" in (again / "ctich-smoke.md").read_text()
    # without --refit the run would take the refit for the first fit: refused, with the reason
    _ctich_refuses("give the run the --refit/--ensemble", *from_models, "--no-refit")
    # networks fit with other settings than the run's are refused, naming the setting
    _ctich_refuses(
        "other settings than this run's (lr=",
        *from_models,
        *("--refit", "--ensemble", "--set", "segmenter.lr=0.5"),
    )


def test_ctich_benchmark_inner_folds_smoke(ctich_dir, tmp_path):
    """--inner-folds 2: two fits, each validated on one of the next two folds; the choices on
    both validation folds together, the test fold scored by the mean of the two fits."""
    models = tmp_path / "models"
    args = _ctich_args(ctich_dir, tmp_path)
    r = _ctich_smoke(
        ctich_dir,
        tmp_path,
        *("--test-fold", "4", "--inner-folds", "2", "--save-models", str(models)),
        *("--slice-score", "segmenter_context", "--largest-region"),
    )
    fold = r["folds"][0]
    seg = fold["segmentation"]
    by_rule = seg["validation_dice_per_slice_by_rule"]
    assert by_rule[" ".join(str(v) for v in seg["mask_rule"])] == max(by_rule.values())
    # --largest-region: thresholds and density refinements, each also followed by the largest
    # region; the rule the run's criterion chooses without them, on the test fold too
    assert len(by_rule) == 2 * (6 + 12)
    without = seg["by_mask_criterion"]["without_largest"]["mask_rule"]
    assert without[0] != "largest"
    others = {k: v for k, v in by_rule.items() if not k.startswith("largest")}
    assert by_rule[" ".join(str(v) for v in without)] == max(others.values())
    assert r["inner_folds"] == 2 and not r["refit"] and not r["ensemble"]
    # the folds after 4 wrap round: 0 and 1 validate, each fit trains on the other three
    assert fold["validation_folds"] == [0, 1]
    # (which slices each fit trains and validates on: test_ctich_split)
    n_train = fold["n_train_slices_by_fit"]
    assert len(n_train) == 2 and n_train[0] == fold["n_train_slices"] and min(n_train) > 0
    assert set(fold["by_fit"]) == {"validated_on_fold_0", "validated_on_fold_1"}
    assert fold["test_fold_scored_by"] == "mean of the fits validated on folds 0 and 1"
    assert "segmenter_refit" not in fold["wall_time_s"]
    report = (tmp_path / "ctich-smoke.md").read_text()
    assert "| fit validated on fold 1 alone |" in report
    assert "| the run's criterion, without the largest-region rules |" in report
    assert (
        "`python benchmarks/ctich.py --smoke --seed 0 --slice-score segmenter_context "
        "--largest-region --test-fold 4 --inner-folds 2`" in report
    )
    # --slice-score: the test fold is measured on the score named, whatever validation preferred
    assert fold["slice_score"] == fold["slice_score_rule"] == "segmenter_context"
    assert r["slice_auc"] == fold["slice_scores"]["segmenter_context"]["auc"]
    assert "| segmenter_context (fixed) |" in report and "(chosen)" not in report
    detector = json.loads((models / "detector.json").read_text())
    assert detector["slice_score"] == "segmenter_context"
    assert detector["ensemble"] == ["", "_2"] and (models / "segmenter_2").exists()
    # a refit on top of several inner fits is refused, with the reason
    _ctich_refuses("--refit needs one inner fold", *args, "--inner-folds", "2", "--refit")
    _ctich_refuses(
        "--validation mixed takes one inner fit",
        *args,
        *("--inner-folds", "2", "--validation", "mixed"),
    )
    # a slice score that needs the classifier, with the classifier turned off, is refused, and
    # the message names every score that runs without it, the equal-weight ones included
    no_cls = ["--set", "classifier.enabled=False", "--slice-score", "combined_context"]
    _ctich_refuses("needs the classifier", *args, *no_cls)
    _ctich_refuses("segmenter_context, combined_equal, combined_equal_neighbours", *args, *no_cls)

    # --merge: single-fold runs (here the same run relabelled as folds 0-4, each Dice scaled)
    # become one cross-validation, as --cv would have written it
    # (fold 3's run reached the same settings by a --set, which merges: the settings in effect
    # must agree, not how they were spelled)
    paths = []
    for k in range(5):
        one = json.loads(json.dumps(r))
        one["folds"][0].update(test_fold=k, dice_per_slice=0.1 * (k + 1))
        if k == 3:
            one["overrides"] = ["segmenter.lr=" + repr(one["config"]["segmenter"]["lr"])]
        paths.append(tmp_path / f"fold{k}.json")
        paths[-1].write_text(json.dumps(one))
    merged_dir = tmp_path / "merged"

    def merge(runs, *extra):
        return ["--merge", *runs, "--out", merged_dir, *extra]

    assert _ctich_main(*merge(paths[::-1])) == 0
    cv = json.loads((merged_dir / "ctich-smoke.json").read_text())
    assert [f["test_fold"] for f in cv["folds"]] == [0, 1, 2, 3, 4]
    assert cv["cv"]["dice_per_slice"]["mean"] == pytest.approx(0.3)
    assert cv["dice_per_slice"] == pytest.approx(0.1)  # the headline: fold 0
    merged_md = (merged_dir / "ctich-smoke.md").read_text()
    assert "Assembled with `--merge`" in merged_md
    # the runs' score was fixed (--slice-score), so the table does not call it validation's choice
    assert "| fixed by `--slice-score` (folds) |" in merged_md
    assert "`--set segmenter.lr=" in merged_md  # fold 3's own way of reaching the settings
    _ctich_refuses("not each of [0, 1, 2, 3, 4] once", *merge(paths[:4]))
    # --summary-into: the 5-fold summary recorded in one merged run's results (the headline),
    # its hand-written notes kept; a run that is not one of the merged ones is refused
    (tmp_path / "fold0.md").write_text("# report\n\n## Notes\n\n- kept by hand\n")
    assert _ctich_main(*merge(paths, "--summary-into", paths[0])) == 0
    headline = json.loads(paths[0].read_text())
    assert headline["cv_summary"]["dice_per_slice"]["mean"] == pytest.approx(0.3)
    assert headline["cv_summary"]["test_folds"] == [0, 1, 2, 3, 4]
    assert headline["cv_summary"]["file"] == "ctich-smoke.json"
    md = (tmp_path / "fold0.md").read_text()
    assert "| Dice per hemorrhage slice | 0.300 ± 0.158 | 0.100, 0.200, 0.300, 0.400, 0.500 |" in md
    assert "(this run is its test fold 0)" in md and md.endswith("## Notes\n\n- kept by hand\n")
    # merged again, the headline's own summary is not carried into the cross-validation
    assert _ctich_main(*merge(paths)) == 0
    assert "cv_summary" not in json.loads((merged_dir / "ctich-smoke.json").read_text())
    stranger = json.loads(paths[1].read_text())
    stranger["folds"][0].update(test_fold=0, dice_per_slice=0.9)
    (tmp_path / "stranger.json").write_text(json.dumps(stranger))
    into_stranger = merge(paths, "--summary-into", tmp_path / "stranger.json")
    _ctich_refuses("is not the run merged for that fold", *into_stranger)
    # a run whose settings in effect differ is refused, naming the file and the key
    other = json.loads(paths[3].read_text())
    other["config"]["segmenter"]["lr"] *= 2
    paths[3].write_text(json.dumps(other))
    _ctich_refuses("fold3.json differs", *merge(paths))
    _ctich_refuses("'config'", *merge(paths))


def test_ctich_split():
    """The test fold, and each inner fit's validation fold (the next ones) and training folds."""

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from types import SimpleNamespace

    from ctich import split

    # ten patients of three slices, two patients per fold
    data = SimpleNamespace(
        patient=np.repeat(np.arange(10), 3), folds={p: p // 2 for p in range(10)}
    )

    fold_of = np.repeat(np.arange(10) // 2, 3)
    test, inner = split(data, 3, [], 2)
    np.testing.assert_array_equal(test, fold_of == 3)
    assert [v_fold for _, _, v_fold in inner] == [4, 0]
    for train, val, v_fold in inner:
        np.testing.assert_array_equal(val, fold_of == v_fold)
        np.testing.assert_array_equal(train, ~np.isin(fold_of, [3, v_fold]))
    # an excluded fold is neither trained on nor validated on
    test, inner = split(data, 3, [4], 1)
    ((train, val, v_fold),) = inner
    assert v_fold == 0 and not (train & (fold_of == 4)).any()
    with pytest.raises(ValueError, match="inner folds: 4 asked"):
        split(data, 0, [], 4)


def test_ctich_mixed_validation_split():
    """validation='mixed': about a quarter of every other fold's patients validate, drawn
    among those with and without hemorrhage alike; patient-grouped, the test fold untouched."""

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from types import SimpleNamespace

    from ctich import split

    # 40 patients of three slices, 8 per fold; every other patient has a hemorrhage slice
    patient = np.repeat(np.arange(40), 3)
    labels = ((patient % 2 == 0) & (np.tile(np.arange(3), 40) == 1)).astype(int)
    data = SimpleNamespace(patient=patient, labels=labels, folds={p: p // 8 for p in range(40)})
    fold_of = patient // 8
    test, ((train, val, label),) = split(data, 2, [], 1, "mixed", seed=0)
    assert label == "mixed"
    np.testing.assert_array_equal(test, fold_of == 2)
    assert not (train & val).any() and not ((train | val) & test).any()
    assert (train | val | test).all()
    v_pat = np.unique(patient[val])
    assert set(np.unique(patient[train])).isdisjoint(v_pat)  # patient-grouped
    assert len(v_pat) == 8  # a quarter of the 32 patients outside the test fold
    assert sum(p % 2 == 0 for p in v_pat) == 4  # half of them with hemorrhage, as in the data
    assert set(fold_of[val]) == {0, 1, 3, 4}  # every training fold gives some
    again = split(data, 2, [], 1, "mixed", seed=0)[1][0][1]
    other = split(data, 2, [], 1, "mixed", seed=1)[1][0][1]
    np.testing.assert_array_equal(again, val)
    assert (other != val).any()
    with pytest.raises(ValueError, match="one inner fit"):
        split(data, 2, [], 2, "mixed")
    with pytest.raises(ValueError, match="'next' or 'mixed'"):
        split(data, 2, [], 1, "random")


def test_ctich_cross_validation_summary():
    """The 5-fold summary: mean and SD (n - 1) of each metric, and of each slice score's test
    AUC with how often validation chose it."""

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ctich import summarize, summarize_slice_scores

    aucs = {"classifier": [0.8, 0.9, 0.7], "combined_context": [0.9, 0.95, 0.85]}
    folds = [
        {
            "slice_auc": aucs[chosen][i],
            "dice_per_slice": 0.1 * (i + 1),
            "dice_pooled": 0.5,
            "dice_per_patient": 0.4,
            "slice_score": chosen,
            "slice_scores": {k: {"auc": v[i]} for k, v in aucs.items()},
        }
        for i, chosen in enumerate(["classifier", "classifier", "combined_context"])
    ]
    cv = summarize(folds)
    assert cv["slice_auc"]["folds"] == [0.8, 0.9, 0.85]
    assert cv["dice_per_slice"]["mean"] == pytest.approx(0.2)
    assert cv["dice_per_slice"]["sd"] == pytest.approx(0.1)
    by_score = summarize_slice_scores(folds)
    assert by_score["combined_context"]["mean"] == pytest.approx(0.9)
    assert by_score["classifier"]["sd"] == pytest.approx(np.std([0.8, 0.9, 0.7], ddof=1))
    assert (by_score["classifier"]["chosen"], by_score["combined_context"]["chosen"]) == (2, 1)


def test_ctich_compare_to_sets_a_run_against_an_earlier_run_on_its_fold():
    """--compare-to: a fold-1 run's report reads against the earlier fold-1 run (its "before"
    and its headline as "previous"), not the preset's fold-0 figures; runs on different test
    folds, or a cross-validation, are refused."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _ctich_markdown import markdown
    from _ctich_summary import compare_to
    from ctich import main

    docs = ROOT / "docs/benchmarks"
    now = json.loads((docs / "ctich-fold1-mixedloss.json").read_text())
    earlier = json.loads((docs / "ctich-fold1-sliceloss.json").read_text())
    r = compare_to(now, earlier, "docs/benchmarks/ctich-fold1-sliceloss.json")
    assert r["previous"]["label"] == "ctich-fold1-sliceloss.md"
    assert r["previous"]["dice_per_patient"] == earlier["dice_per_patient"]
    text = markdown(r)
    # fold 1's own figures: the 5-fold run's fold 1, then the previous preset's fold 1
    assert "| slice AUC | 0.939 | 0.949 | 0.953 | >= 0.95 |" in text
    assert "| Dice per patient | 0.235 | 0.209 | 0.234 | >= 0.55 |" in text
    assert "previous run (ctich-fold1-sliceloss.md)" in text
    fold0 = json.loads((docs / "ctich.json").read_text())
    with pytest.raises(SystemExit, match="tests fold 0, this run fold 1"):
        compare_to(now, fold0, "ctich.json")
    cv = json.loads((docs / "ctich-cv-sliceloss.json").read_text())
    with pytest.raises(SystemExit, match="ctich-cv-sliceloss.json is not a single-fold run"):
        compare_to(now, cv, "ctich-cv-sliceloss.json")
    with pytest.raises(SystemExit, match="--compare-to sets one test fold"):
        main(["--merge", "a.json", "--compare-to", "b.json"])


def test_ctich_report_sets_each_preset_against_its_own_targets():
    """A results file renders with its preset's targets and earlier figures (the paper preset's
    GPU targets, not the cpu preset's), and its Reproduce line names the device and packed data
    the run used; a file written before targets were stored keeps the cpu preset's."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _ctich_markdown import REFERENCES_BY_PRESET, markdown

    paper = json.loads((ROOT / "docs/benchmarks/ctich-paper.json").read_text())
    text = markdown(paper)
    assert "| slice AUC | 0.836 | 0.953 | 0.950 | >= 0.97 |" in text
    assert "| Dice per hemorrhage slice | 0.480 | 0.590 | 0.590 | >= 0.60 |" in text
    assert "| Dice pooled | 0.700 | 0.767 | 0.767 | - |" in text
    # its slice score fixed by the preset (the table marks it so), not chosen on validation
    assert "| combined (fixed) | 0.916 | 0.950 (0.920-0.979) |" in text
    assert "--slice-score combined" in text
    assert "--preset paper --seed 0 --device cuda --packed ctich256.npz.xz --set" in text
    cpu = json.loads((ROOT / "docs/benchmarks/ctich.json").read_text())
    text = markdown(cpu)
    assert "| slice AUC | 0.825 | 0.956 | 0.954 | >= 0.95 |" in text
    assert "| Dice per patient | 0.192 | 0.513 | 0.584 | >= 0.55 |" in text
    assert "| combined_equal_neighbours (fixed) | 0.940 | 0.954 (0.934-0.975) |" in text
    assert "| combined | 0.924 | 0.944 (0.922-0.967) |" in text
    assert "| combined_equal | 0.936 | 0.951 (0.930-0.972) |" in text
    # the segmenter's loss is in the configuration table; its decoder's channels print the
    # same from the run (a tuple) as from the results file (a list)
    assert "loss=mixed_dice_bce" in text
    assert "decoder_channels=[128, 64, 32, 16, 16]," in text
    as_run = json.loads(json.dumps(cpu))
    as_run["config"]["segmenter"]["decoder_channels"] = (128, 64, 32, 16, 16)
    assert markdown(as_run) == text
    assert "--device" not in text and "--packed" not in text
    # the classifier started from the segmenter's encoder: the table and the command say so
    assert "starting from each fit's segmenter encoder |" in text
    # run before the region filter was the cpu preset's: it reproduces with the filter off
    assert "region_filter" not in cpu["config"]
    assert (
        "--slice-score combined_equal_neighbours --no-region-filter --classifier-init segmenter "
        "--inner-folds 1" in text
    )
    # written before the targets and the slice-score rule were stored: the cpu targets, and
    # the score marked as chosen on validation
    old = json.loads((ROOT / "docs/benchmarks/ctich-cv.json").read_text())
    assert "targets" not in old
    text = markdown(old)
    assert "| slice AUC | 0.825 | 0.892 | 0.789 | >= 0.95 |" in text
    assert "| classifier (chosen) | 0.925 | 0.789 (0.749-0.829) |" in text
    assert markdown({**old, "targets": REFERENCES_BY_PRESET["cpu"]["targets"]}) == text
    # a run validated on a quarter of each training fold says so, and how to reproduce it
    mixed = json.loads(json.dumps(cpu))
    mixed["config"]["validation"] = "mixed"
    mixed["folds"][0].update(validation_fold="mixed", validation_folds=["mixed"])
    text = markdown(mixed)
    assert "a quarter of each other fold's patients" in text
    assert "### Test fold 0 (inner validation: a quarter of each training fold's patients)" in text
    assert "--validation mixed --no-region-filter --classifier-init segmenter" in text
    # a run with the stray-region filter: its choice on validation, and the command turns it on
    filtered = json.loads(json.dumps(cpu))
    filtered["config"]["region_filter"] = True
    filtered["folds"][0]["segmentation"]["region_filter"] = {
        "mask_rule": ["refined", 50.0, 0.5, 0.1],
        "cutoff": 0.4,
        "validation_dice_per_slice": 0.551,
        "validation_dice_per_patient": 0.565,
        "validation_without_filter": {
            "mask_rule": ["threshold", 0.4],
            "dice_per_slice": 0.524,
            "dice_per_patient": 0.536,
        },
    }
    text = markdown(filtered)
    assert "--slice-score combined_equal_neighbours --region-filter --classifier-init" in text
    assert "validation with rule refined 50.0 0.5 0.1 and cut-off 0.4, validation Dice" in text
    assert "(without it, rule threshold 0.4: 0.524 and 0.536)" in text
    assert "| mean Dice per hemorrhage slice (this run, without the region filter) |" in text


def test_ctich_segmenter_windows(ctich_dir):
    """--segmenter-windows: the segmenter's channels are the windows, channel 0 the slices
    themselves; windows outside 0-100 HU and --save-models with windows are refused."""

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ctich import PRESETS, main, parse_windows, segmenter_input, segmenter_params

    windows = parse_windows(["0,100", "40,90"])
    assert windows == [[0.0, 100.0], [40.0, 90.0]]
    cfg = {**PRESETS["cpu"], "segmenter_windows": windows}
    assert segmenter_params(cfg)["in_chans"] == 2
    assert "in_chans" not in segmenter_params(PRESETS["cpu"])
    x = np.linspace(0, 1, 2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    patient, number = np.array(["a", "a"]), np.array([1, 2])
    two = segmenter_input(cfg, x, patient, number)(np.ones(2, bool))
    assert two.shape == (2, 2, 4, 4)
    np.testing.assert_allclose(two[:, 0], x, atol=1e-6)
    np.testing.assert_allclose(two[:, 1], np.clip((100 * x - 40) / 50, 0, 1), atol=1e-6)
    np.testing.assert_array_equal(segmenter_input(PRESETS["cpu"], x, patient, number)([1]), x[1:])
    for bad in (["40,120"], ["90,40"], ["40"]):
        with pytest.raises(SystemExit, match="--segmenter-windows"):
            parse_windows(bad)
    with pytest.raises(SystemExit, match="NDLScorer feeds the segmenter one window"):
        main(
            [
                "--smoke",
                "--root",
                str(ctich_dir),
                "--segmenter-windows",
                "0,100",
                "40,90",
                "--save-models",
                "unused",
            ]
        )


def test_ctich_segmenter_neighbours(ctich_dir):
    """--segmenter-neighbours: channel 0 the slice, 1 and 2 the slices below and above it in
    its patient's volume (by slice number; an edge repeats itself); three input channels;
    refused beside --segmenter-windows and --save-models."""

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ctich import PRESETS, classifier_params, main, segmenter_input, segmenter_params

    cfg = {**PRESETS["cpu"], "segmenter_neighbours": True}
    x = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 2, 2), np.float32)
    patient = np.array(["a", "a", "a", "b", "b"])
    number = np.array([3, 1, 2, 7, 6])  # a: rows 1, 2, 0 in volume order; b: rows 4, 3
    three = segmenter_input(cfg, x, patient, number)(np.ones(5, bool))
    assert three.shape == (5, 3, 2, 2)
    np.testing.assert_array_equal(
        three[:, :, 0, 0], [[0, 2, 0], [1, 1, 2], [2, 1, 0], [3, 4, 3], [4, 4, 3]]
    )
    np.testing.assert_array_equal(
        segmenter_input(cfg, x, patient, number)([2])[0, :, 1, 1], [2, 1, 0]
    )
    assert segmenter_params(cfg)["in_chans"] == 3
    assert classifier_params(cfg)["in_chans"] == 3  # the cpu preset starts it from the encoder
    assert "in_chans" not in classifier_params({**cfg, "classifier_init": "random"})
    assert "in_chans" not in classifier_params(PRESETS["cpu"])
    smoke = ["--smoke", "--root", str(ctich_dir), "--segmenter-neighbours"]
    with pytest.raises(SystemExit, match="one or the other as its input channels"):
        main([*smoke, "--segmenter-windows", "0,100", "40,90"])
    with pytest.raises(SystemExit, match="NDLScorer feeds the segmenter one slice at a time"):
        main([*smoke, "--save-models", "unused"])


def test_ctich_mask_criterion_counts_pixels_on_slices_without_hemorrhage():
    """Dice per hemorrhage slice cannot see a faint blob on the patient's bleed-free slices, so
    it picks the permissive threshold that also outlines the bleed's faint rim; the mean with
    the 3-D Dice per patient counts the blob and picks a stricter one (values by hand)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _ctich_choices import choose_mask

    yy, xx = np.ogrid[:32, :32]
    r2 = (yy - 16) ** 2 + (xx - 16) ** 2
    disc = (r2 <= 36).astype(np.uint8)
    true = np.stack([disc, disc, 0 * disc, 0 * disc])
    bleed = np.where(r2 <= 25, 0.9, np.where(r2 <= 36, 0.15, 0.0))
    blob = np.where(r2 <= 100, 0.15, 0.0)
    proba = np.stack([bleed, bleed, blob, blob])
    images = np.zeros_like(proba, dtype=np.float32)
    patients = np.zeros(4, int)
    best, per_slice, chosen = choose_mask(
        images, proba, true, patients, thresholds=(0.1, 0.2), refinements=()
    )
    assert best == chosen["slice"] == ("threshold", 0.1) and per_slice[best] == 1.0
    assert chosen["slice_patient"] == ("threshold", 0.2)
    n_core, n_true, n_blob = int((r2 <= 25).sum()), int(disc.sum()), int((r2 <= 100).sum())
    dice_01 = 2 * 2 * n_true / (2 * 2 * n_true + 2 * n_blob)
    dice_02 = 2 * n_core / (n_core + n_true)  # per slice and per patient alike
    assert chosen["per_patient"][("threshold", 0.1)] == pytest.approx(dice_01)
    assert chosen["per_patient"][("threshold", 0.2)] == pytest.approx(dice_02)
    assert per_slice[("threshold", 0.2)] == pytest.approx(dice_02)


def test_ctich_mask_rules():
    """The CT-ICH benchmark's choice of mask rule on validation slices."""

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ctich import apply_mask_rule, choose_mask

    # a dense 70 HU disc (radius 6) that the segmenter outlines too wide (radius 9): the
    # density refinement recovers it, so it is chosen over every plain threshold
    yy, xx = np.ogrid[:32, :32]
    r2 = (yy - 16) ** 2 + (xx - 16) ** 2
    true = (r2 <= 36).astype(np.uint8)[None].repeat(3, 0)
    images = np.where(true > 0, 0.7, 0.3).astype(np.float32)
    proba = np.where(r2 <= 16, 0.9, np.where(r2 <= 81, 0.6, 0.0))[None].repeat(3, 0)
    rule, dice, chosen = choose_mask(images, proba, true, np.zeros(3, int))
    assert rule[0] == "refined" and dice[rule] == 1.0 and chosen["slice"] == rule
    assert chosen["per_patient"][rule] == 1.0  # one patient, every slice exact
    assert max(d for r, d in dice.items() if r[0] == "threshold") < 0.7
    np.testing.assert_array_equal(apply_mask_rule(rule, images, proba), true)
    np.testing.assert_array_equal(
        apply_mask_rule(("threshold", 0.5), images, proba), (proba >= 0.5).astype(np.uint8)
    )


def test_ctich_largest_region_rules():
    """Offered the largest-region rules, validation takes one where a stray sure blob sits
    beside the bleed; the rule chosen without them (reported beside it) keeps the blob, with
    the Dice worked out by hand."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _ctich_choices import apply_mask_rule, choose_mask, describe_mask_rule, mask_rule_threshold

    yy, xx = np.ogrid[:32, :32]
    bleed = (yy - 10) ** 2 + (xx - 10) ** 2 <= 16  # 49 px
    blob = (yy - 24) ** 2 + (xx - 24) ** 2 <= 4  # 13 px, away from it
    true = bleed.astype(np.uint8)[None].repeat(2, 0)
    proba = np.where(bleed, 0.9, np.where(blob, 0.8, 0.0))[None].repeat(2, 0)
    images = np.zeros_like(proba, dtype=np.float32)
    patients = np.zeros(2, int)
    kw = dict(thresholds=(0.5,), refinements=())
    rule, dice, chosen = choose_mask(images, proba, true, patients, largest=True, **kw)
    assert rule == chosen["slice"] == ("largest", "threshold", 0.5) and dice[rule] == 1.0
    assert chosen["without_largest"]["slice"] == ("threshold", 0.5)
    n_bleed, n_blob = int(bleed.sum()), int(blob.sum())
    assert dice[("threshold", 0.5)] == pytest.approx(2 * n_bleed / (2 * n_bleed + n_blob))
    np.testing.assert_array_equal(apply_mask_rule(rule, images, proba), true)
    assert mask_rule_threshold(rule) == 0.5
    assert mask_rule_threshold(("largest", "refined", 40.0, 0.3, 0.02)) == 0.3
    assert describe_mask_rule(rule).endswith("most probable connected region")
    # not offered: the rules and the criteria's choices are the preset's as before
    rule, dice, chosen = choose_mask(images, proba, true, patients, **kw)
    assert rule == ("threshold", 0.5) and set(dice) == {rule}
    assert "without_largest" not in chosen


def test_ctich_region_dice_and_filter():
    """Dice from the regions' areas and overlaps equals skhe.metrics' on the masks; a filter
    learnt out of fold tells bleeds from stray regions against bone, on slices built that way,
    far better than chance; and chosen with the mask rule on such slices, it drops the stray
    regions, and its plain numbers score regions as the fitted model does."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    # Dice from the regions' areas and overlaps equals skhe.metrics' on the masks themselves
    from _ctich_choices import per_patient_dice
    from _ctich_regions import (
        REGION_CUTOFFS,
        choose_region_filter,
        dice_keeping,
        out_of_fold_region_proba,
        region_filter_json,
        region_filter_model,
        region_overlap,
    )
    from sklearn.metrics import roc_auc_score

    from skhe.metrics import dice_coefficient, per_slice_dice
    from skhe.preprocessing import (
        drop_stray_regions,
        keep_regions,
        mask_region_features,
        region_filter_proba,
        regions_kept,
    )

    rng = np.random.default_rng(1)
    masks = rng.random((12, 24, 24)) > 0.93
    true = (rng.random((12, 24, 24)) > 0.9) & (np.arange(12) % 3 > 0)[:, None, None]
    patients = np.repeat([7, 8, 9], 4)
    nb = np.c_[np.arange(12), np.arange(12)]
    labels, f, r_slice, r_label = mask_region_features(masks, masks * 0.5, masks * 0.9, nb)
    overlap = region_overlap(labels, true, r_slice, r_label)
    area = np.rint(np.exp(f[:, 0]))
    has = true.reshape(12, -1).any(1)
    for keep in (np.ones(len(area), bool), rng.random(len(area)) > 0.5, overlap > 0):
        kept = keep_regions(labels, r_slice, r_label, keep)
        got = dice_keeping(keep, r_slice, area, overlap, true.reshape(12, -1).sum(1), patients)
        assert got["dice_per_slice"] == pytest.approx(per_slice_dice(true, kept).mean())
        assert got["dice_pooled"] == pytest.approx(dice_coefficient(true[has], kept[has]))
        assert got["dice_per_patient"] == pytest.approx(
            per_patient_dice(true, kept, patients).mean()
        )

    # twenty patients, each slice with a bleed (brain) and a stray region (against bone),
    # both as probable: the filter, out of fold, ranks them by their surroundings
    rng = np.random.default_rng(0)
    feats, ys, groups, volumes = [], [], [], []
    for p in range(20):
        img = np.clip(0.3 + 0.05 * rng.standard_normal((3, 32, 32)), 0, 0.95)
        img[:, :, :2] = 1.0
        m = np.zeros((3, 32, 32), bool)
        t = np.zeros_like(m)
        for i in range(3):
            r, c = rng.integers(8, 24, size=2)
            m[i, r : r + 3, c : c + 3] = t[i, r : r + 3, c : c + 3] = True
            img[i, r : r + 3, c : c + 3] = 0.65
            s = rng.integers(4, 28)
            m[i, s : s + 2, 2:5] = True
        pr = np.where(m, rng.uniform(0.5, 1.0, m.shape), 0.0)
        lab, ff, rs, rl = mask_region_features(m, img, pr, np.array([[0, 1], [0, 2], [1, 2]]))
        feats.append(ff)
        ys.append((region_overlap(lab, t, rs, rl) > 0).astype(int))
        groups.append(np.full(len(rs), p))
        volumes.append((img, pr, t))
    y = np.concatenate(ys)
    oof = out_of_fold_region_proba(np.vstack(feats), y, np.concatenate(groups))
    assert y.mean() == pytest.approx(0.5) and roc_auc_score(y, oof) > 0.95
    with pytest.raises(ValueError, match="two patients"):
        out_of_fold_region_proba(np.vstack(feats)[:2], y[:2], np.zeros(2))

    # chosen together with the mask rule: the filter keeps (nearly) only the bleeds, which
    # a threshold alone cannot (both regions are as probable)
    img, pr, t = (np.concatenate(v) for v in zip(*volumes, strict=True))
    patients = np.repeat(np.arange(20), 3)
    rows = np.arange(60)
    nb = np.c_[np.maximum(rows - 1, patients * 3), np.minimum(rows + 1, patients * 3 + 2)]
    rules = [("threshold", 0.5), ("threshold", 0.7)]
    choice = choose_region_filter(img, pr, t, patients, nb, rules)
    without = max((d for (_, cut), d in choice.table.items() if cut == 0), key=lambda d: d[0])
    assert choice.cutoff > 0 and choice.rule == ("threshold", 0.5)
    assert choice.table[(choice.rule, choice.cutoff)][0] > without[0] + 0.15
    assert set(choice.table) == {(r, c) for r in rules for c in REGION_CUTOFFS}
    # the stored numbers score regions as the fitted model does, and the masks they leave
    labels, f, rs, rl = mask_region_features(pr >= 0.5, img, pr, nb)
    touches = (region_overlap(labels, t, rs, rl) > 0).astype(int)
    # the regions the choice was measured from (ctich_regions.py reads them): the same ones,
    # and its out-of-fold probabilities give the table's figure at the chosen cut-off
    kept_by_choice = choice.regions[choice.rule]
    np.testing.assert_array_equal(kept_by_choice.features, f)
    np.testing.assert_array_equal(kept_by_choice.touches, touches)
    assert set(choice.regions) == set(rules)
    keep = regions_kept(kept_by_choice.oof, f, choice.cutoff)
    assert dice_keeping(
        keep, rs, kept_by_choice.area, kept_by_choice.overlap, t.reshape(60, -1).sum(1), patients
    )["dice_per_slice"] == pytest.approx(choice.table[(choice.rule, choice.cutoff)][0])
    model = region_filter_model().fit(f, touches)
    np.testing.assert_allclose(
        region_filter_proba(f, region_filter_json(model, 0.3)), model.predict_proba(f)[:, 1]
    )
    np.testing.assert_allclose(
        region_filter_proba(f, choice.region_filter),
        region_filter_model().fit(f, touches).predict_proba(f)[:, 1],
    )
    kept = drop_stray_regions(pr >= 0.5, img, pr, nb, choice.region_filter)
    assert per_slice_dice(t, kept).mean() == pytest.approx(
        choice.table[(choice.rule, choice.cutoff)][0], abs=0.1
    )


def _smoke(script: str, tmp_path, *extra, own_process: bool = False) -> dict:
    """Run ``script --smoke`` writing under ``tmp_path``; its results.

    In this process (``_run_main``) unless ``own_process``: a fresh interpreter, for the
    memory benchmark (it measures its process's peak memory) and runs that start worker
    processes."""
    argv = ["--smoke", "--out-dir", tmp_path, *extra]
    if own_process:
        _run_command(script, *argv)
    else:
        assert _run_main(script, *argv) == 0
    return json.loads(next(tmp_path.glob("*_smoke.json")).read_text())


def test_statistics_benchmark_smoke(tmp_path):
    r = _smoke("statistics_speed.py", tmp_path)
    # the fast DeLong equals the naive pairwise computation
    assert max(v for v in r["delong"]["abs_differences"].values() if v is not None) < 1e-9
    assert {"x00", "x01"} <= set(r["forward_selection"]["selected"])


def test_io_benchmark_smoke(tmp_path):
    pytest.importorskip("SimpleITK")
    r = _smoke("io_dicom.py", tmp_path)
    assert r["skhe_read_ct_s"]["median"] > 0 and r["simpleitk_s"]["median"] > 0


def test_inference_benchmark_smoke(tmp_path):
    r = _smoke("inference.py", tmp_path, "--predict-batches", 4, 16)
    (row,) = r["presets"]
    assert set(row["optimized_s_by_predict_batch"]) == {"4", "16"}
    # the optimized path gives the naive loop's scores
    assert row["max_abs_score_difference"] < 1e-3
    assert row["gflops_per_slice"]["classifier"] > 0 and r["peak_gflops"] > 0
    agreement = row["agreement"]
    assert agreement["precision"] == "fp32" and agreement["tolerance"] == 1e-3
    assert agreement["selection_flips"] == 0 and agreement["threshold_gap"] > 0
    assert row["read_ahead"] is True and row["read_jobs"] == 1
    assert row["read_pool_start_s"] is None


def test_inference_benchmark_checks_bf16_against_fp32(tmp_path):
    """--mixed-precision bf16 runs the optimized path in bf16 even on a CPU, against the fp32
    naive loop, and the script fails when they disagree beyond 0.01. The patients are read by
    two worker processes here (--read-jobs), whose start is timed apart from the rates."""
    r = _smoke(
        "inference.py",
        tmp_path,
        *("--mixed-precision", "bf16", "--no-read-ahead", "--read-jobs", 2),
        own_process=True,
    )
    (row,) = r["presets"]
    assert row["agreement"]["precision"] == "bfloat16" and row["agreement"]["tolerance"] == 0.01
    assert 0 < row["max_abs_score_difference"] <= 0.01
    assert row["read_ahead"] is False
    assert row["read_jobs"] == 2 and row["read_pool_start_s"] > 0


def test_training_benchmark_smoke(tmp_path):
    r = _smoke("training.py", tmp_path)
    assert {row["network"] for row in r["rows"]} == {"classifier", "segmenter"}
    for row in r["rows"]:
        assert row["slices_per_s"] > 0 and row["gflop_per_slice_training"] > 0
        assert row["precision"] == "fp32" and row["loader_workers"] == 0
    assert set(r["slices_per_s"]) == {"smoke/classifier", "smoke/segmenter"}


def test_memory_benchmark_smoke(tmp_path):
    r = _smoke("memory.py", tmp_path, own_process=True)
    assert r["training"]["slices"] == 6 * 8 and r["training"]["peak_rss_bytes"] > 0


def test_variants_benchmark_smoke(tmp_path):
    r = _smoke("variants.py", tmp_path, "--part", "synthetic")
    names = [row["model"] for row in r["synthetic"]]
    assert "Clinical-to-HE" in names and any(n.startswith("Integrated") for n in names)


def test_variants_benchmark_ctich_smoke(ctich_dir, tmp_path):
    r = _smoke("variants.py", tmp_path, "--part", "ctich", "--ctich", ctich_dir)
    rows = {row["model"]: row for row in r["ctich"]}
    assert any(name.startswith("SliceClassifier") for name in rows)
    assert all(0 <= row.get("roc_auc", row.get("dice"))[0] <= 1 for row in rows.values())


def test_he_signal_benchmark_smoke(tmp_path):
    r = _smoke("he_signal.py", tmp_path, "--set", "he_input=roi", "--set", "roi_size=16")
    assert r["overrides"] == {"he_input": "roi", "roi_size": 16}
    assert len(r["folds"]) == 4 and len(r["lrt"]) == 2
    for key in ("image_auc", "oracle_image_auc", "clinical_auc", "integrated_auc"):
        mean, sd = r[key]
        assert 0 <= mean <= 1 and sd >= 0
    assert 0 < r["ndl_lrt_p"] <= 1
    # the oracle is the generator's truth: on the same folds it beats chance
    assert r["oracle_image_auc"][0] > 0.5


def test_ctich_stored_combination_reproduces_the_fitted_one():
    """detector.json's combination (scaler mean and scale, coefficients, intercept) gives the
    fitted model's probabilities with the user guide's recipe: the saved detector's slice score
    can be applied without sklearn objects."""

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _ctich_choices import fit_combination
    from ctich import _combination_json

    from skhe.neural import slice_detection_features

    rng = np.random.default_rng(0)
    n = 240
    y = (np.arange(n) % 4 == 0).astype(int)
    area = rng.gamma(2.0, 50.0, n) * (1 + 4 * y)
    features = slice_detection_features(
        classifier_proba=np.clip(0.3 + 0.4 * y + rng.normal(0, 0.15, n), 0.01, 0.99),
        expected_area=area,
        max_probability=np.clip(0.2 + 0.5 * y + rng.normal(0, 0.2, n), 0, 1),
    )
    model, auc = fit_combination(features.to_numpy(), y, np.arange(n) // 8)
    assert auc > 0.8  # the features carry the label
    c = json.loads(json.dumps(_combination_json(model, list(features.columns))))
    f = features[c["features"]].to_numpy()
    z = ((f - c["mean"]) / c["scale"]) @ np.asarray(c["coef"]) + c["intercept"]
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), model.predict_proba(f)[:, 1], rtol=1e-10)


def test_ctich_equal_weight_combination():
    """combined_equal: each feature standardized on the slices it is built on (no label read)
    and summed with weight 1, against a hand computation; stored and applied like the fitted
    combinations; its ranking is neither feature's alone."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _ctich_choices import equal_weight_combination
    from ctich import _combination_json
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    n = 3000
    y = (np.arange(n) % 5 == 0).astype(int)
    # two noisy views of the label on very different scales: their z-scores count alike
    f = np.column_stack([y + rng.normal(0, 1.0, n), 1000 * (y + rng.normal(0, 1.0, n))])
    model = equal_weight_combination(f)
    z = ((f - f.mean(0)) / f.std(0)).sum(1)
    np.testing.assert_allclose(model.predict_proba(f)[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-10)
    c = _combination_json(model, ["a", "b"])
    assert c["coef"] == [1.0, 1.0] and c["intercept"] == 0.0
    new = rng.normal(0, 1, (5, 2)) * [1, 1000]
    zn = ((new - c["mean"]) / c["scale"]) @ np.asarray(c["coef"])
    np.testing.assert_allclose(model.predict_proba(new)[:, 1], 1 / (1 + np.exp(-zn)), rtol=1e-10)
    # two independent views summed separate better than either: AUC about 0.84 against 0.76
    both = roc_auc_score(y, z)
    assert both > max(roc_auc_score(y, f[:, 0]), roc_auc_score(y, f[:, 1])) + 0.03


def test_ctich_equal_weights_with_neighbours_use_the_volume():
    """combined_equal_neighbours: the scores and their neighbours' means, standardized and
    summed; where bleeds span contiguous slices and each slice's score is noisy, the
    neighbours lift the AUC well above the slice's own scores."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _ctich_choices import equal_weight_combination
    from sklearn.metrics import roc_auc_score

    from skhe.neural import slice_detection_features

    rng = np.random.default_rng(3)
    n_patients, n_slices = 60, 24
    patient = np.repeat(np.arange(n_patients), n_slices)
    number = np.tile(np.arange(n_slices), n_patients)
    y = ((number >= 8) & (number < 14) & (patient % 2 == 0)).astype(int)  # 6-slice bleeds

    def features(rows):
        cls = 1 / (1 + np.exp(-(2 * y[rows] - 1 + rng.normal(0, 2.5, rows.sum()))))
        area = np.exp(3 + 1.0 * y[rows] + rng.normal(0, 1.5, rows.sum()))
        peak = np.clip(0.4 + 0.2 * y[rows] + rng.normal(0, 0.3, rows.sum()), 0, 1)
        return slice_detection_features(
            classifier_proba=cls,
            expected_area=area,
            max_probability=peak,
            patient=patient[rows],
            slice_number=number[rows],
            context=True,
        ).iloc[:, :6]

    val, test = patient < 30, patient >= 30
    model = equal_weight_combination(features(val).to_numpy())
    f = features(test)
    assert list(f.columns[3:]) == [f"neighbour_mean_{c}" for c in f.columns[:3]]
    # by hand: each column standardized by the validation slices' own mean and SD, summed
    z = ((f.to_numpy() - model[0].mean_) / model[0].scale_).sum(1)
    np.testing.assert_allclose(model.predict_proba(f.to_numpy())[:, 1], 1 / (1 + np.exp(-z)))
    own = equal_weight_combination(f.iloc[:, :3].to_numpy())
    auc_own = roc_auc_score(y[test], own.predict_proba(f.iloc[:, :3].to_numpy())[:, 1])
    auc_both = roc_auc_score(y[test], z)
    assert auc_own < 0.85 and auc_both > auc_own + 0.05  # about 0.80 -> 0.89


def test_ctich_classifier_starts_from_the_segmenter_encoder(recwarn):
    """--classifier-init segmenter: each fit's classifier starts from the encoder its
    segmenter learnt (lr ~0 keeps the weights where they started); mismatches are refused."""

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ctich import PRESETS, check_classifier_init, fit_networks, segmenter_input

    rng = np.random.default_rng(0)
    n = 24
    x = rng.uniform(0, 0.4, (n, 32, 32)).astype(np.float32)
    m = np.zeros((n, 32, 32), np.uint8)
    m[::2, 10:18, 12:20] = 1
    x[m == 1] = 0.8
    y = m.reshape(n, -1).any(1).astype(int)
    tiny = dict(image_size=32, batch_size=8, max_epochs=1, augment=False)
    cfg = {
        "segmenter": dict(encoder="resnet18", decoder_channels=(16, 8, 8, 8, 4), **tiny),
        "classifier": dict(backbone="resnet18", lr=1e-12, weight_decay=0.0, **tiny),
        "classifier_init": "segmenter",
    }
    train = np.ones(n, bool)
    seg_in = segmenter_input(cfg, x, np.zeros(n), np.arange(n))
    seg, clf, times = fit_networks(cfg, {"random_state": 0}, x, y, m, train, None, 0, seg_in)
    assert {"segmenter_fit", "classifier_fit"} <= set(times)
    enc = seg.module_.encoder.state_dict()
    own = clf.module_.backbone.state_dict()
    convs = [k for k, v in enc.items() if v.ndim == 4]
    assert len(convs) == 20 and set(own) - set(enc) == {"fc.weight", "fc.bias"}
    for k in convs:
        np.testing.assert_allclose(own[k].numpy(), enc[k].numpy(), atol=1e-6)
    assert not [w for w in recwarn if "start at random" in str(w.message)]
    # the default starts at random: the same first convolution differs
    cfg["classifier_init"] = "random"
    _, clf0, _ = fit_networks(cfg, {"random_state": 0}, x, y, m, train, None, 0, seg_in)
    first = convs[0]
    assert not np.allclose(clf0.module_.backbone.state_dict()[first].numpy(), enc[first].numpy())

    # refused before any loading: another architecture, no classifier, several windows
    cpu = {**PRESETS["cpu"], "classifier_init": "segmenter"}
    check_classifier_init(cpu)  # resnet18 both: accepted
    other = {**cpu, "classifier": {**cpu["classifier"], "backbone": "resnet34"}}
    with pytest.raises(SystemExit, match=r"encoder \(resnet18\) and the classifier's backbone"):
        check_classifier_init(other)
    with pytest.raises(SystemExit, match="needs the classifier"):
        check_classifier_init({**cpu, "classifier": None})
    with pytest.raises(SystemExit, match="0-100 HU window alone"):
        check_classifier_init({**cpu, "segmenter_windows": [[0, 100], [40, 90]]})

    # a segmenter on three neighbouring slices: its classifier takes three channels (the slice
    # repeated) and starts from the same three-channel first convolution
    cfg = {**cfg, "classifier_init": "segmenter", "segmenter_neighbours": True}
    seg_in = segmenter_input(cfg, x, np.zeros(n), np.arange(n))
    seg, clf, _ = fit_networks(cfg, {"random_state": 0}, x, y, m, train, None, 0, seg_in)
    enc = seg.module_.encoder.state_dict()[first].numpy()
    assert enc.shape[1] == 3
    np.testing.assert_allclose(clf.module_.backbone.state_dict()[first].numpy(), enc, atol=1e-6)
    assert clf.predict_proba(x[:2]).shape == (2, 2)


def test_ctich_classifier_init_smoke(ctich_dir, tmp_path):
    """End to end: the report and the command say where the classifier started; the saved
    classifier names the saved encoder it started from, and loads without it."""
    models = tmp_path / "models"
    r = _ctich_smoke(
        ctich_dir,
        tmp_path,
        *("--save-models", str(models)),
        *("--set", "classifier.backbone=resnet18", "--set", "segmenter.encoder=resnet18"),
        *("--classifier-init", "segmenter", "--refit", "--ensemble"),
    )
    assert r["config"]["classifier_init"] == "segmenter"
    report = (tmp_path / "ctich-smoke.md").read_text()
    assert "starting from each fit's segmenter encoder |" in report
    assert "--classifier-init segmenter --inner-folds 1 --refit --ensemble`" in report
    from skhe.neural import SliceClassifier

    assert json.loads((models / "detector.json").read_text())["classifier_init"] == "segmenter"
    for suffix in ("", "_first"):
        enc = models / f"segmenter{suffix}_encoder.safetensors"
        clf = SliceClassifier.load(models / f"classifier{suffix}", device="cpu")
        assert clf.pretrained == str(enc.resolve()) and enc.is_file()
    enc.unlink()  # a saved model is self-contained: the weights file is not read again
    assert SliceClassifier.load(models / "classifier_first", device="cpu").n_epochs_ == 2
