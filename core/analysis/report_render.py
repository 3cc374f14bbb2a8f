"""The report as a shareable file: Markdown, or self-contained HTML with inline SVG charts.

Everything that came from data (group labels, channel names) is untrusted: its control,
bidi and zero-width characters are made visible (:func:`~bihuan.core.display.display_text`:
``␛``, ``<U+202E>``, a line break in a cell ``⏎``), then HTML escapes it; Markdown escapes
it too (``<script>`` becomes ``&lt;script&gt;``) and backslash-escapes the characters that
would make it a link, emphasis, code or a new table cell.
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from bihuan.core.display import display_text

if TYPE_CHECKING:  # report.py re-exports the renderers: no import of it at run time
    from bihuan.core.analysis.report import Report

__all__ = [
    "KPI_ROWS",
    "NO_PREVIOUS_DATA",
    "bucket_title",
    "change_text",
    "format_kpi",
    "period_text",
    "previous_text",
    "render_html",
    "render_markdown",
    "sparkline",
]

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

#: what the previous-period column says when that period had no items at all
NO_PREVIOUS_DATA = "no data in the previous period"


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


def change_text(delta: Any, kind: str) -> str:
    """A KPI's change against the previous period: ``+2.0 pt``, ``-3``, ``–`` for none."""
    if delta is None:
        return "–"
    if kind == "percent":
        return f"{delta * 100:+.1f} pt"
    if kind == "points":
        return f"{delta:+.1f}"
    return f"{delta:+,}"


def period_text(data: dict[str, Any]) -> str:
    """``2026-10-19 – 2026-11-15 (28 days), against the 28 days from 2026-09-21``, and
    ``(no data in the previous period)`` when those held no items."""
    period = data["period"]
    text = (
        f"{period['start']} – {period['last_day']} ({period['days']} days), "
        f"against the {period['days']} days from {period['previous_start']}"
    )
    return f"{text} ({NO_PREVIOUS_DATA})" if data["kpis"]["all"].get("no_previous_data") else text


def previous_text(values: dict[str, Any], key: str, kind: str) -> str:
    """The previous period's value of one KPI; ``no data`` for a period without items."""
    return "no data" if values.get("no_previous_data") else format_kpi(values["previous"][key], kind)


def bucket_title(entry: dict[str, Any], granularity: str) -> str:
    """``week of 2026-11-02``, ``2026-11``, with ``(partial, to …)`` for a cut one."""
    title = f"week of {entry['start']}" if granularity == "week" else entry["start"][:7]
    if not entry["partial"]:
        return title
    return f"{title} (partial, to {date.fromisoformat(entry['end']) - timedelta(days=1)})"


def _with_change(values: dict[str, Any], key: str, kind: str) -> str:
    text = format_kpi(values["current"][key], kind)
    if values["current"][key] is None:
        return text
    if values.get("no_previous_data"):
        return f"{text} (no data before)" if key == "items" else text
    return f"{text} ({change_text(values['change'][key], kind)})"


# ── Markdown ─────────────────────────────────────────────────────────────────────────

