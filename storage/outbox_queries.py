"""Query functions of the notice outbox. Each takes ``*, session`` and never creates engines.

A delivery attempt *claims* its row first: one ``UPDATE … WHERE status = 'pending' AND the
lease is free`` that counts the attempt and sets a lease. Two senders at once (two
``bihuan tick`` from cron, a command and the workplace) cannot both claim it, so a
delivered notice is never sent twice by bihuan; a sender that dies mid-attempt leaves a
lease that runs out, and the next tick tries again (at least once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from bihuan.storage.outbox_models import DeliveryStatus, NoticeDelivery, OutboxNotice


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery with its notice, as delivery and ``bihuan notices`` read it."""

    id: int
    notice_id: int
    key: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None


def _rows_stmt() -> Any:
    return select(
        NoticeDelivery.id,
        NoticeDelivery.notice_id,
        OutboxNotice.key,
        OutboxNotice.kind,
        OutboxNotice.payload,
        OutboxNotice.created_at,
        NoticeDelivery.target,
        NoticeDelivery.status,
        NoticeDelivery.attempts,
        NoticeDelivery.next_attempt_at,
        NoticeDelivery.last_attempt_at,
        NoticeDelivery.last_error,
        NoticeDelivery.delivered_at,
    ).join(OutboxNotice, col(OutboxNotice.id) == col(NoticeDelivery.notice_id))


def add_notice(
    key: str, kind: str, payload: dict[str, Any], targets: Sequence[str], now: datetime, *, session: Session
) -> int:
    """The notice and one pending delivery per target, due at once; returns the notice id."""
    notice = OutboxNotice(key=key, kind=kind, payload=payload, created_at=now)
    session.add(notice)
    session.flush()
    assert notice.id is not None
    session.add_all(NoticeDelivery(notice_id=notice.id, target=target, next_attempt_at=now) for target in targets)
    session.flush()
    return notice.id


def due_deliveries(
    now: datetime,
    *,
    targets: Sequence[str],
    notice_ids: Sequence[int] | None = None,
    limit: int = 500,
    session: Session,
) -> list[DeliveryRow]:
    """Pending deliveries to ``targets`` that are due and not held by another attempt,
    oldest notice first (a target's chat gets the notices in the order they happened)."""
    if not targets or (notice_ids is not None and not notice_ids):
        return []
    stmt = _rows_stmt().where(
        NoticeDelivery.status == DeliveryStatus.PENDING,
        col(NoticeDelivery.next_attempt_at) <= now,
        or_(col(NoticeDelivery.lease_until).is_(None), col(NoticeDelivery.lease_until) < now),
        col(NoticeDelivery.target).in_(list(targets)),
    )
    if notice_ids is not None:
        stmt = stmt.where(col(NoticeDelivery.notice_id).in_(list(notice_ids)))
    stmt = stmt.order_by(col(NoticeDelivery.notice_id), col(NoticeDelivery.id)).limit(limit)
    return [DeliveryRow(*row) for row in session.exec(stmt)]


def claim(delivery_id: int, now: datetime, lease_until: datetime, *, session: Session) -> int | None:
    """Take the delivery for one attempt: the attempt is counted and the row leased until
    ``lease_until``. Returns the attempt number, or ``None`` if the row is delivered,
    failed or held by another attempt."""
    result = session.execute(
        update(NoticeDelivery)
        .where(
            and_(
                col(NoticeDelivery.id) == delivery_id,
                NoticeDelivery.status == DeliveryStatus.PENDING,
                or_(col(NoticeDelivery.lease_until).is_(None), col(NoticeDelivery.lease_until) < now),
            )
        )
        .values(attempts=col(NoticeDelivery.attempts) + 1, lease_until=lease_until, last_attempt_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.exec(select(NoticeDelivery.attempts).where(NoticeDelivery.id == delivery_id)).one()


def finish_attempt(
    delivery_id: int,
    *,
    status: DeliveryStatus,
    now: datetime,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    session: Session,
) -> None:
    """Record how a claimed attempt ended and release the lease."""
    values: dict[str, Any] = {"status": status, "lease_until": None}
    if status == DeliveryStatus.DELIVERED:
        values["delivered_at"] = now
    else:
        values["last_error"] = error
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    session.execute(update(NoticeDelivery).where(col(NoticeDelivery.id) == delivery_id).values(**values))


def list_deliveries(
    *,
    statuses: Sequence[str] | None = None,
    notice_ids: Sequence[int] | None = None,
    limit: int = 200,
    session: Session,
) -> list[DeliveryRow]:
    """Deliveries in ``statuses`` (all when ``None``), of ``notice_ids`` (all when
    ``None``), newest notice first."""
    stmt = _rows_stmt()
    if statuses:
        stmt = stmt.where(col(NoticeDelivery.status).in_(list(statuses)))
    if notice_ids is not None:
        stmt = stmt.where(col(NoticeDelivery.notice_id).in_(list(notice_ids)))
    stmt = stmt.order_by(col(NoticeDelivery.notice_id).desc(), col(NoticeDelivery.id)).limit(limit)
    return [DeliveryRow(*row) for row in session.exec(stmt)]


def requeue(notice_ids: Sequence[int], now: datetime, *, session: Session) -> int:
    """Make the undelivered deliveries of these notices due now again (failed ones too);
    returns how many. Delivered ones stay delivered."""
    result = session.execute(
        update(NoticeDelivery)
        .where(
            col(NoticeDelivery.notice_id).in_(list(notice_ids)),
            NoticeDelivery.status != DeliveryStatus.DELIVERED,
        )
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now, lease_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def existing_notice_ids(notice_ids: Sequence[int], *, session: Session) -> set[int]:
    stmt = select(OutboxNotice.id).where(col(OutboxNotice.id).in_(list(notice_ids)))
    return {i for i in session.exec(stmt) if i is not None}


def status_counts(*, session: Session) -> dict[str, int]:
    """Deliveries per status."""
    stmt = select(NoticeDelivery.status, func.count()).group_by(col(NoticeDelivery.status))
    return {status: int(n) for status, n in session.exec(stmt)}
