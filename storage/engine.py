"""Engines, sessions and schema upgrades.

SQLite is the default store (a file in the user data dir); PostgreSQL is the team store.
The URL comes from ``--db``, else ``BIHUAN_DATABASE_URL``, else the default file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from platformdirs import user_data_path
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

# storage may use core's error hierarchy (a leaf module) and nothing else from core.
from bihuan.core.errors import ConfigError, StorageError

DATABASE_URL_ENV = "BIHUAN_DATABASE_URL"
#: milliseconds a SQLite writer waits for another writer before giving up
SQLITE_BUSY_TIMEOUT_MS = 30_000


def data_dir() -> Path:
    """The per-user directory bihuan keeps its files in (``BIHUAN_HOME`` overrides it)."""
    home = os.environ.get("BIHUAN_HOME")
    return Path(home).expanduser() if home else user_data_path("bihuan", appauthor=False)


def default_database_url() -> str:
    """The embedded SQLite file in the user data dir."""
    return f"sqlite:///{data_dir() / 'bihuan.db'}"


def resolve_database_url(explicit: str | None = None) -> str:
    """``explicit`` (``--db``), else ``$BIHUAN_DATABASE_URL``, else the default SQLite file.

    A bare path is taken as a SQLite file; ``postgresql://`` uses psycopg 3.
    """
    url = explicit or os.environ.get(DATABASE_URL_ENV) or default_database_url()
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {redact_url(url)!r}: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return parsed.render_as_string(hide_password=False)


def redact_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def create_db_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` with bihuan's connection settings.

    SQLite: WAL journal, ``busy_timeout``, foreign keys on, ``synchronous=NORMAL`` (safe
    with WAL: a power cut may lose the last commits, never corrupt the file). The parent
    directory of the file is created.
    """
    url = resolve_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file where a folder should be, no permission …
                why = "a file is in the way" if isinstance(exc, FileExistsError) else exc.strerror
                raise StorageError(
                    f"cannot create the folder of the SQLite database {parsed.database}: "
                    f"{exc.filename or folder}: {why}"
                ) from None
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            poolclass=NullPool if kwargs.pop("null_pool", False) else None,
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN until the first write and so
    # breaks SAVEPOINT and lets reads race writers; SQLAlchemy emits BEGIN itself (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB page cache (the default is 2 MiB): index pages of a million-row table stay
    # in memory during bulk upserts
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # A write transaction (execution option bihuan_write) takes the write lock at BEGIN,
    # so two writers queue on busy_timeout instead of failing with "database is locked"
    # when one upgrades a read lock; readers keep plain deferred BEGIN and never block.
    if conn.get_execution_options().get("bihuan_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def dialect_insert(session: Session) -> Any:
    """The ``insert`` construct of the session's dialect, with its ``on_conflict_…``
    clauses (PostgreSQL's or SQLite's). Imported here, not at the top of the query
    modules: the PostgreSQL dialect is ~50 ms of every command's start-up on SQLite."""
    if session.connection().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def writer(engine: Engine) -> Engine:
    """``engine`` for write transactions (takes SQLite's write lock at BEGIN)."""
    return engine.execution_options(bihuan_write=True)


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    with Session(writer(engine) if write else engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def check_connection(engine: Engine) -> None:
    """Raise :class:`StorageError` with a clear message if the database is unreachable."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        where = engine.url.render_as_string(hide_password=True)
        raise StorageError(f"cannot reach the database {where}: {reason}") from None
