"""The inbox's text search on SQLite and PostgreSQL: the trigram index finds exactly what
the substring rule finds (ASCII letters in any case, everything else exactly), before and
after the pending items are indexed, after re-imports and deletes, with paging and other
filters; the migration indexes an existing database."""

from __future__ import annotations

import json
import string
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

from bihuan.storage import bulk, text_search
from bihuan.storage import inbox_queries as iq
from bihuan.storage.analysis_models import ItemAnalysis
from bihuan.storage.engine import create_db_engine, session_scope
from bihuan.storage.migrate import alembic_config, upgrade_database
from bihuan.storage.models import FeedbackItem

START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
TEXTS = [
    "信用卡提额申请一个月没有回复",
    "提额",
    "额",
    "我要提额",
    "提额太慢了",
    "ATM机吞卡了",
    "atm机又吞卡",
    "Atm 取款失败",
    "ＡＴＭ机器坏了",  # fullwidth: not the same letters as ATM
    "ａｔｍ机器坏了",
    "Ärger mit der Karte",
    "ärger",
    "年费580元，利率0.65%太高",
    "利率0_65不对",
    "路径 C:\\bank\\app 打不开",
    "第一行\n第二行提额",
    "手机银行转账失败",
    "手机银行 转账 失败",
    "😀表情包客服",
    "客服\x01控制字符",
    "x",
    "Q",
    "AB",
    "ab",
    "  ",
]
QUERIES = [
    "提额", "额", "提", "提额申请", "没有回复", "ATM", "atm", "Atm", "aTm机", "ＡＴＭ", "ａｔｍ", "ä", "Ä",
    "ärger", "ÄRGER", "Karte", "KARTE", "0.65%", "%", "_", "0_65", "\\", "\\bank", "\n", "行\n第",
    "手机银行转账", "转账 失败", "😀", "😀表", "x", "X", "q", "ab", "AB", "b", "a", "机", "卡了", " ",
    "\x01", "服\x01控", "不存在的词语", "zz", '"', "a AND b",
]  # fmt: skip
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def rows_for(texts: list[str], *, prefix: str = "S") -> list[tuple]:
    # every third item shares its time with the one before: ties are ordered by id
    return [
        ("survey", f"{prefix}{i}", "survey" if i % 2 else "app", t, None, None, None, START + timedelta(hours=i - i % 3),
         None, None, f"{prefix}{i}:{t}")
        for i, t in enumerate(texts)
    ]  # fmt: skip


def upsert(engine: Engine, rows: list[tuple]) -> None:
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(rows, run_id=None, now=START, session=session)


def expected(engine: Engine, query: str, channel: str | None = None) -> list[int]:
    """The rule, in Python, over every stored item: newest first, then by id."""
    with engine.connect() as conn:
        items = conn.execute(select(FeedbackItem.id, FeedbackItem.created_at, FeedbackItem.text, FeedbackItem.channel))
        found = [
            (at, item_id)
            for item_id, at, body, ch in items
            if query.translate(ASCII_LOWER) in body.translate(ASCII_LOWER) and channel in (None, ch)
        ]
    return [item_id for _, item_id in sorted(found, reverse=True)]


def searched(engine: Engine, query: str, *, limit: int = 50, **filters: object) -> list[int]:
    """Every page of the inbox's search, followed by its keyset cursor."""
    ids: list[int] = []
    after = None
    with session_scope(engine) as session:
        while True:
            page = iq.inbox_page(iq.InboxFilter(search=query, **filters), after=after, limit=limit, session=session)  # type: ignore[arg-type]
            ids += [row.id for row in page]
            if len(page) < limit:
                return ids
            after = (page[-1].created_at, page[-1].id)


def assert_all_found(engine: Engine, *, limit: int = 50) -> None:
    for query in QUERIES:
        assert searched(engine, query, limit=limit) == expected(engine, query), repr(query)


def catch_up(engine: Engine) -> int:
    with session_scope(engine, write=True) as session:
        return text_search.catch_up(session=session)


def index_is_exact(engine: Engine) -> None:
    """The SQLite index holds exactly the trigrams of the stored texts (no drift)."""
    with engine.connect() as conn:
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE temp.fresh USING fts5(text, content='', tokenize='trigram', detail='none')"
        )
        conn.exec_driver_sql("INSERT INTO temp.fresh (rowid, text) SELECT id, text || char(1, 1) FROM feedback_item")
        conn.exec_driver_sql("CREATE VIRTUAL TABLE temp.fresh_terms USING fts5vocab(temp, fresh, instance)")
        ours = set(conn.exec_driver_sql("SELECT term, doc FROM feedback_item_fts_terms"))
        fresh = set(conn.exec_driver_sql("SELECT term, doc FROM temp.fresh_terms"))
        conn.exec_driver_sql("INSERT INTO feedback_item_fts (feedback_item_fts, rank) VALUES ('integrity-check', 0)")
    assert ours == fresh


