"""The report's lean pass (whole seconds from the database, a day looked up per hour)
gives the figures of the plain per-row computation, in zones with DST, half- and
quarter-hour offsets and a half-hour DST shift, for items a microsecond either side of
midnight, of the period's middle and of the repeat window's end."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from bihuan.core.analysis import report as report_module
from bihuan.core.analysis.report import build_report
from bihuan.storage import analysis_queries as aq
from bihuan.storage import bulk
from bihuan.storage.analysis_models import IssueGroup
from bihuan.storage.engine import session_scope
from bihuan.storage.models import FeedbackItem

ZONES = ["Asia/Shanghai", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"]
LABELS = ("negative", "neutral", "positive")
RATINGS = (None, 0.5, 1.0, 3.99, 4.0, 5.0, 5.5)
NPS = (None, -1, 0, 6, 7, 9, 10, 11)


def edge_times(zone: ZoneInfo) -> list[datetime]:
    """Local midnights ± 1 µs and noons ± 1 µs over 14 weeks up to 2026-11-04, and a few
    instants around the zone's autumn clock change, in UTC."""
    times: list[datetime] = []
    day = date(2026, 7, 27)
    while day < date(2026, 11, 4):
        for hour in (0, 12):
            local = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
            times += [(local + timedelta(microseconds=d)).astimezone(UTC) for d in (-1, 0, 1)]
        day += timedelta(days=1)
    change = datetime(2026, 10, 25, 1, tzinfo=UTC)  # Europe's; elsewhere just instants
    times += [change + timedelta(minutes=m, microseconds=d) for m in (-30, 0, 30, 60) for d in (-1, 0)]
    return times


def seed(engine: Engine, zone: ZoneInfo) -> None:
    rng = random.Random(zone.key)
    times = edge_times(zone)
    # a customer's contacts a whole week ± 1 s apart (the repeat window's edge)
    base = datetime(2026, 10, 6, 9, 30, 0, 400_000, tzinfo=UTC)
    contacts = [base, base + timedelta(days=7), base + timedelta(days=14, seconds=1), base + timedelta(days=21, microseconds=500_000)]
    rows, results = [], []
    for i, at in enumerate(times + contacts):
        customer = "K-week" if i >= len(times) else (f"K{rng.randrange(40)}" if rng.random() < 0.7 else None)
        rows.append(("t", f"x{i}", rng.choice(("ticket", "survey", "app")), f"text {i}", rng.choice(RATINGS),
                     rng.choice(NPS), customer, at, None, None, f"h{i}"))  # fmt: skip
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(rows, run_id=None, now=times[-1], session=session)
        for gid in (1, 2, 3):
            session.add(IssueGroup(id=gid, label=f"group {gid}"))
        session.flush()
        ids = [item_id for (item_id,) in session.execute(select(FeedbackItem.id).order_by(FeedbackItem.id))]
        for k, item_id in enumerate(ids):
            label = rng.choice(LABELS)
            results.append(
                {
                    "item_id": item_id, "content_hash": f"h{k}", "language": "zh",
                    "sentiment": rng.choice((0.05, 0.1, 0.3, 0.5, 0.7, 0.95)), "sentiment_label": label,
                    "keywords": [], "categories": [], "category": None,
                    "group_id": rng.choice((None, 1, 2, 3)),
                    "duplicate_of": ids[k - 1] if k and rng.random() < 0.1 else None,
                    "model": "test", "analysed_at": times[-1],
                }
            )  # fmt: skip
        aq.upsert_results(results, session=session)


def per_row(*, since: datetime, until: datetime, session):  # type: ignore[no-untyped-def]
    """The rows as the plain computation had them: seconds from Python's datetimes."""
    rows = [
        (int(r.created_at.timestamp()), r.channel, r.group_id, r.sentiment, r.sentiment_label, r.rating, r.nps,
         r.customer_ref, r.duplicate_of)
        for r in aq.analysed_rows(since=since, until=until, session=session)
    ]  # fmt: skip
    yield rows


@pytest.mark.parametrize("zone_name", ZONES)
def test_the_lean_pass_gives_the_per_row_figures(engine: Engine, zone_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    zone = ZoneInfo(zone_name)
    seed(engine, zone)
    as_of = datetime(2026, 11, 4, 12, tzinfo=zone)
    periods = [
        {"as_of": as_of},
        {"since": date(2026, 10, 19), "until": date(2026, 10, 25), "by": "month"},  # 7 days: the middle at noon
        {"since": date(2026, 10, 20), "until": date(2026, 10, 30), "weeks": 2},  # across Europe's clock change
    ]

    def reports() -> list[dict]:
        out = []
        with session_scope(engine) as session:
            for period in periods:
                data = build_report(session, zone=zone, top=100, repeat_window_days=7, **period).to_dict()  # type: ignore[arg-type]
                data.pop("generated_at")
                out.append(data)
        return out

    lean = reports()
    monkeypatch.setattr(report_module.rq, "report_rows", per_row)
    monkeypatch.setattr(report_module, "_day_aligned_step", lambda *_: 1)  # every second its own day lookup
    assert lean == reports()
    assert lean[0]["kpis"]["all"]["current"]["items"] > 100 and lean[0]["groups"]


def test_the_day_step_is_an_hour_where_days_begin_on_the_hour() -> None:
    step = report_module._day_aligned_step
    since, until = datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    assert step(ZoneInfo("Asia/Shanghai"), since, until) == 3600
    assert step(ZoneInfo("Europe/Berlin"), since, until) == 3600  # DST changes on the hour
    assert step(ZoneInfo("Asia/Kolkata"), since, until) == 900
    assert step(ZoneInfo("Asia/Kathmandu"), since, until) == 900
    assert step(ZoneInfo("Australia/Lord_Howe"), since, until) == 900  # a half-hour shift in October
