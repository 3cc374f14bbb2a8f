"""Zendesk: tickets through the incremental cursor export, and satisfaction ratings.

``[collectors.<name>]`` with ``collector = "zendesk_tickets"``::

    base_url = "https://acme.zendesk.com"
    email = "ops@acme.example"                 # API-token auth as email/token; leave out for OAuth
    api_token = { "$env" = "ZENDESK_TOKEN" }  # the token or OAuth access token (a secret)
    start_days_ago = 30                        # the first run exports tickets changed since then

Tickets changed since the last run come again in the export and are upserted (the
pipeline stores a changed ticket as an update, an unchanged one as a duplicate).
``collector = "zendesk_satisfaction"`` takes the same keys and reads the answered
satisfaction ratings (good → 5, bad → 1 on the 1..5 scale); offered but unanswered ones are
not feedback and are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from bihuan.collectors.http_base import HttpCollectorConfig, id_of, item_or_bad, secret, text_of, time_of
from bihuan.core.collector import CollectorOutput, RunContext
from bihuan.core.errors import InputError, RecordError
from bihuan.core.types import Checkpoint, Item


class ZendeskConfig(HttpCollectorConfig):
    channel: str = "ticket"
    #: agent e-mail for API-token auth; leave out when api_token is an OAuth access token
    email: str | None = None
    #: the API token (or OAuth token): a secret, {"$env" = "NAME"}
    api_token: SecretStr
    #: the first run reads what changed in these many days
    start_days_ago: int = Field(default=30, gt=0)


def _auth(config: ZendeskConfig) -> dict[str, Any]:
    token = secret(config.api_token)
    if config.email:
        return {"auth": (f"{config.email}/token", token)}
    return {"headers": {"Authorization": f"Bearer {token}"}}


class ZendeskTicketsCollector:
    name: ClassVar[str] = "zendesk_tickets"
    channel: ClassVar[str] = "ticket"
    Config: ClassVar[type[ZendeskConfig]] = ZendeskConfig

    def check(self, ctx: RunContext) -> None:
        ctx.http.get_json(f"{ctx.config.base_url}/api/v2/users/me.json", **_auth(ctx.config))

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        config: ZendeskConfig = ctx.config
        url = f"{config.base_url}/api/v2/incremental/tickets/cursor.json"
        if state and state.get("cursor"):
            params = {"cursor": state["cursor"]}
        else:
            start = datetime.now(UTC) - timedelta(days=config.start_days_ago)
            params = {"start_time": str(int(start.timestamp()))}
        page = 0
        while True:
            page += 1
            data, _ = ctx.http.get_json(url, params=params, **_auth(config))
            tickets = data.get("tickets") if isinstance(data, dict) else None
            if not isinstance(tickets, list):
                raise InputError(f"{ctx.instance}: export page {page} has no tickets list")
            for n, raw in enumerate(tickets, 1):
                yield item_or_bad(ctx, raw, self.parse_record, f"export page {page} ticket {n}")
            cursor = data.get("after_cursor")
            if cursor:
                yield Checkpoint({"cursor": cursor})
            if data.get("end_of_stream") or not cursor:
                return
            params = {"cursor": cursor}

    def parse_record(self, ctx: RunContext, raw: Any) -> Item:
        if not isinstance(raw, dict):
            raise RecordError("a ticket must be an object")
        ticket_id = id_of(raw)
        subject = text_of(raw, "subject") or ""
        description = text_of(raw, "description") or ""
        text = "\n".join(part for part in (subject, description) if part)
        if not text:
            raise RecordError("subject and description are empty", field="description")
        extra = {k: v for k, v in (("status", text_of(raw, "status")), ("via", text_of(raw, "via.channel"))) if v}
        return Item(
            external_id=ticket_id,
            text=text,
            created_at=time_of(raw, "created_at", ctx.timezone, required=True),
            channel=None,
            customer_ref=text_of(raw, "requester_id"),
            url=f"{ctx.config.base_url}/agent/tickets/{ticket_id}",
            extra=extra or None,
        )


class ZendeskSatisfactionCollector:
    name: ClassVar[str] = "zendesk_satisfaction"
    channel: ClassVar[str] = "survey"
    Config: ClassVar[type[ZendeskConfig]] = ZendeskConfig

    SCORES: ClassVar[dict[str, float]] = {"good": 5.0, "bad": 1.0}

    def check(self, ctx: RunContext) -> None:
        ctx.http.get_json(f"{ctx.config.base_url}/api/v2/users/me.json", **_auth(ctx.config))

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        config: ZendeskConfig = ctx.config
        url = f"{config.base_url}/api/v2/satisfaction_ratings.json"
        params: dict[str, str] = {"page[size]": "100"}
        if state and state.get("after_cursor"):
            params["page[after]"] = state["after_cursor"]
        else:
            start = datetime.now(UTC) - timedelta(days=config.start_days_ago)
            params["start_time"] = str(int(start.timestamp()))
        page = 0
        while True:
            page += 1
            data, _ = ctx.http.get_json(url, params=params, **_auth(config))
            ratings = data.get("satisfaction_ratings") if isinstance(data, dict) else None
            if not isinstance(ratings, list):
                raise InputError(f"{ctx.instance}: ratings page {page} has no satisfaction_ratings list")
            for n, raw in enumerate(ratings, 1):
                if isinstance(raw, dict) and raw.get("score") in ("offered", "unoffered"):
                    continue  # asked, not answered: not feedback
                yield item_or_bad(ctx, raw, self.parse_record, f"ratings page {page} rating {n}")
            meta = data.get("meta") or {}
            cursor = meta.get("after_cursor")
            if cursor:
                yield Checkpoint({"after_cursor": cursor})
            if not meta.get("has_more") or not cursor:
                return
            params = {"page[size]": "100", "page[after]": cursor}

    def parse_record(self, ctx: RunContext, raw: Any) -> Item:
        if not isinstance(raw, dict):
            raise RecordError("a rating must be an object")
        score = raw.get("score")
        if score not in self.SCORES:
            raise RecordError(f"score {score!r} is not good or bad", field="score")
        comment = text_of(raw, "comment")
        ticket = text_of(raw, "ticket_id")
        return Item(
            external_id=id_of(raw),
            text=comment or f"(rated {score}, no comment)",
            created_at=time_of(raw, "created_at", ctx.timezone, required=True),
            rating=self.SCORES[score],
            customer_ref=text_of(raw, "requester_id"),
            url=f"{ctx.config.base_url}/agent/tickets/{ticket}" if ticket else None,
            extra={"ticket_id": ticket} if ticket else None,
        )
