"""``bihuan task``, ``bihuan action`` and ``bihuan tick``: PDCA improvement cycles from the
command line (``tasks``, ``actions`` and ``tasks new`` are aliases).

Every write names the version it is based on: ``--expect-version N`` for scripts that
read first (a stale write is refused with exit code 4 and a message saying who changed
what; nothing is written, so reading again and retrying is safe); without it, the version
just read is used.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from bihuan.core.display import display_text
from bihuan.core.pdca import actions as pdca_actions
from bihuan.core.pdca import tasks as pdca_tasks
from bihuan.core.pdca.gates import GateError
from bihuan.core.pdca.history import event_line
from bihuan.core.pdca.metrics import METRIC_HELP, format_value
from bihuan.core.runs import mark_interrupted_runs
from bihuan.core.sla import cases as sla_cases
from bihuan.storage import pdca_queries as pq
from bihuan.storage import text_search
from bihuan.storage.engine import session_scope
from bihuan.storage.pdca_models import Action, CheckResult, ImprovementTask, Metric, Stage, TaskEvent
from bihuan.tui.aliases import AliasGroup
from bihuan.tui.cli_collect import json_option
from bihuan.tui.context import App, actor_option, pass_app
from bihuan.tui.output import emit_json, print_table

expect_version = click.option(
    "--expect-version",
    type=int,
    default=None,
    metavar="N",
    help="Refuse the change unless the task (or action) is still at version N.",
)
METRICS = ", ".join(f"{m.value} ({METRIC_HELP[m]})" for m in Metric)


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-12-31") from None


def _task_version(app: App, task_id: int, expected: int | None) -> int:
    if expected is not None:
        return expected
    return pdca_tasks.load_task(app.engine(), task_id).task.version


def _task_dict(task: ImprovementTask, group_ids: list[int] | None = None) -> dict[str, Any]:
    data = task.model_dump(mode="json")
    if group_ids is not None:
        data["groups"] = group_ids
    return data


# ── task ──────────────────────────────────────────────────────────────────────────────


@click.group("task", cls=AliasGroup, aliases={"new": "open"})
def task_group() -> None:
    """Improvement tasks: open on root-cause groups, plan, move through PDCA, check, act."""


@task_group.command("open")
@click.argument("groups", nargs=-1, type=int, required=True)
@click.option("--title", required=True, help="What the task is about, e.g. 信用卡提额慢.")
@click.option("--root-cause", help="The root-cause statement.")
@click.option("--owner", help="Who owns the task.")
@click.option("--metric", type=click.Choice([m.value for m in Metric]), help=f"Target metric: {METRICS}.")
@click.option("--target", help="Target value: a change like -50% against the baseline, or a value.")
@click.option("--due", callback=_date, help="Due date (YYYY-MM-DD).")
@actor_option
@json_option
@pass_app
def task_open(
    app: App,
    groups: tuple[int, ...],
    title: str,
    root_cause: str | None,
    owner: str | None,
    metric: str | None,
    target: str | None,
    due: date | None,
    actor: str,
    as_json: bool,
) -> None:
    """Open an improvement task on one or more GROUPS (ids from `bihuan groups list`).

    With --metric the baseline is computed at once from the weeks before today.
    """
    task = pdca_tasks.open_task(
        app.engine(),
        app.pdca,
        title=title,
        group_ids=groups,
        actor=actor,
        root_cause=root_cause,
        owner=owner,
        metric=metric,
        target=target,
        due_date=due,
    )
    if as_json:
        emit_json(_task_dict(task, list(groups)))
        return
    click.echo(f"opened task {task.id} in plan on group(s) {', '.join(map(str, groups))}: {display_text(task.title)}")
    if task.baseline:
        click.echo(
            f"baseline {format_value(task.baseline['value'], task.metric)} ({task.baseline['start']} .. {task.baseline['end']})"
        )


@task_group.command("list")
@click.option(
    "--stage", "stages", multiple=True, type=click.Choice([s.value for s in Stage]), help="Only these stages."
)
@json_option
@pass_app
def task_list(app: App, stages: tuple[str, ...], as_json: bool) -> None:
    """Tasks with their stage, owner, metric, baseline and target."""
    with session_scope(app.engine()) as session:
        listed = [(t, pq.task_group_ids(t.id, session=session)) for t in pq.list_tasks(stages=stages, session=session)]  # type: ignore[arg-type]
    if as_json:
        emit_json([_task_dict(t, g) for t, g in listed])
        return
    print_table(
        ("id", "stage", "title", "groups", "owner", "metric", "baseline", "target", "due", "v"),
        [
            (
                t.id,
                t.stage if t.stage != Stage.CLOSED else f"closed ({t.outcome})",
                t.title,
                ",".join(map(str, g)),
                t.owner,
                t.metric,
                format_value(t.baseline["value"] if t.baseline else None, t.metric),
                format_value(t.target_value, t.metric),
                t.due_date,
                t.version,
            )
            for t, g in listed
        ],
    )


@task_group.command("show")
@click.argument("task_id", type=int)
@json_option
@pass_app
def task_show(app: App, task_id: int, as_json: bool) -> None:
    """A task's plan, baseline weeks, actions, check results and history."""
    view = pdca_tasks.load_task(app.engine(), task_id)
    task = view.task
    if as_json:
        emit_json(
            {
                **_task_dict(task, view.group_ids),
                "actions": [a.model_dump(mode="json") for a in view.actions],
                "checks": [c.model_dump(mode="json") for c in view.checks],
                "events": [e.model_dump(mode="json") for e in view.events],
            }
        )
        return
    # titles, owners, causes, standards and history are untrusted: one line each, controls visible
    one = display_text
    outcome = f" ({one(task.outcome)})" if task.outcome else ""
    click.echo(f"task {task.id} [{one(task.stage)}{outcome}] {one(task.title)}  (version {task.version})")
    if task.parent_id:
        click.echo(f"  next cycle of task {task.parent_id}")
    click.echo(
        f"  groups: {', '.join(map(str, view.group_ids))}   owner: {one(task.owner) or '-'}   due: {task.due_date or '-'}"
    )
    if task.root_cause:
        click.echo(f"  root cause: {one(task.root_cause)}")
    click.echo(f"  metric: {one(task.metric) or '-'}   target: {format_value(task.target_value, task.metric)}")
    if task.baseline:
        weeks = " ".join(str(w["group"]) for w in task.baseline["weeks"])
        click.echo(
            f"  baseline: {format_value(task.baseline['value'], task.metric)}  (weekly group counts from {task.baseline['start']}: {weeks})"
        )
    if task.standard:
        click.echo(f"  standard adopted: {one(task.standard)}")
    if view.actions:
        click.echo("actions:")
        print_table(("id", "title", "owner", "due", "status", "done", "v"), [_action_row(a) for a in view.actions])
    for check in view.checks:
        _echo_check(check)
    click.echo("history:")
    _echo_events(app, view.events)


