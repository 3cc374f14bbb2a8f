"""Terminal output for the CLI: JSON for scripts, tables and progress for people.

Untrusted text (feedback, file names, reasons from a source) is always rendered as
text, never parsed as Rich markup.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, Self

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bihuan.core.collection import CollectorInstance
from bihuan.core.errors import EXIT_FAILURE, EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE, USAGE_ERROR_CLASSES
from bihuan.core.pipeline import RunReport
from bihuan.core.privacy import safe_text

COUNT_KEYS = ("read", "new", "updated", "duplicates", "quarantined")


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """A table on a terminal; tab-separated lines with a header when piped."""
    rows = list(rows)
    if not sys.stdout.isatty():
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join("" if v is None else str(v).replace("\t", " ").replace("\n", " ") for v in row))
        return
    table = Table(title=title, highlight=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    stdout_console().print(table)


def run_exit_code(reports: Sequence[RunReport]) -> int:
    """0 all stored, 3 finished with quarantined records, 2 config/usage, 1 other failure."""
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        return EXIT_USAGE if all(r.error_class in USAGE_ERROR_CLASSES for r in failed) else EXIT_FAILURE
    if any(r.quarantined for r in reports):
        return EXIT_QUARANTINED
    return EXIT_OK


def summary_line(report: RunReport) -> str:
    counts = " ".join(f"{key} {getattr(report, key)}" for key in COUNT_KEYS)
    line = f"{report.collector}: {counts}"
    if report.status == "failed":
        line += f" — FAILED ({report.error_class}): {report.error}"
    return line


def totals(reports: Sequence[RunReport]) -> dict[str, int]:
    return {key: sum(getattr(r, key) for r in reports) for key in COUNT_KEYS}


def reports_json(reports: Sequence[RunReport], *, dry_run: bool = False) -> dict[str, Any]:
    """The ``--json`` document of import/collect: totals at the top, runs below."""
    return {
        **totals(reports),
        "failed": sum(r.status == "failed" for r in reports),
        "dry_run": dry_run,
        "exit_code": run_exit_code(reports),
        "runs": [r.to_dict() for r in reports],
    }


def print_reports(reports: Sequence[RunReport], *, dry_run: bool = False, table: bool | None = None) -> None:
    """A summary table on a terminal (``table=None``: when stdout is one), else one plain
    line per run and a total line, which is what scripts read."""
    if table is None:
        table = sys.stdout.isatty()
    if table:
        _print_report_table(reports)
    else:
        for report in reports:
            click.echo(summary_line(report))
        if len(reports) > 1:
            total = totals(reports)
            click.echo("total: " + " ".join(f"{k} {v}" for k, v in total.items()))
    if dry_run:
        click.echo("dry run: nothing was written")


def _print_report_table(reports: Sequence[RunReport]) -> None:
    table = Table(highlight=False, show_footer=len(reports) > 1)
    total = totals(reports)
    # names and numbers never wrap; a long error folds instead
    table.add_column("collector", footer="total", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for key in COUNT_KEYS:
        table.add_column(key, justify="right", footer=f"{total[key]:,}", no_wrap=True)
    table.add_column("error", overflow="fold")
    for report in reports:
        failed = report.status == "failed"
        table.add_row(
            Text(report.collector),
            Text(report.status, style="bold red" if failed else "green"),
            *(Text(f"{getattr(report, key):,}") for key in COUNT_KEYS),
            Text(f"{report.error_class}: {report.error}" if failed else ""),
        )
    stdout_console().print(table)


class RunProgress:
    """Live progress on a terminal (stderr); silent when stderr is not a terminal."""

    def __init__(self, *, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Progress | None = None
        self._task: Any = None
        self._started = 0.0

    def __enter__(self) -> Self:
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                TextColumn("{task.fields[counts]}", markup=False),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def start(self, instance: CollectorInstance) -> None:
        self._started = time.perf_counter()
        if self._progress is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(safe_text(instance.name), counts="starting")

    def update(self, report: RunReport) -> None:
        if self._progress is None or self._task is None:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-6)
        counts = (
            f"{report.read:,} read · {report.new:,} new · {report.duplicates:,} dup · "
            f"{report.quarantined:,} quarantined · {report.read / elapsed:,.0f}/s"
        )
        self._progress.update(self._task, counts=counts)
