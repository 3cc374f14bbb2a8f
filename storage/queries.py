"""Small query functions. Each takes ``*, session`` and never creates an engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bihuan.storage.engine import dialect_insert
from bihuan.storage.models import (
    CollectorRun,
    CollectorState,
    FeedbackItem,
    QuarantinedRecord,
    QuarantineStatus,
    RunStatus,
)
from bihuan.storage.types import utcnow

# ── collector runs ────────────────────────────────────────────────────────────────────


def create_run(
    *,
    collector: str,
    collector_type: str,
    source: str,
    config: dict[str, Any] | None,
    pid: int | None = None,
    host: str | None = None,
    session: Session,
) -> CollectorRun:
    """Start a run record (status ``running``, owned by process ``pid`` on ``host``) and
    flush it to get its id."""
    run = CollectorRun(
        collector=collector, collector_type=collector_type, source=source, config=config, pid=pid, host=host
    )
    session.add(run)
    session.flush()
    return run


def add_run_counts(
    run_id: int,
    *,
    read: int,
    new: int,
    updated: int,
    duplicates: int,
    quarantined: int,
    session: Session,
) -> None:
    """Add a checkpoint's counts to a run and beat its heartbeat."""
    run = session.get(CollectorRun, run_id)
    if run is None:
        raise LookupError(f"collector run {run_id} does not exist")
    run.read += read
    run.new += new
    run.updated += updated
    run.duplicates += duplicates
    run.quarantined += quarantined
    run.heartbeat_at = utcnow()
    if run.status == RunStatus.INTERRUPTED:  # taken for dead (a long silence), yet alive
        run.status, run.finished_at, run.error_class, run.error_message = RunStatus.RUNNING, None, None, None
    session.add(run)


def finish_run(
    run_id: int,
    *,
    status: RunStatus,
    error_class: str | None = None,
    error_message: str | None = None,
    session: Session,
) -> CollectorRun:
    """Mark a run finished with ``status``.

    The text index is not caught up here: ``bihuan analyze`` (and ``bihuan tick``) index
    what an import stored, off the import's path; a search reads items not indexed yet
    directly (right, but slower).
    """
    run = session.get(CollectorRun, run_id)
    if run is None:
        raise LookupError(f"collector run {run_id} does not exist")
    run.status = status
    run.finished_at = run.heartbeat_at = utcnow()
    run.error_class = error_class
    run.error_message = error_message
    session.add(run)
    return run


def list_runs(*, collector: str | None = None, limit: int = 50, session: Session) -> Sequence[CollectorRun]:
    """The newest runs first, optionally of one collector instance."""
    stmt = select(CollectorRun).order_by(col(CollectorRun.id).desc()).limit(limit)
    if collector:
        stmt = stmt.where(CollectorRun.collector == collector)
    return session.exec(stmt).all()


def get_run(run_id: int, *, session: Session) -> CollectorRun | None:
    return session.get(CollectorRun, run_id)


def running_runs(*, session: Session) -> Sequence[CollectorRun]:
    """The runs whose status is ``running`` (alive, or killed and not marked yet)."""
    return session.exec(select(CollectorRun).where(CollectorRun.status == RunStatus.RUNNING)).all()


