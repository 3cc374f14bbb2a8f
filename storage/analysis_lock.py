"""One analysis at a time per database: a lock that names its holder.

Two ``bihuan analyze`` on one database would analyse the same items twice (and add their
counts to the groups twice) or fail on each other's new groups. The analysis takes this
lock first; a second run waits a bounded time for it or stops, saying who holds it.

* **PostgreSQL**: a session-level advisory lock (:data:`ADVISORY_KEY`), held on a
  connection of its own for the whole run. The server releases it when that connection
  ends, so a killed holder frees it at once. The ``analysis_lock`` row only names the
  holder (pid, host, since).
* **SQLite**: the ``analysis_lock`` row is the lock, claimed in a write transaction (two
  claimants queue on the write lock; the second sees the first's row). The holder's
  heartbeat thread refreshes ``heartbeat_at`` every :data:`HEARTBEAT_SECONDS`; a row is
  *stale*, and taken over, when its process is gone (same host: no such pid) or its
  heartbeat is older than :data:`STALE_AFTER_SECONDS` (another host, or a pid reused).

Fencing: a holder that was taken for dead must not write on. Every write transaction of
the analysis calls :meth:`HeldLock.verify`, which checks in that transaction that the
row still carries the holder's token.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Self

from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlmodel import Session

from bihuan.core.errors import AlreadyRunningError
from bihuan.storage.analysis_models import AnalysisLock
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow

log = logging.getLogger(__name__)

#: the lock of ``bihuan analyze`` (the row's name)
ANALYSIS = "analysis"
#: PostgreSQL advisory lock key of the analysis ("bihuan" and 1; advisory keys are per database)
ADVISORY_KEY = 0x6269_6875_616E_0001
#: seconds between two heartbeats of a holder
HEARTBEAT_SECONDS = 10.0
#: a holder whose heartbeat is older than this is taken for dead (SQLite; a heartbeat
#: waits for the write lock, up to the busy timeout of 30 s, behind a batch being written)
STALE_AFTER_SECONDS = 120.0
#: seconds between two attempts while waiting
POLL_SECONDS = 0.25

_TABLE = AnalysisLock.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lock: what the row says."""

    pid: int
    host: str
    started_at: datetime
    heartbeat_at: datetime

    def describe(self, zone: tzinfo | None = None) -> str:
        """``pid 1234 on host-a, since 2026-12-08 09:00:03 +0800`` (in ``zone``, else UTC)."""
        since = self.started_at.astimezone(zone) if zone is not None else self.started_at
        return f"pid {self.pid} on {self.host}, since {since:%Y-%m-%d %H:%M:%S %z}"


def _holder(row: Any) -> Holder:
    return Holder(pid=row.pid, host=row.host, started_at=row.started_at, heartbeat_at=row.heartbeat_at)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def is_stale(holder: Holder, *, now: datetime | None = None, host: str | None = None) -> bool:
    """Whether ``holder`` is dead: its process is gone (when it ran on this host), or
    its heartbeat is older than :data:`STALE_AFTER_SECONDS`."""
    now = now or utcnow()
    if holder.host == (host or socket.gethostname()) and not _process_exists(holder.pid):
        return True
    return now - holder.heartbeat_at > timedelta(seconds=STALE_AFTER_SECONDS)


