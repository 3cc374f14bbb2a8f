"""The Textual workplace driven through Pilot on a real database: what the team sees
and what their keys change in the database."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from textual.widgets import DataTable, Input, ListView

from bihuan.core.config import Settings
from bihuan.core.pdca import tasks as pdca_tasks
from bihuan.storage import analysis_queries as aq
from bihuan.storage.engine import session_scope
from bihuan.storage.models import FeedbackItem
from bihuan.storage.pdca_models import Stage
from bihuan.tui.app import BihuanApp
from bihuan.tui.screens.groups import GroupsScreen
from bihuan.tui.screens.task import TaskScreen
from bihuan.tui.widgets.kpi_tile import KpiTile
from tests.core.pdca.conftest import SH
from tests.tui.conftest import services_for

SIZE = (160, 45)
# anyio (installed with httpx) runs the async tests on asyncio
pytestmark = pytest.mark.anyio


async def settle(app: BihuanApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_dashboard_shows_kpis_pareto_and_opens_a_group(workplace: BihuanApp) -> None:
    async with workplace.run_test(size=SIZE) as pilot:
        await settle(workplace, pilot)
        tiles = {t.id: str(t.render()) for t in workplace.screen.query(KpiTile)}
        # the four complete weeks before the newest item's (11-16) week, 10-19 .. 11-15: group 1
        # 7 + 21 × 2 = 49, group 2 28; the four weeks before: 28 + 28
        assert tiles["tile-volume"].startswith("77\nfeedback\n+21")
        assert tiles["tile-negative"].startswith("63.6%")
        assert tiles["tile-csat"].startswith("100.0%")
        pareto = workplace.screen.query_one("#pareto", DataTable)
        assert [pareto.get_row_at(i)[1].plain for i in range(pareto.row_count)] == ["group 1", "group 2"]
        await pilot.press("enter")
        await settle(workplace, pilot)
        assert isinstance(workplace.screen, GroupsScreen) and workplace.screen.selected_group == 1


async def test_groups_rename_and_open_a_task_from_the_group(workplace: BihuanApp, engine: Engine) -> None:
    async with workplace.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await settle(workplace, pilot)
        await pilot.press("r")
        await pilot.click("#field-label")
        await pilot.press(*"提额慢", "enter")
        await settle(workplace, pilot)
        with session_scope(engine) as session:
            group = aq.get_group(1, session=session)
            assert group is not None and (group.label, group.label_locked) == ("提额慢", True)
        table = workplace.screen.query_one("#groups", DataTable)
        assert table.get_row_at(0)[1].plain == "提额慢"

        await pilot.press("t")
        title = workplace.screen.query_one("#field-title", Input)
        title.value = "信用卡提额慢"
        await pilot.press("enter")
        await settle(workplace, pilot)
        assert isinstance(workplace.screen, TaskScreen)
        view = pdca_tasks.load_task(engine, workplace.screen.task_id)
        assert (view.task.title, view.group_ids, view.task.metric, view.task.created_by) == (
            "信用卡提额慢",
            [1],
            "volume",
            "王",
        )
        assert view.task.baseline is not None and view.task.target_value == pytest.approx(
            view.task.baseline["value"] / 2
        )


async def test_a_stale_edit_is_shown_and_nothing_is_overwritten(workplace: BihuanApp, engine: Engine) -> None:
    services = workplace.services
    task = pdca_tasks.open_task(engine, services.pdca, title="网点排队", group_ids=[1], actor="lead", metric="volume")
    assert task.id is not None
    async with workplace.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f5")
        await settle(workplace, pilot)
        plan = workplace.screen.query_one("#tasks-plan", ListView)
        assert len(plan) == 1
        plan.focus()
        await pilot.press("enter")
        await settle(workplace, pilot)
        assert isinstance(workplace.screen, TaskScreen)
        # meanwhile a colleague sets the owner in another session
        pdca_tasks.edit_task(engine, services.pdca, task.id, read_version=1, actor="李", changes={"owner": "李"})
        await pilot.press("e")
        workplace.screen.query_one("#field-owner", Input).value = "王"
        await pilot.press("enter")
        await settle(workplace, pilot)
        messages = [n.message for n in workplace._notifications]
        assert any("was changed by 李" in m for m in messages)
        assert pdca_tasks.load_task(engine, task.id).task.owner == "李"
        assert "owner: 李" in str(workplace.screen.query_one("#plan").render())  # reloaded: shows what is stored

        # the gate refuses leaving plan without a due date and says why
        await pilot.press("m")
        workplace.screen.query_one("#field-stage", Input).value = "do"
        await pilot.press("enter")
        await settle(workplace, pilot)
        assert any("no due date" in n.message for n in workplace._notifications)
        assert pdca_tasks.load_task(engine, task.id).task.stage == Stage.PLAN


async def test_inbox_pages_filters_and_shows_untrusted_text_literally(workplace: BihuanApp, engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        newest = session.exec(
            select(FeedbackItem).order_by(col(FeedbackItem.created_at).desc(), col(FeedbackItem.id).desc())
        ).first()
        assert newest is not None
        newest.text = "转账失败 [bold]急[/bold] [link=http://evil]点这里[/link]"
    async with workplace.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await settle(workplace, pilot)
        table = workplace.screen.query_one("#inbox", DataTable)
        assert table.row_count == 50
        assert table.get_row_at(0)[4].plain == "转账失败 [bold]急[/bold] [link=http://evil]点这里[/link]"
        detail = str(workplace.screen.query_one("#detail").render())
        assert "[bold]急[/bold]" in detail
        await pilot.press("pagedown")
        await settle(workplace, pilot)
        assert table.row_count == 50 and "items 51–100" in str(workplace.screen.query_one("#page").render())
        await pilot.press("pagedown", "pagedown", "pagedown")
        await settle(workplace, pilot)
        assert table.row_count == 168 - 150  # 42 + 56 + 70 items in all
        workplace.screen.query_one("#filter-group", Input).value = "2"
        workplace.screen.query_one("#filter-group", Input).focus()
        await pilot.press("enter")
        await settle(workplace, pilot)
        assert table.row_count == 50 and {table.get_row_at(i)[3] for i in range(50)} == {"2"}
        workplace.screen.query_one("#filter-search", Input).value = "急"
        workplace.screen.query_one("#filter-group", Input).value = ""
        workplace.screen.query_one("#filter-group", Input).focus()
        await pilot.press("enter")
        workplace.screen.query_one("#filter-search", Input).focus()
        await pilot.press("enter")
        await settle(workplace, pilot)
        assert table.row_count == 1


async def test_collectors_run_live_and_a_quarantined_row_is_fixed_and_retried(
    engine: Engine,
    pm,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    from bihuan.plugins.manager import pipeline_hooks
    from bihuan.storage import queries

    export = tmp_path / "survey.csv"
    export.write_text(
        "编号,提交时间,满意度评分,意见\n"
        "S1,2026-11-20 10:00,2,转账一直转圈\n"
        "S2,2026/13/45 09:00,1,提额太慢了\n"
        "S3,2026-11-21 11:00,5,服务很好\n",
        encoding="gbk",
    )
    settings = Settings.model_validate(
        {
            "collectors": {
                "survey": {"collector": "csv", "paths": [str(export)], "source": "survey", "channel": "survey"}
            }
        }
    )
    app = BihuanApp(
        services_for(
            engine,
            settings,
            registry={name: entry.cls for name, entry in pm.collectors().items()},
            pipeline_hooks=pipeline_hooks(pm),
        )
    )
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f7")
        await settle(app, pilot)
        collectors = app.screen.query_one("#collectors", DataTable)
        assert [str(c) for c in collectors.get_row_at(0)[:4]] == ["survey", "csv", "yes", "never"]
        await pilot.press("x")
        await settle(app, pilot)
        assert "survey succeeded: 2 new, 1 quarantined" in str(app.screen.query_one("#run-progress").render())
        assert [str(c) for c in collectors.get_row_at(0)[4:9]] == ["succeeded", "3", "2", "0", "1"]
        quarantine = app.screen.query_one("#quarantine", DataTable)
        assert quarantine.row_count == 1 and "2026/13/45" in quarantine.get_row_at(0)[4].plain

        quarantine.focus()
        await pilot.press("e")
        await pilot.pause()
        date_field = next(i for i in app.screen.query(Input) if i.value.startswith("2026/13/45"))
        date_field.value = "2026-11-20 09:00"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert quarantine.row_count == 0
    with session_scope(engine) as session:
        assert queries.count_items(source="survey", session=session) == 3
        assert queries.count_quarantined(session=session) == 0


async def test_an_item_is_moved_to_another_group_and_filters_narrow_the_inbox(
    workplace: BihuanApp, engine: Engine
) -> None:
    from textual.widgets import Select

    from bihuan.storage.analysis_models import GroupAction

    async with workplace.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f3")
        await settle(workplace, pilot)
        screen = workplace.screen
        screen.query_one("#filter-sentiment", Select).value = "positive"
        await settle(workplace, pilot)
        table = screen.query_one("#inbox", DataTable)
        assert table.row_count == 50 and {table.get_row_at(i)[2].plain for i in range(50)} == {"positive"}
        screen.query_one("#filter-sentiment", Select).value = "negative"
        await settle(workplace, pilot)
        item_id = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)  # type: ignore[arg-type]
        assert table.get_row_at(0)[3] == "1"
        table.focus()
        await pilot.press("ctrl+g")
        screen_form = workplace.screen
        screen_form.query_one("#field-group", Input).value = "2"
        await pilot.press("enter")
        await settle(workplace, pilot)
    with session_scope(engine) as session:
        assert aq.item_groups([item_id], session=session) == {item_id: 2}
        [event] = [e for e in aq.group_history(2, session=session) if e.action == GroupAction.MOVED]
        assert (event.actor, event.detail["items"], event.detail["from"]) == ("王", [item_id], {str(item_id): 1})


async def test_keys_are_remapped_from_config_and_every_action_is_in_the_palette(engine: Engine) -> None:
    from bihuan.tui.screens.help import HelpScreen
    from bihuan.tui.screens.inbox import InboxScreen

    settings = Settings.model_validate({"tui": {"keys": {"nav.inbox": "f9"}, "light_theme": "textual-light"}})
    app = BihuanApp(services_for(engine, settings))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")  # no longer bound
        await settle(app, pilot)
        assert not isinstance(app.screen, InboxScreen)
        await pilot.press("f9")
        await settle(app, pilot)
        assert isinstance(app.screen, InboxScreen)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {
            "Go to Dashboard",
            "Go to Collectors",
            "Search the feedback texts",
            "Move the item to another group",
        } <= titles
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = {binding_id: keys for keys, _, binding_id in app.screen.key_rows()}
        assert rows["nav.inbox"] == "f9" and rows["inbox.move_to_group"] == "ctrl+g"
        await pilot.press("escape")
        theme = app.theme
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light" != theme


async def test_sla_queue_answer_resolve_and_an_unhappy_followup(engine: Engine) -> None:
    from datetime import timedelta

    from bihuan.storage import case_queries as cq
    from bihuan.storage.case_models import CaseStatus
    from bihuan.storage.types import utcnow
    from bihuan.tui.screens.sla import SlaScreen
    from tests.core.pdca.conftest import Run, seed

    today = utcnow().astimezone(SH).date()
    seed(
        engine,
        [
            Run(None, today - timedelta(days=3), 1, channel="social"),  # 24 h: breached
            Run(None, today - timedelta(days=1), 1, channel="ticket", hour=0),
        ],
    )
    app = BihuanApp(services_for(engine))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f6")
        await settle(app, pilot)
        assert isinstance(app.screen, SlaScreen)
        cases = app.screen.query_one("#cases", DataTable)
        assert cases.row_count == 2
        first = cases.get_row_at(0)
        assert first[1].plain == "social" and first[4].plain == "BREACHED"
        social = int(first[0])
        cases.focus()
        await pilot.press("r")  # the social post is answered: nothing more is owed, it leaves the queue
        await settle(app, pilot)
        assert cases.row_count == 1 and cases.get_row_at(0)[1].plain == "ticket"
        ticket = int(cases.get_row_at(0)[0])
        await pilot.press("v")
        await settle(app, pilot)
        assert cases.row_count == 0
        calls = app.screen.query_one("#followups", DataTable)
        assert calls.row_count == 1 and int(calls.get_row_at(0)[1]) == ticket
        calls.focus()
        await pilot.press("o")
        app.screen.query_one("#field-outcome", Input).value = "unsatisfied"
        app.screen.query_one("#field-satisfaction", Input).value = "1"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert calls.row_count == 0
        assert cases.row_count == 1 and cases.get_row_at(0)[2].plain == "reopened"  # back in the queue
    with session_scope(engine) as session:
        answered = cq.get_case(social, session=session)
        reopened = cq.get_case(ticket, session=session)
    assert answered is not None and (answered.status, answered.responded_by) == (CaseStatus.RESPONDED, "王")
    assert reopened is not None and reopened.status == CaseStatus.REOPENED and reopened.resolved_by is None


async def test_inbox_filters_by_sla_state_and_answers_from_the_list(engine: Engine) -> None:
    from datetime import timedelta

    from textual.widgets import Select

    from bihuan.core.sla import cases as sla_cases
    from bihuan.storage import case_queries as cq
    from bihuan.storage.types import utcnow
    from tests.core.pdca.conftest import Run, seed

    today = utcnow().astimezone(SH).date()
    seed(
        engine,
        [
            Run(None, today - timedelta(days=3), 1, channel="social"),  # owed an answer within 24 h: breached
            Run(1, today - timedelta(days=1), 5, channel="survey", label="positive", rating=5),  # owed nothing
        ],
    )
    services = services_for(engine)
    assert services.cases is not None
    sla_cases.open_new_cases(engine, services.cases)
    app = BihuanApp(services)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f3")
        await settle(app, pilot)
        table = app.screen.query_one("#inbox", DataTable)
        assert table.row_count == 6
        app.screen.query_one("#filter-sla", Select).value = "breached"
        await settle(app, pilot)
        assert table.row_count == 1 and table.get_row_at(0)[1].plain == "social"
        item = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)  # type: ignore[arg-type]
        table.focus()
        await pilot.press("r")
        await settle(app, pilot)
        assert table.row_count == 0  # answered: no longer owed anything
    with session_scope(engine) as session:
        case = cq.get_case(item, session=session)
    assert case is not None and case.responded_by == "王"


async def test_task_screen_adds_edits_completes_actions_and_runs_the_check(
    workplace: BihuanApp, engine: Engine
) -> None:
    services = workplace.services
    task = pdca_tasks.open_task(
        engine,
        services.pdca,
        title="提额慢",
        group_ids=[1],
        actor="lead",
        metric="volume",
        target="-50%",
        owner="王",
        due_date=date(2027, 1, 31),
    )
    assert task.id is not None
    pdca_tasks.move_task(engine, services.pdca, task.id, "do", read_version=1, actor="王")
    async with workplace.run_test(size=SIZE, notifications=True) as pilot:
        workplace.open_task(task.id)
        await settle(workplace, pilot)
        screen = workplace.screen
        assert isinstance(screen, TaskScreen)
        await pilot.press("a")
        form = workplace.screen
        form.query_one("#field-title", Input).value = "审批规则上线"
        form.query_one("#field-owner", Input).value = "李"
        form.query_one("#field-due", Input).value = "2026-12-15"
        await pilot.press("ctrl+s")
        await settle(workplace, pilot)
        actions = screen.query_one("#actions", DataTable)
        assert actions.row_count == 1 and actions.get_row_at(0)[1].plain == "审批规则上线"
        actions.focus()
        await pilot.press("u")
        workplace.screen.query_one("#field-owner", Input).value = "赵"
        await pilot.press("ctrl+s")
        await settle(workplace, pilot)
        assert actions.get_row_at(0)[2].plain == "赵"
        await pilot.press("d")
        await settle(workplace, pilot)
        assert actions.get_row_at(0)[4].plain == "done"
        await pilot.press("m")
        workplace.screen.query_one("#field-stage", Input).value = "check"
        await pilot.press("ctrl+s")
        await settle(workplace, pilot)
        await pilot.press("k")
        await settle(workplace, pilot)
        # the action was done today: the check window starts tomorrow, and the screen says so
        assert any("nothing to measure" in n.message for n in workplace._notifications)
    view = pdca_tasks.load_task(engine, task.id)
    assert view.task.stage == "check" and [a.owner for a in view.actions] == ["赵"]
    assert view.actions[0].status == "done"
    assert view.checks == []
    kinds = [e.kind for e in view.events]
    assert kinds[:5] == ["created", "stage", "action_added", "action_changed", "action_changed"]


async def test_opening_the_workplace_takes_new_items_into_the_search_index(
    workplace: BihuanApp, engine: Engine
) -> None:
    from bihuan.storage import text_search

    def waiting() -> int:
        with session_scope(engine) as session:
            return text_search.pending_count(session=session)

    before = waiting()
    assert before > 0 if engine.dialect.name == "sqlite" else before == 0  # PostgreSQL keeps its own
    async with workplace.run_test(size=SIZE) as pilot:
        await settle(workplace, pilot)
        assert waiting() == 0
        await pilot.press("f3", "slash", *"r1-d1", "enter")  # found through the index now
        await settle(workplace, pilot)
        table = workplace.screen.query_one("#inbox", DataTable)
        with session_scope(engine) as session:
            matching = session.exec(select(FeedbackItem.id).where(col(FeedbackItem.text).contains("r1-d1"))).all()
        assert table.row_count == min(len(matching), 50) > 0
