"""Two team members editing the same task or action: the stale write is refused with a
clear message and nothing is overwritten — on SQLite and PostgreSQL, also when the two
transactions really overlap."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import Engine

from bihuan.core.errors import StaleWriteError
from bihuan.core.pdca import actions, tasks
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.storage import pdca_queries as pq
from bihuan.storage.engine import create_db_engine, session_scope

from .conftest import NOW, Recorder, Run, seed


@pytest.fixture
def task_id(engine: Engine, ctx: PdcaContext) -> int:
    seed(engine, [Run(1, date(2026, 10, 1), 30)])
    task = tasks.open_task(engine, ctx, title="网点排队", group_ids=[1], actor="lead", now=NOW)
    assert task.id is not None
    return task.id


def test_second_edit_from_the_same_read_is_refused(engine: Engine, ctx: PdcaContext, task_id: int) -> None:
    seen_by_alice = tasks.load_task(engine, task_id).task
    seen_by_bob = tasks.load_task(engine, task_id).task
    tasks.edit_task(engine, ctx, task_id, read_version=seen_by_alice.version, actor="alice", changes={"owner": "alice"})
    with pytest.raises(StaleWriteError) as refused:
        tasks.edit_task(
            engine, ctx, task_id, read_version=seen_by_bob.version, actor="bob", changes={"root_cause": "人手不足"}
        )
    message = str(refused.value)
    assert f"task {task_id} was changed by alice" in message and "nothing was saved" in message
    assert "you read version 1" in message and "now version 2" in message
    stored = tasks.load_task(engine, task_id)
    assert (stored.task.owner, stored.task.root_cause, stored.task.version) == ("alice", None, 2)
    assert [e.actor for e in stored.events if e.kind == "field"] == ["alice"]  # bob's edit left no trace


def test_stale_stage_move_is_refused(engine: Engine, ctx: PdcaContext, task_id: int, recorder: Recorder) -> None:
    task = tasks.edit_task(
        engine,
        ctx,
        task_id,
        read_version=1,
        actor="alice",
        now=NOW,
        changes={"owner": "alice", "metric": "volume", "target_value": "-50%", "due_date": date(2027, 1, 1)},
    )
    tasks.move_task(engine, ctx, task_id, "do", read_version=task.version, actor="alice")
    with pytest.raises(StaleWriteError):
        tasks.move_task(engine, ctx, task_id, "do", read_version=task.version, actor="bob")
    assert len(recorder.of("stage")) == 1


def test_actions_have_their_own_versions(engine: Engine, ctx: PdcaContext, task_id: int) -> None:
    first = actions.add_action(engine, task_id, title="A", owner="li", due_date=date(2026, 12, 1), actor="lead")
    second = actions.add_action(engine, task_id, title="B", owner="li", due_date=date(2026, 12, 1), actor="lead")
    assert first.id is not None and second.id is not None
    actions.edit_action(engine, first.id, read_version=1, actor="li", changes={"owner": "zhao"})
    actions.edit_action(engine, second.id, read_version=1, actor="wu", changes={"title": "B2"})  # other row: fine
    with pytest.raises(StaleWriteError, match=f"action {first.id} was changed"):
        actions.complete_action(engine, first.id, read_version=1, actor="li")
    with session_scope(engine) as session:
        stored = pq.get_action(first.id, session=session)
    assert stored is not None and (stored.owner, stored.status, stored.version) == ("zhao", "open", 2)


def test_overlapping_transactions_let_exactly_one_write_through(db_url: str, engine: Engine, task_id: int) -> None:
    """Alice's transaction has written but not committed when Bob's starts from the same
    read; Bob waits for her commit and is then refused (no lost update)."""
    other = create_db_engine(db_url)
    alice_wrote, bob_result = threading.Event(), {}

    def bob() -> None:
        alice_wrote.wait()
        try:
            with session_scope(other, write=True) as session:
                pq.update_task(task_id, 1, {"owner": "bob"}, actor="bob", session=session)
            bob_result["outcome"] = "written"
        except StaleWriteError as exc:
            bob_result["outcome"] = str(exc)

    thread = threading.Thread(target=bob)
    thread.start()
    try:
        with session_scope(engine, write=True) as session:
            pq.update_task(task_id, 1, {"owner": "alice"}, actor="alice", session=session)
            alice_wrote.set()
            thread.join(timeout=0.5)  # Bob is blocked on Alice's uncommitted write
            assert thread.is_alive()
    finally:
        thread.join(timeout=30)
        other.dispose()
    assert bob_result["outcome"].startswith(f"task {task_id} was changed by alice")
    assert tasks.load_task(engine, task_id).task.owner == "alice"


def test_overdue_actions_are_announced_once(engine: Engine, ctx: PdcaContext, task_id: int, recorder: Recorder) -> None:
    late = actions.add_action(engine, task_id, title="培训", owner="li", due_date=date(2026, 11, 20), actor="lead")
    actions.add_action(engine, task_id, title="排班", owner="li", due_date=date(2026, 11, 30), actor="lead")
    done = actions.add_action(engine, task_id, title="叫号机", owner="li", due_date=date(2026, 11, 1), actor="lead")
    actions.complete_action(engine, done.id, read_version=1, actor="li")  # type: ignore[arg-type]
    [notice] = actions.announce_overdue(engine, ctx, now=NOW)
    assert (notice.action_id, notice.owner, notice.due_date, notice.task_title) == (
        late.id,
        "li",
        date(2026, 11, 20),
        "网点排队",
    )
    assert actions.announce_overdue(engine, ctx, now=NOW) == []
    assert [o.action_id for o in recorder.of("overdue")] == [late.id]
