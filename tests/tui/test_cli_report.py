"""``bihuan report`` on the analysed demo: terminal, JSON, Markdown and HTML."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bihuan.tui.cli import cli


def invoke(db: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_report_shows_kpis_pareto_and_the_spike_and_writes_shareable_files(db_url: str, tmp_path: Path) -> None:
    invoke(db_url, "demo", "--dir", str(tmp_path / "demo"), "--no-analyze", "--json")
    analysed = json.loads(invoke(db_url, "analyze", "--json"))
    data = json.loads(invoke(db_url, "report", "--json", "--top", "8"))
    overall = data["kpis"]["all"]["current"]
    assert overall["items"] > 800 and 0 < overall["negative_share"] < 1 and overall["csat"] is not None
    assert set(data["kpis"]) == {"all", "survey", "social", "ticket", "hotline"}
    groups = data["groups"]
    assert len(groups) == 8 and groups[0]["vital_few"]
    assert [g["cumulative_share"] for g in groups] == sorted(g["cumulative_share"] for g in groups)
    assert all(len(g["weekly"]) == len(data["weeks"]) == 12 for g in groups)
    # the demo's transfer spike: found by analyze, listed by the report
    assert analysed["spikes"] and data["spikes"][0]["group_id"] == analysed["spikes"][0]["group_id"]

    # a group label is untrusted text: renamed to markup, it stays text everywhere
    top = str(groups[0]["group_id"])
    invoke(db_url, "groups", "rename", top, "<script>alert(1)</script> | [bold]x[/bold]")
    markdown, page = tmp_path / "r.md", tmp_path / "r.html"
    invoke(db_url, "report", "--out", str(markdown))
    invoke(db_url, "report", "--out", str(page))
    md = markdown.read_text(encoding="utf-8")
    assert "| KPI | this period | previous | change |" in md and "★" in md and "80 % line" in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\| \\[bold\\]x\\[/bold\\]" in md
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "<polyline" in html and "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    terminal = invoke(db_url, "report")
    assert "[bold]x[/bold]" in terminal and "spike:" in terminal
    assert "KPIs, all channels" in terminal and "By channel" in terminal and "By week" in terminal


def test_report_periods_from_the_command_line(db_url: str, tmp_path: Path) -> None:
    invoke(db_url, "demo", "--dir", str(tmp_path / "demo"), "--json")  # dated up to today
    default = json.loads(invoke(db_url, "report", "--json"))
    since, until = default["period"]["previous_start"], default["period"]["last_day"]
    both = json.loads(invoke(db_url, "report", "--json", "--since", since, "--until", until, "--by", "month"))
    assert (both["period"]["start"], both["period"]["last_day"], both["period"]["days"]) == (since, until, 56)
    # the eight weeks hold exactly the default period's four and the four before
    assert both["kpis"]["all"]["current"]["items"] == sum(
        default["kpis"]["all"][p]["items"] for p in ("current", "previous")
    )
    months = both["kpi_periods"]
    assert both["granularity"] == "month" and all(m["start"].endswith("-01") for m in months)
    assert months[0]["start"] <= since and months[-1]["end"] == default["period"]["end"]
    assert not any(m["partial"] for m in months[:-1])

    two = json.loads(invoke(db_url, "report", "--json", "--weeks", "2"))
    assert two["period"]["days"] == 14 and len(two["kpi_periods"]) == 2
    assert (
        sum(p["kpis"]["all"]["current"]["items"] for p in two["kpi_periods"]) == two["kpis"]["all"]["current"]["items"]
    )
    terminal = invoke(db_url, "report", "--since", since, "--until", until, "--by", "month")
    assert f"Period {since} – {until} (56 days)" in terminal and "By month" in terminal
    backwards = CliRunner().invoke(cli, ["--db", db_url, "report", "--since", until, "--until", since])
    assert backwards.exit_code == 2 and "period is empty" in backwards.output


def test_report_before_analysis_and_bad_out_are_usage_errors(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(cli, ["--db", db_url, "report"])
    assert empty.exit_code == 2 and "bihuan analyze" in empty.output
    wrong = runner.invoke(cli, ["--db", db_url, "report", "--out", str(tmp_path / "r.pdf")])
    assert wrong.exit_code == 2 and ".md or .html" in wrong.output
    bad_day = runner.invoke(cli, ["--db", db_url, "report", "--since", "2026-13-01"])
    assert bad_day.exit_code == 2 and "--since" in bad_day.output


def test_the_default_period_is_anchored_on_today_and_an_empty_previous_period_says_so(
    db_url: str, tmp_path: Path
) -> None:
    """One row dated 2099 (stored here under a wide horizon, as before the horizon existed)
    does not move the report to 2099: the period is the four complete weeks before today's
    week. Nothing came before them, which the report says instead of "+20"."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    today = datetime.now(zone).date()
    monday = today - timedelta(days=today.weekday())
    rows = [f"R{k},{monday - timedelta(days=k)} 10:00,手机银行转账失败第{k}次\n" for k in range(1, 21)]
    rows.append("R99,2099-01-01 10:00,年份写错了\n")
    path = tmp_path / "recent.csv"
    path.write_text("编号,提交时间,意见\n" + "".join(rows), encoding="utf-8")
    wide = tmp_path / "wide.toml"
    wide.write_text("[bihuan]\nfuture_horizon_days = 30000\n", encoding="utf-8")
    imported = json.loads(invoke(db_url, "--config", str(wide), "import", str(path), "--json"))
    assert imported["new"] == 21
    invoke(db_url, "analyze", "--json")

    data = json.loads(invoke(db_url, "report", "--json"))
    assert (data["period"]["start"], data["period"]["end"]) == (str(monday - timedelta(weeks=4)), str(monday))
    overall = data["kpis"]["all"]
    assert (overall["current"]["items"], overall["previous"]["items"]) == (20, 0)
    assert overall["no_previous_data"] is True and overall["change"]["items"] is None
    terminal = invoke(db_url, "report")
    assert "no data in the previous period" in terminal and "+20" not in terminal
