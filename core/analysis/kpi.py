"""Service KPIs from analysed feedback, by channel and period.

Definitions (each over the distinct complaints of a period — linked repeats are counted
once, except where said):

* **items** — feedback items, repeats excluded;
* **complaints** — items labelled negative, repeats excluded (the complaint volume);
* **negative share** — complaints / items;
* **CSAT** — share of ratings of 4 or 5 among items with a 1..5 rating;
* **NPS** — % promoters (9–10) − % detractors (0–6) among items with a 0..10 score, in points;
* **repeat-contact rate** — among items with a customer reference, the share that are a
  repeat (the same customer on the same problem within the repeat window, see
  :mod:`bihuan.core.analysis.duplicates`): the first-contact-resolution proxy, where lower
  is better.

A value whose denominator is zero is ``None`` (no ratings: no CSAT), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bihuan.storage.analysis_queries import AnalysedRow

__all__ = ["KpiCounter", "KpiValues"]


@dataclass(frozen=True, slots=True)
class KpiValues:
    items: int
    complaints: int
    negative_share: float | None
    csat: float | None
    nps: float | None
    repeat_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "complaints": self.complaints,
            "negative_share": self.negative_share,
            "csat": self.csat,
            "nps": self.nps,
            "repeat_rate": self.repeat_rate,
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(slots=True)
class KpiCounter:
    """Accumulates one period (and one channel, or all) row by row."""

    items: int = 0
    complaints: int = 0
    rated: int = 0
    satisfied: int = 0
    scored: int = 0
    promoters: int = 0
    detractors: int = 0
    with_customer: int = 0
    repeats: int = 0

    def add(self, row: AnalysedRow) -> None:
        if row.customer_ref:
            self.with_customer += 1
            if row.duplicate_of is not None:
                self.repeats += 1
        if row.duplicate_of is not None:
            return
        self.items += 1
        if row.sentiment_label == "negative":
            self.complaints += 1
        if row.rating is not None and 1 <= row.rating <= 5:
            self.rated += 1
            self.satisfied += row.rating >= 4
        if row.nps is not None and 0 <= row.nps <= 10:
            self.scored += 1
            self.promoters += row.nps >= 9
            self.detractors += row.nps <= 6

    def values(self) -> KpiValues:
        nps = round(100 * (self.promoters - self.detractors) / self.scored, 1) if self.scored else None
        return KpiValues(
            items=self.items,
            complaints=self.complaints,
            negative_share=_ratio(self.complaints, self.items),
            csat=_ratio(self.satisfied, self.rated),
            nps=nps,
            repeat_rate=_ratio(self.repeats, self.with_customer),
        )
