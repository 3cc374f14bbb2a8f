"""SQLModel tables of bihuan, one model family per entity.

``XBase`` holds the fields a caller may give, ``X(table=True)`` adds the database-owned
ones. Bulk paths (imports) do not build these objects per row: they write with
``storage.bulk`` on the same tables. The schema itself changes only through Alembic
migrations in ``storage/migrations``; a test checks that models and migrations agree.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bihuan.storage.types import UTCDateTime, utcnow


class RunStatus(StrEnum):
    """Life of a collector run.

    ``interrupted``: stopped before its end (Ctrl+C, or its process was killed: marked so
    when its process is found gone, see ``bihuan.core.runs``); the next run of the same
    collector resumes from the last checkpoint.
    """

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class QuarantineStatus(StrEnum):
    """A quarantined record is ``open`` until retried into an item or discarded."""

    OPEN = "open"
    RETRIED = "retried"
    DISCARDED = "discarded"


# ── feedback ──────────────────────────────────────────────────────────────────────────


class FeedbackItemBase(SQLModel):
    source: str = Field(max_length=200, description="system the item came from")
    external_id: str = Field(max_length=300, description="the item's id within its source")
    # Secondary indexes cost bulk imports 2-9 µs a row each (measured at 1M rows), so
    # only created_at (every time-window query) is indexed; filters that need more get
    # composite indexes with the queries that use them.
    channel: str = Field(max_length=32)
    text: str = Field(sa_type=Text, description="redacted feedback text")
    rating: float | None = Field(default=None, description="satisfaction rating, usually 1..5")
    nps: int | None = Field(default=None, description="likelihood to recommend, 0..10")
    # not indexed: customer lookups (repeat contacts) are batch aggregates
    customer_ref: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True, description="when the customer said it")
    url: str | None = Field(default=None, sa_type=Text)
    extra: dict[str, Any] | None = Field(default=None, sa_type=JSON, description="other source fields")


class FeedbackItem(FeedbackItemBase, table=True):
    __tablename__ = "feedback_item"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_feedback_item_source_external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    content_hash: str = Field(max_length=64, description="hash of the record as read; detects changes")
    collected_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    updated_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    run_id: int | None = Field(default=None, foreign_key="collector_run.id")  # not indexed: see customer_ref
    # Where a file import read the stored version: "day1.csv row 3" (the quarantine's
    # location format). An import that would change an item read from another file
    # refuses unless told to (see core.batches); NULL for other collectors.
    origin: str | None = Field(default=None, sa_type=Text, description="file and row the item was read from")


# ── collection ────────────────────────────────────────────────────────────────────────


class CollectorRunBase(SQLModel):
    collector: str = Field(max_length=200, index=True, description="collector instance name")
    collector_type: str = Field(max_length=100, description="registered collector name")
    source: str = Field(max_length=200)
    config: dict[str, Any] | None = Field(
        default=None, sa_type=JSON, description="the collector's configuration, secrets masked"
    )


class CollectorRun(CollectorRunBase, table=True):
    __tablename__ = "collector_run"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=RunStatus.RUNNING, max_length=16)
    started_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    read: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    error_class: str | None = Field(default=None, max_length=32)
    error_message: str | None = Field(default=None, sa_type=Text)
    # who runs it: a run on this host whose process is gone was killed
    pid: int | None = Field(default=None, description="process id of the run")
    host: str | None = Field(default=None, max_length=255, description="host name of the run's process")


class CollectorState(SQLModel, table=True):
    """The state a collector instance resumes from; written with each checkpoint's items."""

    __tablename__ = "collector_state"

    collector: str = Field(primary_key=True, max_length=200)
    collector_type: str = Field(max_length=100)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    run_id: int | None = Field(default=None, foreign_key="collector_run.id")
    updated_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


class QuarantinedRecordBase(SQLModel):
    collector: str = Field(max_length=200, index=True)
    collector_type: str = Field(max_length=100)
    source: str = Field(max_length=200)
    location: str | None = Field(default=None, sa_type=Text, description="e.g. 'survey.csv row 17'")
    field: str | None = Field(default=None, max_length=100, description="the field that is wrong")
    reason: str = Field(sa_type=Text)
    payload: str = Field(sa_type=Text, description="the raw record as JSON text, PII redacted")
    payload_hash: str = Field(max_length=64, description="hash of payload; a re-read record is not added twice")
    external_id: str | None = Field(default=None, max_length=300)


class QuarantinedRecord(QuarantinedRecordBase, table=True):
    __tablename__ = "quarantined_record"
    __table_args__ = (Index("ix_quarantined_record_source_payload_hash", "source", "payload_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="collector_run.id", index=True)
    status: str = Field(default=QuarantineStatus.OPEN, max_length=16, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    item_id: int | None = Field(default=None, foreign_key="feedback_item.id")


# ── the database itself ───────────────────────────────────────────────────────────────


class DatabaseInfo(SQLModel, table=True):
    """Facts about the database as a whole, one row each (``database_id``, the pseudonym
    key's fingerprint): see :mod:`bihuan.core.pseudonyms`. Never a secret."""

    __tablename__ = "database_info"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)