def test_search_finds_what_the_substring_rule_finds(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    upsert(engine, rows_for(TEXTS))
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        with session_scope(engine) as session:
            assert text_search.pending_count(session=session) == len(TEXTS)  # noted, not indexed yet
    assert_all_found(engine)  # from the pending list on SQLite
    assert_all_found(engine, limit=2)  # keyset pages
    if not sqlite:
        return
    assert catch_up(engine) == len(TEXTS)
    index_is_exact(engine)
    with session_scope(engine) as session:
        assert text_search.pending_count(session=session) == 0
        served = [q for q in QUERIES if text_search.narrowing(q, session=session) is not None]
    assert "提额申请" in served and "提额" in served and "额" in served and "ATM" in served and "x" in served
    assert "ä" not in served  # a short query with a cased non-ASCII letter scans
    assert_all_found(engine)
    assert_all_found(engine, limit=2)
    monkeypatch.setattr(text_search, "MAX_CANDIDATES", 1)  # too many candidates: the scan in inbox order
    assert_all_found(engine)


def test_search_combines_with_filters_and_pages(engine: Engine) -> None:
    texts = [f"第{i}条：{'提额太慢' if i % 3 else '转账失败'}，{'ATM' if i % 4 else 'atm'}" for i in range(120)]
    upsert(engine, rows_for(texts))
    catch_up(engine)
    with session_scope(engine, write=True) as session:
        ids = sorted(session.exec(select(FeedbackItem.id)).scalars())  # type: ignore[call-overload]
        for item_id in ids:
            session.add(
                ItemAnalysis(
                    item_id=item_id, content_hash="h", language="zh", sentiment=0.2,
                    sentiment_label="negative" if item_id % 2 else "positive", keywords=[], categories=[],
                    model="test", analysed_at=START,
                )
            )  # fmt: skip
    for query in ("提额太慢", "atm", "转账", "第1"):
        assert searched(engine, query, limit=7, channel="app") == expected(engine, query, channel="app")
        negative = [i for i in expected(engine, query) if i % 2]
        assert searched(engine, query, limit=7, sentiment="negative") == negative
        assert searched(engine, query, limit=7, since=START + timedelta(hours=50)) == [
            i for i in expected(engine, query) if i in _items_since(engine, START + timedelta(hours=50))
        ]


def _items_since(engine: Engine, since: datetime) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(FeedbackItem.id).where(FeedbackItem.created_at >= since)).scalars())


def test_reimported_changed_and_deleted_texts_are_found_as_they_are_now(engine: Engine) -> None:
    upsert(engine, rows_for(TEXTS))
    catch_up(engine)
    changed = list(TEXTS)
    changed[0], changed[5], changed[16] = "提额已经通过了", "ATM已修好", "手机银行很好用"
    upsert(engine, rows_for(changed))  # the re-import's upsert: three texts updated in place
    assert searched(engine, "没有回复") == [] and searched(engine, "吞卡") == expected(engine, "吞卡")
    assert_all_found(engine)
    with session_scope(engine, write=True) as session:
        item = session.exec(select(FeedbackItem).where(FeedbackItem.external_id == "S1")).scalar_one()  # type: ignore[call-overload]
        item.text = "第一次改"  # changed twice before the index catches up, then back
        session.flush()
        item.text = "第二次改"
        session.flush()
        other = session.exec(select(FeedbackItem).where(FeedbackItem.external_id == "S2")).scalar_one()  # type: ignore[call-overload]
        other.text = "额度"
        session.flush()
        other.text = "额"
    assert searched(engine, "第一次") == [] and searched(engine, "第二次改") == expected(engine, "第二次改") != []
    assert_all_found(engine)
    with session_scope(engine, write=True) as session:
        session.connection().execute(text("DELETE FROM feedback_item WHERE external_id IN ('S3', 'S24', 'S4')"))
    assert_all_found(engine)
    if engine.dialect.name == "sqlite":
        catch_up(engine)
        index_is_exact(engine)
        assert_all_found(engine)
    # new items after the deletes: SQLite gives the first the id of the deleted last item,
    # at or below the id the index caught up to
    upsert(engine, rows_for(["我要提额", "ATM again"], prefix="N"))
    assert_all_found(engine)
    with session_scope(engine, write=True) as session:  # and an item given a deleted id
        deleted = session.exec(select(FeedbackItem.id).where(FeedbackItem.external_id == "S5")).scalar_one()  # type: ignore[call-overload]
        session.connection().execute(text("DELETE FROM feedback_item WHERE id = :id"), {"id": deleted})
    if engine.dialect.name == "sqlite":
        catch_up(engine)
    with session_scope(engine, write=True) as session:
        session.add(FeedbackItem(id=deleted, source="survey", external_id="R1", channel="app", text="提额又被拒",
                                 created_at=START, content_hash="r1"))  # fmt: skip
    assert searched(engine, "提额又") == [deleted]
    assert_all_found(engine)
    if engine.dialect.name == "sqlite":
        catch_up(engine)
        index_is_exact(engine)
        assert_all_found(engine)


