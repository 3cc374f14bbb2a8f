"""Tables the analysis engine writes: per-item results, root-cause groups and their history.

Results live beside ``feedback_item``, not in it: imports stay a narrow insert. The work
of ``bihuan analyze`` is the items without a result or whose ``content_hash`` changed
since they were analysed; it finds them through ``analysis_queue`` and the highest
analysed id rather than by joining every item (see ``storage.analysis_pending``).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from bihuan.storage.types import UTCDateTime, utcnow


class GroupStatus(StrEnum):
    """An ``active`` group collects items; a ``merged`` one points at the group that absorbed it."""

    ACTIVE = "active"
    MERGED = "merged"


class GroupAction(StrEnum):
    CREATED = "created"
    RENAMED = "renamed"
    MERGED = "merged"
    SPLIT = "split"
    MOVED = "moved"  # a person moved single items in (detail: item ids and where from)


class ItemAnalysisBase(SQLModel):
    language: str = Field(max_length=8)
    sentiment: float = Field(description="0 (negative) .. 1 (positive)")
    sentiment_label: str = Field(max_length=16, index=True)
    keywords: list[str] = Field(default_factory=list, sa_type=JSON)
    categories: list[str] = Field(default_factory=list, sa_type=JSON)
    category: str | None = Field(default=None, max_length=64, index=True, description="the strongest category")


class ItemAnalysis(ItemAnalysisBase, table=True):
    """The analysis of one version (``content_hash``) of one feedback item."""

    __tablename__ = "item_analysis"

    item_id: int = Field(
        sa_column=Column(Integer, ForeignKey("feedback_item.id", ondelete="CASCADE"), primary_key=True)
    )
    content_hash: str = Field(max_length=64, description="the item version this result is for")
    group_id: int | None = Field(default=None, foreign_key="issue_group.id", index=True)
    duplicate_of: int | None = Field(
        default=None, foreign_key="feedback_item.id", description="an earlier item with (nearly) the same text"
    )
    # 0: too short to be linked by text; NULL: analysed before migration 0004 (computed when needed)
    text_key: int | None = Field(
        default=None, sa_type=BigInteger, description="64-bit key of the normalised text (repeat linking)"
    )
    model: str = Field(max_length=64, description="sentiment model that scored it")
    analysed_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


class AnalysisQueue(SQLModel, table=True):
    """Items whose content changed after they were analysed (see ``storage.analysis_pending``).

    Filled by a trigger on ``feedback_item`` (migration 0006) whenever an update changes an
    item's ``content_hash``, whoever writes it; an entry goes once the item's result is
    current. With it, an incremental run finds its work without reading every item: the
    changed ones are listed here, the new ones are above the highest analysed id.
    """

    __tablename__ = "analysis_queue"

    item_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))


class IssueGroupBase(SQLModel):
    label: str = Field(max_length=200)
    category: str | None = Field(default=None, max_length=64, index=True)


class IssueGroup(IssueGroupBase, table=True):
    """A root-cause group. Ids are stable: they are never reused or renumbered."""

    __tablename__ = "issue_group"

    id: int = Field(primary_key=True)
    label_locked: bool = Field(default=False, description="renamed by the team; analysis keeps the label")
    keywords: list[str] = Field(default_factory=list, sa_type=JSON)
    centroid: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, description="grouping model state")
    size: int = 0
    status: str = Field(default=GroupStatus.ACTIVE, max_length=16, index=True)
    merged_into: int | None = Field(default=None, foreign_key="issue_group.id")
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    updated_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    version: int = Field(default=1, description="bumped on every change; stale edits are refused")


class GroupEvent(SQLModel, table=True):
    """Append-only history of a group: created, renamed, merged, split."""

    __tablename__ = "group_event"

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="issue_group.id", index=True)
    action: str = Field(max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    actor: str = Field(default="bihuan", max_length=100)
    at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


class AnalysisState(SQLModel, table=True):
    """Model state the next incremental run continues from (document frequencies, indexes)."""

    __tablename__ = "analysis_state"

    key: str = Field(primary_key=True, max_length=64)
    value: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


class SpikeEvent(SQLModel, table=True):
    """A detected spike; unique per group and week so ``on_spike`` fires once."""

    __tablename__ = "spike_event"
    __table_args__ = (UniqueConstraint("group_id", "week", name="uq_spike_event_group_week"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="issue_group.id")
    week: date
    count: int
    baseline: float
    score: float
    detected_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


class AnalysisLock(SQLModel, table=True):
    """Who runs the analysis now (``storage.analysis_lock``): one row per lock name.

    On SQLite the row *is* the lock; on PostgreSQL an advisory lock excludes and the
    row only says who holds it. ``token`` is the holder's own; every batch an analysis
    writes checks that it still holds it (a holder declared stale writes nothing more).
    """

    __tablename__ = "analysis_lock"

    name: str = Field(primary_key=True, max_length=64)
    token: str = Field(max_length=64)
    pid: int
    host: str = Field(max_length=255)
    started_at: datetime = Field(sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime)
