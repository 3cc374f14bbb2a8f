"""The workplace on a fixed data set, shared by the Pilot tests and the snapshots."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from bihuan.core.config import Settings
from bihuan.core.pdca.hooks import PdcaHooks
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.core.sla.cases import CaseContext
from bihuan.core.sla.hooks import CaseHooks
from bihuan.tui.app import BihuanApp, Services
from tests.core.pdca.conftest import SH, Run, seed

#: the workplace's "today": the Wednesday of the data set's last week (its newest items are
#: of the week of 2026-11-16), so that what the screens show does not depend on the day
#: the tests run
TODAY = datetime(2026, 11, 18, 10, tzinfo=SH)


def services_for(engine: Engine, settings: Settings | None = None, **extra: Any) -> Services:
    settings = settings or Settings()
    ctx = PdcaContext(zone=SH, settings=settings.pdca, hooks=PdcaHooks(), clock=lambda: TODAY)
    cases = CaseContext(zone=SH, sla=settings.sla, followup=settings.followup, hooks=CaseHooks())
    return Services(engine=engine, settings=settings, pdca=ctx, actor="王", cases=cases, **extra)


@pytest.fixture
def workplace(engine: Engine) -> BihuanApp:
    """Two groups over ten weeks (group 1 doubling in the last four, all negative; group 2
    positive with ratings of 5)."""
    seed(
        engine,
        [
            Run(1, date(2026, 9, 14), 42, 1),
            Run(1, date(2026, 10, 26), 28, 2),
            Run(2, date(2026, 9, 14), 70, 1, label="positive", rating=5),
        ],
    )
    return BihuanApp(services_for(engine))
