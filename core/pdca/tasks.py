"""Improvement tasks through plan → do → check → act → closed.

Every function is one transaction: it reads, checks the gates, writes the change with
the version the caller read (a stale write is refused, nothing is overwritten), appends
a ``TaskEvent`` per changed field and the notice in the outbox (``PdcaHooks.record``),
commits, and only then tells the plugins' event hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from bihuan.core.config import PdcaSettings
from bihuan.core.errors import UsageError
from bihuan.core.notices import CheckVerdict, StageChanged
from bihuan.core.pdca.check import measure_check, windows_for
from bihuan.core.pdca.gates import GateError, move_gaps
from bihuan.core.pdca.hooks import PdcaHooks
from bihuan.core.pdca.metrics import parse_metric, parse_target, weekly_baseline
from bihuan.storage import pdca_queries as pq
from bihuan.storage.engine import session_scope
from bihuan.storage.pdca_models import (
    Action,
    ActionStatus,
    CheckResult,
    ImprovementTask,
    Metric,
    Outcome,
    Stage,
    TaskEvent,
)
from bihuan.storage.types import utcnow

#: plan fields the team edits (through ``edit_task``)
EDITABLE = ("title", "root_cause", "owner", "metric", "target_value", "due_date")


@dataclass
class TaskView:
    """A task with everything its screen shows."""

    task: ImprovementTask
    group_ids: list[int]
    actions: list[Action]
    events: list[TaskEvent]
    checks: list[CheckResult]


@dataclass(frozen=True)
class PdcaContext:
    """Settings every PDCA operation shares.

    :ivar clock: what "now" is (the workplace's today, the dashboard's period); tests
        and demos pin it.
    """

    zone: ZoneInfo
    settings: PdcaSettings
    hooks: PdcaHooks
    clock: Callable[[], datetime] = utcnow

    def today(self, now: datetime | None = None) -> date:
        return (now or self.clock()).astimezone(self.zone).date()


def load_task(engine: Engine, task_id: int) -> TaskView:
    with session_scope(engine) as session:
        task = _task(task_id, session)
        return TaskView(
            task=task,
            group_ids=pq.task_group_ids(task_id, session=session),
            actions=pq.task_actions(task_id, session=session),
            events=pq.task_events(task_id, session=session),
            checks=pq.check_results(task_id, session=session),
        )


def _task(task_id: int, session: Session) -> ImprovementTask:
    task = pq.get_task(task_id, session=session)
    if task is None:
        raise UsageError(f"no improvement task {task_id}")
    return task


def _event(task_id: int, actor: str, kind: str, *, at: datetime | None = None, **fields: Any) -> TaskEvent:
    return TaskEvent(task_id=task_id, actor=actor, kind=kind, at=at or utcnow(), **fields)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _active_groups(group_ids: Sequence[int], session: Session) -> list[int]:
    """The groups as given, refusing unknown ones and naming where merged ones went."""
    if not group_ids:
        raise UsageError("an improvement task needs at least one root-cause group")
    resolved = pq.resolve_groups(group_ids, session=session)
    missing = [str(g) for g, group in resolved.items() if group is None]
    if missing:
        raise UsageError(f"no root-cause group {', '.join(missing)} (bihuan groups list shows them)")
    moved = [f"{g} (merged into {group.id})" for g, group in resolved.items() if group is not None and group.id != g]
    if moved:
        raise UsageError(f"groups were merged: {', '.join(moved)}; open the task on the group that holds the items")
    return list(dict.fromkeys(group_ids))


def _baseline(
    metric: Metric | None, group_ids: Sequence[int], ctx: PdcaContext, today: date, session: Session
) -> dict[str, Any] | None:
    if metric is None or not group_ids:
        return None
    this_monday = today - timedelta(days=today.weekday())
    return weekly_baseline(
        metric, group_ids, end=this_monday, weeks=ctx.settings.baseline_days // 7, zone=ctx.zone, session=session
    )


# ── plan ──────────────────────────────────────────────────────────────────────────────


def open_task(
    engine: Engine,
    ctx: PdcaContext,
    *,
    title: str,
    group_ids: Sequence[int],
    actor: str,
    root_cause: str | None = None,
    owner: str | None = None,
    metric: str | None = None,
    target: str | None = None,
    due_date: date | None = None,
    now: datetime | None = None,
) -> ImprovementTask:
    """Open a task in plan on ``group_ids``; with a metric the baseline is computed at once."""
    if not title.strip():
        raise UsageError("an improvement task needs a title")
    with session_scope(engine, write=True) as session:
        groups = _active_groups(group_ids, session)
        chosen = parse_metric(metric) if metric else None
        baseline = _baseline(chosen, groups, ctx, ctx.today(now), session)
        target_value = parse_target(target, baseline["value"] if baseline else None) if target else None
        task = ImprovementTask(
            title=title.strip(),
            root_cause=root_cause,
            owner=owner,
            metric=chosen.value if chosen else None,
            target_value=target_value,
            due_date=due_date,
            baseline=baseline,
            created_by=actor,
            created_at=now or utcnow(),
            updated_at=now or utcnow(),
            updated_by=actor,
        )
        pq.add_task(task, groups, session=session)
        assert task.id is not None
        pq.add_events(
            [_event(task.id, actor, "created", at=now, new={"title": task.title, "groups": groups})], session=session
        )
        return task


def edit_task(
    engine: Engine,
    ctx: PdcaContext,
    task_id: int,
    *,
    read_version: int,
    actor: str,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> ImprovementTask:
    """Change plan fields (``EDITABLE``); ``target_value`` may be text like ``"-50%"``.

    A new metric recomputes the baseline from the data.
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise UsageError(f"cannot edit {', '.join(sorted(unknown))} (editable: {', '.join(EDITABLE)})")
    with session_scope(engine, write=True) as session:
        task = _task(task_id, session)
        if task.stage == Stage.CLOSED:
            raise UsageError(f"task {task_id} is closed; open the next cycle to change its plan")
        values = dict(changes)
        if "metric" in values:
            metric = parse_metric(values["metric"])
            values["metric"] = metric.value
            if metric.value != task.metric:
                groups = pq.task_group_ids(task_id, session=session)
                values["baseline"] = _baseline(metric, groups, ctx, ctx.today(now), session)
        if isinstance(values.get("target_value"), str):
            baseline = values.get("baseline", task.baseline)
            values["target_value"] = parse_target(values["target_value"], baseline["value"] if baseline else None)
        values = {k: v for k, v in values.items() if getattr(task, k) != v}
        if not values:
            return task
        old = {k: getattr(task, k) for k in values}
        updated = pq.update_task(task_id, read_version, values, actor=actor, at=now, session=session)
        pq.add_events(
            [
                _event(task_id, actor, "field", at=now, field=k, old=_json(old[k]), new=_json(v))
                for k, v in values.items()
                if k != "baseline"
            ]
            + (
                [_event(task_id, actor, "baseline", at=now, new=values["baseline"] and values["baseline"]["value"])]
                if "baseline" in values
                else []
            ),
            session=session,
        )
        return updated


