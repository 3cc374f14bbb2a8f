"""Built-in plugin: the file collectors (CSV, XLSX, JSONL)."""

from __future__ import annotations

from collections.abc import Callable

from bihuan.collectors.files import CsvCollector, JsonlCollector, XlsxCollector
from bihuan.plugins.markers import hookimpl


@hookimpl
def register_collectors(register: Callable[[type], None]) -> None:
    register(CsvCollector)
    register(XlsxCollector)
    register(JsonlCollector)
