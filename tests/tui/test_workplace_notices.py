"""The workplace sends what the team's work announces: a breach found on the SLA screen
reaches the notice target from the workplace itself, not only at the next `bihuan tick`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bihuan.core.config import Settings
from bihuan.core.pdca.hooks import PdcaHooks
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.core.sla import cases
from bihuan.core.sla.cases import CaseContext
from bihuan.core.sla.hooks import CaseHooks
from bihuan.plugins.manager import BihuanPluginManager, notice_outbox
from bihuan.storage.types import utcnow
from bihuan.tui.app import BihuanApp, Services
from tests.core.pdca.conftest import SH, Run, at, seed
from tests.notice_receiver import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


async def test_a_breach_announced_in_the_workplace_is_delivered_from_it(
    engine: Engine, pm: BihuanPluginManager, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BihuanApp, "NOTICE_INTERVAL", 0.2)
    settings = Settings.model_validate(
        {"notify": {"targets": [{"name": "team", "kind": "webhook", "url": f"{receiver.url}/team"}]}}
    )
    pm.hook.configure(settings=settings)
    outbox = notice_outbox(pm, settings)
    day = (utcnow() - timedelta(days=2)).astimezone(SH).date()
    seed(engine, [Run(None, day, 1, channel="social")])
    case_ctx = CaseContext(zone=SH, sla=settings.sla, followup=settings.followup, hooks=CaseHooks(outbox=outbox))
    assert cases.open_new_cases(engine, case_ctx, now=at(day, 11)) == 1  # opened in time; its 24 h are over now
    services = Services(
        engine=engine,
        settings=settings,
        pdca=PdcaContext(zone=SH, settings=settings.pdca, hooks=PdcaHooks(outbox=outbox)),
        actor="王",
        cases=case_ctx,
        outbox=outbox,
    )
    app = BihuanApp(services)
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.press("f6")  # the SLA screen announces the new breach
            for _ in range(100):
                await asyncio.sleep(0.05)
                if receiver.to("/team"):
                    break
            await pilot.pause()
    finally:
        pm.hook.configure(settings=Settings())
    [sent] = receiver.to("/team")
    assert sent.json["event"] == "sla_breach" and sent.notice_id
