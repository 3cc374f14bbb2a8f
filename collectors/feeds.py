"""RSS and Atom feeds (news, complaint platforms, forum threads), read with feedparser.

``[collectors.<name>]`` with ``collector = "feed"``::

    base_url = "https://tousu.example.com/feeds/bank.xml"   # the feed's URL
    channel = "social"

Every run asks with the ``ETag`` and ``Last-Modified`` of the last answer; a ``304 Not
Modified`` reads nothing. Entries still in the feed come again and are recognised as
duplicates (or updates, when an entry was edited).

**A feed cut off or not well-formed** (a truncated body inside a valid HTTP response, an
unescaped ``&``): feedparser still returns the entries it could read, and saving this
answer's ``ETag`` would make the server answer ``304`` to the next run — the lost entries
would never be read. So the answer is validated before the state moves: the entries
read whole (those whose closing tag arrived) are stored, then the run fails — a
``transient`` error for a cut-off feed, ``data`` for a malformed one — without saving the
``ETag``, ``Last-Modified`` or the newest date, and the next run reads the whole feed
again (what was stored comes again as duplicates). A partial last entry is not stored:
it may lack its id or half its text, and comes whole next time. Feedparser's harmless
complaints (a charset the headers and the document disagree on) do not count.

Entry dates are read by the parser every collector uses (:mod:`bihuan.core.values`: RFC
822, ISO 8601, ``2026年12月1日 09:05``, ``2026/12/01``; naive times in ``[bihuan]
timezone``), feedparser's reading only for the forms it does not know.
"""

from __future__ import annotations

import re
from calendar import timegm
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from bihuan.collectors.http_base import HttpCollectorConfig, item_or_bad, may_advance, strip_html
from bihuan.core.collector import CollectorOutput, RunContext
from bihuan.core.errors import CollectorError, InputError, RecordError, TransientError
from bihuan.core.types import Checkpoint, Item
from bihuan.core.values import parse_datetime

# the end of an entry (RSS item, Atom entry, any namespace prefix); the document's first
# element, its root (the XML declaration, comments and a doctype start with ? or !)
_ENTRY_END = re.compile(r"</(?:[\w.-]+:)?(?:item|entry)\s*>", re.IGNORECASE)
_ROOT = re.compile(r"<([A-Za-z_][\w.:-]*)")


class FeedConfig(HttpCollectorConfig):
    channel: str = "social"


def _entry_raw(entry: Any, zone: ZoneInfo) -> dict[str, Any]:
    """The entry as plain JSON (for quarantine and retry).

    ``published`` is ISO 8601 in UTC when the date could be read, else the date as the
    feed wrote it (``parse_record`` then quarantines the entry). The date is read by the
    parser every collector uses first: feedparser's own reads ``2026/10/01 09:05`` and
    ``2026年10月1日`` as 2026-12-01 00:00, and a naive time as UTC. Feedparser's reading
    serves only for the forms that parser does not know.
    """
    content = entry.get("content") or []
    published: str | None = None
    written = entry.get("published") or entry.get("updated")
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    read: datetime | None = None
    if written:
        try:
            read = parse_datetime(written, zone, field="published")
        except RecordError:
            read = datetime.fromtimestamp(timegm(parsed), UTC) if parsed else None
    if read is not None:
        published = read.isoformat()
    elif written:
        published = str(written)
    return {
        "id": entry.get("id") or entry.get("link"),
        "link": entry.get("link"),
        "title": entry.get("title"),
        "summary": entry.get("summary"),
        "content": content[0].get("value") if content else None,
        "published": published,
        "author": entry.get("author"),
    }


def _is_iso(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _broken(feed: Any, content: bytes, instance: str) -> tuple[CollectorError, int] | None:
    """``(the run's error, how many entries arrived whole)`` for a cut-off or malformed
    feed; ``None`` for a sound one (harmless complaints of feedparser's included)."""
    import xml.sax

    problem = feed.get("bozo_exception") if feed.get("bozo") else None
    try:
        text = content.decode(feed.get("encoding") or "utf-8", errors="replace")
    except LookupError:  # an encoding name Python does not know
        text = content.decode("utf-8", errors="replace")
    root = _ROOT.search(text)
    # whole when the root element is closed at the end (comments may follow it)
    closing = re.compile(rf"</{re.escape(root.group(1))}\s*>\s*(?:<!--.*?-->\s*)*\Z", re.DOTALL) if root else None
    cut = closing is not None and not closing.search(text[-4096:])
    if not cut and not isinstance(problem, xml.sax.SAXException):
        return None
    whole = min(len(feed.entries), len(_ENTRY_END.findall(text)))
    where = ""
    if isinstance(problem, xml.sax.SAXParseException):
        where = f" (line {problem.getLineNumber()}, column {problem.getColumnNumber()}: {problem.getMessage()})"
    stored = f"the {whole} entries read whole are stored; the next run reads the feed again in full"
    if cut:
        return TransientError(f"{instance}: the feed is cut off{where}: {stored}"), whole
    return InputError(f"{instance}: the feed is not well-formed XML{where}: {stored}"), whole


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
        # validated before anything moves: see the module docstring
        broken = _broken(feed, response.content, ctx.instance)
        if feed.bozo and not feed.entries and not (broken and isinstance(broken[0], TransientError)):
            raise InputError(f"{ctx.instance}: not an RSS or Atom feed ({type(feed.bozo_exception).__name__})")
        entries = feed.entries if broken is None else feed.entries[: broken[1]]
        # a server that ignores conditional requests sends everything again: entries older
        # than the newest of the last run are not read again (edits to them are missed)
        newest_before = (state or {}).get("newest")
        newest = newest_before
        for n, entry in enumerate(entries, 1):
            raw = _entry_raw(entry, ctx.timezone)
            published = raw.get("published")
            if published and (not _is_iso(published) or not may_advance(ctx, datetime.fromisoformat(published))):
                published = None  # a date no parser read, or one the pipeline refuses: not the watermark
            if published and newest_before and published < newest_before:
                continue
            if published and (newest is None or published > newest):
                newest = published
            yield item_or_bad(ctx, raw, self.parse_record, f"feed entry {n}")
        if broken is not None:
            # the entries above are stored; the state (ETag, newest) stays where it was
            raise broken[0]
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
        return Item(
            external_id=str(key)[:300],
            text=text,
            created_at=parse_datetime(raw.get("published"), ctx.timezone, field="published"),
            customer_ref=raw.get("author") or None,
            url=raw.get("link"),
        )
