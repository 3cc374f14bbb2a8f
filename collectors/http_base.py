"""What the HTTP collectors share: connection settings, reading fields out of JSON
records (timestamps, numbers and channels with the parsers every collector uses,
:mod:`bihuan.core.values`), HTML to text, and the item-or-bad-record step.

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
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator

from bihuan.core.collector import CollectorConfig, RunContext
from bihuan.core.errors import RecordError
from bihuan.core.types import BadRecord, Item
from bihuan.core.values import parse_channel, parse_datetime, parse_nps, parse_rating, scale_problem

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


def time_of(raw: Any, path: str, zone: ZoneInfo, *, required: bool = False) -> datetime | None:
    """The timestamp at ``path``, read as the file importer reads one (ISO 8601 with or
    without an offset, ``2026/12/01``, ``2026年12月1日 9:05``, epoch seconds or
    milliseconds…; see :func:`~bihuan.core.values.parse_datetime`): naive times are wall
    time in ``zone``, the run's ``ctx.timezone``.

    :raises RecordError: on field ``path`` when the value is missing (``required``) or
        not a date.
    """
    value = field_of(raw, path)
    if value is None or value == "":
        if required:
            raise RecordError(f"{path} is missing", field=path)
        return None
    if isinstance(value, dict | list | bool):
        raise RecordError(f"{path} is not a date and time", field=path)
    return parse_datetime(value, zone, field=path)


def may_advance(ctx: RunContext, at: datetime) -> bool:
    """Whether ``at`` may move a collector's "newest seen" watermark (the ``since`` of the
    next request, the date before which entries are not read again): only a time the
    pipeline stores. A record dated 2099 is quarantined; as the watermark it would make
    every later record look old, and they would never be read."""
    bounds = ctx.date_window.bounds(datetime.now(UTC), ctx.timezone)
    return bounds.low <= at <= bounds.high


def number_of(raw: Any, path: str, *, low: float, high: float) -> float | None:
    """The number at ``path`` on the ``low..high`` scale (``"4"``, ``4``, ``4.5``)."""
    value = field_of(raw, path)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{path} {value!r} is not a number", field=path) from None
    problem = scale_problem(path, number, low, high)
    if problem is not None:
        raise RecordError(problem, field=path)
    return number


def rating_of(raw: Any, path: str, rating_max: float) -> float | None:
    """The rating at ``path`` on bihuan's 0..5 scale, from the source's ``0..rating_max``
    (``8`` of 10 is 4; ``"4分"`` and ``"满意"`` are read as the file importer reads them)."""
    try:
        return parse_rating(field_of(raw, path), rating_max)
    except RecordError as exc:
        raise RecordError(exc.reason.replace("rating", path, 1), field=path) from None


def nps_of(raw: Any, path: str) -> int | None:
    """The NPS score at ``path``, a whole number 0..10."""
    try:
        return parse_nps(field_of(raw, path))
    except RecordError as exc:
        raise RecordError(exc.reason.replace("NPS score", path, 1), field=path) from None


def channel_of(raw: Any, path: str) -> tuple[str | None, str | None]:
    """``(channel, raw value)`` at ``path``: the channel as the file importer reads it
    (``微博`` is social, ``95588热线`` hotline; :func:`~bihuan.core.values.parse_channel`),
    ``None`` when it names none of bihuan's — the caller keeps the raw value in ``extra``
    and the run's default channel applies."""
    value = text_of(raw, path)
    if value is None:
        return None, None
    return parse_channel(value), value


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
    """``to_item(ctx, raw)`` (read at ``location``, which the pipeline names if it refuses
    the item), or the record for quarantine with the reason and field."""
    try:
        item = to_item(ctx, raw)
        item.location = location
        return item
    except RecordError as exc:
        own_id = field_of(raw, id_path) if isinstance(raw, dict) else None
        return BadRecord(
            raw=raw,
            reason=exc.reason,
            location=location,
            field=exc.field,
            external_id=str(own_id) if own_id not in (None, "") and not isinstance(own_id, dict | list) else None,
        )
