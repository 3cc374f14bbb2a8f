"""Tables of the PDCA cycle: improvement tasks on root-cause groups, their actions, the
append-only event log and the check results.

Tasks and actions carry a ``version`` that every write bumps; a write names the version
it read and is refused (``StaleWriteError``) when someone else changed the row since, so
two team members never silently overwrite each other.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

from bihuan.storage.types import UTCDateTime, utcnow


class Stage(StrEnum):
    """Where a task is in its cycle; ``closed`` ends it (see ``ImprovementTask.outcome``)."""

    PLAN = "plan"
    DO = "do"
    CHECK = "check"
    ACT = "act"
    CLOSED = "closed"


class Outcome(StrEnum):
    """How a closed task ended."""

    STANDARDISED = "standardised"
    NEXT_CYCLE = "next_cycle"
    CANCELLED = "cancelled"


class Metric(StrEnum):
    """What a task sets out to move, measured on its groups."""

    VOLUME = "volume"  # items per week in the groups
    SHARE = "share"  # the groups' share of all feedback
    NEGATIVE_SHARE = "negative_share"  # share of negative items within the groups
    CSAT = "csat"  # share of ratings >= 4 among rated items within the groups


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Verdict(StrEnum):
    EFFECTIVE = "effective"
    NOT_EFFECTIVE = "not_effective"
    INCONCLUSIVE = "inconclusive"


# ── tasks ─────────────────────────────────────────────────────────────────────────────


class ImprovementTaskBase(SQLModel):
    title: str = Field(max_length=300)
    root_cause: str | None = Field(default=None, sa_type=Text, description="the root-cause statement")
    owner: str | None = Field(default=None, max_length=100)
    metric: str | None = Field(default=None, max_length=32, description="a Metric")
    target_value: float | None = Field(default=None, description="the metric's value the task aims for")
    due_date: date | None = None


class ImprovementTask(ImprovementTaskBase, table=True):
    __tablename__ = "improvement_task"

    id: int | None = Field(default=None, primary_key=True)
    stage: str = Field(default=Stage.PLAN, max_length=16, index=True)
    baseline: dict[str, Any] | None = Field(
        default=None, sa_type=JSON, description="the metric over the weeks before the task, as computed from the data"
    )
    outcome: str | None = Field(default=None, max_length=16, description="an Outcome, once closed")
    standard: str | None = Field(default=None, sa_type=Text, description="the standard adopted when standardised")
    parent_id: int | None = Field(default=None, foreign_key="improvement_task.id", description="the previous cycle")
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    updated_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    updated_by: str = Field(max_length=100)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1, description="bumped on every change; stale writes are refused")


class TaskGroup(SQLModel, table=True):
    """The root-cause groups a task is about (one or more)."""

    __tablename__ = "task_group"

    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("improvement_task.id", ondelete="CASCADE"), primary_key=True)
    )
    group_id: int = Field(sa_column=Column(Integer, ForeignKey("issue_group.id"), primary_key=True, index=True))


class TaskEvent(SQLModel, table=True):
    """Append-only audit log of a task: who changed what, when, from what to what."""

    __tablename__ = "task_event"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("improvement_task.id", ondelete="CASCADE"), index=True, nullable=False)
    )
    actor: str = Field(max_length=100)
    at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    kind: str = Field(max_length=32, description="created, field, stage, action_added, action_changed, check, ...")
    field: str | None = Field(default=None, max_length=64)
    old: Any = Field(default=None, sa_type=JSON, nullable=True)
    new: Any = Field(default=None, sa_type=JSON, nullable=True)
    note: str | None = Field(default=None, sa_type=Text)


# ── actions ───────────────────────────────────────────────────────────────────────────


class ActionBase(SQLModel):
    title: str = Field(max_length=300)
    owner: str = Field(max_length=100)
    due_date: date


class Action(ActionBase, table=True):
    __tablename__ = "task_action"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("improvement_task.id", ondelete="CASCADE"), index=True, nullable=False)
    )
    status: str = Field(default=ActionStatus.OPEN, max_length=16)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    overdue_notified_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="when on_action_overdue fired (once per action)"
    )
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    updated_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    version: int = Field(default=1, description="bumped on every change; stale writes are refused")


# ── check ─────────────────────────────────────────────────────────────────────────────


class CheckResult(SQLModel, table=True):
    """One measurement of a task's metric: the baseline window before the first action
    against the check window after the last, with the test behind the verdict."""

    __tablename__ = "check_result"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("improvement_task.id", ondelete="CASCADE"), index=True, nullable=False)
    )
    metric: str = Field(max_length=32)
    baseline_start: date
    baseline_end: date = Field(description="exclusive")
    check_start: date
    check_end: date = Field(description="exclusive")
    baseline_value: float | None = None
    check_value: float | None = None
    change: float | None = Field(default=None, description="relative change of the metric, -0.5 = halved")
    ratio: float | None = Field(default=None, description="rate ratio or proportion ratio, check / baseline")
    ratio_low: float | None = Field(default=None, description="95 % confidence interval of the ratio")
    ratio_high: float | None = None
    p_value: float | None = None
    test: str = Field(max_length=64, description="the significance test used")
    verdict: str = Field(max_length=16)
    target_met: bool | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, description="counts behind the figures")
    checked_by: str = Field(max_length=100)
    checked_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
