"""The analysis report: KPIs by channel and by week or month against the period before,
the Pareto of root-cause groups with their weekly trend, and the spikes — as data
(``to_dict``) that the terminal, Markdown and HTML renderings share
(:func:`render_markdown`, :func:`render_html` live in
:mod:`bihuan.core.analysis.report_render`).

**The period** (local dates in the team's zone; the end is exclusive):

* by default the ``weeks`` complete ISO weeks before the running week — today's in the
  team's zone (or ``as_of``'s): the running week is left out, since a partial week would
  make every trend look like a fall. Today, not the newest item: one item dated wrongly
  (a typo's 2099) must not move the report to another year, and a source that stopped
  sending shows as a fall, not as the last weeks it sent;
* ``since`` and/or ``until`` (both inclusive days) set it: ``until`` alone ends it after
  that day (``weeks`` long); ``since`` alone runs to today;
* the **previous period** is as long, just before it; every KPI is compared with it. When
  it holds no items at all there is nothing to compare with: the changes are ``None``
  and ``no_previous_data`` says why (not "+503 items"). The same holds per channel and
  for each week or month against the one before.

**KPIs by week or month** are computed for each calendar week (Monday first) or month
that overlaps the period, each against the week or month before it. The first may begin
before the period (it is reported whole); the last is cut at the period's end and then
marked ``partial`` — compare its counts with care, its shares and scores are fine.

**Trends** are each listed group's weekly counts over the last ``trend_weeks`` weeks (at
least the period's weeks, and at least ten so the spike rule has its baseline); the last
week is partial when the period ends mid-week.

**Spikes** are those recorded by ``bihuan analyze`` (the ``spike_event`` table) for weeks
from the period's first week on — running week included unless ``until`` is given — and
those the spike rule finds in the period's last two weeks from the report's own counts
(a period in the past, or data analysed in bulk later), each listed once.

One streaming pass over the analysed items computes everything; linked repeats are
counted once everywhere (see :mod:`bihuan.core.analysis.kpi` for the one KPI that counts
contacts). The pass reads plain rows with whole seconds (:mod:`bihuan.storage.report_queries`)
and finds each row's day once per hour of seconds (:func:`_day_aligned_step`): the
dashboard's four weeks of a million-item year (~250,000 rows) took 2.6 s of CPU as
datetimes and row objects, 1.6 s so.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bihuan.core.analysis.kpi import ALL_CHANNELS, Granularity, KpiBook, kpi_change, next_period, period_start
from bihuan.core.analysis.pareto import GroupTally, RankedGroup, rank_groups
from bihuan.core.analysis.report_render import render_html, render_markdown
from bihuan.core.analysis.weekly import Spike, SpikeRule, detect_spikes, week_start
from bihuan.core.errors import UsageError
from bihuan.storage import analysis_queries as aq
from bihuan.storage import report_queries as rq
from bihuan.storage.analysis_models import SpikeEvent

__all__ = ["Report", "build_report", "render_html", "render_markdown", "report_period"]

WEEK = timedelta(days=7)
DAY = timedelta(days=1)
#: the spike rule's reach: its baseline weeks, the week before the last and the last
_SPIKE_RULE = SpikeRule()
_MIN_TREND_WEEKS = _SPIKE_RULE.baseline_weeks + 2


@dataclass
class Report:
    """Everything the report shows; ``to_dict()`` is its JSON form."""

    generated_at: datetime
    period_start: date
    period_end: date  # exclusive
    previous_start: date
    granularity: Granularity
    repeat_window_days: int
    weeks: list[date]  # the trend window's Mondays, oldest first
    #: "all" and each channel → {"current": KPIs, "previous": KPIs, "change": deltas,
    #: "no_previous_data": whether the previous period had no items (changes all None)}
    kpis: dict[str, dict[str, Any]]
    #: each week or month: {"start", "end", "partial", "kpis": like ``kpis``}
    kpi_periods: list[dict[str, Any]]
    groups: list[RankedGroup]  # the ``top`` first of the ranking
    total_groups: int
    vital_few: int
    spikes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "period": {
                "start": self.period_start.isoformat(),
                "end": self.period_end.isoformat(),
                "last_day": (self.period_end - DAY).isoformat(),
                "days": (self.period_end - self.period_start).days,
                "previous_start": self.previous_start.isoformat(),
            },
            "granularity": self.granularity,
            "repeat_window_days": self.repeat_window_days,
            "weeks": [w.isoformat() for w in self.weeks],
            "kpis": self.kpis,
            "kpi_periods": self.kpi_periods,
            "groups": [g.to_dict() for g in self.groups],
            "total_groups": self.total_groups,
            "vital_few": self.vital_few,
            "spikes": self.spikes,
        }


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def report_period(
    *, as_of: datetime, zone: ZoneInfo, since: date | None, until: date | None, weeks: int
) -> tuple[date, date]:
    """(first day, day after the last) of the report period (see the module doc).

    :param as_of: now: the default period ends before its week (in ``zone``).
    """
    if until is not None:
        end = until + DAY
    elif since is not None:
        end = max(as_of.astimezone(zone).date(), since) + DAY
    else:
        end = week_start(as_of, zone)
    start = since if since is not None else end - weeks * WEEK
    if start >= end:
        raise UsageError(f"the period is empty: --since {since} is after --until {until}")
    return start, end


@dataclass(frozen=True, slots=True)
class _Day:
    """Where one local day's rows count (computed once per day, not per row)."""

    kpi_keys: tuple[Hashable, ...]
    week_index: int | None  # in the trend window
    current: bool


