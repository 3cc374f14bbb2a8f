"""Weekly counts per root-cause group, and spikes against each group's own baseline.

Weeks are ISO weeks (Monday to Sunday) in the team's time zone, named by their Monday.
Linked repeats (``duplicate_of`` set, see :mod:`bihuan.core.analysis.duplicates`) are not
counted: one complaint said twice is one complaint.

Spike rule, for the week of ``as_of`` (by default the newest item's time), which is
usually still running, and for the complete week before it (so that a spike is still
reported on Monday morning):

* the **baseline** is the group's mean weekly count over the ``baseline_weeks`` weeks
  before the week examined (weeks before the group's first item are not counted as
  zeros; a group needs ``min_history`` weeks of history to have a baseline);
* the **expected** count is the baseline, times the share of the week that has passed
  at ``as_of`` for the running week;
* it **spikes** when the count is at least ``min_count``, at least ``min_ratio`` times
  the expected count, and improbable under a Poisson model of the expected count
  (upper tail below ``alpha``). ``score`` is the ratio of count to expected count.

Rows are consumed as a stream: a million analysed items never sit in a list.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bihuan.storage.analysis_queries import AnalysedRow

__all__ = ["Spike", "WeeklyCounts", "group_spikes", "poisson_upper_tail", "week_start", "weekly_counts"]

WEEK = timedelta(days=7)


def week_start(moment: datetime, zone: ZoneInfo) -> date:
    """The Monday (in ``zone``) of the week ``moment`` falls in."""
    local = moment.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


@dataclass(frozen=True, slots=True)
class Spike:
    """A group's latest week far above its own baseline."""

    group_id: int
    week: date
    count: int
    baseline: float
    score: float


@dataclass
class WeeklyCounts:
    """Per-group weekly counts (repeats excluded) and the newest item's time."""

    by_group: dict[int, Counter[date]]
    latest: datetime | None

    def series(self, group_id: int, weeks: list[date]) -> list[int]:
        counts = self.by_group.get(group_id, Counter())
        return [counts.get(week, 0) for week in weeks]


def weekly_counts(rows: Iterable[AnalysedRow], zone: ZoneInfo) -> WeeklyCounts:
    """Count each group's distinct complaints per week (items without a group and
    linked repeats are skipped)."""
    by_group: dict[int, Counter[date]] = {}
    latest: datetime | None = None
    # Monday of each local day, cached: a million rows span a few hundred days
    mondays: dict[date, date] = {}
    for row in rows:
        if latest is None or row.created_at > latest:
            latest = row.created_at
        if row.group_id is None or row.duplicate_of is not None:
            continue
        day = row.created_at.astimezone(zone).date()
        monday = mondays.get(day)
        if monday is None:
            monday = mondays[day] = day - timedelta(days=day.weekday())
        counter = by_group.get(row.group_id)
        if counter is None:
            counter = by_group[row.group_id] = Counter()
        counter[monday] += 1
    return WeeklyCounts(by_group, latest)


def poisson_upper_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    # 1 - P(X <= count - 1), summed in log space for large counts
    log_mean = math.log(mean)
    cdf = sum(math.exp(k * log_mean - mean - math.lgamma(k + 1)) for k in range(count))
    return max(0.0, 1.0 - cdf)


def group_spikes(
    rows: Iterable[AnalysedRow],
    zone: ZoneInfo,
    *,
    as_of: datetime | None = None,
    baseline_weeks: int = 8,
    min_history: int = 3,
    min_count: int = 5,
    min_ratio: float = 2.0,
    alpha: float = 0.001,
) -> list[Spike]:
    """The groups whose latest week spikes (see the module doc), by score, highest first."""
    counts = weekly_counts(rows, zone)
    as_of = as_of or counts.latest
    if as_of is None:
        return []
    current = week_start(as_of, zone)
    local = as_of.astimezone(zone)
    monday_start = datetime(current.year, current.month, current.day, tzinfo=zone)
    elapsed = min(1.0, max(1 / 7, (local - monday_start) / WEEK))  # at least one day's worth
    spikes: list[Spike] = []
    for group_id, weeks in counts.by_group.items():
        first = min(weeks)
        for week, share in ((current - WEEK, 1.0), (current, elapsed)):
            count = weeks.get(week, 0)
            if count < min_count:
                continue
            history = [week - WEEK * k for k in range(1, baseline_weeks + 1)]
            history = [w for w in history if w >= first]
            if len(history) < min_history:
                continue
            baseline = sum(weeks.get(w, 0) for w in history) / len(history)
            expected = max(baseline * share, 0.5)
            if count < min_ratio * expected or poisson_upper_tail(count, expected) >= alpha:
                continue
            spikes.append(Spike(group_id, week, count, round(baseline, 2), round(count / expected, 2)))
    spikes.sort(key=lambda s: (-s.score, s.group_id))
    return spikes
