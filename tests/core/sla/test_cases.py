"""SLA cases and 回访 on SQLite and PostgreSQL: due times from the policies, responding and
resolving, breaches announced once, stale writes refused, an unhappy follow-up reopening
the case, repeat complaints."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from bihuan.core.config import FollowUpSettings, SlaSettings
from bihuan.core.errors import StaleWriteError, UsageError
from bihuan.core.sla import cases, followups
from bihuan.core.sla.cases import CaseContext
from bihuan.core.sla.hooks import CaseHooks
from bihuan.storage import case_queries as cq
from bihuan.storage.case_models import CaseStatus
from bihuan.storage.engine import session_scope
from tests.core.pdca.conftest import SH, Run, at, seed

NOW = datetime(2026, 11, 23, 15, tzinfo=SH)  # Monday afternoon


@pytest.fixture
def told() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def ctx(told: list[tuple[str, Any]]) -> CaseContext:
    hooks = CaseHooks(
        on_sla_breach=lambda breach: told.append(("breach", breach)),
        on_case_reopened=lambda reopened: told.append(("reopened", reopened)),
    )
    return CaseContext(zone=SH, sla=SlaSettings(), followup=FollowUpSettings(), hooks=hooks)


def _ids(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        rows = session.connection().exec_driver_sql("SELECT channel, MIN(id) FROM feedback_item GROUP BY channel")
        return {channel: item_id for channel, item_id in rows}


def test_cases_open_with_due_times_from_each_channels_policy(engine: Engine, ctx: CaseContext) -> None:
    seed(
        engine,
        [
            Run(None, date(2026, 11, 20), 1, channel="social", hour=20),  # Friday evening
            Run(None, date(2026, 11, 20), 1, channel="ticket", hour=20),
            Run(None, date(2026, 11, 21), 1, channel="survey", label="positive", rating=5),  # needs nothing
            Run(None, date(2026, 11, 21), 1, channel="hotline", hour=11),
            Run(None, date(2026, 10, 1), 1, channel="social"),  # older than open_since_days
        ],
    )
    assert cases.open_new_cases(engine, ctx, now=NOW) == 3
    assert cases.open_new_cases(engine, ctx, now=NOW) == 0  # incremental
    ids = _ids(engine)
    with session_scope(engine) as session:
        social = cq.get_case(ids["social"], session=session)
        ticket = cq.get_case(ids["ticket"], session=session)
        hotline = cq.get_case(ids["hotline"], session=session)
        assert cq.get_case(ids["survey"], session=session) is None
    assert social is not None and ticket is not None and hotline is not None
    assert social.response_due == at(date(2026, 11, 21), 20) and social.resolution_due is None  # 24 h, any time
    assert ticket.response_due == at(date(2026, 11, 23), 13)  # 4 business hours: Monday 13:00
    assert ticket.resolution_due == at(date(2026, 12, 2), 18)  # 72 business hours = 8 days of 9 h from Monday
    assert hotline.response_due == at(date(2026, 11, 22), 11)


def test_negative_surveys_need_an_answer(engine: Engine, ctx: CaseContext) -> None:
    seed(engine, [Run(None, date(2026, 11, 22), 1, channel="survey", label="neutral", rating=2)])
    assert cases.open_new_cases(engine, ctx, now=NOW) == 1


def test_breaches_are_announced_once_per_timer(engine: Engine, ctx: CaseContext, told: list) -> None:
    seed(engine, [Run(None, date(2026, 11, 20), 1, channel="ticket", hour=20)])
    cases.open_new_cases(engine, ctx, now=at(date(2026, 11, 21), 9))  # Saturday: nothing due yet
    assert cases.announce_breaches(engine, ctx, now=at(date(2026, 11, 21), 9)) == []
    [breach] = cases.announce_breaches(engine, ctx, now=NOW)  # response due Monday 13:00, now 15:00
    assert (breach.timer, breach.channel, breach.due_at) == ("response", "ticket", at(date(2026, 11, 23), 13))
    assert cases.announce_breaches(engine, ctx, now=NOW) == []
    late = NOW + timedelta(days=14)
    [resolution] = cases.announce_breaches(engine, ctx, now=late)
    assert resolution.timer == "resolution"
    assert cases.announce_breaches(engine, ctx, now=late + timedelta(days=1)) == []
    assert [kind for kind, _ in told] == ["breach", "breach"]
    with session_scope(engine) as session:
        [row] = cq.open_cases(now=late, breached_only=True, session=session)
    assert row.status == CaseStatus.OPEN and row.due == at(date(2026, 11, 23), 13)


def test_a_backlog_opened_already_breached_is_listed_but_not_announced(engine: Engine, ctx: CaseContext) -> None:
    seed(
        engine,
        [
            Run(None, date(2026, 11, 12), 3, channel="social"),  # answers were due a week ago
            Run(None, date(2026, 11, 23), 1, channel="social", hour=12),  # due tomorrow noon
        ],
    )
    assert cases.open_new_cases(engine, ctx, now=NOW) == 4
    assert cases.announce_breaches(engine, ctx, now=NOW) == []
    with session_scope(engine) as session:
        breached = cq.open_cases(now=NOW, breached_only=True, session=session)
        everything = cq.open_cases(now=NOW, session=session)
    assert [r.due for r in breached] == [at(date(2026, 11, d)) for d in (13, 14, 15)]
    assert len(everything) == 4 and everything[-1].due == at(date(2026, 11, 24), 12)
    # the new item's timer is announced when it runs out
    [breach] = cases.announce_breaches(engine, ctx, now=NOW + timedelta(days=1))
    assert breach.item_id == everything[-1].item_id


def test_respond_and_resolve_with_a_stale_read_refused(engine: Engine, ctx: CaseContext) -> None:
    seed(engine, [Run(None, date(2026, 11, 23), 1, channel="ticket")])
    cases.open_new_cases(engine, ctx, now=NOW)
    item = _ids(engine)["ticket"]
    answered = cases.respond(engine, item, actor="李", read_version=1, now=NOW)
    assert (answered.status, answered.responded_by, answered.version) == (CaseStatus.RESPONDED, "李", 2)
    with pytest.raises(StaleWriteError, match=f"case {item} was changed by someone else"):
        cases.resolve(engine, ctx, item, actor="王", read_version=1, now=NOW)
    resolved, followup = cases.resolve(engine, ctx, item, actor="王", read_version=2, now=NOW)
    assert resolved.status == CaseStatus.RESOLVED and followup is not None
    assert followup.due_at == NOW + timedelta(days=3)
    with pytest.raises(UsageError, match="resolved already"):
        cases.resolve(engine, ctx, item, actor="王", now=NOW)
    with session_scope(engine) as session:
        kinds = [e.kind for e in cq.case_events(item, session=session)]
    assert kinds == ["responded", "resolved"]


def test_an_unhappy_followup_reopens_the_case(engine: Engine, ctx: CaseContext, told: list) -> None:
    seed(engine, [Run(None, date(2026, 11, 23), 1, channel="hotline")])
    cases.open_new_cases(engine, ctx, now=NOW)
    item = _ids(engine)["hotline"]
    _, followup = cases.resolve(engine, ctx, item, actor="王", now=NOW)
    assert followup is not None and followup.id is not None
    call = NOW + timedelta(days=3)
    result = followups.record_followup(
        engine, ctx, followup.id, outcome="satisfied", satisfaction=2, note="还是没到账", actor="赵", now=call
    )
    assert result.reopened  # "satisfied" but 2 of 5 is below unhappy_below = 3
    with session_scope(engine) as session:
        reopened = cq.get_case(item, session=session)
        kinds = [e.kind for e in cq.case_events(item, session=session)]
        assert cq.pending_followups(session=session) == []
    assert reopened is not None and reopened.status == CaseStatus.REOPENED and reopened.resolved_at is None
    assert reopened.resolution_due == call + timedelta(hours=120)  # a new resolution clock
    assert kinds == ["resolved", "follow_up", "reopened"]
    [(_, notice)] = [t for t in told if t[0] == "reopened"]
    assert (notice.item_id, notice.satisfaction, notice.actor) == (item, 2, "赵")
    with pytest.raises(UsageError, match="recorded already"):
        followups.record_followup(engine, ctx, followup.id, outcome="satisfied", satisfaction=5, note=None, actor="x")


def test_a_happy_followup_keeps_the_case_resolved(engine: Engine, ctx: CaseContext) -> None:
    seed(engine, [Run(None, date(2026, 11, 23), 1, channel="ticket")])
    cases.open_new_cases(engine, ctx, now=NOW)
    item = _ids(engine)["ticket"]
    _, followup = cases.resolve(engine, ctx, item, actor="王", now=NOW)
    assert followup is not None and followup.id is not None
    result = followups.record_followup(
        engine, ctx, followup.id, outcome="satisfied", satisfaction=5, note=None, actor="赵"
    )
    assert not result.reopened
    with session_scope(engine) as session:
        case = cq.get_case(item, session=session)
    assert case is not None and case.status == CaseStatus.RESOLVED


def test_repeat_complaints_within_the_window_are_reported(engine: Engine, ctx: CaseContext) -> None:
    seed(engine, [Run(None, date(2026, 11, 10), 1, channel="ticket", customer="K1")], prefix="a")
    seed(engine, [Run(None, date(2026, 11, 10), 1, channel="hotline", customer="K2")], prefix="b")
    cases.open_new_cases(engine, ctx, now=at(date(2026, 11, 10), 12))
    ids = _ids(engine)
    resolved_at = at(date(2026, 11, 11), 12)
    for item in ids.values():
        cases.resolve(engine, ctx, item, actor="王", now=resolved_at)
    seed(engine, [Run(None, date(2026, 11, 20), 1, channel="social", customer="K1")], prefix="c")  # 9 days later
    seed(engine, [Run(None, date(2026, 11, 12), 1, channel="social", customer="K9")], prefix="d")  # someone else
    # K2 came back to praise the fix: not a complaint
    seed(engine, [Run(None, date(2026, 11, 13), 1, channel="survey", customer="K2", label="positive")], prefix="e")
    [repeat] = followups.repeat_complaints(engine, ctx, days=30, now=NOW)
    assert (repeat.item_id, repeat.customer_ref, repeat.channel, repeat.repeat_channel) == (
        ids["ticket"],
        "K1",
        "ticket",
        "social",
    )
    assert repeat.text.startswith("text a") and repeat.repeat_text.startswith("text c")  # both items, to compare
    assert repeat.repeat_at - repeat.resolved_at == timedelta(days=8, hours=22)
    assert followups.repeat_complaints(engine, ctx, days=7, now=NOW) == []
    assert followups.repeat_complaints(engine, ctx, days=30, since_days=5, now=NOW) == []  # resolved before that


def test_an_unhappy_followup_on_a_policy_without_resolution_time_keeps_the_case_in_the_queue(
    engine: Engine, ctx: CaseContext
) -> None:
    seed(engine, [Run(None, date(2026, 11, 23), 1, channel="social")])  # social: only a response is owed
    cases.open_new_cases(engine, ctx, now=NOW)
    item = _ids(engine)["social"]
    _, followup = cases.resolve(engine, ctx, item, actor="王", now=NOW)
    assert followup is not None and followup.id is not None
    call = NOW + timedelta(days=3)
    followups.record_followup(
        engine, ctx, followup.id, outcome="unsatisfied", satisfaction=None, note=None, actor="赵", now=call
    )
    with session_scope(engine) as session:
        [row] = cq.open_cases(now=call, session=session)
    assert (row.item_id, row.status, row.due) == (item, CaseStatus.REOPENED, call + timedelta(hours=24))


def test_response_compliance(engine: Engine, ctx: CaseContext) -> None:
    seed(engine, [Run(None, date(2026, 11, 16), 4, channel="social")])
    cases.open_new_cases(engine, ctx, now=NOW)
    with session_scope(engine) as session:
        items = [r.item_id for r in cq.open_cases(now=NOW, session=session)]
    cases.respond(engine, items[0], actor="a", now=at(date(2026, 11, 16), 12))  # in time
    cases.respond(engine, items[1], actor="a", now=at(date(2026, 11, 19), 12))  # a day late
    share = cases.compliance(engine, at(date(2026, 11, 16), 0), at(date(2026, 11, 23), 0))
    assert share == pytest.approx(1 / 4)
