"""Pareto ranking of root-cause groups: which few groups hurt most.

Per group, over the report period (linked repeats counted once):

* **volume** — distinct items;
* **severity** — mean negativity, ``1 − mean sentiment`` (0 praise … 1 anger): a group of
  thank-you notes ranks low however large it is;
* **trend** — ``(mean weekly count of the last half of the period + 1) / (mean of the
  half before + 1)``, clamped to 0.5 … 2: a growing problem weighs more;
* **impact** — volume × severity × trend; groups are ranked by impact (ties by id), with
  each group's share of the total impact, the cumulative share, and ``vital_few`` for the
  groups up to and including the one where the cumulative share reaches 80 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["GroupTally", "RankedGroup", "rank_groups"]

VITAL_SHARE = 0.8


@dataclass(slots=True)
class GroupTally:
    """What the ranking needs of one group, accumulated row by row."""

    group_id: int
    volume: int = 0
    negatives: int = 0
    sentiment_sum: float = 0.0
    weekly: list[int] = field(default_factory=list)  # the period's weeks, oldest first

    def add(self, sentiment: float, label: str, week_index: int) -> None:
        self.volume += 1
        self.sentiment_sum += sentiment
        self.negatives += label == "negative"
        self.weekly[week_index] += 1


@dataclass(frozen=True, slots=True)
class RankedGroup:
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


def _trend(weekly: list[int]) -> float:
    if len(weekly) < 2:
        return 1.0
    half = len(weekly) // 2
    earlier, recent = weekly[:half], weekly[half:]
    ratio = (sum(recent) / len(recent) + 1) / (sum(earlier) / len(earlier) + 1)
    return min(2.0, max(0.5, ratio))


def rank_groups(tallies: list[GroupTally], labels: dict[int, tuple[str, str | None]]) -> list[RankedGroup]:
    """Rank groups by impact (see the module doc). ``labels``: group id → (label, category)."""
    scored = []
    for tally in tallies:
        if not tally.volume:
            continue
        severity = 1.0 - tally.sentiment_sum / tally.volume
        trend = _trend(tally.weekly)
        scored.append((tally.volume * severity * trend, tally, severity, trend))
    scored.sort(key=lambda entry: (-entry[0], entry[1].group_id))
    total = sum(entry[0] for entry in scored) or 1.0
    ranked: list[RankedGroup] = []
    cumulative = 0.0
    for impact, tally, severity, trend in scored:
        vital = cumulative < VITAL_SHARE  # the group that crosses the line is one of the few
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
                weekly=tuple(tally.weekly),
            )
        )
    return ranked
