"""The demo data set with its ground truth, generated once per test session."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bihuan.core.demo_data import generate_demo_dataset
from bihuan.core.demo_data.reading import DemoText, read_demo_texts

DEMO_NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_texts(tmp_path_factory: pytest.TempPathFactory) -> list[DemoText]:
    """Every importable demo item with its truth (a fixed data set: stable figures)."""
    directory = tmp_path_factory.mktemp("demo-texts")
    generate_demo_dataset(directory, now=DEMO_NOW)
    return read_demo_texts(directory)
