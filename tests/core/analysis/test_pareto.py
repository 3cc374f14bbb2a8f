"""The Pareto ranking against hand-computed figures.

(``build_report`` ranks the groups it reads from SQLite and PostgreSQL in test_report.py.)
"""

from __future__ import annotations

import pytest

from bihuan.core.analysis.pareto import GroupTally, rank_groups, trend_factor


def tally(group_id: int, earlier: int, recent: int, sentiment: float, negative: bool = True) -> GroupTally:
    t = GroupTally(group_id)
    for is_recent, count in ((False, earlier), (True, recent)):
        for _ in range(count):
            t.add(sentiment, "negative" if negative else "positive", recent=is_recent)
    return t


def test_groups_rank_by_volume_severity_and_trend_with_the_80_percent_line() -> None:
    # four weeks: halves of two weeks each
    tallies = [
        tally(1, 20, 20, 0.2),  # 40 × 0.8 × 1 = 32
        tally(2, 4, 20, 0.2),  # 24 × 0.8 × ((10 + 1) / (2 + 1) → 2) = 38.4: smaller but growing fast
        tally(3, 40, 40, 0.95, negative=False),  # 80 × 0.05 × 1 = 4: praise
        tally(4, 6, 6, 0.2),  # 12 × 0.8 = 9.6
        GroupTally(5),  # nothing in the period: not ranked
    ]
    ranked = rank_groups(
        tallies, {1: ("提额慢", "card_limit"), 2: ("转账卡顿", None)}, half_weeks=2, trends={2: [1, 2, 3]}
    )
    assert [g.group_id for g in ranked] == [2, 1, 4, 3]
    assert [g.impact for g in ranked] == [38.4, 32.0, 9.6, 4.0]
    total = 38.4 + 32 + 9.6 + 4
    assert ranked[0].share == round(38.4 / total, 4)
    assert ranked[1].cumulative_share == round(70.4 / total, 4)  # 83.8 %: crosses the line
    assert [g.vital_few for g in ranked] == [True, True, False, False]
    assert (ranked[0].label, ranked[1].category, ranked[2].label) == ("转账卡顿", "card_limit", "4")
    assert ranked[-1].cumulative_share == 1.0
    assert ranked[0].trend == 2.0 and ranked[0].negative_share == 1.0 and ranked[3].negative_share == 0.0
    assert ranked[0].weekly == (1, 2, 3) and ranked[1].weekly == ()


def test_equal_impacts_rank_by_group_id_and_exactly_80_percent_closes_the_vital_few() -> None:
    # impacts 80, 80, 40 (severity 0.8): the second reaches 80 % exactly, the third is beyond
    for order in ([9, 3, 7], [7, 9, 3], [3, 7, 9]):
        sizes = {3: 100, 9: 100, 7: 50}
        ranked = rank_groups([tally(g, sizes[g] // 2, sizes[g] - sizes[g] // 2, 0.2) for g in order], {}, half_weeks=2)
        assert [g.group_id for g in ranked] == [3, 9, 7]
        assert [g.vital_few for g in ranked] == [True, True, False]
        assert [g.cumulative_share for g in ranked] == [0.4, 0.8, 1.0]


def test_trend_compares_weekly_rates_of_the_two_halves() -> None:
    assert trend_factor(3, 1, half_weeks=2) == pytest.approx(2.5 / 1.5)  # 1 → 3 items is not a tripling
    assert trend_factor(40, 10, half_weeks=1) == 2.0  # clamped
    assert trend_factor(0, 30, half_weeks=1) == 0.5  # clamped
    assert trend_factor(5, 5, half_weeks=0.5) == 1.0
    assert trend_factor(5, 0, half_weeks=0) == 1.0  # no halves to compare
    assert rank_groups([], {}, half_weeks=2) == []
