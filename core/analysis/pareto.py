"""Pareto ranking of root-cause groups: which few groups hurt most.

Per group, over the report period (linked repeats counted once):

* **volume** — distinct complaints: the group's items, repeats excluded;
* **severity** — mean negativity, ``1 − mean sentiment`` (0 praise … 1 anger): a group of
  thank-you notes ranks low however large it is. The negative share is reported beside
  it but not used: it jumps at the label threshold, the mean does not;
* **trend** — the period is cut in two halves of equal length; with ``r`` and ``e`` the
  weekly rates (items a week) of the recent and the earlier half, trend is
  ``(r + 1) / (e + 1)``, clamped to 0.5 … 2: a growing problem weighs more, and the
  ``+ 1`` keeps 1 → 3 items from counting as a tripling;
* **impact** — volume × severity × trend; groups are ranked by impact (ties by the
  smaller group id, so equal groups always come out in the same order), with each
  group's share of the total impact, the cumulative share, and ``vital_few`` for the
  groups up to and including the one where the cumulative share reaches 80 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["VITAL_SHARE", "GroupTally", "RankedGroup", "rank_groups", "trend_factor"]

VITAL_SHARE = 0.8


@dataclass(slots=True)
class GroupTally:
    """What the ranking needs of one group, accumulated row by row."""

    group_id: int
    volume: int = 0
    negatives: int = 0
    sentiment_sum: float = 0.0
    recent: int = 0  # of the volume, in the second half of the period

    def add(self, sentiment: float, label: str, *, recent: bool) -> None:
        self.volume += 1
        self.sentiment_sum += sentiment
        self.negatives += label == "negative"
        self.recent += recent


@dataclass(frozen=True, slots=True)
class RankedGroup:
    """One group's place in the ranking; ``weekly`` is its trend line (display only)."""

    group_id: int
    label: str
    category: str | None
    volume: int
    negative_share: float
    severity: float
    trend: float
    impact: float
    share: float
    cumulative_share: float
    vital_few: bool
    weekly: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "label": self.label,
            "category": self.category,
            "volume": self.volume,
            "negative_share": self.negative_share,
            "severity": self.severity,
            "trend": self.trend,
            "impact": self.impact,
            "share": self.share,
            "cumulative_share": self.cumulative_share,
            "vital_few": self.vital_few,
            "weekly": list(self.weekly),
        }


def trend_factor(recent: int, earlier: int, half_weeks: float) -> float:
    """``(recent rate + 1) / (earlier rate + 1)`` in items a week, clamped to 0.5 … 2."""
    if half_weeks <= 0:
        return 1.0
    ratio = (recent / half_weeks + 1) / (earlier / half_weeks + 1)
    return min(2.0, max(0.5, ratio))


def rank_groups(
    tallies: Iterable[GroupTally],
    labels: Mapping[int, tuple[str, str | None]],
    *,
    half_weeks: float,
    trends: Mapping[int, Sequence[int]] | None = None,
) -> list[RankedGroup]:
    """Rank groups by impact (see the module doc).

    :param labels: group id → (label, category); a group without one is named by its id.
    :param half_weeks: the length of each half of the period, in weeks (2 for four weeks).
    :param trends: group id → weekly counts to attach for display (the report's trend
        window, which may be longer than the period); not used in the ranking.
    """
    scored = []
    for tally in tallies:
        if not tally.volume:
            continue
        severity = 1.0 - tally.sentiment_sum / tally.volume
        trend = trend_factor(tally.recent, tally.volume - tally.recent, half_weeks)
        scored.append((tally.volume * severity * trend, tally, severity, trend))
    scored.sort(key=lambda entry: (-entry[0], entry[1].group_id))
    total = sum(entry[0] for entry in scored) or 1.0
    ranked: list[RankedGroup] = []
    cumulative = 0.0
    for impact, tally, severity, trend in scored:
        # the group that crosses the line is one of the few; the tolerance keeps a sum that
        # is 0.8 in exact arithmetic from counting as below it
        vital = cumulative < VITAL_SHARE - 1e-9
        cumulative += impact / total
        label, category = labels.get(tally.group_id, (str(tally.group_id), None))
        ranked.append(
            RankedGroup(
                group_id=tally.group_id,
                label=label,
                category=category,
                volume=tally.volume,
                negative_share=round(tally.negatives / tally.volume, 4),
                severity=round(severity, 4),
                trend=round(trend, 3),
                impact=round(impact, 2),
                share=round(impact / total, 4),
                cumulative_share=round(min(cumulative, 1.0), 4),
                vital_few=vital,
                weekly=tuple(trends.get(tally.group_id, ())) if trends is not None else (),
            )
        )
    return ranked
