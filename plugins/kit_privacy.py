"""What the acceptance kit (:mod:`bihuan.plugins.testing`) checks for privacy: personal
data and secrets in a collector's states and log lines, and in what a run stored."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any, Self

from sqlalchemy import Engine
from sqlalchemy import text as text_sql

from bihuan.core.collector import Collector
from bihuan.core.masking import URL_PATTERN, is_secret_name, strip_url_secrets
from bihuan.core.redaction import find_pii

__all__ = ["STORED_COLUMNS", "LogCapture", "personal_data_in", "secrets_in", "stored_leaks"]


class LogCapture(logging.Handler):
    """Keeps what a collector logs during a run: its ``ctx.log`` (``bihuan.collector.*``)
    and the loggers of its module's package."""

    def __init__(self, collector_class: type[Collector], into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into
        package = collector_class.__module__.split(".")[0]
        names = {"bihuan.collector"} | ({package} if package != "bihuan" else set())
        self.loggers = [logging.getLogger(name) for name in sorted(names)]
        self.levels: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        self.into.append(text)

    def __enter__(self) -> Self:
        for logger in self.loggers:
            self.levels.append(logger.level)
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for logger, level in zip(self.loggers, self.levels, strict=True):
            logger.removeHandler(self)
            logger.setLevel(level)


def personal_data_in(value: Any, where: str = "") -> list[str]:
    """Where in ``value`` (JSON-like) personal data is, as ``path: kind``."""
    found: list[str] = []
    if isinstance(value, str):
        found += [f"{where or 'value'}: {m.kind}" for m in find_pii(value)]
    elif isinstance(value, int) and not isinstance(value, bool):
        found += [f"{where or 'value'}: {m.kind}" for m in find_pii(str(value))]
    elif isinstance(value, dict):
        for key, item in value.items():
            found += [f"{where}[{key!r}] (the key): {m.kind}" for m in find_pii(str(key))]
            found += personal_data_in(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found += personal_data_in(item, f"{where}[{n}]")
    return found


def secrets_in(value: Any, known: list[str], where: str = "") -> list[str]:
    """Where in ``value`` a secret is: a known one, a URL's credentials or secret
    parameters, a value under a secret-named key."""
    found: list[str] = []
    if isinstance(value, str):
        if any(secret in value for secret in known if len(secret) >= 4):
            found.append(f"{where or 'value'}: a configured secret")
        for url in URL_PATTERN.findall(value) if "://" in value else ():
            removed = strip_url_secrets(url)[1]
            if removed or "@" in url.split("://", 1)[1].split("/", 1)[0]:
                found.append(f"{where or 'value'}: a URL with {', '.join(removed) or 'credentials'}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if is_secret_name(str(key)) and isinstance(item, str) and item:
                found.append(f"{where}[{key!r}]: a value under a secret's name")
            else:
                found += secrets_in(item, known, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found += secrets_in(item, known, f"{where}[{n}]")
    return found


#: the tables and text columns a run writes to (JSON columns are read as their text)
STORED_COLUMNS = {
    "feedback_item": ("source", "external_id", "text", "customer_ref", "url", "extra", "origin"),
    "quarantined_record": ("collector", "source", "location", "field", "reason", "payload", "external_id"),
    "collector_run": ("collector", "source", "config", "error_message"),
    "collector_state": ("collector", "state"),
}


JSON_COLUMNS = frozenset({"extra", "config", "state"})


def stored_leaks(engine: Engine, secrets: Iterable[str] = ()) -> list[str]:
    """Raw personal data or secrets in what is stored: ``table.column row N: what``.

    Reads every text column a collector run writes; the pipeline must have pseudonymised,
    redacted or masked all of it.
    """
    known = [s for s in secrets if s and len(s) >= 4]
    found: list[str] = []
    with engine.connect() as conn:
        for table, columns in STORED_COLUMNS.items():
            for n, row in enumerate(conn.execute(text_sql(f"SELECT {', '.join(columns)} FROM {table}")), 1):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, str) and column in JSON_COLUMNS:
                        value = json.loads(value)  # SQLite keeps JSON as text, non-ASCII escaped
                    cell = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    found += [f"{table}.{column} row {n}: {m.kind}" for m in find_pii(cell)]
                    found += [f"{table}.{column} row {n}: a configured secret" for s in known if s in cell][:1]
    return found