# mid-line specials (``<``, ``>``, ``&`` are HTML-escaped first): code, emphasis, links,
# strike-through, a new table cell
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text: Any) -> str:
    """Untrusted text in a Markdown table cell or list item: shown literally, one line."""
    escaped = html.escape(" ".join(display_text(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", escaped)


def _html(text: Any) -> str:
    """Untrusted text in HTML: shown literally, one line."""
    return html.escape(display_text(text))


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def render_markdown(report: Report) -> str:
    """The report as Markdown (GitHub-flavoured tables)."""
    data = report.to_dict()
    overall = data["kpis"]["all"]
    out = [
        "# bihuan report",
        "",
        f"Period {period_text(data)}. Generated {data['generated_at'][:16]} UTC.",
        "",
        "## KPIs",
        "",
        *_md_table(
            ["KPI", "this period", "previous", "change"],
            [
                [
                    title,
                    format_kpi(overall["current"][key], kind),
                    previous_text(overall, key, kind),
                    change_text(overall["change"][key], kind),
                ]
                for key, title, kind in KPI_ROWS
            ],
        ),
        "",
        "### By channel (change against the previous period)",
        "",
        *_md_table(
            ["channel", *(title for _, title, _ in KPI_ROWS)],
            [
                [_md(channel), *(_with_change(values, key, kind) for key, _, kind in KPI_ROWS)]
                for channel, values in data["kpis"].items()
                if channel != "all"
            ],
        ),
        "",
        f"### By {data['granularity']} (change against the {data['granularity']} before)",
        "",
        *_md_table(
            [data["granularity"], *(title for _, title, _ in KPI_ROWS)],
            [
                [
                    bucket_title(entry, data["granularity"]),
                    *(_with_change(entry["kpis"]["all"], key, kind) for key, _, kind in KPI_ROWS),
                ]
                for entry in data["kpi_periods"]
            ],
        ),
        "",
        f"Repeat contacts: the same customer again within {data['repeat_window_days']} days.",
        "",
        "## Root causes that hurt most",
        "",
        (
            f"{data['vital_few']} of {data['total_groups']} groups make up 80 % of the impact "
            "(volume × severity × trend); they are marked ★, above the 80 % line."
        ),
        "",
        "| # | group | volume | negative | trend | share | cumulative | weekly |",
        "|---|---|---|---|---|---|---|---|",
    ]
    line_drawn = False
    for rank, group in enumerate(data["groups"], 1):
        if not group["vital_few"] and not line_drawn:
            out.append("| | **— 80 % line —** | | | | | | |")
            line_drawn = True
        star = "★ " if group["vital_few"] else ""
        out.append(
            f"| {rank} | {star}{_md(group['label'])} (#{group['group_id']}) | {group['volume']:,} | "
            f"{group['negative_share'] * 100:.0f} % | ×{group['trend']:.2f} | {group['share'] * 100:.1f} % | "
            f"{group['cumulative_share'] * 100:.1f} % | {sparkline(group['weekly'])} |"
        )
    out += ["", f"Weekly counts: {len(data['weeks'])} weeks from {data['weeks'][0]}.", "", "## Spikes", ""]
    if data["spikes"]:
        out += [
            f"- **{_md(s['label'])}** (#{s['group_id']}): {s['count']} in the week of {s['week']}, "
            f"baseline {s['baseline']:.1f} a week (×{s['score']:.1f})"
            for s in data["spikes"]
        ]
    else:
        out.append("No group spiked in this period.")
    return "\n".join(out) + "\n"


# ── HTML ─────────────────────────────────────────────────────────────────────────────


def pareto_svg(groups: list[dict[str, Any]], width: int = 720, height: int = 260) -> str:
    """Bars of each group's impact share, the cumulative line and the 80 % line."""
    if not groups:
        return ""
    left, bottom, top = 40, 30, 10
    plot_h = height - bottom - top
    step = (width - left - 10) / len(groups)
    scale = max(g["share"] for g in groups) or 1.0
    line_y = top + plot_h * 0.2  # the cumulative axis runs 0 … 100 % bottom to top
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            'aria-label="Pareto of root-cause groups">'
        ),
        (
            f'<line x1="{left}" y1="{line_y:.1f}" x2="{width - 10}" y2="{line_y:.1f}" stroke="#c0392b" '
            'stroke-dasharray="4 3"/>'
        ),
        f'<text x="2" y="{line_y + 4:.1f}" font-size="10" fill="#c0392b">80 %</text>',
    ]
    points = []
    for i, group in enumerate(groups):
        x = left + i * step
        bar = plot_h * group["share"] / scale
        fill = "#2e86c1" if group["vital_few"] else "#aab7b8"
        title = _html(f"{group['label']}: {group['volume']} items, {group['share'] * 100:.1f} % of the impact")
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


def sparkline_svg(values: list[int], width: int = 120, height: int = 24) -> str:
    """A small line of weekly counts, scaled to its own maximum."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (height - 4) * v / top:.1f}" for i, v in enumerate(values))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="weekly counts {" ".join(map(str, values))}">'
        f'<polyline points="{points}" fill="none" stroke="#2e86c1" stroke-width="1.5"/></svg>'
    )


_STYLE = (
    "body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}"
    "td.l,th.l{text-align:left}tr.line td{border-top:2px dashed #c0392b}small{color:#666}"
)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    """``header`` and ``rows`` are already escaped; the first column is left-aligned."""
    head = "".join(f"<th{' class=l' if i == 0 else ''}>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=l' if i == 0 else ''}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (no scripts, no external files)."""
    data = report.to_dict()
    e = _html
    overall = data["kpis"]["all"]
    titles = [e(title) for _, title, _ in KPI_ROWS]
    kpi_table = _html_table(
        ["KPI", "this period", "previous", "change"],
        [
            [
                e(title),
                e(format_kpi(overall["current"][key], kind)),
                e(previous_text(overall, key, kind)),
                e(change_text(overall["change"][key], kind)),
            ]
            for key, title, kind in KPI_ROWS
        ],
    )
    channel_table = _html_table(
        ["channel", *titles],
        [
            [e(channel), *(e(_with_change(values, key, kind)) for key, _, kind in KPI_ROWS)]
            for channel, values in data["kpis"].items()
            if channel != "all"
        ],
    )
    series_table = _html_table(
        [e(data["granularity"]), *titles],
        [
            [
                e(bucket_title(entry, data["granularity"])),
                *(e(_with_change(entry["kpis"]["all"], key, kind)) for key, _, kind in KPI_ROWS),
            ]
            for entry in data["kpi_periods"]
        ],
    )
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
            f"<td>{sparkline_svg(g['weekly'])}</td></tr>"
        )
    spikes = "".join(
        f"<li><b>{e(s['label'])}</b> (#{s['group_id']}): {s['count']} in the week of {e(s['week'])}, "
        f"baseline {s['baseline']:.1f} a week (×{s['score']:.1f})</li>"
        for s in data["spikes"]
    )
    granularity = e(data["granularity"])
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>bihuan report</title>'
        f"<style>{_STYLE}</style></head><body>"
        "<h1>bihuan report</h1>"
        f"<p>Period {e(period_text(data))}. <small>Generated {e(data['generated_at'][:16])} UTC.</small></p>"
        f"<h2>KPIs</h2>{kpi_table}"
        f"<h3>By channel (change against the previous period)</h3>{channel_table}"
        f"<h3>By {granularity} (change against the {granularity} before)</h3>{series_table}"
        f"<p><small>Repeat contacts: the same customer again within {data['repeat_window_days']} days.</small></p>"
        "<h2>Root causes that hurt most</h2>"
        f"<p>{data['vital_few']} of {data['total_groups']} groups make up 80 % of the impact "
        "(volume × severity × trend), marked ★; the dashed line is the 80 % line.</p>"
        + pareto_svg(data["groups"])
        + "<table><tr><th>#</th><th class='l'>group</th><th>volume</th><th>negative</th><th>trend</th>"
        "<th>share</th><th>cumulative</th><th>weekly</th></tr>"
        + "".join(group_rows)
        + f"</table><p><small>Weekly counts: {len(data['weeks'])} weeks from {e(data['weeks'][0])}.</small></p>"
        "<h2>Spikes</h2>"
        + (f"<ul>{spikes}</ul>" if spikes else "<p>No group spiked in this period.</p>")
        + "</body></html>\n"
    )
