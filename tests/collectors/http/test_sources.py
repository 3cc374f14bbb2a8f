"""Formbricks, Mastodon, RSS/Atom and the JSON API collector against local servers that
speak each API's shape."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests.apiserver import Reply, Request
from tests.collectors.http.conftest import pseudonym, quarantined, stored

# ── Formbricks ────────────────────────────────────────────────────────────────────────


def response(n: int, day: int, **changes: Any) -> dict[str, Any]:
    return {
        "id": f"r{n}",
        "createdAt": f"2026-11-{day:02d}T03:00:00.000Z",
        "updatedAt": f"2026-11-{day:02d}T03:00:00.000Z",
        "surveyId": "s1",
        "finished": True,
        "contact": {"id": f"u{n}"},
        "data": {"comment": f"网点排队太久 {n}", "rating": 2, "nps": 3},
        **changes,
    }


def test_formbricks_pages_newest_first_survives_shifted_pages_and_upserts_edits(
    run: Any, engine: Engine, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FB_KEY", "fb-SECRET")
    listing = [response(n, 20 - n) for n in range(1, 6)]  # newest first
    arrived: list[dict[str, Any]] = []

    def responses(request: Request) -> Reply:
        assert request.headers["x-api-key"] == "fb-SECRET"
        skip, limit = int(request.query["skip"]), int(request.query["limit"])
        if skip == 2 and not arrived:  # a new response arrives while we page: everything shifts down
            arrived.append(response(6, 20))
        current = arrived + listing
        return Reply(body={"data": current[skip : skip + limit]})

    api.route("GET", "/api/v1/management/responses", responses)
    table = {
        "collector": "formbricks",
        "base_url": api.url,
        "api_key": {"$env": "FB_KEY"},
        "page_size": 2,
        "text_fields": ["comment"],
        "rating_field": "rating",
        "nps_field": "nps",
        "start_days_ago": 3650,
    }
    first = run("fb", table)
    # r2 was shifted onto the second page and is read once; r6 arrived above the pages read
    assert first.status == "succeeded" and (first.read, first.new, first.duplicates) == (5, 5, 0)
    items = stored(engine, "fb")
    assert sorted(items) == ["r1", "r2", "r3", "r4", "r5"]
    assert (items["r1"].rating, items["r1"].nps, items["r1"].customer_ref) == (2.0, 3, pseudonym(engine, "u1"))

    # r2 was edited after it was created; a response with no text is quarantined
    listing[1] = response(2, 18, data={"comment": "网点排队太久，已经改善", "rating": 4})
    listing.insert(0, response(7, 21, data={"rating": 5}))
    second = run("fb", table)
    assert (second.new, second.updated, second.quarantined) == (1, 1, 1)  # r6 now; r2 edited; r7 has no text
    assert "r6" in stored(engine, "fb")
    assert stored(engine, "fb")["r2"].text == "网点排队太久，已经改善"
    [bad] = quarantined(engine)
    assert (bad.field, bad.reason, bad.external_id) == ("data.comment", "no text answer", "r7")


# ── Mastodon ──────────────────────────────────────────────────────────────────────────


def post(n: int) -> dict[str, Any]:
    return {
        "id": str(100 + n),
        "created_at": f"2026-11-2{n % 3}T0{n % 9}:00:00.000Z",
        "content": f"<p>@bank 信用卡提额<br>太慢了 {n} &amp; 没人理</p>",
        "url": f"https://m.example/@u/{100 + n}",
        "account": {"acct": f"user{n}@m.example"},
        "language": "zh",
    }


def test_mastodon_goes_forward_with_min_id_and_the_link_header(run: Any, engine: Engine, api: Any) -> None:
    timeline = [post(n) for n in range(1, 8)]  # ids 101..107

    def tag(request: Request) -> Reply:
        limit = int(request.query.get("limit", 40))
        newer = [p for p in timeline if "min_id" not in request.query or int(p["id"]) > int(request.query["min_id"])]
        if "min_id" in request.query:
            page = sorted(newer, key=lambda p: int(p["id"]))[:limit]  # the oldest above min_id …
        else:
            page = sorted(newer, key=lambda p: int(p["id"]))[-limit:]
        page = sorted(page, key=lambda p: -int(p["id"]))  # … newest first, as Mastodon sends them
        headers = {}
        if page:
            top = page[0]["id"]
            headers["Link"] = (
                f'<{api.url}/api/v1/timelines/tag/%E6%8F%90%E9%A2%9D?min_id={top}&limit={limit}>; rel="prev"'
            )
        return Reply(body=page, headers=headers)

    api.route("GET", "/api/v1/timelines/tag/%E6%8F%90%E9%A2%9D", tag)
    table = {"collector": "mastodon", "base_url": api.url, "hashtag": "#提额", "page_size": 3}
    first = run("masto", table)
    assert first.new == 3 and sorted(stored(engine, "masto")) == ["105", "106", "107"]  # the newest page
    assert stored(engine, "masto")["107"].text == "@bank 信用卡提额\n太慢了 7 & 没人理"

    timeline.extend(post(n) for n in range(8, 13))  # five more arrive
    second = run("masto", table)
    assert (second.new, second.duplicates) == (5, 0)
    assert sorted(stored(engine, "masto")) == [str(i) for i in range(105, 113)]
    assert run("masto", table).new == 0


# ── RSS / Atom ────────────────────────────────────────────────────────────────────────

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>投诉</title>
<item><guid>t-1</guid><title>信用卡年费乱收</title><description>&lt;p&gt;没用卡也收了年费&lt;/p&gt;</description>
<link>https://tousu.example/t-1</link><pubDate>Fri, 20 Nov 2026 08:00:00 GMT</pubDate></item>
<item><guid>t-2</guid><title>理财收益说明不清</title><description>收益和宣传的不一样</description>
<pubDate>Sat, 21 Nov 2026 08:00:00 GMT</pubDate></item>
<item><description></description></item>
</channel></rss>"""


