"""Hemorrhage slice detection and segmentation on the real CT-ICH folds.

Usage::

    python benchmarks/ctich.py                        # cpu preset, fold 0 (about 27 min, 2 cores)
    python benchmarks/ctich.py --cv                   # all 5 folds, mean +- SD
    python benchmarks/ctich.py --preset paper --device cuda
    python benchmarks/ctich.py --save-models models/  # keep the fitted networks (safe format)
    python benchmarks/ctich.py --save-scores scores/  # keep every slice score (.npz)
    python benchmarks/ctich.py --no-refit             # the choices' networks score the test fold
    python benchmarks/ctich.py --no-ensemble          # the refit alone scores it (not the mean)
    python benchmarks/ctich.py --inner-folds 2        # two fits, choices on two validation folds
    python benchmarks/ctich.py --slice-score validation  # the slice score chosen per run
    python benchmarks/ctich.py --validation mixed     # validate on a quarter of every fold
    python benchmarks/ctich.py --no-region-filter     # the masks as the mask rule gives them
    python benchmarks/ctich.py --no-region-filter --largest-region  # offer one region per slice
    python benchmarks/ctich.py --from-models models/  # the choices again on kept networks
    python benchmarks/ctich.py --classifier-init random  # classifier from random weights
    python benchmarks/ctich.py --test-fold 2 --compare-to docs/benchmarks/ctich-fold2-sliceloss.json
    python benchmarks/ctich.py --smoke                # seconds: checks the script end to end

For a test fold k (the dataset's fixed patient split; fold 0 by default), the next fold
(k + 1 mod 5) is the **inner validation fold** and the other three train. Everything that is
chosen is chosen on the inner validation fold, never on the test fold: early stopping (best
epoch by validation loss), the mask rule (best mean Dice per hemorrhage slice among probability
thresholds and thresholds sharpened by the CT's density, ``refine_hematoma_mask``), the slice
score (classifier probability, segmenter expected area or maximum probability, or a logistic
combination fitted on the validation slices: of the three, or with context, i.e. also the
neighbouring slices' scores and the patient's largest area, of the segmenter's two or of all
three; or the three standardized with equal weights, ``combined_equal``, also with their
neighbouring slices' means, ``combined_equal_neighbours``: the best validation AUC, estimated
by patient-grouped cross-validation for the fitted combinations; or, with ``--slice-score
NAME``, one score fixed before the run, its weights or scaler still fit there: the cpu preset's
``combined_equal_neighbours`` and the paper preset's ``combined``, decided on runs that never
tested fold 0, docs/benchmarks/ctich-design.md sections 8, 14 and 15) and its slice threshold
(Youden). With ``--region-filter`` (the cpu preset's default) a logistic filter of ten
label-free numbers per mask region (``skhe.preprocessing.mask_region_features``) is fit on the
validation fold's regions and its cut-off chosen there together with the mask rule; on the test
fold it drops the stray regions it scores below the cut-off, each slice's heaviest region kept
(``skhe.preprocessing.drop_stray_regions``). Then (``--refit``, the cpu and paper presets'
default) the networks are fit again with the same settings on the training and validation
folds together, a third more slices, and those score the test fold with the choices made;
with ``--ensemble`` (the same presets' default) the mean of both fits' probabilities does.
With ``--inner-folds N`` (N >= 2, no refit) the networks are fit N times instead, fit j
validated on the j-th fold after the test fold and trained on the others; every choice is made
on the N validation folds together, each scored by the fit that did not train on it, and the
mean of the N fits' probabilities scores the test fold.

Reported on the test fold: slice AUC (DeLong CI) of every slice score and of the chosen one,
accuracy/sensitivity/specificity at the validation threshold (Wilson CIs), Dice per hemorrhage
slice, pooled over hemorrhage slices, per patient (3-D; also with slices gated by the chosen
slice score), false-positive pixels on slices without hemorrhage, and wall times. Results go to
``docs/benchmarks/ctich.{md,json}`` (cpu preset, fold 0; ``ctich-cv`` with ``--cv`` or ``--merge``,
``ctich-<preset>`` otherwise). ``--merge ... --summary-into docs/benchmarks/ctich.json`` also
records the cross-validation's mean ± SD in the fold-0 headline's results, which must be one of
the merged runs. A run on another test fold is set against an earlier run on the same fold
with ``--compare-to RUN.json`` (its report's "before" and "previous run" columns; the presets'
own are fold 0's). ``--from-models DIR`` takes the networks an earlier run of the same settings
kept with ``--save-models DIR`` instead of fitting them, and makes every choice and test-fold
figure again (minutes instead of half an hour: for a change to the choices).

``--packed FILE`` reads a compact copy of the dataset (``--write-packed FILE --size 256``
makes one: uint8 slices at 256 px, lzma-compressed, ~40 MB) for machines the 110 MB PNG folder
cannot reach; metrics are then computed at that resolution.

Over 500 lines: ``run_fold`` is the whole protocol of one test fold (inner fits, choices on
validation, refit, the test fold's scores and metrics) and reads as one path; the rest lives by
responsibility in ``_ctich_presets`` (presets and settings), ``_ctich_data`` (loading, packing,
the fold split), ``_ctich_choices`` (mask rules, combinations), ``_ctich_summary`` (5-fold
summaries, merging) and ``_ctich_markdown`` (the report).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results
from _ctich_choices import (
    MASK_CRITERIA,
    apply_mask_rule,
    choose_mask,
    dice_figures,
    equal_weight_combination,
    fit_combination,
    mask_rule_threshold,
    mask_rules,
    per_patient_dice,
)
from _ctich_data import load, split, write_packed
from _ctich_markdown import REFERENCES_BY_PRESET, markdown
from _ctich_presets import (
    COMBINATIONS,
    PRESETS,
    SEGMENTER_SLICE_SCORES,
    SLICE_SCORES,
    apply_overrides,
    classifier_params,
    parse_windows,
    segmenter_input,
    segmenter_params,
)
from _ctich_regions import best_without_filter, choose_region_filter
from _ctich_summary import (
    attach_cv_summary,
    compare_to,
    merge_runs,
    summarize,
    summarize_slice_scores,
)

from skhe.datasets._ctich import CTICHData
from skhe.metrics import (
    diagnostic_performance,
    dice_coefficient,
    per_slice_dice,
    roc_auc_ci,
    youden_threshold,
)
from skhe.neural import (
    HematomaSegmenter,
    SliceClassifier,
    ValidationData,
    neighbour_index,
    slice_detection_features,
)
from skhe.preprocessing import drop_stray_regions, window

#: Assumed voxel of a 512 x 512 CT-ICH slice (the PNGs carry no spacing): 0.45 x 0.45 x 5 mm.
ASSUMED_VOXEL_ML = 0.45 * 0.45 * 5.0 / 1000.0


# --------------------------------------------------------------------------- one fold
def fit_networks(cfg: dict, common: dict, x, y, m, train, val, seed: int, seg_in):
    """The segmenter (all training slices, balanced epochs) and the classifier (when
    configured) fitted on ``train``; with ``val``, early stopping watches that fold's
    hemorrhage slices and as many others (a sixth of the fold: cheap on a CPU). Returns
    ``(segmenter, classifier or None, {step: seconds})``."""
    times, monitor = {}, None
    if val is not None:
        rng = np.random.default_rng(seed)
        v_pos = np.flatnonzero(val & (y == 1))
        v_neg = rng.choice(np.flatnonzero(val & (y == 0)), size=len(v_pos), replace=False)
        monitor = np.sort(np.concatenate([v_pos, v_neg]))

    def watch(target, inputs=lambda sel: x[sel]):
        if monitor is None:
            return {}
        return {"validation_data": ValidationData(inputs(monitor), target[monitor])}

    t0 = time.time()
    seg = HematomaSegmenter(**segmenter_params(cfg), **common, **watch(m, seg_in))
    seg.fit(seg_in(train), m[train])
    times["segmenter_fit"] = time.time() - t0
    clf = None
    if cfg.get("classifier"):
        t0 = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            init = {}
            if cfg.get("classifier_init") == "segmenter":
                # the classifier starts from the encoder the segmenter just learnt from pixels
                init = {"pretrained": str(seg.save_encoder(Path(tmp) / "encoder.safetensors"))}
            clf = SliceClassifier(**classifier_params(cfg), **init, **common, **watch(y))
            clf.fit(x[train], y[train])
        times["classifier_fit"] = time.time() - t0
    return seg, clf, times


#: Settings a saved network may differ in from the run's preset and still be its fit.
_RUN_ONLY = {"max_epochs", "early_stopping", "verbose", "n_threads", "device", "random_state"}
_RUN_ONLY |= {"threshold", "pretrained", "validation_data"}


def load_networks(cfg: dict, common: dict, folder: Path, suffix: str):
    """A fit that ``--save-models`` wrote (``segmenter{suffix}``, ``classifier{suffix}``), in
    place of :func:`fit_networks`: ``(segmenter, classifier or None, {step: seconds})``. The
    networks must have the run's settings (epochs and early stopping aside)."""
    t0 = time.time()
    kw = {"device": common["device"]} if "device" in common else {}
    expected = {"segmenter": segmenter_params(cfg)}
    if cfg.get("classifier"):
        expected["classifier"] = classifier_params(cfg)
    nets = {}
    for name, cls in (("segmenter", HematomaSegmenter), ("classifier", SliceClassifier)):
        path = folder / f"{name}{suffix}"
        if name not in expected:
            nets[name] = None
            continue
        if not path.exists():
            raise SystemExit(
                f"--from-models: {path} not found; the folder must be what ctich.py "
                "--save-models wrote with the same --refit/--ensemble/--inner-folds"
            )
        net = cls.load(path, **kw)
        params = net.get_params(deep=False)
        differ = [
            k
            for k, v in expected[name].items()
            if k not in _RUN_ONLY
            and json.dumps(params.get(k), default=str) != json.dumps(v, default=str)
        ]
        if differ:
            raise SystemExit(
                f"--from-models: {path} was fit with other settings than this run's "
                f"({', '.join(f'{k}={params.get(k)!r}, not {expected[name][k]!r}' for k in differ)})"
            )
        if common.get("n_threads"):
            net.set_params(n_threads=common["n_threads"])
        nets[name] = net
    return nets["segmenter"], nets["classifier"], {"networks_load": time.time() - t0}


