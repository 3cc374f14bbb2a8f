"""One date, rating and channel parser for every collector: each HTTP collector, against a
real server on 127.0.0.1, reads the values the file importer reads — naive times in the
configured zone (Asia/Shanghai), epoch seconds and milliseconds, ``2026/10/01``,
``2026年10月1日 9时05分``, channel ``微博`` — to the same stored values; and the pipeline
refuses, whatever collector it came from, a date beyond the horizon."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from bihuan.tui.cli import cli
from tests.apiserver import Reply
from tests.collectors.http.conftest import quarantined, stored

NINE_O_FIVE = datetime(2026, 10, 1, 1, 5, tzinfo=UTC)  # 2026-10-01 09:05 in Shanghai

# (id, created_at as the source sends it, channel as written, rating, nps): each date is
# 09:05 on 2026-10-01 in Shanghai
VALUES: list[tuple[str, Any, str, Any, Any]] = [
    ("R1", "2026-10-01 09:05:00", "微博", "4分", "9"),  # naive: Shanghai time, not UTC
    ("R2", 1790816700000, "95588热线", 5, 10),  # epoch milliseconds
    ("R3", "2026/10/01 09:05", "App Store", "满意", "8分"),
    ("R4", "2026年10月1日 9时05分", "问卷", "2", 0),
    ("R5", "1790816700", "Weibo", None, None),  # epoch seconds, as text
    ("R6", "2026-10-01T01:05:00Z", "柜台", "3", "7"),  # an explicit zone wins; 柜台 names no channel
]


def test_the_json_api_reads_every_value_as_the_file_importer_does(
    run: Any, engine: Engine, api: Any, db_url: str, tmp_path: Path
) -> None:
    records = [
        {"id": key, "text": f"意见 {key}", "at": at, "via": channel, "score": rating, "nps": nps}
        for key, at, channel, rating, nps in VALUES
    ]
    records += [
        {"id": "R7", "text": "年份写错了", "at": "2099-01-01 09:00", "via": "微博"},  # beyond the horizon
        {"id": "R8", "text": "评分超出", "at": "2026-10-01 09:05", "score": 7},  # 7 on a 0..5 scale
        {"id": "R9", "text": "日期不对", "at": "2026-13-45"},
    ]
    api.route("GET", "/feedback", lambda r: Reply(body={"items": records}))
    table = {
        "collector": "json_api",
        "base_url": f"{api.url}/feedback",
        "items_path": "items",
        "channel": "ticket",
        "fields": {
            "external_id": "id",
            "text": "text",
            "created_at": "at",
            "channel": "via",
            "rating": "score",
            "nps": "nps",
        },
    }
    report = run("api", table)
    assert (report.status, report.new, report.quarantined) == ("succeeded", 6, 3)
    items = stored(engine, "api")
    assert {key: item.created_at for key, item in items.items()} == {key: NINE_O_FIVE for key, *_ in VALUES}
    channels = {key: item.channel for key, item in items.items()}
    assert channels == {"R1": "social", "R2": "hotline", "R3": "app_review", "R4": "survey", "R5": "social"} | {
        "R6": "ticket"  # the run's channel; what the source wrote is kept
    }
    assert items["R6"].extra == {"channel_raw": "柜台"}
    assert [(k, items[k].rating, items[k].nps) for k in ("R1", "R2", "R3", "R4")] == [
        ("R1", 4.0, 9),
        ("R2", 5.0, 10),
        ("R3", 4.0, 8),
        ("R4", 2.0, 0),
    ]
    bad = {record.external_id: record for record in quarantined(engine)}
    assert bad["R7"].field == "created_at" and bad["R7"].location == "page 1 record 7"
    assert bad["R7"].reason.startswith("created_at 2099-01-01 09:00 (Asia/Shanghai) is in the future")
    assert (bad["R8"].field, bad["R8"].reason) == ("score", "score 7 outside 0..5")
    assert bad["R9"].field == "at" and "invalid date '2026-13-45'" in bad["R9"].reason

    # the same values in a file: the file importer stores the same times, channels and scores
    lines = ["编号,时间,渠道,评分,推荐,意见\n"]
    lines += [
        f"{k},{at},{ch},{'' if r is None else r},{'' if n is None else n},意见 {k}\n" for k, at, ch, r, n in VALUES
    ]
    path = tmp_path / "same.csv"
    path.write_text("".join(lines), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", db_url, "import", str(path), "--channel", "ticket", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new"] == 6
    files = stored(engine, "same")
    for key in items:
        mine, theirs = items[key], files[key]
        assert (mine.created_at, mine.channel, mine.rating, mine.nps) == (
            theirs.created_at,
            theirs.channel,
            theirs.rating,
            theirs.nps,
        ), key


def test_a_ten_point_source_is_stored_on_the_five_point_scale(run: Any, engine: Engine, api: Any) -> None:
    api.route("GET", "/c", lambda r: Reply(body=[{"id": 1, "t": "很好", "s": "9分"}, {"id": 2, "t": "差", "s": 11}]))
    table = {
        "collector": "json_api",
        "base_url": f"{api.url}/c",
        "fields": {"external_id": "id", "text": "t", "rating": "s"},
        "rating_max": 10,
    }
    report = run("ten", table)
    assert (report.new, report.quarantined) == (1, 1)
    assert stored(engine, "ten")["1"].rating == 4.5
    [bad] = quarantined(engine)
    assert (bad.field, bad.reason) == ("s", "s 11 outside 0..10")


def test_zendesk_mastodon_formbricks_and_feeds_read_naive_and_chinese_times_in_the_configured_zone(
    run: Any, engine: Engine, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZD_TOKEN", "zd-SECRET")
    monkeypatch.setenv("FB_KEY", "fb-SECRET")
    tickets = [
        {"id": 1, "subject": "转账失败", "created_at": "2026-10-01 09:05:00"},
        {"id": 2, "subject": "提额慢", "created_at": "2026/10/1 9:05"},
        {"id": 3, "subject": "年份写错", "created_at": "2099-10-01T09:05:00+08:00"},
    ]
    api.route("GET", "/api/v2/users/me.json", lambda r: Reply(body={"user": {"id": 1}}))
    api.route(
        "GET",
        "/api/v2/incremental/tickets/cursor.json",
        lambda r: Reply(body={"tickets": tickets, "after_cursor": "c1", "end_of_stream": True}),
    )
    zendesk = run("zd", {"collector": "zendesk_tickets", "base_url": api.url, "api_token": {"$env": "ZD_TOKEN"}})
    assert (zendesk.new, zendesk.quarantined) == (2, 1)
    assert {k: i.created_at for k, i in stored(engine, "zd").items()} == {"1": NINE_O_FIVE, "2": NINE_O_FIVE}

    posts = [
        {"id": "101", "created_at": "2026-10-01T01:05:00.000Z", "content": "<p>信用卡提额太慢</p>"},
        {"id": "102", "created_at": "2026-10-01T09:05:00", "content": "<p>网点排队</p>"},
    ]
    api.route("GET", "/api/v1/timelines/tag/bank", lambda r: Reply(body=posts))
    mastodon = run("masto", {"collector": "mastodon", "base_url": api.url, "hashtag": "bank"})
    assert mastodon.new == 2
    assert {i.created_at for i in stored(engine, "masto").values()} == {NINE_O_FIVE}

    responses = [
        {"id": "f1", "createdAt": 1790816700000, "data": {"c": "排队太久", "nps": "9分"}},
        {"id": "f2", "createdAt": "2026年10月1日 09:05", "data": {"c": "服务好", "nps": 8.5}},
    ]
    api.route("GET", "/api/v1/management/responses", lambda r: Reply(body={"data": responses}))
    table = {
        "collector": "formbricks",
        "base_url": api.url,
        "api_key": {"$env": "FB_KEY"},
        "text_fields": ["c"],
        "nps_field": "nps",
        "start_days_ago": 3650,
    }
    formbricks = run("fb", table)
    assert (formbricks.new, formbricks.quarantined) == (1, 1)
    assert (stored(engine, "fb")["f1"].created_at, stored(engine, "fb")["f1"].nps) == (NINE_O_FIVE, 9)
    [*_, bad] = quarantined(engine)
    assert (bad.external_id, bad.field, bad.reason) == ("f2", "nps", "nps 8.5 is not a whole number 0..10")

    feed = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        "<item><guid>e1</guid><title>年费乱收</title><pubDate>2026年10月1日 09:05</pubDate></item>"
        "<item><guid>e2</guid><title>理财说明不清</title><pubDate>Thu, 01 Oct 2026 09:05:00 +0800</pubDate></item>"
        "</channel></rss>"
    )
    api.route("GET", "/feed.xml", lambda r: Reply(body=feed, headers={"Content-Type": "application/rss+xml"}))
    feeds = run("rss", {"collector": "feed", "base_url": f"{api.url}/feed.xml"})
    assert feeds.new == 2
    assert {i.created_at for i in stored(engine, "rss").values()} == {NINE_O_FIVE}


def test_a_timestamp_the_server_sends_in_another_zone_is_taken_as_sent(run: Any, engine: Engine, api: Any) -> None:
    """Only naive times are read in the configured zone: an offset is kept."""
    api.route("GET", "/c", lambda r: Reply(body=[{"id": "x", "t": "好", "at": "2026-09-30T20:05:00-05:00"}]))
    fields = {"external_id": "id", "text": "t", "created_at": "at"}
    run("zoned", {"collector": "json_api", "base_url": f"{api.url}/c", "fields": fields})
    assert stored(engine, "zoned")["x"].created_at == NINE_O_FIVE


def test_a_date_beyond_the_horizon_never_becomes_a_collectors_watermark(run: Any, engine: Engine, api: Any) -> None:
    """A record dated 2099 is quarantined — and must not be the "newest" that the next run
    asks from (json_api's since, a feed's skip date, Formbricks' stop date): the records
    that come later would all look older and never be read."""
    batches = [
        [
            {"id": "a", "t": "第一条", "at": "2026-10-01 09:05"},
            {"id": "typo", "t": "年份写错", "at": "2099-01-01 09:00"},
        ],
        [{"id": "b", "t": "第二条", "at": "2026-10-02 09:05"}],
    ]
    api.route("GET", "/since", lambda r: Reply(body=batches[1] if r.query.get("since") else batches[0]))
    table = {
        "collector": "json_api",
        "base_url": f"{api.url}/since",
        "since_param": "since",
        "fields": {"external_id": "id", "text": "t", "created_at": "at"},
    }
    first = run("since", table)
    assert (first.new, first.quarantined) == (1, 1)
    second = run("since", table)
    assert api.hits("/since")[-1].query["since"] == "2026-10-01T01:05:00+00:00"
    assert second.new == 1 and sorted(stored(engine, "since")) == ["a", "b"]

    entries = ["<item><guid>f1</guid><title>旧</title><pubDate>Thu, 01 Oct 2026 09:05:00 +0800</pubDate></item>"]
    entries.append(
        "<item><guid>f2</guid><title>年份写错</title><pubDate>Thu, 01 Jan 2099 09:00:00 +0800</pubDate></item>"
    )

    def feed(request: Any) -> Reply:
        return Reply(body=f'<rss version="2.0"><channel><title>t</title>{"".join(entries)}</channel></rss>')

    api.route("GET", "/feed.xml", feed)
    assert run("rss", {"collector": "feed", "base_url": f"{api.url}/feed.xml"}).new == 1
    entries.append("<item><guid>f3</guid><title>新</title><pubDate>Fri, 02 Oct 2026 09:05:00 +0800</pubDate></item>")
    later = run("rss", {"collector": "feed", "base_url": f"{api.url}/feed.xml"})
    assert later.new == 1 and sorted(stored(engine, "rss")) == ["f1", "f3"]
