"""``bihuan report``: KPIs, the root causes that hurt most, trends and spikes."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from bihuan.core.analysis.report import Report, build_report
from bihuan.core.analysis.report_render import KPI_ROWS, format_kpi, render_html, render_markdown, sparkline
from bihuan.core.errors import UsageError
from bihuan.storage import analysis_queries as aq
from bihuan.storage.engine import session_scope
from bihuan.tui.cli_collect import json_option
from bihuan.tui.context import App, pass_app
from bihuan.tui.output import emit_json, stdout_console


@click.command()
@click.option("--weeks", default=4, show_default=True, type=click.IntRange(1, 52), help="Length of the period.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 500), help="Groups to list.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report to this file: .md (Markdown) or .html (with charts).",
)
@json_option
@pass_app
def report(app: App, weeks: int, top: int, out: Path | None, as_json: bool) -> None:
    """The period's KPIs by channel, the Pareto of root-cause groups with trends, and spikes.

    Run ``bihuan analyze`` first: the report reads its results.
    """
    if out is not None and out.suffix.lower() not in (".md", ".html", ".htm"):
        raise UsageError(f"--out {out}: the file name must end in .md or .html")
    with session_scope(app.engine()) as session:
        if aq.latest_analysed_at(session=session) is None:
            raise UsageError("nothing analysed yet: run `bihuan analyze` first")
        result = build_report(session, zone=app.settings.bihuan.zone, weeks=weeks, top=top)
    if out is not None:
        text = render_markdown(result) if out.suffix.lower() == ".md" else render_html(result)
        out.write_text(text, encoding="utf-8")
    if as_json:
        emit_json({**result.to_dict(), "written": str(out) if out else None})
        return
    _print(result)
    if out is not None:
        click.echo(f"written: {out}")


def _print(result: Report) -> None:
    data = result.to_dict()
    console = stdout_console()
    period = data["period"]
    console.print(
        Text(f"Period {period['start']} – {period['end']} (exclusive); previous from {period['previous_start']}")
    )
    kpis = Table(title="KPIs", highlight=False)
    kpis.add_column("channel")
    for _, title, _ in KPI_ROWS:
        kpis.add_column(title, justify="right")
    for channel, periods in data["kpis"].items():
        kpis.add_row(Text(channel), *(Text(format_kpi(periods["current"][k], kind)) for k, _, kind in KPI_ROWS))
    console.print(kpis)
    groups = Table(
        title=f"Root causes: {data['vital_few']} of {data['total_groups']} groups make 80 % of the impact (★)",
        highlight=False,
    )
    for column, justify in (
        ("#", "right"),
        ("group", "left"),
        ("volume", "right"),
        ("negative", "right"),
        ("trend", "right"),
        ("cumulative", "right"),
        ("weeks", "left"),
    ):
        groups.add_column(column, justify=justify)  # type: ignore[arg-type]
    for rank, g in enumerate(data["groups"], 1):
        groups.add_row(
            str(rank),
            Text(f"{'★ ' if g['vital_few'] else ''}{g['label']} (#{g['group_id']})"),
            f"{g['volume']:,}",
            f"{g['negative_share'] * 100:.0f} %",
            f"×{g['trend']:.2f}",
            f"{g['cumulative_share'] * 100:.1f} %",
            sparkline(g["weekly"]),
        )
    console.print(groups)
    for s in data["spikes"]:
        console.print(
            Text(
                f"spike: {s['label']} (#{s['group_id']}) {s['count']} in the week of {s['week']}, "
                f"baseline {s['baseline']:.1f}"
            )
        )


COMMANDS = (report,)