def _echo_events(app: App, events: list[TaskEvent]) -> None:
    for event in events:
        click.echo(f"  {display_text(event_line(event, app.settings.bihuan.zone))}")


@task_group.command("history")
@click.argument("task_id", type=int)
@json_option
@pass_app
def task_history(app: App, task_id: int, as_json: bool) -> None:
    """A task's audit log: every change with who, when, the old and the new value."""
    events = pdca_tasks.load_task(app.engine(), task_id).events
    if as_json:
        emit_json([e.model_dump(mode="json") for e in events])
        return
    _echo_events(app, events)


def _action_row(action: Action) -> tuple[Any, ...]:
    done = f"{action.done_at:%Y-%m-%d}" if action.done_at else ""
    return (action.id, action.title, action.owner, action.due_date, action.status, done, action.version)


def _echo_check(check: CheckResult) -> None:
    early = " (early)" if check.detail.get("early") else ""
    click.echo(
        f"check{early} {check.checked_at:%Y-%m-%d} by {display_text(check.checked_by)}: {check.verdict.upper()} — "
        f"{display_text(check.detail.get('reason'))}"
    )
    click.echo(
        f"  baseline {check.baseline_start} .. {check.baseline_end}: {format_value(check.baseline_value, check.metric)}"
        f"   check {check.check_start} .. {check.check_end}: {format_value(check.check_value, check.metric)}"
    )
    if check.ratio is not None:
        interval = f" (95 % CI {check.ratio_low:.2f}–{check.ratio_high:.2f})" if check.ratio_high is not None else ""
        change = f", change {check.change:+.0%}" if check.change is not None else ""
        click.echo(f"  ratio {check.ratio:.2f}{interval}, p = {check.p_value:.3g} ({check.test}){change}")
    if check.target_met is not None:
        click.echo(f"  target {'met' if check.target_met else 'not met'}")


