"""``bihuan tui`` draws its first frame before it opens the database, then shows the data;
a database that cannot be opened closes the workplace with the command's usual error."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from textual.app import App

from bihuan.core.config import Settings
from bihuan.core.errors import StorageError
from bihuan.tui.app import BihuanApp, Services
from bihuan.tui.cli import cli
from bihuan.tui.screens.dashboard import DashboardScreen
from bihuan.tui.widgets.kpi_tile import KpiTile

SIZE = (160, 45)
pytestmark = pytest.mark.anyio


async def test_the_first_frame_comes_before_the_database_then_the_figures(workplace: BihuanApp, engine: Engine) -> None:
    services = workplace.services
    seen: list[tuple[bool, bool]] = []

    def open_services() -> Services:
        screen = app.screen
        seen.append((threading.current_thread() is not threading.main_thread(), isinstance(screen, DashboardScreen)))
        return services

    app = BihuanApp(open_services, settings=services.settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert seen == [(True, True)]  # on a worker, with the dashboard already up
        tiles = {t.id: str(t.render()) for t in app.screen.query(KpiTile)}
        assert tiles["tile-volume"].startswith("77\nfeedback")  # the fixture's figures


async def test_a_database_that_cannot_be_opened_closes_the_workplace() -> None:
    def open_services() -> Services:
        raise StorageError("cannot open the database at /nowhere")

    app = BihuanApp(open_services, settings=Settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert isinstance(app.startup_error, StorageError)
    assert app.return_code == 1


def test_bihuan_tui_reports_the_error_like_any_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BihuanApp, "run", lambda self: App.run(self, headless=True))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{blocker / 'x.db'}", "tui"])
    assert result.exit_code != 0
    assert "error:" in result.output and "x.db" in result.output