def refresh_baseline(
    engine: Engine, ctx: PdcaContext, task_id: int, *, read_version: int, actor: str, now: datetime | None = None
) -> ImprovementTask:
    """Recompute the plan baseline from today's data (e.g. after more feedback came in)."""
    with session_scope(engine, write=True) as session:
        task = _task(task_id, session)
        if task.stage != Stage.PLAN:
            raise UsageError(f"task {task_id} has left plan; its baseline is fixed")
        if not task.metric:
            raise UsageError(f"task {task_id} has no target metric yet")
        groups = pq.task_group_ids(task_id, session=session)
        baseline = _baseline(Metric(task.metric), groups, ctx, ctx.today(now), session)
        old = task.baseline["value"] if task.baseline else None
        updated = pq.update_task(task_id, read_version, {"baseline": baseline}, actor=actor, at=now, session=session)
        pq.add_events(
            [_event(task_id, actor, "baseline", at=now, old=old, new=baseline["value"] if baseline else None)],
            session=session,
        )
        return updated


# ── moves ─────────────────────────────────────────────────────────────────────────────


def move_task(
    engine: Engine,
    ctx: PdcaContext,
    task_id: int,
    target: str,
    *,
    read_version: int,
    actor: str,
    now: datetime | None = None,
) -> ImprovementTask:
    """Move to another stage if the gates allow it (``GateError`` lists what is missing)."""
    try:
        stage = Stage(target)
    except ValueError:
        raise UsageError(f"unknown stage {target!r}: plan, do, check or act") from None
    with session_scope(engine, write=True) as session:
        task = _task(task_id, session)
        pq.check_task_version(task, read_version)
        gaps = move_gaps(
            task,
            stage,
            group_count=len(pq.task_group_ids(task_id, session=session)),
            actions=pq.task_actions(task_id, session=session),
            checks=pq.check_results(task_id, session=session),
        )
        if gaps:
            raise GateError(task_id, stage.value, gaps)
        old = task.stage
        updated = pq.update_task(task_id, read_version, {"stage": stage.value}, actor=actor, at=now, session=session)
        pq.add_events(
            [_event(task_id, actor, "stage", at=now, field="stage", old=old, new=stage.value)], session=session
        )
        change = StageChanged(task_id=task_id, title=updated.title, old=old, new=stage.value, actor=actor)
        ctx.hooks.record(change, session=session)
    ctx.hooks.fire("on_task_stage_changed", change=change)
    return updated


