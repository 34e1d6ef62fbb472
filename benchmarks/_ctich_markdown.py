"""The Markdown report of ``benchmarks/ctich.py`` (results dict -> text)."""

from __future__ import annotations

from _ctich_choices import describe_mask_rule

REFERENCES = (
    "References: Dice 0.31 (U-Net from scratch, 5-fold CV; Hssayeni et al. 2020, the dataset's "
    "own paper); the method on its private cohort: slice AUC 0.994, Dice 0.772."
)


def _fold_markdown(r: dict) -> str:
    d, s = r["detection"], r["segmentation"]

    def pct(v, lo_hi):
        return f"{100 * v:.1f}% ({100 * lo_hi[0]:.1f}-{100 * lo_hi[1]:.1f})"

    rule_text = describe_mask_rule(s.get("mask_rule", ["threshold", s["mask_threshold"]]))
    # results written before the rule was stored chose on validation
    fixed = r.get("slice_score_rule", "validation") != "validation"
    mark = " (fixed)" if fixed else " (chosen)"
    rows = "\n".join(
        f"| {k}{mark if k == r['slice_score'] else ''} | {v['validation_auc']:.3f} | "
        f"{v['auc']:.3f} ({v['ci'][0]:.3f}-{v['ci'][1]:.3f}) |"
        for k, v in r["slice_scores"].items()
    )
    v_folds = r.get("validation_folds", [r["validation_fold"]])
    n_train = r.get("n_train_slices_by_fit", [r["n_train_slices"]])
    if v_folds == ["mixed"]:
        v_text = "inner validation: a quarter of each training fold's patients"
    else:
        v_text = f"inner validation fold{'s' if len(v_folds) > 1 else ''} {_and(v_folds)}"
    return f"""### Test fold {r["test_fold"]} ({v_text})

{_and(n_train)} training, {r["n_validation_slices"]} validation and {r["n_test_slices"]}
test slices ({r["n_test_hemorrhage_slices"]} with hemorrhage). Epochs run: segmenter
{_and(r["epochs"]["segmenter"])}, classifier {_and(r["epochs"]["classifier"])}.

| slice score | validation AUC | test AUC (DeLong 95% CI) |
| --- | --- | --- |
{rows}

At the validation fold's Youden threshold ({r["slice_threshold"]:.4g}) on the {"fixed" if fixed else "chosen"} score:
accuracy {pct(d["accuracy"], d["accuracy_ci"])}, sensitivity
{pct(d["sensitivity"], d["sensitivity_ci"])} ({d["counts"]["tp"]}/{d["counts"]["tp"] + d["counts"]["fn"]}),
specificity {pct(d["specificity"], d["specificity_ci"])} ({d["counts"]["tn"]}/{d["counts"]["tn"] + d["counts"]["fp"]}).

| segmentation ({rule_text}; chosen on validation) | value |
| --- | --- |
| Dice per hemorrhage slice, mean ± SD (n={s["dice_per_slice_n"]}) | {r["dice_per_slice"]:.3f} ± {s["dice_per_slice_sd"]:.3f} |
| Dice pooled over hemorrhage slices | {r["dice_pooled"]:.3f} |
| Dice per patient (3-D), mean ± SD (n={s["n_patients_with_hemorrhage"]}) | {r["dice_per_patient"]:.3f} ± {s["dice_per_patient_sd"]:.3f} |
| Dice per patient, slices gated by the slice score | {s["dice_per_patient_gated"]:.3f} |
| false-positive pixels per slice without hemorrhage (512 px grid) | {s["fp_pixels_per_negative_slice"]:.1f} |
| slices without hemorrhage with any false-positive pixel | {100 * s["negative_slices_with_fp"]:.1f}% |
| false-positive volume per patient, gated (mL at 0.45 x 0.45 x 5 mm) | {s["fp_ml_per_patient_gated"]:.2f} |

{_region_filter_markdown(r)}{_criteria_markdown(r)}{_by_fit_markdown(r)}Wall time (s): {", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["wall_time_s"].items())}.
"""


_LARGEST = (
    "; each also offered followed by keeping each slice's most probable connected region, "
    "`--largest-region`"
)

