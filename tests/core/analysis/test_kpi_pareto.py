"""KPIs and the Pareto ranking against hand-computed figures."""

from __future__ import annotations

from datetime import UTC, datetime

from bihuan.core.analysis.kpi import KpiCounter
from bihuan.core.analysis.pareto import GroupTally, rank_groups
from bihuan.storage.analysis_queries import AnalysedRow

AT = datetime(2026, 11, 2, tzinfo=UTC)


def row(
    label: str,
    *,
    rating: float | None = None,
    nps: int | None = None,
    customer: str | None = None,
    duplicate_of: int | None = None,
) -> AnalysedRow:
    sentiment = {"negative": 0.1, "neutral": 0.5, "positive": 0.9}[label]
    return AnalysedRow(1, 1, AT, "survey", sentiment, label, rating, nps, customer, duplicate_of)


def test_kpis_follow_their_definitions() -> None:
    counter = KpiCounter()
    rows = [
        row("negative", rating=1, nps=0, customer="A"),
        row("negative", rating=2, nps=6, customer="B"),
        row("positive", rating=5, nps=10, customer="C"),
        row("positive", rating=4, nps=9),
        row("neutral", rating=3, nps=8, customer="D"),
        row("negative", customer="A", duplicate_of=1),  # A again on the same problem: a repeat, counted once
    ]
    for r in rows:
        counter.add(r)
    kpis = counter.values()
    assert (kpis.items, kpis.complaints) == (5, 2)
    assert kpis.negative_share == 0.4
    assert kpis.csat == 0.4  # 2 of 5 ratings are 4 or 5
    assert kpis.nps == 0.0  # 2 promoters, 2 detractors of 5
    assert kpis.repeat_rate == 0.2  # 1 repeat among 5 contacts with a customer reference


def test_kpis_without_answers_are_none_not_zero() -> None:
    counter = KpiCounter()
    counter.add(row("negative"))
    kpis = counter.values()
    assert (kpis.csat, kpis.nps, kpis.repeat_rate) == (None, None, None)
    assert KpiCounter().values().negative_share is None


def tally(group_id: int, weekly: list[int], sentiment: float, negative: bool = True) -> GroupTally:
    t = GroupTally(group_id, weekly=[0] * len(weekly))
    for week, count in enumerate(weekly):
        for _ in range(count):
            t.add(sentiment, "negative" if negative else "positive", week)
    return t


def test_pareto_ranks_by_volume_severity_and_trend_and_draws_the_80_percent_line() -> None:
    tallies = [
        tally(1, [10, 10, 10, 10], 0.2),  # 40 × 0.8 × 1 = 32
        tally(2, [2, 2, 10, 10], 0.2),  # 24 × 0.8 × (11/3 → 2.0) = 38.4: smaller but growing fast
        tally(3, [20, 20, 20, 20], 0.95, negative=False),  # 80 × 0.05 × 1 = 4: praise
        tally(4, [3, 3, 3, 3], 0.2),  # 12 × 0.8 = 9.6
    ]
    ranked = rank_groups(tallies, {1: ("提额慢", "card_limit"), 2: ("转账卡顿", None)})
    assert [g.group_id for g in ranked] == [2, 1, 4, 3]
    assert [g.impact for g in ranked] == [38.4, 32.0, 9.6, 4.0]
    total = 38.4 + 32 + 9.6 + 4
    assert ranked[0].share == round(38.4 / total, 4)
    assert ranked[1].cumulative_share == round(70.4 / total, 4)  # 83.8 %: crosses the line
    assert [g.vital_few for g in ranked] == [True, True, False, False]
    assert (ranked[0].label, ranked[2].label) == ("转账卡顿", "4")
    assert ranked[-1].cumulative_share == 1.0
    assert ranked[0].trend == 2.0 and ranked[0].negative_share == 1.0