@task_group.command("edit")
@click.argument("task_id", type=int)
@click.option("--title")
@click.option("--root-cause")
@click.option("--owner")
@click.option("--metric", type=click.Choice([m.value for m in Metric]), help="A new metric recomputes the baseline.")
@click.option("--target", help="A change like -50% against the baseline, or a value.")
@click.option("--due", callback=_date, help="Due date (YYYY-MM-DD).")
@expect_version
@actor_option
@json_option
@pass_app
def task_edit(app: App, task_id: int, expect_version: int | None, actor: str, as_json: bool, **fields: Any) -> None:
    """Change a task's plan fields; each change is recorded with who and when."""
    names = {
        "title": "title",
        "root_cause": "root_cause",
        "owner": "owner",
        "metric": "metric",
        "target": "target_value",
        "due": "due_date",
    }
    changes = {names[k]: v for k, v in fields.items() if v is not None}
    if not changes:
        raise click.UsageError("nothing to change: give --title, --owner, --metric, --target, --due or --root-cause")
    version = _task_version(app, task_id, expect_version)
    task = pdca_tasks.edit_task(app.engine(), app.pdca, task_id, read_version=version, actor=actor, changes=changes)
    if as_json:
        emit_json(_task_dict(task))
        return
    click.echo(f"task {task_id} updated (version {task.version})")


@task_group.command("move")
@click.argument("task_id", type=int)
@click.argument("stage", type=click.Choice(["plan", "do", "check", "act"]))
@expect_version
@actor_option
@json_option
@pass_app
def task_move(app: App, task_id: int, stage: str, expect_version: int | None, actor: str, as_json: bool) -> None:
    """Move a task to STAGE; the gates say what is missing when the move is refused."""
    version = _task_version(app, task_id, expect_version)
    try:
        task = pdca_tasks.move_task(app.engine(), app.pdca, task_id, stage, read_version=version, actor=actor)
    except GateError as refused:
        if as_json:
            emit_json({"task": task_id, "moved": False, "to": stage, "reasons": refused.reasons})
        raise
    if as_json:
        emit_json(_task_dict(task))
        return
    click.echo(f"task {task_id} is now in {task.stage}")


@task_group.command("baseline")
@click.argument("task_id", type=int)
@expect_version
@actor_option
@json_option
@pass_app
def task_baseline(app: App, task_id: int, expect_version: int | None, actor: str, as_json: bool) -> None:
    """Recompute a planned task's baseline from the weeks before today."""
    version = _task_version(app, task_id, expect_version)
    task = pdca_tasks.refresh_baseline(app.engine(), app.pdca, task_id, read_version=version, actor=actor)
    if as_json:
        emit_json(_task_dict(task))
        return
    value = task.baseline["value"] if task.baseline else None
    click.echo(f"task {task_id}: baseline {format_value(value, task.metric)}")


@task_group.command("check")
@click.argument("task_id", type=int)
@click.option("--early", is_flag=True, help="Measure before the check window is over (the window ends today).")
@actor_option
@json_option
@pass_app
def task_check(app: App, task_id: int, early: bool, actor: str, as_json: bool) -> None:
    """Measure the metric before the first action and after the last, with a significance test."""
    result = pdca_tasks.run_check(app.engine(), app.pdca, task_id, actor=actor, early=early)
    if as_json:
        emit_json(result.model_dump(mode="json"))
        return
    _echo_check(result)


@task_group.command("standardise")
@click.argument("task_id", type=int)
@click.option("--standard", required=True, help="The standard adopted (procedure, document, rule).")
@expect_version
@actor_option
@json_option
@pass_app
def task_standardise(
    app: App, task_id: int, standard: str, expect_version: int | None, actor: str, as_json: bool
) -> None:
    """Act: the fix worked — record the standard and close the task."""
    version = _task_version(app, task_id, expect_version)
    task = pdca_tasks.standardise(app.engine(), app.pdca, task_id, read_version=version, standard=standard, actor=actor)
    if as_json:
        emit_json(_task_dict(task))
        return
    click.echo(f"task {task_id} closed: standardised")


