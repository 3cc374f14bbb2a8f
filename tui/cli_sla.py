"""``bihuan sla`` and ``bihuan followups``: what is owed to customers, and the 回访 calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from bihuan.core.sla import cases as sla_cases
from bihuan.core.sla import followups as sla_followups
from bihuan.storage import case_queries as cq
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow
from bihuan.tui.cli_collect import json_option
from bihuan.tui.context import App, actor_option, pass_app
from bihuan.tui.output import emit_json, print_table

expect_version = click.option(
    "--expect-version", type=int, default=None, metavar="N", help="Refuse unless the case is still at version N."
)

due_only_option = click.option("--due", "due_only", is_flag=True, help="Only those due by now.")


def case_filters(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--breached``, ``--channel`` and ``--limit``, shared by ``sla`` and ``sla list``."""
    command = click.option("--limit", default=200, show_default=True, type=click.IntRange(1))(command)
    command = click.option("--channel", help="Only this channel.")(command)
    return click.option("--breached", is_flag=True, help="Only cases past a due time.")(command)


@click.group("sla", invoke_without_command=True)
@case_filters
@json_option
@click.pass_context
def sla_group(ctx: click.Context, breached: bool, channel: str | None, limit: int, as_json: bool) -> None:
    """Cases owed a response or a resolution, soonest due first (also `bihuan sla list`).

    Opens cases for new feedback under the [sla] policies and announces new breaches
    first (as `bihuan tick` does).
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    assert app is not None
    _list_cases(app, breached, channel, limit, as_json)


@sla_group.command("list")
@case_filters
@json_option
@pass_app
def sla_list(app: App, breached: bool, channel: str | None, limit: int, as_json: bool) -> None:
    """Cases owed a response or a resolution, soonest due first (as `bihuan sla`)."""
    _list_cases(app, breached, channel, limit, as_json)


def _list_cases(app: App, breached: bool, channel: str | None, limit: int, as_json: bool) -> None:
    engine, now = app.engine(), utcnow()
    opened = sla_cases.open_new_cases(engine, app.cases, now=now)
    breaches = sla_cases.announce_breaches(engine, app.cases, now=now)
    with session_scope(engine) as session:
        rows = cq.open_cases(now=now, breached_only=breached, channel=channel, limit=limit, session=session)
    if as_json:
        emit_json(
            {
                "opened": opened,
                "new_breaches": [b.to_dict() for b in breaches],
                "cases": [
                    {
                        "item_id": r.item_id,
                        "channel": r.channel,
                        "policy": r.policy,
                        "status": r.status,
                        "due": r.due.isoformat() if r.due else None,
                        "breached": bool(r.due and r.due < now),
                        "version": r.version,
                        "text": r.text[:200],
                    }
                    for r in rows
                ],
            }
        )
        return
    zone = app.settings.bihuan.zone
    print_table(
        ("item", "channel", "status", "due", "", "text"),
        [
            (
                r.item_id,
                r.channel,
                r.status,
                f"{r.due.astimezone(zone):%Y-%m-%d %H:%M}" if r.due else "",
                "BREACHED" if r.due and r.due < now else "",
                r.text[:60].replace("\n", " "),
            )
            for r in rows
        ],
    )
    click.echo(f"{opened} new case(s) opened; {len(breaches)} new breach(es) announced", err=True)


@sla_group.command("respond")
@click.argument("item_id", type=int)
@expect_version
@actor_option
@json_option
@pass_app
def sla_respond(app: App, item_id: int, expect_version: int | None, actor: str, as_json: bool) -> None:
    """Mark the first response to ITEM_ID given (now)."""
    case = sla_cases.respond(app.engine(), item_id, actor=actor, read_version=expect_version)
    if as_json:
        emit_json(case.model_dump(mode="json"))
        return
    click.echo(f"case {item_id}: {case.status}")


@sla_group.command("resolve")
@click.argument("item_id", type=int)
@expect_version
@actor_option
@json_option
@pass_app
def sla_resolve(app: App, item_id: int, expect_version: int | None, actor: str, as_json: bool) -> None:
    """Mark ITEM_ID resolved (now); complaints get their 回访 scheduled."""
    case, followup = sla_cases.resolve(app.engine(), app.cases, item_id, actor=actor, read_version=expect_version)
    if as_json:
        emit_json(
            {"case": case.model_dump(mode="json"), "followup": followup.model_dump(mode="json") if followup else None}
        )
        return
    zone = app.settings.bihuan.zone
    tail = f"; 回访 #{followup.id} due {followup.due_at.astimezone(zone):%Y-%m-%d %H:%M}" if followup else ""
    click.echo(f"case {item_id}: {case.status}{tail}")


@click.group("followups", invoke_without_command=True)
@due_only_option
@json_option
@click.pass_context
def followups_group(ctx: click.Context, due_only: bool, as_json: bool) -> None:
    """回访 follow-ups waiting for their call, soonest due first (also `bihuan followups list`)."""
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    assert app is not None
    _list_followups(app, due_only, as_json)


@followups_group.command("list")
@due_only_option
@json_option
@pass_app
def followups_list(app: App, due_only: bool, as_json: bool) -> None:
    """回访 follow-ups waiting for their call, soonest due first (as `bihuan followups`)."""
    _list_followups(app, due_only, as_json)


def _list_followups(app: App, due_only: bool, as_json: bool) -> None:
    with session_scope(app.engine()) as session:
        pending = cq.pending_followups(due_before=utcnow() if due_only else None, session=session)
    if as_json:
        emit_json([f.model_dump(mode="json") for f in pending])
        return
    zone = app.settings.bihuan.zone
    print_table(
        ("id", "item", "due"), [(f.id, f.item_id, f"{f.due_at.astimezone(zone):%Y-%m-%d %H:%M}") for f in pending]
    )


@followups_group.command("record")
@click.argument("followup_id", type=int)
@click.option("--outcome", required=True, type=click.Choice(["satisfied", "unsatisfied", "unreachable"]))
@click.option("--satisfaction", type=click.IntRange(1, 5), help="What the customer said, 1..5.")
@click.option("--note")
@actor_option
@json_option
@pass_app
def followups_record(
    app: App, followup_id: int, outcome: str, satisfaction: int | None, note: str | None, actor: str, as_json: bool
) -> None:
    """Record a 回访's outcome; an unhappy one reopens the case."""
    result = sla_followups.record_followup(
        app.engine(), app.cases, followup_id, outcome=outcome, satisfaction=satisfaction, note=note, actor=actor
    )
    if as_json:
        emit_json(result.__dict__)
        return
    click.echo(f"follow-up {followup_id}: {outcome}" + (f"; case {result.item_id} reopened" if result.reopened else ""))


