"""The analysis report: KPIs by channel against the previous period, the Pareto of
root-cause groups with their weekly trend, and the spikes — as data (``to_dict``) that the
terminal, Markdown and HTML renderings (:mod:`bihuan.core.analysis.report_render`) share.

The period is the ``weeks`` complete ISO weeks before the week of the newest analysed
item (or of ``as_of``): a running week would make every trend look like a fall. The
previous period is the same number of weeks before it. Spikes are listed from the start
of the period on, the running week's included. One streaming pass over the analysed
items computes everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bihuan.core.analysis.kpi import KpiCounter
from bihuan.core.analysis.pareto import GroupTally, RankedGroup, rank_groups
from bihuan.core.analysis.weekly import week_start
from bihuan.storage import analysis_queries as aq

__all__ = ["Report", "build_report"]


@dataclass
class Report:
    generated_at: datetime
    period_start: date
    period_end: date  # exclusive
    previous_start: date
    weeks: list[date]  # the trend window's weeks, oldest first
    kpis: dict[str, dict[str, Any]]  # "all" and each channel → {"current": …, "previous": …}
    groups: list[RankedGroup]
    total_groups: int
    vital_few: int
    spikes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "period": {
                "start": self.period_start.isoformat(),
                "end": self.period_end.isoformat(),
                "previous_start": self.previous_start.isoformat(),
            },
            "weeks": [w.isoformat() for w in self.weeks],
            "kpis": self.kpis,
            "groups": [g.to_dict() for g in self.groups],
            "total_groups": self.total_groups,
            "vital_few": self.vital_few,
            "spikes": self.spikes,
        }


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def build_report(
    session: Session,
    *,
    zone: ZoneInfo,
    weeks: int = 4,
    trend_weeks: int = 12,
    top: int = 10,
    as_of: datetime | None = None,
) -> Report:
    """Compute the report (see the module doc); ``top`` limits the ranked groups listed."""
    if weeks < 1 or trend_weeks < 1:
        raise ValueError("weeks and trend_weeks must be at least 1")
    end_moment = as_of or aq.latest_analysed_at(session=session) or datetime.now(UTC)
    period_end = week_start(end_moment, zone)  # the running week is left out
    period_start = period_end - timedelta(weeks=weeks)
    previous_start = period_start - timedelta(weeks=weeks)
    trend_start = period_end - timedelta(weeks=max(trend_weeks, weeks))
    window: list[date] = [trend_start + timedelta(weeks=k) for k in range((period_end - trend_start).days // 7)]
    week_index = {week: i for i, week in enumerate(window)}
    period_offset = week_index[period_start]
    first = min(previous_start, trend_start)

    kpi: dict[tuple[str, str], KpiCounter] = {}
    tallies: dict[int, GroupTally] = {}
    trends: dict[int, list[int]] = {}
    mondays: dict[date, date] = {}
    rows = aq.analysed_rows(
        since=_local_midnight(first, zone), until=_local_midnight(period_end, zone), session=session
    )
    for row in rows:
        day = row.created_at.astimezone(zone).date()
        monday = mondays.get(day)
        if monday is None:
            monday = mondays[day] = day - timedelta(days=day.weekday())
        period = "current" if monday >= period_start else "previous" if monday >= previous_start else None
        if period is not None:
            for channel in ("all", row.channel):
                counter = kpi.get((channel, period))
                if counter is None:
                    counter = kpi[(channel, period)] = KpiCounter()
                counter.add(row)
        if row.group_id is None or row.duplicate_of is not None:
            continue
        index = week_index.get(monday)
        if index is not None:
            trend = trends.get(row.group_id)
            if trend is None:
                trend = trends[row.group_id] = [0] * len(window)
            trend[index] += 1
        if period == "current":
            tally = tallies.get(row.group_id)
            if tally is None:
                tally = tallies[row.group_id] = GroupTally(row.group_id, weekly=[0] * weeks)
            tally.add(row.sentiment, row.sentiment_label, index - period_offset)  # type: ignore[operator]

    groups = {g.id: g for g in aq.list_groups(include_merged=True, session=session)}
    labels = {gid: (g.label, g.category) for gid, g in groups.items()}
    ranked = rank_groups(list(tallies.values()), labels)
    listed = [
        RankedGroup(**{**r.to_dict(), "weekly": tuple(trends.get(r.group_id, [0] * len(window)))}) for r in ranked[:top]
    ]
    channels = sorted({channel for channel, _ in kpi} - {"all"})
    kpis = {
        channel: {
            period: (kpi[(channel, period)].values() if (channel, period) in kpi else KpiCounter().values()).to_dict()
            for period in ("current", "previous")
        }
        for channel in ("all", *channels)
    }
    spikes = [
        {
            "group_id": s.group_id,
            "label": groups[s.group_id].label if s.group_id in groups else str(s.group_id),
            "week": s.week.isoformat(),
            "count": s.count,
            "baseline": s.baseline,
            "score": s.score,
        }
        for s in aq.spikes_since(period_start, session=session)
    ]
    return Report(
        generated_at=datetime.now(UTC),
        period_start=period_start,
        period_end=period_end,
        previous_start=previous_start,
        weeks=window,
        kpis=kpis,
        groups=listed,
        total_groups=len(ranked),
        vital_few=sum(r.vital_few for r in ranked),
        spikes=spikes,
    )