_REGIONS = (
    ", then a filter of stray mask regions fit on that fold's regions and its cut-off "
    "(`--region-filter`)"
)

_FROM_MODELS = (
    "\nThe networks were loaded from an earlier run's `--save-models` folder (`--from-models`), "
    "so these wall times leave out their training; the command below fits them."
)

_CRITERIA = {
    "slice": "mean Dice per hemorrhage slice",
    "slice_patient": "its mean with Dice per patient",
    "without_largest": "the run's criterion, without the largest-region rules",
}


def _region_filter_markdown(r: dict) -> str:
    """The stray-region filter chosen on validation (``--region-filter``), if any."""
    f = r["segmentation"].get("region_filter")  # absent before --region-filter
    if not f:
        return ""
    w = f["validation_without_filter"]
    if f["cutoff"] == 0:
        return f"""Stray-region filter: no cut-off above 0 raised the validation Dice per slice
({f["validation_dice_per_slice"]:.3f} with {" ".join(str(x) for x in f["mask_rule"])}), so no region is dropped.

"""
    return f"""Stray-region filter (each mask region scored by a logistic filter of ten label-free
numbers fit on the validation fold's regions; each slice's heaviest region kept): chosen on
validation with rule {" ".join(str(x) for x in f["mask_rule"])} and cut-off {f["cutoff"]:g}, validation Dice per slice
{f["validation_dice_per_slice"]:.3f} and per patient {f["validation_dice_per_patient"]:.3f}
(without it, rule {" ".join(str(x) for x in w["mask_rule"])}: {w["dice_per_slice"]:.3f} and {w["dice_per_patient"]:.3f}). The
table below gives the test fold's Dice of the rules chosen without the filter.

"""


def _criteria_markdown(r: dict) -> str:
    """The mask rule each criterion chose on validation, measured on the test fold."""
    crit = r["segmentation"].get("by_mask_criterion")
    if not crit:
        return ""
    used = r["segmentation"]["mask_criterion"]
    this = (
        " (this run, without the region filter)"
        if r["segmentation"].get("region_filter")
        else " (this run)"
    )
    body = "\n".join(
        f"| {_CRITERIA.get(k, k)}{this if k == used else ''} | "
        f"{' '.join(str(x) for x in v['mask_rule'])} | {v['dice_per_slice']:.3f} | "
        f"{v['dice_pooled']:.3f} | {v['dice_per_patient']:.3f} |"
        for k, v in crit.items()
    )
    return f"""| mask rule chosen on validation by | rule | Dice per slice | pooled | per patient |
| --- | --- | --- | --- | --- |
{body}

"""


def _and(v) -> str:
    """``[1, 2]`` -> ``"1 and 2"``; a single value as itself."""
    if not isinstance(v, list):
        return str(v)
    return ", ".join(str(x) for x in v[:-1]) + (" and " if len(v) > 1 else "") + str(v[-1])


_FIT_LABELS = {
    "first_fit": "first fit (training folds) alone",
    "refit": "refit (training + validation) alone",
}


def _by_fit_markdown(r: dict) -> str:
    """Each fit alone next to their mean (``--ensemble``, ``--inner-folds``), with the same
    choices."""
    fits = r.get("by_fit") or {}
    if not fits:
        return ""
    rows = [
        (
            _FIT_LABELS.get(
                k, k.replace("validated_on_fold_", "fit validated on fold ") + " alone"
            ),
            v,
        )
        for k, v in fits.items()
    ]
    rows.append((f"mean of {'both' if len(fits) == 2 else 'all'} (reported)", r))
    body = "\n".join(
        f"| {name} | " + " | ".join(f"{v[k]:.3f}" for k in _HEADLINE) + " |" for name, v in rows
    )
    return f"""| test fold scored by | slice AUC | Dice per slice | pooled | per patient |
| --- | --- | --- | --- | --- |
{body}

"""


