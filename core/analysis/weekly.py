"""Weekly counts per root-cause group, and spikes against each group's own baseline.

Weeks are ISO weeks (Monday to Sunday) in the team's time zone, named by their Monday.
Linked repeats (``duplicate_of`` set, see :mod:`bihuan.core.analysis.duplicates`) are not
counted: one complaint said twice is one complaint.

Spike rule, for the week of ``as_of`` (by default the newest item's time; a ``date``
means the end of that local day), which is usually still running — a partial week — and
for the complete week before it (so that a spike is still reported on Monday morning):

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bihuan.storage.analysis_queries import AnalysedRow

__all__ = [
    "Spike",
    "SpikeRule",
    "WeeklyCounts",
    "detect_spikes",
    "group_spikes",
    "poisson_upper_tail",
    "week_periods",
    "week_start",
    "weekly_counts",
]

WEEK = timedelta(days=7)


def week_start(moment: datetime, zone: ZoneInfo) -> date:
    """The Monday (in ``zone``) of the week ``moment`` falls in."""
    local = moment.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


def week_periods(since: datetime, until: datetime, zone: ZoneInfo) -> list[tuple[date, datetime]]:
    """The weeks from ``since`` to ``until`` as (Monday, first instant counted), ascending:
    the first week counts from ``since``, the others from their local Monday midnight.

    Counting items by these periods (``storage.analysis_queries.group_period_counts``)
    gives what :func:`weekly_counts` gives for the items from ``since`` on, without
    reading them into Python.
    """
    first = week_start(since, zone)
    last = week_start(until, zone)
    periods = [(first, since)]
    monday = first + WEEK
    while monday <= last:
        periods.append((monday, datetime(monday.year, monday.month, monday.day, tzinfo=zone)))
        monday += WEEK
    return periods


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


@dataclass(frozen=True, slots=True)
class SpikeRule:
    """The spike rule's knobs (see the module doc).

    :param baseline_weeks: weeks before the week examined whose mean is the baseline.
    :param min_history: weeks of the group's history needed before it can spike.
    :param min_count: fewest complaints in a week that can be a spike (1 → 3 is none).
    :param min_ratio: count / expected count needed.
    :param alpha: Poisson upper-tail probability below which the count is improbable.
    """

    baseline_weeks: int = 8
    min_history: int = 3
    min_count: int = 5
    min_ratio: float = 2.0
    alpha: float = 0.001


def group_spikes(
    rows: Iterable[AnalysedRow],
    zone: ZoneInfo,
    *,
    as_of: date | datetime | None = None,
    baseline_weeks: int = 8,
    min_history: int = 3,
    min_count: int = 5,
    min_ratio: float = 2.0,
    alpha: float = 0.001,
) -> list[Spike]:
    """The groups whose latest week spikes (see the module doc), by score, highest first.

    :param rows: analysed items, streamed (only the weeks the rule reads matter: the
        engine passes the last ``baseline_weeks + 2`` weeks).
    :param as_of: the moment (or the local day, to its end) the running week is judged
        at; by default the newest row's time. The other parameters: :class:`SpikeRule`.
    """
    counts = weekly_counts(rows, zone)
    if as_of is None:
        as_of = counts.latest
        if as_of is None:
            return []
    rule = SpikeRule(baseline_weeks, min_history, min_count, min_ratio, alpha)
    return detect_spikes(counts.by_group, zone, as_of=as_of, rule=rule)


def detect_spikes(
    by_group: Mapping[int, Mapping[date, int]],
    zone: ZoneInfo,
    *,
    as_of: date | datetime,
    rule: SpikeRule = SpikeRule(),
) -> list[Spike]:
    """The spike rule on counts already made: group id → {week's Monday: count}.

    A group's history starts at its first week in ``by_group``: pass every week the rule
    reads (``rule.baseline_weeks + 2`` before ``as_of``'s week), zeros may be left out.
    """
    if isinstance(as_of, datetime):
        local = as_of.astimezone(zone)
    else:  # a day: judged at its end
        local = datetime(as_of.year, as_of.month, as_of.day, tzinfo=zone) + timedelta(days=1)
        local -= timedelta(microseconds=1)
    current = local.date() - timedelta(days=local.weekday())
    monday_start = datetime(current.year, current.month, current.day, tzinfo=zone)
    elapsed = min(1.0, max(1 / 7, (local - monday_start) / WEEK))  # at least one day's worth
    spikes: list[Spike] = []
    for group_id, weeks in by_group.items():
        if not weeks:
            continue
        first = min(weeks)
        for week, share in ((current - WEEK, 1.0), (current, elapsed)):
            count = weeks.get(week, 0)
            if count < rule.min_count:
                continue
            history = [week - WEEK * k for k in range(1, rule.baseline_weeks + 1)]
            history = [w for w in history if w >= first]
            if len(history) < rule.min_history:
                continue
            baseline = sum(weeks.get(w, 0) for w in history) / len(history)
            expected = max(baseline * share, 0.5)
            if count < rule.min_ratio * expected or poisson_upper_tail(count, expected) >= rule.alpha:
                continue
            spikes.append(Spike(group_id, week, count, round(baseline, 2), round(count / expected, 2)))
    spikes.sort(key=lambda s: (-s.score, s.group_id))
    return spikes
