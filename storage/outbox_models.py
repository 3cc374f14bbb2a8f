"""Tables of the notice outbox: each notice the engine announces, and its delivery to
each notice target.

A notice is written in the same transaction as the event that causes it (a breach flag,
a stage move, a check result…), one ``notice_delivery`` row per target that takes its
kind. Delivery (``bihuan.core.outbox``) works through the deliveries: pending until
delivered, retried with backoff, failed after the last attempt.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bihuan.storage.types import UTCDateTime, utcnow


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not delivered yet: tried again when due
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up (last attempt, or a refusal retrying cannot fix)


class OutboxNotice(SQLModel, table=True):
    """One notice as the engine announced it (its fields, never a rendered message)."""

    __tablename__ = "outbox_notice"
    __table_args__ = (UniqueConstraint("key", name="uq_outbox_notice_key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=36, description="stable notice id sent with every delivery (X-Bihuan-Notice-Id)")
    kind: str = Field(max_length=32, description="sla_breach, spike, action_overdue, stage_changed, …")
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, description="the notice's fields")
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


class NoticeDelivery(SQLModel, table=True):
    """One notice to one target: its status, attempts and last (masked) error."""

    __tablename__ = "notice_delivery"
    __table_args__ = (
        UniqueConstraint("notice_id", "target", name="uq_notice_delivery_notice_target"),
        Index("ix_notice_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(
        sa_column=Column(Integer, ForeignKey("outbox_notice.id", ondelete="CASCADE"), nullable=False)
    )
    target: str = Field(max_length=100, description="the notice target's name")
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    attempts: int = Field(default=0, description="attempts started (counted when an attempt claims the row)")
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    lease_until: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="an attempt holds the row until then (no second sender)"
    )
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text, description="why the last attempt failed (masked)")
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
