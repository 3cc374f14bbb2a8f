"""``bihuan collect`` with several HTTP sources configured in plugins.toml, against a real
server on 127.0.0.1: each collector runs on its own, a failing one is reported with its
error class and does not stop the others, the summary and ``--json`` say the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from bihuan.core.pipeline import RunReport
from bihuan.tui.cli import cli
from bihuan.tui.output import print_reports
from tests.apiserver import Reply
from tests.collectors.http.conftest import stored

CONFIG = """
[collectors.complaints]
collector = "json_api"
base_url = "{url}/complaints"
channel = "ticket"
items_path = "items"
fields = {{ external_id = "id", text = "content", created_at = "at" }}
retries = 1
backoff_seconds = 0.01

[collectors.tickets]
collector = "zendesk_tickets"
base_url = "{url}"
api_token = {{ "$env" = "ZD_TOKEN" }}
retries = 1
backoff_seconds = 0.01

[collectors.reviews]
collector = "json_api"
base_url = "{url}/reviews"
channel = "app_review"
items_path = "items"
fields = {{ external_id = "id", text = "content", created_at = "at" }}
retries = 1
backoff_seconds = 0.01
"""


@pytest.fixture
def sources(api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    complaints = [{"id": f"C{n}", "content": f"信用卡提额太慢 {n}", "at": "2026-11-20T09:00:00+08:00"} for n in (1, 2)]
    api.route("GET", "/complaints", lambda r: Reply(body={"items": complaints}))
    # the ticket system refuses the token; the review platform is down
    api.route("GET", "/api/v2/users/me.json", lambda r: Reply(401, {"error": "Couldn't authenticate you"}))
    api.route("GET", "/api/v2/incremental/tickets/cursor.json", lambda r: Reply(401, {}))
    api.route("GET", "/reviews", lambda r: Reply(503, {"error": "maintenance"}))
    monkeypatch.setenv("ZD_TOKEN", "zd-SECRET-789")
    config = tmp_path / "plugins.toml"
    config.write_text(CONFIG.format(url=api.url), encoding="utf-8")
    return config


def _collect(db_url: str, config: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", db_url, "--config", str(config), "collect", *args])


def test_one_failing_source_is_reported_with_its_class_and_the_others_go_on(
    db_url: str, engine: Engine, sources: Path
) -> None:
    result = _collect(db_url, sources, "--json")
    assert result.exit_code == 1, result.output  # a transient failure is not a usage error
    report = json.loads(result.stdout)
    runs = {r["collector"]: r for r in report["runs"]}
    assert list(runs) == ["complaints", "tickets", "reviews"]
    assert (runs["complaints"]["status"], runs["complaints"]["new"]) == ("succeeded", 2)
    assert (runs["tickets"]["status"], runs["tickets"]["error_class"]) == ("failed", "auth")
    assert (runs["reviews"]["status"], runs["reviews"]["error_class"]) == ("failed", "transient")
    assert (report["new"], report["failed"], report["exit_code"]) == (2, 2, 1)
    assert "SECRET" not in result.output
    assert sorted(stored(engine, "complaints")) == ["C1", "C2"]

    again = _collect(db_url, sources, "complaints")  # one instance by name; piped: plain lines
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == ["complaints: read 2 new 0 updated 0 duplicates 2 quarantined 0"]


def test_on_a_terminal_the_summary_is_a_table_with_totals(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    reports = [
        RunReport("complaints", "json_api", "complaints", status="succeeded", read=1200, new=1150, duplicates=50),
        RunReport("reviews", "json_api", "reviews", status="failed", error_class="transient", error="HTTP 503"),
    ]
    print_reports(reports, table=True)
    rows = [" ".join(line.replace("│", " ").split()) for line in capsys.readouterr().out.splitlines()]
    assert "complaints succeeded 1,200 1,150 0 50 0" in rows
    assert "reviews failed 0 0 0 0 0 transient: HTTP 503" in rows
    assert "total 1,200 1,150 0 50 0" in rows