def test_sqlite_without_the_index_scans_with_the_same_results(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's fallback")
    upsert(engine, rows_for(TEXTS))
    catch_up(engine)
    monkeypatch.setattr(text_search.sqlite3, "sqlite_version_info", (3, 33, 0))
    with session_scope(engine) as session:
        assert text_search.narrowing("提额申请", session=session) is None
    assert_all_found(engine)
    monkeypatch.undo()
    with session_scope(engine, write=True) as session:  # a later migration dropped a trigger
        session.connection().exec_driver_sql("DROP TRIGGER feedback_item_fts_update")
        assert text_search.narrowing("提额申请", session=session) is None
    assert_all_found(engine)


def test_the_head_schema_has_the_whole_index(engine: Engine) -> None:
    """A later migration that rebuilds feedback_item on SQLite must recreate the triggers."""
    with session_scope(engine) as session:
        conn = session.connection()
        if engine.dialect.name == "sqlite":
            assert text_search.sqlite_index_ready(conn)
        else:
            assert conn.execute(
                text("SELECT 1 FROM pg_indexes WHERE indexname = :n"), {"n": text_search.PG_INDEX}
            ).first()


@pytest.mark.parametrize("query", ["不存在的词语", "NoSuchWord", "Atm机"])
def test_postgresql_can_serve_both_conditions_from_the_trigram_index(engine: Engine, query: str) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("pg_trgm")
    stmt = select(FeedbackItem.id).where(text_search.text_matches(query, "postgresql"))
    with engine.connect() as conn:
        compiled = stmt.compile(dialect=conn.dialect)
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params))
    assert text_search.PG_INDEX in plan


def test_catching_up_in_steps_indexes_the_same_as_at_once(engine: Engine) -> None:
    upsert(engine, rows_for(TEXTS))
    catch_up(engine)
    upsert(engine, rows_for(TEXTS, prefix="N"))  # new items, above the mark
    upsert(engine, rows_for([t + "改" for t in TEXTS]))  # changed ones, pending
    with session_scope(engine) as session:
        waiting = text_search.pending_count(session=session)
    if engine.dialect.name != "sqlite":
        assert waiting == 0 and text_search.catch_up_in_steps(engine, step=3) == 0  # the database keeps it
        return
    assert waiting == 2 * len(TEXTS)
    with session_scope(engine, write=True) as session:  # all pending ones, then 3 new ones
        assert text_search.catch_up(session=session, limit=3) == len(TEXTS) + 3
        assert text_search.pending_count(session=session) == len(TEXTS) - 3
    assert_all_found(engine)  # the rest still found, unindexed
    asked = []
    assert text_search.catch_up_in_steps(engine, step=3, stop=lambda: len(asked) > 0 or asked.append(1)) == 3
    assert text_search.catch_up_in_steps(engine, step=3) == len(TEXTS) - 6
    with session_scope(engine) as session:
        assert text_search.pending_count(session=session) == 0
    index_is_exact(engine)
    assert_all_found(engine)


def test_tick_indexes_what_an_import_stored_and_analyze_leaves_it(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bihuan.tui.cli import cli

    def bihuan(*args: str) -> dict[str, Any]:
        result = CliRunner().invoke(cli, ["--db", db, *args, "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def pending() -> int:
        with session_scope(engine) as session:
            return text_search.pending_count(session=session)

    survey = tmp_path / "survey.csv"
    survey.write_text(
        "编号,提交时间,意见\nS1,2026-10-01 09:00,信用卡提额太慢\nS2,2026-10-02 09:00,ATM吞卡\n", encoding="utf-8"
    )
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = create_db_engine(db)
    bihuan("init")  # only init creates a database named by --db
    bihuan("import", str(survey))
    # the import only stores, and so does the analysis; a search meanwhile reads the
    # texts not indexed yet
    bihuan("analyze")
    assert pending() == 2 and searched(engine, "提额太") == expected(engine, "提额太") != []
    assert bihuan("tick")["text_indexed"] == 2
    assert pending() == 0 and searched(engine, "提额太") == expected(engine, "提额太")
    engine.dispose()


# ── the migration on a database with items ───────────────────────────────────────────


@pytest.fixture
def at_0004(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database at revision 0004 (before the index), on each backend."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'old.db'}"
        admin = None
    else:
        name = f"bihuan_mig_{uuid.uuid4().hex[:10]}"
        admin = create_engine(make_url(db_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    yield engine
    engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        admin.dispose()


def test_the_migration_indexes_the_items_already_stored(at_0004: Engine) -> None:
    engine = at_0004
    upsert(engine, rows_for(TEXTS))
    upgrade_database(engine)
    with session_scope(engine) as session:
        assert text_search.pending_count(session=session) == 0  # backfilled, not queued
    if engine.dialect.name == "sqlite":
        index_is_exact(engine)
    test_the_head_schema_has_the_whole_index(engine)
    assert_all_found(engine)
    upsert(engine, rows_for(["新的一条提额投诉"], prefix="N"))
    assert_all_found(engine)

    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:  # and back: the index goes, the search scans
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with engine.connect() as conn:
        leftover = [name for name in conn.dialect.get_table_names(conn) if text_search.is_index_object(name)]
    assert leftover == []
    assert_all_found(engine)