@task_group.command("next-cycle")
@click.argument("task_id", type=int)
@expect_version
@actor_option
@json_option
@pass_app
def task_next_cycle(app: App, task_id: int, expect_version: int | None, actor: str, as_json: bool) -> None:
    """Act: not solved yet — close the task and open the next cycle on the same groups."""
    version = _task_version(app, task_id, expect_version)
    successor = pdca_tasks.next_cycle(app.engine(), app.pdca, task_id, read_version=version, actor=actor)
    if as_json:
        emit_json(_task_dict(successor))
        return
    click.echo(f"task {task_id} closed; next cycle is task {successor.id} (in plan)")


@task_group.command("act")
@click.argument("task_id", type=int)
@click.option("--standardise", "standard", metavar="STANDARD", help="The fix worked: the standard adopted; closes.")
@click.option("--next-cycle", "again", is_flag=True, help="Not solved yet: close and open the next cycle.")
@expect_version
@actor_option
@json_option
@click.pass_context
def task_act(
    ctx: click.Context,
    task_id: int,
    standard: str | None,
    again: bool,
    expect_version: int | None,
    actor: str,
    as_json: bool,
) -> None:
    """Act on the check: --standardise STANDARD (close) or --next-cycle (a linked new task)."""
    if (standard is None) == (not again):
        raise click.UsageError("act with exactly one of --standardise STANDARD or --next-cycle")
    shared = {"task_id": task_id, "expect_version": expect_version, "actor": actor, "as_json": as_json}
    if standard is not None:
        ctx.invoke(task_standardise, standard=standard, **shared)
    else:
        ctx.invoke(task_next_cycle, **shared)


@task_group.command("cancel")
@click.argument("task_id", type=int)
@click.option("--reason", required=True)
@expect_version
@actor_option
@json_option
@pass_app
def task_cancel(app: App, task_id: int, reason: str, expect_version: int | None, actor: str, as_json: bool) -> None:
    """Close a task that will not be pursued."""
    version = _task_version(app, task_id, expect_version)
    task = pdca_tasks.cancel_task(app.engine(), app.pdca, task_id, read_version=version, reason=reason, actor=actor)
    if as_json:
        emit_json(_task_dict(task))
        return
    click.echo(f"task {task_id} cancelled")


# ── action ────────────────────────────────────────────────────────────────────────────


@click.group("action")
def action_group() -> None:
    """Actions of improvement tasks: add, edit, done, list (overdue)."""


@action_group.command("add")
@click.argument("task_id", type=int)
@click.option("--title", required=True)
@click.option("--owner", required=True)
@click.option("--due", required=True, callback=_date, help="Deadline (YYYY-MM-DD).")
@actor_option
@json_option
@pass_app
def action_add(app: App, task_id: int, title: str, owner: str, due: date, actor: str, as_json: bool) -> None:
    """Add an action with an owner and a deadline to TASK_ID."""
    action = pdca_actions.add_action(app.engine(), task_id, title=title, owner=owner, due_date=due, actor=actor)
    if as_json:
        emit_json(action.model_dump(mode="json"))
        return
    click.echo(f"action {action.id} added to task {task_id}")


def _action_version(app: App, action_id: int, expected: int | None) -> int:
    if expected is not None:
        return expected
    with session_scope(app.engine()) as session:
        action = pq.get_action(action_id, session=session)
    if action is None:
        raise click.UsageError(f"no action {action_id}")
    return action.version