def _close(
    session: Session,
    task: ImprovementTask,
    outcome: Outcome,
    *,
    read_version: int,
    actor: str,
    now: datetime | None,
    **values: Any,
) -> ImprovementTask:
    assert task.id is not None
    old = task.stage  # read first: the update refreshes ``task`` (the session's identity map)
    updated = pq.update_task(
        task.id,
        read_version,
        {"stage": Stage.CLOSED.value, "outcome": outcome.value, "closed_at": now or utcnow(), **values},
        actor=actor,
        at=now,
        session=session,
    )
    pq.add_events(
        [_event(task.id, actor, "stage", at=now, field="stage", old=old, new=Stage.CLOSED.value, note=outcome.value)],
        session=session,
    )
    return updated


def _closed_notice(task: ImprovementTask, old: str, actor: str) -> StageChanged:
    assert task.id is not None
    return StageChanged(task_id=task.id, title=task.title, old=old, new=task.stage, actor=actor, outcome=task.outcome)


def standardise(
    engine: Engine,
    ctx: PdcaContext,
    task_id: int,
    *,
    read_version: int,
    standard: str,
    actor: str,
    now: datetime | None = None,
) -> ImprovementTask:
    """Act: the fix worked; record the standard adopted and close."""
    if not standard.strip():
        raise UsageError("say which standard is adopted (e.g. the new procedure or its document)")
    with session_scope(engine, write=True) as session:
        task = _task(task_id, session)
        pq.check_task_version(task, read_version)
        if task.stage != Stage.ACT:
            raise GateError(task_id, "closed", [f"standardising is the act step; the task is in {task.stage}"])
        old = task.stage
        closed = _close(
            session,
            task,
            Outcome.STANDARDISED,
            read_version=read_version,
            actor=actor,
            now=now,
            standard=standard.strip(),
        )
        change = _closed_notice(closed, old, actor)
        ctx.hooks.record(change, session=session)
    ctx.hooks.fire("on_task_stage_changed", change=change)
    return closed


def next_cycle(
    engine: Engine, ctx: PdcaContext, task_id: int, *, read_version: int, actor: str, now: datetime | None = None
) -> ImprovementTask:
    """Act: not solved yet; close this task and open the next cycle on the same groups.

    The new task starts in plan, points at this one (``parent_id``), inherits groups,
    root cause, metric, owner and target, and gets a fresh baseline.
    """
    with session_scope(engine, write=True) as session:
        task = _task(task_id, session)
        pq.check_task_version(task, read_version)
        if task.stage != Stage.ACT:
            raise GateError(task_id, "next cycle", [f"the next cycle starts from act; the task is in {task.stage}"])
        old = task.stage
        groups = pq.task_group_ids(task_id, session=session)
        closed = _close(session, task, Outcome.NEXT_CYCLE, read_version=read_version, actor=actor, now=now)
        metric = Metric(task.metric) if task.metric else None
        successor = ImprovementTask(
            title=task.title,
            root_cause=task.root_cause,
            owner=task.owner,
            metric=task.metric,
            target_value=task.target_value,
            baseline=_baseline(metric, groups, ctx, ctx.today(now), session),
            parent_id=task_id,
            created_by=actor,
            created_at=now or utcnow(),
            updated_at=now or utcnow(),
            updated_by=actor,
        )
        pq.add_task(successor, groups, session=session)
        assert successor.id is not None
        pq.add_events(
            [
                _event(
                    successor.id,
                    actor,
                    "created",
                    at=now,
                    new={"title": successor.title, "groups": groups},
                    old=task_id,
                    note=f"next cycle of task {task_id}",
                ),
                _event(
                    task_id, actor, "next_cycle", at=now, new=successor.id, note=f"continued as task {successor.id}"
                ),
            ],
            session=session,
        )
        change = _closed_notice(closed, old, actor)
        ctx.hooks.record(change, session=session)
    ctx.hooks.fire("on_task_stage_changed", change=change)
    return successor


