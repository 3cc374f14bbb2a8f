"""The notice outbox on SQLite and PostgreSQL, against real HTTP receivers on 127.0.0.1:
notices commit (or not) with their event, each target is delivered on its own within one
deadline, failures come back with backoff and jitter until given up, two senders never
send one delivery twice, and a receiver drops repeats by the notice id."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text, update
from sqlmodel import col, select

from bihuan.core.config import FollowUpSettings, Settings, SlaSettings
from bihuan.core.outbox import Outbox, RetryPolicy
from bihuan.core.pdca import actions, tasks
from bihuan.core.pdca.hooks import PdcaHooks
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.core.sla import cases
from bihuan.core.sla.cases import CaseContext
from bihuan.core.sla.hooks import CaseHooks
from bihuan.plugins.manager import BihuanPluginManager, notice_outbox
from bihuan.storage import outbox_queries as oq
from bihuan.storage.case_models import ItemCase
from bihuan.storage.engine import create_db_engine, session_scope
from bihuan.storage.outbox_models import NoticeDelivery
from bihuan.storage.types import utcnow
from tests.core.pdca.conftest import SH, Run, at, seed
from tests.notice_receiver import Receiver

OPENED = at(date(2026, 11, 22), 11)  # Sunday: the social item's case opens, due Monday 10:00
NOW = datetime(2026, 11, 23, 15, tzinfo=SH)  # Monday afternoon: the response timer has run out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def make_outbox(pm: BihuanPluginManager, receiver: Receiver) -> Iterator[Any]:
    def make(paths: dict[str, str], **notify: Any) -> Outbox:
        """Webhook targets ``name -> path`` on the receiver, through the built-in notifier."""
        targets = [{"name": name, "kind": "webhook", "url": receiver.url + path} for name, path in paths.items()]
        settings = Settings.model_validate({"notify": {"targets": targets, "backoff_seconds": 0, **notify}})
        pm.hook.configure(settings=settings)
        return notice_outbox(pm, settings)

    yield make
    pm.hook.configure(settings=Settings())


def _breached_case(engine: Engine, outbox: Outbox | None) -> CaseContext:
    seed(engine, [Run(None, date(2026, 11, 22), 1, channel="social")])  # Sunday 10:00
    ctx = CaseContext(zone=SH, sla=SlaSettings(), followup=FollowUpSettings(), hooks=CaseHooks(outbox=outbox))
    assert cases.open_new_cases(engine, ctx, now=OPENED) == 1
    return ctx


def _flags(engine: Engine) -> list[bool]:
    with session_scope(engine) as session:
        return list(session.exec(select(ItemCase.response_breach_notified)))


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _deliveries(engine: Engine) -> dict[str, oq.DeliveryRow]:
    with session_scope(engine) as session:
        return {row.target: row for row in oq.list_deliveries(limit=1000, session=session)}


def _settled(engine: Engine) -> dict[str, oq.DeliveryRow]:
    """The deliveries once no attempt holds one (an attempt that timed out at the deadline
    may still be recording its outcome when ``deliver`` returns on a busy machine)."""
    for _ in range(100):
        with session_scope(engine) as session:
            held = session.exec(select(NoticeDelivery.id).where(col(NoticeDelivery.lease_until).is_not(None))).all()
        if not held:
            break
        time.sleep(0.05)
    return _deliveries(engine)


def _explode_after_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    original = oq.add_notice

    def add_then_fail(*args: Any, **kwargs: Any) -> int:
        original(*args, **kwargs)
        kwargs["session"].flush()  # the rows are in the transaction when it fails
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(oq, "add_notice", add_then_fail)


# ── the notice commits with its event ─────────────────────────────────────────────────


def test_a_breach_flag_and_its_notice_commit_together_or_not_at_all(
    engine: Engine, make_outbox: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = make_outbox({"team": "/team"})
    ctx = _breached_case(engine, outbox)

    with monkeypatch.context() as patch:
        _explode_after_insert(patch)
        with pytest.raises(RuntimeError, match="disk filled"):
            cases.announce_breaches(engine, ctx, now=NOW)
    assert _flags(engine) == [False]  # neither the flag …
    assert _count(engine, "outbox_notice") == _count(engine, "notice_delivery") == 0  # … nor the notice
    assert outbox.take_recorded() == []  # nothing to send for a rolled-back event

    [breach] = cases.announce_breaches(engine, ctx, now=NOW)
    assert _flags(engine) == [True]  # both
    assert _deliveries(engine)["team"].status == "pending"
    assert cases.announce_breaches(engine, ctx, now=NOW) == []  # announced once
    assert outbox.deliver_recorded(engine).delivered == 1
    [received] = receiver.to("/team")
    assert received.json["event"] == "sla_breach" and received.json["item_id"] == breach.item_id


def test_a_process_killed_between_the_flag_and_the_commit_leaves_neither(
    db_url: str, engine: Engine, make_outbox: Any, receiver: Receiver
) -> None:
    _breached_case(engine, make_outbox({"team": "/team"}))
    script = f"""