def test_feeds_use_etag_and_last_modified_and_quarantine_empty_entries(run: Any, engine: Engine, api: Any) -> None:
    def feed(request: Request) -> Reply:
        if request.headers.get("If-None-Match") == '"v1"':
            return Reply(304, b"")
        return Reply(
            body=RSS,
            headers={
                "ETag": '"v1"',
                "Last-Modified": "Sat, 21 Nov 2026 09:00:00 GMT",
                "Content-Type": "application/rss+xml",
            },
        )

    api.route("GET", "/feed.xml", feed)
    table = {"collector": "feed", "base_url": f"{api.url}/feed.xml"}
    first = run("tousu", table)
    assert (first.new, first.quarantined) == (2, 1)
    items = stored(engine, "tousu")
    assert items["t-1"].text == "信用卡年费乱收\n没用卡也收了年费" and items["t-1"].url == "https://tousu.example/t-1"
    assert items["t-1"].created_at.isoformat().startswith("2026-11-20T08:00:00")
    second = run("tousu", table)
    assert (second.status, second.read) == ("succeeded", 0)
    last = api.hits("/feed.xml")[-1].headers
    assert (last["If-None-Match"], last["If-Modified-Since"]) == ('"v1"', "Sat, 21 Nov 2026 09:00:00 GMT")


# ── any JSON API ──────────────────────────────────────────────────────────────────────

RECORDS = [
    {
        "cid": f"C{n}",
        "body": {"content": f"贷款审批太慢 {n}"},
        "at": f"2026-11-{10 + n:02d}T08:00:00+08:00",
        "user": {"id": f"U{n}"},
        "stars": 2,
    }
    for n in range(1, 8)
] + [{"cid": "C8", "body": {"content": "评分不对"}, "at": "2026-11-19T08:00:00+08:00", "stars": 9}]


