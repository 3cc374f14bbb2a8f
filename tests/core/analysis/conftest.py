"""The demo data set: its texts with their ground truth, and imported into a database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bihuan.core.collection import file_import_instances, run_instances
from bihuan.core.config import GeneralSettings
from bihuan.core.demo_data import generate_demo_dataset
from bihuan.core.demo_data.reading import DemoText, read_demo_texts
from bihuan.plugins.manager import BihuanPluginManager, pipeline_hooks

DEMO_NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_texts(tmp_path_factory: pytest.TempPathFactory) -> list[DemoText]:
    """Every importable demo item with its truth (a fixed data set: stable figures)."""
    directory = tmp_path_factory.mktemp("demo-texts")
    generate_demo_dataset(directory, now=DEMO_NOW)
    return read_demo_texts(directory)


#: a Monday: the demo's last week is a whole ISO week
IMPORT_NOW = datetime(2026, 11, 16, tzinfo=UTC)


def _import_demo(engine: Engine, pm: BihuanPluginManager, directory: Path, suffix: str = "", **kw: Any) -> None:
    """Generate the demo set (``kw``: seed, weeks) and import it through the real collectors;
    ``suffix`` makes its sources new ones (a second, different import)."""
    manifest = generate_demo_dataset(directory, now=IMPORT_NOW, **kw)
    registry = {name: entry.cls for name, entry in pm.collectors().items()}
    instances = []
    for demo_file in manifest.import_files:
        instances += file_import_instances(
            [demo_file.path],
            registry,
            collector=demo_file.collector,
            source=f"{demo_file.source}{suffix}",
            channel=demo_file.channel,
        )
    run_instances(instances, engine=engine, timezone=GeneralSettings().zone, hooks=pipeline_hooks(pm))


@pytest.fixture
def import_demo() -> Any:
    """The demo importer: ``import_demo(engine, pm, directory, suffix="", seed=…)``."""
    return _import_demo


@pytest.fixture
def demo_engine(engine: Engine, pm: BihuanPluginManager, tmp_path: Path) -> Engine:
    """A database (SQLite and PostgreSQL) holding the imported demo set, not yet analysed."""
    _import_demo(engine, pm, tmp_path / "demo")
    return engine


