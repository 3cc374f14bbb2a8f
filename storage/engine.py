"""Engines, sessions and schema upgrades.

SQLite is the default store (a file in the user data dir); PostgreSQL is the team store.
The URL comes from ``--db``, else ``BIHUAN_DATABASE_URL``, else the default file.

The database's own failures (a server that refuses connections, a file that is not a
SQLite database, a read-only database, a full disk) are turned into bihuan's errors where
the driver raises them (:func:`database_error`, on every engine from
:func:`create_db_engine`), so every command, the pipeline and the workplace report them
as one clear line: the kind of failure and the database, never the SQL or its parameters.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from platformdirs import user_data_path
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

# storage may use core's error hierarchy (a leaf module) and nothing else from core.
from bihuan.core.errors import (
    ConfigError,
    DatabaseFullError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    DatabaseUnreachableError,
    MissingDatabaseError,
    StorageError,
)

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


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; ``None`` for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):  # a URI filename (?uri=true): its path part
        return Path(parsed.database[5:].split("?", 1)[0])
    return Path(parsed.database)


def create_db_engine(url: str | None = None, *, create: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url`` with bihuan's connection settings.

    SQLite: WAL journal, ``busy_timeout``, foreign keys on, ``synchronous=NORMAL`` (safe
    with WAL: a power cut may lose the last commits, never corrupt the file).

    :param create: a SQLite file that does not exist is created, with its folder; with
        ``create=False`` it is refused (:class:`MissingDatabaseError`) and nothing is
        created — what the CLI does for every database but ``bihuan init``'s and the
        default one, so that a mistyped ``--db`` path never becomes a new database.
    """
    url = resolve_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is not None and not create and not path.exists():
            raise MissingDatabaseError(
                f"no SQLite database at {path}: check the path, or create it with `bihuan init --db {path}`",
                path=str(path),
            )
        if path is not None:
            folder = path.parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file where a folder should be, no permission …
                why = "a file is in the way" if isinstance(exc, FileExistsError) else exc.strerror
                raise DatabaseUnreachableError(
                    f"cannot create the folder of the SQLite database {path}: {exc.filename or folder}: {why}"
                ) from None
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            poolclass=NullPool if kwargs.pop("null_pool", False) else None,
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "handle_error", _translate_error, retval=True)
    return engine


def _translate_error(context: ExceptionContext) -> BaseException | None:
    # a pre-ping's failure is the pool's to handle (it reconnects); anything else the
    # driver raised is replaced by bihuan's error when it is the database's own failure
    if context.is_pre_ping:
        return None
    return database_error(
        context.original_exception, where=_where(context.engine), connecting=context.connection is None
    )


def _where(engine: Engine | None) -> str:
    if engine is None:
        return "the database"
    path = sqlite_file(engine.url.render_as_string(hide_password=False))
    return str(path) if path is not None else engine.url.render_as_string(hide_password=True)


#: SQLite's extended result codes of a database that cannot be used, by the error they are
_SQLITE_READ_ONLY = "SQLITE_READONLY"
_SQLITE_UNUSABLE = {
    "SQLITE_NOTADB": "is not a SQLite database",
    "SQLITE_CORRUPT": "is damaged (the database disk image is malformed); restore it from a backup",
    "SQLITE_IOERR": "cannot be read or written (disk I/O error)",
}
#: PostgreSQL SQLSTATEs: connection exceptions (class 08), the server shutting down or
#: not accepting connections yet (57P01-57P03, not 57014: a cancelled statement), a full
#: disk, a read-only transaction or server
_PG_UNREACHABLE = ("08", "57P01", "57P02", "57P03")
_PG_DISK_FULL = "53100"
_PG_READ_ONLY = "25006"


def database_error(exc: BaseException, *, where: str, connecting: bool = False) -> StorageError | None:
    """The bihuan error for the driver's exception ``exc``, or ``None`` for any other error.

    Only failures of the database itself are translated (unreachable, not a database,
    damaged, read-only, full); a constraint violation or a bad statement is a bug and
    stays the driver's. The message names the database (``where``: the SQLite file, the
    server URL without its password) and the driver's first line, never the statement.
    """
    if isinstance(exc, DBAPIError):  # already wrapped by SQLAlchemy
        exc = exc.orig  # type: ignore[assignment]
    reason = _first_line(exc)
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        if name == "SQLITE_FULL":
            return DatabaseFullError(f"the disk of the database {where} is full ({reason}): free space and run again")
        if name == "SQLITE_READONLY_DIRECTORY":
            return DatabaseReadOnlyError(
                f"the database {where} is in a read-only folder: SQLite writes its -wal and -shm files next to it"
            )
        if name.startswith(_SQLITE_READ_ONLY):
            return DatabaseReadOnlyError(f"the database {where} is read-only ({reason}): nothing was written")
        if name.startswith("SQLITE_CANTOPEN"):
            return DatabaseUnreachableError(f"cannot open the SQLite database {where}: {reason}")
        for prefix, what in _SQLITE_UNUSABLE.items():
            if name.startswith(prefix):
                return DatabaseUnavailableError(f"{where} {what}")
        return None
    sqlstate = getattr(exc, "sqlstate", None)
    if exc.__class__.__module__.split(".")[0] != "psycopg":
        return None
    if sqlstate == _PG_DISK_FULL:
        return DatabaseFullError(f"the disk of the database {where} is full ({reason}): free space and run again")
    if sqlstate == _PG_READ_ONLY:
        return DatabaseReadOnlyError(f"the database {where} is read-only ({reason}): nothing was written")
    if connecting and type(exc).__name__ == "OperationalError":
        return DatabaseUnreachableError(f"cannot reach the database {where}: {reason}")
    if (sqlstate and sqlstate.startswith(_PG_UNREACHABLE)) or (
        sqlstate is None and type(exc).__name__ == "OperationalError"
    ):
        return DatabaseUnreachableError(f"lost the connection to the database {where}: {reason}")
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


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
    """Raise :class:`DatabaseUnavailableError` with a clear message if the database cannot
    be used (the engine's error translation says why; this catches what it leaves)."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        raise DatabaseUnreachableError(f"cannot reach the database {_where(engine)}: {_first_line(exc.orig)}") from None
