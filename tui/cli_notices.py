"""``bihuan notices [list] [--pending|--failed|--all]`` and ``bihuan notices retry``: the
notice outbox — what the notifier has not delivered yet, and what it gave up on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from bihuan.core.errors import EXIT_FAILURE
from bihuan.core.notices import notice_from_dict
from bihuan.storage import outbox_queries as oq
from bihuan.storage.engine import session_scope
from bihuan.storage.outbox_models import DeliveryStatus
from bihuan.tui.cli_collect import json_option
from bihuan.tui.context import App, pass_app
from bihuan.tui.output import emit_json, print_table


def list_filters(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--pending``, ``--failed``, ``--all`` and ``--limit``, shared by ``notices`` and ``notices list``."""
    command = click.option("--limit", default=200, show_default=True, type=click.IntRange(1))(command)
    command = click.option("--all", "everything", is_flag=True, help="Delivered ones too.")(command)
    command = click.option("--failed", is_flag=True, help="Only deliveries given up.")(command)
    return click.option("--pending", is_flag=True, help="Only deliveries still to be tried.")(command)


@click.group("notices", invoke_without_command=True)
@list_filters
@json_option
@click.pass_context
def notices_group(ctx: click.Context, pending: bool, failed: bool, everything: bool, limit: int, as_json: bool) -> None:
    """Notices not delivered yet (pending) or given up (failed), per target, newest first
    (also `bihuan notices list`). `bihuan tick` retries the pending ones."""
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    assert app is not None
    _list(app, pending, failed, everything, limit, as_json)


@notices_group.command("list")
@list_filters
@json_option
@pass_app
def notices_list(app: App, pending: bool, failed: bool, everything: bool, limit: int, as_json: bool) -> None:
    """Notices not delivered yet or given up, per target, newest first (as `bihuan notices`)."""
    _list(app, pending, failed, everything, limit, as_json)


def _headline(row: oq.DeliveryRow, app: App) -> str:
    try:
        return notice_from_dict(row.payload).headline(app.settings.bihuan.zone)
    except (ValueError, TypeError):
        return f"({row.kind})"


def _row_json(row: oq.DeliveryRow, app: App, configured: set[str]) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "notice_id": row.notice_id,
        "key": row.key,
        "kind": row.kind,
        "target": row.target,
        "target_configured": row.target in configured,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": iso(row.created_at),
        "next_attempt_at": iso(row.next_attempt_at) if row.status == DeliveryStatus.PENDING else None,
        "last_attempt_at": iso(row.last_attempt_at),
        "delivered_at": iso(row.delivered_at),
        "last_error": row.last_error,
        "headline": _headline(row, app),
    }


def _list(app: App, pending: bool, failed: bool, everything: bool, limit: int, as_json: bool) -> None:
    if everything:
        statuses = None
    else:
        chosen = [s for s, on in ((DeliveryStatus.PENDING, pending), (DeliveryStatus.FAILED, failed)) if on]
        statuses = chosen or [DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    with session_scope(app.engine()) as session:
        rows = oq.list_deliveries(statuses=statuses, limit=limit, session=session)
        counts = oq.status_counts(session=session)
    configured = set(app.outbox.targets)
    if as_json:
        emit_json(
            {
                "counts": {s.value: counts.get(s.value, 0) for s in DeliveryStatus},
                "deliveries": [_row_json(row, app, configured) for row in rows],
            }
        )
        return
    zone = app.settings.bihuan.zone
    print_table(
        ("notice", "target", "status", "tries", "next try", "error", "notice text"),
        [
            (
                row.notice_id,
                row.target if row.target in configured else f"{row.target} (not configured)",
                row.status,
                row.attempts,
                f"{row.next_attempt_at.astimezone(zone):%Y-%m-%d %H:%M}"
                if row.status == DeliveryStatus.PENDING
                else "",
                row.last_error or "",
                _headline(row, app)[:80],
            )
            for row in rows
        ],
    )
    click.echo(
        ", ".join(f"{counts.get(s.value, 0)} {s.value}" for s in DeliveryStatus) + " (all notices, per target)",
        err=True,
    )


@notices_group.command("retry")
@click.argument("notice_ids", nargs=-1, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Every notice with a failed delivery.")
@json_option
@pass_app
def notices_retry(app: App, notice_ids: tuple[int, ...], all_failed: bool, as_json: bool) -> None:
    """Try the undelivered (pending or failed) deliveries of NOTICE_IDS again now.

    Exit code 0 when every one was delivered, 1 when some are still pending or failed.
    """
    if not notice_ids and not all_failed:
        raise click.UsageError("name the notices to retry (ids from `bihuan notices`), or --failed for all failed")
    engine = app.engine()
    ids = app.outbox.requeue(engine, list(notice_ids) if notice_ids else None)
    report = app.outbox.deliver(engine, notice_ids=ids)
    with session_scope(engine) as session:
        rows = oq.list_deliveries(notice_ids=ids, limit=10_000, session=session)
    undelivered = [r for r in rows if r.status != DeliveryStatus.DELIVERED]
    if as_json:
        emit_json(
            {
                "notices": ids,
                **report.to_dict(),
                "undelivered": [_row_json(row, app, set(app.outbox.targets)) for row in undelivered],
            }
        )
    else:
        click.echo(
            f"{len(ids)} notice(s): {report.delivered} delivered, {report.retrying} to retry, "
            f"{report.failed} failed, {report.left} not tried yet"
        )
    if undelivered:
        click.get_current_context().exit(EXIT_FAILURE)


COMMANDS = (notices_group,)
