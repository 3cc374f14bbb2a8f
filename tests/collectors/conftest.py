"""Helpers for driving the file collectors directly (no database): real files in tmp_path,
``check`` then ``collect``, outputs sorted by kind."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bihuan.core.collector import RunContext
from bihuan.core.types import BadRecord, Checkpoint, Item


@dataclass
class Outputs:
    """What one ``collect`` yielded, in order and by kind."""

    all: list[Any] = field(default_factory=list)

    @property
    def items(self) -> list[Item]:
        return [o for o in self.all if isinstance(o, Item)]

    @property
    def bad(self) -> list[BadRecord]:
        return [o for o in self.all if isinstance(o, BadRecord)]

    @property
    def checkpoints(self) -> list[dict[str, Any]]:
        return [o.state for o in self.all if isinstance(o, Checkpoint)]

    def bad_at(self, location: str) -> BadRecord:
        [record] = [b for b in self.bad if b.location == location]
        return record


def make_context(
    collector: Any,
    paths: Iterable[Path | str],
    *,
    channel: str = "survey",
    timezone: str = "Asia/Shanghai",
    **options: Any,
) -> RunContext:
    config = collector.Config(paths=[str(p) for p in paths], **options)
    return RunContext(instance="test", source="test", channel=channel, config=config, timezone=ZoneInfo(timezone))


def run(collector: Any, paths: Path | Iterable[Path], state: dict | None = None, **options: Any) -> Outputs:
    """``check`` and ``collect`` one collector over ``paths``."""
    ctx = make_context(collector, [paths] if isinstance(paths, Path) else paths, **options)
    collector.check(ctx)
    return Outputs(list(collector.collect(ctx, state)))


@pytest.fixture
def collect() -> Callable[..., Outputs]:
    """``collect(CsvCollector(), path, state=None, **config)`` → :class:`Outputs`."""
    return run


@pytest.fixture
def context() -> Callable[..., RunContext]:
    """``context(CsvCollector(), [path], **config)`` → a ``RunContext``."""
    return make_context
