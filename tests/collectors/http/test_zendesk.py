"""Zendesk tickets (incremental cursor export) and satisfaction ratings against a local
server that speaks the API: pages, faults, a run that dies mid-way, bad records, auth."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests.apiserver import Reply, Request
from tests.collectors.http.conftest import pseudonym, quarantined, runs, stored

TOKEN = "zd-token-SECRET-123"


def ticket(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "id": n,
        "subject": f"转账失败 {n}",
        "description": f"手机银行转账一直转圈 {n}",
        "created_at": f"2026-11-{10 + n % 10:02d}T08:00:00Z",
        "requester_id": 9000 + n,
        "status": "open",
        "via": {"channel": "web"},
        **changes,
    }


@pytest.fixture
def zendesk(api: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Three export pages: tickets 1-3 (ticket 2 without created_at), 4-5, then the end."""
    pages = {
        None: ([ticket(1), {**ticket(2), "created_at": None}, ticket(3)], "c1", False),
        "c1": ([ticket(4), ticket(5)], "c2", False),
        "c2": ([], "c2", True),
    }

    def export(request: Request) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"error": "Couldn't authenticate you"})
        tickets, after, end = pages[request.query.get("cursor")]
        return Reply(body={"tickets": tickets, "after_cursor": after, "end_of_stream": end})

    api.route("GET", "/api/v2/incremental/tickets/cursor.json", export)
    api.route("GET", "/api/v2/users/me.json", lambda r: Reply(body={"user": {"id": 1}}))
    monkeypatch.setenv("ZD_TOKEN", TOKEN)
    return {"collector": "zendesk_tickets", "base_url": api.url, "api_token": {"$env": "ZD_TOKEN"}}


EXPORT = "/api/v2/incremental/tickets/cursor.json"


def test_pages_through_the_export_and_quarantines_the_bad_ticket(
    run: Any, engine: Engine, api: Any, zendesk: dict[str, Any]
) -> None:
    api.fail_next(EXPORT, Reply(500, {}), Reply(429, {}, headers={"Retry-After": "0"}))
    report = run("tickets", zendesk)
    assert (report.status, report.read, report.new, report.quarantined) == ("succeeded", 5, 4, 1)
    items = stored(engine, "tickets")
    assert sorted(items) == ["1", "3", "4", "5"]
    assert items["1"].text == "转账失败 1\n手机银行转账一直转圈 1"
    assert items["1"].customer_ref == pseudonym(engine, "9001")
    assert items["1"].url == f"{api.url}/agent/tickets/1" and items["1"].channel == "ticket"
    [bad] = quarantined(engine)
    assert (bad.field, bad.reason, bad.external_id) == ("created_at", "created_at is missing", "2")
    assert bad.location == "export page 1 ticket 2"
    assert [r.query.get("start_time") is not None for r in api.hits(EXPORT)][:1] == [True]

    again = run("tickets", zendesk)  # resumes from the stored cursor: nothing new
    assert (again.status, again.read, again.new) == ("succeeded", 0, 0)
    assert api.hits(EXPORT)[-1].query == {"cursor": "c2"}


def test_a_run_that_dies_mid_way_resumes_at_its_checkpoint(
    run: Any, engine: Engine, api: Any, zendesk: dict[str, Any]
) -> None:
    # page 2 fails every attempt: the run fails after storing page 1 with its cursor
    api.fail_next(EXPORT, *[Reply(body={"tickets": [ticket(1)], "after_cursor": "c1", "end_of_stream": False})])
    api.fail_next(EXPORT, Reply(500, {}), Reply(500, {}), Reply(500, {}))
    failed = run("tickets", zendesk)
    assert (failed.status, failed.error_class, failed.new) == ("failed", "transient", 1)
    assert "3 attempts" in (failed.error or "")
    resumed = run("tickets", zendesk)
    assert resumed.status == "succeeded" and api.hits(EXPORT)[4].query == {"cursor": "c1"}
    assert sorted(stored(engine, "tickets")) == ["1", "4", "5"]  # page 2 and 3 after the resume, no duplicate


def test_a_changed_ticket_is_updated_not_duplicated(
    run: Any, engine: Engine, api: Any, zendesk: dict[str, Any]
) -> None:
    run("tickets", zendesk)
    api.route(
        "GET",
        EXPORT,
        lambda r: Reply(body={"tickets": [ticket(4, status="solved")], "after_cursor": "c3", "end_of_stream": True}),
    )
    report = run("tickets", zendesk)
    assert (report.read, report.new, report.updated) == (1, 0, 1)
    assert stored(engine, "tickets")["4"].extra == {"status": "solved", "via": "web"}


def test_refused_credentials_fail_the_run_as_auth_without_the_token_anywhere(
    run: Any, engine: Engine, api: Any, zendesk: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZD_TOKEN", "wrong-SECRET-456")
    report = run("tickets", zendesk)
    assert (report.status, report.error_class) == ("failed", "auth")
    assert "refused the credentials (HTTP 401)" in (report.error or "")
    [record] = runs(engine)
    assert "SECRET" not in f"{record.config} {record.error_message}"
    assert record.config["api_token"] == {"$env": "ZD_TOKEN"}  # stored as the reference, never the value


def test_satisfaction_ratings_follow_the_cursor_and_skip_unanswered(
    run: Any, engine: Engine, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ratings = [
        {
            "id": 1,
            "score": "good",
            "comment": "很快解决了",
            "created_at": "2026-11-20T01:00:00Z",
            "ticket_id": 4,
            "requester_id": 9004,
        },
        {"id": 2, "score": "offered", "created_at": "2026-11-20T02:00:00Z"},
        {"id": 3, "score": "bad", "comment": None, "created_at": "2026-11-21T01:00:00Z", "ticket_id": 5},
        {"id": 4, "score": "meh", "created_at": "2026-11-21T02:00:00Z"},
    ]

    def page(request: Request) -> Reply:
        first = request.query.get("page[after]") is None
        chunk, more, cursor = (ratings[:2], True, "r2") if first else (ratings[2:], False, "r4")
        return Reply(body={"satisfaction_ratings": chunk, "meta": {"has_more": more, "after_cursor": cursor}})

    api.route("GET", "/api/v2/satisfaction_ratings.json", page)
    api.route("GET", "/api/v2/users/me.json", lambda r: Reply(body={}))
    monkeypatch.setenv("ZD_TOKEN", TOKEN)
    table = {
        "collector": "zendesk_satisfaction",
        "base_url": api.url,
        "email": "ops@example.com",
        "api_token": {"$env": "ZD_TOKEN"},
    }
    report = run("csat", table)
    assert (report.read, report.new, report.quarantined) == (3, 2, 1)
    items = stored(engine, "csat")
    assert (items["1"].rating, items["1"].text, items["1"].channel) == (5.0, "很快解决了", "survey")
    assert (items["3"].rating, items["3"].text) == (1.0, "(rated bad, no comment)")
    assert quarantined(engine)[0].reason == "score 'meh' is not good or bad"
    assert api.hits("/api/v2/satisfaction_ratings.json")[0].headers["Authorization"].startswith("Basic ")