def saved_suffixes(args, n_inner: int) -> tuple[list[str], str | None]:
    """The file suffixes ``--save-models`` gives the inner fits and the refit (None without)."""
    if args.refit:
        return (["_first"] if args.ensemble else [None]), ""
    return ["" if j == 0 else f"_{j + 1}" for j in range(n_inner)], None


def check_saved_fits(folder: Path, inner_suffixes: list, refit_suffix: str | None) -> None:
    """Refuse a ``--save-models`` folder whose fits are not the ones this run would load: its
    ``detector.json`` lists the fits it saved (``ensemble``) and, since ``--from-models``,
    whether the unsuffixed one is a refit."""
    path = folder / "detector.json"
    if not path.exists():
        raise SystemExit(f"--from-models: {path} not found; the folder must be --save-models'")
    saved = json.loads(path.read_text())
    expected = ([refit_suffix] if refit_suffix is not None else []) + inner_suffixes
    refit = refit_suffix is not None
    if sorted(saved["ensemble"]) != sorted(expected) or saved.get("refit", refit) != refit:
        raise SystemExit(
            f"--from-models: {folder} holds the fits {saved['ensemble']}"
            f"{' (a refit)' if saved.get('refit') else ''}, not this run's {expected}"
            f"{' (a refit)' if refit else ''}; give the run the --refit/--ensemble/"
            "--inner-folds it was saved with"
        )


