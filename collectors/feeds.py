"""RSS and Atom feeds (news, complaint platforms, forum threads), read with feedparser.

``[collectors.<name>]`` with ``collector = "feed"``::

    base_url = "https://tousu.example.com/feeds/bank.xml"   # the feed's URL
    channel = "social"

Every run asks with the ``ETag`` and ``Last-Modified`` of the last answer; a ``304 Not
Modified`` reads nothing. Entries still in the feed come again and are recognised as
duplicates (or updates, when an entry was edited).
"""

from __future__ import annotations

from calendar import timegm
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from bihuan.collectors.http_base import HttpCollectorConfig, item_or_bad, strip_html
from bihuan.core.collector import CollectorOutput, RunContext
from bihuan.core.errors import InputError, RecordError
from bihuan.core.types import Checkpoint, Item


class FeedConfig(HttpCollectorConfig):
    channel: str = "social"


def _entry_raw(entry: Any) -> dict[str, Any]:
    """The entry as plain JSON (for quarantine and retry)."""
    content = entry.get("content") or []
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return {
        "id": entry.get("id") or entry.get("link"),
        "link": entry.get("link"),
        "title": entry.get("title"),
        "summary": entry.get("summary"),
        "content": content[0].get("value") if content else None,
        "published": datetime.fromtimestamp(timegm(parsed), UTC).isoformat() if parsed else None,
        "author": entry.get("author"),
    }


class FeedCollector:
    name: ClassVar[str] = "feed"
    channel: ClassVar[str] = "social"
    Config: ClassVar[type[FeedConfig]] = FeedConfig

    def check(self, ctx: RunContext) -> None:
        ctx.http.get(ctx.config.base_url, ok_statuses=(304,))

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        headers = {}
        if state and state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state and state.get("modified"):
            headers["If-Modified-Since"] = state["modified"]
        response = ctx.http.get(ctx.config.base_url, headers=headers, ok_statuses=(304,))
        if response.status_code == 304:
            return
        import feedparser  # here: loading the collector registry should not import it

        # the headers carry the charset of feeds that do not declare it (GBK ones, often)
        feed = feedparser.parse(response.content, response_headers=dict(response.headers))
        if feed.bozo and not feed.entries:
            raise InputError(f"{ctx.instance}: not an RSS or Atom feed ({type(feed.bozo_exception).__name__})")
        # a server that ignores conditional requests sends everything again: entries older
        # than the newest of the last run are not read again (edits to them are missed)
        newest_before = (state or {}).get("newest")
        newest = newest_before
        for n, entry in enumerate(feed.entries, 1):
            raw = _entry_raw(entry)
            published = raw.get("published")
            if published and newest_before and published < newest_before:
                continue
            if published and (newest is None or published > newest):
                newest = published
            yield item_or_bad(ctx, raw, self.parse_record, f"feed entry {n}")
        yield Checkpoint(
            {"etag": response.headers.get("ETag"), "modified": response.headers.get("Last-Modified"), "newest": newest}
        )

    def parse_record(self, ctx: RunContext, raw: Any) -> Item:
        if not isinstance(raw, dict):
            raise RecordError("an entry must be an object")
        key = raw.get("id") or raw.get("link")
        if not key:
            raise RecordError("the entry has neither an id nor a link", field="id")
        body = strip_html(raw.get("content") or raw.get("summary") or "")
        title = strip_html(raw.get("title") or "")
        text = title if not body else (body if not title or body.startswith(title) else f"{title}\n{body}")
        if not text:
            raise RecordError("the entry has no title or text", field="summary")
        published = raw.get("published")
        return Item(
            external_id=str(key)[:300],
            text=text,
            created_at=datetime.fromisoformat(published) if published else None,
            customer_ref=raw.get("author") or None,
            url=raw.get("link"),
        )
