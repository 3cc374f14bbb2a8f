"""Weekly counts and spikes, against hand-computed figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bihuan.core.analysis.engine import analyze
from bihuan.core.analysis.weekly import (
    SpikeRule,
    detect_spikes,
    group_spikes,
    poisson_upper_tail,
    week_start,
    weekly_counts,
)
from bihuan.core.config import GeneralSettings
from bihuan.storage import analysis_queries as aq
from bihuan.storage.analysis_queries import AnalysedRow
from bihuan.storage.engine import session_scope

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 2, 2, tzinfo=SHANGHAI)  # Monday 02:00 in Shanghai


def row(item_id: int, group: int | None, at: datetime, duplicate_of: int | None = None) -> AnalysedRow:
    return AnalysedRow(item_id, group, at, "ticket", 0.2, "negative", None, None, None, duplicate_of)


def weeks_of(counts: list[int], group: int = 1, start: int = 0) -> list[AnalysedRow]:
    out = []
    for week, n in enumerate(counts):
        for k in range(n):
            out.append(row(start + len(out), group, MONDAY + timedelta(weeks=week, hours=k % 100)))
    return out


def test_weeks_start_on_monday_in_the_teams_zone() -> None:
    # Sunday 20:00 UTC is Monday 04:00 in Shanghai
    assert week_start(datetime(2026, 11, 8, 20, tzinfo=UTC), SHANGHAI) == date(2026, 11, 9)
    assert week_start(datetime(2026, 11, 8, 20, tzinfo=UTC), ZoneInfo("UTC")) == date(2026, 11, 2)


def test_weekly_counts_skip_repeats_and_ungrouped_items() -> None:
    rows = [
        row(1, 1, MONDAY),
        row(2, 1, MONDAY, duplicate_of=1),
        row(3, None, MONDAY),
        row(4, 1, MONDAY + timedelta(7)),
    ]
    counts = weekly_counts(rows, SHANGHAI)
    assert dict(counts.by_group[1]) == {date(2026, 11, 2): 1, date(2026, 11, 9): 1}
    assert counts.latest == MONDAY + timedelta(7)


def test_a_week_far_above_the_groups_own_baseline_spikes_once_per_group() -> None:
    # group 1: ten a week, then 40 in a complete last week; group 2: steady 30 a week
    rows = weeks_of([10] * 8 + [40]) + weeks_of([30] * 9, group=2, start=10_000)
    as_of = MONDAY + timedelta(weeks=9, hours=1)  # early in the week after
    spikes = group_spikes(rows, SHANGHAI, as_of=as_of)
    assert [(s.group_id, s.week, s.count, s.baseline, s.score) for s in spikes] == [
        (1, date(2026, 12, 28), 40, 10.0, 4.0)
    ]


def test_the_running_week_is_compared_with_the_share_of_the_week_that_passed() -> None:
    history = weeks_of([14] * 8)
    # 12 complaints on Monday and Tuesday of week 8: two days' expectation is 4
    running = [row(50_000 + k, 1, MONDAY + timedelta(weeks=8, hours=k * 4)) for k in range(12)]
    as_of = MONDAY + timedelta(weeks=8, days=2) - timedelta(hours=2)
    spikes = group_spikes(history + running, SHANGHAI, as_of=as_of)
    assert len(spikes) == 1 and spikes[0].count == 12 and spikes[0].week == date(2026, 12, 28)
    assert spikes[0].score == 3.0


def test_small_numbers_new_groups_and_normal_weeks_do_not_spike() -> None:
    assert (
        group_spikes(weeks_of([1, 0, 1, 0, 1, 4]), SHANGHAI, as_of=MONDAY + timedelta(weeks=6)) == []
    )  # 4 < min_count
    assert group_spikes(weeks_of([20, 60]), SHANGHAI, as_of=MONDAY + timedelta(weeks=2)) == []  # no history
    assert group_spikes(weeks_of([20, 22, 18, 21, 25]), SHANGHAI, as_of=MONDAY + timedelta(weeks=5)) == []
    assert group_spikes([], SHANGHAI) == []


def test_poisson_tail() -> None:
    assert poisson_upper_tail(0, 3.0) == 1.0
    assert abs(poisson_upper_tail(1, 2.0) - (1 - 2.718281828**-2)) < 1e-9
    assert poisson_upper_tail(40, 10.0) < 1e-10


def test_as_of_a_day_judges_the_running_week_at_that_days_end() -> None:
    history = weeks_of([14] * 8)
    running = [row(50_000 + k, 1, MONDAY + timedelta(weeks=8, hours=k * 4)) for k in range(12)]  # Mon and Tue
    # at the end of Tuesday two sevenths of the week have passed: expected 4, 12 is ×3
    [spike] = group_spikes(iter(history + running), SHANGHAI, as_of=date(2026, 12, 29))
    assert (spike.week, spike.count, spike.score) == (date(2026, 12, 28), 12, 3.0)
    # at the end of Sunday the whole week is expected: 12 is below 14
    assert group_spikes(iter(history + running), SHANGHAI, as_of=date(2027, 1, 3)) == []


def test_the_rule_on_counts_made_elsewhere_agrees_with_the_streamed_one() -> None:
    rows = weeks_of([10] * 8 + [40]) + weeks_of([3, 3, 3, 3, 3, 3, 3, 3, 20], group=2, start=10_000)
    as_of = MONDAY + timedelta(weeks=9, hours=1)
    counts = weekly_counts(rows, SHANGHAI).by_group
    streamed = group_spikes((r for r in rows), SHANGHAI, as_of=as_of)  # a one-shot generator
    assert detect_spikes(counts, SHANGHAI, as_of=as_of) == streamed
    assert [s.group_id for s in streamed] == [2, 1]  # 20 on 3 a week (×6.7) before 40 on 10 (×4)
    assert detect_spikes(counts, SHANGHAI, as_of=as_of, rule=SpikeRule(min_ratio=5.0)) == streamed[:1]


def test_the_engines_call_finds_the_demo_spike_on_the_database(demo_engine: Engine) -> None:
    analyze(demo_engine)
    zone = GeneralSettings().zone
    with session_scope(demo_engine) as session:
        spikes = group_spikes(aq.analysed_rows(session=session), zone=zone)
        recorded = {(s.group_id, s.week) for s in aq.spikes_since(date(2026, 1, 1), session=session)}
        labels = {g.id: g.label for g in aq.list_groups(session=session)}
    # the demo's 手机银行转账卡顿 incident in its last week (2026-11-09), recorded by analyze
    assert spikes and {(s.group_id, s.week) for s in spikes} <= recorded
    top = spikes[0]
    assert top.week == date(2026, 11, 9) and top.count >= 5 and top.score >= 2
    assert "转账" in labels[top.group_id] or "卡顿" in labels[top.group_id]


def test_weekly_counts_made_by_the_database_equal_the_streamed_ones(demo_engine: Engine) -> None:
    """What the engine's spike check asks the database for is what streaming the rows
    gives: per group and week, repeats left out — in Shanghai and across New York's
    change from daylight saving time (2026-11-01), from a start in the middle of a week."""
    from bihuan.core.analysis.weekly import week_periods

    analyze(demo_engine)
    with session_scope(demo_engine) as session:
        newest = aq.newest_item_at(session=session)
        assert newest is not None
        for zone in (SHANGHAI, ZoneInfo("America/New_York")):
            for since in (newest - timedelta(weeks=10, days=1), newest - timedelta(weeks=3, hours=77)):
                streamed = weekly_counts(aq.analysed_rows(since=since, session=session), zone).by_group
                periods = week_periods(since, newest, zone)
                counted = aq.group_period_counts([start for _, start in periods], session=session)
                in_sql = {gid: {periods[k][0]: n for k, n in weeks.items()} for gid, weeks in counted.items()}
                assert in_sql == {gid: dict(weeks) for gid, weeks in streamed.items()}
                assert sum(map(sum, (w.values() for w in in_sql.values()))) > 100
    assert week_periods(MONDAY + timedelta(days=2), MONDAY + timedelta(days=16), SHANGHAI) == [
        (date(2026, 11, 2), MONDAY + timedelta(days=2)),
        (date(2026, 11, 9), datetime(2026, 11, 9, tzinfo=SHANGHAI)),
        (date(2026, 11, 16), datetime(2026, 11, 16, tzinfo=SHANGHAI)),
    ]
