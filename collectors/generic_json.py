"""Any JSON REST API — complaint platforms, in-house systems — configured in plugins.toml.

``[collectors.<name>]`` with ``collector = "json_api"``::

    base_url = "https://complaints.example.com/api/v1/complaints"   # the list endpoint
    headers = { Authorization = { "$env" = "COMPLAINTS_TOKEN" } }
    items_path = "data.items"           # where the list is in each page ("" for a bare list)
    fields = { external_id = "id", text = "content", created_at = "createdAt",
               customer_ref = "user.id", rating = "score", url = "link" }
    pagination = "cursor"               # none | cursor | page | offset | link
    cursor_param = "cursor"             # cursor: sent with the value found at cursor_path
    cursor_path = "data.next_cursor"
    page_size = 100                     # page and offset: the page size, sent as size_param
    since_param = "updated_since"       # optional: sent with the newest created_at of the last run

A run checkpoints after every page with where the next page starts, so a failed run
resumes there; with ``since_param`` the next run asks only for what is newer. A ``link``
pagination's next-link is saved without its secret parameters (``access_token``, ``key``…);
a resumed run adds the configured ones (from ``params`` and ``base_url``) again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator

from bihuan.collectors.http_base import (
    HttpCollectorConfig,
    channel_of,
    field_of,
    id_of,
    item_or_bad,
    may_advance,
    nps_of,
    rating_of,
    text_of,
    time_of,
)
from bihuan.core.collector import CollectorOutput, RunContext
from bihuan.core.errors import CollectorConfigError, InputError, RecordError
from bihuan.core.masking import is_secret_name, strip_url_secrets
from bihuan.core.types import Checkpoint, Item

FIELDS = ("external_id", "text", "created_at", "rating", "nps", "customer_ref", "url", "channel")


class JsonApiConfig(HttpCollectorConfig):
    #: request headers; values are secrets (shown as ********** in run records)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    items_path: str = ""
    #: item field → dotted path in a record; external_id and text are required
    fields: dict[str, str]
    pagination: Literal["none", "cursor", "page", "offset", "link"] = "none"
    cursor_param: str = "cursor"
    cursor_path: str = "next_cursor"
    page_param: str = "page"
    first_page: int = 1
    offset_param: str = "offset"
    size_param: str = "limit"
    page_size: int = Field(default=100, gt=0)
    since_param: str | None = None
    #: the top of the source's rating scale (0..rating_max); ratings are stored on bihuan's 0..5 scale
    rating_max: float = Field(default=5, gt=0)
    #: a safety stop: pages per run
    max_pages: int = Field(default=10_000, gt=0)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown fields {', '.join(unknown)} (known: {', '.join(FIELDS)})")
        missing = [f for f in ("external_id", "text") if f not in value]
        if missing:
            raise ValueError(f"map {' and '.join(missing)}")
        return value


def _headers(config: JsonApiConfig) -> dict[str, str]:
    return {k: v.get_secret_value() for k, v in config.headers.items()}


class JsonApiCollector:
    name: ClassVar[str] = "json_api"
    channel: ClassVar[str] = "other"
    Config: ClassVar[type[JsonApiConfig]] = JsonApiConfig

    def check(self, ctx: RunContext) -> None:
        config: JsonApiConfig = ctx.config
        # params=None, not {}: httpx replaces a URL's query (a token in base_url) with any params given
        data, _ = ctx.http.get_json(config.base_url, params=config.params or None, headers=_headers(config))
        if not isinstance(field_of(data, config.items_path) if config.items_path else data, list):
            raise CollectorConfigError(
                f"{ctx.instance}: items_path {config.items_path!r} does not lead to a list in the answer"
            )

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        config: JsonApiConfig = ctx.config
        state = state or {}
        since = state.get("since")
        newest = state.get("newest") or since
        position = state.get("next")  # where a failed run stopped
        # a next-link is saved without its secrets (access_token=…): one from the state
        # gets the configured ones again; a link from the page just read is used as it is
        from_state = position is not None
        url: str | None = config.base_url
        for page in range(1, config.max_pages + 1):
            params = dict(config.params)
            if config.since_param and since:
                params[config.since_param] = since
            if config.pagination in ("page", "offset"):
                params[config.size_param] = str(config.page_size)
            if config.pagination == "cursor" and position:
                params[config.cursor_param] = position
            elif config.pagination == "page":
                params[config.page_param] = str(position or config.first_page)
            elif config.pagination == "offset":
                params[config.offset_param] = str(position or 0)
            elif config.pagination == "link" and position:
                # the link carries its own query
                url, params = (_with_params(position, _link_secrets(config)) if from_state else position), {}
            from_state = False
            # params=None, not {}: httpx replaces a URL's query with any params given
            data, response = ctx.http.get_json(url, params=params or None, headers=_headers(config))  # type: ignore[arg-type]
            records = field_of(data, config.items_path) if config.items_path else data
            if not isinstance(records, list):
                raise InputError(
                    f"{ctx.instance}: items_path {config.items_path!r} does not lead to a list in page {page}"
                )
            for n, raw in enumerate(records, 1):
                output = item_or_bad(ctx, raw, self.parse_record, f"page {page} record {n}")
                if isinstance(output, Item) and output.created_at is not None and may_advance(ctx, output.created_at):
                    stamp = output.created_at.isoformat()
                    newest = stamp if newest is None or datetime.fromisoformat(newest) < output.created_at else newest
                yield output
            following = self._next(config, data, response, position, len(records))
            if following is not None and following == position:
                raise CollectorConfigError(
                    f"{ctx.instance}: page {page} points to itself as the next page; check the pagination settings"
                )
            position = following
            if position is None:
                break
            saved = strip_url_secrets(position)[0] if config.pagination == "link" else position
            yield Checkpoint({"since": since, "newest": newest, "next": saved})
        yield Checkpoint({"since": newest, "newest": newest, "next": None})

    @staticmethod
    def _next(config: JsonApiConfig, data: Any, response: Any, position: Any, count: int) -> Any:
        if config.pagination == "cursor":
            cursor = field_of(data, config.cursor_path)
            return str(cursor) if cursor not in (None, "") and count else None
        if config.pagination == "page":
            return (int(position or config.first_page) + 1) if count >= config.page_size else None
        if config.pagination == "offset":
            return (int(position or 0) + count) if count >= config.page_size else None
        if config.pagination == "link":
            return response.links.get("next", {}).get("url")
        return None

    def parse_record(self, ctx: RunContext, raw: Any) -> Item:
        """One record as an item; values are read as the file importer reads its cells
        (naive times in ``ctx.timezone``, ``微博`` is social; :mod:`bihuan.core.values`)."""
        fields: dict[str, str] = ctx.config.fields
        if not isinstance(raw, dict):
            raise RecordError("a record must be an object")
        channel, channel_raw = channel_of(raw, fields["channel"]) if "channel" in fields else (None, None)
        return Item(
            external_id=id_of(raw, fields["external_id"])[:300],
            text=text_of(raw, fields["text"], required=True) or "",
            created_at=time_of(raw, fields["created_at"], ctx.timezone) if "created_at" in fields else None,
            # a channel that names none of bihuan's is kept, as the file importer keeps it
            channel=channel,
            rating=rating_of(raw, fields["rating"], ctx.config.rating_max) if "rating" in fields else None,
            nps=nps_of(raw, fields["nps"]) if "nps" in fields else None,
            customer_ref=text_of(raw, fields["customer_ref"]) if "customer_ref" in fields else None,
            url=text_of(raw, fields["url"]) if "url" in fields else None,
            extra={"channel_raw": channel_raw} if channel is None and channel_raw else None,
        )


def _link_secrets(config: JsonApiConfig) -> dict[str, str]:
    """The secret query parameters of the configuration (``params``, ``base_url``'s query)."""
    found = strip_url_secrets(config.base_url)[1]
    found.update({k: v for k, v in config.params.items() if is_secret_name(k)})
    return found


def _with_params(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query (those it has already are kept)."""
    if not params:
        return url
    parts = urlsplit(url)
    present = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    added = urlencode([(k, v) for k, v in params.items() if k not in present])
    query = "&".join(q for q in (parts.query, added) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
