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
    "bihuan 闭环 — F2 dashboard · F3 inbox · F4 groups · F5 PDCA board · F6 SLA and 回访 · F7 collectors · Ctrl+P command palette "
    "(every action is there) · Ctrl+T light/dark · Ctrl+Q quit.\n"
    'Remap a key in plugins.toml: [tui] keys = { "nav.inbox" = "f9" }'
)


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close", id="help.close")]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def key_rows(self) -> list[tuple[str, str, str]]:
        """(keys as remapped, what they do, binding id) for the screen underneath and the app."""
        rows, seen = [], set()
        keymap = self.app._keymap  # Textual keeps the remapping here
        for node in (self.under, self.app):
            for binding in getattr(node, "BINDINGS", []):
                if not isinstance(binding, Binding) or binding.id in seen:
                    continue
                seen.add(binding.id)
                keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
                rows.append((keys, binding.description or binding.action, binding.id or ""))
        return rows

    def compose(self) -> ComposeResult:
        table = Table("key", "action", "binding id", box=None, highlight=False)
        for keys, description, binding_id in self.key_rows():
            table.add_row(Text(keys), Text(description), Text(binding_id))
        with VerticalScroll():
            yield Static(Text(INTRO))
            yield Static(table)