import os
from sqlmodel import col, select

from bihuan.core.config import Settings
from bihuan.core.sla import cases
from bihuan.core.sla.cases import CaseContext
from bihuan.core.sla.hooks import CaseHooks
from bihuan.plugins.manager import build_plugin_manager, notice_outbox
from bihuan.storage import outbox_queries as oq
from bihuan.storage.engine import create_db_engine
from datetime import datetime
from zoneinfo import ZoneInfo

settings = Settings.model_validate(
    {{"notify": {{"targets": [{{"name": "team", "kind": "webhook", "url": "{receiver.url}/team"}}]}}}}
)
pm = build_plugin_manager(entry_points=[])
pm.hook.configure(settings=settings)
original = oq.add_notice

def add_then_die(*args, **kwargs):
    original(*args, **kwargs)
    kwargs["session"].flush()
    os._exit(9)  # killed: no rollback, no commit

oq.add_notice = add_then_die
hooks = CaseHooks(outbox=notice_outbox(pm, settings))
ctx = CaseContext(zone=ZoneInfo("Asia/Shanghai"), sla=settings.sla, followup=settings.followup, hooks=hooks)
cases.announce_breaches(create_db_engine("{db_url}"), ctx, now=datetime.fromisoformat("{NOW.isoformat()}"))
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert killed.returncode == 9, killed.stderr
    assert _flags(engine) == [False]
    assert _count(engine, "outbox_notice") == 0
    assert receiver.requests == []


