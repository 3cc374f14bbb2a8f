"""Service KPIs from analysed feedback, by channel and by period (week or month).

Definitions (per period and channel; "items" are distinct complaints — a linked repeat,
``duplicate_of`` set, is counted once, except in the repeat-contact rate, which is about
contacts):

* **items** — feedback items, linked repeats excluded;
* **complaints** — the complaint volume: items labelled negative, in any channel. A
  ticket that praises the branch is not a complaint; a negative survey answer is one.
  The channel breakdown shows how many came through ticket, hotline or social media;
* **negative share** — complaints / items;
* **CSAT** — share of ratings of 4 or 5 among items with a 1..5 rating;
* **NPS** — % promoters (9–10) − % detractors (0–6) among items with a 0..10 score, in
  points (−100 … +100);
* **repeat-contact rate** — among contacts with a customer reference (every item,
  repeats included: each is a contact), the share made by a customer who had already
  contacted the bank — on any channel, about anything — within ``repeat_window_days``
  (``[analysis] repeat_window_days``) before. The first-contact-resolution proxy: lower
  is better. Contacts in the window before a period count as earlier contacts, so a
  period's first days are judged like the others.

A value whose denominator is zero is ``None`` (no ratings: no CSAT), never 0.

Everything is computed from one stream of rows: counters per (period, channel), and for
the repeat-contact rate one packed integer per contact (see :class:`RepeatContacts`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, Literal

from bihuan.storage.analysis_queries import AnalysedRow

__all__ = [
    "ALL_CHANNELS",
    "Granularity",
    "KpiBook",
    "KpiCounter",
    "KpiValues",
    "RepeatContacts",
    "kpi_change",
    "next_period",
    "period_start",
]

Granularity = Literal["week", "month"]

#: the channel key of the totals over every channel
ALL_CHANNELS = "all"


def period_start(day: date, granularity: Granularity) -> date:
    """The first day of the ISO week (Monday) or calendar month ``day`` (a local date) is in."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(start: date, granularity: Granularity) -> date:
    """The first day of the period after the one starting on ``start``."""
    if granularity == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class KpiValues:
    items: int
    complaints: int
    negative_share: float | None
    csat: float | None
    nps: float | None
    repeat_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def kpi_change(current: KpiValues, previous: KpiValues) -> dict[str, float | int | None]:
    """``current − previous`` per KPI (``None`` where either is missing); shares stay
    fractions (0.05 is 5 percentage points), NPS stays in points.

    A previous period without items has nothing to compare with: every change is
    ``None`` (503 items after none is no "+503", it is data that was not there before).
    """
    change: dict[str, float | int | None] = {}
    for f in fields(current):
        now, before = getattr(current, f.name), getattr(previous, f.name)
        if now is None or before is None or previous.items == 0:
            change[f.name] = None
        elif isinstance(now, int) and isinstance(before, int):
            change[f.name] = now - before
        else:
            change[f.name] = round(now - before, 4)
    return change


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(slots=True)
class KpiCounter:
    """Accumulates one period and channel (or all channels) row by row.

    ``contacts`` and ``repeats`` are filled in by :class:`KpiBook` once every row has been
    seen: whether a contact repeats an earlier one is known only then.
    """

    items: int = 0
    complaints: int = 0
    rated: int = 0
    satisfied: int = 0
    scored: int = 0
    promoters: int = 0
    detractors: int = 0
    contacts: int = 0
    repeats: int = 0

    def add(self, row: AnalysedRow) -> None:
        if row.duplicate_of is not None:
            return  # the same complaint again: counted where it was first said
        self.add_items(row.sentiment_label, row.rating, row.nps)

    def add_items(self, label: str, rating: float | None, nps: int | None, count: int = 1) -> None:
        """``count`` distinct items with this label, rating and NPS score."""
        self.items += count
        if label == "negative":
            self.complaints += count
        if rating is not None and 1 <= rating <= 5:
            self.rated += count
            if rating >= 4:
                self.satisfied += count
        if nps is not None and 0 <= nps <= 10:
            self.scored += count
            if nps >= 9:
                self.promoters += count
            elif nps <= 6:
                self.detractors += count

    def values(self) -> KpiValues:
        nps = round(100 * (self.promoters - self.detractors) / self.scored, 1) if self.scored else None
        return KpiValues(
            items=self.items,
            complaints=self.complaints,
            negative_share=_ratio(self.complaints, self.items),
            csat=_ratio(self.satisfied, self.rated),
            nps=nps,
            repeat_rate=_ratio(self.repeats, self.contacts),
        )


# customer hash bits | seconds since the epoch (36 bits: until the year 4147) | slot
_SLOT_BITS = 24
_SECOND_BITS = 36
_CUSTOMER_MASK = (1 << 48) - 1


