"""No secret is stored or printed (issue 15 §3), against real servers on 127.0.0.1: next-links
that carry ``access_token``, tokens in a URL's path that errors would quote, inline tokens
in ``base_url`` and ``params``, and a webhook that echoes its key in its error body."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from bihuan.core.config import NotifyTarget
from bihuan.core.notices import SlaBreach
from bihuan.tui.cli import cli
from tests.apiserver import Reply, Request
from tests.collectors.http.conftest import runs, stored

TOKEN = "at-9f8e7d6c5b4a"
PATH_TOKEN = "Zx9Yw8Vu7Ts6Rq5Po4Nm"


def every_stored_text(engine: Engine) -> str:
    """Every text column of the tables a run writes, as one string."""
    parts = []
    with engine.connect() as conn:
        for query in (
            "SELECT source, external_id, text, customer_ref, url, extra FROM feedback_item",
            "SELECT collector, source, location, reason, payload, external_id FROM quarantined_record",
            "SELECT collector, source, config, error_message FROM collector_run",
            "SELECT collector, state FROM collector_state",
        ):
            for row in conn.execute(text(query)):
                parts += [v if isinstance(v, str) else json.dumps(v) for v in row if v is not None]
    return "\n".join(parts)


def linked_pages(api: Any, token: str, pages: int = 3) -> Any:
    """A list endpoint that wants ``access_token`` in the query and puts it into every
    next-link, as many APIs do."""

    def answer(request: Request) -> Reply:
        if request.query.get("access_token") != token:
            return Reply(401, {"error": "missing or wrong access_token"})
        page = int(request.query.get("page", "1"))
        headers = {}
        if page < pages:
            headers["Link"] = f'<{api.url}/items?page={page + 1}&access_token={token}>; rel="next"'
        return Reply(body={"items": [{"id": f"p{page}", "t": f"第{page}页的意见"}]}, headers=headers)

    return answer


def test_a_next_link_is_saved_without_its_token_and_a_resumed_run_adds_it_again(
    run: Any, engine: Engine, api: Any
) -> None:
    api.route("GET", "/items", linked_pages(api, TOKEN))
    table = {
        "collector": "json_api",
        "base_url": f"{api.url}/items",
        "params": {"access_token": TOKEN},
        "items_path": "items",
        "fields": {"external_id": "id", "text": "t"},
        "pagination": "link",
    }
    # the check and page 1 answer; page 2 fails every attempt: the run stops with page 1
    # stored and the next-link saved
    first = Reply(
        body={"items": [{"id": "p1", "t": "第1页的意见"}]},
        headers={"Link": f'<{api.url}/items?page=2&access_token={TOKEN}>; rel="next"'},
    )
    api.fail_next("/items", first, first, Reply(500, {}), Reply(500, {}), Reply(500, {}))
    failed = run("linked", table)
    assert (failed.status, failed.new) == ("failed", 1)
    with engine.connect() as conn:
        [state] = conn.execute(text("SELECT state FROM collector_state")).scalars()
    state = state if isinstance(state, dict) else json.loads(state)
    assert state["next"] == f"{api.url}/items?page=2"
    assert TOKEN not in every_stored_text(engine)

    resumed = run("linked", table)
    assert (resumed.status, resumed.new) == ("succeeded", 2), resumed.error
    assert api.hits("/items")[-2].query == {"page": "2", "access_token": TOKEN}  # the token added again
    assert sorted(stored(engine, "linked")) == ["p1", "p2", "p3"]
    assert TOKEN not in every_stored_text(engine)


def test_a_token_in_the_url_path_is_masked_in_errors_and_the_run_record(run: Any, engine: Engine, api: Any) -> None:
    api.route("GET", f"/feeds/{PATH_TOKEN}/bank.xml", lambda r: Reply(503, "down"))
    report = run("feed", {"collector": "feed", "base_url": f"{api.url}/feeds/{PATH_TOKEN}/bank.xml"})
    assert report.status == "failed" and report.error_class == "transient"
    assert PATH_TOKEN not in (report.error or "") and "/feeds/***/bank.xml" in (report.error or "")
    [record] = runs(engine)
    assert PATH_TOKEN not in (record.error_message or "")
    assert PATH_TOKEN not in every_stored_text(engine)


def test_inline_tokens_in_base_url_and_params_never_reach_the_database_or_runs_json(
    db_url: str, engine: Engine, api: Any, _isolated_home: Path
) -> None:
    api.route("GET", "/c", lambda r: Reply(500, {"error": f"bad request with apikey={r.query.get('apikey')}"}))
    (_isolated_home / "plugins.toml").write_text(
        f"""
