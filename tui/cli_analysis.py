"""``bihuan analyze`` and ``bihuan groups``: run the analysis, and the team's view of the
root-cause groups it finds (list, show, rename, merge, split)."""

from __future__ import annotations

import sys
from typing import Any, Self

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bihuan.core.analysis.engine import AnalysisReport, analyze
from bihuan.core.analysis.group_ops import merge_groups, rename_group, split_group
from bihuan.core.analysis.taxonomy import load_taxonomy
from bihuan.core.display import display_text
from bihuan.core.errors import EXIT_BUSY, UsageError
from bihuan.storage import analysis_queries as aq
from bihuan.storage.engine import session_scope
from bihuan.tui.cli_collect import json_option
from bihuan.tui.context import App, pass_app
from bihuan.tui.output import emit_json, print_table

#: seconds ``bihuan analyze`` waits for a running analysis by default: a run started just
#: as another finishes goes on; one started while another works stops soon, and says so
DEFAULT_WAIT = 10.0


@click.command("analyze")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Forget every result and analyse everything again; groups that tasks point to keep their ids, "
    "the others go (new ids).",
)
@click.option("--batch", default=20_000, show_default=True, type=click.IntRange(100), help="Items per transaction.")
@click.option(
    "--wait",
    "wait",
    default=DEFAULT_WAIT,
    show_default=True,
    type=click.FloatRange(0),
    metavar="SECONDS",
    help=f"How long to wait for an analysis already running on the database; then exit {EXIT_BUSY}.",
)
@json_option
@pass_app
def analyze_command(app: App, rebuild: bool, batch: int, wait: float, as_json: bool) -> None:
    """Analyse new and changed feedback: sentiment, keywords, categories, root-cause groups, spikes.

    Incremental: items analysed before (and unchanged since) are skipped, groups keep
    their ids. One analysis runs at a time per database: a second one waits up to --wait
    seconds, then stops with its own exit code. Progress goes to stderr on a terminal.
    """
    settings = app.settings
    taxonomy = load_taxonomy(settings.taxonomy_path())
    engine = app.engine()
    # the engine tells the bar its total before the first batch (no separate count: a scan)
    progress_bar = _AnalysisProgress(enabled=sys.stderr.isatty() and not as_json)
    with progress_bar:
        report = analyze(
            engine,
            taxonomy=taxonomy,
            zone=settings.bihuan.zone,
            hooks=app.analysis_hooks,
            repeat_window_days=settings.analysis.repeat_window_days,
            batch=batch,
            progress=progress_bar.update,
            rebuild=rebuild,
            wait=wait,
        )
    if as_json:
        emit_json(report.to_dict())
        return
    rate = f", {report.analysed / report.seconds:,.0f} items/s" if report.analysed and report.seconds else ""
    click.echo(
        f"analysed {report.analysed:,} items in {report.seconds:.1f} s{rate}; "
        f"{report.groups:,} groups ({report.new_groups:,} new); "
        f"{report.duplicates:,} linked as repeats; sentiment model: {report.model or '-'}"
    )
    for spike in report.spikes:
        click.echo(
            f"spike: group {spike['group_id']} {display_text(spike['label'])} — {spike['count']} in the week of "
            f"{spike['week']} (baseline {spike['baseline']:.1f})"
        )


class _AnalysisProgress:
    """A progress bar on stderr while a terminal watches; nothing otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def update(self, report: AnalysisReport, remaining: int) -> None:
        if self._progress is None and self.enabled and remaining:
            # the first call, before any batch, brings the total
            self._progress = Progress(
                TextColumn("analysing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._progress.add_task("analyse", total=report.analysed + remaining)
            self._progress.__enter__()
        if self._progress is not None:
            self._progress.update(self._task, completed=report.analysed)


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
        click.echo(f"{key}: {display_text(str(data[key]))}")
    click.echo(f"keywords: {display_text(', '.join(group.keywords))}")
    click.echo("history:")
    for event in history:
        click.echo(f"  {event.at:%Y-%m-%d %H:%M} {display_text(f'{event.actor}: {event.action} {event.detail}')}")


@groups.command()
@click.argument("group_id", type=int)
@click.argument("label")
@click.option("--by", "actor", default="cli", show_default=True, help="Who renamed it (kept in the history).")
@json_option
@pass_app
def rename(app: App, group_id: int, label: str, actor: str, as_json: bool) -> None:
    """Give a group a label of the team's choosing; analysis keeps it from now on."""
    with session_scope(app.engine(), write=True) as session:
        old, label = rename_group(group_id, label, actor=actor, session=session)
    if as_json:
        emit_json({"id": group_id, "old": old, "label": label})
    else:
        click.echo(f"group {group_id}: {display_text(old)} → {display_text(label)}")


@groups.command()
@click.argument("target", type=int)
@click.argument("sources", type=int, nargs=-1, required=True)
@click.option("--by", "actor", default="cli", show_default=True, help="Who merged them (kept in the history).")
@json_option
@pass_app
def merge(app: App, target: int, sources: tuple[int, ...], actor: str, as_json: bool) -> None:
    """Merge SOURCES into TARGET: their items move, they point at TARGET from now on."""
    with session_scope(app.engine(), write=True) as session:
        result = merge_groups(target, sources, actor=actor, session=session)
    if as_json:
        emit_json(
            {"target": result.target, "merged": list(result.merged), "moved": result.moved, "label": result.label}
        )
    else:
        merged = ", ".join(map(str, result.merged))
        click.echo(
            f"merged {merged} into group {result.target} ({display_text(result.label)}): {result.moved:,} items moved"
        )


@groups.command()
@click.argument("group_id", type=int)
@click.option("--keyword", help="Move the items whose text contains this (case-insensitive).")
@click.option("--items", "item_ids", help="Move these item ids (comma-separated).")
@click.option("--label", help="Label of the new group (default: from its keywords).")
@click.option("--by", "actor", default="cli", show_default=True, help="Who split it (kept in the history).")
@json_option
@pass_app
def split(
    app: App, group_id: int, keyword: str | None, item_ids: str | None, label: str | None, actor: str, as_json: bool
) -> None:
    """Split some items of GROUP_ID off into a new group (by --keyword or --items)."""
    ids: list[int] | None = None
    if item_ids is not None:
        try:
            ids = [int(part) for part in item_ids.split(",") if part.strip()]
        except ValueError:
            raise UsageError(f"--items takes comma-separated item ids, got {item_ids!r}") from None
    with session_scope(app.engine(), write=True) as session:
        result = split_group(group_id, keyword=keyword, item_ids=ids, label=label, actor=actor, session=session)
    if as_json:
        emit_json(
            {
                "group": result.source,
                "new_group": result.new_group,
                "moved": result.moved,
                "remaining": result.remaining,
                "label": result.label,
            }
        )
    else:
        click.echo(
            f"split {result.moved:,} items of group {result.source} into new group {result.new_group} "
            f"({display_text(result.label)}); {result.remaining:,} stay"
        )


COMMANDS = (analyze_command, groups)
