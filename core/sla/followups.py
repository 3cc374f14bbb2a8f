"""回访: the call back after a complaint was resolved. An unhappy outcome reopens the
case; contacts by the same customer soon after a resolution are reported as repeats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from bihuan.core.errors import UsageError
from bihuan.core.notices import CaseReopened
from bihuan.core.sla.cases import CaseContext
from bihuan.storage import case_queries as cq
from bihuan.storage.case_models import CaseEvent, CaseStatus, FollowUpOutcome
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow


@dataclass(frozen=True)
class FollowUpResult:
    followup_id: int
    item_id: int
    outcome: str
    satisfaction: int | None
    reopened: bool


def is_unhappy(outcome: FollowUpOutcome, satisfaction: int | None, unhappy_below: int) -> bool:
    return outcome is FollowUpOutcome.UNSATISFIED or (satisfaction is not None and satisfaction < unhappy_below)


def record_followup(
    engine: Engine,
    ctx: CaseContext,
    followup_id: int,
    *,
    outcome: str,
    satisfaction: int | None,
    note: str | None,
    actor: str,
    now: datetime | None = None,
) -> FollowUpResult:
    """Record what the customer said; unhappy reopens the case with a new resolution due."""
    now = now or utcnow()
    try:
        said = FollowUpOutcome(outcome)
    except ValueError:
        raise UsageError(f"unknown outcome {outcome!r}: satisfied, unsatisfied or unreachable") from None
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        raise UsageError("satisfaction is 1 (very unhappy) .. 5 (very happy)")
    with session_scope(engine, write=True) as session:
        followup = cq.get_followup(followup_id, session=session)
        if followup is None:
            raise UsageError(f"no follow-up {followup_id}")
        done = cq.complete_followup(
            followup_id,
            {
                "outcome": said.value,
                "satisfaction": satisfaction,
                "note": note,
                "recorded_by": actor,
                "recorded_at": now,
            },
            session=session,
        )
        if not done:
            raise UsageError(f"follow-up {followup_id} was recorded already")
        item_id = followup.item_id
        unhappy = is_unhappy(said, satisfaction, ctx.followup.unhappy_below)
        events = [
            CaseEvent(
                item_id=item_id,
                kind="follow_up",
                actor=actor,
                at=now,
                detail={"follow_up": followup_id, "outcome": said.value, "satisfaction": satisfaction},
            )
        ]
        channel = ""
        reopened: CaseReopened | None = None
        if unhappy:
            case = cq.get_case(item_id, session=session)
            assert case is not None
            channel = case.policy
            policy = ctx.sla.policies.get(case.policy)
            # a policy that only owes an answer (social) gives the reopened case its
            # response time to be resolved in, so it stays in the queue with a due time
            hours = (policy.resolution_hours or policy.first_response_hours) if policy else None
            resolution_due = ctx.due(now, hours, policy) if policy else None
            cq.update_case(
                item_id,
                case.version,
                {
                    "status": CaseStatus.REOPENED,
                    "resolved_at": None,
                    "resolved_by": None,
                    "resolution_due": resolution_due,
                    "resolution_breach_notified": False,
                },
                session=session,
            )
            events.append(
                CaseEvent(item_id=item_id, kind="reopened", actor=actor, at=now, detail={"follow_up": followup_id})
            )
            reopened = CaseReopened(
                item_id=item_id,
                channel=channel,
                follow_up_id=followup_id,
                outcome=said.value,
                satisfaction=satisfaction,
                actor=actor,
            )
            ctx.hooks.record(reopened, session=session)
        cq.add_case_events(events, session=session)
    if reopened is not None:
        ctx.hooks.fire("on_case_reopened", reopened=reopened)
    return FollowUpResult(followup_id, item_id, said.value, satisfaction, unhappy)


def repeat_complaints(
    engine: Engine, ctx: CaseContext, *, days: int | None = None, since_days: int = 90, now: datetime | None = None
) -> list[cq.RepeatComplaint]:
    """Customers who contacted again within ``days`` (default ``repeat_days``) after their
    case was resolved, over cases resolved in the last ``since_days``; a contact that is
    clearly happy (positive sentiment) is not a complaint and is left out."""
    now = now or utcnow()
    window = timedelta(days=days or ctx.followup.repeat_days)
    with session_scope(engine) as session:
        return cq.repeats_after_resolution(now - timedelta(days=since_days), window, session=session)