def _day_aligned_step(zone: ZoneInfo, since: datetime, until: datetime) -> int:
    """The largest of an hour, 15 minutes and a minute such that, between ``since`` and
    ``until``, every such slice of epoch seconds lies within one local day (the zone's
    midnights and clock changes fall on its edges); 1 if none does."""
    first, last = int(since.timestamp()), int(until.timestamp())
    for step in (3600, 900, 60):
        edges = range(first // step * step, last + step, step)
        if all(
            datetime.fromtimestamp(edge, zone).date() == datetime.fromtimestamp(edge + step - 1, zone).date()
            for edge in edges
        ):
            return step
    return 1


def build_report(
    session: Session,
    *,
    zone: ZoneInfo,
    since: date | None = None,
    until: date | None = None,
    weeks: int = 4,
    by: Granularity = "week",
    trend_weeks: int = 12,
    top: int = 10,
    repeat_window_days: int = 7,
    as_of: datetime | None = None,
) -> Report:
    """Compute the report (see the module doc).

    :param since: first day of the period (local, inclusive).
    :param until: last day of the period (local, inclusive).
    :param weeks: the period's length when ``since`` is not given.
    :param by: KPIs by ``"week"`` or ``"month"``.
    :param top: how many of the ranked groups are listed (all are ranked).
    :param repeat_window_days: ``[analysis] repeat_window_days``, for the repeat-contact rate.
    :param as_of: the moment the default period is counted back from (default: now).
    """
    if weeks < 1 or trend_weeks < 1 or top < 0:
        raise UsageError("weeks and trend_weeks must be at least 1, top at least 0")
    if by not in ("week", "month"):
        raise UsageError(f"KPIs by {by!r}: use week or month")
    start, end = report_period(as_of=as_of or datetime.now(UTC), zone=zone, since=since, until=until, weeks=weeks)
    days = (end - start).days
    previous_start = start - timedelta(days=days)
    middle = _midnight(start, zone) + (_midnight(end, zone) - _midnight(start, zone)) / 2

    last_week = week_start(_midnight(end - DAY, zone), zone)
    span = max(trend_weeks, (last_week - week_start(_midnight(start, zone), zone)).days // 7 + 1, _MIN_TREND_WEEKS)
    window = [last_week - WEEK * k for k in range(span - 1, -1, -1)]

    buckets = [period_start(start, by)]
    while next_period(buckets[-1], by) < end:
        buckets.append(next_period(buckets[-1], by))
    before_first = period_start(buckets[0] - DAY, by)
    first_read = min(previous_start, window[0], before_first)

    def day_info(day: date) -> _Day:
        keys: list[Hashable] = []
        if start <= day < end:
            keys.append("current")
        elif previous_start <= day < start:
            keys.append("previous")
        if day >= before_first:
            keys.append(period_start(day, by))
        monday = day - timedelta(days=day.weekday())
        index = (monday - window[0]).days // 7 if monday >= window[0] else None
        return _Day(tuple(keys) if day >= first_read else (), index, start <= day < end)

    book = KpiBook(repeat_window_days)
    tallies: dict[int, GroupTally] = {}
    trends: dict[int, list[int]] = {}
    # the repeat window before the first day: earlier contacts of the first days' customers
    read_from = _midnight(first_read, zone) - timedelta(days=repeat_window_days)
    read_until = _midnight(end, zone)
    # rows come with whole seconds; a day's place is looked up once per bucket of seconds
    # that lies within one local day (an hour nearly everywhere)
    step = _day_aligned_step(zone, read_from, read_until)
    day_cache: dict[int, _Day] = {}
    middle_seconds = int(middle.timestamp())  # a whole second: "recent" by seconds is exact
    for rows in rq.report_rows(since=read_from, until=read_until, session=session):
        for seconds, channel, group_id, sentiment, label, rating, nps, customer_ref, duplicate_of in rows:
            info = day_cache.get(seconds // step)
            if info is None:
                local = datetime.fromtimestamp(seconds // step * step, zone).date()
                info = day_cache[seconds // step] = day_info(local)
            repeated = duplicate_of is not None
            book.add_values(info.kpi_keys, channel, label, rating, nps, repeated, customer_ref, seconds)
            if group_id is None or repeated:
                continue
            if info.week_index is not None:
                trend = trends.get(group_id)
                if trend is None:
                    trend = trends[group_id] = [0] * len(window)
                trend[info.week_index] += 1
            if info.current:
                tally = tallies.get(group_id)
                if tally is None:
                    tally = tallies[group_id] = GroupTally(group_id)
                tally.add(sentiment, label, recent=seconds >= middle_seconds)

    groups = {g.id: g for g in aq.list_groups(include_merged=True, session=session)}
    labels = {gid: (g.label, g.category) for gid, g in groups.items()}
    ranked = rank_groups(tallies.values(), labels, half_weeks=days / 14, trends=trends)

    def compare(current: Hashable, previous: Hashable) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for channel in (ALL_CHANNELS, *book.channels([current, previous])):
            now, before = book.get(current, channel), book.get(previous, channel)
            out[channel] = {
                "current": now.to_dict(),
                "previous": before.to_dict(),
                "change": kpi_change(now, before),
                "no_previous_data": before.items == 0,
            }
        return out

    kpi_periods = []
    for index, bucket in enumerate(buckets):
        natural_end = next_period(bucket, by)
        kpi_periods.append(
            {
                "start": bucket.isoformat(),
                "end": min(natural_end, end).isoformat(),
                "partial": natural_end > end,
                "kpis": compare(bucket, buckets[index - 1] if index else before_first),
            }
        )
    return Report(
        generated_at=datetime.now(UTC),
        period_start=start,
        period_end=end,
        previous_start=previous_start,
        granularity=by,
        repeat_window_days=repeat_window_days,
        weeks=window,
        kpis=compare("current", "previous"),
        kpi_periods=kpi_periods,
        groups=ranked[:top],
        total_groups=len(ranked),
        vital_few=sum(r.vital_few for r in ranked),
        spikes=_spikes(
            session, trends, window, zone=zone, start=start, end=end, bounded=until is not None, labels=labels
        ),
    )


def _spikes(
    session: Session,
    trends: dict[int, list[int]],
    window: list[date],
    *,
    zone: ZoneInfo,
    start: date,
    end: date,
    bounded: bool,
    labels: dict[int, tuple[str, str | None]],
) -> list[dict[str, Any]]:
    """Recorded spikes of the period, and those the rule finds at its end (module doc)."""
    first_week = week_start(_midnight(start, zone), zone)
    found: dict[tuple[int, date], dict[str, Any]] = {}

    def keep(spike: Spike | SpikeEvent, recorded: bool) -> None:
        fields = ("group_id", "week", "count", "baseline", "score")
        found.setdefault((spike.group_id, spike.week), {f: getattr(spike, f) for f in fields} | {"recorded": recorded})

    for event in aq.spikes_since(first_week, session=session):
        if not bounded or event.week < end:
            keep(event, recorded=True)
    counts = {gid: {week: n for week, n in zip(window, series, strict=True) if n} for gid, series in trends.items()}
    for spike in detect_spikes(counts, zone, as_of=end - DAY, rule=_SPIKE_RULE):
        if spike.week >= first_week:
            keep(spike, recorded=False)  # one analyze recorded already stays as it was
    listed = sorted(found.values(), key=lambda s: (-s["week"].toordinal(), -s["score"], s["group_id"]))
    return [
        {**s, "week": s["week"].isoformat(), "label": labels.get(s["group_id"], (str(s["group_id"]), None))[0]}
        for s in listed
    ]
