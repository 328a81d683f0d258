"""eval.stats against scipy on fixed data."""

import numpy as np
import pytest
from scipy import stats as sps

from eval.stats import bootstrap_ci, paired_comparison, paired_permutation_test, wilcoxon_p

A = [0.9, 0.4, 0.75, 0.1, 0.6, 0.55, 0.8, 0.3, 0.95, 0.2]
B = [0.7, 0.5, 0.35, 0.0, 0.4, 0.5, 0.6, 0.3, 0.65, 0.25]


def test_bootstrap_ci_equals_scipy_percentile_bootstrap():
    ours = bootstrap_ci(A, n_resamples=3000, seed=7)
    ref = sps.bootstrap((np.array(A),), np.mean, n_resamples=3000, method="percentile",
                        rng=np.random.default_rng(7)).confidence_interval
    assert ours["mean"] == pytest.approx(np.mean(A))
    assert ours["lo"] == pytest.approx(ref.low, abs=1e-12)
    assert ours["hi"] == pytest.approx(ref.high, abs=1e-12)
    assert ours["lo"] < ours["mean"] < ours["hi"]
    assert ours["n"] == 10


def test_bootstrap_ci_is_seeded_and_skips_missing_values():
    assert bootstrap_ci(A, seed=1) == bootstrap_ci(A + [None], seed=1)
    assert bootstrap_ci(A, seed=1) != bootstrap_ci(A, seed=2)
    assert bootstrap_ci([]) == {"mean": None, "lo": None, "hi": None, "n": 0}
    assert bootstrap_ci([0.5]) == {"mean": 0.5, "lo": 0.5, "hi": 0.5, "n": 1}


def test_exact_permutation_test_equals_scipy():
    ref = sps.permutation_test((np.array(A), np.array(B)), lambda x, y, axis: np.mean(x - y, axis=axis),
                               permutation_type="samples", n_resamples=10_000, vectorized=True)
    ours = paired_permutation_test(A, B, n_resamples=10_000)
    assert ours == pytest.approx(ref.pvalue, abs=1e-12)
    assert 0.0 < ours < 0.2  # A is better on 7 of 10 items


def test_monte_carlo_permutation_test_close_to_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(0.5, 0.2, 40)
    b = a - rng.normal(0.05, 0.1, 40)
    ref = sps.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis),
                               permutation_type="samples", n_resamples=20_000, vectorized=True,
                               rng=np.random.default_rng(1)).pvalue
    ours = paired_permutation_test(list(a), list(b), n_resamples=20_000, seed=1)
    assert ours == pytest.approx(ref, abs=0.01)


def test_wilcoxon_equals_scipy_and_handles_ties():
    assert wilcoxon_p(A, B) == pytest.approx(sps.wilcoxon(A, B).pvalue)
    assert wilcoxon_p(A, A) == 1.0
    assert paired_permutation_test(A, A) == 1.0
    assert wilcoxon_p([None], [1.0]) is None


def test_paired_comparison_reports_difference_and_pvalues():
    res = paired_comparison(A, B, seed=3)
    assert res["mean_diff"] == pytest.approx(np.mean(np.array(A) - np.array(B)))
    assert res["lo"] < res["mean_diff"] < res["hi"]
    assert res["p_wilcoxon"] == pytest.approx(sps.wilcoxon(A, B).pvalue)
    with pytest.raises(ValueError):
        paired_comparison([1.0], [1.0, 2.0])
