"""Mastodon: public posts with a hashtag, newest since the last run.

``[collectors.<name>]`` with ``collector = "mastodon"``::

    base_url = "https://mastodon.social"
    hashtag = "招商银行"                       # without the #
    access_token = { "$env" = "MASTODON_TOKEN" }   # optional: public timelines need none
    page_size = 40

Each run asks for the posts after the newest it has (``min_id``) and follows the
``Link`` header's ``prev`` page to newer ones until there are none; the state is the
newest post id, so a failed run resumes after the last page it stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr

from bihuan.collectors.http_base import HttpCollectorConfig, id_of, item_or_bad, secret, strip_html, text_of, time_of
from bihuan.core.collector import CollectorOutput, RunContext
from bihuan.core.errors import CollectorConfigError, InputError, RecordError
from bihuan.core.types import Checkpoint, Item


class MastodonConfig(HttpCollectorConfig):
    channel: str = "social"
    hashtag: str
    access_token: SecretStr | None = None
    page_size: int = Field(default=40, gt=0, le=40)


def _id_key(post_id: str) -> tuple[int, str]:
    # Mastodon ids are decimal snowflakes: compare as numbers
    return (int(post_id), post_id) if post_id.isdigit() else (0, post_id)


class MastodonCollector:
    name: ClassVar[str] = "mastodon"
    channel: ClassVar[str] = "social"
    Config: ClassVar[type[MastodonConfig]] = MastodonConfig

    def _headers(self, ctx: RunContext) -> dict[str, str]:
        token = secret(ctx.config.access_token)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _timeline(self, ctx: RunContext) -> str:
        tag = ctx.config.hashtag.strip().lstrip("#")
        if not tag:
            raise CollectorConfigError(f"{ctx.instance}: hashtag is empty")
        return f"{ctx.config.base_url}/api/v1/timelines/tag/{quote(tag)}"

    def check(self, ctx: RunContext) -> None:
        ctx.http.get_json(self._timeline(ctx), params={"limit": 1}, headers=self._headers(ctx))

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        config: MastodonConfig = ctx.config
        newest: str | None = (state or {}).get("min_id")
        url: str | None = self._timeline(ctx)
        params: dict[str, Any] | None = {"limit": config.page_size}
        if newest:
            params = {"limit": config.page_size, "min_id": newest}
        page = 0
        while url:
            page += 1
            data, response = ctx.http.get_json(url, params=params, headers=self._headers(ctx))
            if not isinstance(data, list):
                raise InputError(f"{ctx.instance}: timeline page {page} is not a list of posts")
            if not data:
                return
            for n, raw in enumerate(data, 1):
                yield item_or_bad(ctx, raw, self.parse_record, f"#{config.hashtag} page {page} post {n}")
            ids = [str(p["id"]) for p in data if isinstance(p, dict) and p.get("id") not in (None, "")]
            if ids:
                top = max(ids, key=_id_key)
                if newest is None or _id_key(top) > _id_key(newest):
                    newest = top
            yield Checkpoint({"min_id": newest})
            if not (state or {}).get("min_id"):
                return  # the first run takes the newest page; later runs go forward from it
            # with min_id the server answers the posts just after it; "prev" is the next newer page
            url, params = response.links.get("prev", {}).get("url"), None

    def parse_record(self, ctx: RunContext, raw: Any) -> Item:
        if not isinstance(raw, dict):
            raise RecordError("a post must be an object")
        content = text_of(raw, "content", required=True) or ""
        text = strip_html(content)
        if not text:
            raise RecordError("the post has no text", field="content")
        return Item(
            external_id=id_of(raw),
            text=text,
            created_at=time_of(raw, "created_at", ctx.timezone, required=True),
            customer_ref=text_of(raw, "account.acct"),
            url=text_of(raw, "url"),
            extra={"language": lang} if (lang := text_of(raw, "language")) else None,
        )