[collectors.inline_url]
collector = "json_api"
base_url = "{api.url}/c?access_token={TOKEN}"
items_path = "items"
fields = {{ external_id = "id", text = "t" }}
retries = 0

[collectors.inline_params]
collector = "json_api"
base_url = "{api.url}/c"
params = {{ apikey = "{PATH_TOKEN}", page = "1" }}
items_path = "items"
fields = {{ external_id = "id", text = "t" }}
retries = 0
""",
        encoding="utf-8",
    )
    outputs = []
    for args in (
        ("collect",),
        ("collect", "inline_url", "--json"),
        ("runs",),
        ("runs", "--json"),
        ("-vv", "collect", "inline_params"),
    ):
        result = CliRunner().invoke(cli, ["--db", db_url, *args])
        outputs.append(result.output)
        gc.unfreeze()  # let the command's engine go (it froze its objects, as a process that exits may)
        gc.collect()
    # the check asks for the first page too: with the token written into base_url as well
    assert {json.dumps(r.query) for r in api.hits("/c")} == {
        json.dumps({"access_token": TOKEN}),
        json.dumps({"apikey": PATH_TOKEN, "page": "1"}),
    }
    printed = "\n".join(outputs)
    assert "FAILED" in printed or '"failed"' in printed
    assert TOKEN not in printed and PATH_TOKEN not in printed
    stored_text = every_stored_text(engine)
    assert TOKEN not in stored_text and PATH_TOKEN not in stored_text
    configs = {run["collector"]: run["config"] for run in json.loads(outputs[3])}
    assert configs["inline_url"]["base_url"] == f"{api.url}/c?access_token=***"
    assert configs["inline_params"]["params"] == {"apikey": "***", "page": "1"}


def test_a_webhook_echoing_its_key_in_an_error_never_shows_it(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """WeCom answers a wrong key with errcode 93000 and echoes the key back: the delivery
    error (logged, stored in the outbox, shown by `bihuan notices`) never holds it."""
    import time
    import uuid
    from zoneinfo import ZoneInfo

    from bihuan.core.errors import DeliveryError
    from bihuan.core.outbox import Envelope
    from bihuan.plugins.notify_targets import new_client, post

    key = "693a91f6-7e2b-4bc4-97a0-0ec2f1fa5aaa"

    def robot(request: Request) -> Reply:
        echoed = f"invalid webhook url, key: {request.query.get('key')}, from ip: 1.2.3.4, customer 13812345678"
        return Reply(body={"errcode": 93000, "errmsg": echoed})

    api.route("POST", "/cgi-bin/webhook/send", robot)
    monkeypatch.setenv("WECOM_URL", f"{api.url}/cgi-bin/webhook/send?key={key}")
    target = NotifyTarget(name="ops", kind="wecom", url={"$env": "WECOM_URL"}, events=["sla_breach"])
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    notice = SlaBreach(
        item_id=1, channel="ticket", policy="ticket", timer="response", due_at=at, opened_at=at, excerpt="转账失败"
    )
    envelope = Envelope(id=str(uuid.uuid4()), notice=notice, created_at=at, attempt=1, zone=ZoneInfo("Asia/Shanghai"))
    with new_client() as client, pytest.raises(DeliveryError) as failure:
        post(client, target, envelope, expires=time.monotonic() + 5)
    assert api.hits("/cgi-bin/webhook/send"), "the robot was called"
    message = str(failure.value)
    assert "errcode 93000" in message and "invalid webhook url" in message
    assert key not in message and "693a91f6" not in message and "13812345678" not in message
