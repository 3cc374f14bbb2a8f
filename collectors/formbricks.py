"""Formbricks survey responses through the management API.

``[collectors.<name>]`` with ``collector = "formbricks"``::

    base_url = "https://app.formbricks.com"
    api_key = { "$env" = "FORMBRICKS_API_KEY" }   # sent as x-api-key (a secret)
    survey_id = "clx…"               # leave out for every survey of the environment
    text_fields = ["q_comment"]      # question ids whose answers are the feedback text
    rating_field = "q_rating"        # a 1..5 rating question
    nps_field = "q_nps"              # a 0..10 question
    update_window_days = 7           # responses edited within this window are read again

The API pages newest first by offset, so a response that arrives while we page shifts
everything down one place (and a deleted one, up): each run reads from the newest
response back to the last run's newest minus ``update_window_days``, with pages that
overlap by one, and drops ids it has seen in the run. Responses
changed after they were created (a respondent finishing a survey later) come again
within the window and are upserted, not duplicated. A run that fails reads again from
the top next time; what it stored is recognised as duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr

from bihuan.collectors.http_base import (
    HttpCollectorConfig,
    field_of,
    id_of,
    item_or_bad,
    may_advance,
    nps_of,
    number_of,
    secret,
    text_of,
    time_of,
)
from bihuan.core.collector import CollectorOutput, RunContext
from bihuan.core.errors import InputError, RecordError
from bihuan.core.types import Checkpoint, Item


class FormbricksConfig(HttpCollectorConfig):
    channel: str = "survey"
    #: the management API key (a secret, sent as x-api-key)
    api_key: SecretStr
    survey_id: str | None = None
    #: question ids whose answers make the text (default: every text answer)
    text_fields: list[str] = Field(default_factory=list)
    rating_field: str | None = None
    nps_field: str | None = None
    page_size: int = Field(default=100, gt=0, le=500)
    update_window_days: int = Field(default=7, ge=0)
    #: the first run reads responses created in these many days
    start_days_ago: int = Field(default=30, gt=0)


class FormbricksCollector:
    name: ClassVar[str] = "formbricks"
    channel: ClassVar[str] = "survey"
    Config: ClassVar[type[FormbricksConfig]] = FormbricksConfig

    def _get(self, ctx: RunContext, skip: int, limit: int) -> list[Any]:
        config: FormbricksConfig = ctx.config
        params: dict[str, Any] = {"limit": limit, "skip": skip}
        if config.survey_id:
            params["surveyId"] = config.survey_id
        data, _ = ctx.http.get_json(
            f"{config.base_url}/api/v1/management/responses",
            params=params,
            headers={"x-api-key": secret(config.api_key) or ""},
        )
        responses = data.get("data") if isinstance(data, dict) else None
        if not isinstance(responses, list):
            raise InputError(f"{ctx.instance}: the responses page at skip={skip} has no data list")
        return responses

    def check(self, ctx: RunContext) -> None:
        self._get(ctx, 0, 1)

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        config: FormbricksConfig = ctx.config
        if state and state.get("newest"):
            newest_before = datetime.fromisoformat(state["newest"])
            stop_at = newest_before - timedelta(days=config.update_window_days)
        else:
            newest_before = None
            stop_at = datetime.now(UTC) - timedelta(days=config.start_days_ago)
        seen: set[str] = set()
        newest = newest_before
        skip, page = 0, 0
        while True:
            page += 1
            responses = self._get(ctx, skip, config.page_size)
            older = False
            for n, raw in enumerate(responses, 1):
                created = _created(raw, ctx.timezone)
                if created is not None and created < stop_at:
                    older = True
                    continue
                key = str(raw.get("id")) if isinstance(raw, dict) else None
                if key is not None and key in seen:
                    continue  # shifted down by a newer response: read already in this run
                if key is not None:
                    seen.add(key)
                if created is not None and (newest is None or created > newest) and may_advance(ctx, created):
                    newest = created
                yield item_or_bad(ctx, raw, self.parse_record, f"responses page {page} response {n}")
            # the last run's newest stays the watermark until this run has read everything
            yield Checkpoint({"newest": newest_before.isoformat() if newest_before else None})
            if older or len(responses) < config.page_size:
                break
            # step back one place: a response deleted meanwhile shifts the pages up, and the
            # overlap (dropped as seen) keeps the first of the next page from being skipped
            skip += len(responses) - (1 if len(responses) > 1 else 0)
        yield Checkpoint({"newest": newest.isoformat() if newest else None})

    def parse_record(self, ctx: RunContext, raw: Any) -> Item:
        config: FormbricksConfig = ctx.config
        if not isinstance(raw, dict):
            raise RecordError("a response must be an object")
        answers = raw.get("data")
        if not isinstance(answers, dict):
            raise RecordError("data is not an object of answers", field="data")
        keys = config.text_fields or [k for k, v in answers.items() if isinstance(v, str)]
        text = "\n".join(v.strip() for k in keys if isinstance(v := answers.get(k), str) and v.strip())
        if not text:
            raise RecordError("no text answer", field=f"data.{keys[0]}" if keys else "data")
        rating = number_of(answers, config.rating_field, low=1, high=5) if config.rating_field else None
        nps = nps_of(answers, config.nps_field) if config.nps_field else None
        contact = text_of(raw, "contact.id") or text_of(raw, "meta.userId")
        extra = {
            "survey_id": text_of(raw, "surveyId"),
            "finished": field_of(raw, "finished"),
            "updated_at": text_of(raw, "updatedAt"),
        }
        return Item(
            external_id=id_of(raw),
            text=text,
            created_at=time_of(raw, "createdAt", ctx.timezone, required=True),
            rating=rating,
            nps=nps,
            customer_ref=contact,
            extra={k: v for k, v in extra.items() if v is not None} or None,
        )


def _created(raw: Any, zone: ZoneInfo) -> datetime | None:
    try:
        return time_of(raw, "createdAt", zone) if isinstance(raw, dict) else None
    except RecordError:
        return None