@followups_group.command("repeats")
@click.option("--days", type=click.IntRange(1), help="Window after the resolution (default: [followup] repeat_days).")
@json_option
@pass_app
def followups_repeats(app: App, days: int | None, as_json: bool) -> None:
    """Customers who came back within the window after their complaint was resolved (both
    items shown; a contact with positive sentiment is not counted)."""
    found = sla_followups.repeat_complaints(app.engine(), app.cases, days=days)
    if as_json:
        emit_json(
            [
                {**r.__dict__, "resolved_at": r.resolved_at.isoformat(), "repeat_at": r.repeat_at.isoformat()}
                for r in found
            ]
        )
        return
    zone = app.settings.bihuan.zone
    print_table(
        ("case", "customer", "channel", "text", "resolved", "came back", "item", "via", "text again"),
        [
            (
                r.item_id,
                r.customer_ref,
                r.channel,
                r.text[:40].replace("\n", " "),
                f"{r.resolved_at.astimezone(zone):%Y-%m-%d}",
                f"{r.repeat_at.astimezone(zone):%Y-%m-%d}",
                r.repeat_item_id,
                r.repeat_channel,
                r.repeat_text[:40].replace("\n", " "),
            )
            for r in found
        ],
    )


COMMANDS = (sla_group, followups_group)
