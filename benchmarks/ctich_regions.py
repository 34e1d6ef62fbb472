"""The regions of the segmenter's masks on one CT-ICH test fold, from networks that
``benchmarks/ctich.py --save-models DIR`` kept: how much Dice per hemorrhage slice the regions
that do not touch the bleed cost (an oracle that reads the true masks), and a filter of such
regions learnt on the validation fold (docs/benchmarks/ctich-design.md, section 29).

The validation fold (the fold after the test fold, as ``ctich.py`` chooses) is scored by the
first fit (``segmenter_first``), the test fold by the mean of both fits' probabilities, as the
cpu preset does. The validation side is ``ctich.py --region-filter``'s own choice
(:func:`_ctich_regions.choose_region_filter`: for each of its mask rules and each cut-off in
``REGION_CUTOFFS``, the validation fold's Dice with the regions filtered by out-of-fold,
patient-grouped probabilities, each slice's heaviest region always kept). This script adds what
the run does not report: every (rule, cut-off)'s Dice on the test fold, with each rule's filter
fit on all its validation regions, and the oracle. The rule chosen without a filter (cut-off 0)
is reported beside the chosen pair.

Usage::

    python benchmarks/ctich.py --test-fold 4 --save-models /tmp/fold4
    python benchmarks/ctich_regions.py --models /tmp/fold4 --test-fold 4 --out /tmp/regions
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info
from _ctich_choices import (
    apply_mask_rule,
    describe_mask_rule,
    dice_figures,
    mask_rules,
)
from _ctich_data import load, split
from _ctich_regions import (
    REGION_CUTOFFS,
    best_without_filter,
    choose_region_filter,
    dice_keeping,
    region_filter_model,
    rule_regions,
)

from skhe.preprocessing import REGION_FEATURES, regions_kept


def probabilities(args, x, val, test):
    """The validation fold's probabilities (first fit) and the test fold's (mean of both
    fits), from ``--cache`` when it holds them."""
    cache = Path(args.cache) / f"proba-fold{args.test_fold}.npz" if args.cache else None
    if cache is not None and cache.exists():
        z = np.load(cache)
        return z["validation"].astype(np.float32), z["test"].astype(np.float32)
    from skhe.neural import HematomaSegmenter

    models = Path(args.models)
    kw = {"device": args.device} if args.device else {}
    first = HematomaSegmenter.load(models / "segmenter_first", **kw)
    refit = HematomaSegmenter.load(models / "segmenter", **kw)
    if args.threads:
        first.set_params(n_threads=args.threads)
        refit.set_params(n_threads=args.threads)
    p_val = first.predict_proba(x[val])
    p_test = (first.predict_proba(x[test]) + refit.predict_proba(x[test])) / 2
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, validation=p_val.astype(np.float16), test=p_test.astype(np.float16))
        # what is measured is what a later run reads back: the half-precision copy
        p_val, p_test = p_val.astype(np.float16), p_test.astype(np.float16)
    return p_val.astype(np.float32), p_test.astype(np.float32)


def run(args) -> dict:
    from skhe.neural import neighbour_index
    from skhe.preprocessing import window

    t0 = time.time()
    data = load(args)
    x = window(data.hu, 0, 100)
    data.hu = None
    test, inner = split(data, args.test_fold, [], 1, "next", args.seed)
    _, val, val_fold = inner[0]
    p_val, p_test = probabilities(args, x, val, test)
    t_proba = time.time() - t0
    groups = {"validation": (val, p_val), "test": (test, p_test)}
    rules = mask_rules()
    if args.smoke:
        rules = rules[:2] + rules[6:7]
    pats = {name: data.patient[sel] for name, (sel, _) in groups.items()}
    true_area_test = data.masks[test].reshape(int(test.sum()), -1).sum(1)
    neighbours = {
        name: neighbour_index(data.patient[sel], data.slice_number[sel])
        for name, (sel, _) in groups.items()
    }
    # the validation side is ctich.py's own choice (its table, its out-of-fold probabilities)
    choice = choose_region_filter(
        x[val], p_val, data.masks[val], pats["validation"], neighbours["validation"], rules
    )
    rows, regions = [], {}
    for rule, v in choice.regions.items():
        f_t, s_t, a_t, o_t = rule_regions(
            rule, x[test], p_test, data.masks[test], neighbours["test"]
        )
        y_t = (o_t > 0).astype(int)
        model = None
        if v.oof is not None:
            model = region_filter_model().fit(v.features, v.touches)
        p_t = model.predict_proba(f_t)[:, 1] if model is not None and len(f_t) else None
        for cut in REGION_CUTOFFS:
            if (rule, float(cut)) not in choice.table:
                continue  # no filter can be learnt (e.g. the smoke run's one validation patient)
            val_slice, val_patient = choice.table[(rule, float(cut))]
            keep_t = regions_kept(np.ones(len(f_t)) if p_t is None else p_t, f_t, cut)
            rows.append(
                {
                    "rule": list(rule),
                    "cutoff": cut,
                    "validation_dice_per_slice": val_slice,
                    "validation_dice_per_patient": val_patient,
                    "test": dice_keeping(keep_t, s_t, a_t, o_t, true_area_test, pats["test"]),
                }
            )
        regions[" ".join(map(str, rule))] = {
            "validation_regions": len(v.touches),
            "validation_regions_touching_bleed": int(v.touches.sum()),
            "test_regions": len(y_t),
            "test_regions_touching_bleed": int(y_t.sum()),
            # the oracle: only the regions that touch the bleed (reads the true masks)
            "test_oracle": dice_keeping(y_t > 0, s_t, a_t, o_t, true_area_test, pats["test"]),
            "filter_coefficients": None
            if model is None
            else dict(
                zip(
                    ("intercept", *REGION_FEATURES),
                    [float(model[-1].intercept_[0]), *map(float, model[-1].coef_[0])],
                    strict=True,
                )
            ),
        }
        if args.verbose:
            mine = [w["validation_dice_per_slice"] for w in rows if w["rule"] == list(rule)]
            print(
                f"{describe_mask_rule(rule)}: {len(v.touches)} validation regions "
                f"({v.touches.mean():.0%} touch the bleed); validation Dice per slice "
                f"{mine[0]:.3f} -> best filtered {max(mine):.3f}",
                flush=True,
            )

    def row(key):
        return next(w for w in rows if (tuple(w["rule"]), w["cutoff"]) == key)

    without, chosen = row(best_without_filter(choice.table)), row(choice[:2])
    key = " ".join(map(str, without["rule"]))
    # the same figures from the masks themselves (skhe.metrics), as ctich.py measures them
    without["test_from_masks"] = dice_figures(
        data.masks[test], apply_mask_rule(tuple(without["rule"]), x[test], p_test), pats["test"]
    )
    return {
        "test_fold": args.test_fold,
        "validation_fold": val_fold,
        "models": Path(args.models).name,  # the folder, not a local path
        "without_filter": without,
        "with_filter": chosen,
        "oracle_under_rule_without_filter": regions[key]["test_oracle"],
        "rows": rows,
        "regions": regions,
        "wall_time_s": {"probabilities": round(t_proba, 1), "total": round(time.time() - t0, 1)},
        "machine": machine_info(),
    }


def markdown(r: dict) -> str:
    def line(label, w):
        t = w["test"]
        return (
            f"| {label} | {describe_mask_rule(w['rule'])}, cut-off {w['cutoff']:g} | "
            f"{w['validation_dice_per_slice']:.3f} / {w['validation_dice_per_patient']:.3f} | "
            f"{t['dice_per_slice']:.3f} | {t['dice_pooled']:.3f} | {t['dice_per_patient']:.3f} |"
        )

    o, m = r["oracle_under_rule_without_filter"], r["machine"]
    return "\n".join(
        [
            f"# CT-ICH test fold {r['test_fold']}: a stray-region filter learnt on validation "
            f"fold {r['validation_fold']}",
            "",
            "| test fold | mask rule chosen on validation | validation Dice per slice / per "
            "patient | Dice per slice | pooled | per patient |",
            "| --- | --- | --- | --- | --- | --- |",
            line("without the filter", r["without_filter"]),
            line("with the filter", r["with_filter"]),
            f"| oracle: only regions touching the bleed (reads the true masks) | as without | | "
            f"{o['dice_per_slice']:.3f} | {o['dice_pooled']:.3f} | {o['dice_per_patient']:.3f} |",
            "",
            f"Wall time {r['wall_time_s']['total']:.0f} s (probabilities "
            f"{r['wall_time_s']['probabilities']:.0f} s). Machine: {m['cpu']}, {m['cores']} cores, "
            f"{m['memory_gib']} GiB, GPU: {m['gpu'] or 'none'}; {m['date']}.",
            "",
        ]
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="../shared/data/ct-ich")
    ap.add_argument("--packed", help="read CT-ICH from ctich.py --write-packed's file")
    ap.add_argument("--models", required=True, help="ctich.py --save-models's folder")
    ap.add_argument("--test-fold", type=int, required=True)
    ap.add_argument("--cache", help="keep (and re-use) the probabilities here")
    ap.add_argument("--device")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="a few slices at 64 px, 3 mask rules")
    ap.add_argument("--verbose", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--name")
    args = ap.parse_args(argv)
    r = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or f"ctich-fold{args.test_fold}-regions"
    (out / f"{name}.json").write_text(json.dumps(r, indent=1))
    (out / f"{name}.md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
