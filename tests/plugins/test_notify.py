"""The built-in notifier against a real HTTP server on 127.0.0.1 playing a WeCom robot, a
DingTalk robot in signed mode and a JSON webhook: payloads, signatures, event filters,
retries, and failures that are logged without secrets and never raise."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bihuan.core.config import Settings
from bihuan.core.notices import ActionOverdue, SlaBreach, StageChanged
from bihuan.plugins import builtin_notify
from bihuan.plugins.manager import BihuanPluginManager

DING_SECRET = "SEC0123456789abcdef"
BREACH = SlaBreach(
    item_id=42,
    channel="social",
    policy="social",
    timer="response",
    due_at=datetime(2026, 11, 23, 4, tzinfo=UTC),
    opened_at=datetime(2026, 11, 22, 4, tzinfo=UTC),
    excerpt="转账失败 [点这里](http://evil) **急**",
)
MOVED = StageChanged(task_id=7, title="信用卡提额慢", old="plan", new="do", actor="王")


class Robots:
    """Requests received, and scripted answers per path (then 200 / errcode 0)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.lock = threading.Lock()


@pytest.fixture
def robots() -> Iterator[tuple[Robots, str]]:
    state = Robots()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            path, _, query = self.path.partition("?")
            with state.lock:
                state.requests.append(
                    {
                        "path": path,
                        "query": dict(urllib.parse.parse_qsl(query)),
                        "raw_query": query,
                        "headers": dict(self.headers),
                        "json": json.loads(body),
                    }
                )
                answers = state.script.get(path) or []
                status, answer = answers.pop(0) if answers else (200, {"errcode": 0, "errmsg": "ok"})
            if path == "/slow":
                time.sleep(0.5)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def configure(pm: BihuanPluginManager) -> Iterator[Any]:
    def apply(targets: list[dict[str, Any]], **notify: Any) -> None:
        settings = Settings.model_validate({"notify": {"targets": targets, "backoff_seconds": 0.01, **notify}})
        pm.hook.configure(settings=settings)

    yield apply
    pm.hook.configure(settings=Settings())  # stops the notifier


