"""Tables of case handling: SLA timers on feedback that needs an answer, the case's event
log, and 回访 follow-ups after a complaint is resolved."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from bihuan.storage.types import UTCDateTime, utcnow


class CaseStatus(StrEnum):
    OPEN = "open"  # waiting for a first response
    RESPONDED = "responded"  # answered, not resolved yet
    RESOLVED = "resolved"
    REOPENED = "reopened"  # an unhappy 回访 reopened it


class FollowUpStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"


class FollowUpOutcome(StrEnum):
    SATISFIED = "satisfied"
    UNSATISFIED = "unsatisfied"
    UNREACHABLE = "unreachable"


class ItemCase(SQLModel, table=True):
    """A feedback item that needs a response under its channel's SLA policy."""

    __tablename__ = "item_case"
    __table_args__ = (Index("ix_item_case_status_response_due", "status", "response_due"),)

    item_id: int = Field(
        sa_column=Column(Integer, ForeignKey("feedback_item.id", ondelete="CASCADE"), primary_key=True)
    )
    policy: str = Field(max_length=64, description="the SLA policy (channel) the due times come from")
    status: str = Field(default=CaseStatus.OPEN, max_length=16)
    opened_at: datetime = Field(sa_type=UTCDateTime, description="when the clock started (the item's created_at)")
    response_due: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_due: datetime | None = Field(default=None, sa_type=UTCDateTime)
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    responded_by: str | None = Field(default=None, max_length=100)
    resolved_by: str | None = Field(default=None, max_length=100)
    response_breach_notified: bool = Field(default=False, description="on_sla_breach fired for the response")
    resolution_breach_notified: bool = Field(default=False, description="on_sla_breach fired for the resolution")
    version: int = Field(default=1, description="bumped on every change; stale writes are refused")


class CaseEvent(SQLModel, table=True):
    """Append-only history of a case: opened, responded, resolved, follow-up, reopened."""

    __tablename__ = "case_event"

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(
        sa_column=Column(Integer, ForeignKey("item_case.item_id", ondelete="CASCADE"), index=True, nullable=False)
    )
    kind: str = Field(max_length=32)
    actor: str = Field(max_length=100)
    at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class FollowUp(SQLModel, table=True):
    """A 回访: the call back to a customer after their complaint was resolved."""

    __tablename__ = "follow_up"
    __table_args__ = (Index("ix_follow_up_status_due_at", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(
        sa_column=Column(Integer, ForeignKey("item_case.item_id", ondelete="CASCADE"), index=True, nullable=False)
    )
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=FollowUpStatus.PENDING, max_length=16)
    outcome: str | None = Field(default=None, max_length=16, description="a FollowUpOutcome")
    satisfaction: int | None = Field(default=None, ge=1, le=5, description="1..5, as the customer said")
    note: str | None = Field(default=None, sa_type=Text)
    recorded_by: str | None = Field(default=None, max_length=100)
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