def run_fold(data: CTICHData, x: np.ndarray, cfg: dict, args, test_fold: int) -> dict:
    test, inner = split(
        data, test_fold, args.exclude_fold, args.inner_folds, cfg["validation"], args.seed
    )
    y, m = data.labels, data.masks
    common = dict(random_state=args.seed, verbose=args.verbose, n_threads=args.threads)
    if args.device:
        common["device"] = args.device
    times: dict[str, float] = {}

    def add_times(t):
        for k, v in t.items():
            times[k] = times.get(k, 0.0) + v

    # ---- the inner fits: each trains on its folds and scores its own validation fold; the
    # choices below are made on all validation folds together (with one inner fold, on it)
    val = np.zeros(len(y), bool)
    for _, v, _ in inner:
        val |= v
    val_pos = np.cumsum(val) - 1  # row of each validation slice in the pooled arrays
    fits = []
    proba_val = None
    p_val = None
    seg_in = segmenter_input(cfg, x, data.patient, data.slice_number)
    if args.from_models:  # the networks of an earlier run instead of new fits
        folder = Path(args.from_models) / (f"fold{test_fold}" if args.cv else "")
        inner_suffixes, refit_suffix = saved_suffixes(args, len(inner))
        if None in inner_suffixes:
            raise SystemExit(
                "--from-models with --refit --no-ensemble: --save-models kept only the refit, "
                "and the choices need the first fit's validation scores"
            )
        check_saved_fits(folder, inner_suffixes, refit_suffix)
    for j, (train, v, _) in enumerate(inner):
        if args.from_models:
            seg, clf, t = load_networks(cfg, common, folder, inner_suffixes[j])
        else:
            seg, clf, t = fit_networks(cfg, common, x, y, m, train, v, args.seed, seg_in)
        add_times(t)
        t0 = time.time()
        pr = seg.predict_proba(seg_in(v))
        if proba_val is None:
            proba_val = np.empty((int(val.sum()), *pr.shape[1:]), pr.dtype)
        proba_val[val_pos[v]] = pr
        del pr
        add_times({"segmenter_predict": time.time() - t0})
        if clf is not None:
            t0 = time.time()
            if p_val is None:
                p_val = np.empty(int(val.sum()))
            p_val[val_pos[v]] = clf.predict_proba(x[v])[:, 1]
            add_times({"classifier_predict": time.time() - t0})
        fits.append((seg, clf))

    # mask rule: best on the validation fold(s) by the run's criterion (mean Dice per
    # hemorrhage slice, or its mean with Dice per patient), among thresholds and thresholds
    # sharpened by the CT's density; each criterion's rule is reported on the test fold
    t0 = time.time()
    _, rule_dice, by_criterion = choose_mask(
        x[val], proba_val, m[val], data.patient[val], largest=cfg["largest_region"]
    )
    mask_rule = by_criterion[cfg["mask_criterion"]]
    val_dice = {r[1]: d for r, d in rule_dice.items() if r[0] == "threshold"}
    times["mask_rule_choice"] = time.time() - t0
    # the stray-region filter (section 29): a logistic filter of each mask region, fit on the
    # validation regions, its cut-off chosen together with the mask rule there; each slice's
    # heaviest region is kept. Cut-off 0 (no gain on validation): the rule chosen above
    region_choice, region_filter = None, None
    if cfg["region_filter"]:
        t0 = time.time()
        region_choice = choose_region_filter(
            x[val],
            proba_val,
            m[val],
            data.patient[val],
            neighbour_index(data.patient[val], data.slice_number[val]),
            mask_rules(),
            criterion=cfg["mask_criterion"],
        )
        mask_rule, region_filter = region_choice.rule, region_choice.region_filter
        times["region_filter_choice"] = time.time() - t0
    mask_t = mask_rule_threshold(mask_rule)
    for s_net, _ in fits:
        s_net.set_params(threshold=mask_t)

    # ---- with --refit (one inner fold): the same networks again on the training and
    # validation folds, the choices above kept (the epochs too, when early stopping chose them)
    if args.refit and args.from_models:
        seg, clf, t = load_networks(cfg, common, folder, refit_suffix)
        seg.set_params(threshold=mask_t)
        add_times(t)
        fits = [fits[0], (seg, clf)] if args.ensemble else [(seg, clf)]
    elif args.refit:
        (seg, clf), (train, v, _) = fits[0], inner[0]
        refit_cfg = {
            **cfg,
            **{
                k: None
                if net is None
                else {**cfg[k], "max_epochs": net.n_epochs_, "early_stopping": None}
                for k, net in (("segmenter", seg), ("classifier", clf))
            },
        }
        seg, clf, t = fit_networks(refit_cfg, common, x, y, m, train | v, None, args.seed, seg_in)
        seg.set_params(threshold=mask_t)
        add_times({k.replace("_fit", "_refit"): s for k, s in t.items()})
        # with --ensemble the mean of both fits' probabilities scores the test fold
        fits = [fits[0], (seg, clf)] if args.ensemble else [(seg, clf)]
    scorers = fits
    t0 = time.time()
    x_test = seg_in(test)  # once, for every fit that scores it
    probas = [s.predict_proba(x_test) for s, _ in scorers]
    del x_test
    proba_test = np.mean(probas, axis=0)
    add_times({"segmenter_predict": time.time() - t0})
    p_tests = [None] * len(scorers)
    p_test = None
    if scorers[0][1] is not None:
        t0 = time.time()
        p_tests = [c.predict_proba(x[test])[:, 1] for _, c in scorers]
        p_test = np.mean(p_tests, axis=0)
        add_times({"classifier_predict": time.time() - t0})

    # ---- slice scores, chosen on the validation fold
    def flat(p):
        return p.reshape(len(p), -1)

    pv, pt = data.patient[val], data.patient[test]
    sv, st = data.slice_number[val], data.slice_number[test]

    def own_scores(proba, p_cls):
        """The networks' own slice scores: expected area, largest probability, classifier."""
        scores = {"segmenter_area": flat(proba).sum(1), "segmenter_max": flat(proba).max(1)}
        if p_cls is not None:
            scores["classifier"] = p_cls
        return scores

    # the combinations, fitted on the validation slices (their AUC there out-of-fold) or with
    # equal weights: the slice's own scores, and with its neighbours' and its patient's
    variants = {
        k: c for k, c in COMBINATIONS.items() if p_val is not None or k in SEGMENTER_SLICE_SCORES
    }

    def combination_features(own, k, patient, number):
        c = variants[k]
        f = slice_detection_features(
            classifier_proba=own.get("classifier") if c.classifier else None,
            expected_area=own["segmenter_area"],
            max_probability=own["segmenter_max"],
            patient=patient,
            slice_number=number,
            context=c.neighbours or c.patient,
        )
        if not c.patient:
            f = f.drop(columns=[col for col in f.columns if col.startswith("patient_max")])
        if not c.neighbours:
            f = f.drop(columns=[col for col in f.columns if col.startswith("neighbour_mean")])
        return f

    def test_scores(proba, p_cls):
        """Every slice score of the test fold, the combinations as fitted on validation."""
        scores = own_scores(proba, p_cls)
        for k, (model, _) in fitted_combos.items():
            f = combination_features(scores, k, pt, st)
            scores[k] = model.predict_proba(f.to_numpy())[:, 1]
        return scores

    scores_val = own_scores(proba_val, p_val)
    val_auc = {k: roc_auc_ci(y[val], v).auc for k, v in scores_val.items()}
    fitted_combos = {}
    for k in variants:
        fv = combination_features(scores_val, k, pv, sv)
        if variants[k].equal_weights:  # no label read: its AUC on validation is honest as is
            model = equal_weight_combination(fv.to_numpy())
            val_auc[k] = roc_auc_ci(y[val], model.predict_proba(fv.to_numpy())[:, 1]).auc
        else:
            model, val_auc[k] = fit_combination(fv.to_numpy(), y[val], pv)
        scores_val[k] = model.predict_proba(fv.to_numpy())[:, 1]
        fitted_combos[k] = (model, list(fv.columns))
    scores_test = test_scores(proba_test, p_test)
    rule = cfg["slice_score"]  # run() sets it: the preset's, --slice-score's or "validation"
    chosen = max(val_auc, key=val_auc.get) if rule == "validation" else rule
    thr = float(youden_threshold(y[val], scores_val[chosen]))
    test_auc = {}
    for k, v in scores_test.items():
        a = roc_auc_ci(y[test], v)
        test_auc[k] = {"auc": a.auc, "ci": [a.ci_low, a.ci_high], "validation_auc": val_auc[k]}
    perf = diagnostic_performance(y[test], scores_test[chosen], threshold=thr)

    # ---- segmentation on the test fold
    neighbours_test = neighbour_index(pt, st)

    def masks_of(proba):
        """The test fold's masks: the mask rule, then the region filter when chosen."""
        masks = apply_mask_rule(mask_rule, x[test], proba)
        if region_filter is None:
            return masks
        return drop_stray_regions(masks, x[test], proba, neighbours_test, region_filter).astype(
            np.uint8
        )

    pred = masks_of(proba_test)
    true = m[test]
    has = flat(true).any(1)
    slice_dice = per_slice_dice(true, pred)
    pat = data.patient[test]
    criteria = {}
    compared = {name: by_criterion[name] for name in MASK_CRITERIA}
    if "without_largest" in by_criterion:  # the run's criterion without the largest region
        compared["without_largest"] = by_criterion["without_largest"][cfg["mask_criterion"]]
    for name, rule_c in compared.items():
        same = rule_c == mask_rule and region_filter is None
        mask = pred if same else apply_mask_rule(rule_c, x[test], proba_test)
        criteria[name] = {
            "mask_rule": list(rule_c),
            **dice_figures(true, mask, pat),
        }

    # with several fits (--ensemble, --inner-folds): each alone too, with the same choices
    # (what the mean buys)
    by_fit, scores_by_fit = {}, {}
    if len(scorers) > 1:
        names = fit_names(args, inner)
        for name, pr, pc in zip(names, probas, p_tests, strict=True):
            mask = masks_of(pr)
            scores_by_fit[name] = test_scores(pr, pc)
            by_fit[name] = {
                "slice_auc": roc_auc_ci(y[test], scores_by_fit[name][chosen]).auc,
                **dice_figures(true, mask, pat),
            }
    del probas
    gated = pred * (scores_test[chosen] >= thr)[:, None, None]
    dice_pat = per_patient_dice(true, pred, pat)
    dice_pat_gated = per_patient_dice(true, gated, pat)
    scale = (512 / x.shape[-1]) ** 2  # pixels of a 512 x 512 slice
    fp_px = flat(pred[~has]).sum(1) * scale
    fp_ml_patient = [
        float(flat(gated[(pat == p) & ~has]).sum() * scale * ASSUMED_VOXEL_ML)
        for p in np.unique(pat)
    ]

    def ci(v):
        return [float(c) for c in v]

    result = {
        "test_fold": test_fold,
        "validation_fold": inner[0][2],
        "validation_folds": [v_fold for _, _, v_fold in inner],
        "n_train_slices": int(inner[0][0].sum()),
        "n_train_slices_by_fit": [int(tr.sum()) for tr, _, _ in inner],
        "n_validation_slices": int(val.sum()),
        "n_test_slices": int(test.sum()),
        "n_test_hemorrhage_slices": int(y[test].sum()),
        "slice_auc": test_auc[chosen]["auc"],
        "dice_per_slice": float(slice_dice.mean()),
        "dice_pooled": dice_coefficient(true[has], pred[has]),
        "dice_per_patient": float(dice_pat.mean()),
        "slice_score": chosen,
        "slice_score_rule": rule,
        "slice_scores": test_auc,
        "slice_threshold": thr,
        "detection": {
            "auc_ci": test_auc[chosen]["ci"],
            "accuracy": perf.accuracy,
            "accuracy_ci": ci(perf.accuracy_ci),
            "sensitivity": perf.sensitivity,
            "sensitivity_ci": ci(perf.sensitivity_ci),
            "specificity": perf.specificity,
            "specificity_ci": ci(perf.specificity_ci),
            "counts": {"tp": perf.tp, "fp": perf.fp, "tn": perf.tn, "fn": perf.fn},
        },
        "segmentation": {
            "mask_threshold": mask_t,
            "mask_rule": list(mask_rule),
            "validation_dice_per_slice": val_dice,
            "validation_dice_per_slice_by_rule": {
                " ".join(str(v) for v in r): d for r, d in rule_dice.items()
            },
            "validation_dice_per_patient_by_rule": {
                " ".join(str(v) for v in r): d for r, d in by_criterion["per_patient"].items()
            },
            "mask_criterion": cfg["mask_criterion"],
            # the rule each criterion chooses on validation without the region filter, and
            # its test-fold Dice
            "by_mask_criterion": criteria,
            "region_filter": None
            if region_choice is None
            else region_filter_result(region_choice, cfg["mask_criterion"]),
            "dice_per_slice_sd": float(slice_dice.std(ddof=1)) if slice_dice.size > 1 else 0.0,
            "dice_per_slice_n": int(slice_dice.size),
            "dice_per_patient_sd": float(dice_pat.std(ddof=1)) if dice_pat.size > 1 else 0.0,
            "dice_per_patient_gated": float(dice_pat_gated.mean()),
            "n_patients_with_hemorrhage": int(dice_pat.size),
            "fp_pixels_per_negative_slice": float(fp_px.mean()),
            "negative_slices_with_fp": float((fp_px > 0).mean()),
            "fp_ml_per_patient_gated": float(np.mean(fp_ml_patient)),
        },
        "epochs": {
            "segmenter": [s_net.n_epochs_ for s_net, _ in scorers],
            "classifier": [c.n_epochs_ for _, c in scorers] if scorers[0][1] is not None else None,
        },
        "by_fit": by_fit,
        # each combination's fitted weights (on standardized features), as detector.json has them
        "combinations": {k: _combination_json(*v) for k, v in fitted_combos.items()},
        "test_fold_scored_by": scored_by(args, inner),
        "wall_time_s": {k: round(v, 1) for k, v in times.items()},
    }
    if args.save_scores:
        path = save_slice_scores(
            Path(args.save_scores) / f"scores-fold{test_fold}.npz",
            validation=dict(label=y[val], patient=pv, slice_number=sv, **scores_val),
            test=dict(label=y[test], patient=pt, slice_number=st, **scores_test),
            **{f"test_{name}": sc for name, sc in scores_by_fit.items()},
        )
        result["scores_file"] = path.name
    if args.save_models:
        out = Path(args.save_models) / (f"fold{test_fold}" if args.cv else "")
        out.mkdir(parents=True, exist_ok=True)
        if args.refit and len(scorers) == 2:  # the refit unsuffixed, the first fit "_first"
            saved = {"": scorers[1], "_first": scorers[0]}
        else:  # the inner fits: "", "_2", "_3", ...
            saved = {("" if j == 0 else f"_{j + 1}"): f for j, f in enumerate(scorers)}
        for suffix, (s_net, c_net) in saved.items():
            s_net.save(out / f"segmenter{suffix}", overwrite=True)
            if c_net is not None:
                if cfg["classifier_init"] == "segmenter":
                    # the encoder it started from, kept, so that its ``pretrained`` names a
                    # file that exists (a refit of the loaded classifier starts there again)
                    enc = s_net.save_encoder(out / f"segmenter{suffix}_encoder.safetensors")
                    c_net.set_params(pretrained=str(enc.resolve()))
                c_net.save(out / f"classifier{suffix}", overwrite=True)
        (out / "detector.json").write_text(
            json.dumps(
                {
                    # the probabilities to average: segmenter(s) and classifier(s)
                    "ensemble": list(saved),
                    # whether the unsuffixed networks are a refit on training + validation
                    "refit": bool(args.refit),
                    "slice_score": chosen,
                    "slice_threshold": thr,
                    "mask_threshold": mask_t,
                    # ["threshold", t] or ["refined", hu, core, grow]: refine_hematoma_mask;
                    # ["largest", *either]: then skhe.preprocessing.largest_region
                    "mask_rule": list(mask_rule),
                    # then each mask region scored by these numbers, those below the cut-off
                    # dropped but each slice's heaviest: skhe.preprocessing.drop_stray_regions
                    # (null: no filter)
                    "region_filter": region_filter,
                    "combination": _combination_json(*fitted_combos["combined"]),
                    # features: skhe.neural.slice_detection_features
                    "combinations": {k: _combination_json(*v) for k, v in fitted_combos.items()},
                    "image_size_of_training_slices": int(x.shape[-1]),
                    # "segmenter": each classifier started from its segmenter's encoder
                    "classifier_init": cfg["classifier_init"],
                },
                indent=1,
            )
        )
    return result


