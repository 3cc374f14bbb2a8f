"""A task's metric, measured from the data over a window of days.

Windows are whole local days (the configured zone) turned into UTC instants, so "the
four weeks after the last action" means the same calendar days to the team as to the
database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bihuan.core.errors import UsageError
from bihuan.storage import pdca_queries as pq
from bihuan.storage.pdca_models import Metric

METRIC_HELP = {
    Metric.VOLUME: "complaints per week in the groups",
    Metric.SHARE: "the groups' share of all feedback",
    Metric.NEGATIVE_SHARE: "share of negative feedback within the groups",
    Metric.CSAT: "share of ratings 4-5 among rated feedback within the groups",
}
#: metrics where a fall is the improvement (CSAT should rise)
LOWER_IS_BETTER = frozenset({Metric.VOLUME, Metric.SHARE, Metric.NEGATIVE_SHARE})


def parse_metric(value: str) -> Metric:
    try:
        return Metric(value)
    except ValueError:
        known = ", ".join(m.value for m in Metric)
        raise UsageError(f"unknown metric {value!r}: use one of {known}") from None


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in local days."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def instants(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return local_midnight(self.start, zone), local_midnight(self.end, zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def format_value(value: float | None, metric: str | None) -> str:
    """A metric's value as the team reads it: ``7.0/week`` for volume, a percentage else."""
    if value is None:
        return "—"
    return f"{value:.1f}/week" if metric == Metric.VOLUME else f"{value:.1%}"


def value_of(metric: Metric, counts: pq.WindowCounts, days: int) -> float | None:
    """The metric's value for counts over ``days`` days; ``None`` with no denominator."""
    if metric is Metric.VOLUME:
        return counts.group * 7 / days if days else None
    if metric is Metric.SHARE:
        return counts.group / counts.total if counts.total else None
    if metric is Metric.NEGATIVE_SHARE:
        return counts.group_negative / counts.group if counts.group else None
    return counts.group_satisfied / counts.group_rated if counts.group_rated else None


def measure(
    metric: Metric, group_ids: Sequence[int], window: Window, *, zone: ZoneInfo, session: Session
) -> tuple[float | None, pq.WindowCounts]:
    since, until = window.instants(zone)
    counts = pq.window_counts(group_ids, since, until, session=session)
    return value_of(metric, counts, window.days), counts


def weekly_baseline(
    metric: Metric, group_ids: Sequence[int], *, end: date, weeks: int, zone: ZoneInfo, session: Session
) -> dict[str, Any]:
    """The metric over the ``weeks`` whole weeks before ``end``: per week and overall.

    Stored on the task when it leaves plan, so the team sees the numbers their target
    was set against.
    """
    window = Window(end - timedelta(weeks=weeks), end)
    per_week = []
    for i in range(weeks):
        week = Window(window.start + timedelta(weeks=i), window.start + timedelta(weeks=i + 1))
        value, counts = measure(metric, group_ids, week, zone=zone, session=session)
        per_week.append({"week": week.start.isoformat(), "value": value, "group": counts.group, "total": counts.total})
    value, counts = measure(metric, group_ids, window, zone=zone, session=session)
    return {
        "metric": metric.value,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "value": value,
        "weeks": per_week,
        "counts": counts.__dict__,
    }


def parse_target(text: str, baseline_value: float | None) -> float:
    """``"-50%"`` (relative to the baseline) or a plain number (the metric's own unit;
    shares as fractions or percentages: ``"0.2"`` or ``"20%"`` with no sign)."""
    raw = text.strip().replace("％", "%")
    try:
        if raw.endswith("%") and raw[0] in "+-":
            if baseline_value is None:
                raise UsageError("a relative target like -50% needs a baseline: set the metric and groups first")
            return baseline_value * (1 + float(raw[:-1]) / 100)
        if raw.endswith("%"):
            return float(raw[:-1]) / 100
        return float(raw)
    except ValueError:
        raise UsageError(f"target {text!r}: give a number, a share like 20%, or a change like -50%") from None
