"""PostgreSQL: an import's lookups of stored ids probe the unique index whatever the
table's statistics say, and a large load into a fresh database keeps going.

A 300,000-row import stalled at ~250,000 rows (one 5,000-id lookup took > 24 s): psycopg
prepares a statement from its fifth execution, PostgreSQL then plans it once for all
parameters, and on a table whose statistics are missing or stale (fresh, or autovacuum
off or behind — it is off on this project's server) that plan compared every stored row
with each of the 5,000 ids.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from bihuan.storage import bulk
from bihuan.storage.engine import create_db_engine, session_scope
from bihuan.storage.migrate import upgrade_database
from bihuan.tui.cli import cli

pytestmark = pytest.mark.postgres

POSTGRES_URL = os.environ.get("BIHUAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
INDEX = "uq_feedback_item_source_external_id"


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A new, migrated PostgreSQL database whose tables were never analysed."""
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bihuan_plans_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 (any failure to connect)
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.__class__.__name__}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.__class__.__name__}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _add_rows(engine: Engine, start: int, count: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO feedback_item (source, external_id, channel, text, created_at, content_hash, "
                "collected_at, updated_at) SELECT 'survey', 'S' || lpad(i::text, 7, '0'), 'survey', "
                "'转账卡顿 第' || i || '次', now(), md5(i::text), now(), now() "
                "FROM generate_series(CAST(:start AS int), CAST(:stop AS int)) AS i"
            ),
            {"start": start, "stop": start + count - 1},
        )


def _lookup_statements(engine: Engine) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements the import's three lookups send for one 5,000-id batch, with their
    parameters (half the ids stored, half new)."""
    ids = [f"S{i:07d}" for i in range(10_000, 12_500)] + [f"N{i:07d}" for i in range(2_500)]
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "feedback_item" in statement and "content_hash" in statement:
            sent.append((statement, tuple(parameters)))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with session_scope(engine) as session:
            found = bulk.existing_hashes("survey", ids, session=session)
            changed = bulk.changed_hashes("survey", dict.fromkeys(ids, "other"), session=session)
            versions = bulk.stored_versions("survey", ids, session=session)  # the file rules' lookup
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(found) == 2_500 and len(changed) == 5_000 and len(versions) == 2_500
    assert sent, "no lookup reached the database"
    return sent


def _plan(engine: Engine, statement: str, parameters: tuple[Any, ...], mode: str) -> str:
    """The plan PostgreSQL runs ``statement`` with once it is prepared: ``generic`` (what
    psycopg's automatic preparing leads to) or ``custom``."""
    numbered = iter(range(1, len(parameters) + 1))
    prepared = re.sub(r"%s", lambda _: f"${next(numbered)}", statement)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SET plan_cache_mode = force_{mode}_plan")
        conn.exec_driver_sql(f"PREPARE lookup AS {prepared}")
        arguments = ", ".join(["%s"] * len(parameters))
        # the arguments as literals: EXECUTE's own parameters would have no type to infer
        raw = conn.connection.dbapi_connection
        explain = psycopg.ClientCursor(raw).mogrify(f"EXPLAIN EXECUTE lookup({arguments})", parameters)
        rows = conn.exec_driver_sql(explain).all()
        conn.exec_driver_sql("DEALLOCATE lookup")
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize("statistics", ["never analysed", "analysed when nearly empty"])
def test_the_lookups_probe_the_unique_index_whatever_the_statistics_say(fresh_database: str, statistics: str) -> None:
    engine = create_db_engine(fresh_database)
    try:
        if statistics == "analysed when nearly empty":
            _add_rows(engine, 0, 10)
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE feedback_item")
                conn.commit()
            _add_rows(engine, 10, 29_990)
        else:
            _add_rows(engine, 0, 30_000)
        for statement, parameters in _lookup_statements(engine):
            for mode in ("generic", "custom"):
                plan = _plan(engine, statement, parameters, mode)
                index_conditions = [line for line in plan.splitlines() if "Index Cond" in line]
                assert f"Index Scan using {INDEX}" in plan, plan
                assert all("external_id" in line for line in index_conditions), plan
                for scan in ("Seq Scan", "Bitmap Heap Scan", "Hash Join"):  # every row of the source
                    assert scan not in plan, plan
    finally:
        engine.dispose()


def test_statistics_are_refreshed_once_a_load_outgrows_them(fresh_database: str) -> None:
    engine = create_db_engine(fresh_database)
    try:
        _add_rows(engine, 0, 1_000)
        assert bulk.refresh_statistics(engine)  # never analysed
        assert not bulk.refresh_statistics(engine)  # current
        _add_rows(engine, 1_000, 3_000)
        time.sleep(1.2)  # the server publishes its table counters at most once a second
        assert bulk.refresh_statistics(engine)  # 3,000 rows more than the 1,000 counted
        with engine.connect() as conn:
            assert (
                conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'feedback_item'").scalar() == 4000
            )
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_300k_row_import_into_a_fresh_database_keeps_going(fresh_database: str, tmp_path: Path) -> None:
    rows = 300_000
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("编号,提交时间,满意度评分,您的意见或建议\n")
        for i in range(rows):
            out.write(f"R{i:07d},2026-10-{1 + i % 28:02d} 09:{i % 60:02d},{1 + i % 5},第{i}位客户：手机银行转账卡顿\n")
    slowest = 0.0
    started: dict[int, float] = {}

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal slowest
        if "unnest" in statement or " IN (" in statement:  # a lookup (today's or the old one)
            slowest = max(slowest, time.perf_counter() - started.pop(id(cursor), time.perf_counter()))

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        for attempt in ("import", "re-import"):
            result = CliRunner().invoke(
                cli, ["--db", fresh_database, "import", str(path), "--source", "survey", "--json"]
            )
            assert result.exit_code == 0, result.output
            report = json.loads(result.output)
            assert (report["new"], report["duplicates"]) == ((rows, 0) if attempt == "import" else (0, rows))
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)
    # before: one lookup took 45-90 s near 250,000 rows; an index probe per id takes well under a second
    assert slowest < 5, f"the slowest lookup took {slowest:.1f} s"
    engine = create_db_engine(fresh_database)
    with engine.connect() as conn:
        counted = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'feedback_item'").scalar()
    engine.dispose()
    assert counted >= rows / 2, "the load left the planner's statistics far behind"