def region_filter_result(choice, criterion: str) -> dict:
    """The region filter's choice as the results file records it: the rule and cut-off, the
    filter's numbers, and the validation Dice per slice by rule and cut-off."""
    without = best_without_filter(choice.table, criterion)
    return {
        "mask_rule": list(choice.rule),
        "cutoff": choice.cutoff,
        "filter": choice.region_filter,
        "validation_dice_per_slice": choice.table[(choice.rule, choice.cutoff)][0],
        "validation_dice_per_patient": choice.table[(choice.rule, choice.cutoff)][1],
        "validation_without_filter": {
            "mask_rule": list(without[0]),
            "dice_per_slice": choice.table[without][0],
            "dice_per_patient": choice.table[without][1],
        },
        "validation_dice_by_rule_and_cutoff": {
            f"{' '.join(map(str, rule))} cutoff {cut:g}": list(d)
            for (rule, cut), d in choice.table.items()
        },
    }


def save_slice_scores(path: Path, **groups: dict) -> Path:
    """Every slice score of a fold, one array per ``group/name`` (``validation/classifier``,
    ``test/combined``, ``test_refit/segmenter_area``, ...), with each slice's label, patient
    and slice number: rules that combine the scores can then be compared on a finished run
    without training again. No images and no masks; CT-ICH's patient numbers only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{g}/{k}": np.asarray(v) for g, d in groups.items() for k, v in d.items()}
    # object arrays (patient ids) as text: the file loads without pickle
    arrays = {k: v.astype(str) if v.dtype == object else v for k, v in arrays.items()}
    np.savez_compressed(path, **arrays)
    return path


def fit_names(args, inner: list) -> list[str]:
    """Names of the fits that score the test fold, in order (the ``by_fit`` keys)."""
    if args.refit:
        return ["first_fit", "refit"] if args.ensemble else ["refit"]
    return [f"validated_on_fold_{v_fold}" for _, _, v_fold in inner]


def scored_by(args, inner: list) -> str:
    """What the test fold is scored by, in words."""
    if args.refit:
        return "mean of the first fit and the refit" if args.ensemble else "the refit"
    if len(inner) == 1:
        return "the first fit"
    folds = " and ".join(str(v_fold) for _, _, v_fold in inner)
    return f"mean of the fits validated on folds {folds}"


def _combination_json(model, names: list[str]) -> dict:
    """A fitted StandardScaler + LogisticRegression as plain numbers."""
    return {
        "features": names,
        "mean": model[0].mean_.tolist(),
        "scale": model[0].scale_.tolist(),
        "coef": model[-1].coef_[0].tolist(),
        "intercept": float(model[-1].intercept_[0]),
    }


# --------------------------------------------------------------------------- driver
def check_classifier_init(cfg: dict) -> None:
    """Refuse ``classifier_init="segmenter"`` where the encoder cannot seed the classifier."""
    if cfg["classifier"] is None:
        raise SystemExit(
            "--classifier-init segmenter needs the classifier, which "
            "--set classifier.enabled=False turned off"
        )
    encoder, backbone = cfg["segmenter"]["encoder"], cfg["classifier"]["backbone"]
    if encoder != backbone:
        raise SystemExit(
            f"--classifier-init segmenter: the segmenter's encoder ({encoder}) and the "
            f"classifier's backbone ({backbone}) differ; set both to one architecture, e.g. "
            "--set classifier.backbone=resnet18 --set segmenter.encoder=resnet18"
        )
    if cfg.get("segmenter_windows"):
        raise SystemExit(
            "--classifier-init segmenter with --segmenter-windows: the classifier reads the "
            "0-100 HU window alone, the encoder learnt from several"
        )


def write_summary_into(single_json: Path, merged: dict, merged_md: Path) -> Path:
    """Record ``merged``'s cross-validation in one of its single-fold runs' results and write
    that run's report again; the hand-written ``## Notes`` below the generated report stay."""
    r = attach_cv_summary(
        json.loads(single_json.read_text()), merged, merged_md.with_suffix(".json").name
    )
    old_md = single_json.with_suffix(".md")
    text = old_md.read_text() if old_md.exists() else ""
    _generated, mark, notes = text.partition("\n## Notes\n")  # mark and notes: "" if none
    return write_results(single_json.stem, r, markdown(r) + mark + notes, single_json.parent)


