"""What the HTTP collectors share: connection settings, reading fields out of JSON
records, timestamps in the forms APIs send, HTML to text, and the item-or-bad-record step.

Each HTTP collector turns one JSON record into an item with a ``to_item(ctx, raw)``
that raises :class:`RecordError` naming the field; the same function serves
``bihuan quarantine retry`` (``parse_record``), so a record fixed in quarantine is read
exactly as a fresh one would be.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from pydantic import Field, SecretStr, field_validator

from bihuan.core.collector import CollectorConfig, RunContext
from bihuan.core.errors import RecordError
from bihuan.core.types import BadRecord, Item

ToItem = Callable[[RunContext, Any], Item]


def http_url(value: str) -> str:
    """Validator: an http(s) URL, without a trailing slash."""
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


def secret(value: SecretStr | None) -> str | None:
    """The value of a secret config key (kept as ``SecretStr`` so that dumps, reprs and
    run records show ``**********``)."""
    return value.get_secret_value() if value is not None else None


class HttpSettingsConfig(CollectorConfig):
    """The connection keys every HTTP collector takes (read by ``ctx.http``)."""

    #: seconds per request
    timeout_seconds: float = Field(default=30.0, gt=0)
    #: attempts after the first, on network errors, timeouts, 5xx and 429
    retries: int = Field(default=4, ge=0)
    #: first wait between attempts, doubled each time
    backoff_seconds: float = Field(default=1.0, ge=0)


class HttpCollectorConfig(HttpSettingsConfig):
    """An API collector's keys: the connection ones and the API's base URL."""

    #: the API's base URL, e.g. https://acme.zendesk.com
    base_url: str

    _base_url = field_validator("base_url")(http_url)


def field_of(raw: Any, path: str) -> Any:
    """``raw["a"]["b"]`` for ``"a.b"``; ``None`` where a step is missing."""
    value = raw
    for step in path.split(".") if path else []:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def text_of(raw: Any, path: str, *, required: bool = False) -> str | None:
    value = field_of(raw, path)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RecordError(f"{path} is missing", field=path)
        return None
    if isinstance(value, dict | list):
        raise RecordError(f"{path} is not text", field=path)
    return str(value).strip()


def id_of(raw: Any, path: str = "id") -> str:
    value = field_of(raw, path)
    if value is None or value == "" or isinstance(value, dict | list | bool):
        raise RecordError(f"{path} is missing", field=path)
    return str(value)


def time_of(raw: Any, path: str, *, required: bool = False) -> datetime | None:
    """ISO 8601 (``Z`` or offset) or epoch seconds; naive ISO times are UTC."""
    value = field_of(raw, path)
    if value is None or value == "":
        if required:
            raise RecordError(f"{path} is missing", field=path)
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        parsed = datetime.fromisoformat(str(value))  # 3.11 reads "Z" and offsets
    except (ValueError, OverflowError, OSError):
        raise RecordError(f"{path} {value!r} is not a date and time", field=path) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def number_of(raw: Any, path: str, *, low: float, high: float) -> float | None:
    value = field_of(raw, path)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{path} {value!r} is not a number", field=path) from None
    if not low <= number <= high:
        raise RecordError(f"{path} {value!r} is outside {low:g}..{high:g}", field=path)
    return number


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("br", "p", "div", "li"):
            self.parts.append("\n")


def strip_html(markup: str) -> str:
    """Visible text of an HTML fragment (posts, feed summaries)."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts))
    return re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n+", "\n", text)).strip()


def item_or_bad(ctx: RunContext, raw: Any, to_item: ToItem, location: str, *, id_path: str = "id") -> Item | BadRecord:
    """``to_item(ctx, raw)``, or the record for quarantine with the reason and field."""
    try:
        return to_item(ctx, raw)
    except RecordError as exc:
        own_id = field_of(raw, id_path) if isinstance(raw, dict) else None
        return BadRecord(
            raw=raw,
            reason=exc.reason,
            location=location,
            field=exc.field,
            external_id=str(own_id) if own_id not in (None, "") and not isinstance(own_id, dict | list) else None,
        )
