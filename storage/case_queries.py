"""Query functions of SLA cases, their events and 回访 follow-ups (``*, session``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, update
from sqlmodel import Session, col, select

from bihuan.core.errors import StaleWriteError
from bihuan.storage.analysis_models import ItemAnalysis
from bihuan.storage.case_models import CaseEvent, CaseStatus, FollowUp, FollowUpStatus, ItemCase
from bihuan.storage.engine import dialect_insert
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
        # in created_at order the range is read through its index; ordered by id, SQLite
        # walked the whole table (0.9 s instead of 25 ms on a million items)
        .order_by(col(FeedbackItem.created_at), col(FeedbackItem.id))
    )
    return [Candidate(*row) for row in session.exec(stmt)]  # type: ignore[call-overload]


def add_cases(rows: Sequence[dict[str, Any]], *, session: Session) -> int:
    """Insert cases; one another session (a colleague's workplace, the cron tick) opened
    in the meantime is left as it is. Returns how many were inserted."""
    if not rows:
        return 0
    stmt = dialect_insert(session)(ItemCase).on_conflict_do_nothing(index_elements=["item_id"])
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
        # a reopened case is owed a resolution even when its policy is gone from the config
        .where(ItemCase.status != CaseStatus.RESOLVED, or_(due.is_not(None), ItemCase.status == CaseStatus.REOPENED))
        .order_by(due.is_(None), due, col(ItemCase.item_id))
        .limit(limit)
    )
    if breached_only:
        stmt = stmt.where(due < now)
    if channel:
        stmt = stmt.where(FeedbackItem.channel == channel)
    return [CaseRow(*row) for row in session.exec(stmt)]  # type: ignore[call-overload]


@dataclass(frozen=True)
class BreachRow:
    """A case past a due time whose breach was not announced yet; ``response`` and
    ``resolution`` say which timers are newly breached."""

    item_id: int
    channel: str
    policy: str
    opened_at: datetime
    response_due: datetime | None
    resolution_due: datetime | None
    text: str
    response: bool
    resolution: bool


def unannounced_breaches(now: datetime, *, session: Session) -> list[BreachRow]:
    """Cases with a newly breached timer, by item id (plain rows: there may be thousands)."""
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
        select(
            ItemCase.item_id,
            FeedbackItem.channel,
            ItemCase.policy,
            ItemCase.opened_at,
            ItemCase.response_due,
            ItemCase.resolution_due,
            func.substr(FeedbackItem.text, 1, 200),
            case((response, True), else_=False),
            case((resolution, True), else_=False),
        )
        .join(FeedbackItem, col(FeedbackItem.id) == col(ItemCase.item_id))
        .where(or_(response, resolution))
        .order_by(col(ItemCase.item_id))
    )
    return [BreachRow(*row[:7], bool(row[7]), bool(row[8])) for row in session.exec(stmt)]  # type: ignore[call-overload]


def mark_announced(response: Sequence[int], resolution: Sequence[int], *, session: Session) -> None:
    """Set the breach flags of these cases: the engine's bookkeeping, not a user's edit, so
    no version bump. Core UPDATEs by id chunk (an ORM update would sync each statement
    against every case object in the session)."""
    table = ItemCase.__table__  # type: ignore[attr-defined]
    for ids, column in ((response, "response_breach_notified"), (resolution, "resolution_breach_notified")):
        for start in range(0, len(ids), 5000):  # within SQLite's limit of bound parameters
            chunk = list(ids[start : start + 5000])
            session.execute(update(table).where(table.c.item_id.in_(chunk)).values({column: True}))


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
    """A resolved case and a later contact by the same customer."""

    item_id: int
    customer_ref: str
    resolved_at: datetime
    channel: str
    text: str
    repeat_item_id: int
    repeat_at: datetime
    repeat_channel: str
    repeat_text: str


def repeats_after_resolution(since: datetime, within: timedelta, *, session: Session) -> list[RepeatComplaint]:
    """Contacts by the same customer within ``within`` after each case resolved since
    ``since``, leaving out contacts that are clearly happy (positive sentiment; before
    analysis, a rating of 4-5). Ordered by resolution, then contact time.

    Two reads instead of a self-join on customer_ref (not indexed): SQLite built an
    automatic index over the whole feedback table for the join on every call.
    """
    resolved = (
        select(
            ItemCase.item_id,
            FeedbackItem.customer_ref,
            ItemCase.resolved_at,
            FeedbackItem.channel,
            FeedbackItem.text,
        )
        .join(FeedbackItem, col(FeedbackItem.id) == col(ItemCase.item_id))
        .where(col(ItemCase.resolved_at) >= since, col(FeedbackItem.customer_ref).is_not(None))
    )
    cases_by_ref: dict[str, list[tuple[Any, ...]]] = {}
    for row in session.exec(resolved):  # type: ignore[call-overload]
        cases_by_ref.setdefault(row[1], []).append(tuple(row))
    if not cases_by_ref:
        return []
    earliest = min(row[2] for rows in cases_by_ref.values() for row in rows)
    # never NULL (NOT NULL would drop the contact): an item not analysed yet, without a
    # rating, is not happy
    happy = or_(
        and_(col(ItemAnalysis.sentiment_label).is_not(None), ItemAnalysis.sentiment_label == "positive"),
        and_(col(ItemAnalysis.sentiment_label).is_(None), func.coalesce(col(FeedbackItem.rating), 0) >= 4),
    )
    refs = sorted(cases_by_ref)
    found: list[RepeatComplaint] = []
    for start in range(0, len(refs), 5000):  # within SQLite's limit of bound parameters
        contacts = (
            select(
                FeedbackItem.id,
                FeedbackItem.customer_ref,
                FeedbackItem.created_at,
                FeedbackItem.channel,
                FeedbackItem.text,
            )
            .outerjoin(ItemAnalysis, col(ItemAnalysis.item_id) == col(FeedbackItem.id))
            .where(
                col(FeedbackItem.created_at) > earliest,
                col(FeedbackItem.customer_ref).in_(refs[start : start + 5000]),
                ~happy,
            )
        )
        for item_id, ref, created_at, channel, text in session.exec(contacts):  # type: ignore[call-overload]
            for case_id, _, resolved_at, case_channel, case_text in cases_by_ref[ref]:
                if case_id != item_id and resolved_at < created_at <= resolved_at + within:
                    found.append(
                        RepeatComplaint(
                            case_id, ref, resolved_at, case_channel, case_text, item_id, created_at, channel, text
                        )
                    )
    found.sort(key=lambda r: (r.resolved_at, r.repeat_at, r.item_id))
    return found