def run(args) -> dict:
    t_start = time.time()
    preset = "smoke" if args.smoke else args.preset
    cfg = apply_overrides(PRESETS[preset], args.set or [])
    if args.segmenter_windows:
        cfg["segmenter_windows"] = parse_windows(args.segmenter_windows)
        if args.save_models:
            raise SystemExit(
                "--save-models with --segmenter-windows: NDLScorer feeds the segmenter one "
                "window (hu_window), so a segmenter on several windows cannot be re-used there"
            )
    if args.segmenter_neighbours:
        if cfg.get("segmenter_windows"):
            raise SystemExit(
                "--segmenter-neighbours with --segmenter-windows: the segmenter takes one or "
                "the other as its input channels"
            )
        if args.save_models:
            raise SystemExit(
                "--save-models with --segmenter-neighbours: NDLScorer feeds the segmenter one "
                "slice at a time, so a segmenter on neighbouring slices cannot be re-used there"
            )
        cfg["segmenter_neighbours"] = True
    if args.slice_score:
        cfg["slice_score"] = args.slice_score
    cfg.setdefault("slice_score", "validation")
    if cfg["classifier"] is None and cfg["slice_score"] not in (
        "validation",
        *SEGMENTER_SLICE_SCORES,
    ):
        raise SystemExit(
            f"slice score {cfg['slice_score']} needs the classifier, which "
            "--set classifier.enabled=False turned off; use --slice-score validation or one "
            f"of those without it: {', '.join(SEGMENTER_SLICE_SCORES)}"
        )
    if args.classifier_init:
        cfg["classifier_init"] = args.classifier_init
    cfg.setdefault("classifier_init", "random")
    if cfg["classifier_init"] == "segmenter":
        check_classifier_init(cfg)
    if args.validation:
        cfg["validation"] = args.validation
    cfg.setdefault("validation", "next")
    if args.mask_criterion:
        cfg["mask_criterion"] = args.mask_criterion
    cfg.setdefault("mask_criterion", "slice")
    if args.largest_region is not None:
        cfg["largest_region"] = args.largest_region
    cfg.setdefault("largest_region", False)
    if args.region_filter is not None:
        cfg["region_filter"] = args.region_filter
    cfg.setdefault("region_filter", False)
    if cfg["region_filter"] and cfg["largest_region"]:
        raise SystemExit(
            "--largest-region with the region filter: both drop mask regions, the filter "
            "keeping each slice's heaviest region and more; add --no-region-filter to offer "
            "the largest-region rules instead"
        )
    if args.inner_folds is None:
        args.inner_folds = int(cfg.get("inner_folds", 1))
    if cfg["validation"] == "mixed" and args.inner_folds > 1:
        raise SystemExit(
            f"--validation mixed takes one inner fit; --inner-folds {args.inner_folds} "
            "validates on whole folds"
        )
    cfg["inner_folds"] = args.inner_folds
    if args.refit and args.inner_folds > 1:
        raise SystemExit(
            f"--refit needs one inner fold (--inner-folds 1); {args.inner_folds} inner fits "
            "already score the test fold together"
        )
    if args.refit is None:
        args.refit = bool(cfg.get("refit", False)) and args.inner_folds == 1
    cfg["refit"] = bool(args.refit)
    if args.ensemble is None:
        args.ensemble = bool(cfg.get("ensemble", False))
    args.ensemble = cfg["ensemble"] = bool(args.ensemble and args.refit)
    data = load(args)
    t_load = time.time() - t_start
    x = window(data.hu, 0, 100)  # the paper's 0-100 HU window
    data.hu = None  # 3 GB at 512 px, no longer needed
    folds = [f for f in range(5) if f not in args.exclude_fold] if args.cv else [args.test_fold]
    results = []
    for k in folds:
        t0 = time.time()
        r = run_fold(data, x, cfg, args, k)
        r["wall_time_s"]["fold"] = round(time.time() - t0, 1)
        print(
            f"fold {k}: slice AUC {r['slice_auc']:.3f} ({r['slice_score']}), Dice per slice "
            f"{r['dice_per_slice']:.3f}, pooled {r['dice_pooled']:.3f}, per patient "
            f"{r['dice_per_patient']:.3f} [{r['wall_time_s']['fold']:.0f} s]",
            flush=True,
        )
        results.append(r)
    first = results[0]
    out = {
        "preset": preset,
        "config": cfg,
        "overrides": args.set or [],
        "seed": args.seed,
        "data": "packed " + Path(args.packed).name if args.packed else "PNG",
        "resolution_px": int(x.shape[-1]),
        "excluded_folds": args.exclude_fold,
        "inner_folds": args.inner_folds,
        "refit": bool(args.refit),
        "ensemble": bool(args.ensemble),
        # --from-models: the networks an earlier run fit (its wall times hold their training)
        "networks_from_saved_models": bool(args.from_models),
        # headline keys: the first (default: fold 0) test fold
        "slice_auc": first["slice_auc"],
        "dice_per_slice": first["dice_per_slice"],
        "dice_pooled": first["dice_pooled"],
        "dice_per_patient": first["dice_per_patient"],
        "folds": results,
        "device": args.device,
        **REFERENCES_BY_PRESET[preset],
        "wall_time_s": {"load": round(t_load, 1), "total": round(time.time() - t_start, 1)},
        "machine": machine_info(),
    }
    if args.cv:
        out["cv"] = summarize(results)
        out["cv_slice_scores"] = summarize_slice_scores(results)
    return out


