"""Weekly counts and spikes, against hand-computed figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bihuan.core.analysis.weekly import group_spikes, poisson_upper_tail, week_start, weekly_counts
from bihuan.storage.analysis_queries import AnalysedRow

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
    rows = [row(1, 1, MONDAY), row(2, 1, MONDAY, duplicate_of=1), row(3, None, MONDAY), row(4, 1, MONDAY + timedelta(7))]
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
    assert group_spikes(weeks_of([1, 0, 1, 0, 1, 4]), SHANGHAI, as_of=MONDAY + timedelta(weeks=6)) == []  # 4 < min_count
    assert group_spikes(weeks_of([20, 60]), SHANGHAI, as_of=MONDAY + timedelta(weeks=2)) == []  # no history
    assert group_spikes(weeks_of([20, 22, 18, 21, 25]), SHANGHAI, as_of=MONDAY + timedelta(weeks=5)) == []
    assert group_spikes([], SHANGHAI) == []


def test_poisson_tail() -> None:
    assert poisson_upper_tail(0, 3.0) == 1.0
    assert abs(poisson_upper_tail(1, 2.0) - (1 - 2.718281828 ** -2)) < 1e-9
    assert poisson_upper_tail(40, 10.0) < 1e-10
