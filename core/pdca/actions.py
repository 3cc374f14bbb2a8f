"""Actions of an improvement task: owners, due dates, done, overdue.

Actions carry their own version, so two people editing different actions of one task
never collide; each change is also a ``TaskEvent`` on the task.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine

from bihuan.core.errors import UsageError
from bihuan.core.notices import ActionOverdue
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.storage import pdca_queries as pq
from bihuan.storage.engine import session_scope
from bihuan.storage.pdca_models import Action, ActionStatus, Stage, TaskEvent
from bihuan.storage.types import utcnow

#: action fields the team edits
EDITABLE = ("title", "owner", "due_date", "status")


def add_action(
    engine: Engine,
    task_id: int,
    *,
    title: str,
    owner: str,
    due_date: date,
    actor: str,
    now: datetime | None = None,
) -> Action:
    """Add an action to a task that is not closed (plan, do, or back in do after a check)."""
    if not title.strip() or not owner.strip():
        raise UsageError("an action needs a title and an owner")
    with session_scope(engine, write=True) as session:
        task = pq.get_task(task_id, session=session)
        if task is None:
            raise UsageError(f"no improvement task {task_id}")
        if task.stage not in (Stage.PLAN, Stage.DO):
            raise UsageError(f"task {task_id} is in {task.stage}: actions are added in plan or do")
        action = pq.add_action(
            Action(
                task_id=task_id,
                title=title.strip(),
                owner=owner.strip(),
                due_date=due_date,
                created_at=now or utcnow(),
                updated_at=now or utcnow(),
            ),
            session=session,
        )
        pq.add_events(
            [
                TaskEvent(
                    task_id=task_id,
                    actor=actor,
                    at=now or utcnow(),
                    kind="action_added",
                    new={
                        "id": action.id,
                        "title": action.title,
                        "owner": action.owner,
                        "due_date": due_date.isoformat(),
                    },
                )
            ],
            session=session,
        )
        return action


def edit_action(
    engine: Engine,
    action_id: int,
    *,
    read_version: int,
    actor: str,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> Action:
    """Change an action's fields; setting ``status`` to done stamps the done time."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise UsageError(f"cannot edit {', '.join(sorted(unknown))} (editable: {', '.join(EDITABLE)})")
    values = dict(changes)
    if "status" in values:
        try:
            values["status"] = ActionStatus(values["status"]).value
        except ValueError:
            raise UsageError(f"unknown action status {values['status']!r}: open, done or cancelled") from None
    with session_scope(engine, write=True) as session:
        action = pq.get_action(action_id, session=session)
        if action is None:
            raise UsageError(f"no action {action_id}")
        task = pq.get_task(action.task_id, session=session)
        assert task is not None
        if task.stage == Stage.CLOSED:
            raise UsageError(f"task {task.id} is closed; its actions are history")
        values = {k: v for k, v in values.items() if getattr(action, k) != v}
        if not values:
            return action
        if "status" in values:
            values["done_at"] = (now or utcnow()) if values["status"] == ActionStatus.DONE else None
        old = {k: getattr(action, k) for k in values}
        updated = pq.update_action(action_id, read_version, values, at=now, session=session)
        pq.add_events(
            [
                TaskEvent(
                    task_id=action.task_id,
                    actor=actor,
                    at=now or utcnow(),
                    kind="action_changed",
                    field=f"action {action_id}.{k}",
                    old=_json(old[k]),
                    new=_json(v),
                )
                for k, v in values.items()
                if k != "done_at"
            ],
            session=session,
        )
        return updated


def complete_action(
    engine: Engine, action_id: int, *, read_version: int, actor: str, now: datetime | None = None
) -> Action:
    return edit_action(
        engine, action_id, read_version=read_version, actor=actor, changes={"status": ActionStatus.DONE}, now=now
    )


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def announce_overdue(engine: Engine, ctx: PdcaContext, *, now: datetime | None = None) -> list[ActionOverdue]:
    """Announce every action newly overdue (once per action) and return the notices: the
    flags and the notices in the outbox commit together; the event hooks are told after."""
    now = now or utcnow()
    notices = []
    with session_scope(engine, write=True) as session:
        overdue = pq.overdue_actions(ctx.today(now), unannounced_only=True, session=session)
        for action in overdue:
            task = pq.get_task(action.task_id, session=session)
            assert task is not None and action.id is not None
            notices.append(
                ActionOverdue(
                    action_id=action.id,
                    task_id=action.task_id,
                    task_title=task.title,
                    title=action.title,
                    owner=action.owner,
                    due_date=action.due_date,
                )
            )
        pq.mark_overdue_announced([a.id for a in overdue if a.id is not None], now, session=session)
        ctx.hooks.record(*notices, session=session)
    for notice in notices:
        ctx.hooks.fire("on_action_overdue", overdue=notice)
    return notices
