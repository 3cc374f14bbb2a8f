"""Untrusted text in the workplace: always a ``rich.text.Text``, never markup, with its
control characters made visible by :func:`bihuan.core.display.display_text`.

A ``str`` given to a ``DataTable`` cell, a ``Static`` or ``notify`` is parsed as markup
(``[/]`` raises, ``[@click=app.quit]`` becomes an action); a ``Text`` is shown as it is.
"""

from __future__ import annotations

from rich.text import Text

from bihuan.core.display import display_text

__all__ = ["display_text", "untrusted"]


def untrusted(value: object, *, multiline: bool = False, limit: int | None = None, style: str = "") -> Text:
    """``value`` as plain text to show: a table cell (one line) or a detail (``multiline``)."""
    return Text(display_text(value, multiline=multiline, limit=limit), style=style, end="")
