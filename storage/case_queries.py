"""Query functions of SLA cases, their events and 回访 follow-ups (``*, session``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, update
from sqlmodel import Session, col, select

from bihuan.core.errors import StaleWriteError
from bihuan.storage.analysis_models import ItemAnalysis
from bihuan.storage.case_models import CaseEvent, CaseStatus, FollowUp, FollowUpStatus, ItemCase
from bihuan.storage.models import FeedbackItem


@dataclass(frozen=True)
class Candidate:
    """A new item that may need a case."""

    item_id: int
    channel: str
    created_at: datetime
    rating: float | None
    sentiment_label: str | None


def items_without_case(channels: Sequence[str], since: datetime, *, session: Session) -> list[Candidate]:
    """Items of ``channels`` created since ``since`` that have no case yet."""
    stmt = (
        select(
            FeedbackItem.id,
            FeedbackItem.channel,
            FeedbackItem.created_at,
            FeedbackItem.rating,
            ItemAnalysis.sentiment_label,
        )
        .select_from(FeedbackItem)
        .outerjoin(ItemCase, col(ItemCase.item_id) == col(FeedbackItem.id))
        .outerjoin(ItemAnalysis, col(ItemAnalysis.item_id) == col(FeedbackItem.id))
        .where(
            col(FeedbackItem.created_at) >= since,
            col(FeedbackItem.channel).in_(list(channels)),
            col(ItemCase.item_id).is_(None),
        )
        .order_by(col(FeedbackItem.id))
    )
    return [Candidate(*row) for row in session.exec(stmt)]  # type: ignore[call-overload]


def add_cases(rows: Sequence[dict[str, Any]], *, session: Session) -> int:
    """Insert cases; one another session (a colleague's workplace, the cron tick) opened
    in the meantime is left as it is. Returns how many were inserted."""
    if not rows:
        return 0
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    stmt = upsert(ItemCase).on_conflict_do_nothing(index_elements=["item_id"])
    inserted = 0
    for start in range(0, len(rows), 5000):  # within SQLite's limit of bound parameters
        chunk = list(rows[start : start + 5000])
        counted = select(func.count()).where(col(ItemCase.item_id).in_([row["item_id"] for row in chunk]))
        before = session.exec(counted).one()  # type: ignore[call-overload]
        session.execute(stmt, chunk)
        inserted += int(session.exec(counted).one()) - int(before)  # type: ignore[call-overload]
    return inserted


def add_case_events(events: Iterable[CaseEvent], *, session: Session) -> None:
    session.add_all(list(events))
    session.flush()


def get_case(item_id: int, *, session: Session) -> ItemCase | None:
    return session.get(ItemCase, item_id, populate_existing=True)


def case_events(item_id: int, *, session: Session) -> list[CaseEvent]:
    stmt = select(CaseEvent).where(CaseEvent.item_id == item_id).order_by(col(CaseEvent.id))
    return list(session.exec(stmt))


def update_case(item_id: int, read_version: int, values: dict[str, Any], *, session: Session) -> ItemCase:
    """Write ``values`` if the case is still at ``read_version``; bump the version."""
    stmt = (
        update(ItemCase)
        .where(and_(col(ItemCase.item_id) == item_id, col(ItemCase.version) == read_version))
        .values(**values, version=ItemCase.version + 1)
    )
    if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
        current = get_case(item_id, session=session)
        if current is None:
            raise StaleWriteError(f"case {item_id} no longer exists; nothing was saved")
        raise StaleWriteError(
            f"case {item_id} was changed by someone else (now {current.status}, version {current.version}; "
            f"you read version {read_version}); nothing was saved — reload it and try again"
        )
    updated = get_case(item_id, session=session)
    assert updated is not None
    return updated


def next_due() -> Any:
    """The due time a case is measured against now: the response, then the resolution."""
    return case((col(ItemCase.responded_at).is_(None), col(ItemCase.response_due)), else_=col(ItemCase.resolution_due))


@dataclass(frozen=True)
class CaseRow:
    item_id: int
    channel: str
    policy: str
    status: str
    due: datetime | None
    opened_at: datetime
    text: str
    version: int


def open_cases(
    *, now: datetime, breached_only: bool = False, channel: str | None = None, limit: int = 500, session: Session
) -> list[CaseRow]:
    """Cases still owed something (a response, or a resolution), soonest due first."""
    due = next_due()
    stmt = (
        select(
            ItemCase.item_id,
            FeedbackItem.channel,
            ItemCase.policy,
            ItemCase.status,
            due,
            ItemCase.opened_at,
            FeedbackItem.text,
            ItemCase.version,
        )
        .join(FeedbackItem, col(FeedbackItem.id) == col(ItemCase.item_id))
        .where(ItemCase.status != CaseStatus.RESOLVED, due.is_not(None))
        .order_by(due, col(ItemCase.item_id))
        .limit(limit)
    )
    if breached_only:
        stmt = stmt.where(due < now)
    if channel:
        stmt = stmt.where(FeedbackItem.channel == channel)
    return [CaseRow(*row) for row in session.exec(stmt)]  # type: ignore[call-overload]


def unannounced_breaches(now: datetime, *, session: Session) -> list[tuple[ItemCase, str, str]]:
    """(case, channel, text) of cases past a due time whose breach was not announced yet."""
    response = and_(
        col(ItemCase.responded_at).is_(None),
        col(ItemCase.response_due) < now,
        col(ItemCase.response_breach_notified).is_(False),
    )
    resolution = and_(
        col(ItemCase.resolved_at).is_(None),
        col(ItemCase.resolution_due) < now,
        col(ItemCase.resolution_breach_notified).is_(False),
    )
    stmt = (
        select(ItemCase, FeedbackItem.channel, FeedbackItem.text)
        .join(FeedbackItem, col(FeedbackItem.id) == col(ItemCase.item_id))
        .where(or_(response, resolution))
        .order_by(col(ItemCase.item_id))
    )
    return [tuple(row) for row in session.exec(stmt)]  # type: ignore[misc]


def mark_announced(item_id: int, *, response: bool, resolution: bool, session: Session) -> None:
    values = {}
    if response:
        values["response_breach_notified"] = True
    if resolution:
        values["resolution_breach_notified"] = True
    if values:  # the engine's bookkeeping, not a user's edit: no version bump
        session.execute(update(ItemCase).where(col(ItemCase.item_id) == item_id).values(**values))


def response_compliance(since: datetime, until: datetime, *, session: Session) -> tuple[int, int]:
    """(answered in time, due) over cases whose response fell due in ``[since, until)``."""
    in_time = and_(col(ItemCase.responded_at).is_not(None), col(ItemCase.responded_at) <= col(ItemCase.response_due))
    stmt = select(func.coalesce(func.sum(case((in_time, 1), else_=0)), 0), func.count()).where(
        col(ItemCase.response_due) >= since, col(ItemCase.response_due) < until
    )
    met, total = session.exec(stmt).one()  # type: ignore[call-overload]
    return int(met), int(total)


# ── follow-ups ────────────────────────────────────────────────────────────────────────


def add_followup(followup: FollowUp, *, session: Session) -> FollowUp:
    session.add(followup)
    session.flush()
    return followup


def get_followup(followup_id: int, *, session: Session) -> FollowUp | None:
    return session.get(FollowUp, followup_id, populate_existing=True)


def pending_followups(*, due_before: datetime | None = None, limit: int = 500, session: Session) -> list[FollowUp]:
    stmt = (
        select(FollowUp)
        .where(FollowUp.status == FollowUpStatus.PENDING)
        .order_by(col(FollowUp.due_at), col(FollowUp.id))
        .limit(limit)
    )
    if due_before is not None:
        stmt = stmt.where(col(FollowUp.due_at) < due_before)
    return list(session.exec(stmt))


def complete_followup(followup_id: int, values: dict[str, Any], *, session: Session) -> bool:
    """Record the outcome if the follow-up is still pending (two people calling back: one wins)."""
    stmt = (
        update(FollowUp)
        .where(col(FollowUp.id) == followup_id, FollowUp.status == FollowUpStatus.PENDING)
        .values(**values, status=FollowUpStatus.DONE)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RepeatComplaint:
    item_id: int
    customer_ref: str
    resolved_at: datetime
    repeat_item_id: int
    repeat_at: datetime
    repeat_channel: str
    repeat_text: str


def repeats_after_resolution(since: datetime, *, session: Session) -> list[RepeatComplaint]:
    """Contacts by the same customer after each case resolved since ``since`` (the caller
    keeps those within its window)."""
    first = FeedbackItem.__table__.alias("first")  # type: ignore[attr-defined]
    again = FeedbackItem.__table__.alias("again")  # type: ignore[attr-defined]
    stmt = (
        select(
            col(ItemCase.item_id),
            first.c.customer_ref,
            col(ItemCase.resolved_at),
            again.c.id,
            again.c.created_at,
            again.c.channel,
            again.c.text,
        )
        .join(first, first.c.id == col(ItemCase.item_id))
        .join(again, and_(again.c.customer_ref == first.c.customer_ref, again.c.id != first.c.id))
        .where(
            col(ItemCase.resolved_at) >= since,
            first.c.customer_ref.is_not(None),
            again.c.created_at >= since,
            again.c.created_at > col(ItemCase.resolved_at),
        )
        .order_by(col(ItemCase.resolved_at), again.c.created_at)
    )
    return [RepeatComplaint(*row) for row in session.exec(stmt)]  # type: ignore[call-overload]