@pytest.mark.parametrize("style", ["cursor", "page", "offset", "link"])
def test_json_api_paginates_every_way_and_resumes_after_a_failure(
    run: Any, engine: Engine, api: Any, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CP_TOKEN", "Bearer cp-SECRET")
    size = 3

    def complaints(request: Request) -> Reply:
        assert request.headers["Authorization"] == "Bearer cp-SECRET"
        if style == "cursor":
            start = int(request.query.get("cursor", "0"))
        elif style == "page":
            start = (int(request.query.get("page", "1")) - 1) * size
        elif style == "offset":
            start = int(request.query.get("offset", "0"))
        else:
            start = int(request.query.get("from", "0"))
        chunk = RECORDS[start : start + size]
        body: dict[str, Any] = {"data": {"items": chunk}}
        headers = {}
        if start + size < len(RECORDS):
            if style == "cursor":
                body["data"]["next"] = str(start + size)
            if style == "link":
                headers["Link"] = f'<{api.url}/complaints?from={start + size}>; rel="next"'
        return Reply(body=body, headers=headers)

    api.route("GET", "/complaints", complaints)
    table = {
        "collector": "json_api",
        "base_url": f"{api.url}/complaints",
        "channel": "ticket",
        "headers": {"Authorization": {"$env": "CP_TOKEN"}},
        "items_path": "data.items",
        "fields": {
            "external_id": "cid",
            "text": "body.content",
            "created_at": "at",
            "customer_ref": "user.id",
            "rating": "stars",
        },
        "pagination": style,
        "cursor_param": "cursor",
        "cursor_path": "data.next",
        "page_size": size,
        "size_param": "limit",
        "page_param": "page",
        "offset_param": "offset",
    }
    # the check reads a page, then the run's second page fails every attempt: the first is
    # stored with where to go on
    first_page = Reply(
        body={"data": {"items": RECORDS[:size], "next": "3"}},
        headers={"Link": f'<{api.url}/complaints?from=3>; rel="next"'},
    )
    api.fail_next("/complaints", first_page, first_page)
    api.fail_next("/complaints", Reply(500, {}), Reply(500, {}), Reply(500, {}))
    failed = run("complaints", table)
    assert (failed.status, failed.new) == ("failed", 3)
    resumed = run("complaints", table)
    assert resumed.status == "succeeded" and (resumed.new, resumed.quarantined) == (4, 1)
    items = stored(engine, "complaints")
    assert sorted(items) == [f"C{n}" for n in range(1, 8)]
    assert (items["C1"].customer_ref, items["C1"].rating, items["C1"].channel) == (
        pseudonym(engine, "U1"),
        2.0,
        "ticket",
    )
    [bad] = quarantined(engine)
    assert (bad.field, bad.external_id) == ("stars", None) and "outside 0..5" in bad.reason


def test_secrets_written_in_the_table_never_reach_the_run_record(run: Any, engine: Engine, api: Any) -> None:
    from tests.collectors.http.conftest import runs

    api.route("GET", "/c", lambda r: Reply(body={"items": [{"id": 1, "t": "很好", "s": 8}]}))
    table = {
        "collector": "json_api",
        "base_url": f"{api.url}/c",
        "items_path": "items",
        "headers": {"X-Token": "literal-SECRET-1"},
        "fields": {"external_id": "id", "text": "t", "rating": "s"},
        "rating_max": 10,
    }
    report = run("inline", table)
    assert report.status == "succeeded" and api.hits("/c")[-1].headers["X-Token"] == "literal-SECRET-1"
    assert stored(engine, "inline")["1"].rating == 4.0  # 8 of 10 on bihuan's 1..5 scale
    [record] = runs(engine)
    assert "SECRET" not in str(record.config) and record.config["headers"] == {"X-Token": "**********"}


def test_a_wrong_items_path_is_a_configuration_error(run: Any, api: Any) -> None:
    api.route("GET", "/c", lambda r: Reply(body={"data": {"rows": []}}))
    table = {
        "collector": "json_api",
        "base_url": f"{api.url}/c",
        "items_path": "data.items",
        "fields": {"external_id": "id", "text": "t"},
    }
    report = run("wrong", table)
    assert (report.status, report.error_class) == ("failed", "config")
    assert "items_path 'data.items' does not lead to a list" in (report.error or "")


def test_a_gbk_feed_named_only_in_the_content_type_is_read_right(run: Any, engine: Engine, api: Any) -> None:
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><guid>g1</guid>'
        "<title>信用卡年费没有通知</title><pubDate>Fri, 20 Nov 2026 08:00:00 GMT</pubDate></item></channel></rss>"
    )
    api.route(
        "GET",
        "/gbk.xml",
        lambda r: Reply(body=body.encode("gbk"), headers={"Content-Type": "application/rss+xml; charset=gbk"}),
    )
    run("gbkfeed", {"collector": "feed", "base_url": f"{api.url}/gbk.xml"})
    assert stored(engine, "gbkfeed")["g1"].text == "信用卡年费没有通知"
