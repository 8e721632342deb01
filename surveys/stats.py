"""The statistics of survey results, computed from answer counts: pure functions.

Intervals are 95%: Student's t for a mean, Wilson for a share, the normal approximation for an
NPS (its variance from the promoter and detractor shares). Changes between rounds are tested
with Welch's t-test (means) and the two-proportion z-test (shares, NPS); only p < 0.05 counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from scipy import stats as scipy_stats

Z95 = 1.959963984540054
ALPHA = 0.05


def mean_sd(counts: Mapping[int, int]) -> tuple[int, float | None, float | None]:
    """(n, mean, sample standard deviation) of values given as value -> count."""
    n = sum(counts.values())
    if n == 0:
        return 0, None, None
    mean = sum(value * count for value, count in counts.items()) / n
    if n < 2:
        return n, mean, None
    squares = sum(count * (value - mean) ** 2 for value, count in counts.items())
    return n, mean, math.sqrt(squares / (n - 1))


def mean_interval(n: int, mean: float | None, sd: float | None) -> tuple[float, float] | None:
    """The 95% t interval of a mean; None below two answers."""
    if mean is None or sd is None or n < 2:
        return None
    half = float(scipy_stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def wilson_interval(successes: int, n: int) -> tuple[float, float] | None:
    """The Wilson 95% interval of a share; None when n is 0."""
    if n == 0:
        return None
    p = successes / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def nps(counts: Mapping[int, int]) -> tuple[int, float | None, tuple[float, float] | None]:
    """(n, NPS from -100 to 100, its 95% interval) of 0-10 answers: %9-10 minus %0-6."""
    n = sum(counts.values())
    if n == 0:
        return 0, None, None
    promoters = sum(c for v, c in counts.items() if v >= 9) / n
    detractors = sum(c for v, c in counts.items() if v <= 6) / n
    score = promoters - detractors
    variance = (promoters + detractors - score * score) / n
    half = Z95 * math.sqrt(max(variance, 0.0))
    interval = (max(-1.0, score - half) * 100, min(1.0, score + half) * 100) if n > 1 else None
    return n, score * 100, interval


def welch_p(
    n1: int, mean1: float, sd1: float | None, n2: int, mean2: float, sd2: float | None
) -> float | None:
    """Two-sided p of Welch's t-test that two means differ; None when it cannot be computed."""
    if n1 < 2 or n2 < 2 or sd1 is None or sd2 is None:
        return None
    if sd1 == 0 and sd2 == 0:
        return 1.0 if mean1 == mean2 else 0.0
    result = scipy_stats.ttest_ind_from_stats(mean1, sd1, n1, mean2, sd2, n2, equal_var=False)
    return float(result.pvalue)


def two_proportion_p(successes1: int, n1: int, successes2: int, n2: int) -> float | None:
    """Two-sided p of the pooled two-proportion z-test; None when a sample is empty."""
    if n1 == 0 or n2 == 0:
        return None
    pooled = (successes1 + successes2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (successes1 / n1 - successes2 / n2) / se
    return float(2 * scipy_stats.norm.sf(abs(z)))


def nps_difference_p(counts1: Mapping[int, int], counts2: Mapping[int, int]) -> float | None:
    """Two-sided p that two NPS differ (normal approximation of the difference)."""
    n1, score1, _ = nps(counts1)
    n2, score2, _ = nps(counts2)
    if score1 is None or score2 is None or n1 < 2 or n2 < 2:
        return None

    def variance(counts: Mapping[int, int], n: int, score: float) -> float:
        promoters = sum(c for v, c in counts.items() if v >= 9) / n
        detractors = sum(c for v, c in counts.items() if v <= 6) / n
        return (promoters + detractors - (score / 100) ** 2) / n

    se = math.sqrt(variance(counts1, n1, score1) + variance(counts2, n2, score2))
    if se == 0:
        return 1.0 if score1 == score2 else 0.0
    z = (score1 - score2) / 100 / se
    return float(2 * scipy_stats.norm.sf(abs(z)))
