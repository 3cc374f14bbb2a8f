"""What the pipeline refuses from any collector — a third-party plugin's items here: a
rating off bihuan's 0..5 scale, an NPS off 0..10, a date beyond the horizon or before the
floor — each quarantined with the field, the scale or limit, and where it was read; and
what a plugin gets from the public value parsers (bihuan.core.values)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import Engine
from sqlmodel import select

from bihuan.core.collector import CollectorConfig, RunContext
from bihuan.core.pipeline import RunReport, run_collector
from bihuan.core.types import Checkpoint, Item
from bihuan.core.values import DateWindow, parse_channel, parse_datetime, parse_rating
from bihuan.storage.engine import session_scope
from bihuan.storage.models import FeedbackItem, QuarantinedRecord

NINE_O_FIVE = datetime(2026, 10, 1, 1, 5, tzinfo=UTC)


class PluginCollector:
    """As a third-party author writes one: raw records in, items out, with the public parsers."""

    name: ClassVar[str] = "acme"
    channel: ClassVar[str] = "ticket"
    Config: ClassVar[type[CollectorConfig]] = CollectorConfig

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def check(self, ctx: RunContext) -> None:
        return None

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[Any]:
        for n, raw in enumerate(self.records, 1):
            yield Item(
                external_id=raw["id"],
                text=raw["text"],
                created_at=raw.get("at")
                if isinstance(raw.get("at"), datetime)
                else parse_datetime(raw.get("at"), ctx.timezone),
                channel=raw.get("channel"),
                rating=raw.get("rating"),
                nps=raw.get("nps"),
                location=f"acme page 1 record {n}",
            )
        yield Checkpoint({"done": True})


def run(engine: Engine, records: list[dict[str, Any]], window: DateWindow | None = None) -> RunReport:
    ctx = RunContext(instance="acme", source="acme", channel="ticket", config=CollectorConfig())
    if window is not None:
        ctx.date_window = window
    return run_collector(PluginCollector(records), ctx, engine=engine, collector_type="acme")


def stored(engine: Engine) -> dict[str, FeedbackItem]:
    with session_scope(engine) as session:
        return {i.external_id: i for i in session.exec(select(FeedbackItem))}


def refused(engine: Engine) -> dict[str, QuarantinedRecord]:
    with session_scope(engine) as session:
        return {r.external_id or "": r for r in session.exec(select(QuarantinedRecord))}


def test_ratings_scores_and_dates_off_their_scale_are_quarantined_whatever_the_collector(engine: Engine) -> None:
    records = [
        {"id": "ok", "text": "服务好", "at": "2026-10-01 09:05", "channel": "微博", "rating": 4.5, "nps": 10},
        {"id": "rating7", "text": "评分七", "at": "2026-10-01 09:05", "rating": 7},
        {"id": "nps11", "text": "推荐十一", "at": "2026-10-01 09:05", "nps": 11},
        {"id": "nan", "text": "评分不是数", "at": "2026-10-01 09:05", "rating": float("nan")},
        {"id": "y2099", "text": "年份写错", "at": "2099-01-01 09:00"},
        {"id": "epoch", "text": "纪元零点", "at": datetime(1970, 1, 1, tzinfo=UTC)},
        {"id": "counter", "text": "柜台", "at": "2026-10-01 09:05", "channel": "柜台"},
    ]
    report = run(engine, records)
    assert (report.status, report.new, report.quarantined) == ("succeeded", 1, 6)
    [ok] = stored(engine).values()
    # naive time in the configured zone, 微博 as the file importer reads it
    assert (ok.created_at, ok.channel, ok.rating, ok.nps) == (NINE_O_FIVE, "social", 4.5, 10)
    bad = refused(engine)
    assert {key: (r.field, r.reason) for key, r in bad.items() if key in ("rating7", "nps11", "nan", "counter")} == {
        "rating7": ("rating", "rating 7 outside 0..5, bihuan's rating scale"),
        "nps11": ("nps", "nps 11 outside 0..10, the NPS scale"),
        "nan": ("rating", "rating nan outside 0..5, bihuan's rating scale"),
        "counter": ("channel", "unknown channel '柜台'"),
    }
    assert bad["y2099"].field == "created_at" and bad["y2099"].location == "acme page 1 record 5"
    assert bad["y2099"].reason.startswith("created_at 2099-01-01 09:00 (Asia/Shanghai) is in the future")
    assert bad["epoch"].reason.startswith("created_at 1970-01-01 08:00 (Asia/Shanghai) is before 2000-01-01")
    assert json.loads(bad["rating7"].payload)["rating"] == 7  # the item as the plugin made it, to fix


def test_the_window_is_the_runs_setting(engine: Engine) -> None:
    records = [{"id": "y2099", "text": "计划中的回访", "at": "2099-01-01 09:00"}]
    wide = DateWindow(future=timedelta(days=40_000), earliest=date(1990, 1, 1))
    assert run(engine, records, wide).new == 1
    assert run(engine, [{"id": "e", "text": "旧", "at": "1995-05-05"}], wide).new == 1
    assert run(engine, [{"id": "f", "text": "旧", "at": "1995-05-05"}]).quarantined == 1


def test_the_public_parsers_are_the_file_importers() -> None:
    from zoneinfo import ZoneInfo

    sh = ZoneInfo("Asia/Shanghai")
    for written in ("2026-10-01 09:05", "2026/10/1 9:05", "2026年10月1日 9时05分", 1790816700000, "1790816700"):
        assert parse_datetime(written, sh) == NINE_O_FIVE, written
    assert (parse_channel("新浪微博"), parse_channel("95588热线"), parse_channel("柜台")) == ("social", "hotline", None)
    assert (parse_rating("非常满意"), parse_rating("8", 10)) == (5.0, 4.0)