def test_pdca_notices_roll_back_with_their_event(
    engine: Engine, make_outbox: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = make_outbox({"team": "/team"})
    ctx = PdcaContext(zone=SH, settings=Settings().pdca, hooks=PdcaHooks(outbox=outbox))
    seed(engine, [Run(1, date(2026, 10, 1), 30)])
    task = tasks.open_task(engine, ctx, title="网点排队", group_ids=[1], actor="lead", now=NOW)
    assert task.id is not None
    actions.add_action(engine, task.id, title="培训", owner="li", due_date=date(2026, 11, 20), actor="lead")

    with monkeypatch.context() as patch:
        _explode_after_insert(patch)
        with pytest.raises(RuntimeError):
            tasks.cancel_task(engine, ctx, task.id, read_version=1, reason="合并到另一任务", actor="lead")
        with pytest.raises(RuntimeError):
            actions.announce_overdue(engine, ctx, now=NOW)
    assert tasks.load_task(engine, task.id).task.stage == "plan"
    assert _count(engine, "outbox_notice") == 0

    [overdue] = actions.announce_overdue(engine, ctx, now=NOW)  # not lost: the flag rolled back too
    tasks.cancel_task(engine, ctx, task.id, read_version=1, reason="合并到另一任务", actor="lead")
    assert outbox.deliver_recorded(engine).delivered == 2
    assert [(r.json["event"], r.json.get("new")) for r in receiver.to("/team")] == [
        ("action_overdue", None),
        ("stage_changed", "closed"),
    ]
    assert receiver.to("/team")[0].json["action_id"] == overdue.action_id


def test_without_targets_nothing_is_stored(engine: Engine, make_outbox: Any) -> None:
    ctx = _breached_case(engine, make_outbox({}))
    assert len(cases.announce_breaches(engine, ctx, now=NOW)) == 1  # announced (hooks), nowhere to send
    assert _count(engine, "outbox_notice") == 0


# ── delivery ──────────────────────────────────────────────────────────────────────────


def test_a_hanging_target_costs_at_most_the_deadline_and_repeats_are_dropped_by_id(
    engine: Engine, make_outbox: Any, receiver: Receiver
) -> None:
    receiver.script["/hang"] = ["hang"]
    receiver.script["/down"] = [500]
    outbox = make_outbox({"stuck": "/hang", "down": "/down", "good": "/good"}, deadline_seconds=1.0)
    ctx = _breached_case(engine, outbox)
    cases.announce_breaches(engine, ctx, now=NOW)

    started = time.monotonic()
    report = outbox.deliver_recorded(engine)
    took = time.monotonic() - started
    assert took < 4, took  # the deadline is 1 s; the hanging target does not hold anyone up
    assert report.delivered == 1
    rows = _settled(engine)
    assert rows["good"].status == "delivered" and len(receiver.to("/good")) == 1
    assert (rows["stuck"].status, rows["stuck"].attempts, rows["stuck"].last_error) == ("pending", 1, "timed out")
    assert (rows["down"].status, rows["down"].last_error) == ("pending", "HTTP 500")

    receiver.release.set()  # the stuck receiver answers at last (too late: it is sent again)
    again = outbox.deliver(engine)  # as `bihuan tick` does: everything due
    assert (again.delivered, again.retrying) == (2, 0)
    assert {t: r.status for t, r in _deliveries(engine).items()} == dict.fromkeys(
        ("stuck", "down", "good"), "delivered"
    )
    stuck = receiver.to("/hang")
    assert len(stuck) == 2 and stuck[0].notice_id == stuck[1].notice_id  # the same id both times …
    assert len(receiver.accepted("/hang")) == 1  # … so the receiver kept it once
    assert stuck[0].json["notice_id"] == stuck[0].notice_id == rows["good"].key
    assert outbox.deliver(engine).to_dict() == {"delivered": 0, "retrying": 0, "failed": 0, "left": 0}
    assert len(receiver.to("/good")) == 1  # delivered once, never again


def test_retries_back_off_with_jitter_then_give_up_and_can_be_retried(
    engine: Engine, make_outbox: Any, receiver: Receiver
) -> None:
    receiver.script["/down"] = [503, 503, 503]
    outbox = make_outbox({"down": "/down"}, retries=2, backoff_seconds=10, max_backoff_seconds=15)
    ctx = _breached_case(engine, outbox)
    cases.announce_breaches(engine, ctx, now=NOW)

    def waited() -> float:
        row = _deliveries(engine)["down"]
        assert row.last_attempt_at is not None
        return (row.next_attempt_at - row.last_attempt_at).total_seconds()

    def make_due() -> None:
        with session_scope(engine, write=True) as session:
            session.execute(update(NoticeDelivery).values(next_attempt_at=utcnow() - timedelta(seconds=1)))

    assert outbox.deliver(engine).retrying == 1
    assert 5 <= waited() <= 10.5  # 10 s, half of it random
    assert outbox.deliver(engine).to_dict()["retrying"] == 0 and len(receiver.to("/down")) == 1  # not due yet
    make_due()
    assert outbox.deliver(engine).retrying == 1
    assert 7.5 <= waited() <= 15.5  # doubled to 20 s, capped at 15
    make_due()
    assert outbox.deliver(engine).failed == 1  # the third attempt was the last
    row = _deliveries(engine)["down"]
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "HTTP 503")
    make_due()
    assert outbox.deliver(engine).to_dict()["delivered"] == 0  # failed stays failed

    assert outbox.requeue(engine) == [row.notice_id]  # every failed one
    assert outbox.deliver(engine).delivered == 1
    assert _deliveries(engine)["down"].status == "delivered" and len(receiver.to("/down")) == 4


