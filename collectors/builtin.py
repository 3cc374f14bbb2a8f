"""Built-in plugin: the file collectors (CSV, XLSX, JSONL) and the HTTP collectors (Zendesk
tickets and satisfaction ratings, Formbricks responses, Mastodon hashtags, RSS/Atom feeds,
any JSON API)."""

from __future__ import annotations

from collections.abc import Callable

from bihuan.collectors.feeds import FeedCollector
from bihuan.collectors.files import CsvCollector, JsonlCollector, XlsxCollector
from bihuan.collectors.formbricks import FormbricksCollector
from bihuan.collectors.generic_json import JsonApiCollector
from bihuan.collectors.mastodon import MastodonCollector
from bihuan.collectors.zendesk import ZendeskSatisfactionCollector, ZendeskTicketsCollector
from bihuan.plugins.markers import hookimpl


@hookimpl
def register_collectors(register: Callable[[type], None]) -> None:
    register(CsvCollector)
    register(XlsxCollector)
    register(JsonlCollector)
    for cls in (
        ZendeskTicketsCollector,
        ZendeskSatisfactionCollector,
        FormbricksCollector,
        MastodonCollector,
        FeedCollector,
        JsonApiCollector,
    ):
        register(cls)
