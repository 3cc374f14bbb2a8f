"""A database with two root-cause groups and a known history, and the PDCA context.

Days are Shanghai days; each item is stored at 10:00 local time. ``seed`` takes
``(group, first_day, days, per_day)`` runs so a test states its data in one line each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from bihuan.core.config import PdcaSettings
from bihuan.core.pdca.hooks import PdcaHooks
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.storage import analysis_queries as aq
from bihuan.storage import bulk
from bihuan.storage.analysis_models import IssueGroup
from bihuan.storage.engine import session_scope
from bihuan.storage.models import FeedbackItem

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 15, tzinfo=SH)  # a Monday afternoon


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SH)


@dataclass(frozen=True)
class Run:
    """``per_day`` items a day in ``group`` for ``days`` days from ``first``."""

    group: int | None
    first: date
    days: int
    per_day: int = 1
    label: str = "negative"
    rating: float | None = None
    channel: str = "ticket"
    customer: str | None = None
    hour: int = 10


def seed(engine: Engine, runs: Iterable[Run], *, prefix: str = "") -> int:
    """Store the items and their analysis results; return how many. ``prefix`` keeps the
    external ids of a second call apart from the first's."""
    specs: list[tuple[str, Run, date]] = []
    for r, run in enumerate(runs):
        for d in range(run.days):
            day = run.first + timedelta(days=d)
            specs += [(f"{prefix}r{r}-d{d}-{i}", run, day) for i in range(run.per_day)]
    rows = [
        (
            "test",
            key,
            run.channel,
            f"text {key}",
            run.rating,
            None,
            run.customer,
            at(day, run.hour),
            None,
            None,
            f"h-{key}",
        )
        for key, run, day in specs
    ]
    with session_scope(engine, write=True) as session:
        for gid in {run.group for _, run, _ in specs if run.group is not None}:
            if session.get(IssueGroup, gid) is None:
                session.add(IssueGroup(id=gid, label=f"group {gid}"))
        session.flush()
        bulk.upsert_items(rows, run_id=None, now=NOW, session=session)
        ids = dict(session.execute(select(FeedbackItem.external_id, FeedbackItem.id)).all())  # type: ignore[call-overload]
        aq.upsert_results(
            [
                {
                    "item_id": ids[key],
                    "content_hash": f"h-{key}",
                    "language": "zh",
                    "sentiment": 0.1 if run.label == "negative" else 0.9,
                    "sentiment_label": run.label,
                    "keywords": [],
                    "categories": [],
                    "category": None,
                    "group_id": run.group,
                    "duplicate_of": None,
                    "model": "test",
                    "analysed_at": NOW,
                }
                for key, run, _ in specs
            ],
            session=session,
        )
    return len(specs)


@dataclass
class Recorder:
    """Collects what the PDCA engine tells plugins."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def hooks(self) -> PdcaHooks:
        return PdcaHooks(
            on_task_stage_changed=lambda change: self.calls.append(("stage", change)),
            on_check_verdict=lambda verdict: self.calls.append(("verdict", verdict)),
            on_action_overdue=lambda overdue: self.calls.append(("overdue", overdue)),
        )

    def of(self, kind: str) -> list[Any]:
        return [payload for k, payload in self.calls if k == kind]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def ctx(recorder: Recorder) -> PdcaContext:
    return PdcaContext(zone=SH, settings=PdcaSettings(baseline_days=56, check_days=28), hooks=recorder.hooks())
