"""``bihuan init``, ``import``, ``collect``, ``runs`` and ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bihuan.core.collection import file_import_instances, run_instances, select_instances
from bihuan.core.errors import EXIT_OK, UsageError
from bihuan.core.runs import mark_interrupted_runs
from bihuan.core.types import CHANNELS
from bihuan.storage import queries
from bihuan.storage.engine import data_dir, redact_url, session_scope, sqlite_file
from bihuan.storage.migrate import current_revision
from bihuan.tui.context import App, pass_app
from bihuan.tui.output import RunProgress, emit_json, print_reports, print_table, reports_json, run_exit_code

if TYPE_CHECKING:
    from bihuan.core.demo_data.cycles import DemoCycle
    from bihuan.core.demo_data.model import DemoManifest

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


def parse_mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--map field=column`` options as a dict."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise UsageError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. --map text=意见")
        mapping[field.strip()] = column.strip()
    return mapping


@click.command()
@json_option
@pass_app
def init(app: App, as_json: bool) -> None:
    """Create or upgrade the database and show where bihuan keeps its files.

    The one command that creates a database named by ``--db`` or ``$BIHUAN_DATABASE_URL``
    (the others refuse a SQLite path that does not exist).
    """
    app.create_database = True
    path = sqlite_file(app.database_url)
    created = path is not None and not path.exists()
    engine = app.engine()
    info = {
        "database": redact_url(app.database_url),
        "created": created,
        "schema_revision": current_revision(engine),
        "data_dir": str(data_dir()),
        "config": str(app.settings.path) if app.settings.path else None,
    }
    if as_json:
        emit_json(info)
        return
    created_note = ", created" if created else ""
    click.echo(f"database: {info['database']} (schema {info['schema_revision']}{created_note})")
    click.echo(f"data dir: {info['data_dir']}")
    click.echo(f"config:   {info['config'] or 'built-in defaults (no plugins.toml found)'}")


@click.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option("--collector", help="csv, xlsx, jsonl or a plugin's file collector (default: by extension).")
@click.option("--source", help="Source name stored on the items (default: the file name without extension).")
@click.option("--channel", type=click.Choice(sorted(CHANNELS)), help="Channel for rows without a channel column.")
@click.option("--map", "mappings", multiple=True, metavar="FIELD=COLUMN", help="Map a field to a column header.")
@click.option("--encoding", help="Text encoding of CSV files (default: detected).")
@click.option("--delimiter", help="CSV delimiter (default: detected).")
@click.option("--sheet", help="XLSX sheet name (default: the first visible one).")
@click.option(
    "--header-row",
    type=click.IntRange(1, 1000),
    metavar="N",
    help="Row number of the header in CSV/XLSX files (default: found, after any title rows).",
)
@click.option(
    "--id-column",
    metavar="COLUMN",
    help="The column holding each record's id (default: a column named like an id, unless it counts rows).",
)
@click.option("--no-id", is_flag=True, help="The files have no id column: rows are known by their content.")
@click.option(
    "--update-across-files",
    is_flag=True,
    help="Let rows change items that another file stored (default: such rows are quarantined).",
)
@click.option("--dry-run", is_flag=True, help="Read and classify everything, write nothing; show how columns map.")
@json_option
@pass_app
def import_(
    app: App,
    paths: tuple[str, ...],
    collector: str | None,
    source: str | None,
    channel: str | None,
    mappings: tuple[str, ...],
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
    header_row: int | None,
    id_column: str | None,
    no_id: bool,
    update_across_files: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import feedback files (CSV, XLSX, JSONL); re-running adds nothing twice.

    Every valid row is stored once with personal data redacted; every broken row is
    quarantined with its row number and reason. A row whose id another file stored
    with other content is quarantined too, unless --update-across-files. Exit code 3
    when rows were quarantined.
    """
    if no_id and id_column is not None:
        raise UsageError("--no-id and --id-column exclude each other")
    options = {
        "mapping": parse_mapping(mappings) or None,
        "encoding": encoding,
        "delimiter": delimiter,
        "sheet": sheet,
        "header_row": header_row,
        "id_column": id_column,
        "no_id": no_id or None,
        "update_across_files": update_across_files or None,
    }
    instances = file_import_instances(
        paths, app.registry(), collector=collector, source=source, channel=channel, options=options
    )
    _run_and_report(app, instances, dry_run=dry_run, as_json=as_json)