def test_wecom_dingtalk_and_a_webhook_get_their_payloads(
    pm: BihuanPluginManager,
    robots: tuple[Robots, str],
    configure: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state, base = robots
    monkeypatch.setenv("WECOM_URL", f"{base}/cgi-bin/webhook/send?key=wecom-key-123")
    monkeypatch.setenv("DING_URL", f"{base}/robot/send?access_token=ding-token-456")
    monkeypatch.setenv("DING_SECRET", DING_SECRET)
    monkeypatch.setenv("HOOK_TOKEN", "Bearer hook-token-789")
    configure(
        [
            {"name": "team", "kind": "wecom", "url": {"$env": "WECOM_URL"}, "events": ["sla_breach"]},
            {"name": "leads", "kind": "dingtalk", "url": {"$env": "DING_URL"}, "secret": {"$env": "DING_SECRET"}},
            {
                "name": "bus",
                "kind": "webhook",
                "url": f"{base}/hook",
                "events": ["stage_changed"],
                "headers": {"Authorization": {"$env": "HOOK_TOKEN"}},
            },
        ]
    )
    with caplog.at_level(logging.DEBUG):  # as under `bihuan -vv`: httpx logs each request's URL at INFO
        pm.hook.on_sla_breach(breach=BREACH)
        pm.hook.on_task_stage_changed(change=MOVED)
        assert builtin_notify.flush(10)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "notify team: sla_breach posted" in logged
    for secret in ("wecom-key-123", "ding-token-456", DING_SECRET, "hook-token-789"):
        assert secret not in logged

    by_path: dict[str, list[dict[str, Any]]] = {}
    for request in state.requests:
        by_path.setdefault(request["path"], []).append(request)
    [wecom] = by_path["/cgi-bin/webhook/send"]  # the stage change is not among its events
    assert wecom["query"] == {"key": "wecom-key-123"} and wecom["json"]["msgtype"] == "markdown"
    content = wecom["json"]["markdown"]["content"]
    assert "SLA 超时" in content and r"> 转账失败 \[点这里\](http://evil) \*\*急\*\*" in content  # untrusted text inert
    assert wecom["headers"]["User-Agent"].startswith("bihuan/")

    dingtalk = by_path["/robot/send"]
    assert [d["json"]["markdown"]["title"].split("：")[0] for d in dingtalk] == ["SLA 超时", "任务 #7「信用卡提额慢」"]
    for request in dingtalk:
        timestamp = request["query"]["timestamp"]
        expected = base64.b64encode(
            hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
        ).decode()
        assert request["query"]["sign"] == expected  # parse_qsl unquoted the URL-quoted sign
        assert abs(int(timestamp) / 1000 - datetime.now(UTC).timestamp()) < 60

    [hook] = by_path["/hook"]
    assert hook["headers"]["Authorization"] == "Bearer hook-token-789"
    assert hook["json"]["event"] == "stage_changed" and hook["json"]["task_id"] == 7
    assert hook["json"]["title"] == "任务 #7「信用卡提额慢」：plan → do，操作人 王"


def test_failures_are_retried_and_delivered_once(
    pm: BihuanPluginManager, robots: tuple[Robots, str], configure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state, base = robots
    state.script["/flaky"] = [(500, {}), (200, {"errcode": 0})]
    state.script["/limited"] = [(200, {"errcode": 45009, "errmsg": "api freq out of limit"}), (200, {"errcode": 0})]
    state.script["/ding-limited"] = [(200, {"errcode": 130101, "errmsg": "send too fast"}), (200, {"errcode": 0})]
    # WeCom answers a wrong key with HTTP 200 and errcode 93000: retrying cannot help
    state.script["/wrong-key"] = [(200, {"errcode": 93000, "errmsg": "invalid webhook url"})]
    state.script["/bad-request"] = [(400, {})]
    configure(
        [
            {"name": "flaky", "kind": "wecom", "url": f"{base}/flaky"},
            {"name": "limited", "kind": "wecom", "url": f"{base}/limited"},
            {"name": "ding-limited", "kind": "dingtalk", "url": f"{base}/ding-limited"},
            {"name": "wrong-key", "kind": "wecom", "url": f"{base}/wrong-key"},
            {"name": "bad-request", "kind": "webhook", "url": f"{base}/bad-request"},
        ]
    )
    with caplog.at_level(logging.WARNING, logger="bihuan.notify"):
        pm.hook.on_sla_breach(breach=BREACH)
        assert builtin_notify.flush(10)
    counts: dict[str, int] = {}
    for request in state.requests:
        counts[request["path"]] = counts.get(request["path"], 0) + 1
    assert counts == {"/flaky": 2, "/limited": 2, "/ding-limited": 2, "/wrong-key": 1, "/bad-request": 1}
    notifier = builtin_notify.notifier()
    assert notifier is not None and (notifier.sent, notifier.failed) == (3, 2)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert sorted(errors) == [
        "notify bad-request: sla_breach HTTP 400 (attempt 1 of 4)",
        "notify wrong-key: sla_breach errcode 93000: invalid webhook url (attempt 1 of 4)",
    ]


def test_an_unreachable_target_is_logged_without_its_secret_and_never_raises(
    pm: BihuanPluginManager, configure: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DEAD_URL", f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=very-secret-key")
    monkeypatch.setenv("TYPO_URL", "http://127.0.0.1:80x/cgi-bin/webhook/send?key=typo-secret-key")
    configure(
        [
            {"name": "dead", "kind": "wecom", "url": {"$env": "DEAD_URL"}},
            {"name": "unset", "kind": "webhook", "url": {"$env": "NOT_SET_ANYWHERE"}},
            {"name": "typo", "kind": "wecom", "url": {"$env": "TYPO_URL"}},
        ],
        retries=1,
    )
    with caplog.at_level(logging.WARNING, logger="bihuan.notify"):
        pm.hook.on_sla_breach(breach=BREACH)  # returns at once: posting happens on the notifier's thread
        assert builtin_notify.flush(10)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("notify dead: sla_breach connection failed") and "attempt 2 of 2" in m for m in messages)
    assert any("NOT_SET_ANYWHERE is not set" in m for m in messages)
    assert "notify typo: sla_breach the URL is not a valid http(s) URL (attempt 1 of 2)" in messages  # not retried
    assert not any("secret-key" in m or str(port) in m or "80x" in m for m in messages)


def test_without_targets_nothing_runs(pm: BihuanPluginManager, configure: Any) -> None:
    configure([])
    assert builtin_notify.notifier() is None
    overdue = ActionOverdue(
        action_id=1, task_id=7, task_title="信用卡提额慢", title="培训", owner="王", due_date=date(2026, 11, 1)
    )
    assert pm.hook.on_action_overdue(overdue=overdue) == []
    assert builtin_notify.flush(0.1)


def test_a_slow_target_never_holds_up_the_engine(
    pm: BihuanPluginManager, robots: tuple[Robots, str], configure: Any
) -> None:
    state, base = robots
    configure([{"name": "slow", "kind": "webhook", "url": f"{base}/slow"}], timeout_seconds=5)
    started = time.monotonic()
    for _ in range(3):
        pm.hook.on_sla_breach(breach=BREACH)
    queued = time.monotonic() - started
    assert not builtin_notify.flush(0.2)  # the first post is still waiting on the server (0.5 s)
    waited = time.monotonic() - started
    assert queued < 0.1 and waited < 0.6, (queued, waited)
    assert builtin_notify.flush(10)  # all three arrive in the end
    assert len(state.requests) == 3


def test_spikes_are_notified_with_the_groups_label(
    pm: BihuanPluginManager, robots: tuple[Robots, str], configure: Any
) -> None:
    from bihuan.core.analysis.weekly import Spike

    state, base = robots
    configure([{"name": "bus", "kind": "webhook", "url": f"{base}/hook", "events": ["spike"]}])
    spike = Spike(group_id=3, week=date(2026, 11, 16), count=92, baseline=31.2, score=2.9)
    pm.hook.on_spike(spike=spike, label="转账·手机银行·卡顿")
    assert builtin_notify.flush(10)
    [hook] = state.requests
    assert hook["json"]["event"] == "spike" and hook["json"]["label"] == "转账·手机银行·卡顿"
    assert hook["json"]["week"] == "2026-11-16" and hook["json"]["count"] == 92
