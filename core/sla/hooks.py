"""What case handling tells plugins, as plain callables (built by
``bihuan.plugins.manager.case_hooks``; each call isolated)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class CaseHooks:
    """:ivar on_sla_breach: called as ``(breach=SlaBreach)``.
    :ivar on_case_reopened: called as ``(reopened=CaseReopened)``.
    """

    on_sla_breach: Callable[..., None] | None = None
    on_case_reopened: Callable[..., None] | None = None

    def fire(self, name: str, **kwargs: Any) -> None:
        hook = getattr(self, name)
        if hook is not None:
            hook(**kwargs)
