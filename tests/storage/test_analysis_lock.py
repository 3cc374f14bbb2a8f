"""The analysis lock on both databases: one holder, who it is, dead holders, fencing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bihuan.core.errors import EXIT_BUSY, AlreadyRunningError
from bihuan.storage import analysis_lock
from bihuan.storage.analysis_lock import HeldLock, Holder
from bihuan.storage.analysis_models import AnalysisLock
from bihuan.storage.engine import create_db_engine, session_scope
from bihuan.storage.types import utcnow


def test_a_second_taker_is_told_who_holds_the_lock_until_it_is_released(engine: Engine) -> None:
    first = analysis_lock.try_acquire(engine)
    assert isinstance(first, HeldLock)
    other = create_db_engine(str(engine.url.render_as_string(hide_password=False)))  # another pool, as another process
    try:
        second = analysis_lock.try_acquire(other)
        assert isinstance(second, Holder)
        assert (second.pid, second.host) == (os.getpid(), socket.gethostname())
        assert "since" in second.describe() and str(os.getpid()) in second.describe()
        first.release()
        third = analysis_lock.try_acquire(other)
        assert isinstance(third, HeldLock)
        third.release()
    finally:
        first.release()
        other.dispose()
    with session_scope(engine) as session:
        assert session.get(AnalysisLock, analysis_lock.ANALYSIS) is None  # released: no row left


def test_acquire_waits_the_time_it_is_given(engine: Engine) -> None:
    held = analysis_lock.try_acquire(engine)
    assert isinstance(held, HeldLock)
    try:
        started = time.monotonic()
        refused = analysis_lock.acquire(engine, wait=0.6)
        waited = time.monotonic() - started
        assert isinstance(refused, Holder) and 0.6 <= waited < 5
    finally:
        held.release()


def test_a_run_taken_for_dead_writes_nothing_more(engine: Engine) -> None:
    held = analysis_lock.try_acquire(engine)
    assert isinstance(held, HeldLock)
    try:
        with session_scope(engine, write=True) as session:
            held.verify(session)  # still ours
            # what a taker does once it has judged this holder dead: its own row
            row = session.get(AnalysisLock, analysis_lock.ANALYSIS)
            assert row is not None
            row.token, row.pid = "someone-else", 4242
        with (
            pytest.raises(AlreadyRunningError, match="taken over by pid 4242") as caught,
            session_scope(engine, write=True) as session,
        ):
            held.verify(session)
        assert caught.value.exit_code == EXIT_BUSY
    finally:
        held.release()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _plant(engine: Engine, *, pid: int, host: str, beat_age: float) -> None:
    beat = utcnow() - timedelta(seconds=beat_age)
    with session_scope(engine, write=True) as session:
        session.add(
            AnalysisLock(
                name=analysis_lock.ANALYSIS, token="planted", pid=pid, host=host, started_at=beat, heartbeat_at=beat
            )
        )


@pytest.mark.parametrize(
    ("pid", "host", "beat_age", "taken_over"),
    [
        ("dead", "here", 0, True),  # killed on this host: its pid is gone
        ("alive", "here", 0, False),  # running and beating
        ("alive", "elsewhere", 0, False),  # another host, beating: cannot be checked, trusted
        ("alive", "elsewhere", analysis_lock.STALE_AFTER_SECONDS + 5, True),  # another host, silent too long
    ],
)
def test_a_sqlite_lock_row_of_a_dead_holder_is_taken_over(
    tmp_path: Path, sqlite_template: Path, pid: str, host: str, beat_age: float, taken_over: bool
) -> None:
    # (on PostgreSQL the server frees a dead holder's advisory lock: the next test)
    shutil.copy(sqlite_template, tmp_path / "lock.db")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    holder_pid = _dead_pid() if pid == "dead" else os.getppid()
    _plant(engine, pid=holder_pid, host=socket.gethostname() if host == "here" else "another-host", beat_age=beat_age)
    try:
        got = analysis_lock.try_acquire(engine)
        assert isinstance(got, HeldLock) is taken_over
        if isinstance(got, HeldLock):
            got.release()
        else:
            assert got.pid == holder_pid
    finally:
        engine.dispose()


HOLD = """
import sys, time
from bihuan.storage import analysis_lock
from bihuan.storage.engine import create_db_engine
lock = analysis_lock.try_acquire(create_db_engine(sys.argv[1]))
print("held" if isinstance(lock, analysis_lock.HeldLock) else "refused", flush=True)
time.sleep(600)
"""


def test_a_killed_holder_frees_the_lock(db_url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, db_url], stdout=subprocess.PIPE, text=True)
    engine = create_db_engine(db_url)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = analysis_lock.try_acquire(engine)
        assert isinstance(refused, Holder) and refused.pid == holder.pid
        holder.kill()
        holder.wait()
        # PostgreSQL: the server ends the session and its advisory lock; SQLite: the pid is gone
        got = analysis_lock.acquire(engine, wait=10)
        assert isinstance(got, HeldLock)
        got.release()
    finally:
        holder.kill()
        holder.wait()
        engine.dispose()
