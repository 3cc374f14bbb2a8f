"""Hostile text in the workplace: every screen, driven through Pilot on a real database
whose every shown field holds escape sequences, CR/BS, markup and bidi controls.

What each test checks: the app did not crash, no markup action fired (the app still runs
after every cell was clicked), the cells and panes hold the visible replacements, and
what the terminal would draw (the compositor's lines) holds no raw control character.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import select
from textual.app import App
from textual.widgets import DataTable, Input, Label, ListView, Static

from bihuan.core.config import Settings
from bihuan.core.pdca import tasks as pdca_tasks
from bihuan.storage.engine import session_scope
from bihuan.storage.models import QuarantinedRecord
from bihuan.tui.app import BihuanApp
from bihuan.tui.cli import cli
from bihuan.tui.screens.collectors import CollectorsScreen
from bihuan.tui.screens.groups import GroupsScreen
from bihuan.tui.screens.inbox import InboxScreen
from bihuan.tui.screens.pdca_board import PdcaBoardScreen, TaskCard
from bihuan.tui.screens.sla import SlaScreen
from bihuan.tui.screens.task import TaskScreen
from bihuan.tui.widgets.form import FormScreen
from tests.core.pdca.conftest import SH, Run, seed
from tests.tui.conftest import services_for
from tests.tui.hostile import (
    ATTACK,
    SHORT_SHOWN,
    SHOWN,
    Seeded,
    hostile,
    make_hostile,
    raw_controls,
    screen_text,
    visible,
)

SIZE = (200, 50)
pytestmark = pytest.mark.anyio


@pytest.fixture
def seeded(workplace: BihuanApp, engine: Engine) -> Seeded:
    return make_hostile(engine, workplace.services.pdca)


async def settle(app: App, pilot) -> None:  # type: ignore[no-untyped-def, type-arg]
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def cell(table: DataTable, row: int, column: int) -> str:  # type: ignore[type-arg]
    return str(table.get_row_at(row)[column])


def text_of(widget: Static) -> str:
    return str(widget.render())


async def click_every_cell(app: App, pilot, table: DataTable, rows: int = 1) -> None:  # type: ignore[no-untyped-def, type-arg]
    """Hover over and click the start of every cell of the first ``rows`` rows: a cell
    rendered from markup such as ``[@click=app.quit]quit[/]`` would act on it."""
    region = table.region
    starts, x = [], region.x
    for column in table.columns.values():
        starts.append(x)
        x += column.get_render_width(table)
    for y in range(region.y + 1, min(region.bottom, region.y + 1 + min(rows, table.row_count))):
        for start in starts:
            if start + 2 < region.right:
                await pilot.hover(offset=(start + 1, y))
                await pilot.click(offset=(start + 2, y))
    await settle(app, pilot)
    assert app.is_running and app.return_code is None


async def assert_safe(app: App, pilot, *drawn: str) -> str:  # type: ignore[no-untyped-def, type-arg]
    """What the screen shows, once it shows everything in ``drawn`` (a table measures its
    columns when idle: a busy machine may not be there yet); no raw control in it."""
    for _ in range(200):
        shown = screen_text(app)
        if all(text in shown for text in drawn):
            break
        await pilot.pause(0.05)
    assert all(text in shown for text in drawn), shown
    assert raw_controls(shown) == [], shown
    return shown


async def test_inbox_table_and_detail_show_every_field_visibly(
    workplace: BihuanApp, engine: Engine, seeded: Seeded
) -> None:
    async with workplace.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await settle(workplace, pilot)
        screen = workplace.screen
        assert isinstance(screen, InboxScreen)
        table = screen.query_one("#inbox", DataTable)
        assert table.get_row_at(0)[4].plain == visible("T") + "⏎第二行"  # one line in the cell
        assert cell(table, 0, 1) == "CH" + SHORT_SHOWN
        detail = text_of(screen.query_one("#detail", Static))
        assert visible("T") + "\n第二行" in detail  # a real line break in the detail
        for shown in (visible("S"), f"customer {visible('CR')}", "http://x/" + visible("U")):
            assert shown in detail
        assert f"{visible('EK')}: {visible('EV')}" in detail
        assert raw_controls(detail) == []
        await assert_safe(workplace, pilot, "T␛[2J␛]8;;http://evil/␛\\click", "CH␛[2J␍␈[/]<U+202E>")
        await click_every_cell(workplace, pilot, table)
        assert isinstance(workplace.screen, InboxScreen)


async def test_groups_list_detail_and_items(workplace: BihuanApp, engine: Engine, seeded: Seeded) -> None:
    async with workplace.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await settle(workplace, pilot)
        screen = workplace.screen
        assert isinstance(screen, GroupsScreen) and screen.selected_group == 1
        groups = screen.query_one("#groups", DataTable)
        assert cell(groups, 0, 1) == visible("G")
        summary = text_of(screen.query_one("#group-summary", Static))
        assert summary.splitlines()[0] == "#1 " + visible("G")
        assert "category C" + SHORT_SHOWN in summary
        assert "keywords: " + visible("K") in summary
        assert f"tasks: #{seeded.task_id} {visible('TT')} [plan]" in summary
        assert f"last change: renamed by {visible('A')}" in summary
        items = screen.query_one("#group-items", DataTable)
        assert (cell(items, 0, 1), cell(items, 0, 2)) == ("CH" + SHORT_SHOWN, visible("T") + "⏎第二行")
        await assert_safe(workplace, pilot, "G␛[2J␛]8;;", "T␛[2J␛]8;;")
        await click_every_cell(workplace, pilot, groups)
        await click_every_cell(workplace, pilot, items)


async def test_dashboard_pareto_and_spikes(workplace: BihuanApp, engine: Engine, seeded: Seeded) -> None:
    async with workplace.run_test(size=SIZE) as pilot:
        await settle(workplace, pilot)
        pareto = workplace.screen.query_one("#pareto", DataTable)
        assert visible("G") in {cell(pareto, i, 1) for i in range(pareto.row_count)}
        spikes = text_of(workplace.screen.query_one("#spikes", Static))
        assert raw_controls(spikes) == []
        await assert_safe(workplace, pilot, "G␛[2J␛]8;;")
        await click_every_cell(workplace, pilot, pareto)


async def test_pdca_board_and_task_screen(workplace: BihuanApp, engine: Engine, seeded: Seeded) -> None:
    async with workplace.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f5")
        await settle(workplace, pilot)
        assert isinstance(workplace.screen, PdcaBoardScreen)
        [card] = workplace.screen.query(TaskCard)
        assert card.card.plain.splitlines()[:2] == [
            f"#{seeded.task_id} {visible('TT')}",
            f"{visible('OW')} · due 2027-01-31",
        ]
        await assert_safe(workplace, pilot, "TT␛[2J", "OW␛[2J")
        workplace.screen.query_one("#tasks-plan", ListView).focus()
        await pilot.press("enter")
        await settle(workplace, pilot)
        screen = workplace.screen
        assert isinstance(screen, TaskScreen)
        plan = text_of(screen.query_one("#plan", Static)).splitlines()
        assert plan[0].startswith(f"#{seeded.task_id} {visible('TT')}   [plan]")
        assert f"owner: {visible('OW')}" in plan[1] and plan[2] == "root cause: " + visible("RC")
        actions = screen.query_one("#actions", DataTable)
        assert (cell(actions, 0, 1), cell(actions, 0, 2)) == (visible("AT"), visible("AO"))
        history = text_of(screen.query_one("#history", Static))
        assert f" {visible('A')}: created " in history and raw_controls(history) == []
        await assert_safe(workplace, pilot, "TT␛[2J", "AT␛[2J", "AO␛[2J", "RC␛[2J")
        await click_every_cell(workplace, pilot, actions)

        # the plan form shows the stored values made visible; saved untouched, they stay as stored
        await pilot.press("e")
        await pilot.pause()
        form = workplace.screen
        assert isinstance(form, FormScreen)
        assert form.query_one("#field-owner", Input).value == visible("OW")
        assert form.query_one("#field-root_cause", Input).value == visible("RC")
        await assert_safe(workplace, pilot, "反<U+200B>")
        form.query_one("#field-due", Input).value = "2027-02-28"
        await pilot.press("ctrl+s")
        await settle(workplace, pilot)
        task = pdca_tasks.load_task(engine, seeded.task_id).task
        assert (task.owner, task.root_cause, task.due_date) == (hostile("OW"), hostile("RC"), date(2027, 2, 28))

        # an edited field is saved as typed, the untouched title as it was
        actions.focus()
        await pilot.press("u")
        await pilot.pause()
        assert workplace.screen.query_one("#field-title", Input).value == visible("AT")
        workplace.screen.query_one("#field-owner", Input).value = "李"
        await pilot.press("ctrl+s")
        await settle(workplace, pilot)
        [action] = pdca_tasks.load_task(engine, seeded.task_id).actions
        assert (action.title, action.owner) == (hostile("AT"), "李")
        assert workplace.is_running


async def test_sla_queue(engine: Engine) -> None:
    from bihuan.storage.models import FeedbackItem
    from bihuan.storage.types import utcnow

    today = utcnow().astimezone(SH).date()
    seed(engine, [Run(None, today - timedelta(days=3), 1, channel="social")])
    with session_scope(engine, write=True) as session:
        [item] = session.exec(select(FeedbackItem)).all()
        item.text = hostile("T") + "\n第二行"
    app = BihuanApp(services_for(engine))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await settle(app, pilot)
        assert isinstance(app.screen, SlaScreen)
        cases = app.screen.query_one("#cases", DataTable)
        assert cell(cases, 0, 5) == (visible("T") + "⏎第二行")[:79] + "…"
        await assert_safe(app, pilot, "T␛[2J␛]8;;")
        await click_every_cell(app, pilot, cases)


async def test_collectors_and_quarantine_never_parse_markup(engine: Engine, pm, seeded: Seeded) -> None:  # type: ignore[no-untyped-def]
    """A source named ``[/]`` crashed the app on F7; ``[@click=app.quit]`` was a live action."""
    settings = Settings.model_validate(
        {"collectors": {hostile("RUN"): {"collector": "csv", "paths": ["/nonexistent.csv"], "source": "s"}}}
    )
    app = BihuanApp(services_for(engine, settings, registry={n: e.cls for n, e in pm.collectors().items()}))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f7")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CollectorsScreen)
        collectors = screen.query_one("#collectors", DataTable)
        assert (cell(collectors, 0, 0), cell(collectors, 0, 4)) == (visible("RUN"), "failed")
        assert cell(collectors, 0, 9) == "data: " + visible("ERR")
        quarantine = screen.query_one("#quarantine", DataTable)
        rows = [[cell(quarantine, r, c) for c in range(1, 5)] for r in range(quarantine.row_count)]
        assert sorted(r[0] for r in rows) == sorted([visible("Q"), "[/]", "[@click=app.quit]quit[/]"])
        assert {tuple(r[1:]) for r in rows} == {(visible("L"), visible("F"), visible("R"))}
        await assert_safe(app, pilot, "Q␛[2J␛]8;;", "[@click=app.quit]quit[/]", "RUN␛[2J")
        await click_every_cell(app, pilot, quarantine, rows=3)
        await click_every_cell(app, pilot, collectors)
        assert isinstance(app.screen, CollectorsScreen)

        # the edit-and-retry form: title, field names and values shown, nothing raw
        quarantine.focus()
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormScreen)
        title = text_of(form.query_one(".form-title", Static))
        assert title.endswith(f" {visible('L')}: {visible('R')}")
        assert [str(label.render()) for label in form.query(Label)] == [visible("PK")]
        assert [i.value for i in form.query(Input)] == [visible("PV")]
        await assert_safe(app, pilot, "PK␛[2J", "R␛[2J")
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running


@pytest.mark.parametrize("where", ["refresh_data", "_instances"])  # on the app's loop, on a worker thread
def test_a_crash_in_the_workplace_exits_1_with_one_line(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    """An unexpected error ends ``bihuan tui`` with exit code 1 and one line (it was 0, and
    Textual printed a traceback with every frame's local variables)."""

    def broken(self: CollectorsScreen) -> None:
        raise RuntimeError("boom " + ATTACK)

    async def press_f7(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press("f7")
        await pilot.pause(0.5)
        await pilot.app.workers.wait_for_complete()
        pilot.app.exit()  # only reached when nothing crashed

    monkeypatch.setattr(CollectorsScreen, where, broken)
    caplog.set_level("DEBUG", logger="bihuan.tui.cli_tui")
    monkeypatch.setattr(BihuanApp, "run", lambda self: App.run(self, headless=True, auto_pilot=press_f7))
    result = CliRunner().invoke(cli, ["--db", db_url, "tui"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"error: the workplace stopped on an unexpected error: RuntimeError: boom {SHOWN} (-vv shows the traceback)"
    ]

    # what -vv shows (logged at debug): the traceback, no local variables, nothing raw
    [logged] = [r.getMessage() for r in caplog.records if r.name == "bihuan.tui.cli_tui"]
    assert "Traceback (most recent call last):" in logged and ", in broken\n" in logged
    assert raw_controls(logged) == [] and "boom ␛[2J" in logged


def test_the_workplace_quits_with_exit_code_0(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with session_scope(engine, write=True) as session:
        session.add(
            QuarantinedRecord(
                collector="[/]", collector_type="csv", source="s", reason="[/]", payload="{}", payload_hash="x"
            )
        )

    async def look_and_quit(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press("f7")
        await pilot.pause(0.5)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("ctrl+q")

    monkeypatch.setattr(BihuanApp, "run", lambda self: App.run(self, headless=True, auto_pilot=look_and_quit))
    result = CliRunner().invoke(cli, ["--db", db_url, "tui"])
    assert (result.exit_code, result.output) == (0, "")