@click.command()
@click.argument("names", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Read and classify everything, write nothing.")
@json_option
@pass_app
def collect(app: App, names: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Run the collectors configured in plugins.toml (all enabled ones, or NAMES)."""
    instances = select_instances(app.settings, app.registry(), names)
    if not instances:
        message = "no enabled collectors in plugins.toml ([collectors.<name>] tables)"
        if as_json:
            emit_json({**reports_json([]), "message": message})
        else:
            click.echo(message)
        return
    _run_and_report(app, instances, dry_run=dry_run, as_json=as_json)


def _run_and_report(app: App, instances: list, *, dry_run: bool, as_json: bool) -> None:
    engine = app.engine()
    with RunProgress(enabled=None if not as_json else False) as progress:
        reports = run_instances(
            instances,
            engine=engine,
            timezone=app.settings.bihuan.zone,
            date_window=app.settings.bihuan.date_window,
            hooks=app.hooks,
            dry_run=dry_run,
            progress=progress.update,
            on_start=progress.start,
        )
    if as_json:
        emit_json(reports_json(reports, dry_run=dry_run))
    else:
        print_reports(reports, dry_run=dry_run, details=True)
    code = run_exit_code(reports)
    if code != EXIT_OK:
        raise SystemExit(code)


@click.command()
@click.option("--collector", help="Only runs of this collector instance.")
@click.option("--limit", default=20, show_default=True, help="How many runs, newest first.")
@json_option
@pass_app
def runs(app: App, collector: str | None, limit: int, as_json: bool) -> None:
    """List recent collector runs with their counts and errors.

    A run whose process is gone (killed, or its machine went down) is marked
    ``interrupted`` first; the next run of its collector resumes from its last checkpoint.
    """
    engine = app.engine()
    mark_interrupted_runs(engine)
    with session_scope(engine) as session:
        rows = queries.list_runs(collector=collector, limit=limit, session=session)
    if as_json:
        emit_json([run.model_dump(mode="json") for run in rows])
        return
    print_table(
        ("id", "collector", "status", "started", "read", "new", "updated", "dup", "quar", "error"),
        (
            (
                r.id,
                r.collector,
                r.status,
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.read,
                r.new,
                r.updated,
                r.duplicates,
                r.quarantined,
                f"{r.error_class}: {r.error_message}" if r.error_class else "",
            )
            for r in rows
        ),
    )


@click.command()
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), help="Where to write the demo files."
)
@click.option("--seed", default=20261122, show_default=True, help="Seed of the generated data set.")
@click.option(
    "--analyze/--no-analyze", "run_analysis", default=True, show_default=True, help="Analyse after the import."
)
@click.option(
    "--tui/--no-tui",
    "open_tui",
    default=None,
    help="Open the workplace on the demo data afterwards (default: when run on a terminal).",
)
@json_option
@pass_app
def demo(app: App, directory: Path | None, seed: int, run_analysis: bool, open_tui: bool | None, as_json: bool) -> None:
    """Generate a realistic demo data set, import it through the real collectors, and
    analyse it (sentiment, root-cause groups, the root causes that hurt most, spikes).

    Uses its own SQLite database (``demo.db`` in the data dir, recreated each time)
    unless ``--db`` is given, so the demo never mixes with real feedback.
    """
    from bihuan.core.demo_data import generate_demo_dataset

    directory = directory or data_dir() / "demo"
    if app.db is None:
        demo_db = data_dir() / "demo.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{demo_db}{suffix}").unlink(missing_ok=True)
        app.db = f"sqlite:///{demo_db}"
        app.create_database = True  # the demo's own database; a --db one must exist
    engine = app.engine()  # before the files are written: a wrong --db stops here
    manifest = generate_demo_dataset(directory, seed=seed)
    instances = []
    registry = app.registry()
    for demo_file in manifest.import_files:
        instances += file_import_instances(
            [demo_file.path],
            registry,
            collector=demo_file.collector,
            source=demo_file.source,
            channel=demo_file.channel,
        )
    with RunProgress(enabled=None if not as_json else False) as progress:
        reports = run_instances(
            instances,
            engine=engine,
            timezone=app.settings.bihuan.zone,
            date_window=app.settings.bihuan.date_window,
            hooks=app.hooks,
            progress=progress.update,
            on_start=progress.start,
        )
    with session_scope(engine) as session:
        by_channel = queries.counts_by_channel(session=session)
        stored = queries.count_items(session=session)
        quarantined = queries.list_quarantined(limit=5, session=session)
        open_quarantined = queries.count_quarantined(session=session)
    analysis, top = _demo_analysis(app) if run_analysis else (None, [])
    cycles = _demo_cycles(app, manifest) if run_analysis else []
    if as_json:
        emit_json(
            {
                **reports_json(reports),
                "database": redact_url(app.database_url),
                "directory": str(directory),
                "stored": stored,
                "by_channel": by_channel,
                "open_quarantined": open_quarantined,
                "analysis": analysis,
                "top_groups": top,
                "cycles": [c.to_dict() for c in cycles],
            }
        )
        return
    click.echo(f"demo data written to {directory}")
    click.echo(f"database: {redact_url(app.database_url)}\n")
    print_reports(reports)
    click.echo(f"\nstored {stored:,} feedback items: " + ", ".join(f"{c} {n:,}" for c, n in sorted(by_channel.items())))
    click.echo(f"quarantined {open_quarantined} records, for example:")
    for record in quarantined:
        click.echo(f"  #{record.id} {record.location}: {record.reason}")
    if analysis is not None:
        click.echo(
            f"\nanalysed {analysis['analysed']:,} items: {analysis['groups']} root-cause groups, "
            f"{analysis['duplicates']} repeat contacts linked"
        )
        click.echo("root causes that hurt most (last four complete weeks):")
        for rank, group in enumerate(top, 1):
            click.echo(
                f"  {rank}. {group['label']} (#{group['group_id']}): {group['volume']} items, "
                f"{group['negative_share'] * 100:.0f} % negative, cumulative {group['cumulative_share'] * 100:.0f} %"
            )
        for spike in analysis["spikes"]:
            click.echo(f"spike: {spike['label']} — {spike['count']} in the week of {spike['week']}")
    if cycles:
        click.echo("\nimprovement tasks played on the demo data (the check is the engine's, from the data):")
        for cycle in cycles:
            _echo_cycle(cycle)
    click.echo(f"\nnext: bihuan --db {app.database_url} tui   (or: report, quarantine list, groups list)")
    if open_tui is None:
        open_tui = sys.stdin.isatty() and sys.stdout.isatty()
    if open_tui:
        from bihuan.tui.cli_tui import open_workplace
        from bihuan.tui.context import current_user

        open_workplace(app, current_user())


def _demo_analysis(app: App) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Analyse the demo database; the analysis report and the top five groups."""
    from bihuan.core.analysis.engine import analyze
    from bihuan.core.analysis.report import build_report
    from bihuan.core.analysis.taxonomy import load_taxonomy

    engine = app.engine()
    settings = app.settings
    report = analyze(
        engine,
        taxonomy=load_taxonomy(settings.taxonomy_path()),
        zone=settings.bihuan.zone,
        hooks=app.analysis_hooks,
        repeat_window_days=settings.analysis.repeat_window_days,
    )
    with session_scope(engine) as session:
        ranked = build_report(
            session, zone=settings.bihuan.zone, top=5, repeat_window_days=settings.analysis.repeat_window_days
        )
    return report.to_dict(), [g.to_dict() for g in ranked.groups]


def _demo_cycles(app: App, manifest: DemoManifest) -> list[DemoCycle]:
    from bihuan.core.demo_data.cycles import run_demo_cycles

    return run_demo_cycles(manifest, app.engine(), app.pdca)


def _echo_cycle(cycle: DemoCycle) -> None:
    from bihuan.core.pdca.metrics import format_value

    check = cycle.check
    groups = ", ".join(f"#{g}" for g in cycle.groups)
    then = (
        "standardised and closed"
        if cycle.outcome == "standardised"
        else f"next cycle opened: task {cycle.next_task_id}"
    )
    click.echo(f"  task {cycle.task_id} {cycle.title} (groups {groups}), target -50 %:")
    change = f" ({check.change:+.0%})" if check.change is not None else ""
    interval = (
        f", rate ratio {check.ratio:.2f} (95 % CI {check.ratio_low:.2f}–{check.ratio_high:.2f}), p = {check.p_value:.2g}"
        if check.ratio is not None and check.ratio_low is not None and check.ratio_high is not None
        else ""
    )
    click.echo(
        f"    {format_value(check.baseline_value, check.metric)} before → "
        f"{format_value(check.check_value, check.metric)} after{change}{interval}"
    )
    click.echo(f"    verdict: {check.verdict.upper().replace('_', ' ')} — {then}")


COMMANDS = (init, import_, collect, runs, demo)