_REFIT = """ With `--refit` (this run) the networks are then fit again, with the same
settings and epochs, on the training and validation folds together, and the test fold is
scored by those, with the choices made above."""
_ENSEMBLE = """ With `--ensemble` (this run) the first fit's networks score it too, and
the mean of both fits' probabilities is what the test fold is measured on."""
_INNER = """ With `--inner-folds {n}` (this run) the networks are fit {n} times, each
validated on another of the next {n} folds and trained on the rest; the choices above are
made on all {n} validation folds together (each scored by the fit that did not train on it),
and the mean of the {n} fits' probabilities is what the test fold is measured on."""


#: The headline's metrics and how the table names them.
_HEADLINE = {
    "slice_auc": "slice AUC",
    "dice_per_slice": "Dice per hemorrhage slice",
    "dice_pooled": "Dice pooled",
    "dice_per_patient": "Dice per patient",
}
#: What each preset's headline is set against (issue 15): its targets, the figures before this
#: work and the run before the current one.
REFERENCES_BY_PRESET = {
    "cpu": {
        # on the 2-core CPU, whole run <= 30 min
        "targets": {
            "slice_auc": 0.95,
            "dice_per_slice": 0.50,
            "dice_pooled": 0.70,
            "dice_per_patient": 0.55,
        },
        # docs/benchmarks/ctich.md, 2026-11-28: 128 px whole slices, classifier 8 epochs,
        # segmenter on a fixed 436-slice subset
        "before": {
            "label": "128 px whole slices",
            "slice_auc": 0.825,
            "dice_per_slice": 0.19,
            "dice_pooled": 0.406,
            "dice_per_patient": 0.192,
        },
        # docs/benchmarks/ctich.md, 2026-11-30 (section 22), fold 0: the segmenter's soft Dice
        # per hemorrhage slice; before it (08:09 UTC) the soft Dice over the batch (the
        # paper's loss): 0.931, 0.546, 0.727, 0.526; (06:09 UTC) combined_equal (no
        # neighbours): 0.925, and (02:12 UTC) combined, weights fit on validation: 0.894
        "previous": {
            "label": "segmenter's Dice per hemorrhage slice",
            "slice_auc": 0.956,
            "dice_per_slice": 0.547,
            "dice_pooled": 0.698,
            "dice_per_patient": 0.513,
        },
    },
    "paper": {
        # with --device cuda on one GPU, whole run <= 10 min; no targets for the pooled and
        # per-patient Dice
        "targets": {"slice_auc": 0.97, "dice_per_slice": 0.60},
        # issue 15's table: 256 px, SEResNeXt-50 20 epochs, U-Net ResNet-34 40 epochs on a fixed
        # subset (the 436 hemorrhage slices and as many others), whole slices
        "before": {
            "label": "256 px whole slices, fixed subset",
            "slice_auc": 0.836,
            "dice_per_slice": 0.48,
            "dice_pooled": 0.70,
            "dice_per_patient": 0.56,
        },
        # docs/benchmarks/ctich-paper.md, 2026-11-29 19:32 UTC: refit + ensemble, the slice score
        # chosen on validation (segmenter_area); before it, ctich-gpu.json's paper256 (head
        # crops, no refit): 0.928, 0.380, 0.495, 0.364
        "previous": {
            "label": "slice score chosen on validation",
            "slice_auc": 0.953,
            "dice_per_slice": 0.590,
            "dice_pooled": 0.767,
            "dice_per_patient": 0.591,
        },
    },
}
REFERENCES_BY_PRESET["smoke"] = REFERENCES_BY_PRESET["cpu"]
#: The cpu preset's targets, for results files written before the targets were stored in them.
_CPU_TARGETS = REFERENCES_BY_PRESET["cpu"]["targets"]


def _mean_sd_row(label: str, v: dict, *extra) -> str:
    """A table row: the label, ``mean ± SD`` and the per-fold values (then any extra cells)."""
    cells = [label, f"{v['mean']:.3f} ± {v['sd']:.3f}", ", ".join(f"{x:.3f}" for x in v["folds"])]
    return "| " + " | ".join(map(str, [*cells, *extra])) + " |"


