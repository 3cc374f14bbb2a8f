"""What the analysis asks of plugins, as plain callables (core never imports the plugin system)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bihuan.core.outbox import Outbox


@dataclass
class AnalysisHooks:
    """Built from the plugin manager by ``bihuan.plugins.manager.analysis_hooks``.

    :ivar score_sentiment: the ``score_sentiment`` decision: scores, or ``None`` to use
        the built-in model.
    :ivar on_spike: the ``on_spike`` event, isolated (a failing plugin is logged).
    :ivar outbox: where spike notices are written, in the transaction that records the spike.
    """

    score_sentiment: Callable[[list[str], list[str]], list[float] | None] | None = None
    on_spike: Callable[..., None] | None = None
    outbox: Outbox | None = None
