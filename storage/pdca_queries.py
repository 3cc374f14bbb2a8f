"""Query functions of the PDCA tables. Each takes ``*, session`` and never creates engines.

Versioned writes (:func:`update_task`, :func:`update_action`) are a single
``UPDATE … WHERE id = :id AND version = :read_version``: when another session changed the
row in between, no row matches, nothing is written, and :class:`StaleWriteError` says
who changed it and when.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, update
from sqlmodel import Session, col, select

from bihuan.core.errors import StaleWriteError
from bihuan.storage.analysis_models import GroupStatus, IssueGroup, ItemAnalysis
from bihuan.storage.models import FeedbackItem
from bihuan.storage.pdca_models import (
    Action,
    ActionStatus,
    CheckResult,
    ImprovementTask,
    Stage,
    TaskEvent,
    TaskGroup,
)
from bihuan.storage.types import utcnow

# ── tasks ─────────────────────────────────────────────────────────────────────────────


def add_task(task: ImprovementTask, group_ids: Iterable[int], *, session: Session) -> ImprovementTask:
    session.add(task)
    session.flush()
    assert task.id is not None
    for group_id in dict.fromkeys(group_ids):
        session.add(TaskGroup(task_id=task.id, group_id=group_id))
    session.flush()
    return task


def get_task(task_id: int, *, session: Session) -> ImprovementTask | None:
    return session.get(ImprovementTask, task_id, populate_existing=True)


def list_tasks(*, stages: Sequence[str] | None = None, session: Session) -> list[ImprovementTask]:
    stmt = select(ImprovementTask).order_by(col(ImprovementTask.id))
    if stages:
        stmt = stmt.where(col(ImprovementTask.stage).in_(list(stages)))
    return list(session.exec(stmt))


def task_group_ids(task_id: int, *, session: Session) -> list[int]:
    stmt = select(TaskGroup.group_id).where(TaskGroup.task_id == task_id).order_by(col(TaskGroup.group_id))
    return list(session.exec(stmt))


def tasks_of_group(group_id: int, *, session: Session) -> list[ImprovementTask]:
    stmt = (
        select(ImprovementTask)
        .join(TaskGroup, col(TaskGroup.task_id) == col(ImprovementTask.id))
        .where(TaskGroup.group_id == group_id)
        .order_by(col(ImprovementTask.id))
    )
    return list(session.exec(stmt))


def update_task(
    task_id: int,
    read_version: int,
    values: dict[str, Any],
    *,
    actor: str,
    at: datetime | None = None,
    session: Session,
) -> ImprovementTask:
    """Write ``values`` if the task is still at ``read_version``; bump the version.

    ``at`` is when the change happened (default: now)."""
    stmt = (
        update(ImprovementTask)
        .where(and_(col(ImprovementTask.id) == task_id, col(ImprovementTask.version) == read_version))
        .values(**values, version=ImprovementTask.version + 1, updated_at=at or utcnow(), updated_by=actor)
    )
    if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
        current = get_task(task_id, session=session)
        if current is None:
            raise StaleWriteError(f"task {task_id} no longer exists; nothing was saved")
        raise stale_task(current, read_version)
    task = get_task(task_id, session=session)
    assert task is not None
    return task


def stale_task(current: ImprovementTask, read_version: int) -> StaleWriteError:
    """The error for a write based on ``read_version`` of a task now at ``current``."""
    return StaleWriteError(
        f"task {current.id} was changed by {current.updated_by} at {current.updated_at:%Y-%m-%d %H:%M:%S} UTC "
        f"(now version {current.version}, you read version {read_version}); nothing was saved — "
        "reload the task and make your change again"
    )


def check_task_version(task: ImprovementTask, read_version: int) -> None:
    """Refuse early (before gates are judged on data the caller has not seen)."""
    if task.version != read_version:
        raise stale_task(task, read_version)


# ── events ────────────────────────────────────────────────────────────────────────────


def add_events(events: Iterable[TaskEvent], *, session: Session) -> None:
    session.add_all(list(events))
    session.flush()


def task_events(task_id: int, *, session: Session) -> list[TaskEvent]:
    stmt = select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(col(TaskEvent.id))
    return list(session.exec(stmt))


# ── actions ───────────────────────────────────────────────────────────────────────────


def add_action(action: Action, *, session: Session) -> Action:
    session.add(action)
    session.flush()
    return action


def get_action(action_id: int, *, session: Session) -> Action | None:
    return session.get(Action, action_id, populate_existing=True)


def task_actions(task_id: int, *, session: Session) -> list[Action]:
    stmt = select(Action).where(Action.task_id == task_id).order_by(col(Action.id))
    return list(session.exec(stmt))


def update_action(
    action_id: int, read_version: int, values: dict[str, Any], *, at: datetime | None = None, session: Session
) -> Action:
    """Write ``values`` if the action is still at ``read_version``; bump the version."""
    stmt = (
        update(Action)
        .where(and_(col(Action.id) == action_id, col(Action.version) == read_version))
        .values(**values, version=Action.version + 1, updated_at=at or utcnow())
    )
    if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
        current = get_action(action_id, session=session)
        if current is None:
            raise StaleWriteError(f"action {action_id} no longer exists; nothing was saved")
        raise StaleWriteError(
            f"action {action_id} was changed at {current.updated_at:%Y-%m-%d %H:%M:%S} UTC by someone else "
            f"(now version {current.version}, you read version {read_version}); nothing was saved — "
            "reload it and make your change again"
        )
    action = get_action(action_id, session=session)
    assert action is not None
    return action


def overdue_actions(today: date, *, unannounced_only: bool = False, session: Session) -> list[Action]:
    """Open actions of open tasks whose due date has passed."""
    stmt = (
        select(Action)
        .join(ImprovementTask, col(ImprovementTask.id) == col(Action.task_id))
        .where(
            Action.status == ActionStatus.OPEN,
            col(Action.due_date) < today,
            ImprovementTask.stage != Stage.CLOSED,
        )
        .order_by(col(Action.due_date), col(Action.id))
    )
    if unannounced_only:
        stmt = stmt.where(col(Action.overdue_notified_at).is_(None))
    return list(session.exec(stmt))


def mark_overdue_announced(action_ids: Iterable[int], at: datetime, *, session: Session) -> None:
    ids = list(action_ids)
    if ids:
        # not a versioned edit: the flag is the engine's own bookkeeping, not a user's change
        session.execute(update(Action).where(col(Action.id).in_(ids)).values(overdue_notified_at=at))


# ── check ─────────────────────────────────────────────────────────────────────────────


def add_check_result(result: CheckResult, *, session: Session) -> CheckResult:
    session.add(result)
    session.flush()
    return result


def check_results(task_id: int, *, session: Session) -> list[CheckResult]:
    stmt = select(CheckResult).where(CheckResult.task_id == task_id).order_by(col(CheckResult.id))
    return list(session.exec(stmt))


# ── groups and the data behind the metrics ────────────────────────────────────────────


def resolve_groups(group_ids: Iterable[int], *, session: Session) -> dict[int, IssueGroup | None]:
    """Each id mapped to the active group that now holds its items (following merges),
    or ``None`` when no such group exists."""
    out: dict[int, IssueGroup | None] = {}
    for group_id in group_ids:
        group = session.get(IssueGroup, group_id)
        seen = set()
        while group is not None and group.status == GroupStatus.MERGED and group.merged_into not in seen:
            seen.add(group.id)
            group = session.get(IssueGroup, group.merged_into) if group.merged_into else None
        out[group_id] = group
    return out


@dataclass(frozen=True)
class WindowCounts:
    """Distinct feedback in a time window, overall and within a set of groups.

    Near-duplicates (``duplicate_of`` set) are the same complaint said again and count
    once, as in the KPIs.
    """

    total: int
    group: int
    group_negative: int
    group_rated: int
    group_satisfied: int


def window_counts(group_ids: Sequence[int], since: datetime, until: datetime, *, session: Session) -> WindowCounts:
    """Counts of the items created in ``[since, until)``; one aggregate query."""
    in_groups = and_(col(ItemAnalysis.group_id).in_(list(group_ids)), col(ItemAnalysis.duplicate_of).is_(None))
    rated = and_(in_groups, col(FeedbackItem.rating) >= 1, col(FeedbackItem.rating) <= 5)

    def tally(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    stmt = (
        select(
            tally(col(ItemAnalysis.duplicate_of).is_(None)),
            tally(in_groups),
            tally(and_(in_groups, ItemAnalysis.sentiment_label == "negative")),
            tally(rated),
            tally(and_(rated, col(FeedbackItem.rating) >= 4)),
        )
        .select_from(FeedbackItem)
        .outerjoin(ItemAnalysis, col(ItemAnalysis.item_id) == col(FeedbackItem.id))
        .where(col(FeedbackItem.created_at) >= since, col(FeedbackItem.created_at) < until)
    )
    row = session.exec(stmt).one()  # type: ignore[call-overload]
    return WindowCounts(*(int(v) for v in row))
