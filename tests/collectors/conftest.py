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


@dataclass
class Stored:
    """What one run of the real pipeline stored: its report, the items by id, and the
    quarantined records as ``(location, field, reason)`` in the order they were read."""

    report: Any
    items: dict[str, str]
    quarantine: list[tuple[str, str | None, str]]


def store_run(engine: Any, collector: Any, paths: Path | Iterable[Path], *, helper: bool, **options: Any) -> Stored:
    """Run ``collector`` over ``paths`` through the real pipeline into ``engine``, with
    the batches read in this process or in the forked helper (``helper``)."""
    from sqlalchemy import text

    from bihuan.core.pipeline import run_collector

    ctx = make_context(collector, [paths] if isinstance(paths, Path) else paths, **options)
    report = run_collector(collector, ctx, engine=engine, collector_type=collector.name, helper=helper)
    with engine.connect() as conn:
        items = dict(conn.execute(text("SELECT external_id, text FROM feedback_item")).all())
        quarantine = conn.execute(text("SELECT location, field, reason FROM quarantined_record ORDER BY id")).all()
    return Stored(report, items, [tuple(q) for q in quarantine])


@pytest.fixture(params=[False, True], ids=["in-process", "helper"])
def store(request: pytest.FixtureRequest, engine: Any) -> Callable[..., Stored]:
    """``store(CsvCollector(), path, **config)`` → :class:`Stored`, on both database
    backends and both reading paths (in this process; in the forked helper)."""
    if request.param:
        import multiprocessing

        if "fork" not in multiprocessing.get_all_start_methods():
            pytest.skip("no fork here")
    return lambda collector, paths, **options: store_run(engine, collector, paths, helper=request.param, **options)
