"""The ``skhe`` subcommands: demo, fit, predict, evaluate, cv."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from skhe.cli._checks import (
    CV_TABLE_HEADER,
    PREDICTIONS_HEADER,
    check_clinical_columns,
    check_clinical_values_in,
    check_folds,
    check_kind,
    check_masks,
    check_output_file,
    check_threshold,
    input_paths,
    model_threshold,
    prepare_cohort,
    write_csv_atomically,
)
from skhe.cli._runtime import (
    LOGGER,
    NAMES,
    CommandError,
    RunLog,
    build_model,
    build_models,
    parse_models,
    parse_overrides,
    run_log,
    staging_log,
)
from skhe.pipelines import LOGISTIC


def _pct(r, n: str) -> str:
    lo, hi = 100 * r[f"{n}_ci_low"], 100 * r[f"{n}_ci_high"]
    return f"{100 * r[n]:.1f}% ({lo:.0f}-{hi:.0f}) {r[f'{n}_count']}"


def _say_table3(ev) -> None:
    from skhe.report._tables import table3

    head = ("model", "AUC (95% CI)", "accuracy", "sensitivity", "specificity")
    LOGGER.info("\n%-18s %-22s %-24s %-24s %-24s", *head)
    for _, r in table3(ev).iterrows():
        LOGGER.info(
            "%-18s %-22s %-24s %-24s %-24s",
            r["model"],
            f"{r['auc']:.3f} ({r['auc_ci_low']:.3f}-{r['auc_ci_high']:.3f})",
            *(_pct(r, n) for n in ("accuracy", "sensitivity", "specificity")),
        )
    if ev.ndl_lrt is not None:
        lrt = ev.ndl_lrt
        LOGGER.info(
            "nDL score in Integrated-to-HE: LR chi2 %.2f, p=%.3g; AIC %.1f vs %.1f without",
            lrt.statistic,
            lrt.p_value,
            lrt.aic_full,
            lrt.aic_restricted,
        )


def _evaluate_and_report(
    args, kinds, out: Path, log: RunLog, run, *, title, methods, synthetic, imputed, inputs=()
):
    """Shared by demo and evaluate: build the models, run ``run(models)``, write the report."""
    from skhe.presets import get_preset
    from skhe.report import methods_info, write_report

    preset = get_preset(args.preset)
    cache = Path(tempfile.mkdtemp(prefix="skhe-ndl-cache-"))
    try:
        models = build_models(args, kinds, memory=cache, verbose=0 if args.quiet else 1)
        t0 = time.perf_counter()
        ev = run(models)
        ev.methods = methods_info(
            **methods,
            synthetic=synthetic,
            models=list(models),
            preset={
                "name": preset.name,
                "description": preset.description,
                "image_size": preset.image_size,
                "classifier": preset.classifier,
                "segmenter": preset.segmenter,
                "he_model": preset.he_model,
                "ndl": preset.ndl,
                "ndl_cross_fitting_folds": preset.cv,
            },
            selection={"screen_p": 0.05, "p_enter": 0.05, "impute": "median"},
            threshold="Youden on the training patients",
            overrides=parse_overrides(args.overrides),
            seed=args.seed,
            fit_and_evaluate_seconds=round(time.perf_counter() - t0, 1),
        )
        ev.data_quality = {"warnings": list(log.data_warnings), "imputed": dict(imputed)}
        _say_table3(ev)
        LOGGER.info("writing the report ...")
        report = write_report(
            ev,
            out,
            overwrite=args.overwrite,
            title=title,
            extra_files={"skhe.log": log.path},
            inputs=inputs,
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    LOGGER.info("report: %s", report)
    return report


def run_demo(args: argparse.Namespace) -> int:
    """Synthetic cohort -> three HE models on a stratified split -> report."""
    from sklearn.model_selection import train_test_split

    from skhe.datasets import make_synthetic_cohort
    from skhe.io import load_manifest
    from skhe.model_selection import evaluate_holdout
    from skhe.presets import get_preset
    from skhe.utils import check_output_dir

    out = check_output_dir(args.out, args.overwrite)
    preset = get_preset(args.preset)
    n = args.n_patients or preset.demo_patients
    if n < 20:
        raise CommandError(f"--n-patients must be at least 20; got {n}.")
    if args.test_size is None:
        args.test_size = preset.demo_test_size
    if not 0 < args.test_size < 1:
        raise CommandError(f"--test-size must be between 0 and 1; got {args.test_size}.")
    with staging_log(out, args.quiet) as log:
        t0 = time.perf_counter()
        LOGGER.info(
            "skhe demo: SYNTHETIC cohort of %d patients, preset %r (%s)",
            n,
            preset.name,
            preset.description,
        )
        data = Path(tempfile.mkdtemp(prefix="skhe-demo-cohort-"))
        try:
            make_synthetic_cohort(
                n,
                data / "cohort",
                image_size=preset.demo_image_size,
                n_slices=preset.demo_slices,
                random_state=args.seed,
                progress=not args.quiet,
            )
            df = load_manifest(data / "cohort" / "manifest.csv", require_label=True)
            imputed = prepare_cohort(df, list(NAMES), "synthetic cohort", log)
            train, test = train_test_split(
                df, test_size=args.test_size, stratify=df["he"], random_state=args.seed
            )
            LOGGER.info(
                "HE in %d of %d (%.1f%%); train %d, test %d patients",
                int(df["he"].sum()),
                len(df),
                100 * df["he"].mean(),
                len(train),
                len(test),
            )
            _evaluate_and_report(
                args,
                list(NAMES),
                out,
                log,
                lambda models: evaluate_holdout(models, train, test, progress=not args.quiet),
                title="skhe demo: hematoma expansion on a synthetic cohort",
                methods={
                    "data": f"synthetic cohort, {n} patients (skhe.datasets.make_synthetic_cohort)",
                    "design": f"stratified split, test fraction {args.test_size:.3f}",
                    "cohort_seed": args.seed,
                },
                synthetic=True,
                imputed=imputed,
            )
        finally:
            shutil.rmtree(data, ignore_errors=True)
        LOGGER.info("demo finished in %.1f min", (time.perf_counter() - t0) / 60)
    return 0


def _is_synthetic(manifest) -> bool:
    """A cohort written by skhe.datasets.make_synthetic_cohort (its README says so)."""
    readme = Path(manifest).parent / "README.txt"
    try:
        return readme.read_text(encoding="utf-8", errors="replace").startswith("SYNTHETIC")
    except OSError:
        return False


def _manifest(path, *, label: bool, kinds=("image",), where: str = "--manifest"):
    """The manifest; a ``ct`` column only when one of ``kinds`` reads images."""
    from skhe.io import load_manifest

    if path is None:
        raise CommandError(f"{where} is required.")
    images = any(k in ("image", "integrated") for k in kinds)
    return load_manifest(path, require_label=label, require_ct=images)


def run_evaluate(args: argparse.Namespace) -> int:
    """Fit and evaluate the chosen models on a cohort; write the report."""
    from skhe.model_selection import evaluate_cv, evaluate_holdout
    from skhe.utils import check_output_dir

    kinds = parse_models(args.models)
    if args.test_manifest and args.cv:
        raise CommandError("give either --test-manifest or --cv, not both.")
    df = _manifest(args.manifest, label=True, kinds=kinds)
    check_clinical_columns(df, kinds, args.manifest)
    check_masks(df, kinds, args.manifest)
    test = None
    if args.test_manifest:
        test = _manifest(args.test_manifest, label=True, kinds=kinds, where="--test-manifest")
        check_clinical_columns(test, kinds, args.test_manifest)
    else:
        check_folds(df, args.cv or 5, args.manifest)
    inputs = input_paths(df, args.manifest, args.test_manifest) + input_paths(test)
    out = check_output_dir(args.out, args.overwrite, inputs=inputs)
    with staging_log(out, args.quiet) as log:
        LOGGER.info("skhe evaluate: %d patients, models %s", len(df), ", ".join(kinds))
        imputed = prepare_cohort(df, kinds, args.manifest, log)
        if test is not None:
            prepare_cohort(test, kinds, args.test_manifest, log)
        if test is not None:
            design = f"training manifest ({len(df)}) and test manifest ({len(test)})"

            def run(models):
                return evaluate_holdout(models, df, test, progress=not args.quiet)
        else:
            k = args.cv or 5
            design = f"stratified {k}-fold cross-validation"

            def run(models):
                return evaluate_cv(
                    models, df, cv=k, random_state=args.seed, progress=not args.quiet
                )

        _evaluate_and_report(
            args,
            kinds,
            out,
            log,
            run,
            title="Hematoma expansion prediction",
            methods={"data": f"manifest with {len(df)} patients", "design": design},
            synthetic=_is_synthetic(args.manifest),
            imputed=imputed,
            inputs=inputs,
        )
    return 0


def run_fit(args: argparse.Namespace) -> int:
    """Fit one model on a manifest and save it (safe format)."""
    from skhe.persistence import save_model
    from skhe.utils import check_output_dir

    kinds = parse_models(args.model)
    if len(kinds) != 1:
        raise CommandError("--model takes one of image, clinical, integrated.")
    kind = kinds[0]
    df = _manifest(args.manifest, label=True, kinds=kinds)
    check_clinical_columns(df, kinds, args.manifest)
    check_masks(df, kinds, args.manifest)
    inputs = input_paths(df, args.manifest)
    out = check_output_dir(args.out, args.overwrite, inputs=inputs)
    with staging_log(out, args.quiet) as log:
        LOGGER.info("skhe fit: %s on %d patients (preset %s)", NAMES[kind], len(df), args.preset)
        prepare_cohort(df, kinds, args.manifest, log)
        model = build_model(
            kind,
            preset=args.preset,
            seed=args.seed,
            device=args.device,
            verbose=0 if args.quiet else 1,
            overrides=parse_overrides(args.overrides),
        )
        t0 = time.perf_counter()
        model.fit(df, df["he"])
        lr = model.named_steps[LOGISTIC]
        threshold = float(lr.threshold_)
        LOGGER.info(
            "fit in %.1f s; selected: %s",
            time.perf_counter() - t0,
            ", ".join(map(str, lr.selected_features_)),
        )
        for name, row in lr.odds_ratios_.iterrows():
            LOGGER.info(
                "  %-22s OR %.3f (%.3f-%.3f) p=%.3g",
                name,
                row.odds_ratio,
                row.ci_low,
                row.ci_high,
                row.p_value,
            )
        save_model(
            model,
            out,
            kind=kind,
            overwrite=args.overwrite,
            inputs=inputs,
            metadata={
                "model": NAMES[kind],
                "preset": args.preset if kind != "clinical" else None,
                "threshold": threshold,
                "threshold_rule": lr.threshold_source_,
                "n_train": len(df),
                "he_prevalence": float(df["he"].mean()),
                "seed": args.seed,
            },
        )
        shutil.copyfile(log.path, out / "fit.log")
    LOGGER.info("model saved to %s", out)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Predict HE probabilities of a manifest's patients with a saved model."""
    from skhe.persistence import load_model, read_model_info

    info = read_model_info(args.model)
    thr = model_threshold(info, args.model)
    kind = info.get("kind") or "clinical"
    df = _manifest(args.manifest, label=False, kinds=[kind])
    check_clinical_columns(df, [kind], args.manifest)
    out = check_output_file(
        Path(args.out),
        args.overwrite,
        input_paths(df, args.manifest, args.model),
        PREDICTIONS_HEADER,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with run_log(out.parent / "skhe.log", args.quiet) as log:
        LOGGER.info("skhe predict: %s model on %d patients", info.get("kind"), len(df))
        log.add_patients(df)
        check_clinical_values_in(df, [kind], args.manifest)
        model = load_model(args.model)
        check_kind(model, kind, args.model)
        thr = check_threshold(model, thr, args.model)
        X = df.drop(columns=["he"], errors="ignore")
        prob = model.predict_proba(X)[:, 1]
        res = pd.DataFrame(
            {
                "patient_id": df["patient_id"],
                "probability": np.round(prob, 6),
                "prediction": model.predict(X).astype(int),  # the model's own threshold_
            }
        )
        write_csv_atomically(res, out)
        LOGGER.info("predictions (threshold %.3f) written to %s", thr, out)
    return 0


def run_cv(args: argparse.Namespace) -> int:
    """cross_validate of the chosen models with skhe.metrics.SCORERS: mean and SD per metric."""
    from skhe.model_selection import cross_validate_models

    kinds = parse_models(args.models)
    df = _manifest(args.manifest, label=True, kinds=kinds)
    check_clinical_columns(df, kinds, args.manifest)
    check_masks(df, kinds, args.manifest)
    check_folds(df, args.cv, args.manifest)
    out = None
    if args.out:
        inputs = input_paths(df, args.manifest)
        out = check_output_file(Path(args.out), args.overwrite, inputs, CV_TABLE_HEADER)
    log_dir = out.parent if out is not None else Path.cwd()
    log_dir.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix="skhe-ndl-cache-"))
    try:
        with run_log(log_dir / "skhe.log", args.quiet) as log:
            prepare_cohort(df, kinds, args.manifest, log)
            models = build_models(args, kinds, memory=cache)
            LOGGER.info("cross-validating %s (%d folds) ...", ", ".join(models), args.cv)
            table = cross_validate_models(models, df, cv=args.cv, random_state=args.seed)
            wide = table.pivot(index="metric", columns="model", values="mean").round(3)
            sd = table.pivot(index="metric", columns="model", values="sd").round(3)
            shown = wide.astype(str) + " ± " + sd.astype(str)
            LOGGER.info("\n%s", shown[[NAMES[k] for k in kinds]].to_string())
            LOGGER.info(
                "sensitivity/specificity: at each test fold's own Youden threshold (optimistic, "
                "as the paper's; `skhe evaluate --cv` chooses it on the training folds instead)."
            )
            if out is not None:
                write_csv_atomically(table, out)
                LOGGER.info("table written to %s", out)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0
