"""What every screen of the workplace shares: the app's services, and palette commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

from textual.app import SystemCommand
from textual.screen import Screen

from bihuan.core.display import display_text
from bihuan.core.errors import BihuanError, StaleWriteError

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
        # changed on another screen or in another session meanwhile. Started after the
        # frame is drawn, so a loading worker (which holds the GIL for much of its time)
        # does not compete with drawing it.
        self.call_after_refresh(self.refresh_data)

    def refresh_data(self) -> None:
        """Reload what the screen shows (the screens with data override this)."""

    def apply_change(self, label: str, change: Callable[[], object], *, reload: Callable[[], object]) -> bool:
        """Run one of the team's edits and say how it went; reload either way.

        A stale write (someone else changed the row since it was read) is shown as such,
        any other refusal (a gate, a bad value) with its reason; nothing is overwritten.
        """
        # messages and labels quote stored and typed values: shown as text, controls visible
        try:
            change()
        except StaleWriteError as exc:
            self.notify(
                display_text(exc), title="Someone else changed this", severity="error", timeout=10, markup=False
            )
            return False
        except BihuanError as exc:
            self.notify(
                display_text(exc), title=display_text(f"{label}: refused"), severity="error", timeout=8, markup=False
            )
            return False
        else:
            self.notify(display_text(label), markup=False)
            return True
        finally:
            reload()