def test_the_backoff_is_jittered_and_capped() -> None:
    policy = RetryPolicy(retries=10, backoff_seconds=30, max_backoff_seconds=3600)
    rng = random.Random(7)
    first = [policy.delay(1, rng) for _ in range(50)]
    assert all(15 <= d <= 30 for d in first) and len({round(d, 3) for d in first}) > 40
    assert all(1800 <= policy.delay(9, rng) <= 3600 for _ in range(50))  # 30 · 2⁸ capped at an hour
    assert policy.max_attempts == 11


def test_two_senders_at_once_never_send_one_delivery_twice(
    db_url: str, engine: Engine, make_outbox: Any, receiver: Receiver
) -> None:
    receiver.script["/slow"] = [("slow", 0.3)] * 3
    outbox = make_outbox({"slow": "/slow"}, deadline_seconds=5)
    ctx = _breached_case(engine, outbox)
    seed(engine, [Run(None, date(2026, 11, 22), 1, 2, channel="social", hour=9)], prefix="more-")
    cases.open_new_cases(engine, ctx, now=OPENED)
    assert len(cases.announce_breaches(engine, ctx, now=NOW)) == 3

    engines = [create_db_engine(db_url), create_db_engine(db_url)]  # as two processes would
    threads = [threading.Thread(target=outbox.deliver, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for other in engines:
        other.dispose()
    ids = [r.notice_id for r in receiver.to("/slow")]
    assert len(ids) == len(set(ids)) == 3
    assert {r.status for r in _deliveries_all(engine)} == {"delivered"}


def _deliveries_all(engine: Engine) -> list[oq.DeliveryRow]:
    with session_scope(engine) as session:
        return oq.list_deliveries(limit=1000, session=session)


def test_a_sender_that_died_mid_attempt_is_taken_over_when_its_lease_runs_out(
    engine: Engine, make_outbox: Any, receiver: Receiver
) -> None:
    outbox = make_outbox({"team": "/team"})
    ctx = _breached_case(engine, outbox)
    cases.announce_breaches(engine, ctx, now=NOW)
    [row] = _deliveries_all(engine)
    now = utcnow()
    with session_scope(engine, write=True) as session:  # a sender claimed it, then was killed
        assert oq.claim(row.id, now, now + timedelta(minutes=1), session=session) == 1
    assert outbox.deliver(engine).delivered == 0 and receiver.requests == []
    with session_scope(engine, write=True) as session:
        session.execute(update(NoticeDelivery).values(lease_until=now - timedelta(seconds=1)))
    assert outbox.deliver(engine).delivered == 1
    [done] = _deliveries_all(engine)
    assert (done.status, done.attempts) == ("delivered", 2)


def test_one_targets_backlog_does_not_starve_another(
    engine: Engine, pm: BihuanPluginManager, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bihuan.core import outbox as outbox_module
    from bihuan.core.notices import StageChanged

    monkeypatch.setattr(outbox_module, "ROUND_LIMIT", 2)
    targets = [
        {"name": "busy", "kind": "webhook", "url": f"{receiver.url}/busy", "events": ["stage_changed"]},
        {"name": "quiet", "kind": "webhook", "url": f"{receiver.url}/quiet", "events": ["sla_breach"]},
    ]
    settings = Settings.model_validate({"notify": {"targets": targets, "backoff_seconds": 0}})
    pm.hook.configure(settings=settings)
    outbox = notice_outbox(pm, settings)
    moves = [StageChanged(task_id=i, title="t", old="plan", new="do", actor="a") for i in range(3)]
    with session_scope(engine, write=True) as session:
        outbox.record(moves, session=session)  # older than the breach: first in line
    ctx = _breached_case(engine, outbox)
    cases.announce_breaches(engine, ctx, now=NOW)
    try:
        assert outbox.deliver(engine).delivered == 3  # two of the backlog, and the breach
    finally:
        pm.hook.configure(settings=Settings())
    assert len(receiver.to("/quiet")) == 1 and len(receiver.to("/busy")) == 2