class HeldLock:
    """A lock this process holds; :meth:`release` it (it is a context manager too)."""

    def __init__(self, engine: Engine, name: str, token: str, connection: Connection | None) -> None:
        self.engine = engine
        self.name = name
        self.token = token
        self._connection = connection  # PostgreSQL: the connection holding the advisory lock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name=f"bihuan-{name}-lock", daemon=True)
        self._thread.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def verify(self, session: Session) -> None:
        """Raise :class:`AlreadyRunningError` unless this process still holds the lock —
        checked in ``session``'s transaction, so that what it writes is written by the holder."""
        row = session.execute(select(_TABLE).where(_TABLE.c.name == self.name)).first()
        if row is None or row.token != self.token:
            who = f" by {_holder(row).describe()}" if row is not None else ""
            raise AlreadyRunningError(
                f"the {self.name} lock was taken over{who} (this run was taken for dead); "
                "it stopped before writing more"
            )

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                beat = update(_TABLE).where(_TABLE.c.name == self.name, _TABLE.c.token == self.token)
                beat = beat.values(heartbeat_at=utcnow())
                if self._connection is not None:
                    self._connection.execute(beat)
                    self._connection.commit()
                else:
                    with session_scope(self.engine, write=True) as session:
                        session.execute(beat)
            except Exception:  # the next beat tries again; verify() fences
                log.warning("could not refresh the %s lock's heartbeat", self.name, exc_info=True)

    def release(self) -> None:
        """Stop the heartbeat and free the lock; safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        mine = delete(_TABLE).where(_TABLE.c.name == self.name, _TABLE.c.token == self.token)
        connection = self._connection
        if connection is None:
            try:
                with session_scope(self.engine, write=True) as session:
                    session.execute(mine)
            except Exception:  # the row stays; its process gone, the next run takes it over
                log.warning("could not release the %s lock", self.name, exc_info=True)
            return
        try:
            connection.execute(mine)
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            connection.commit()
            # closed, not back to the pool: no session state survives the run, and the
            # pool keeps no extra idle connection for it
            connection.invalidate()
            connection.close()
        except Exception:  # a broken connection: the server released the lock
            log.warning("could not release the %s lock cleanly", self.name, exc_info=True)
            connection.invalidate()
            connection.close()


def _claim(session: Session | Connection, name: str, token: str) -> None:
    now = utcnow()
    session.execute(delete(_TABLE).where(_TABLE.c.name == name))
    session.execute(
        _TABLE.insert().values(
            name=name, token=token, pid=os.getpid(), host=socket.gethostname()[:255], started_at=now, heartbeat_at=now
        )
    )


def _current(session: Session | Connection, name: str) -> Holder | None:
    row = session.execute(select(_TABLE).where(_TABLE.c.name == name)).first()
    return _holder(row) if row is not None else None


def _try_sqlite(engine: Engine, name: str) -> HeldLock | Holder:
    # a read first: it never waits behind the holder's writes (WAL), and a live holder
    # is the usual answer while one runs
    with session_scope(engine) as session:
        holder = _current(session, name)
    if holder is not None and not is_stale(holder):
        return holder
    token = uuid.uuid4().hex
    with session_scope(engine, write=True) as session:  # BEGIN IMMEDIATE: claimants queue here
        holder = _current(session, name)
        if holder is not None and not is_stale(holder):
            return holder  # another claimant was first
        if holder is not None:
            log.warning("taking over the %s lock from %s: its process is gone", name, holder.describe())
        _claim(session, name, token)
    return HeldLock(engine, name, token, None)


def _try_postgresql(engine: Engine, name: str) -> HeldLock | Holder:
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
        if not taken:
            holder = _current(connection, name)
            connection.commit()
            connection.close()
            # the holder writes its row just after taking the lock: between the two, say so
            return holder or Holder(pid=0, host="(starting)", started_at=utcnow(), heartbeat_at=utcnow())
        token = uuid.uuid4().hex
        _claim(connection, name, token)
        connection.commit()
    except BaseException:
        connection.invalidate()
        connection.close()
        raise
    return HeldLock(engine, name, token, connection)


def try_acquire(engine: Engine, name: str = ANALYSIS) -> HeldLock | Holder:
    """Take the lock now if it is free (or its holder is dead): the lock, or its holder."""
    if engine.dialect.name == "postgresql":
        return _try_postgresql(engine, name)
    return _try_sqlite(engine, name)


def acquire(engine: Engine, *, wait: float = 0.0, name: str = ANALYSIS) -> HeldLock | Holder:
    """Take the lock, waiting up to ``wait`` seconds for its holder to finish: the lock,
    or — when the time is up — the holder still running."""
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        got = try_acquire(engine, name)
        left = deadline - time.monotonic()
        if isinstance(got, HeldLock) or left <= 0:
            return got
        time.sleep(min(POLL_SECONDS, left))
