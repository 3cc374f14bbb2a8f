"""The analysis tables on SQLite and PostgreSQL: pending work, results, groups, history."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine

from bihuan.storage import analysis_queries as aq
from bihuan.storage import bulk
from bihuan.storage.analysis_models import GroupAction, IssueGroup
from bihuan.storage.engine import session_scope
from bihuan.tui.cli import cli

WHEN = datetime(2026, 10, 8, 2, 0, tzinfo=UTC)


def add_items(engine: Engine, count: int, *, text: str = "手机银行转账失败") -> None:
    rows = [
        ("survey", f"S{i}", "survey", f"{text}{i}", 2.0, 3, f"C{i % 7}", WHEN, None, None, f"hash{i}")
        for i in range(count)
    ]
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(rows, run_id=None, now=WHEN, session=session)


def result(item_id: int, content_hash: str, group_id: int | None) -> dict:
    return {
        "item_id": item_id,
        "content_hash": content_hash,
        "language": "zh",
        "sentiment": 0.1,
        "sentiment_label": "negative",
        "keywords": ["转账", "失败"],
        "categories": ["transfer_payment"],
        "category": "transfer_payment",
        "group_id": group_id,
        "duplicate_of": None,
        "model": "test",
        "analysed_at": WHEN,
    }


def test_pending_items_are_the_unanalysed_and_the_changed(engine: Engine) -> None:
    add_items(engine, 5)
    with session_scope(engine) as session:
        pending = aq.pending_items(after_id=0, limit=100, session=session)
        assert aq.count_pending(session=session) == 5
    assert [p.text for p in pending][:2] == ["手机银行转账失败0", "手机银行转账失败1"]

    with session_scope(engine, write=True) as session:
        session.add(IssueGroup(id=1, label="转账·失败", category="transfer_payment"))
        session.flush()
        aq.upsert_results([result(p.id, p.content_hash, 1) for p in pending], session=session)
    with session_scope(engine) as session:
        assert aq.count_pending(session=session) == 0
        assert aq.group_sizes(session=session) == {1: 5}

    # an item whose content changed is pending again; keyset paging skips what is before
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(
            [("survey", "S3", "survey", "改过了", None, None, None, WHEN, None, None, "new-hash")],
            run_id=None,
            now=WHEN,
            session=session,
        )
    with session_scope(engine) as session:
        [again] = aq.pending_items(after_id=0, limit=100, session=session)
        assert again.text == "改过了"
        assert aq.pending_items(after_id=again.id, limit=100, session=session) == []
        aq.upsert_results([result(again.id, again.content_hash, None)], session=session)


def test_rows_for_trends_stream_with_their_group(engine: Engine) -> None:
    add_items(engine, 3)
    with session_scope(engine, write=True) as session:
        session.add(IssueGroup(id=4, label="转账"))
        session.flush()
        pending = aq.pending_items(after_id=0, limit=10, session=session)
        aq.upsert_results([result(p.id, p.content_hash, 4) for p in pending], session=session)
    with session_scope(engine) as session:
        rows = list(aq.analysed_rows(since=WHEN, session=session))
    assert {(r.group_id, r.channel, r.sentiment_label) for r in rows} == {(4, "survey", "negative")}
    assert all(r.created_at == WHEN for r in rows)


def test_spikes_and_state_are_recorded_once(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        session.add(IssueGroup(id=2, label="热线"))
        session.flush()
        assert not aq.spike_seen(2, date(2026, 11, 9), session=session)
        aq.add_spike(2, date(2026, 11, 9), 40, 9.5, 7.2, session=session)
        aq.save_state("keywords", {"documents": 3}, session=session)
        aq.save_state("keywords", {"documents": 4}, session=session)
    with session_scope(engine) as session:
        assert aq.spike_seen(2, date(2026, 11, 9), session=session)
        assert aq.load_state("keywords", session=session) == {"documents": 4}
        assert aq.load_state("missing", session=session) is None


def test_rename_from_the_cli_locks_the_label_and_keeps_history(db_url: str, engine: Engine, tmp_path: Path) -> None:
    with session_scope(engine, write=True) as session:
        session.add(IssueGroup(id=7, label="提额·申请·回复"))
        session.flush()
        aq.add_group_event(7, GroupAction.CREATED, {"label": "提额·申请·回复"}, session=session)
    runner = CliRunner()
    renamed = runner.invoke(cli, ["--db", db_url, "groups", "rename", "7", "信用卡提额慢", "--by", "王经理"])
    assert renamed.exit_code == 0, renamed.output
    shown = runner.invoke(cli, ["--db", db_url, "groups", "show", "7"])
    assert "信用卡提额慢" in shown.output and "王经理: renamed" in shown.output
    with session_scope(engine) as session:
        group = aq.get_group(7, session=session)
        assert group is not None and group.label_locked and group.version == 2
    listed = runner.invoke(cli, ["--db", db_url, "groups", "list", "--json"])
    assert [(g["id"], g["label"], g["items"]) for g in json.loads(listed.output)] == [(7, "信用卡提额慢", 0)]
    missing = runner.invoke(cli, ["--db", db_url, "groups", "rename", "99", "x"])
    assert missing.exit_code == 2 and "no group 99" in missing.output


def test_the_pending_summary_counts_and_finds_where_the_work_starts(engine: Engine) -> None:
    add_items(engine, 6)
    with session_scope(engine) as session:
        items = aq.pending_items(after_id=0, limit=100, session=session)
        assert aq.pending_summary(session=session) == aq.PendingSummary(6, WHEN, items[0].id)
    with session_scope(engine, write=True) as session:
        aq.upsert_results([result(p.id, p.content_hash, None) for p in items], session=session)
    with session_scope(engine) as session:
        assert aq.pending_summary(session=session) == aq.PendingSummary(0, None, None)

    # an old item changed and a new one arrived: the work starts at the changed one
    later = datetime(2026, 10, 20, tzinfo=UTC)
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(
            [
                ("survey", "S2", "survey", "改过了", None, None, None, WHEN, None, None, "new-hash"),
                ("survey", "S9", "survey", "新来的", None, None, None, later, None, None, "h9"),
            ],
            run_id=None,
            now=later,
            session=session,
        )
    with session_scope(engine) as session:
        summary = aq.pending_summary(session=session)
        assert (summary.count, summary.earliest, summary.first_id) == (2, WHEN, items[2].id)


def test_recent_analysed_items_come_in_id_order_from_a_moment_on(engine: Engine) -> None:
    """What primes the repeat linker: current results only, created at or after the
    moment, in id order even when ids and times disagree (a late import of old items)."""
    times = [datetime(2026, 10, day, tzinfo=UTC) for day in (9, 2, 7, 8, 1, 10)]
    rows = [
        ("ticket", f"T{i}", "ticket", f"转账失败第{i}次", None, None, f"C{i}", at, None, None, f"t{i}")
        for i, at in enumerate(times)
    ]
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(rows, run_id=None, now=WHEN, session=session)
        session.add(IssueGroup(id=3, label="转账"))
        session.flush()
        items = aq.pending_items(after_id=0, limit=100, session=session)
        aq.upsert_results([result(p.id, p.content_hash, 3) for p in items], session=session)
        # T5 changed since it was analysed: its result is stale and left out
        bulk.upsert_items(
            [("ticket", "T5", "ticket", "改了", None, None, "C5", times[5], None, None, "t5-new")],
            run_id=None,
            now=WHEN,
            session=session,
        )
    with session_scope(engine) as session:
        recent = list(aq.recent_analysed(since=datetime(2026, 10, 7, tzinfo=UTC), session=session))
    by_external = {p.id: int(p.text[5:-1]) for p in items}
    assert [by_external[r.item_id] for r in recent] == [0, 2, 3]
    assert [r.customer_ref for r in recent] == ["C0", "C2", "C3"] and {r.group_id for r in recent} == {3}


def test_results_are_stored_as_a_core_statement_stores_them(engine: Engine) -> None:
    """upsert_results writes at driver level: every column as SQLAlchemy's own statement
    would write it (JSON text, timestamps, NULLs), inserted and updated on conflict."""
    from sqlalchemy import Text, select
    from sqlalchemy.dialects import postgresql, sqlite

    from bihuan.storage.analysis_models import ItemAnalysis

    table = ItemAnalysis.__table__  # type: ignore[attr-defined]
    add_items(engine, 8)
    at = datetime(2026, 10, 9, 3, 4, 5, 123456, tzinfo=UTC)

    def values(n: int, item_id: int, content_hash: str) -> dict:
        return {
            "item_id": item_id,
            "content_hash": content_hash,
            "language": "zh" if n % 2 else "en",
            "sentiment": 0.25 + n / 100,
            "sentiment_label": "negative",
            "keywords": ["转账", "失败", 'a"b'][: n % 4],
            "categories": ["transfer_payment"] if n % 2 else [],
            "category": "transfer_payment" if n % 2 else None,
            "group_id": 1 if n % 3 else None,
            "duplicate_of": None,
            "text_key": (n * 2654435761) % 2**63 - 2**62 if n % 4 else None,
            "model": "test",
            "analysed_at": at,
        }

    def core_upsert(rows: list[dict], session: Any) -> None:  # the statement it replaced
        conn = session.connection()
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(table)
        updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != "item_id"}
        conn.execute(stmt.on_conflict_do_update(index_elements=["item_id"], set_=updates), rows)

    with session_scope(engine, write=True) as session:
        session.add(IssueGroup(id=1, label="转账"))
        session.flush()
        items = aq.pending_items(after_id=0, limit=100, session=session)
        ours, theirs = items[:4], items[4:]
        aq.upsert_results([values(n, p.id, p.content_hash) for n, p in enumerate(ours)], session=session)
        core_upsert([values(n, p.id, p.content_hash) for n, p in enumerate(theirs)], session)
        # again, changed: the update path
        aq.upsert_results([values(n + 1, p.id, "v2") for n, p in enumerate(ours)], session=session)
        core_upsert([values(n + 1, p.id, "v2") for n, p in enumerate(theirs)], session)

    def stored(ids: list[int]) -> list[tuple]:
        # JSON as the text stored (PostgreSQL's json type keeps it as written)
        cols = [
            c.cast(Text) if c.name in ("keywords", "categories") else c for c in table.columns if c.name != "item_id"
        ]
        with engine.connect() as conn:
            return [
                tuple(r) for r in conn.execute(select(*cols).where(table.c.item_id.in_(ids)).order_by(table.c.item_id))
            ]

    assert stored([p.id for p in ours]) == stored([p.id for p in theirs])
    assert len(stored([p.id for p in ours])) == 4