def mark_run_interrupted(run: CollectorRun, *, message: str, session: Session) -> bool:
    """Mark ``run`` interrupted unless it beat its heartbeat (or finished) since it was
    read; whether it was marked."""
    result = session.execute(
        update(CollectorRun)
        .where(
            col(CollectorRun.id) == run.id,
            col(CollectorRun.status) == RunStatus.RUNNING,
            col(CollectorRun.heartbeat_at) == run.heartbeat_at,
        )
        .values(
            status=RunStatus.INTERRUPTED,
            finished_at=run.heartbeat_at,
            error_class="interrupted",
            error_message=message,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# ── collector state ───────────────────────────────────────────────────────────────────


def get_state(collector: str, *, session: Session) -> dict[str, Any] | None:
    """The state saved by the last checkpoint of ``collector``, or ``None``."""
    row = session.get(CollectorState, collector)
    return None if row is None else dict(row.state)


def get_state_run(collector: str, *, session: Session) -> int | None:
    """The run whose checkpoint saved the state of ``collector``."""
    row = session.get(CollectorState, collector)
    return None if row is None else row.run_id


def save_state(
    collector: str, state: dict[str, Any], *, collector_type: str, run_id: int | None, session: Session
) -> None:
    """Insert or replace the state of ``collector`` (an upsert, safe under concurrency)."""
    insert = dialect_insert(session)
    conn = session.connection()
    table = CollectorState.__table__  # type: ignore[attr-defined]
    values = {
        "collector": collector,
        "collector_type": collector_type,
        "state": state,
        "run_id": run_id,
        "updated_at": utcnow(),
    }
    stmt = insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.collector],
        set_={k: stmt.excluded[k] for k in ("collector_type", "state", "run_id", "updated_at")},
    )
    conn.execute(stmt)


# ── quarantine ────────────────────────────────────────────────────────────────────────


def add_quarantined(records: Sequence[dict[str, Any]], *, session: Session) -> None:
    """Insert quarantined records (dicts of ``QuarantinedRecord`` columns) in one batch."""
    if records:
        session.connection().execute(QuarantinedRecord.__table__.insert(), list(records))  # type: ignore[attr-defined]


def existing_payload_hashes(source: str, payload_hashes: Sequence[str], *, session: Session) -> set[str]:
    """The payload hashes of ``source`` already in quarantine (whatever their status)."""
    stmt = select(QuarantinedRecord.payload_hash).where(
        QuarantinedRecord.source == source, col(QuarantinedRecord.payload_hash).in_(payload_hashes)
    )
    return set(session.exec(stmt).all())


def list_quarantined(
    *,
    status: str | None = QuarantineStatus.OPEN,
    collector: str | None = None,
    run_id: int | None = None,
    limit: int = 100,
    session: Session,
) -> Sequence[QuarantinedRecord]:
    stmt = select(QuarantinedRecord).order_by(col(QuarantinedRecord.id)).limit(limit)
    if status:
        stmt = stmt.where(QuarantinedRecord.status == status)
    if collector:
        stmt = stmt.where(QuarantinedRecord.collector == collector)
    if run_id is not None:
        stmt = stmt.where(QuarantinedRecord.run_id == run_id)
    return session.exec(stmt).all()


def count_quarantined(*, status: str | None = QuarantineStatus.OPEN, session: Session) -> int:
    stmt = select(func.count()).select_from(QuarantinedRecord)
    if status:
        stmt = stmt.where(QuarantinedRecord.status == status)
    return int(session.exec(stmt).one())


def get_quarantined(record_id: int, *, session: Session) -> QuarantinedRecord | None:
    return session.get(QuarantinedRecord, record_id)


def resolve_quarantined(
    record: QuarantinedRecord, *, status: QuarantineStatus, item_id: int | None = None, session: Session
) -> None:
    """Close a quarantined record as retried (into ``item_id``) or discarded."""
    record.status = status
    record.item_id = item_id
    record.resolved_at = utcnow()
    session.add(record)


# ── feedback items ────────────────────────────────────────────────────────────────────


def count_items(*, source: str | None = None, session: Session) -> int:
    stmt = select(func.count()).select_from(FeedbackItem)
    if source:
        stmt = stmt.where(FeedbackItem.source == source)
    return int(session.exec(stmt).one())


def counts_by_channel(*, session: Session) -> dict[str, int]:
    stmt = select(FeedbackItem.channel, func.count()).group_by(FeedbackItem.channel)
    return {channel: int(n) for channel, n in session.exec(stmt).all()}


def get_item(source: str, external_id: str, *, session: Session) -> FeedbackItem | None:
    stmt = select(FeedbackItem).where(FeedbackItem.source == source, FeedbackItem.external_id == external_id)
    return session.exec(stmt).first()
