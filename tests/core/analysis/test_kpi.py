"""KPIs against hand-computed figures: their definitions, repeat contacts, periods.

(``build_report`` reads them from SQLite and PostgreSQL in test_report.py.)
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bihuan.core.analysis.kpi import KpiBook, KpiCounter, RepeatContacts, kpi_change, next_period, period_start
from bihuan.storage.analysis_queries import AnalysedRow

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 10, tzinfo=SH)
SENTIMENT = {"negative": 0.1, "neutral": 0.5, "positive": 0.9}


def row(
    label: str,
    *,
    channel: str = "survey",
    days: float = 0,
    rating: float | None = None,
    nps: int | None = None,
    customer: str | None = None,
    duplicate_of: int | None = None,
) -> AnalysedRow:
    at = T0 + timedelta(days=days)
    return AnalysedRow(1, 1, at, channel, SENTIMENT[label], label, rating, nps, customer, duplicate_of)


def test_each_kpi_follows_its_definition() -> None:
    counter = KpiCounter()
    for r in [
        row("negative", rating=1, nps=0),
        row("negative", rating=2, nps=6),
        row("positive", rating=5, nps=10),
        row("positive", rating=4, nps=9),
        row("neutral", rating=3, nps=8),
        row("negative", rating=1, nps=0, duplicate_of=1),  # the same complaint again: counted once
        row("neutral", rating=7, nps=11),  # out of range: not a rating, not a score
    ]:
        counter.add(r)
    kpis = counter.values()
    assert (kpis.items, kpis.complaints) == (6, 2)
    assert kpis.negative_share == 0.3333
    assert kpis.csat == 0.4  # 2 of 5 ratings are 4 or 5
    assert kpis.nps == 0.0  # 2 promoters, 2 detractors of 5 scores
    assert kpis.repeat_rate is None  # no contacts counted (KpiBook fills them in)


def test_kpis_without_answers_are_none_not_zero() -> None:
    counter = KpiCounter()
    counter.add(row("negative"))
    kpis = counter.values()
    assert (kpis.csat, kpis.nps, kpis.repeat_rate) == (None, None, None)
    assert KpiCounter().values().negative_share is None


def test_a_repeat_contact_is_the_same_customer_again_within_the_window() -> None:
    contacts = RepeatContacts(window_days=7)
    week = 7 * 86400
    moments = [
        ("A", 0, 0),
        ("A", 3 * 86400, 0),  # repeat
        ("A", 3 * 86400 + week, 1),  # exactly seven days later: repeat
        ("A", 3 * 86400 + 2 * week + 1, 1),  # a second more: a new first contact
        ("B", 0, 1),
        ("B", 3600, -1),  # looked back at only: counted in no slot
        ("B", 7200, 1),  # repeat of the one looked back at
    ]
    random.Random(4).shuffle(moments)  # rows arrive in any order
    for customer, seconds, slot in moments:
        contacts.add(customer, T0 + timedelta(seconds=seconds), slot)
    assert contacts.tally() == {0: (2, 1), 1: (4, 2)}


def test_a_book_counts_periods_channels_and_contacts_before_the_period() -> None:
    book = KpiBook(repeat_window_days=7)
    cur, prev = ("current",), ("previous",)
    rows = [
        (row("negative", rating=1, nps=0, customer="A"), cur),
        (row("positive", days=1, rating=5, nps=10, customer="B"), cur),
        (row("negative", channel="ticket", days=3, customer="A"), cur),  # A again: a repeat
        (row("negative", channel="ticket", days=3.05, customer="A", duplicate_of=3), cur),  # its linked copy
        (row("neutral", channel="social", days=2), cur),
        (row("neutral", days=4, rating=3, nps=8, customer="C"), cur),  # C came on day −2: a repeat
        (row("negative", channel="hotline", days=9, customer="B"), cur),  # B 8 days later: not one
        (row("neutral", days=-2, customer="C"), ()),  # before the periods: looked back at only
        (row("positive", days=-10, rating=4, nps=9, customer="D"), prev),
    ]
    random.Random(7).shuffle(rows)
    for r, keys in rows:
        book.add(r, keys)
    current, previous = book.get("current"), book.get("previous")
    # 6 items (the linked copy is not one), 3 negative; ratings 1, 5, 3; scores 0, 10, 8;
    # contacts A, B, A, A's copy, C, B: repeats A, A's copy, C
    assert current.to_dict() == {
        "items": 6,
        "complaints": 3,
        "negative_share": 0.5,
        "csat": 0.3333,
        "nps": 0.0,
        "repeat_rate": 0.5,
    }
    assert previous.to_dict() == {
        "items": 1,
        "complaints": 0,
        "negative_share": 0.0,
        "csat": 1.0,
        "nps": 100.0,
        "repeat_rate": 0.0,
    }
    assert kpi_change(current, previous) == {
        "items": 5,
        "complaints": 3,
        "negative_share": 0.5,
        "csat": -0.6667,
        "nps": -100.0,
        "repeat_rate": 0.5,
    }
    assert book.channels(["current", "previous"]) == ["hotline", "social", "survey", "ticket"]
    assert (book.get("current", "ticket").items, book.get("current", "ticket").repeat_rate) == (1, 1.0)
    assert book.get("current", "survey").repeat_rate == 0.3333  # A, B, C: C repeats
    assert book.get("current", "social").repeat_rate is None  # nobody known
    assert book.get("current", "hotline").repeat_rate == 0.0
    assert book.get("previous", "ticket").items == 0  # an empty cell
    assert kpi_change(book.get("current", "social"), book.get("previous", "social"))["csat"] is None


def test_periods_are_iso_weeks_or_calendar_months() -> None:
    assert period_start(date(2026, 11, 4), "week") == date(2026, 11, 2)
    assert period_start(date(2026, 11, 2), "week") == date(2026, 11, 2)
    assert period_start(date(2026, 11, 30), "month") == date(2026, 11, 1)
    assert next_period(date(2026, 12, 28), "week") == date(2027, 1, 4)
    assert next_period(date(2026, 12, 1), "month") == date(2027, 1, 1)
    assert next_period(date(2026, 1, 1), "month") == date(2026, 2, 1)