@action_group.command("edit")
@click.argument("action_id", type=int)
@click.option("--title")
@click.option("--owner")
@click.option("--due", callback=_date, help="Deadline (YYYY-MM-DD).")
@click.option("--status", type=click.Choice(["open", "done", "cancelled"]))
@expect_version
@actor_option
@json_option
@pass_app
def action_edit(app: App, action_id: int, expect_version: int | None, actor: str, as_json: bool, **fields: Any) -> None:
    """Change an action's title, owner, deadline or status."""
    changes = {("due_date" if k == "due" else k): v for k, v in fields.items() if v is not None}
    if not changes:
        raise click.UsageError("nothing to change: give --title, --owner, --due or --status")
    version = _action_version(app, action_id, expect_version)
    action = pdca_actions.edit_action(app.engine(), action_id, read_version=version, actor=actor, changes=changes)
    if as_json:
        emit_json(action.model_dump(mode="json"))
        return
    click.echo(f"action {action_id} updated (version {action.version})")


@action_group.command("done")
@click.argument("action_id", type=int)
@expect_version
@actor_option
@json_option
@pass_app
def action_done(app: App, action_id: int, expect_version: int | None, actor: str, as_json: bool) -> None:
    """Mark an action done (now)."""
    version = _action_version(app, action_id, expect_version)
    action = pdca_actions.complete_action(app.engine(), action_id, read_version=version, actor=actor)
    if as_json:
        emit_json(action.model_dump(mode="json"))
        return
    click.echo(f"action {action_id} done")


@action_group.command("list")
@click.option("--task", "task_id", type=int, help="Only this task's actions.")
@click.option("--overdue", is_flag=True, help="Only open actions past their deadline.")
@json_option
@pass_app
def action_list(app: App, task_id: int | None, overdue: bool, as_json: bool) -> None:
    """Actions with owner, deadline and status."""
    with session_scope(app.engine()) as session:
        if overdue:
            listed = pq.overdue_actions(app.pdca.today(), session=session)
            if task_id is not None:
                listed = [a for a in listed if a.task_id == task_id]
        elif task_id is not None:
            listed = pq.task_actions(task_id, session=session)
        else:
            listed = [a for t in pq.list_tasks(session=session) for a in pq.task_actions(t.id, session=session)]  # type: ignore[arg-type]
    if as_json:
        emit_json([a.model_dump(mode="json") for a in listed])
        return
    print_table(
        ("id", "task", "title", "owner", "due", "status", "done", "v"),
        [(a.id, a.task_id, *_action_row(a)[1:]) for a in listed],
    )


# ── tick ──────────────────────────────────────────────────────────────────────────────


@click.command("tick")
@json_option
@pass_app
def tick_command(app: App, as_json: bool) -> None:
    """Run the engine's timers once (for cron): SLA cases for new feedback and their
    breaches, checks whose window is over, overdue actions, and the inbox's text index;
    collector runs whose process is gone are marked interrupted; then deliver the
    notices that are due (new ones, and earlier ones to retry).

    Each finding is announced once; its notice is delivered at least once.
    """
    engine = app.engine()
    interrupted = mark_interrupted_runs(engine)
    opened = sla_cases.open_new_cases(engine, app.cases)
    breaches = sla_cases.announce_breaches(engine, app.cases)
    checks = pdca_tasks.due_checks(engine, app.pdca)
    overdue = pdca_actions.announce_overdue(engine, app.pdca)
    indexed = text_search.catch_up_in_steps(engine)
    outbox = app.outbox
    outbox.take_recorded()  # delivered below with everything else that is due
    delivery = outbox.deliver(engine)
    if as_json:
        emit_json(
            {
                "cases_opened": opened,
                "sla_breaches": [b.to_dict() for b in breaches],
                "checks": [c.model_dump(mode="json") for c in checks],
                "overdue_actions": [o.to_dict() for o in overdue],
                "text_indexed": indexed,
                "notices": delivery.to_dict(),
                "runs_interrupted": interrupted,
            }
        )
        return
    zone = app.settings.bihuan.zone
    click.echo(f"{opened} SLA case(s) opened")
    for run_id in interrupted:
        click.echo(f"collector run {run_id} marked interrupted: its process is gone")
    for notice in [*breaches, *overdue]:
        click.echo(display_text(notice.headline(zone)))
    for check in checks:
        click.echo(f"task {check.task_id}: check {check.verdict}")
    if any(delivery.to_dict().values()):
        click.echo(
            f"notices: {delivery.delivered} delivered, {delivery.retrying} to retry, {delivery.failed} failed, "
            f"{delivery.left} not tried yet"
        )


COMMANDS = (task_group, action_group, tick_command)