def _cv_summary_markdown(r: dict) -> str:
    """The cross-validation a single-fold run belongs to (``--summary-into``)."""
    c = r["cv_summary"]
    rows = "\n".join(_mean_sd_row(label, c[k]) for k, label in _HEADLINE.items())
    name = c["file"].removesuffix(".json")
    return f"""## Cross-validation (this run is its test fold {r["folds"][0]["test_fold"]})

The same settings with each of folds {_and(c["test_folds"])} held out once as the test fold
([{name}.md]({name}.md)):

| metric | mean ± SD | per test fold |
| --- | --- | --- |
{rows}

"""


def markdown(r: dict) -> str:
    m = r["machine"]
    cc, sc = r["config"]["classifier"], r["config"]["segmenter"]
    b = r["before"]
    pr = r.get("previous", b)
    targets = r.get("targets", _CPU_TARGETS)  # results written before targets were stored
    headline = "\n".join(
        f"| {label} | {b[k]:.3f} | {pr[k]:.3f} | {r[k]:.3f} | "
        f"{'>= ' + format(targets[k], '.2f') if k in targets else '-'} |"
        for k, label in _HEADLINE.items()
    )
    cv = _cv_summary_markdown(r) if "cv_summary" in r else ""
    if "cv" in r:
        rows = "\n".join(_mean_sd_row(k, v) for k, v in r["cv"].items())
        cv = f"""## Cross-validation (each fold held out once as the test fold)

| metric | mean ± SD | per test fold |
| --- | --- | --- |
{rows}

"""
        if "merged_from" in r:
            runs = "; ".join(
                f"fold {m['test_fold']}: `{m['file']}` ({m['date']}"
                + "".join(f", `--set {o}`" for o in m.get("overrides", []))
                + ")"
                for m in r["merged_from"]
            )
            cv += f"""Assembled with `--merge` from single-fold runs with the same settings in
effect (`--test-fold k`; what `--cv` runs in one go): {runs}.

"""
        if "cv_slice_scores" in r:
            score_rows = "\n".join(
                _mean_sd_row(k, v, v["chosen"]) for k, v in r["cv_slice_scores"].items()
            )
            # a score fixed by --slice-score is the one measured on every fold, not a choice
            fixed = r["config"].get("slice_score", "validation") != "validation"
            how = "fixed by `--slice-score`" if fixed else "chosen by validation"
            cv += f"""Each slice score's test AUC, whether or not it was the one measured:

| slice score | mean ± SD | per test fold | {how} (folds) |
| --- | --- | --- | --- |
{score_rows}

"""
    rule = r["config"].get("slice_score", "validation")
    if rule == "validation":
        score_text = (
            "the slice score (one network's, or a logistic combination, with or without\n"
            "the neighbouring slices' scores) and its threshold are chosen there"
        )
    else:
        score_text = (
            f"the slice score's weights (when it is a fitted combination; the equal-weight\n"
            f"ones' scalers) and its threshold are fit there; the score itself, `{rule}`, is fixed "
            "before the run (`--slice-score`; the cpu and paper presets' were set on runs that\n"
            "never tested fold 0, [ctich-design.md](ctich-design.md) sections 8, 14 and 15), and\n"
            "the table shows every slice score the run computed"
        )
    validation = r["config"].get("validation", "next")  # absent before --validation existed
    if validation == "mixed":
        split_text = (
            "a quarter of each other fold's patients (drawn among those with\n"
            "and without hemorrhage alike) is the inner validation set, the rest train"
        )
    else:
        split_text = (
            "the other three folds train, the next one is the\n"
            "inner validation fold (patient-grouped)"
        )
    preset = "--smoke" if r["preset"] == "smoke" else f"--preset {r['preset']}"
    cmd = f"python benchmarks/ctich.py {preset} --seed {r['seed']}"
    if r.get("device"):
        cmd += f" --device {r['device']}"
    if r["data"].startswith("packed "):
        cmd += f" --packed {r['data'].removeprefix('packed ')}"
    if r["overrides"]:
        cmd += " " + " ".join(f"--set {o}" for o in r["overrides"])
    windows = r["config"].get("segmenter_windows")
    windows_text = ""
    if windows:
        cmd += " --segmenter-windows " + " ".join(f"{lo:g},{hi:g}" for lo, hi in windows)
        windows_text = ", input channels: HU windows " + ", ".join(
            f"{lo:g}-{hi:g}" for lo, hi in windows
        )
    if r["config"].get("segmenter_neighbours"):
        cmd += " --segmenter-neighbours"
        windows_text = ", input channels: the slice and the slices below and above it"
    if "slice_score" in r["config"]:
        cmd += f" --slice-score {rule}"
    if validation != "next":
        cmd += f" --validation {validation}"
    criterion = r["config"].get("mask_criterion", "slice")  # absent before --mask-criterion
    if criterion != "slice":
        cmd += f" --mask-criterion {criterion}"
    largest = bool(r["config"].get("largest_region"))  # absent before --largest-region
    if largest:
        cmd += " --largest-region"
    regions = bool(r["config"].get("region_filter"))  # absent before --region-filter
    if regions:
        cmd += " --region-filter"
    elif r["preset"] == "cpu":  # the cpu preset's default since section 29
        cmd += " --no-region-filter"
    init = r["config"].get("classifier_init", "random")  # absent before --classifier-init
    init_text = ""
    if init != "random":
        cmd += f" --classifier-init {init}"
        init_text = ", starting from each fit's segmenter encoder"
    if "cv" in r:
        cmd += " --cv"
    elif r["folds"][0]["test_fold"] != 0:
        cmd += f" --test-fold {r['folds'][0]['test_fold']}"
    n_inner = r.get("inner_folds", 1)
    if n_inner > 1:
        cmd += f" --inner-folds {n_inner}"
    else:
        cmd += " --inner-folds 1" if "inner_folds" in r else ""
        cmd += " --refit" if r.get("refit") else " --no-refit"
        if r.get("refit"):
            cmd += " --ensemble" if r.get("ensemble") else " --no-ensemble"
    if r["excluded_folds"]:
        cmd += " " + " ".join(f"--exclude-fold {f}" for f in r["excluded_folds"])
    return f"""# CT-ICH benchmark: hemorrhage slice detection and segmentation on real CT

Data: CT-ICH (PhysioNet 1.2.0, 75 patients, CC BY 4.0; {r["data"]}, {r["resolution_px"]} px),
the dataset's fixed patient folds. Preset `{r["preset"]}`; seed {r["seed"]}; no pretrained
weights (training from scratch). Slices are the brain-window PNGs mapped back to HU and
windowed to 0-100 HU.

**Nothing is tuned on the test fold**: {split_text}, and the mask rule (a threshold, or one sharpened by
the CT's density{_LARGEST if largest else ""}){_REGIONS if regions else ""}, {score_text} (and early stopping, when configured, watches the validation loss
on that fold's hemorrhage slices and as many others).{_REFIT if r.get("refit") else ""}{_ENSEMBLE if r.get("ensemble") else ""}{_INNER.format(n=n_inner) if n_inner > 1 else ""}

| model | configuration |
| --- | --- |
| SliceClassifier | {_cfg_text(cc)}{init_text} |
| HematomaSegmenter | {_cfg_text(sc)}{windows_text} |

## Headline (test fold {r["folds"][0]["test_fold"]}), before -> after

| metric | before ({b.get("label", "128 px whole slices")}) | previous run ({pr.get("label", "192 px head crops")}) | now | target |
| --- | --- | --- | --- | --- |
{headline}

{cv}## Per fold

{"".join(_fold_markdown(f) for f in r["folds"])}
{REFERENCES}

## Run

Total wall time {r["wall_time_s"]["total"]} s (loading {r["wall_time_s"]["load"]} s).{_FROM_MODELS if r.get("networks_from_saved_models") else ""}
Machine: {m["cpu"]}, {m["cores"]} cores, {m["memory_gib"]} GiB, GPU: {m["gpu"] or "none"};
Python {m["python"]}; {", ".join(f"{k} {v}" for k, v in m["versions"].items())}; {m["date"]}.

Reproduce: `{cmd}`.
"""


def _cfg_text(c: dict | None) -> str:
    """A network's settings as ``key=value`` pairs; a tuple prints as the list it becomes in
    the results JSON, so a report reads the same whether written by the run or from its file."""
    if not c:
        return "not trained"
    return ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in c.items())
