"""``bihuan tui``: the improvement team's workplace in the terminal.

One screen per module (dashboard, inbox, groups, PDCA board), switched as Textual modes
so each keeps its state; all database work runs in worker threads so the interface never
freezes. Key bindings carry ids (``nav.dashboard``, ``task.move`` …) and can be remapped
in ``plugins.toml`` under ``[tui.keys]``; every action is also in the command palette.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import get_current_worker

from bihuan.core.config import Settings
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.core.pipeline import PipelineHooks
from bihuan.core.sla.cases import CaseContext
from bihuan.storage import text_search
from bihuan.tui.screens.base import BihuanScreen
from bihuan.tui.screens.collectors import CollectorsScreen
from bihuan.tui.screens.dashboard import DashboardScreen
from bihuan.tui.screens.groups import GroupsScreen
from bihuan.tui.screens.help import HelpScreen
from bihuan.tui.screens.inbox import InboxScreen
from bihuan.tui.screens.pdca_board import PdcaBoardScreen
from bihuan.tui.screens.sla import SlaScreen
from bihuan.tui.screens.task import TaskScreen


@dataclass(frozen=True)
class Services:
    """What the screens work with: the database, the settings, who is at the keyboard."""

    engine: Engine
    settings: Settings
    pdca: PdcaContext
    actor: str
    #: registered collector classes by name, and the pipeline's plugin hooks
    registry: dict[str, Any] = field(default_factory=dict)
    pipeline_hooks: PipelineHooks | None = None
    #: SLA and 回访 settings and hooks (None: the SLA screen only reads)
    cases: CaseContext | None = None


class BihuanApp(App[None]):
    TITLE = "bihuan 闭环"
    SUB_TITLE = "what hurts most, and what we do about it"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, Any]] = {
        "dashboard": DashboardScreen,
        "inbox": InboxScreen,
        "groups": GroupsScreen,
        "pdca": PdcaBoardScreen,
        "sla": SlaScreen,
        "collectors": CollectorsScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "switch_mode('dashboard')", "Dashboard", id="nav.dashboard"),
        Binding("f3", "switch_mode('inbox')", "Inbox", id="nav.inbox"),
        Binding("f4", "switch_mode('groups')", "Groups", id="nav.groups"),
        Binding("f5", "switch_mode('pdca')", "PDCA", id="nav.pdca"),
        Binding("f6", "switch_mode('sla')", "SLA", id="nav.sla"),
        Binding("f7", "switch_mode('collectors')", "Collectors", id="nav.collectors"),
        Binding("f1", "help", "Help", id="app.help"),
        Binding("ctrl+t", "toggle_dark", "Theme", id="app.theme"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]
    NAVIGATION = (
        ("Dashboard", "KPIs, the Pareto of root causes, spikes", "dashboard"),
        ("Inbox", "Every feedback item, filtered and searched", "inbox"),
        ("Groups", "Root-cause groups: items, keywords, rename, merge, split, open a task", "groups"),
        ("PDCA board", "Improvement tasks by stage", "pdca"),
        ("SLA and 回访", "Cases due and breached, follow-up calls", "sla"),
        ("Collectors", "Runs, running collectors, the quarantine", "collectors"),
    )

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        tui = services.settings.tui
        self.theme = tui.theme
        if tui.keys:
            self.set_keymap(tui.keys)

    def on_mount(self) -> None:
        self.switch_mode("dashboard")
        self.call_after_refresh(self.keep_search_index)

    @work(thread=True, exclusive=True, group="search-index")
    def keep_search_index(self) -> None:
        """Take what imports stored since into the inbox's search index, in the background
        and in short transactions (searches are right meanwhile, only slower)."""
        worker = get_current_worker()
        try:
            text_search.catch_up_in_steps(self.services.engine, stop=lambda: worker.is_cancelled)
        except SQLAlchemyError as exc:  # e.g. a long write elsewhere held the lock: next start
            self.call_from_thread(
                self.notify, f"The search index could not catch up: {exc.__class__.__name__}", severity="warning"
            )

    #: a group another screen asked to show; the groups screen selects it once loaded
    focus_group: int | None = None

    def open_group(self, group_id: int) -> None:
        self.focus_group = group_id
        self.switch_mode("groups")

    def open_task(self, task_id: int) -> None:
        self.push_screen(TaskScreen(task_id))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.screen))

    def action_toggle_dark(self) -> None:
        light, dark = self.services.settings.tui.light_theme, self.services.settings.tui.theme
        self.theme = light if self.theme != light else (dark if dark != light else "textual-dark")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, mode in self.NAVIGATION:
            yield SystemCommand(f"Go to {title}", help_text, lambda mode=mode: self.switch_mode(mode))
        yield SystemCommand("Help", "Every key of this screen", self.action_help)
        if isinstance(screen, BihuanScreen):
            yield from screen.palette_commands()
