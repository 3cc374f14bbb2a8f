"""``bihuan groups``: the team's view of the root-cause groups the analysis finds."""

from __future__ import annotations

from typing import Any

import click

from bihuan.core.errors import UsageError
from bihuan.storage import analysis_queries as aq
from bihuan.storage.analysis_models import GroupAction, GroupStatus
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow
from bihuan.tui.cli_collect import json_option
from bihuan.tui.context import App, pass_app
from bihuan.tui.output import emit_json, print_table


@click.group()
def groups() -> None:
    """Root-cause groups: list, show, rename, merge, split."""


def _group_or_fail(group_id: int, session: Any) -> Any:
    group = aq.get_group(group_id, session=session)
    if group is None:
        raise UsageError(f"no group {group_id}")
    return group


@groups.command("list")
@click.option("--all", "include_merged", is_flag=True, help="Include groups merged into others.")
@json_option
@pass_app
def list_groups(app: App, include_merged: bool, as_json: bool) -> None:
    """Groups with their size, category and label, largest first."""
    with session_scope(app.engine()) as session:
        rows = aq.list_groups(include_merged=include_merged, session=session)
        sizes = aq.group_sizes(session=session)
    rows.sort(key=lambda g: (-sizes.get(g.id, 0), g.id))
    if as_json:
        emit_json([{**g.model_dump(mode="json", exclude={"centroid"}), "items": sizes.get(g.id, 0)} for g in rows])
        return
    print_table(
        ("id", "items", "category", "label", "status"),
        ((g.id, sizes.get(g.id, 0), g.category or "", g.label, g.status) for g in rows),
    )


@groups.command()
@click.argument("group_id", type=int)
@json_option
@pass_app
def show(app: App, group_id: int, as_json: bool) -> None:
    """One group: label, keywords, size and its history."""
    with session_scope(app.engine()) as session:
        group = _group_or_fail(group_id, session)
        history = aq.group_history(group_id, session=session)
        members = len(aq.group_members(group_id, session=session))
    data = {
        **group.model_dump(mode="json", exclude={"centroid"}),
        "items": members,
        "history": [e.model_dump(mode="json") for e in history],
    }
    if as_json:
        emit_json(data)
        return
    for key in ("id", "label", "category", "status", "merged_into", "items"):
        click.echo(f"{key}: {data[key]}")
    click.echo(f"keywords: {', '.join(group.keywords)}")
    click.echo("history:")
    for event in history:
        click.echo(f"  {event.at:%Y-%m-%d %H:%M} {event.actor}: {event.action} {event.detail}")


@groups.command()
@click.argument("group_id", type=int)
@click.argument("label")
@click.option("--by", "actor", default="cli", show_default=True, help="Who renamed it (kept in the history).")
@json_option
@pass_app
def rename(app: App, group_id: int, label: str, actor: str, as_json: bool) -> None:
    """Give a group a label of the team's choosing; analysis keeps it from now on."""
    label = label.strip()
    if not label:
        raise UsageError("the label must not be empty")
    with session_scope(app.engine(), write=True) as session:
        group = _group_or_fail(group_id, session)
        if group.status != GroupStatus.ACTIVE:
            raise UsageError(f"group {group_id} was merged into {group.merged_into}; rename that one")
        old = group.label
        group.label = label
        group.label_locked = True
        group.version += 1
        group.updated_at = utcnow()
        session.add(group)
        aq.add_group_event(group_id, GroupAction.RENAMED, {"old": old, "new": label}, actor=actor, session=session)
    if as_json:
        emit_json({"id": group_id, "old": old, "label": label})
    else:
        click.echo(f"group {group_id}: {old} → {label}")


COMMANDS = (groups,)
