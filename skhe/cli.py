"""The ``skhe`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def _fmt_ci(value: float, ci: tuple[float, float], pct: bool = True) -> str:
    if pct:
        return f"{100 * value:5.1f}% ({100 * ci[0]:.1f}-{100 * ci[1]:.1f})"
    return f"{value:.3f} ({ci[0]:.3f}-{ci[1]:.3f})"


def run_demo(args: argparse.Namespace) -> int:
    """Clinical-to-HE on the built-in synthetic cohort: selection, odds ratios, test performance."""
    from sklearn.model_selection import train_test_split

    from skhe.datasets import make_clinical_cohort
    from skhe.metrics import diagnostic_performance, roc_auc_ci, youden_threshold
    from skhe.pipelines import make_clinical_to_he

    say = (lambda *a: None) if args.quiet else print
    df = make_clinical_cohort(args.n_patients, random_state=args.seed)
    train, test = train_test_split(
        df, test_size=args.test_size, stratify=df["he"], random_state=args.seed
    )
    say(
        f"skhe demo: synthetic clinical cohort of {len(df)} patients (SYNTHETIC data), "
        f"HE in {df['he'].mean():.1%}; train {len(train)}, test {len(test)}."
    )
    n_missing = int(train.drop(columns=["he"]).isna().sum().sum())
    say(f"Missing values in the training split: {n_missing} (median-imputed; no row dropped).")
    model = make_clinical_to_he().fit(train, train["he"])
    logistic = model.named_steps["logistic"]
    say("\nClinical-to-HE: univariable screening (p < 0.05), then forward selection (p < 0.05)")
    say("Selected, in order of entry: " + ", ".join(logistic.selected_groups_))
    say("\nOdds ratios (Wald 95% CI):")
    ors = logistic.odds_ratios_
    for name, row in ors.iterrows():
        say(
            f"  {name:<22} OR {row.odds_ratio:6.3f} ({row.ci_low:.3f}-{row.ci_high:.3f})"
            f"  p={row.p_value:.2g}"
        )
    say(f"AIC {logistic.aic_:.1f}")
    thr = youden_threshold(train["he"], model.predict_proba(train)[:, 1])
    p_test = model.predict_proba(test)[:, 1]
    auc = roc_auc_ci(test["he"], p_test)
    perf = diagnostic_performance(test["he"], p_test, threshold=thr)
    say(f"\nTest set ({len(test)} patients), threshold {thr:.3f} (Youden, chosen on training):")
    say(f"  AUC          {_fmt_ci(auc.auc, (auc.ci_low, auc.ci_high), pct=False)} (DeLong)")
    say(
        f"  Accuracy     {_fmt_ci(perf.accuracy, perf.accuracy_ci)}  "
        f"[{perf.tp + perf.tn}/{perf.n}] (Wilson)"
    )
    say(
        f"  Sensitivity  {_fmt_ci(perf.sensitivity, perf.sensitivity_ci)}  "
        f"[{perf.tp}/{perf.tp + perf.fn}]"
    )
    say(
        f"  Specificity  {_fmt_ci(perf.specificity, perf.specificity_ci)}  "
        f"[{perf.tn}/{perf.tn + perf.fp}]"
    )
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        ors.to_csv(out / "odds_ratios.csv")
        pd.DataFrame(
            [
                {
                    "auc": auc.auc,
                    "auc_ci_low": auc.ci_low,
                    "auc_ci_high": auc.ci_high,
                    **{k: v for k, v in perf.to_dict().items() if not k.endswith("_ci")},
                }
            ]
        ).to_csv(out / "test_performance.csv", index=False)
        say(f"\nTables written to {out}/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skhe`` command."""
    from skhe import __version__

    parser = argparse.ArgumentParser(
        prog="skhe", description="Hematoma expansion prediction from CT and clinical variables."
    )
    parser.add_argument("--version", action="version", version=f"skhe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo on the built-in synthetic cohort")
    demo.add_argument("--n-patients", type=int, default=572, help="cohort size (default 572)")
    demo.add_argument(
        "--test-size",
        type=float,
        default=107 / 572,
        help="held-out fraction (default: the paper's 107 of 572)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--out", default=None, help="folder for the result tables (optional)")
    demo.add_argument("--quiet", action="store_true", help="print nothing")
    demo.set_defaults(func=run_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skhe`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        print(f"skhe: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
