"""What the PDCA engine tells plugins, as plain callables (core never imports the plugin
system). Built by ``bihuan.plugins.manager.pdca_hooks``; each call is isolated: a
failing plugin is logged and the engine goes on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class PdcaHooks:
    """:ivar on_task_stage_changed: called as ``(change=StageChanged)``.
    :ivar on_check_verdict: called as ``(verdict=CheckVerdict)``.
    :ivar on_action_overdue: called as ``(overdue=ActionOverdue)``.
    """

    on_task_stage_changed: Callable[..., None] | None = None
    on_check_verdict: Callable[..., None] | None = None
    on_action_overdue: Callable[..., None] | None = None

    def fire(self, name: str, **kwargs: Any) -> None:
        hook = getattr(self, name)
        if hook is not None:
            hook(**kwargs)
