"""``bihuan quarantine list|show|retry|discard``."""

from __future__ import annotations

import json

import click

from bihuan.core.display import display_text
from bihuan.core.errors import EXIT_QUARANTINED, UsageError
from bihuan.core.quarantine import decoded_payload, discard_records, retry_records
from bihuan.storage import queries
from bihuan.storage.engine import session_scope
from bihuan.storage.models import QuarantineStatus
from bihuan.tui.cli_collect import json_option, parse_mapping
from bihuan.tui.context import App, pass_app
from bihuan.tui.output import emit_json, print_table

STATUS_CHOICES = [s.value for s in QuarantineStatus] + ["all"]


@click.group()
def quarantine() -> None:
    """Records that could not be stored: list, inspect, fix and retry, or discard."""


@quarantine.command("list")
@click.option("--status", type=click.Choice(STATUS_CHOICES), default="open", show_default=True)
@click.option("--collector", help="Only records of this collector instance.")
@click.option("--run", "run_id", type=int, help="Only records of this run.")
@click.option("--limit", default=100, show_default=True)
@json_option
@pass_app
def list_(app: App, status: str, collector: str | None, run_id: int | None, limit: int, as_json: bool) -> None:
    """List quarantined records with where they were read and why they were refused."""
    with session_scope(app.engine()) as session:
        records = queries.list_quarantined(
            status=None if status == "all" else status,
            collector=collector,
            run_id=run_id,
            limit=limit,
            session=session,
        )
    if as_json:
        emit_json([r.model_dump(mode="json") for r in records])
        return
    print_table(
        ("id", "status", "collector", "where", "field", "reason"),
        ((r.id, r.status, r.collector, r.location, r.field, r.reason) for r in records),
    )


@quarantine.command()
@click.argument("record_id", type=int)
@json_option
@pass_app
def show(app: App, record_id: int, as_json: bool) -> None:
    """Show one record with its (redacted) payload."""
    with session_scope(app.engine()) as session:
        record = queries.get_quarantined(record_id, session=session)
    if record is None:
        raise UsageError(f"no quarantined record {record_id}")
    data = record.model_dump(mode="json")
    data["payload"] = decoded_payload(record)
    if as_json:
        emit_json(data)
        return
    for key in (
        "id",
        "status",
        "collector",
        "collector_type",
        "source",
        "run_id",
        "location",
        "field",
        "reason",
        "external_id",
    ):
        click.echo(f"{key}: {display_text(str(data[key]))}")
    click.echo("payload:")
    # JSON escapes the C0 controls; DEL, C1 controls, bidi and zero-width characters are made visible
    click.echo(display_text(json.dumps(data["payload"], ensure_ascii=False, indent=2), multiline=True))


@quarantine.command()
@click.argument("record_ids", type=int, nargs=-1, required=True)
@click.option("--set", "edits", multiple=True, metavar="KEY=VALUE", help="Fix a field of the payload before retrying.")
@json_option
@pass_app
def retry(app: App, record_ids: tuple[int, ...], edits: tuple[str, ...], as_json: bool) -> None:
    """Parse records again (after fixes) and store them; exit 3 if some are still bad."""
    outcomes, _reports = retry_records(
        record_ids,
        engine=app.engine(),
        registry=app.registry(),
        settings=app.settings,
        hooks=app.hooks,
        edits=parse_mapping(edits),
    )
    if as_json:
        emit_json([o.to_dict() for o in outcomes])
    else:
        for o in outcomes:
            tail = f" as item {o.item_id}" if o.item_id else f": {display_text(o.reason)}"
            click.echo(f"#{o.record_id} {o.status}{tail}")
    if any(o.status == "still bad" for o in outcomes):
        raise SystemExit(EXIT_QUARANTINED)


@quarantine.command()
@click.argument("record_ids", type=int, nargs=-1, required=True)
@json_option
@pass_app
def discard(app: App, record_ids: tuple[int, ...], as_json: bool) -> None:
    """Mark records as discarded (kept for the record, no longer listed as open)."""
    changed = discard_records(record_ids, engine=app.engine())
    if as_json:
        emit_json({"discarded": changed})
    else:
        click.echo(f"discarded {changed} record(s)")


COMMANDS = (quarantine,)
