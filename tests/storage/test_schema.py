"""The schema comes from Alembic migrations and matches the SQLModel tables."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import Session

from bihuan.storage.engine import session_scope
from bihuan.storage.migrate import current_revision, head_revision, upgrade_database
from bihuan.storage.models import CollectorRun, SQLModel
from bihuan.storage.text_search import include_name


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_name": include_name}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), SQLModel.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade_database(engine)
    upgrade_database(engine)
    assert set(inspect(engine).get_table_names()) >= {
        "feedback_item",
        "collector_run",
        "collector_state",
        "quarantined_record",
        "alembic_version",
    }


def test_timestamps_are_aware_utc_and_naive_ones_are_refused(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        run = CollectorRun(collector="c", collector_type="csv", source="s")
        session.add(run)
    with Session(engine) as session:
        stored = session.get(CollectorRun, run.id)
        assert stored is not None and stored.started_at.tzinfo is not None
        assert stored.started_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    with pytest.raises(Exception, match="naive datetime"):
        with session_scope(engine, write=True) as session:
            session.add(CollectorRun(collector="c", collector_type="csv", source="s", started_at=datetime(2026, 1, 1)))


def test_sqlite_connection_settings(tmp_path, sqlite_template) -> None:  # type: ignore[no-untyped-def]
    from bihuan.storage.engine import create_db_engine

    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    engine.dispose()


def test_the_startup_check_agrees_with_alembic_and_does_without_it(engine: Engine, tmp_path, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """``upgrade_database`` compares the stored revision with the newest version file
    without importing Alembic; its answers are Alembic's."""
    import subprocess
    import sys

    from alembic.script import ScriptDirectory

    from bihuan.storage.engine import create_db_engine
    from bihuan.storage.migrate import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        assert current_revision(engine) == MigrationContext.configure(conn).get_current_revision() == head_revision()
    empty = create_db_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert current_revision(empty) is None
    empty.dispose()

    probe = (
        "import sys\n"
        "from bihuan.storage.engine import create_db_engine\n"
        "from bihuan.storage.migrate import upgrade_database\n"
        "upgrade_database(create_db_engine(sys.argv[1]))\n"
        "print('alembic' in sys.modules)\n"
    )
    at_head = subprocess.run([sys.executable, "-c", probe, db_url], capture_output=True, text=True, check=True)
    assert at_head.stdout.strip() == "False", at_head.stderr
    fresh = subprocess.run(
        [sys.executable, "-c", probe, f"sqlite:///{tmp_path / 'fresh.db'}"], capture_output=True, text=True, check=True
    )
    assert fresh.stdout.strip() == "True"  # an empty database is migrated by Alembic
    upgraded = create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert current_revision(upgraded) == head_revision()
    upgraded.dispose()


def test_a_sqlite_path_whose_folder_cannot_be_made_is_a_clear_storage_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bihuan.core.errors import StorageError
    from bihuan.storage.engine import create_db_engine

    blocker = tmp_path / "exports"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(StorageError, match=r"database .*/exports/x\.db: .*/exports: a file is in the way"):
        create_db_engine(f"sqlite:///{blocker / 'x.db'}")
    with pytest.raises(StorageError, match=r"database .*/exports/bihuan/x\.db: .*/exports/bihuan: Not a directory"):
        create_db_engine(f"sqlite:///{blocker / 'bihuan' / 'x.db'}")
