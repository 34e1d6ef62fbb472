"""Speed of the statistics: forward selection on 10,000 x 20, DeLong AUC CI on 1,000,000 scores.

Usage::

    python benchmarks/statistics_speed.py           # full sizes (about a minute)
    python benchmarks/statistics_speed.py --smoke   # seconds

- Forward selection: ``ForwardSelectingLogisticRegression`` (univariable screening + forward
  selection, statsmodels Logit fits) on 10,000 patients x 20 candidates, 5 of which carry signal.
- DeLong: ``roc_auc_ci`` (Sun & Xu's midrank algorithm, O(n log n)) on 1,000,000 scores, and on a
  3,000-score subsample against a naive O(n^2) DeLong written from the 1988 paper's definition
  (the placement values V10/V01 from every positive-negative pair), which must give the same AUC,
  standard error and interval.

Results go to ``docs/benchmarks/statistics.{md,json}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results

from skhe.linear_model import ForwardSelectingLogisticRegression
from skhe.metrics import roc_auc_ci


def naive_delong(y: np.ndarray, s: np.ndarray, alpha: float = 0.05) -> tuple[float, float, tuple]:
    """DeLong et al. (1988) from the pairwise kernel: AUC, SE and the logit-free Wald CI."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])  # m x n
    auc = psi.mean()
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    se = np.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))
    z = stats.norm.ppf(1 - alpha / 2)
    return float(auc), float(se), (max(0.0, auc - z * se), min(1.0, auc + z * se))


def _timed(fn, repeats: int = 3):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--candidates", type=int, default=20)
    ap.add_argument("--scores", type=int, default=1_000_000)
    ap.add_argument("--subsample", type=int, default=10_000)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.smoke:
        args.patients, args.scores, args.subsample = 500, 20_000, 500
    rng = np.random.default_rng(0)

    # forward selection ---------------------------------------------------------------------
    X = pd.DataFrame(
        rng.normal(size=(args.patients, args.candidates)),
        columns=[f"x{i:02d}" for i in range(args.candidates)],
    )
    lin = X.iloc[:, :5].to_numpy() @ np.array([0.8, -0.6, 0.5, 0.4, -0.3]) - 1.0
    y = (rng.random(args.patients) < 1 / (1 + np.exp(-lin))).astype(int)
    fs = ForwardSelectingLogisticRegression()
    t_fs, fitted = _timed(lambda: fs.fit(X, y), repeats=1 if not args.smoke else 2)
    selected = list(fitted.selected_features_)

    # DeLong ---------------------------------------------------------------------------------
    yb = (rng.random(args.scores) < 0.3).astype(int)
    sb = rng.normal(size=args.scores) + 0.8 * yb
    sb = np.round(sb, 3)  # ties, as real scores have
    t_big, res_big = _timed(lambda: roc_auc_ci(yb, sb))
    ys, ss = yb[: args.subsample], sb[: args.subsample]
    t_fast_sub, res_sub = _timed(lambda: roc_auc_ci(ys, ss))
    t_naive_sub, (auc_n, se_n, ci_n) = _timed(lambda: naive_delong(ys, ss), repeats=1)
    diffs = {
        "auc": abs(res_sub.auc - auc_n),
        "se": abs(res_sub.se - se_n) if hasattr(res_sub, "se") else None,
        "ci_low": abs(res_sub.ci_low - ci_n[0]),
        "ci_high": abs(res_sub.ci_high - ci_n[1]),
    }
    results = {
        "machine": machine_info(),
        "forward_selection": {
            "patients": args.patients,
            "candidates": args.candidates,
            "seconds": t_fs,
            "selected": selected,
            "true_signal": list(X.columns[:5]),
        },
        "delong": {
            "n_scores": args.scores,
            "seconds": t_big,
            "auc": res_big.auc,
            "ci": [res_big.ci_low, res_big.ci_high],
            "target_under_1s_met": t_big < 1.0,
            "subsample": args.subsample,
            "fast_subsample_seconds": t_fast_sub,
            "naive_subsample_seconds": t_naive_sub,
            "fast": [res_sub.auc, getattr(res_sub, "se", None), res_sub.ci_low, res_sub.ci_high],
            "naive": [auc_n, se_n, ci_n[0], ci_n[1]],
            "abs_differences": diffs,
        },
    }
    mi = results["machine"]
    ok = all(v is None or v < 1e-9 for v in diffs.values())
    md = f"""# Statistics speed

`python benchmarks/statistics_speed.py` · {mi["date"]} · {mi["cpu"]}, {mi["cores"]} cores ·
statsmodels/scipy/numpy as installed, skhe {mi["versions"]["skhe"]}

| task | size | seconds |
| --- | --- | ---: |
| `ForwardSelectingLogisticRegression.fit` (screening + forward selection) | {args.patients:,} patients x {args.candidates} candidates | {t_fs:.2f} |
| `roc_auc_ci` (DeLong, midrank algorithm) | {args.scores:,} scores | {t_big:.3f} |
| `roc_auc_ci` | {args.subsample:,} scores | {t_fast_sub:.4f} |
| naive O(n^2) DeLong (pairwise kernel) | {args.subsample:,} scores | {t_naive_sub:.3f} |

- Forward selection kept {", ".join(selected)} (the signal is in x00-x04).
- DeLong on {args.scores:,} scores: AUC {res_big.auc:.4f} (95% CI {res_big.ci_low:.4f}-{res_big.ci_high:.4f});
  target under 1 s: **{"met" if t_big < 1.0 else "NOT met"}**.
- Fast vs naive on the subsample: largest absolute difference in AUC, SE and CI bounds
  {max(v for v in diffs.values() if v is not None):.1e}: **{"equal" if ok else "DIFFERENT"}**.
"""
    print(md)
    print(
        "written:",
        write_results(
            "statistics_smoke" if args.smoke else "statistics", results, md, args.out_dir
        ),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
