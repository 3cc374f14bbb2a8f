"""``bihuan sla``, ``bihuan followups`` and the SLA part of ``bihuan tick`` on the demo data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from bihuan.tui.cli import cli


def run(db: str, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, ["--db", db, *args], env={"BIHUAN_USER": "客服小李"})
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result.output


def test_cases_from_the_demo_through_respond_resolve_and_an_unhappy_followup(db_url: str, tmp_path: Path) -> None:
    run(db_url, "demo", "--dir", str(tmp_path / "demo"), "--json")
    first = run(db_url, "sla", "--json")
    assert first["opened"] > 100  # the demo's last two weeks of social, ticket, hotline and negative survey items
    assert run(db_url, "sla", "--json")["opened"] == 0
    dues = [c["due"] for c in first["cases"]]
    assert dues == sorted(dues)
    ticket = next(c for c in first["cases"] if c["channel"] == "ticket")

    assert "responded" in run(
        db_url, "sla", "respond", str(ticket["item_id"]), "--expect-version", str(ticket["version"])
    )
    stale = run(db_url, "sla", "resolve", str(ticket["item_id"]), "--expect-version", str(ticket["version"]), code=1)
    assert "was changed by someone else" in stale
    resolved = run(db_url, "sla", "resolve", str(ticket["item_id"]))
    assert "resolved; 回访 #" in resolved

    [followup] = run(db_url, "followups", "--json")
    assert followup["item_id"] == ticket["item_id"]
    recorded = run(
        db_url, "followups", "record", str(followup["id"]), "--outcome", "unsatisfied", "--satisfaction", "1", "--json"
    )
    assert recorded["reopened"] is True
    again = run(db_url, "sla", "--json", "--limit", "5000")
    reopened = next(c for c in again["cases"] if c["item_id"] == ticket["item_id"])
    assert reopened["status"] == "reopened"
    assert run(db_url, "followups", "--json") == []

    tick = run(db_url, "tick", "--json")
    assert tick["cases_opened"] == 0 and isinstance(tick["sla_breaches"], list)
