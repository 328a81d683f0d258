"""Statistics for eval reports: seeded bootstrap CIs and paired tests between conditions.

- `bootstrap_ci(values)`: mean and percentile-bootstrap 95% CI (`scipy.stats.bootstrap`,
  method="percentile", seeded).
- `paired_permutation_test(a, b)`: two-sided sign-flip permutation test of the mean paired
  difference (`scipy.stats.permutation_test`, permutation_type="samples": exact when all sign
  flips fit in n_resamples, else Monte Carlo), seeded.
- `wilcoxon_p(a, b)`: Wilcoxon signed-rank p-value (scipy), 1.0 when all differences are 0.
- `paired_comparison(a, b)`: all of the above for one metric of two conditions on the same
  questions: mean difference, its paired-bootstrap CI, both p-values.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

DEFAULT_RESAMPLES = 2000


def _clean(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=float)


def bootstrap_ci(
    values: Sequence[float | None],
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """Mean, percentile-bootstrap CI and n of `values` (None/NaN left out).

    n == 0 gives mean/lo/hi None; n == 1 gives a zero-width interval at the value.
    """
    x = _clean(values)
    n = len(x)
    if n == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    mean = float(x.mean())
    if n == 1 or np.all(x == x[0]):
        return {"mean": mean, "lo": mean, "hi": mean, "n": n}
    from scipy.stats import bootstrap

    res = bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                    vectorized=True, rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return {"mean": mean, "lo": float(lo), "hi": float(hi), "n": n}


def _paired(a: Sequence[float | None], b: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    keep = [i for i in range(len(a)) if a[i] is not None and b[i] is not None]
    return np.asarray([a[i] for i in keep], float), np.asarray([b[i] for i in keep], float)


def paired_permutation_test(
    a: Sequence[float | None],
    b: Sequence[float | None],
    n_resamples: int = 9999,
    seed: int = 0,
) -> float | None:
    """Two-sided p-value for "mean(a - b) == 0" by flipping the sign of paired differences.

    Pairs with a None on either side are dropped; None when no pair is left.
    """
    x, y = _paired(a, b)
    d = x - y
    n = len(d)
    if n == 0:
        return None
    if n < 2 or np.all(d == 0):
        return 1.0  # one pair: its two sign flips are equally extreme
    from scipy.stats import permutation_test

    res = permutation_test((x, y), lambda u, v, axis=-1: np.mean(u - v, axis=axis), permutation_type="samples",
                           vectorized=True, n_resamples=n_resamples, alternative="two-sided",
                           rng=np.random.default_rng(seed))
    return float(min(res.pvalue, 1.0))



def wilcoxon_p(a: Sequence[float | None], b: Sequence[float | None]) -> float | None:
    """Wilcoxon signed-rank two-sided p-value (scipy, zero differences dropped);
    1.0 when every difference is zero, None when no pair is left."""
    from scipy.stats import wilcoxon

    x, y = _paired(a, b)
    if len(x) == 0:
        return None
    if np.all(x - y == 0):
        return 1.0
    return float(wilcoxon(x, y).pvalue)


def paired_comparison(
    a: Sequence[float | None],
    b: Sequence[float | None],
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """Compare two conditions on the same items: mean(a - b) with a bootstrap CI of the paired
    differences, the permutation p-value and the Wilcoxon p-value."""
    x, y = _paired(a, b)
    diff = bootstrap_ci(list(x - y), confidence, n_resamples, seed)
    return {
        "mean_diff": diff["mean"],
        "lo": diff["lo"],
        "hi": diff["hi"],
        "n": diff["n"],
        "p_permutation": paired_permutation_test(list(x), list(y), seed=seed),
        "p_wilcoxon": wilcoxon_p(list(x), list(y)),
    }
