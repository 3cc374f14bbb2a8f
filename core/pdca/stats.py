"""Significance tests behind the check verdict.

Two questions, two classical tests:

* **Did the groups' complaints fall relative to all feedback?** The groups' counts in the
  baseline and check windows are Poisson with rates proportional to the overall volume
  of each window. Conditional on their sum, the check-window count is binomial with
  p = T_check / (T_base + T_check) under "no change" — the exact conditional test of a
  Poisson rate ratio (Przyborowski & Wilenski), which automatically accounts for a
  change in overall volume (a quiet week is not mistaken for a fix).
* **Did a share within the groups change** (negative share, CSAT)? A two-proportion
  z-test with a pooled variance.

Both give the ratio check/baseline with a 95 % confidence interval (log scale), so the
verdict can say not only "significant" but also whether the target is still plausible.
scipy would do this, but it is ~40 MB for two formulas; these are short, exact and tested
against values computed with scipy and R.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Comparison:
    """Baseline against check: the ratio, its 95 % interval and the two-sided p-value."""

    ratio: float | None
    low: float | None
    high: float | None
    p_value: float | None
    test: str


def binomial_two_sided(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial p-value (as R's ``binom.test``: the probability of every
    outcome no more likely than ``k``)."""
    if n == 0:
        return 1.0
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == n else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_norm = math.lgamma(n + 1)

    def log_pmf(i: int) -> float:
        return log_norm - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q

    observed = log_pmf(k)
    # relative tolerance as R uses, so ties in a symmetric distribution count on both sides
    threshold = observed + math.log1p(1e-7)
    total = 0.0
    for i in range(n + 1):
        value = log_pmf(i)
        if value <= threshold:
            total += math.exp(value)
    return min(1.0, total)


def poisson_rate_ratio(base_count: int, base_exposure: float, check_count: int, check_exposure: float) -> Comparison:
    """Compare two Poisson counts with their exposures (here: overall feedback volume).

    The ratio is (check_count / check_exposure) / (base_count / base_exposure).
    """
    test = "exact conditional Poisson rate ratio"
    if base_exposure <= 0 or check_exposure <= 0:
        return Comparison(None, None, None, None, test)
    n = base_count + check_count
    p_value = binomial_two_sided(check_count, n, check_exposure / (base_exposure + check_exposure))
    if base_count == 0:
        return Comparison(None, None, None, p_value, test)
    ratio = (check_count / check_exposure) / (base_count / base_exposure)
    if check_count == 0:
        return Comparison(ratio, 0.0, None, p_value, test)
    spread = Z_95 * math.sqrt(1 / base_count + 1 / check_count)
    return Comparison(ratio, ratio * math.exp(-spread), ratio * math.exp(spread), p_value, test)


def two_proportions(base_hits: int, base_n: int, check_hits: int, check_n: int) -> Comparison:
    """Compare two proportions (hits out of n): pooled two-proportion z-test, ratio of the
    proportions check/baseline with a log-scale 95 % interval."""
    test = "two-proportion z-test"
    if base_n == 0 or check_n == 0:
        return Comparison(None, None, None, None, test)
    p1, p2 = base_hits / base_n, check_hits / check_n
    pooled = (base_hits + check_hits) / (base_n + check_n)
    variance = pooled * (1 - pooled) * (1 / base_n + 1 / check_n)
    p_value = 1.0 if variance == 0 else math.erfc(abs(p2 - p1) / math.sqrt(variance) / math.sqrt(2))
    if base_hits == 0:
        return Comparison(None, None, None, p_value, test)
    ratio = p2 / p1
    if check_hits == 0:
        return Comparison(ratio, 0.0, None, p_value, test)
    spread = Z_95 * math.sqrt(1 / check_hits - 1 / check_n + 1 / base_hits - 1 / base_n)
    return Comparison(ratio, ratio * math.exp(-spread), ratio * math.exp(spread), p_value, test)
