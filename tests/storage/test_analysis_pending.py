"""Finding pending work through the analysis queue, on SQLite and PostgreSQL: the trigger
that fills it, the same answers as comparing every item, the fallback, the pruning."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bihuan.storage import analysis_pending as ap
from bihuan.storage import analysis_queries as aq
from bihuan.storage import bulk
from bihuan.storage.engine import create_db_engine, session_scope

WHEN = datetime(2026, 10, 8, 2, 0, tzinfo=UTC)


def rows(count: int, *, start: int = 0, version: str = "") -> list[tuple]:
    return [
        (
            "survey",
            f"S{i}",
            "survey",
            f"转账失败{i}{version}",
            None,
            None,
            f"C{i % 5}",
            WHEN + timedelta(hours=i),
            None,
            None,
            f"h{i}{version}",
        )
        for i in range(start, start + count)
    ]


def write(engine: Engine, items: list[tuple]) -> None:
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(items, run_id=None, now=WHEN, session=session)


def analyse_all(engine: Engine) -> None:
    """Results for every pending item (what a run writes), then the queue pruned."""
    with session_scope(engine, write=True) as session:
        pending = aq.pending_items(after_id=0, limit=10_000, session=session)
        aq.upsert_results(
            [
                {
                    "item_id": p.id,
                    "content_hash": p.content_hash,
                    "language": "zh",
                    "sentiment": 0.2,
                    "sentiment_label": "negative",
                    "keywords": [],
                    "categories": [],
                    "model": "test",
                    "analysed_at": WHEN,
                }
                for p in pending
            ],
            session=session,
        )
        ap.prune_queue(session=session)


def queue(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT item_id FROM analysis_queue ORDER BY item_id"))]


def ids(engine: Engine, *external: str) -> list[int]:
    with engine.connect() as conn:
        found = dict(conn.execute(text("SELECT external_id, id FROM feedback_item")).all())
    return [found[e] for e in external]


def every_page(engine: Engine, limit: int, watermark: int | None) -> list[list[int]]:
    pages, after = [], 0
    with session_scope(engine) as session:
        while page := ap.pending_page(after_id=after, limit=limit, watermark=watermark, session=session):
            pages.append([p.id for p in page])
            after = page[-1].id
    return pages


def full_pages(engine: Engine, limit: int) -> list[list[int]]:
    return every_page(engine, limit, None)


def test_the_trigger_queues_items_whose_content_changes(engine: Engine) -> None:
    write(engine, rows(4))
    assert queue(engine) == []  # new items are not queued: they are above the watermark
    write(engine, rows(2))  # the same content again: nothing changes
    write(engine, rows(1, start=1, version="-v2"))  # an import's upsert changes S1
    with engine.begin() as conn:  # and an edit by hand changes S3
        conn.execute(text("UPDATE feedback_item SET content_hash = 'edited' WHERE external_id = 'S3'"))
        conn.execute(text("UPDATE feedback_item SET channel = 'ticket' WHERE external_id = 'S0'"))  # not content_hash
    assert queue(engine) == ids(engine, "S1", "S3")
    write(engine, rows(1, start=1, version="-v3"))  # queued twice: one entry
    assert queue(engine) == ids(engine, "S1", "S3")
    with session_scope(engine) as session:
        assert ap.queue_trigger_installed(session=session)


def test_pending_work_through_the_queue_is_what_comparing_every_item_finds(engine: Engine) -> None:
    write(engine, rows(30))
    analyse_all(engine)
    assert queue(engine) == []
    # two old items change, five new ones arrive
    write(engine, rows(1, start=3, version="-v2") + rows(1, start=17, version="-v2") + rows(5, start=30))
    with session_scope(engine) as session:
        found = ap.find_pending(session=session)
        assert found.watermark == max(ids(engine, *(f"S{i}" for i in range(30))))
        assert found.summary == aq.pending_summary(session=session)
        assert found.summary.count == 7 and found.queued == 2
    for limit in (1, 2, 3, 7, 100):
        assert every_page(engine, limit, found.watermark) == full_pages(engine, limit)
    assert every_page(engine, 100, found.watermark) == [ids(engine, "S3", "S17", *(f"S{i}" for i in range(30, 35)))]

    analyse_all(engine)
    assert queue(engine) == []
    with session_scope(engine) as session:
        newest = max(ids(engine, *(f"S{i}" for i in range(35))))  # PostgreSQL's ids have gaps (upserts)
        assert ap.find_pending(session=session) == ap.Pending(aq.PendingSummary(0, None, None), newest, 0)


def test_an_item_changed_again_after_its_result_stays_queued(engine: Engine) -> None:
    write(engine, rows(3))
    analyse_all(engine)
    write(engine, rows(1, start=1, version="-v2"))
    with session_scope(engine, write=True) as session:
        [item] = ap.pending_page(after_id=0, limit=10, watermark=aq.max_analysed_id(session=session), session=session)
    # while that version is analysed, the item changes once more
    write(engine, rows(1, start=1, version="-v3"))
    with session_scope(engine, write=True) as session:
        aq.upsert_results(
            [
                {
                    "item_id": item.id,
                    "content_hash": item.content_hash,  # the "-v2" hash
                    "language": "zh",
                    "sentiment": 0.2,
                    "sentiment_label": "negative",
                    "keywords": [],
                    "categories": [],
                    "model": "test",
                    "analysed_at": WHEN,
                }
            ],
            session=session,
        )
        assert ap.prune_queue(session=session) == 0
    assert queue(engine) == [item.id]
    with session_scope(engine) as session:
        assert [p.content_hash for p in aq.pending_items(after_id=0, limit=10, session=session)] == ["h1-v3"]
        assert ap.find_pending(session=session).summary.count == 1


def test_items_gone_leave_the_queue(engine: Engine) -> None:
    write(engine, rows(3))
    analyse_all(engine)
    write(engine, rows(1, start=2, version="-v2"))
    [gone] = ids(engine, "S2")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM feedback_item WHERE id = :i"), {"i": gone})
    assert queue(engine) == [gone]
    with session_scope(engine, write=True) as session:
        assert ap.prune_queue(session=session) == 1
    assert queue(engine) == []


def test_an_unanalysed_item_below_the_watermark_makes_it_compare_every_item(engine: Engine) -> None:
    # (on PostgreSQL a transaction holding lower ids can commit after a run analysed higher ones)
    write(engine, rows(6))
    analyse_all(engine)
    [late] = ids(engine, "S2")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM item_analysis WHERE item_id = :i"), {"i": late})
    write(engine, rows(2, start=6))
    with session_scope(engine) as session:
        found = ap.find_pending(session=session)
        assert found.watermark is None
        assert found.summary == aq.pending_summary(session=session)
        assert (found.summary.count, found.summary.first_id) == (3, late)
    assert every_page(engine, 2, found.watermark) == full_pages(engine, 2)


def test_without_the_trigger_every_item_is_compared(engine: Engine) -> None:
    write(engine, rows(4))
    analyse_all(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE feedback_item DISABLE TRIGGER {ap.QUEUE_TRIGGER}"))
        else:
            conn.execute(text(f"DROP TRIGGER {ap.QUEUE_TRIGGER}"))
    write(engine, rows(1, start=0, version="-v2"))  # not queued: nobody listens
    assert queue(engine) == []
    with session_scope(engine) as session:
        assert not ap.queue_trigger_installed(session=session)
        found = ap.find_pending(session=session)
        assert found.watermark is None and found.summary.count == 1
    if engine.dialect.name == "postgresql":  # the shared test database keeps its schema
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE feedback_item ENABLE TRIGGER {ap.QUEUE_TRIGGER}"))


def test_the_migration_queues_what_changed_before_it(tmp_path: Path, sqlite_template: Path) -> None:
    from alembic import command

    from bihuan.storage.migrate import alembic_config, upgrade_database

    path = tmp_path / "old.db"
    shutil.copy(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}")
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    write(engine, rows(3))
    analyse_all_before_0006(engine)
    write(engine, rows(1, start=1, version="-v2"))  # changed while there was no queue
    upgrade_database(engine)
    assert queue(engine) == ids(engine, "S1")
    engine.dispose()


def analyse_all_before_0006(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        for p in aq.pending_items(after_id=0, limit=100, session=session):
            session.connection().execute(
                text(
                    "INSERT INTO item_analysis (item_id, content_hash, language, sentiment, sentiment_label, "
                    "keywords, categories, model, analysed_at) VALUES (:i, :h, 'zh', 0.2, 'negative', '[]', '[]', "
                    "'test', '2026-10-08 02:00:00.000000')"
                ),
                {"i": p.id, "h": p.content_hash},
            )


@pytest.mark.parametrize("rebuild", [False, True])
def test_a_rebuild_empties_the_queue(engine: Engine, rebuild: bool) -> None:
    write(engine, rows(3))
    analyse_all(engine)
    write(engine, rows(1, start=0, version="-v2"))
    if rebuild:
        with session_scope(engine, write=True) as session:
            aq.forget_results(session=session)
    with session_scope(engine) as session:
        found = ap.find_pending(session=session)
    assert queue(engine) == ([] if rebuild else ids(engine, "S0"))
    assert (found.summary.count, found.watermark) == ((3, 0) if rebuild else (1, found.watermark))