def default_name(r: dict, cv: bool) -> str:
    """``ctich`` (cpu preset), ``ctich-<preset>``, with ``-cv`` for a cross-validation."""
    if r["preset"] == "smoke":
        return "ctich-smoke"
    return f"ctich{'' if r['preset'] == 'cpu' else '-' + r['preset']}{'-cv' if cv else ''}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ct-ich")
    )
    ap.add_argument("--preset", choices=["cpu", "paper"], default="cpu")
    ap.add_argument("--smoke", action="store_true", help="tiny run to check the script")
    ap.add_argument("--test-fold", type=int, default=0)
    ap.add_argument("--cv", action="store_true", help="hold out each of the 5 folds in turn")
    ap.add_argument(
        "--exclude-fold",
        type=int,
        action="append",
        default=[],
        help="leave a fold out entirely (e.g. explore settings without ever touching fold 0)",
    )
    ap.add_argument("--set", action="append", metavar="MODEL.PARAM=VALUE", help="override")
    ap.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    ap.add_argument(
        "--inner-folds",
        type=int,
        default=None,
        metavar="N",
        help="fit the networks N times, each validated on another of the next N folds; the "
        "choices on all N, the test fold scored by the fits' mean (default: the preset's)",
    )
    ap.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the choices, fit the networks again on the training + validation folds "
        "(default: the preset's; on for cpu and paper)",
    )
    ap.add_argument(
        "--ensemble",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --refit, score the test fold with the mean of both fits' probabilities "
        "(default: the preset's; on for cpu and paper)",
    )
    ap.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="write the cross-validation of single-fold runs' results (one per fold) "
        "instead of running",
    )
    ap.add_argument(
        "--summary-into",
        default=None,
        metavar="JSON",
        help="with --merge, also record the cross-validation's mean ± SD in this single-fold "
        "run's results (one of the merged runs, e.g. docs/benchmarks/ctich.json) and write its "
        "report again, keeping any '## Notes' written below it",
    )
    ap.add_argument(
        "--segmenter-windows",
        nargs="+",
        default=None,
        metavar="LOW,HIGH",
        help="the segmenter's input channels, one HU window each, inside 0-100 HU (e.g. "
        "0,100 40,90: the paper's window and a blood window; default: the preset's, 0-100 alone)",
    )
    ap.add_argument(
        "--segmenter-neighbours",
        action="store_true",
        help="the segmenter's input channels: the slice and the slices below and above it in "
        "the patient's volume (2.5-D; default: the slice alone)",
    )
    ap.add_argument(
        "--slice-score",
        choices=["validation", *SLICE_SCORES],
        default=None,
        help="the slice score the test fold is measured on: one of those (a combination's "
        "weights fit on validation), or 'validation' for the one with the best validation AUC "
        "(default: the preset's; combined_equal_neighbours for cpu, combined for paper)",
    )
    ap.add_argument(
        "--classifier-init",
        choices=["random", "segmenter"],
        default=None,
        help="the classifier's starting weights: random, or each fit's segmenter encoder "
        "(learnt from the pixel labels; same architecture needed) (default: the preset's)",
    )
    ap.add_argument(
        "--validation",
        choices=["next", "mixed"],
        default=None,
        help="the inner validation patients: the fold after the test fold ('next', the "
        "presets'), or a quarter of each training fold's patients ('mixed'; one inner fit)",
    )
    ap.add_argument(
        "--largest-region",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also offer validation each mask rule followed by keeping each slice's most "
        "probable connected region (skhe.preprocessing.largest_region); the report gives the "
        "rule chosen without them on the test fold too (default: the preset's)",
    )
    ap.add_argument(
        "--region-filter",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the mask rule, drop stray mask regions by a logistic filter of ten numbers "
        "per region fit on the validation fold (each slice's heaviest region kept), its "
        "cut-off chosen with the mask rule there; the report gives the rule without it on the "
        "test fold too (default: the preset's; on for cpu)",
    )
    ap.add_argument(
        "--mask-criterion",
        choices=list(MASK_CRITERIA),
        default=None,
        help="what the mask rule is chosen by on validation: the mean Dice per hemorrhage "
        "slice ('slice', the presets'), or its mean with the Dice per patient, which also "
        "counts pixels marked on slices without hemorrhage ('slice_patient'); the report "
        "gives both criteria's rules on the test fold",
    )
    ap.add_argument(
        "--compare-to",
        default=None,
        metavar="JSON",
        help="set the report's 'before' and 'previous run' columns against this earlier run "
        "on the same test fold (default: the preset's fold-0 figures)",
    )
    ap.add_argument("--save-models", default=None, metavar="DIR")
    ap.add_argument(
        "--from-models",
        default=None,
        metavar="DIR",
        help="use the networks an earlier run of the same settings kept with --save-models "
        "(DIR/fold<k> with --cv) instead of fitting them: every choice on validation and "
        "every test-fold figure computed again (e.g. after a change to the choices)",
    )
    ap.add_argument(
        "--save-scores",
        default=None,
        metavar="DIR",
        help="write every slice score of the validation and test slices (and of each fit on "
        "the test fold) to DIR/scores-fold<k>.npz, to compare score rules without retraining",
    )
    ap.add_argument("--packed", default=None, metavar="FILE", help="read a packed copy")
    ap.add_argument("--write-packed", default=None, metavar="FILE")
    ap.add_argument("--size", type=int, default=256, help="slice size of --write-packed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--verbose", type=int, default=0)
    ap.add_argument("--name", default=None, help="results file name (default from the run)")
    ap.add_argument("--out", default=None, help="results folder (default docs/benchmarks)")
    args = ap.parse_args(argv)
    if args.compare_to and (args.merge or args.cv):
        raise SystemExit(
            "--compare-to sets one test fold's run against another's, not --merge/--cv"
        )
    if args.summary_into and not args.merge:
        raise SystemExit("--summary-into needs --merge (the runs whose summary it records)")
    if args.merge:
        r = merge_runs(args.merge)
        path = write_results(args.name or default_name(r, True), r, markdown(r), args.out)
        print(markdown(r))
        print(f"written: {path}")
        if args.summary_into:
            print(f"written: {write_summary_into(Path(args.summary_into), r, path)}")
        return 0
    if not args.packed and not (Path(args.root) / "slices.csv").exists():
        print(f"CT-ICH data not found at {args.root}; nothing to do.", file=sys.stderr)
        return 2
    if args.write_packed:
        write_packed(args.root, args.write_packed, args.size)
        print(f"written: {args.write_packed}")
        return 0
    r = run(args)
    if args.compare_to:
        r = compare_to(r, json.loads(Path(args.compare_to).read_text()), args.compare_to)
    path = write_results(args.name or default_name(r, args.cv), r, markdown(r), args.out)
    print(markdown(r))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
