"""A small modal form: labelled inputs, Enter to save, Escape to cancel.

The screen is dismissed with a dict of the values, or ``None`` when cancelled; a
``validate`` callback may refuse the values with a message shown in the form.

Titles, labels and values may come from stored data (a quarantined record's fields, a
task's owner): they are shown as plain text with control characters made visible
(:func:`~bihuan.core.display.display_text`). A field the user typed in gives back what
was typed (stripped); a field left as it was gives back its value exactly as given, so
making a character visible on the screen never rewrites the stored value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from bihuan.tui.widgets.untrusted import display_text


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str = ""
    placeholder: str = ""


class FormScreen(ModalScreen[dict[str, str] | None]):
    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen > Vertical { width: 70; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    FormScreen Label { margin-top: 1; }
    FormScreen #form-error { color: $error; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "save", "Save", id="form.save"),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[Field],
        *,
        validate: Callable[[dict[str, str]], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.form_title = title
        self.fields = list(fields)
        self.validate = validate

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(display_text(self.form_title, multiline=True), classes="form-title", markup=False)
            for field in self.fields:
                yield Label(display_text(field.label), markup=False)
                yield Input(value=display_text(field.value), placeholder=field.placeholder, id=f"field-{field.name}")
            yield Static("", id="form-error", markup=False)

    def values(self) -> dict[str, str]:
        values = {}
        for field in self.fields:
            typed = self.query_one(f"#field-{field.name}", Input).value
            values[field.name] = field.value if typed == display_text(field.value) else typed.strip()
        return values

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_save()

    def action_save(self) -> None:
        values = self.values()
        problem = self.validate(values) if self.validate else None
        if problem:
            self.query_one("#form-error", Static).update(display_text(problem))
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)
