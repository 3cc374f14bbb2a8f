"""Shared fixtures: real databases (SQLite files and the PostgreSQL server), plugin
managers that never see installed entry points, and plugin registration that undoes
itself.

PostgreSQL: ``BIHUAN_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``)
names a server; the suite creates its own database there and drops it at the end. When
the server is unreachable the PostgreSQL variants are skipped — except with ``CI=true``,
where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Before anything imports bihuan: no installed entry-point plugins, no user files.
os.environ["BIHUAN_LOAD_PLUGINS"] = ""
os.environ.pop("BIHUAN_CONFIG", None)
os.environ.pop("BIHUAN_DATABASE_URL", None)
os.environ.pop("BIHUAN_STRICT_PLUGINS", None)

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bihuan.plugins.manager import BihuanPluginManager, build_plugin_manager  # noqa: E402
from bihuan.storage.engine import create_db_engine  # noqa: E402
from bihuan.storage.migrate import upgrade_database  # noqa: E402
import bihuan.storage.analysis_models  # noqa: E402,F401  (all tables on the metadata)
import bihuan.storage.case_models  # noqa: E402,F401
import bihuan.storage.outbox_models  # noqa: E402,F401
import bihuan.storage.pdca_models  # noqa: E402,F401
from bihuan.storage.models import SQLModel  # noqa: E402

POSTGRES_URL = os.environ.get("BIHUAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own BIHUAN_HOME and working directory (no plugins.toml)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("BIHUAN_HOME", str(home))
    monkeypatch.chdir(home)
    return home


# ── databases ─────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _admin_url() -> Any:
    return make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated database on the PostgreSQL server for this test session."""
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.__class__.__name__}"
        if IN_CI:
            pytest.fail(message + " (CI=true: storage tests must run on PostgreSQL)")
        pytest.skip(message)
    name = f"bihuan_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _admin_url().set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database URL; every test using it runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "bihuan.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    engine = create_db_engine(url)
    _truncate_all(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_db_engine(db_url)
    yield eng
    eng.dispose()


# ── plugins ───────────────────────────────────────────────────────────────────────────


@pytest.fixture
def pm() -> BihuanPluginManager:
    """The built-in plugins only (installed entry points are never loaded in tests)."""
    return build_plugin_manager(entry_points=[], strict=False)


@pytest.fixture
def register_plugin(pm: BihuanPluginManager) -> Iterator[Any]:
    """``register_plugin(obj, name)`` adds a plugin for one test and removes it after."""
    names: list[str] = []

    def register(plugin: object, name: str = "test-plugin") -> None:
        pm.add_plugin(plugin, name=name, origin="registered")
        names.append(name)

    yield register
    for name in names:
        pm.remove_plugin(name)


# ── HTTP sources ──────────────────────────────────────────────────────────────────────


@pytest.fixture
def api() -> Iterator[Any]:
    """A real HTTP server on 127.0.0.1 (see ``tests/apiserver.py``)."""
    from tests.apiserver import ApiServer

    server = ApiServer()
    yield server
    server.close()
