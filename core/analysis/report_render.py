"""The report as a shareable file: Markdown, or self-contained HTML with inline SVG charts.

Group labels and everything else that came from data are escaped (HTML) or neutralised
(Markdown table cells): a label is text, never markup.
"""

from __future__ import annotations

import html
from typing import Any

from bihuan.core.analysis.report import Report

__all__ = ["KPI_ROWS", "format_kpi", "render_html", "render_markdown", "sparkline"]

#: (key, title, kind) of the KPI rows, in the order a team reads them
KPI_ROWS: tuple[tuple[str, str, str], ...] = (
    ("items", "Feedback items", "count"),
    ("complaints", "Complaints (negative)", "count"),
    ("negative_share", "Negative share", "percent"),
    ("csat", "CSAT (ratings 4–5)", "percent"),
    ("nps", "NPS", "points"),
    ("repeat_rate", "Repeat-contact rate", "percent"),
)

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int] | tuple[int, ...]) -> str:
    """``▁▃█``-style line of weekly counts (empty for no values)."""
    if not values:
        return ""
    top = max(values) or 1
    return "".join(_BARS[min(len(_BARS) - 1, round(v / top * (len(_BARS) - 1)))] for v in values)


def format_kpi(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "percent":
        return f"{value * 100:.1f} %"
    if kind == "points":
        return f"{value:+.1f}"
    return f"{value:,}"


def _change(current: Any, previous: Any, kind: str) -> str:
    if current is None or previous is None:
        return "–"
    delta = current - previous
    if kind == "percent":
        return f"{delta * 100:+.1f} pt"
    if kind == "points":
        return f"{delta:+.1f}"
    return f"{delta:+,}"


def _cell(text: Any) -> str:
    """A Markdown table cell: no pipes, no line breaks, no HTML."""
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _kpi_table(kpis: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| KPI | this period | previous | change |", "|---|---|---|---|"]
    current, previous = kpis["all"]["current"], kpis["all"]["previous"]
    for key, title, kind in KPI_ROWS:
        lines.append(
            f"| {title} | {format_kpi(current[key], kind)} | {format_kpi(previous[key], kind)} | "
            f"{_change(current[key], previous[key], kind)} |"
        )
    return lines


def _channel_table(kpis: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| channel | " + " | ".join(title for _, title, _ in KPI_ROWS) + " |",
        "|---|" + "---|" * len(KPI_ROWS),
    ]
    for channel, periods in kpis.items():
        if channel == "all":
            continue
        cells = [format_kpi(periods["current"][key], kind) for key, _, kind in KPI_ROWS]
        lines.append(f"| {_cell(channel)} | " + " | ".join(cells) + " |")
    return lines


def render_markdown(report: Report) -> str:
    data = report.to_dict()
    period = data["period"]
    out = [
        "# bihuan report",
        "",
        (
            f"Period: {period['start']} – {period['end']} (exclusive), compared with the weeks from "
            f"{period['previous_start']}. Generated {data['generated_at'][:16]} UTC."
        ),
        "",
        "## KPIs",
        "",
        *_kpi_table(data["kpis"]),
        "",
        "### By channel (this period)",
        "",
        *_channel_table(data["kpis"]),
        "",
        "## Root causes that hurt most",
        "",
        (
            f"{data['vital_few']} of {data['total_groups']} groups make up 80 % of the impact "
            "(volume × severity × trend); they are marked ★ (the 80 % line)."
        ),
        "",
        "| # | group | volume | negative | trend | share | cumulative | last weeks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    line_drawn = False
    for rank, group in enumerate(data["groups"], 1):
        if not group["vital_few"] and not line_drawn:
            out.append("| | **— 80 % line —** | | | | | | |")
            line_drawn = True
        star = "★ " if group["vital_few"] else ""
        out.append(
            f"| {rank} | {star}{_cell(group['label'])} (#{group['group_id']}) | {group['volume']:,} | "
            f"{group['negative_share'] * 100:.0f} % | ×{group['trend']:.2f} | {group['share'] * 100:.1f} % | "
            f"{group['cumulative_share'] * 100:.1f} % | {sparkline(group['weekly'])} |"
        )
    out += ["", "## Spikes", ""]
    if data["spikes"]:
        out += [
            f"- **{_cell(s['label'])}** (#{s['group_id']}): {s['count']} in the week of {s['week']}, "
            f"baseline {s['baseline']:.1f} a week (×{s['score']:.1f})"
            for s in data["spikes"]
        ]
    else:
        out.append("No group spiked in this period.")
    return "\n".join(out) + "\n"


# ── HTML ─────────────────────────────────────────────────────────────────────────────


def _pareto_svg(groups: list[dict[str, Any]], width: int = 720, height: int = 260) -> str:
    """Bars of each group's impact share, the cumulative line and the 80 % line."""
    if not groups:
        return ""
    left, bottom, top = 40, 30, 10
    plot_h = height - bottom - top
    step = (width - left - 10) / len(groups)
    scale = max(g["share"] for g in groups) or 1.0
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            'aria-label="Pareto of root-cause groups">'
        ),
        (
            f'<line x1="{left}" y1="{top + plot_h * 0.2:.1f}" x2="{width - 10}" y2="{top + plot_h * 0.2:.1f}" '
            'stroke="#c0392b" stroke-dasharray="4 3"/>'
        ),
        f'<text x="2" y="{top + plot_h * 0.2 + 4:.1f}" font-size="10" fill="#c0392b">80 %</text>',
    ]
    points = []
    for i, group in enumerate(groups):
        x = left + i * step
        bar = plot_h * group["share"] / scale
        fill = "#2e86c1" if group["vital_few"] else "#aab7b8"
        title = html.escape(f"{group['label']}: {group['volume']} items, {group['share'] * 100:.1f} %")
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{top + plot_h - bar:.1f}" width="{max(step - 4, 1):.1f}" '
            f'height="{bar:.1f}" fill="{fill}"><title>{title}</title></rect>'
        )
        parts.append(
            f'<text x="{x + step / 2:.1f}" y="{height - 12}" font-size="10" text-anchor="middle">{i + 1}</text>'
        )
        points.append(f"{x + step / 2:.1f},{top + plot_h * (1 - group['cumulative_share']):.1f}")
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def _sparkline_svg(values: list[int], width: int = 120, height: int = 24) -> str:
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (height - 4) * v / top:.1f}" for i, v in enumerate(values))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<polyline points="{points}" fill="none" stroke="#2e86c1" stroke-width="1.5"/></svg>'
    )


