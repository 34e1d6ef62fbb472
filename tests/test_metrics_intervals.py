import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from skhe.metrics import proportion_ci


@pytest.mark.parametrize(
    "count, nobs, low, high",
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_published_examples(count, nobs, low, high):
    lo, hi = proportion_ci(count, nobs)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(
    "method, sm_method",
    [
        ("wilson", "wilson"),
        ("wald", "normal"),
        ("agresti-coull", "agresti_coull"),
        ("clopper-pearson", "beta"),
    ],
)
def test_all_methods_match_statsmodels(method, sm_method):
    rng = np.random.default_rng(0)
    for _ in range(50):
        nobs = int(rng.integers(1, 400))
        count = int(rng.integers(0, nobs + 1))
        for alpha in (0.05, 0.1):
            ours = proportion_ci(count, nobs, alpha=alpha, method=method)
            ref = proportion_confint(count, nobs, alpha=alpha, method=sm_method)
            ref = (max(0.0, ref[0]), min(1.0, ref[1]))
            np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_wilson_interval_contains_estimate_and_shrinks_with_n():
    lo1, hi1 = proportion_ci(20, 100)
    lo2, hi2 = proportion_ci(200, 1000)
    assert lo1 < 0.2 < hi1 and lo2 < 0.2 < hi2
    assert hi2 - lo2 < hi1 - lo1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(count=5, nobs=0), "nobs"),
        (dict(count=11, nobs=10), "count"),
        (dict(count=-1, nobs=10), "count"),
        (dict(count=1, nobs=10, alpha=1.5), "alpha"),
        (dict(count=1, nobs=10, method="exact?"), "method"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        proportion_ci(**kwargs)
