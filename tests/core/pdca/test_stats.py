"""The significance tests, against values computed with scipy 1.17 (``binomtest``,
``norm.sf``) and by hand."""

from __future__ import annotations

import math

import pytest

from bihuan.core.pdca.stats import binomial_two_sided, poisson_rate_ratio, two_proportions


@pytest.mark.parametrize(
    ("k", "n", "p", "expected"),
    [
        (3, 20, 0.5, 0.0025768280029296875),
        (30, 100, 0.4, 0.04154450961965455),
        (7, 7, 0.5, 0.015625),
        (10, 30, 1 / 3, 1.0),
        (0, 0, 0.3, 1.0),
    ],
)
def test_exact_binomial_matches_scipy(k: int, n: int, p: float, expected: float) -> None:
    assert binomial_two_sided(k, n, p) == pytest.approx(expected, rel=1e-9)


def test_rate_ratio_halving_at_the_same_overall_volume_is_significant() -> None:
    result = poisson_rate_ratio(60, 1000, 30, 1000)
    assert result.ratio == pytest.approx(0.5)
    assert result.p_value == pytest.approx(0.0020602656809630745, rel=1e-9)  # binomtest(30, 90, 0.5)
    spread = 1.959963984540054 * math.sqrt(1 / 60 + 1 / 30)
    assert (result.low, result.high) == pytest.approx((0.5 * math.exp(-spread), 0.5 * math.exp(spread)))


def test_rate_ratio_is_not_fooled_by_a_fall_in_overall_volume() -> None:
    # complaints halved, but so did all feedback: the rate per feedback is unchanged
    result = poisson_rate_ratio(60, 1000, 30, 500)
    assert result.ratio == pytest.approx(1.0)
    assert result.p_value == pytest.approx(1.0)


def test_two_proportions_matches_the_z_test() -> None:
    result = two_proportions(40, 100, 25, 100)
    assert result.ratio == pytest.approx(0.625)
    assert result.p_value == pytest.approx(0.023540058261177936, rel=1e-9)
    assert result.low is not None and result.high is not None and result.low < 0.625 < result.high


def test_empty_windows_give_no_figures_rather_than_zeroes() -> None:
    assert poisson_rate_ratio(0, 0, 5, 100).p_value is None
    assert two_proportions(0, 0, 3, 10).ratio is None
    zero_base = poisson_rate_ratio(0, 100, 5, 100)
    assert zero_base.ratio is None and zero_base.p_value is not None
