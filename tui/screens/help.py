"""Help: every key of the screen underneath, with its binding id (for ``[tui.keys]``)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

INTRO = (
    "bihuan 闭环 — F2 dashboard · F3 inbox · F4 groups · F5 PDCA board · F7 collectors · Ctrl+P command palette "
    "(every action is there) · Ctrl+T light/dark · Ctrl+Q quit.\n"
    'Remap a key in plugins.toml: [tui] keys = { "nav.inbox" = "f9" }'
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; height: 80%; border: thick $primary; background: $surface; padding: 1 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close", id="help.close")]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        table = Table("key", "action", "binding id", box=None, highlight=False)
        seen = set()
        for node in (self.under, self.app):
            for binding in getattr(node, "BINDINGS", []):
                if not isinstance(binding, Binding) or binding.id in seen:
                    continue
                seen.add(binding.id)
                keys = self.app._keymap.get(binding.id or "", binding.key) if binding.id else binding.key
                table.add_row(Text(keys), Text(binding.description or binding.action), Text(binding.id or ""))
        with VerticalScroll():
            yield Static(Text(INTRO))
            yield Static(table)
