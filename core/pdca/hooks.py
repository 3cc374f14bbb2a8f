"""What the PDCA engine tells plugins, as plain callables (core never imports the plugin
system). Built by ``bihuan.plugins.manager.pdca_hooks``; each call is isolated: a
failing plugin is logged and the engine goes on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import Session

    from bihuan.core.notices import Notice
    from bihuan.core.outbox import Outbox


@dataclass
class PdcaHooks:
    """Event hooks (called after the event committed) and the outbox its notices go to.

    :ivar on_task_stage_changed: called as ``(change=StageChanged)``.
    :ivar on_check_verdict: called as ``(verdict=CheckVerdict)``.
    :ivar on_action_overdue: called as ``(overdue=ActionOverdue)``.
    """

    on_task_stage_changed: Callable[..., None] | None = None
    on_check_verdict: Callable[..., None] | None = None
    on_action_overdue: Callable[..., None] | None = None

    #: where notices are written in the event's own transaction (``None``: nowhere)
    outbox: Outbox | None = None

    def record(self, *notices: Notice, session: Session) -> None:
        """Write ``notices`` to the outbox in ``session``'s transaction: they commit, or
        roll back, with the event that caused them."""
        if self.outbox is not None:
            self.outbox.record(notices, session=session)

    def fire(self, name: str, **kwargs: Any) -> None:
        hook = getattr(self, name)
        if hook is not None:
            hook(**kwargs)
