"""SLA cases: feedback that needs an answer gets due times from its channel's policy;
the team marks it responded and resolved; breaches are announced once.

Each function is one transaction. Responding and resolving name the case version they
read (a stale write is refused); the engine's own bookkeeping (breach flags) does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bihuan.core.config import FollowUpSettings, SlaPolicy, SlaSettings
from bihuan.core.errors import UsageError
from bihuan.core.notices import SlaBreach
from bihuan.core.sla.hooks import CaseHooks
from bihuan.core.sla.policy import add_hours
from bihuan.storage import case_queries as cq
from bihuan.storage.case_models import CaseEvent, CaseStatus, FollowUp, ItemCase
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow

#: ratings at or below this need an answer under an ``only_negative`` policy
LOW_RATING = 2


@dataclass(frozen=True)
class CaseContext:
    """Settings every case operation shares."""

    zone: ZoneInfo
    sla: SlaSettings
    followup: FollowUpSettings
    hooks: CaseHooks

    def due(self, start: datetime, hours: float | None, policy: SlaPolicy) -> datetime | None:
        if hours is None:
            return None
        business = self.sla.business_hours if policy.business_hours else None
        return add_hours(start, hours, zone=self.zone, business=business, holidays=frozenset(self.sla.holidays))


def needs_answer(policy: SlaPolicy, rating: float | None, sentiment_label: str | None) -> bool:
    if not policy.only_negative:
        return True
    return sentiment_label == "negative" or (rating is not None and rating <= LOW_RATING)


def open_new_cases(engine: Engine, ctx: CaseContext, *, now: datetime | None = None) -> int:
    """Open a case, with its due times, for each recent item that needs an answer.

    Incremental: only items without a case, created within ``open_since_days``. Timers
    already past at ``now`` are not announced by :func:`announce_breaches` (the case is
    listed as breached all the same).
    """
    now = now or utcnow()
    policies = ctx.sla.policies
    if not policies:
        return 0
    since = now - timedelta(days=ctx.sla.open_since_days)
    with session_scope(engine, write=True) as session:
        rows = []
        for c in cq.items_without_case(sorted(policies), since, session=session):
            policy = policies[c.channel]
            if not needs_answer(policy, c.rating, c.sentiment_label):
                continue
            response_due = ctx.due(c.created_at, policy.first_response_hours, policy)
            resolution_due = ctx.due(c.created_at, policy.resolution_hours, policy)
            rows.append(
                {
                    "item_id": c.item_id,
                    "policy": c.channel,
                    "status": CaseStatus.OPEN,
                    "opened_at": c.created_at,
                    "response_due": response_due,
                    "resolution_due": resolution_due,
                    # a timer already past when the case opens (a backfill, a collector
                    # that was down) is listed as breached but not announced: one message
                    # per old item would bury the team's group chat
                    "response_breach_notified": response_due is not None and response_due < now,
                    "resolution_breach_notified": resolution_due is not None and resolution_due < now,
                    "version": 1,
                }
            )
        return cq.add_cases(rows, session=session)


def _case(item_id: int, session: object) -> ItemCase:
    found = cq.get_case(item_id, session=session)  # type: ignore[arg-type]
    if found is None:
        raise UsageError(f"feedback item {item_id} has no SLA case (`bihuan sla` lists the open ones)")
    return found


def respond(
    engine: Engine, item_id: int, *, actor: str, read_version: int | None = None, now: datetime | None = None
) -> ItemCase:
    """Mark the first response given (now)."""
    now = now or utcnow()
    with session_scope(engine, write=True) as session:
        current = _case(item_id, session)
        if current.responded_at is not None:
            raise UsageError(f"case {item_id} was answered already, at {current.responded_at:%Y-%m-%d %H:%M} UTC")
        version = current.version if read_version is None else read_version
        status = CaseStatus.RESPONDED if current.status == CaseStatus.OPEN else current.status
        updated = cq.update_case(
            item_id, version, {"responded_at": now, "responded_by": actor, "status": status}, session=session
        )
        late = current.response_due is not None and now > current.response_due
        cq.add_case_events(
            [CaseEvent(item_id=item_id, kind="responded", actor=actor, at=now, detail={"late": late})], session=session
        )
        return updated


def resolve(
    engine: Engine,
    ctx: CaseContext,
    item_id: int,
    *,
    actor: str,
    read_version: int | None = None,
    now: datetime | None = None,
) -> tuple[ItemCase, FollowUp | None]:
    """Mark the case resolved (now); a complaint of a follow-up channel gets its 回访 due
    ``after_days`` later. Resolving answers the case too if nobody had."""
    now = now or utcnow()
    with session_scope(engine, write=True) as session:
        current = _case(item_id, session)
        if current.status == CaseStatus.RESOLVED:
            raise UsageError(f"case {item_id} is resolved already")
        version = current.version if read_version is None else read_version
        values: dict[str, object] = {"resolved_at": now, "resolved_by": actor, "status": CaseStatus.RESOLVED}
        if current.responded_at is None:
            values |= {"responded_at": now, "responded_by": actor}
        updated = cq.update_case(item_id, version, values, session=session)
        late = current.resolution_due is not None and now > current.resolution_due
        cq.add_case_events(
            [CaseEvent(item_id=item_id, kind="resolved", actor=actor, at=now, detail={"late": late})], session=session
        )
        followup = None
        if current.policy in ctx.followup.channels:
            followup = cq.add_followup(
                FollowUp(item_id=item_id, due_at=now + timedelta(days=ctx.followup.after_days), created_at=now),
                session=session,
            )
        return updated, followup


def announce_breaches(engine: Engine, ctx: CaseContext, *, now: datetime | None = None) -> list[SlaBreach]:
    """Announce every newly breached timer (once per case and timer).

    The flags and the notices in the outbox commit together, so every flagged breach is
    delivered (at least once, by the outbox) and none is announced twice; the event hooks
    are told after the commit.
    """
    now = now or utcnow()
    notices: list[SlaBreach] = []
    with session_scope(engine, write=True) as session:
        found = cq.unannounced_breaches(now, session=session)
        for row in found:
            for timer, breached, due in (
                ("response", row.response, row.response_due),
                ("resolution", row.resolution, row.resolution_due),
            ):
                if breached and due is not None:
                    notices.append(
                        SlaBreach(
                            item_id=row.item_id,
                            channel=row.channel,
                            policy=row.policy,
                            timer=timer,
                            due_at=due,
                            opened_at=row.opened_at,
                            excerpt=row.text[:80],
                        )
                    )
        cq.mark_announced(
            [r.item_id for r in found if r.response], [r.item_id for r in found if r.resolution], session=session
        )
        ctx.hooks.record(*notices, session=session)
    for notice in notices:
        ctx.hooks.fire("on_sla_breach", breach=notice)
    return notices


def compliance(engine: Engine, since: datetime, until: datetime) -> float | None:
    """Share of first responses given in time among those due in ``[since, until)``."""
    with session_scope(engine) as session:
        met, total = cq.response_compliance(since, until, session=session)
    return met / total if total else None