class RepeatContacts:
    """Decides, for each contact, whether the same customer contacted within the window before.

    Rows arrive in no particular order, so every contact is kept as one packed integer
    (48-bit hash of the customer reference, whole seconds, slot) and the list is sorted
    once at the end: ~40 bytes a contact, no per-customer lists. Two customers sharing a
    48-bit hash is a one-in-several-hundred chance among a million customers, and would
    merge two customers' contact histories — accepted for the memory it saves.

    :param window_days: a contact within this many days after the customer's previous
        one is a repeat.
    """

    def __init__(self, window_days: int) -> None:
        if window_days <= 0:
            raise ValueError("window_days must be positive")
        self.window = window_days * 86400
        self._packed: list[int] = []

    def add(self, customer_ref: str, at: datetime, slot: int) -> None:
        """One contact; ``slot`` ≥ 0 names what it counts towards, −1 marks an earlier
        contact that is only looked back at."""
        self.add_seconds(customer_ref, int(at.timestamp()), slot)

    def add_seconds(self, customer_ref: str, seconds: int, slot: int) -> None:
        """:meth:`add` with the time as whole seconds since the epoch (truncated)."""
        customer = hash(customer_ref) & _CUSTOMER_MASK
        seconds = max(0, seconds)  # nothing is older than 1970; keep the packing valid
        self._packed.append((((customer << _SECOND_BITS) | seconds) << _SLOT_BITS) | (slot + 1))

    def tally(self) -> dict[int, tuple[int, int]]:
        """slot → (contacts, repeats)."""
        self._packed.sort()
        counts: dict[int, list[int]] = {}
        slot_mask = (1 << _SLOT_BITS) - 1
        previous_customer, previous_at = -1, 0
        for packed in self._packed:
            slot = (packed & slot_mask) - 1
            rest = packed >> _SLOT_BITS
            customer, at = rest >> _SECOND_BITS, rest & ((1 << _SECOND_BITS) - 1)
            repeat = customer == previous_customer and at - previous_at <= self.window
            previous_customer, previous_at = customer, at
            if slot >= 0:
                entry = counts.get(slot)
                if entry is None:
                    entry = counts[slot] = [0, 0]
                entry[0] += 1
                entry[1] += repeat
        return {slot: (n, r) for slot, (n, r) in counts.items()}


class KpiBook:
    """KPIs of many cells (a period key × a channel, and × all channels) from one stream.

    ``add(row, keys)`` counts the row in each period named by ``keys`` (any hashable: the
    report uses ``("current",)``, a week's Monday …); a row with no keys is an earlier
    contact, read only for the repeat-contact rate. ``values()`` ends the stream.
    """

    def __init__(self, repeat_window_days: int) -> None:
        # Per row only one dict update: rows are tallied by (slot, label, rating, NPS) —
        # a few hundred distinct kinds — and spread over their cells once, at the end
        # (a row counts in two cells per key: its channel and all channels).
        self._slots: dict[tuple[tuple[Hashable, ...], str], int] = {}
        self._kinds: dict[tuple[int, str, float | None, int | None], int] = {}
        self._repeats = RepeatContacts(repeat_window_days)
        self._result: dict[tuple[Hashable, str], KpiValues] | None = None

    def add(self, row: AnalysedRow, keys: tuple[Hashable, ...]) -> None:
        self.add_values(
            keys,
            row.channel,
            row.sentiment_label,
            row.rating,
            row.nps,
            row.duplicate_of is not None,
            row.customer_ref,
            int(row.created_at.timestamp()),
        )

    def add_values(
        self,
        keys: tuple[Hashable, ...],
        channel: str,
        label: str,
        rating: float | None,
        nps: int | None,
        duplicate: bool,
        customer_ref: str | None,
        seconds: int,
    ) -> None:
        """:meth:`add` of one item's values (``duplicate``: a linked repeat), its time as
        whole seconds since the epoch; positional, as the report calls it per row."""
        if self._result is not None:
            raise RuntimeError("KpiBook.add after values()")
        slot = -1  # no keys: an earlier contact only
        if keys:
            slot = self._slots.get((keys, channel), -1)
            if slot < 0:
                slot = self._slots[(keys, channel)] = len(self._slots)
            if not duplicate:  # the same complaint again: counted where it was first said
                kind = (slot, label, rating, nps)
                self._kinds[kind] = self._kinds.get(kind, 0) + 1
        if customer_ref:
            self._repeats.add_seconds(customer_ref, seconds, slot)

    def values(self) -> dict[tuple[Hashable, str], KpiValues]:
        """(period key, channel or ``"all"``) → KPIs, for every cell that saw a row."""
        if self._result is None:
            cells: dict[tuple[Hashable, str], KpiCounter] = {}
            by_slot: list[list[KpiCounter]] = [[] for _ in self._slots]
            for (keys, channel), slot in self._slots.items():
                for key in keys:
                    for cell in ((key, ALL_CHANNELS), (key, channel)):
                        by_slot[slot].append(cells.setdefault(cell, KpiCounter()))
            for (slot, label, rating, nps), count in self._kinds.items():
                for counter in by_slot[slot]:
                    counter.add_items(label, rating, nps, count)
            for slot, (contacts, repeats) in self._repeats.tally().items():
                for counter in by_slot[slot]:
                    counter.contacts += contacts
                    counter.repeats += repeats
            self._result = {cell: counter.values() for cell, counter in cells.items()}
        return self._result

    def get(self, key: Hashable, channel: str = ALL_CHANNELS) -> KpiValues:
        """One cell's KPIs (all ``None``/0 when it saw no row)."""
        found = self.values().get((key, channel))
        return found if found is not None else KpiCounter().values()

    def channels(self, keys: Iterable[Hashable]) -> list[str]:
        """The channels that had rows in any of ``keys``, sorted."""
        wanted = set(keys)
        return sorted({channel for key, channel in self.values() if key in wanted} - {ALL_CHANNELS})