def cancel_task(
    engine: Engine,
    ctx: PdcaContext,
    task_id: int,
    *,
    read_version: int,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> ImprovementTask:
    """Close a task that will not be pursued, with the reason."""
    if not reason.strip():
        raise UsageError("say why the task is cancelled")
    with session_scope(engine, write=True) as session:
        task = _task(task_id, session)
        pq.check_task_version(task, read_version)
        if task.stage == Stage.CLOSED:
            raise UsageError(f"task {task_id} is already closed")
        old = task.stage
        closed = _close(session, task, Outcome.CANCELLED, read_version=read_version, actor=actor, now=now)
        pq.add_events([_event(task_id, actor, "cancelled", at=now, note=reason.strip())], session=session)
        change = _closed_notice(closed, old, actor)
        ctx.hooks.record(change, session=session)
    ctx.hooks.fire("on_task_stage_changed", change=change)
    return closed


# ── check ─────────────────────────────────────────────────────────────────────────────


def check_windows_of(task: ImprovementTask, actions: Sequence[Action], ctx: PdcaContext) -> Any:
    """The baseline and check windows for a task's actions, or ``None`` with none done."""
    done = [a for a in actions if a.status == ActionStatus.DONE and a.done_at is not None]
    if not done:
        return None
    first = min(a.created_at for a in actions).astimezone(ctx.zone).date()
    last = max(a.done_at for a in done if a.done_at is not None).astimezone(ctx.zone).date()
    return windows_for(first, last, baseline_days=ctx.settings.baseline_days, check_days=ctx.settings.check_days)


def run_check(
    engine: Engine,
    ctx: PdcaContext,
    task_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    early: bool = False,
) -> CheckResult:
    """Measure the task's metric before the first action and after the last, judge, store.

    Before the check window is over the check is refused, unless ``early`` (then the
    window ends today and the result says so).
    """
    today = ctx.today(now)
    with session_scope(engine, write=True) as session:
        task = _task(task_id, session)
        if task.stage != Stage.CHECK:
            raise GateError(task_id, "check", [f"the check runs in the check stage; the task is in {task.stage}"])
        assert task.metric is not None
        windows = check_windows_of(task, pq.task_actions(task_id, session=session), ctx)
        if windows is None:
            raise GateError(task_id, "check", ["no action is done"])
        if windows.check.end > today:
            if not early:
                raise UsageError(
                    f"the check window of task {task_id} runs to {windows.check.end - timedelta(days=1)}; "
                    f"check after that, or check early (--early)"
                )
            windows = type(windows)(windows.baseline, type(windows.check)(windows.check.start, today))
            if windows.check.days <= 0:
                raise UsageError(
                    f"the check window of task {task_id} starts on {windows.check.start}: nothing to measure"
                )
        groups = pq.task_group_ids(task_id, session=session)
        result, _ = measure_check(
            Metric(task.metric), groups, windows, target_value=task.target_value, zone=ctx.zone, session=session
        )
        result.task_id = task_id
        result.checked_by = actor
        result.checked_at = now or utcnow()
        result.detail["early"] = early
        pq.add_check_result(result, session=session)
        pq.add_events(
            [_event(task_id, actor, "check", at=now, new=result.verdict, note=result.detail["reason"])], session=session
        )
        verdict = CheckVerdict(
            task_id=task_id,
            title=task.title,
            metric=result.metric,
            verdict=result.verdict,
            baseline_value=result.baseline_value,
            check_value=result.check_value,
            change=result.change,
            p_value=result.p_value,
            target_met=result.target_met,
        )
        ctx.hooks.record(verdict, session=session)
    ctx.hooks.fire("on_check_verdict", verdict=verdict)
    return result


def due_checks(engine: Engine, ctx: PdcaContext, *, now: datetime | None = None) -> list[CheckResult]:
    """Run the check of every task in check whose window is over and that has none yet:
    the engine itself tells the team whether the actions worked."""
    today = ctx.today(now)
    due: list[int] = []
    with session_scope(engine) as session:
        for task in pq.list_tasks(stages=[Stage.CHECK], session=session):
            assert task.id is not None
            if pq.check_results(task.id, session=session):
                continue
            windows = check_windows_of(task, pq.task_actions(task.id, session=session), ctx)
            if windows is not None and windows.check.end <= today:
                due.append(task.id)
    return [run_check(engine, ctx, task_id, actor="bihuan", now=now) for task_id in due]