_STYLE = (
    "body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}"
    "td.l,th.l{text-align:left}tr.line td{border-top:2px dashed #c0392b}"
)


def render_html(report: Report) -> str:
    data = report.to_dict()
    e = html.escape
    period = data["period"]
    kpi_rows = []
    current, previous = data["kpis"]["all"]["current"], data["kpis"]["all"]["previous"]
    for key, title, kind in KPI_ROWS:
        kpi_rows.append(
            f'<tr><td class="l">{e(title)}</td><td>{e(format_kpi(current[key], kind))}</td>'
            f"<td>{e(format_kpi(previous[key], kind))}</td><td>{e(_change(current[key], previous[key], kind))}</td></tr>"
        )
    channel_rows = [
        f'<tr><td class="l">{e(channel)}</td>'
        + "".join(f"<td>{e(format_kpi(p['current'][key], kind))}</td>" for key, _, kind in KPI_ROWS)
        + "</tr>"
        for channel, p in data["kpis"].items()
        if channel != "all"
    ]
    group_rows = []
    line_drawn = False
    for rank, g in enumerate(data["groups"], 1):
        css = ""
        if not g["vital_few"] and not line_drawn:
            css, line_drawn = ' class="line"', True
        group_rows.append(
            f'<tr{css}><td>{rank}</td><td class="l">{"★ " if g["vital_few"] else ""}{e(g["label"])} '
            f"(#{g['group_id']})</td><td>{g['volume']:,}</td><td>{g['negative_share'] * 100:.0f} %</td>"
            f"<td>×{g['trend']:.2f}</td><td>{g['share'] * 100:.1f} %</td><td>{g['cumulative_share'] * 100:.1f} %</td>"
            f"<td>{_sparkline_svg(g['weekly'])}</td></tr>"
        )
    spikes = "".join(
        f"<li><b>{e(s['label'])}</b> (#{s['group_id']}): {s['count']} in the week of {e(s['week'])}, "
        f"baseline {s['baseline']:.1f} a week (×{s['score']:.1f})</li>"
        for s in data["spikes"]
    )
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>bihuan report</title>'
        f"<style>{_STYLE}</style></head><body>"
        "<h1>bihuan report</h1>"
        f"<p>Period {e(period['start'])} – {e(period['end'])} (exclusive), compared with the weeks from "
        f"{e(period['previous_start'])}.</p>"
        "<h2>KPIs</h2><table><tr><th class='l'>KPI</th><th>this period</th><th>previous</th><th>change</th></tr>"
        + "".join(kpi_rows)
        + "</table><h3>By channel (this period)</h3><table><tr><th class='l'>channel</th>"
        + "".join(f"<th>{e(title)}</th>" for _, title, _ in KPI_ROWS)
        + "</tr>"
        + "".join(channel_rows)
        + "</table><h2>Root causes that hurt most</h2>"
        f"<p>{data['vital_few']} of {data['total_groups']} groups make up 80 % of the impact "
        "(volume × severity × trend), marked ★; the dashed line is the 80 % line.</p>"
        + _pareto_svg(data["groups"])
        + "<table><tr><th>#</th><th class='l'>group</th><th>volume</th><th>negative</th><th>trend</th>"
        "<th>share</th><th>cumulative</th><th>weekly</th></tr>"
        + "".join(group_rows)
        + "</table><h2>Spikes</h2>"
        + (f"<ul>{spikes}</ul>" if spikes else "<p>No group spiked in this period.</p>")
        + "</body></html>\n"
    )
