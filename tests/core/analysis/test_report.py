"""``build_report`` on SQLite and PostgreSQL, against figures computed by hand, and the
Markdown and HTML it renders.

The data set (times 10:00 in Shanghai; the period is the four weeks A–D before the
running week of 2026-11-02, the previous period the four weeks before):

* group 1 转账卡顿 (ticket, negative 0.1): A 2, B 2, C 2, D 10 — and in D one linked
  repeat (the same customer an hour later), which counts nowhere but as a contact;
* group 2 提额慢 (survey, negative 0.2, rating 2, NPS 3): 3 a week;
* group 3 praise (survey, positive 0.9, rating 5, NPS 10): 3, 3, 2, 2;
* two ungrouped neutral social posts in D;
* group 4 (survey, negative 0.2, rating 1, NPS 0): five items in the previous period.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from bihuan.core.analysis.report import build_report, render_html, render_markdown, report_period
from bihuan.core.errors import UsageError
from bihuan.storage import analysis_queries as aq
from bihuan.storage import bulk
from bihuan.storage.analysis_models import IssueGroup
from bihuan.storage.engine import session_scope
from bihuan.storage.models import FeedbackItem

SH = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 11, 4, 12, tzinfo=SH)  # Wednesday of the running week


@dataclass(frozen=True)
class Spec:
    key: str
    channel: str
    group: int | None
    label: str
    sentiment: float
    day: date
    rating: float | None = None
    nps: int | None = None
    customer: str | None = None
    repeat_of: str | None = None
    hour: int = 10


def _days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=k % 5) for k in range(count)]


def dataset() -> list[Spec]:
    specs: list[Spec] = []
    g1 = [date(2026, 10, 6), date(2026, 10, 7), date(2026, 10, 13), date(2026, 10, 14)]
    g1 += [date(2026, 10, 20), date(2026, 10, 22)] + _days(date(2026, 10, 27), 10)
    customers = {0: "K2", 5: "K1", 6: "K1"}  # K1 on 10-22 and again on 10-27
    for i, day in enumerate(g1):
        specs.append(Spec(f"g1-{i}", "ticket", 1, "negative", 0.1, day, customer=customers.get(i)))
    specs.append(
        Spec("g1-dup", "ticket", 1, "negative", 0.1, date(2026, 10, 27), customer="K1", repeat_of="g1-6", hour=11)
    )
    for week in range(4):
        for i, day in enumerate(_days(date(2026, 10, 5) + timedelta(weeks=week), 3)):
            customer = "K3" if (week, i) == (1, 0) else None
            specs.append(Spec(f"g2-{week}-{i}", "survey", 2, "negative", 0.2, day, 2, 3, customer))
    for week, count in enumerate((3, 3, 2, 2)):
        for i, day in enumerate(_days(date(2026, 10, 5) + timedelta(weeks=week), count)):
            specs.append(Spec(f"g3-{week}-{i}", "survey", 3, "positive", 0.9, day, 5, 10))
    specs += [Spec(f"s-{i}", "social", None, "neutral", 0.5, date(2026, 10, 28 + i)) for i in range(2)]
    for i, day in enumerate([date(2026, 9, 8), date(2026, 9, 15), date(2026, 9, 22), date(2026, 9, 29)]):
        specs.append(Spec(f"g4-{i}", "survey", 4, "negative", 0.2, day, 1, 0))
    specs.append(Spec("g4-p1", "survey", 4, "negative", 0.2, date(2026, 10, 2), 1, 0, "K2"))  # before K2's 10-06
    return specs


def seed(engine: Engine, specs: list[Spec], labels: dict[int, str]) -> None:
    """Store the items, their groups and their analysis results."""

    def at(spec: Spec) -> datetime:
        return datetime(spec.day.year, spec.day.month, spec.day.day, spec.hour, tzinfo=SH)

    rows = [
        ("test", s.key, s.channel, f"text {s.key}", s.rating, s.nps, s.customer, at(s), None, None, f"h-{s.key}")
        for s in specs
    ]
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(rows, run_id=None, now=AS_OF, session=session)
        for gid, label in labels.items():
            session.add(IssueGroup(id=gid, label=label))
        session.flush()
        ids = dict(session.execute(select(FeedbackItem.external_id, FeedbackItem.id)).all())  # type: ignore[call-overload]
        results = [
            {
                "item_id": ids[s.key],
                "content_hash": f"h-{s.key}",
                "language": "zh",
                "sentiment": s.sentiment,
                "sentiment_label": s.label,
                "keywords": [],
                "categories": [],
                "category": None,
                "group_id": s.group,
                "duplicate_of": ids[s.repeat_of] if s.repeat_of else None,
                "model": "test",
                "analysed_at": AS_OF,
            }
            for s in specs
        ]
        aq.upsert_results(results, session=session)
        aq.add_spike(2, date(2026, 11, 2), 7, 3.0, 4.1, session=session)  # the running week: listed
        aq.add_spike(4, date(2026, 9, 28), 6, 1.0, 6.0, session=session)  # before the period: not listed


LABELS = {1: "转账卡顿", 2: "提额慢", 3: "服务很好", 4: "旧问题"}


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed(engine, dataset(), LABELS)
    return engine


def test_kpis_overall_by_channel_and_against_the_previous_period(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        data = build_report(session, zone=SH, as_of=AS_OF).to_dict()
    assert data["period"] == {
        "start": "2026-10-05",
        "end": "2026-11-02",
        "last_day": "2026-11-01",
        "days": 28,
        "previous_start": "2026-09-07",
    }
    overall = data["kpis"]["all"]
    # 16 + 12 + 10 + 2 items (the linked repeat is not one); 28 negative
    # CSAT: 10 fives of 22 ratings; NPS: (10 promoters − 12 detractors) / 22
    # repeat contacts: K2 (after 10-02), K1 on 10-27 and its linked repeat, of 5 contacts
    assert overall["current"] == {
        "items": 40,
        "complaints": 28,
        "negative_share": 0.7,
        "csat": 0.4545,
        "nps": -9.1,
        "repeat_rate": 0.6,
    }
    assert overall["previous"] == {
        "items": 5,
        "complaints": 5,
        "negative_share": 1.0,
        "csat": 0.0,
        "nps": -100.0,
        "repeat_rate": 0.0,
    }
    assert overall["change"] == {
        "items": 35,
        "complaints": 23,
        "negative_share": -0.3,
        "csat": 0.4545,
        "nps": 90.9,
        "repeat_rate": 0.6,
    }
    assert list(data["kpis"]) == ["all", "social", "survey", "ticket"]
    ticket = data["kpis"]["ticket"]["current"]
    assert (ticket["items"], ticket["complaints"], ticket["csat"], ticket["repeat_rate"]) == (16, 16, None, 0.75)
    survey = data["kpis"]["survey"]
    assert (survey["current"]["items"], survey["current"]["negative_share"], survey["previous"]["items"]) == (
        22,
        0.5455,
        5,
    )
    social = data["kpis"]["social"]
    assert social["current"]["negative_share"] == 0.0 and social["previous"]["items"] == 0
    assert social["change"]["negative_share"] is None  # nothing to compare with
    json.dumps(data)  # JSON-able as it is


def test_kpis_by_week_and_by_month(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        weekly = build_report(session, zone=SH, as_of=AS_OF).to_dict()["kpi_periods"]
        monthly = build_report(session, zone=SH, as_of=AS_OF, by="month").to_dict()["kpi_periods"]
    assert [(p["start"], p["end"], p["partial"]) for p in weekly] == [
        ("2026-10-05", "2026-10-12", False),
        ("2026-10-12", "2026-10-19", False),
        ("2026-10-19", "2026-10-26", False),
        ("2026-10-26", "2026-11-02", False),
    ]
    assert [p["kpis"]["all"]["current"]["items"] for p in weekly] == [8, 8, 7, 17]
    assert weekly[3]["kpis"]["all"]["change"]["items"] == 10
    assert weekly[0]["kpis"]["all"]["previous"]["items"] == 2  # the week of 09-28: g4 on 09-29 and 10-02
    # October is reported whole (g4 on 10-02 included) against September; November is
    # cut at the period's end
    assert [(p["start"], p["end"], p["partial"]) for p in monthly] == [
        ("2026-10-01", "2026-11-01", False),
        ("2026-11-01", "2026-11-02", True),
    ]
    october = monthly[0]["kpis"]["all"]
    assert (october["current"]["items"], october["previous"]["items"], october["change"]["items"]) == (41, 4, 37)
    assert october["current"]["repeat_rate"] == 0.5  # K2, K1, K1's repeat of 6 contacts
    assert monthly[1]["kpis"]["all"]["current"]["items"] == 0


def test_pareto_trends_and_spikes(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        data = build_report(session, zone=SH, as_of=AS_OF).to_dict()
    # impact: group 1 16 × 0.9 × 2 (weekly rate 2 → 6: (6 + 1) / (2 + 1), clamped to 2) = 28.8;
    # group 2 12 × 0.8 × 1 = 9.6; group 3 10 × 0.1 × (2 + 1) / (3 + 1) = 0.75. Group 4 has
    # nothing in the period.
    groups = data["groups"]
    assert [(g["group_id"], g["volume"], g["trend"], g["impact"]) for g in groups] == [
        (1, 16, 2.0, 28.8),
        (2, 12, 1.0, 9.6),
        (3, 10, 0.75, 0.75),
    ]
    assert [g["cumulative_share"] for g in groups] == [
        round(28.8 / 39.15, 4),
        round(38.4 / 39.15, 4),
        1.0,
    ]
    assert [g["vital_few"] for g in groups] == [True, True, False]
    assert (data["total_groups"], data["vital_few"]) == (3, 2)
    assert [g["label"] for g in groups] == ["转账卡顿", "提额慢", "服务很好"]
    assert data["weeks"][0] == "2026-08-10" and data["weeks"][-1] == "2026-10-26" and len(data["weeks"]) == 12
    assert groups[0]["weekly"] == [0] * 8 + [2, 2, 2, 10]  # the linked repeat is not counted
    # the recorded spike of the running week, and group 1's week D found by the rule
    # (10 against a baseline of 2: ×5, Poisson tail 5e-5)
    assert [(s["group_id"], s["week"], s["count"], s["recorded"]) for s in data["spikes"]] == [
        (2, "2026-11-02", 7, True),
        (1, "2026-10-26", 10, False),
    ]
    assert data["spikes"][1]["baseline"] == 2.0 and data["spikes"][1]["score"] == 5.0
    assert data["spikes"][1]["label"] == "转账卡顿"

    with session_scope(seeded) as session:
        top = build_report(session, zone=SH, as_of=AS_OF, top=1).to_dict()
    assert [g["group_id"] for g in top["groups"]] == [1] and top["total_groups"] == 3


def test_since_and_until_choose_the_period(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        week_c = build_report(session, zone=SH, since=date(2026, 10, 19), until=date(2026, 10, 25)).to_dict()
        with pytest.raises(UsageError, match="period is empty"):
            build_report(session, zone=SH, since=date(2026, 10, 26), until=date(2026, 10, 25))
    assert week_c["period"]["days"] == 7 and week_c["period"]["previous_start"] == "2026-10-12"
    assert (week_c["kpis"]["all"]["current"]["items"], week_c["kpis"]["all"]["previous"]["items"]) == (7, 8)
    assert [s["group_id"] for s in week_c["spikes"]] == []  # the running week's spike is after --until


def test_report_period_rules() -> None:
    today = datetime(2026, 11, 4, 12, tzinfo=SH)

    def period(since: date | None = None, until: date | None = None, weeks: int = 4) -> tuple[date, date]:
        return report_period(as_of=today, zone=SH, since=since, until=until, weeks=weeks)

    assert period() == (date(2026, 10, 5), date(2026, 11, 2))  # complete weeks only
    assert period(weeks=1) == (date(2026, 10, 26), date(2026, 11, 2))
    assert period(until=date(2026, 10, 31), weeks=1) == (date(2026, 10, 25), date(2026, 11, 1))
    assert period(since=date(2026, 10, 20)) == (date(2026, 10, 20), date(2026, 11, 5))  # to today
    # today's week in the team's zone: 23:30 UTC on Sunday is already Monday in Shanghai
    sunday_night_utc = datetime(2026, 11, 8, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert report_period(as_of=sunday_night_utc, zone=SH, since=None, until=None, weeks=1)[1] == date(2026, 11, 9)
    assert period(since=date(2026, 10, 1), until=date(2026, 10, 31)) == (date(2026, 10, 1), date(2026, 11, 1))


def test_the_files_show_the_tables_the_80_percent_line_and_escape_labels(engine: Engine) -> None:
    seed(engine, dataset(), {**LABELS, 3: "<script>alert(1)</script> *x* | [y](javascript:z)"})
    with session_scope(engine) as session:
        report = build_report(session, zone=SH, as_of=AS_OF)
    md = render_markdown(report)
    assert "| KPI | this period | previous | change |" in md
    assert "| Negative share | 70.0 % | 100.0 % | -30.0 pt |" in md
    # no ticket came in the previous period: nothing to compare with, not "+16"
    assert "| ticket | 16 (no data before) | 16 | 100.0 % | – | – | 75.0 % |" in md
    lines = md.splitlines()
    line = lines.index("| | **— 80 % line —** | | | | | | |")
    assert lines[line - 1].startswith("| 2 | ★ 提额慢 (#2) |") and lines[line + 1].startswith("| 3 | ")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\*x\\* \\| \\[y\\](javascript:z)" in lines[line + 1]
    assert "<script>" not in md
    assert "- **转账卡顿** (#1): 10 in the week of 2026-10-26, baseline 2.0 a week (×5.0)" in md

    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<polyline" in page and "80 %" in page
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" width="120"') == 3  # a sparkline per group


def test_a_previous_period_without_items_says_so_instead_of_a_change(engine: Engine) -> None:
    """503 items after none is not "+503": the changes are None and every rendering says
    there was no data before, overall, per channel and per week."""
    weeks_c_d = [date(2026, 10, 19) + timedelta(days=k) for k in range(14)]
    specs = [Spec(f"n-{i}", "hotline", 1, "negative", 0.1, day) for i, day in enumerate(weeks_c_d)]
    seed(engine, specs, LABELS)
    with session_scope(engine) as session:
        report = build_report(session, zone=SH, as_of=AS_OF)
    data = report.to_dict()
    overall = data["kpis"]["all"]
    assert overall["current"]["items"] == 14 and overall["previous"]["items"] == 0
    assert overall["no_previous_data"] is True and set(overall["change"].values()) == {None}
    assert data["kpis"]["hotline"]["no_previous_data"] is True
    weeks = {p["start"]: p["kpis"]["all"] for p in data["kpi_periods"]}
    assert weeks["2026-10-19"]["no_previous_data"] and weeks["2026-10-19"]["change"]["items"] is None
    assert not weeks["2026-10-26"]["no_previous_data"] and weeks["2026-10-26"]["change"]["items"] == 0
    md, page = render_markdown(report), render_html(report)
    assert "against the 28 days from 2026-09-07 (no data in the previous period)" in md
    assert "| Feedback items | 14 | no data | – |" in md and "+14" not in md
    assert "| hotline | 14 (no data before) |" in md
    assert "(no data in the previous period)" in page and "+14" not in page


def test_the_dashboard_reads_the_period_from_its_today_not_from_the_newest_item(seeded: Engine) -> None:
    from bihuan.core.dashboard import load_dashboard

    on = load_dashboard(seeded, zone=SH, today=date(2026, 11, 4), repeat_window_days=7).report
    later = load_dashboard(seeded, zone=SH, today=date(2026, 12, 9), repeat_window_days=7).report
    assert on is not None and later is not None
    assert (on.period_start, on.period_end) == (date(2026, 10, 5), date(2026, 11, 2))
    # five weeks on, the same data: the weeks before today's, where little came in
    assert (later.period_start, later.period_end) == (date(2026, 11, 9), date(2026, 12, 7))
    assert later.kpis["all"]["current"]["items"] == 0 and later.kpis["all"]["previous"]["items"] > 0
