"""The built-in notifier through the outbox, against a real HTTP server on 127.0.0.1 playing
a WeCom robot, a DingTalk robot in signed mode and a JSON webhook: payloads, signatures,
the notice id, times in the team's zone, event filters, which failures are retried, and
errors that are stored and logged without secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import socket
import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bihuan.core.config import NotifySettings, Settings
from bihuan.core.notices import ActionOverdue, Notice, SlaBreach, SpikeNotice, StageChanged
from bihuan.core.outbox import Envelope, Outbox, mask_secrets
from bihuan.plugins import hookimpl
from bihuan.plugins.manager import BihuanPluginManager, notice_outbox
from bihuan.storage import outbox_queries as oq
from bihuan.storage.engine import session_scope
from tests.notice_receiver import NOTICE_ID, Receiver

ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture
def robots() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def configure(pm: BihuanPluginManager) -> Iterator[Any]:
    def apply(targets: list[dict[str, Any]], **notify: Any) -> Outbox:
        settings = Settings.model_validate({"notify": {"targets": targets, "backoff_seconds": 0, **notify}})
        pm.hook.configure(settings=settings)
        return notice_outbox(pm, settings)

    yield apply
    pm.hook.configure(settings=Settings())


def record(engine: Engine, outbox: Outbox, *notices: Notice) -> list[int]:
    with session_scope(engine, write=True) as session:
        return outbox.record(notices, session=session)


def deliveries(engine: Engine) -> dict[str, oq.DeliveryRow]:
    with session_scope(engine) as session:
        return {row.target: row for row in oq.list_deliveries(limit=1000, session=session)}


def test_wecom_dingtalk_and_a_webhook_get_their_payloads(
    engine: Engine,
    robots: Receiver,
    configure: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = robots.url
    monkeypatch.setenv("WECOM_URL", f"{base}/cgi-bin/webhook/send?key=wecom-key-123")
    monkeypatch.setenv("DING_URL", f"{base}/robot/send?access_token=ding-token-456")
    monkeypatch.setenv("DING_SECRET", DING_SECRET)
    monkeypatch.setenv("HOOK_TOKEN", "Bearer hook-token-789")
    outbox = configure(
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
    breach_id, move_id = record(engine, outbox, BREACH, MOVED)
    with caplog.at_level(logging.DEBUG):  # as under `bihuan -vv`: httpx logs each request's URL at INFO
        assert outbox.deliver(engine).delivered == 4
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"notify team: sla_breach notice {breach_id} delivered" in logged
    for secret in ("wecom-key-123", "ding-token-456", DING_SECRET, "hook-token-789"):
        assert secret not in logged

    [wecom] = robots.to("/cgi-bin/webhook/send")  # the stage change is not among its events
    assert wecom.query == {"key": "wecom-key-123"} and wecom.json["msgtype"] == "markdown"
    content = wecom.json["markdown"]["content"]
    assert "SLA 超时" in content and r"> 转账失败 \[点这里\](http://evil) \*\*急\*\*" in content  # untrusted text inert
    # times in the team's zone (Asia/Shanghai by default), not UTC
    assert "未在 2026-11-23 12:00 UTC+8 前首次响应" in content and "开始计时：2026-11-22 12:00 UTC+8" in content
    assert wecom.headers["User-Agent"].startswith("bihuan/")

    dingtalk = robots.to("/robot/send")
    assert [d.json["markdown"]["title"].split("：")[0] for d in dingtalk] == ["SLA 超时", "任务 #7「信用卡提额慢」"]
    for request in dingtalk:
        timestamp = request.query["timestamp"]
        expected = base64.b64encode(
            hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
        ).decode()
        assert request.query["sign"] == expected  # parse_qsl unquoted the URL-quoted sign
        assert abs(int(timestamp) / 1000 - datetime.now(UTC).timestamp()) < 60

    [hook] = robots.to("/hook")
    assert hook.headers["Authorization"] == "Bearer hook-token-789"
    assert hook.json["event"] == "stage_changed" and hook.json["task_id"] == 7
    assert hook.json["title"] == "任务 #7「信用卡提额慢」：plan → do，操作人 王"

    # one stable id per notice, the same for every target, in a header (and a webhook's JSON)
    keys = {row.notice_id: row.key for row in deliveries(engine).values()}
    assert wecom.notice_id == dingtalk[0].notice_id == keys[breach_id]
    assert hook.notice_id == dingtalk[1].notice_id == hook.json["notice_id"] == keys[move_id]
    assert re.fullmatch(r"[0-9a-f-]{36}", keys[breach_id]) and keys[breach_id] != keys[move_id]


def test_failures_that_may_pass_are_retried_the_others_given_up(
    engine: Engine, robots: Receiver, configure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    base = robots.url
    robots.script["/flaky"] = [500]
    robots.script["/limited"] = [(200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    robots.script["/ding-limited"] = [(200, {"errcode": 130101, "errmsg": "send too fast"})]
    # WeCom answers a wrong key with HTTP 200 and errcode 93000: retrying cannot help
    robots.script["/wrong-key"] = [(200, {"errcode": 93000, "errmsg": "invalid webhook url"})]
    robots.script["/bad-request"] = [400]
    outbox = configure(
        [
            {"name": "flaky", "kind": "wecom", "url": f"{base}/flaky"},
            {"name": "limited", "kind": "wecom", "url": f"{base}/limited"},
            {"name": "ding-limited", "kind": "dingtalk", "url": f"{base}/ding-limited"},
            {"name": "wrong-key", "kind": "wecom", "url": f"{base}/wrong-key"},
            {"name": "bad-request", "kind": "webhook", "url": f"{base}/bad-request"},
        ],
        retries=3,
    )
    [notice_id] = record(engine, outbox, BREACH)
    with caplog.at_level(logging.WARNING, logger="bihuan.notify"):
        first = outbox.deliver(engine)
    assert (first.retrying, first.failed) == (3, 2)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    given_up = "(attempt 1 of 4; given up, see `bihuan notices --failed`)"
    assert sorted(errors) == [
        f"notify bad-request: sla_breach notice {notice_id}: HTTP 400 {given_up}",
        f"notify wrong-key: sla_breach notice {notice_id}: errcode 93000: invalid webhook url {given_up}",
    ]
    assert outbox.deliver(engine).delivered == 3  # the next round (`bihuan tick`)
    counts = {path: len(robots.to(path)) for path in {r.path for r in robots.requests}}
    assert counts == {"/flaky": 2, "/limited": 2, "/ding-limited": 2, "/wrong-key": 1, "/bad-request": 1}
    assert {t: r.status for t, r in deliveries(engine).items()} == {
        "flaky": "delivered",
        "limited": "delivered",
        "ding-limited": "delivered",
        "wrong-key": "failed",
        "bad-request": "failed",
    }


def test_errors_are_stored_and_logged_without_secrets(
    engine: Engine,
    robots: Receiver,
    configure: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DEAD_URL", f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=very-secret-key")
    monkeypatch.setenv("TYPO_URL", "http://127.0.0.1:80x/cgi-bin/webhook/send?key=typo-secret-key")
    monkeypatch.setenv("ECHO_URL", f"{robots.url}/echo?key=echoed-secret-key")
    monkeypatch.setenv("PATH_URL", f"{robots.url}/hooks/T0001/B0002/pathsecrettoken1234")
    # a robot that quotes the request back, key and all (as some gateways do)
    robots.script["/echo"] = [
        (200, {"errcode": 93000, "errmsg": "invalid key=echoed-secret-key for echoed-secret-key"})
    ]
    robots.script["/hooks/T0001/B0002/pathsecrettoken1234"] = [
        (200, {"errcode": 310000, "errmsg": "bad sign for /hooks/T0001/B0002/pathsecrettoken1234"})
    ]
    outbox = configure(
        [
            {"name": "dead", "kind": "wecom", "url": {"$env": "DEAD_URL"}},
            {"name": "unset", "kind": "webhook", "url": {"$env": "NOT_SET_ANYWHERE"}},
            {"name": "typo", "kind": "wecom", "url": {"$env": "TYPO_URL"}},
            {"name": "echo", "kind": "wecom", "url": {"$env": "ECHO_URL"}},
            {"name": "path", "kind": "dingtalk", "url": {"$env": "PATH_URL"}},
        ],
        retries=1,
    )
    record(engine, outbox, BREACH)
    with caplog.at_level(logging.WARNING, logger="bihuan.notify"):
        outbox.deliver(engine)
    rows = deliveries(engine)
    assert rows["dead"].status == "pending" and rows["dead"].last_error == "connection failed (ConnectError)"
    assert rows["unset"].status == "pending"  # the variable may be set by the next tick
    assert "NOT_SET_ANYWHERE is not set" in (rows["unset"].last_error or "")
    assert (rows["typo"].status, rows["typo"].last_error) == ("failed", "the URL is not a valid http(s) URL")
    assert rows["echo"].status == "failed" and rows["echo"].last_error == "errcode 93000: invalid key=*** for ***"
    assert rows["path"].last_error == "errcode 310000: bad sign for /hooks/T0001/B0002/***"
    stored = " ".join(r.last_error or "" for r in rows.values())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (stored, logged):
        for secret in ("very-secret-key", "typo-secret-key", "echoed-secret-key", "pathsecrettoken1234", "80x"):
            assert secret not in text
        assert str(port) not in text


def test_mask_secrets_hides_keys_tokens_and_credentials() -> None:
    assert mask_secrets("POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a-91f6&debug=1 failed") == (
        "POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***&debug=1 failed"
    )
    assert mask_secrets('{"access_token": "abc123def", "code": 40001}') == '{"access_token": "***", "code": 40001}'
    assert mask_secrets("Authorization: Bearer eyJhbGciOi.payload") == "Authorization: Bearer ***"
    assert mask_secrets("https://bot:hunter2@hooks.example.com/x") == "https://***@hooks.example.com/x"
    assert mask_secrets("echo s3cr%2Ft and s3cr/t", ["s3cr/t"]) == "echo *** and ***"  # quoted forms too
    assert mask_secrets("HTTP 500") == "HTTP 500" and len(mask_secrets("x" * 1000)) == 300


def test_a_third_party_target_gets_its_notices_through_the_outbox(
    engine: Engine, pm: BihuanPluginManager, register_plugin: Any
) -> None:
    sent: list[Envelope] = []

    class Pager:
        name = "pager"

        def accepts(self, kind: str) -> bool:
            return kind == "sla_breach"

        def send(self, envelope: Envelope, *, timeout: float) -> None:
            if not sent:
                sent.append(envelope)
                raise RuntimeError("gateway said: bad access_token=pg-secret-1")
            sent.append(envelope)

    class Plugin:
        @hookimpl
        def register_notice_targets(self, register: Any) -> None:
            register(Pager())
            register(Pager())  # a second target under a taken name is refused

    register_plugin(Plugin(), "pager-plugin")
    settings = Settings.model_validate({"notify": {"backoff_seconds": 0}})
    pm.hook.configure(settings=settings)  # the built-in notifier: no targets
    outbox = notice_outbox(pm, settings)
    assert list(outbox.targets) == ["pager"]
    assert any("notice target name 'pager' is taken" in e for e in pm.records["pager-plugin"].errors)
    assert record(engine, outbox, MOVED) == []  # not a kind it takes: nothing stored
    record(engine, outbox, BREACH)
    assert outbox.deliver(engine).retrying == 1
    assert deliveries(engine)["pager"].last_error == "RuntimeError: gateway said: bad access_token=***"
    assert outbox.deliver(engine).delivered == 1
    first, second = sent
    assert first.id == second.id and (first.attempt, second.attempt) == (1, 2)
    assert second.notice == BREACH and second.headline().endswith("未在 2026-11-23 12:00 UTC+8 前首次响应")


def test_a_notice_comes_back_from_the_outbox_as_it_was_recorded() -> None:
    from bihuan.core.notices import CaseReopened, CheckVerdict, notice_from_dict

    notices: list[Notice] = [
        BREACH,
        MOVED,
        ActionOverdue(action_id=1, task_id=7, task_title="提额", title="培训", owner="王", due_date=date(2026, 11, 1)),
        CheckVerdict(
            task_id=7,
            title="提额",
            metric="volume",
            verdict="effective",
            baseline_value=14.0,
            check_value=6.5,
            change=-0.54,
            p_value=0.001,
            target_met=True,
        ),
        CaseReopened(item_id=3, channel="ticket", follow_up_id=9, outcome="unsatisfied", satisfaction=1, actor="李"),
        SpikeNotice(group_id=3, label="转账·手机银行·卡顿", week=date(2026, 11, 16), count=92, baseline=31.2),
    ]
    for notice in notices:
        assert notice_from_dict(notice.to_dict()) == notice
    with pytest.raises(ValueError, match="unknown notice kind"):
        notice_from_dict({"event": "nope"})


def test_plugins_toml_documents_every_notify_setting() -> None:
    text = (ROOT / "plugins.toml").read_text(encoding="utf-8")
    shipped = tomllib.loads(text)["notify"]
    defaults = NotifySettings()
    for key in NotifySettings.model_fields:
        assert key in shipped, f"[notify] {key} is not in plugins.toml"
        assert shipped[key] == getattr(defaults, key), f"plugins.toml's [notify] {key} is not the default"
    section = text.split("[notify]", 1)[1].split("\n[", 1)[0]
    comments = "\n".join(line for line in section.splitlines() if line.startswith("#"))
    for key in [k for k in NotifySettings.model_fields if k != "targets"]:
        assert re.search(rf"#\s+{key}\s", comments), f"[notify] {key} has no comment in plugins.toml"
    assert NOTICE_ID in comments
