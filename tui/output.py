"""Terminal output for the CLI: JSON for scripts, tables and progress for people.

Untrusted text (feedback, file names, reasons from a source, labels, owners) is always
rendered as text, never parsed as Rich markup, and passes through
:func:`~bihuan.core.display.display_text` first: its control characters are shown
(``␛``, ``␍``, ``<U+202E>``), never sent to the terminal. Every table cell is one line.
"""

from __future__ import annotations

import json
import re
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
from bihuan.core.display import display_text
from bihuan.core.errors import (
    DATABASE_ERROR_CLASSES,
    EXIT_DATABASE,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_QUARANTINED,
    EXIT_USAGE,
    USAGE_ERROR_CLASSES,
)
from bihuan.core.pipeline import RunReport
from bihuan.core.privacy import safe_text

COUNT_KEYS = ("read", "new", "updated", "duplicates", "quarantined")


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout.

    JSON escapes the C0 controls itself; the other characters a terminal acts on or
    hides (DEL, C1 controls, bidi and zero-width characters, lone surrogates) are written
    as ``\\uXXXX`` escapes too: the document shows nothing raw and still holds exactly the
    stored values.
    """
    click.echo(_HIDDEN_IN_JSON.sub(_json_escape, json.dumps(data, ensure_ascii=False, indent=2, default=str)))


#: the code points above U+001F that are controls, format characters, surrogates or line
#: and paragraph separators (Unicode categories Cc, Cf, Cs, Zl, Zp; JSON escapes the C0
#: controls itself). Outside strings JSON has only spaces and newlines, so these occur
#: only inside strings, where the escape stands for the same character.
_HIDDEN_IN_JSON = re.compile(
    "[\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # a surrogate pair, as JSON writes characters beyond the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """A table on a terminal; tab-separated lines with a header when piped. Every cell is
    shown as one line of plain text (a tab in it a space, a line break ``⏎``)."""
    cells = [[display_text(v) for v in row] for row in rows]
    if not sys.stdout.isatty():
        click.echo("\t".join(columns))
        for row in cells:
            click.echo("\t".join(row))
        return
    table = Table(title=title, highlight=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*(Text(v) for v in row))
    stdout_console().print(table)


def run_exit_code(reports: Sequence[RunReport]) -> int:
    """0 all stored, 3 finished with quarantined records, 2 config/usage, 5 the database
    cannot be used, 1 other failure."""
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        if any(r.error_class in DATABASE_ERROR_CLASSES for r in failed):
            return EXIT_DATABASE
        return EXIT_USAGE if all(r.error_class in USAGE_ERROR_CLASSES for r in failed) else EXIT_FAILURE
    if any(r.quarantined for r in reports):
        return EXIT_QUARANTINED
    return EXIT_OK


def summary_line(report: RunReport) -> str:
    counts = " ".join(f"{key} {getattr(report, key)}" for key in COUNT_KEYS)
    line = f"{display_text(report.collector)}: {counts}"
    if report.status == "failed":
        line += f" — FAILED ({report.error_class}): {display_text(report.error)}"
    return line


def totals(reports: Sequence[RunReport]) -> dict[str, int]:
    return {key: sum(getattr(r, key) for r in reports) for key in COUNT_KEYS}


#: counts of the file rules (see ``bihuan.core.batches``), part of ``quarantined``/``updated``
RULE_KEYS = ("refused_updates", "repeated_ids", "updated_across_files")


def reports_json(reports: Sequence[RunReport], *, dry_run: bool = False) -> dict[str, Any]:
    """The ``--json`` document of import/collect: totals at the top, runs below (each
    with how its files were read: ``files``, and the ``examples`` of the file rules).

    When a run failed it also has the keys of every command's error document: ``error``
    (each failed run's collector and error) and ``error_class`` (of the failure that
    decides the exit code).
    """
    code = run_exit_code(reports)
    document: dict[str, Any] = {
        **totals(reports),
        **{key: sum(getattr(r, key) for r in reports) for key in RULE_KEYS},
        "failed": sum(r.status == "failed" for r in reports),
        "dry_run": dry_run,
        "exit_code": code,
        "runs": [r.to_dict() for r in reports],
    }
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        deciding = [r for r in failed if r.error_class in DATABASE_ERROR_CLASSES] if code == EXIT_DATABASE else failed
        document["error"] = "; ".join(f"{r.collector}: {r.error}" for r in failed)
        document["error_class"] = deciding[0].error_class
    return document


def print_reports(
    reports: Sequence[RunReport], *, dry_run: bool = False, table: bool | None = None, details: bool = False
) -> None:
    """A summary table on a terminal (``table=None``: when stdout is one), else one plain
    line per run and a total line, which is what scripts read.

    :param details: after the counts, how each file was read (its text column and key;
        with ``dry_run`` every column) and the rows the file rules refused, indented.
    """
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
    if details:
        for report in reports:
            for line in report_details(report, columns=dry_run):
                click.echo(line)
    if dry_run:
        click.echo("dry run: nothing was written")


def report_details(report: RunReport, *, columns: bool = False) -> list[str]:
    """Indented lines: how each file of ``report`` was read, and the rows the file rules
    refused or let through (see ``bihuan.core.batches``).

    :param columns: every column and the field it holds (``--dry-run``), not only the
        text column and the key.
    """
    lines: list[str] = []
    for info in report.files:
        where = info.get("file", "?")
        head = f"  {where}:"
        if "header_row" in info:
            rows = info.get("header_rows") or [info["header_row"]]
            head += f" header row {'+'.join(map(str, rows))}"
            skipped = info.get("skipped_rows") or []
            if skipped:
                above = ", ".join(f"row {row['row']} {row['text']!r}" for row in skipped)
                head += f" (above it: {above})"
            head += ";"
        text = info.get("text") or {}
        key = info.get("key") or {}
        head += f" text: {text.get('column')!r}; key: {key.get('column') or 'the row content'}"
        lines.append(head)
        lines.append(f"    key: {key.get('reason', '')}")
        if len(text.get("candidates") or []) > 1 or columns:
            lines.append(f"    text: {text.get('column')!r}, {text.get('reason', '')}")
        if columns:
            mapped = [f"{name} → {field}" for field, name in (info.get("columns") or {}).items()]
            mapped += [f"{name} (counts rows {run}: not kept)" for name, run in (info.get("row_numbers") or {}).items()]
            mapped += [f"{name} → metadata" for name in info.get("metadata") or []]
            lines.append(f"    columns: {'; '.join(mapped)}")
    examples = report.examples
    if report.refused_updates:
        lines.append(
            f"  {report.refused_updates} rows quarantined: their id is stored from another file with other content, "
            f"e.g. {examples.get('refused_updates', '')}. Nothing was overwritten; --update-across-files updates "
            "them, or --no-id / --id-column COLUMN when that column is not a record id."
        )
    if report.repeated_ids:
        lines.append(
            f"  {report.repeated_ids} rows quarantined: they repeat an id read earlier in the same file with other "
            f"content, e.g. {examples.get('repeated_ids', '')}; the first row of each id is kept."
        )
    if report.updated_across_files:
        lines.append(
            f"  {report.updated_across_files} of the updated items were read from another file "
            f"(--update-across-files), e.g. {examples.get('updated_across_files', '')}."
        )
    return lines


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
            Text(display_text(report.collector)),
            Text(report.status, style="bold red" if failed else "green"),
            *(Text(f"{getattr(report, key):,}") for key in COUNT_KEYS),
            Text(display_text(f"{report.error_class}: {report.error}") if failed else ""),
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
            self._task = self._progress.add_task(display_text(safe_text(instance.name)), counts="starting")

    def update(self, report: RunReport) -> None:
        if self._progress is None or self._task is None:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-6)
        counts = (
            f"{report.read:,} read · {report.new:,} new · {report.duplicates:,} dup · "
            f"{report.quarantined:,} quarantined · {report.read / elapsed:,.0f}/s"
        )
        self._progress.update(self._task, counts=counts)
