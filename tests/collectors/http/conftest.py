"""Run HTTP collectors through the real pipeline into a real database (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from bihuan.core.collection import build_instance, run_instances
from bihuan.core.pipeline import RunReport
from bihuan.plugins.manager import BihuanPluginManager, pipeline_hooks
from bihuan.storage.engine import session_scope
from bihuan.storage.models import CollectorRun, FeedbackItem, QuarantinedRecord

FAST = {"retries": 2, "backoff_seconds": 0.01, "timeout_seconds": 0.5}


@pytest.fixture
def run(engine: Engine, pm: BihuanPluginManager) -> Callable[..., RunReport]:
    """``run(name, table)``: one run of the instance ``name`` configured by ``table``."""
    registry = {name: entry.cls for name, entry in pm.collectors().items()}

    def go(name: str, table: dict[str, Any]) -> RunReport:
        instance = build_instance(name, {**FAST, **table}, registry)
        [report] = run_instances(
            [instance], engine=engine, timezone=ZoneInfo("Asia/Shanghai"), hooks=pipeline_hooks(pm)
        )
        return report

    return go


def pseudonym(engine: Engine, customer_ref: str) -> str:
    """The keyed pseudonym the pipeline stores for ``customer_ref`` in this database."""
    from bihuan.core.privacy import privacy_for

    return privacy_for(engine).customer(customer_ref) or ""


def stored(engine: Engine, source: str) -> dict[str, FeedbackItem]:
    with session_scope(engine) as session:
        rows = session.execute(select(FeedbackItem).where(FeedbackItem.source == source)).scalars().all()
        return {row.external_id: row for row in rows}


def quarantined(engine: Engine) -> list[QuarantinedRecord]:
    with session_scope(engine) as session:
        return list(session.execute(select(QuarantinedRecord).order_by(QuarantinedRecord.id)).scalars())


def runs(engine: Engine) -> list[CollectorRun]:
    with session_scope(engine) as session:
        return list(session.execute(select(CollectorRun).order_by(CollectorRun.id)).scalars())
