"""``bihuan report``: KPIs, the root causes that hurt most, trends and spikes."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from bihuan.core.analysis.report import Report, build_report, render_html, render_markdown
from bihuan.core.analysis.report_render import (
    KPI_ROWS,
    bucket_title,
    change_text,
    format_kpi,
    period_text,
    previous_text,
    sparkline,
)
from bihuan.core.display import display_text
from bihuan.core.errors import UsageError
from bihuan.storage import analysis_queries as aq
from bihuan.storage.engine import session_scope
from bihuan.tui.cli_collect import json_option
from bihuan.tui.context import App, pass_app
from bihuan.tui.output import emit_json, stdout_console

_DAY = click.DateTime(formats=["%Y-%m-%d"])


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@click.command()
@click.option("--since", type=_DAY, help="First day of the period (YYYY-MM-DD, local time, inclusive).")
@click.option("--until", type=_DAY, help="Last day of the period (YYYY-MM-DD, local time, inclusive).")
@click.option(
    "--weeks",
    default=4,
    show_default=True,
    type=click.IntRange(1, 520),
    help="Length of the period without --since: the complete weeks before today's week (in the configured zone).",
)
@click.option("--by", "by", type=click.Choice(["week", "month"]), default="week", show_default=True, help="KPIs by.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 500), help="Groups to list.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report to this file: .md (Markdown) or .html (with charts).",
)
@json_option
@pass_app
def report(
    app: App,
    since: datetime | None,
    until: datetime | None,
    weeks: int,
    by: str,
    top: int,
    out: Path | None,
    as_json: bool,
) -> None:
    """The period's KPIs by channel and by week or month against the period before, the
    Pareto of root-cause groups with the 80 % line and weekly trends, and spikes.

    Run ``bihuan analyze`` first: the report reads its results. Exit codes: 0 done, 2 bad
    options or nothing analysed yet, 1 any other failure.
    """
    if out is not None and out.suffix.lower() not in (".md", ".html", ".htm"):
        raise UsageError(f"--out {out}: the file name must end in .md or .html")
    settings = app.settings
    with session_scope(app.engine()) as session:
        if aq.latest_analysed_at(session=session) is None:
            raise UsageError("nothing analysed yet: run `bihuan analyze` first")
        result = build_report(
            session,
            zone=settings.bihuan.zone,
            since=_day(since),
            until=_day(until),
            weeks=weeks,
            by="month" if by == "month" else "week",
            top=top,
            repeat_window_days=settings.analysis.repeat_window_days,
        )
    if out is not None:
        text = render_markdown(result) if out.suffix.lower() == ".md" else render_html(result)
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot write it ({exc.strerror or exc})") from None
    if as_json:
        emit_json({**result.to_dict(), "written": str(out) if out else None})
        return
    _print(result)
    if out is not None:
        click.echo(f"written: {out}")


#: terminal column titles of the KPIs (the files use the long ones)
_SHORT = {"items": "items", "complaints": "complaints", "negative_share": "neg.", "csat": "CSAT", "nps": "NPS"}


def _short(key: str) -> str:
    return _SHORT.get(key, "repeat")


def _values_table(title: str, first: str, rows: list[tuple[str, dict[str, Any]]]) -> Table:
    """One row per channel or week: this period's values (changes are in the files and --json)."""
    table = Table(title=title, highlight=False)
    table.add_column(first, overflow="fold")
    for key, _, _ in KPI_ROWS:
        table.add_column(_short(key), justify="right", no_wrap=True)
    for label, values in rows:
        table.add_row(
            Text(display_text(label)), *(Text(format_kpi(values["current"][key], kind)) for key, _, kind in KPI_ROWS)
        )
    return table


def _print(result: Report) -> None:
    data = result.to_dict()
    console = stdout_console()
    console.print(Text(f"Period {period_text(data)}"))
    overall = data["kpis"]["all"]
    kpis = Table(title="KPIs, all channels", highlight=False)
    for column, justify in (("KPI", "left"), ("this period", "right"), ("previous", "right"), ("change", "right")):
        kpis.add_column(column, justify=justify)  # type: ignore[arg-type]
    for key, title, kind in KPI_ROWS:
        kpis.add_row(
            title,
            format_kpi(overall["current"][key], kind),
            previous_text(overall, key, kind),
            change_text(overall["change"][key], kind),
        )
    console.print(kpis)
    channels = [(channel, values) for channel, values in data["kpis"].items() if channel != "all"]
    console.print(_values_table("By channel", "channel", channels))
    granularity = data["granularity"]
    series = [(bucket_title(entry, granularity), entry["kpis"]["all"]) for entry in data["kpi_periods"]]
    console.print(_values_table(f"By {granularity}", granularity, series))
    groups = Table(
        title=f"Root causes: {data['vital_few']} of {data['total_groups']} groups make 80 % of the impact (★)",
        caption=f"cum.: cumulative share of the impact; weekly: {len(data['weeks'])} weeks from {data['weeks'][0]}",
        highlight=False,
    )
    groups.add_column("#", justify="right")
    groups.add_column("group", overflow="fold", min_width=14)
    for column in ("vol.", "neg.", "trend", "cum."):
        groups.add_column(column, justify="right", no_wrap=True)
    groups.add_column("weekly", no_wrap=True)
    line_drawn = False
    for rank, g in enumerate(data["groups"], 1):
        if not g["vital_few"] and not line_drawn:
            groups.add_section()  # the 80 % line
            line_drawn = True
        groups.add_row(
            str(rank),
            Text(f"{'★ ' if g['vital_few'] else ''}{display_text(g['label'])} (#{g['group_id']})"),
            f"{g['volume']:,}",
            f"{g['negative_share'] * 100:.0f} %",
            f"×{g['trend']:.2f}",
            f"{g['cumulative_share'] * 100:.1f} %",
            sparkline(g["weekly"]),
        )
    console.print(groups)
    if not data["spikes"]:
        console.print(Text("no spikes in this period"))
    for s in data["spikes"]:
        console.print(
            Text(
                f"spike: {display_text(s['label'])} (#{s['group_id']}) {s['count']} in the week of {s['week']}, "
                f"baseline {s['baseline']:.1f} a week (×{s['score']:.1f})"
            )
        )


COMMANDS = (report,)
