"""The PDCA board: improvement tasks in columns plan / do / check / act / closed."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, ListItem, ListView, Static

from bihuan.storage import pdca_queries as pq
from bihuan.storage.engine import session_scope
from bihuan.storage.pdca_models import ImprovementTask, Stage
from bihuan.tui.screens.base import BihuanScreen
from bihuan.tui.widgets.untrusted import display_text

COLUMNS = (Stage.PLAN, Stage.DO, Stage.CHECK, Stage.ACT, Stage.CLOSED)


class TaskCard(ListItem):
    """One task on the board."""

    def __init__(self, task: ImprovementTask) -> None:
        super().__init__()
        self.task_id = task.id
        # title, owner and outcome are untrusted: plain text, one line each
        card = Text(f"#{task.id} ", style="bold")
        card.append(display_text(task.title))
        card.append(f"\n{display_text(task.owner) or 'no owner'}", style="dim")
        if task.due_date:
            card.append(f" · due {task.due_date}", style="dim")
        if task.outcome:
            card.append(f"\n{display_text(task.outcome)}", style="italic")
        self.card = card

    def compose(self) -> ComposeResult:
        yield Static(self.card)


class PdcaBoardScreen(BihuanScreen):
    CSS_PATH = "pdca_board.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_task", "Open task", id="pdca.open_task"),
        Binding("left", "focus_column(-1)", "◀", id="pdca.left", show=False),
        Binding("right", "focus_column(1)", "▶", id="pdca.right", show=False),
        Binding("ctrl+r", "reload", "Reload", id="pdca.reload"),
    ]
    palette = (
        ("Open the selected task", "Plan, actions, check and history of the task", "open_task"),
        ("Reload the board", "Read the tasks again", "reload"),
    )

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="board"):
            for stage in COLUMNS:
                with Vertical(classes="column pane", id=f"column-{stage.value}"):
                    yield Static(stage.value.upper(), classes="title", id=f"title-{stage.value}")
                    yield ListView(id=f"tasks-{stage.value}")
        yield Footer()

    def refresh_data(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="pdca-board")
    def load(self) -> None:
        with session_scope(self.bihuan.services.engine) as session:
            tasks = pq.list_tasks(session=session)
        self.app.call_from_thread(self.show, tasks)

    def show(self, tasks: list[ImprovementTask]) -> None:
        for stage in COLUMNS:
            column = [t for t in tasks if t.stage == stage]
            view = self.query_one(f"#tasks-{stage.value}", ListView)
            view.clear()
            view.extend(TaskCard(t) for t in column)
            view.index = 0 if column else None
            self.query_one(f"#title-{stage.value}", Static).update(f"{stage.value.upper()} ({len(column)})")

    def _focused_list(self) -> ListView | None:
        focused = self.focused
        return focused if isinstance(focused, ListView) else None

    def action_focus_column(self, step: int) -> None:
        views = list(self.query(ListView))
        current = self._focused_list()
        index = views.index(current) if current in views else 0
        views[(index + step) % len(views)].focus()

    def action_open_task(self) -> None:
        view = self._focused_list()
        item = view.highlighted_child if view else None
        if isinstance(item, TaskCard) and item.task_id is not None:
            self.bihuan.open_task(item.task_id)

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        if isinstance(event.item, TaskCard) and event.item.task_id is not None:
            self.bihuan.open_task(event.item.task_id)
