"""The paper's statistics on predictions you already have (any model, any software).

Run: ``python examples/statistics_on_your_predictions.py``. Replace ``y`` and the two models'
probabilities with yours: AUC with DeLong CI, the DeLong test between two models, accuracy,
sensitivity and specificity at the Youden threshold with Wilson CIs, calibration, net benefit.
"""

import argparse

import numpy as np

from skhe.metrics import (
    calibration,
    delong_test,
    diagnostic_performance,
    net_benefit,
    roc_auc_ci,
    youden_threshold,
)


def main(tiny: bool = False) -> dict:
    rng = np.random.default_rng(0)
    n = 107  # the paper's test set size
    y = (rng.random(n) < 0.3).astype(int)
    clinical = 1 / (1 + np.exp(-(-1.0 + 1.2 * y + rng.normal(0, 1, n))))
    integrated = 1 / (1 + np.exp(-(-1.1 + 1.6 * y + rng.normal(0, 1, n))))

    auc = roc_auc_ci(y, integrated)
    print(f"Integrated AUC {auc.auc:.3f} ({auc.ci_low:.3f}-{auc.ci_high:.3f}, DeLong)")
    test = delong_test(y, integrated, clinical)
    print(f"DeLong test, integrated vs clinical: p = {test.p_value:.3f}")
    thr = youden_threshold(y, integrated)
    perf = diagnostic_performance(y, integrated, threshold=thr)
    print(
        f"at the Youden threshold {thr:.3f}: sensitivity {perf.sensitivity:.2f} "
        f"({perf.sensitivity_ci[0]:.2f}-{perf.sensitivity_ci[1]:.2f}, Wilson), specificity "
        f"{perf.specificity:.2f}"
    )
    cal = calibration(y, integrated)
    print(f"calibration slope {cal.slope:.2f}, Brier {cal.brier:.3f}, H-L p {cal.hl_p_value:.2f}")
    nb = net_benefit(y, integrated, thresholds=[0.2, 0.3])
    print(nb.to_string(index=False))
    return {"auc": auc, "delong": test, "performance": perf, "calibration": cal}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="(the same: it takes a second)")
    main(parser.parse_args().tiny)
