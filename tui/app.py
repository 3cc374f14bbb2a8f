"""``bihuan tui``: the improvement team's workplace in the terminal.

One screen per module (dashboard, inbox, groups, PDCA board), switched as Textual modes
so each keeps its state; all database work runs in worker threads so the interface never
freezes. Key bindings carry ids (``nav.dashboard``, ``task.move`` …) and can be remapped
in ``plugins.toml`` under ``[tui.keys]``; every action is also in the command palette.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import get_current_worker

from bihuan.tui.screens.base import BihuanScreen
from bihuan.tui.screens.dashboard import DashboardScreen

# The database layer (SQLAlchemy, SQLModel and the table models, the engines of the
# PDCA, SLA and pipeline) is half a second of imports: ``bihuan tui`` draws its first
# frame without it and opens the database on a worker thread (``BihuanApp(factory)``).
if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bihuan.core.config import Settings
    from bihuan.core.outbox import Outbox
    from bihuan.core.pdca.tasks import PdcaContext
    from bihuan.core.pipeline import PipelineHooks
    from bihuan.core.sla.cases import CaseContext


def _screen(module: str, name: str) -> Callable[[], Screen[Any]]:
    """A mode's screen, its module imported when the mode is first shown: the workplace
    draws its first frame (the dashboard) without importing the other screens."""

    def make() -> Screen[Any]:
        screen_class: type[Screen[Any]] = getattr(import_module(f"bihuan.tui.screens.{module}"), name)
        return screen_class()

    return make


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
    #: the notice outbox the PDCA and SLA hooks record into (None: notices wait for `bihuan tick`)
    outbox: Outbox | None = None


class BihuanApp(App[None]):
    TITLE = "bihuan 闭环"
    SUB_TITLE = "what hurts most, and what we do about it"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, Any]] = {
        "dashboard": DashboardScreen,
        "inbox": _screen("inbox", "InboxScreen"),
        "groups": _screen("groups", "GroupsScreen"),
        "pdca": _screen("pdca_board", "PdcaBoardScreen"),
        "sla": _screen("sla", "SlaScreen"),
        "collectors": _screen("collectors", "CollectorsScreen"),
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

    def __init__(self, services: Services | Callable[[], Services], *, settings: Settings | None = None) -> None:
        """``services``, or a function that opens them (connects, migrates, loads the
        plugins), called on a worker thread once the first frame is drawn; then
        ``settings`` are needed at once (theme, keys)."""
        super().__init__()
        self._services: Services | None = None
        self._open_services: Callable[[], Services] | None = None
        self._services_ready = threading.Event()
        #: why the services could not be opened (the workplace closed; the caller reports it)
        self.startup_error: Exception | None = None
        #: the first unhandled exception that stopped the workplace (the caller reports it)
        self.crash: Exception | None = None
        if isinstance(services, Services):
            self._services = services
            self._services_ready.set()
            settings = services.settings
        elif settings is None:
            raise TypeError("settings are needed when the services are opened later")
        else:
            self._open_services = services
        self.workplace_settings: Settings = settings
        tui = settings.tui
        self.theme = tui.theme
        if tui.keys:
            self.set_keymap(tui.keys)

    def _handle_exception(self, error: Exception) -> None:
        # Textual ends the app with return code 1 and prints a traceback with every frame's
        # local variables on exit: customer texts, payloads, tokens. Keep the error for
        # ``bihuan tui`` to report in one line instead (the traceback is logged at debug).
        if self.crash is None:
            self.crash = error
        super()._handle_exception(error)
        self._exit_renderables.clear()

    @property
    def services(self) -> Services:
        """What the screens work with. Until they are open this waits: screens read them in
        their workers (the main thread only once a screen's data has arrived)."""
        self._services_ready.wait()
        if self._services is None:
            # the workplace is closing with startup_error: end the waiting worker quietly
            raise asyncio.CancelledError
        return self._services

    #: seconds between two looks for notices the workplace recorded (moves, checks, breaches)
    NOTICE_INTERVAL = 5.0

    def on_mount(self) -> None:
        self.switch_mode("dashboard")
        if self._open_services is not None:
            self.call_after_refresh(self.open_services)
        self.call_after_refresh(self.keep_search_index)
        self.set_interval(self.NOTICE_INTERVAL, self.deliver_notices)

    @work(thread=True, exclusive=True, group="notices", exit_on_error=False)
    def deliver_notices(self) -> None:
        """Send the notices the team's edits recorded (within the outbox's deadline, off
        the interface's thread); what is not delivered waits for `bihuan tick`."""
        services = self._services
        if services is None or services.outbox is None:
            return
        try:
            services.outbox.deliver_recorded(services.engine)
        except Exception:  # the outbox keeps them: `bihuan tick` delivers
            import logging

            logging.getLogger("bihuan.notify").exception("notices could not be delivered now")

    @work(thread=True, exclusive=True, group="open-services", exit_on_error=False)
    def open_services(self) -> None:
        assert self._open_services is not None
        try:
            self._services = self._open_services()
        except Exception as exc:  # the caller reports it as the command's error  # noqa: BLE001
            self.startup_error = exc
            self.call_from_thread(self.exit, return_code=1)
        finally:
            self._services_ready.set()

    @work(thread=True, exclusive=True, group="search-index")
    def keep_search_index(self) -> None:
        """Take what imports stored since into the inbox's search index, in the background
        and in short transactions (searches are right meanwhile, only slower)."""
        from sqlalchemy.exc import SQLAlchemyError

        from bihuan.storage import text_search

        worker = get_current_worker()
        engine = self.services.engine
        try:
            text_search.catch_up_in_steps(engine, stop=lambda: worker.is_cancelled)
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
        from bihuan.tui.screens.task import TaskScreen

        self.push_screen(TaskScreen(task_id))

    def action_help(self) -> None:
        from bihuan.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.screen))

    def action_toggle_dark(self) -> None:
        light, dark = self.workplace_settings.tui.light_theme, self.workplace_settings.tui.theme
        self.theme = light if self.theme != light else (dark if dark != light else "textual-dark")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, mode in self.NAVIGATION:
            yield SystemCommand(f"Go to {title}", help_text, lambda mode=mode: self.switch_mode(mode))
        yield SystemCommand("Help", "Every key of this screen", self.action_help)
        if isinstance(screen, BihuanScreen):
            yield from screen.palette_commands()
