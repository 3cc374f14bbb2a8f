"""Who runs a collector run, and finding the runs whose process is gone.

A run records the process that runs it (pid and host). A process killed with SIGKILL, by
the OOM killer or a reboot cannot record its own end, so its run would stay ``running``
for ever; :func:`mark_interrupted_runs` marks such runs ``interrupted`` when someone looks
(``bihuan runs``, the next ``bihuan import``/``collect``, ``bihuan tick``):

* a run on this host whose process no longer exists was killed;
* a run whose heartbeat (beaten at every committed checkpoint) is older than
  :data:`STALE_AFTER` is taken for dead whatever its host — the only sign there is for a
  run on another machine, and a guard against a pid reused by an unrelated process here.
  Should such a run be alive after all (a collector silent for that long), its next
  checkpoint sets it back to ``running``.

The next run of an interrupted run's collector resumes from the last checkpoint, as after
any crash: items and state are committed together.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Engine

from bihuan.core.errors import DatabaseReadOnlyError
from bihuan.storage import queries
from bihuan.storage.engine import session_scope
from bihuan.storage.models import CollectorRun
from bihuan.storage.types import utcnow

log = logging.getLogger(__name__)

#: a running run whose heartbeat is older than this is taken for dead
STALE_AFTER = timedelta(hours=1)


@cache
def this_host() -> str:
    """The name runs of this machine record as their host."""
    return socket.gethostname()[:255]


def run_owner() -> tuple[int, str]:
    """``(pid, host)`` of the process running a collector now."""
    return os.getpid(), this_host()


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (any user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only the existence and permission checks
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, another user's
        return True
    except OSError:
        return True  # cannot tell: leave it to the heartbeat
    return True


def why_interrupted(run: CollectorRun, *, now: datetime, stale_after: timedelta = STALE_AFTER) -> str | None:
    """Why the ``running`` run is not running any more, or ``None`` if it may be."""
    if run.pid is not None and run.host == this_host() and run.pid != os.getpid() and not process_alive(run.pid):
        return f"its process (pid {run.pid} on {run.host}) is gone; the next run resumes from the last checkpoint"
    silent = now - run.heartbeat_at
    if silent > stale_after:
        owner = f"pid {run.pid} on {run.host}" if run.pid is not None else "owner unknown"
        minutes = int(silent.total_seconds() // 60)
        return (
            f"no sign of life for {minutes} min ({owner}); taken for interrupted, the next run resumes "
            "from the last checkpoint"
        )
    return None


def mark_interrupted_runs(engine: Engine, *, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Mark the running runs whose process is gone ``interrupted``; their ids.

    Looking must not stop a command that only reads: on a read-only database the runs
    are left as they are (and listed as stored).
    """
    now = utcnow()
    try:
        with session_scope(engine) as session:
            running = list(queries.running_runs(session=session))
        marked = []
        for run in running:
            message = why_interrupted(run, now=now, stale_after=stale_after)
            if message is None:
                continue
            with session_scope(engine, write=True) as session:
                if queries.mark_run_interrupted(run, message=message, session=session):
                    marked.append(run.id)
                    log.info("collector run %s (%s) marked interrupted: %s", run.id, run.collector, message)
    except DatabaseReadOnlyError as exc:
        log.warning("cannot mark interrupted runs: %s", exc)
        return []
    return [run_id for run_id in marked if run_id is not None]
