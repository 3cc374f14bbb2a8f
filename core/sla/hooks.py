"""What case handling tells plugins, as plain callables (built by
``bihuan.plugins.manager.case_hooks``; each call isolated)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import Session

    from bihuan.core.notices import Notice
    from bihuan.core.outbox import Outbox


@dataclass
class CaseHooks:
    """Event hooks (called after the event committed) and the outbox its notices go to.

    :ivar on_sla_breach: called as ``(breach=SlaBreach)``.
    :ivar on_case_reopened: called as ``(reopened=CaseReopened)``.
    """

    on_sla_breach: Callable[..., None] | None = None
    on_case_reopened: Callable[..., None] | None = None

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
