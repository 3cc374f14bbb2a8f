"""A KPI tile: the figure, its name, and the change against the previous period."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class KpiTile(Static):
    """Shows ``title``, a formatted value and a change line; ``good`` says which way is up."""

    DEFAULT_CSS = """
    KpiTile {
        width: 1fr;
        height: 5;
        border: round $primary;
        padding: 0 1;
        content-align: center middle;
    }
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.set_value("…", None)

    def set_value(self, value: str, change: str | None, *, good: bool | None = None) -> None:
        text = Text(justify="center")
        text.append(f"{value}\n", style="bold")
        text.append(self.title, style="dim")
        if change:
            style = "green" if good else "red" if good is False else "dim"
            text.append(f"\n{change}", style=style)
        self.update(text)
