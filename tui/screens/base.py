"""What every screen of the workplace shares: the app's services, and palette commands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from textual.app import SystemCommand
from textual.screen import Screen

if TYPE_CHECKING:
    from bihuan.tui.app import BihuanApp


class BihuanScreen(Screen[None]):
    """A screen of the workplace (one per module: dashboard, inbox, groups, PDCA…).

    ``palette`` lists ``(title, help, action)`` for every action of the screen, so the
    command palette reaches everything the keys do.
    """

    palette: tuple[tuple[str, str, str], ...] = ()

    @property
    def bihuan(self) -> BihuanApp:
        return cast("BihuanApp", self.app)

    def palette_commands(self) -> Iterator[SystemCommand]:
        for title, help_text, action in self.palette:
            yield SystemCommand(title, help_text, lambda action=action: self.run_action(action))

    def on_screen_resume(self) -> None:
        # every time the screen is shown, the first time included: the data may have
        # changed on another screen or in another session meanwhile
        self.refresh_data()

    def refresh_data(self) -> None:
        """Reload what the screen shows (the screens with data override this)."""
