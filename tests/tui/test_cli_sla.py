"""``bihuan sla``, ``bihuan followups`` and the SLA part of ``bihuan tick`` on the demo data."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlmodel import col, select

from bihuan.core.sla import cases
from bihuan.storage.analysis_models import ItemAnalysis
from bihuan.storage.case_models import ItemCase
from bihuan.storage.engine import create_db_engine, session_scope
from bihuan.storage.models import FeedbackItem
from bihuan.tui.cli import cli
from bihuan.tui.context import App


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

    responded = run(
        db_url, "sla", "respond", str(ticket["item_id"]), "--expect-version", str(ticket["version"]), "--json"
    )
    assert (responded["item_id"], responded["status"]) == (ticket["item_id"], "responded")
    # exit code 4: a stale write, retryable
    stale = run(db_url, "sla", "resolve", str(ticket["item_id"]), "--expect-version", str(ticket["version"]), code=4)
    assert "was changed by someone else" in stale
    resolved = run(db_url, "sla", "resolve", str(ticket["item_id"]))
    assert "resolved; 回访 #" in resolved

    [followup] = run(db_url, "followups", "--json")
    assert followup["item_id"] == ticket["item_id"]
    assert run(db_url, "followups", "list", "--json") == [followup]
    listed = run(db_url, "sla", "list", "--json", "--limit", "5000")["cases"]
    assert listed == run(db_url, "sla", "--json", "--limit", "5000")["cases"] and len(listed) > 100
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


def test_filters_due_followups_and_the_repeat_report(db_url: str, tmp_path: Path) -> None:
    run(db_url, "demo", "--dir", str(tmp_path / "demo"), "--json")
    everything = run(db_url, "sla", "--json", "--limit", "5000")["cases"]
    breached = run(db_url, "sla", "--breached", "--channel", "ticket", "--json", "--limit", "5000")["cases"]
    assert breached and {(c["channel"], c["breached"]) for c in breached} == {("ticket", True)}
    assert breached == [c for c in everything if c["channel"] == "ticket" and c["breached"]]  # same order too

    # a customer of the demo who wrote again (not happily) days after their complaint came
    # in: resolve that complaint an hour after it came in, as if the team had been quick
    engine = create_db_engine(db_url)
    try:
        with session_scope(engine) as session:
            items = session.exec(
                select(
                    FeedbackItem.id, FeedbackItem.customer_ref, FeedbackItem.created_at, ItemAnalysis.sentiment_label
                )
                .join(ItemAnalysis, col(ItemAnalysis.item_id) == col(FeedbackItem.id))
                .where(col(FeedbackItem.customer_ref).is_not(None))
                .order_by(col(FeedbackItem.created_at))
            ).all()
            complaints = {c.item_id for c in session.exec(select(ItemCase).where(col(ItemCase.policy) == "ticket"))}
        first, later = next(
            (a.id, b.id)
            for a in items
            if a.id in complaints
            for b in items
            if b.customer_ref == a.customer_ref
            and b.created_at > a.created_at + timedelta(hours=2)
            and b.sentiment_label == "negative"
        )
        resolved_at = next(a.created_at for a in items if a.id == first) + timedelta(hours=1)
        _, followup = cases.resolve(engine, App(db=db_url).cases, first, actor="王", now=resolved_at)
    finally:
        engine.dispose()
    assert followup is not None  # due three days after that resolution: overdue now
    assert [f["id"] for f in run(db_url, "followups", "--due", "--json")] == [followup.id]

    repeats = run(db_url, "followups", "repeats", "--days", "30", "--json")
    mine = [r for r in repeats if r["item_id"] == first]
    assert later in [r["repeat_item_id"] for r in mine]
    assert all(r["resolved_at"] < r["repeat_at"] and r["text"] and r["repeat_text"] for r in mine)
    table = run(db_url, "followups", "repeats", "--days", "30")
    assert str(first) in table and "came back" in table
