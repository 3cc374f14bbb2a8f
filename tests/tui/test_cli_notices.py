"""Notices through the real command line on SQLite and PostgreSQL, to real HTTP receivers on
127.0.0.1: one failing target does not stop the others, a hanging one costs a command at
most the delivery deadline, `bihuan tick` delivers what is pending, receivers can drop the
repeats by notice id, and `bihuan notices` lists and retries what is pending or failed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from bihuan.core.config import Settings
from bihuan.core.sla import cases
from bihuan.core.sla.cases import CaseContext
from bihuan.core.sla.hooks import CaseHooks
from bihuan.storage.types import utcnow
from bihuan.tui.cli import cli
from tests.core.pdca.conftest import SH, Run, at, seed
from tests.notice_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def breached(engine: Engine) -> int:
    """A social item of two days ago whose case opened in time and whose 24 h are over."""
    day = (utcnow() - timedelta(days=2)).astimezone(SH).date()
    seed(engine, [Run(None, day, 1, channel="social")])
    settings = Settings()
    ctx = CaseContext(zone=SH, sla=settings.sla, followup=settings.followup, hooks=CaseHooks())
    assert cases.open_new_cases(engine, ctx, now=at(day, 11)) == 1
    return 1


def config(tmp_path: Path, receiver: Receiver, targets: dict[str, str], **notify: Any) -> Path:
    lines = ["[notify]", "backoff_seconds = 0", *(f"{k} = {v}" for k, v in notify.items())]
    for name, path in targets.items():
        kind = "wecom" if name.startswith("robot") else "webhook"
        lines += ["[[notify.targets]]", f'name = "{name}"', f'kind = "{kind}"', f'url = "{receiver.url}{path}"']
    path = tmp_path / "plugins.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bihuan(db: str, cfg: Path, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, ["--db", db, "--config", str(cfg), *args])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and result.stdout.startswith(("{", "[")) else result.output


def test_one_failing_target_does_not_stop_the_others_and_tick_delivers_it(
    db_url: str, breached: int, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.script["/robot"] = [500]
    cfg = config(tmp_path, receiver, {"good": "/good", "robot": "/robot?key=robot-key-1"})

    announced = bihuan(db_url, cfg, "sla", "--json")
    assert len(announced["new_breaches"]) == 1
    [good] = receiver.to("/good")  # the good target got it, once
    assert good.json["event"] == "sla_breach" and good.json["item_id"] == breached
    assert "UTC+8" in good.json["text"] and " UTC " not in good.json["text"]  # the team's zone
    assert len(receiver.to("/robot")) == 1  # answered 500

    listed = bihuan(db_url, cfg, "notices", "--json")
    assert listed["counts"] == {"pending": 1, "delivered": 1, "failed": 0}
    [pending] = listed["deliveries"]
    assert (pending["target"], pending["status"], pending["attempts"], pending["last_error"]) == (
        "robot",
        "pending",
        1,
        "HTTP 500",
    )
    assert pending["headline"].startswith("SLA 超时") and "UTC+8" in pending["headline"]
    assert bihuan(db_url, cfg, "notices", "list", "--pending", "--json")["deliveries"] == [pending]
    assert "robot-key-1" not in bihuan(db_url, cfg, "notices")  # the table, as people see it

    ticked = bihuan(db_url, cfg, "tick", "--json")
    assert ticked["notices"] == {"delivered": 1, "retrying": 0, "failed": 0, "left": 0}
    first, second = receiver.to("/robot")
    assert first.notice_id == second.notice_id == good.notice_id == pending["key"]
    assert len(receiver.accepted("/robot")) == 1

    assert bihuan(db_url, cfg, "tick", "--json")["notices"]["delivered"] == 0
    assert (len(receiver.to("/good")), len(receiver.to("/robot"))) == (1, 2)  # nothing sent twice by bihuan
    assert bihuan(db_url, cfg, "notices", "--json")["deliveries"] == []
    everything = bihuan(db_url, cfg, "notices", "--all", "--json")["deliveries"]
    assert sorted((d["target"], d["status"]) for d in everything) == [("good", "delivered"), ("robot", "delivered")]


def test_a_hanging_target_costs_a_command_at_most_the_deadline(
    db_url: str, breached: int, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.script["/hang"] = ["hang"]
    cfg = config(tmp_path, receiver, {"stuck": "/hang", "good": "/good"}, deadline_seconds=2.0, timeout_seconds=30)

    started = time.monotonic()
    bihuan(db_url, cfg, "sla", "--json")
    took = time.monotonic() - started
    assert took < 5, f"the command took {took:.1f} s"  # the deadline is 2 s, the target's timeout 30 s
    assert len(receiver.to("/good")) == 1
    for _ in range(100):  # on a busy machine the timed-out attempt may still be recording its outcome
        [stuck] = bihuan(db_url, cfg, "notices", "--pending", "--json")["deliveries"]
        if stuck["last_error"]:
            break
        time.sleep(0.05)
    assert (stuck["target"], stuck["attempts"], stuck["last_error"]) == ("stuck", 1, "timed out")

    receiver.release.set()
    assert bihuan(db_url, cfg, "tick", "--json")["notices"]["delivered"] == 1
    first, second = receiver.to("/hang")  # it arrived the first time too, the answer did not come back …
    assert first.notice_id == second.notice_id and len(receiver.accepted("/hang")) == 1  # … so it is dropped


def test_failed_notices_are_listed_and_retried_with_exit_codes(
    db_url: str, breached: int, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.script["/hook"] = [400, 503]
    cfg = config(tmp_path, receiver, {"ops": "/hook"})
    bihuan(db_url, cfg, "sla", "--json")

    [failed] = bihuan(db_url, cfg, "notices", "--failed", "--json")["deliveries"]
    assert (failed["status"], failed["attempts"], failed["last_error"]) == ("failed", 1, "HTTP 400")
    assert bihuan(db_url, cfg, "tick", "--json")["notices"]["delivered"] == 0  # given up: tick leaves it

    notice = str(failed["notice_id"])
    retried = bihuan(db_url, cfg, "notices", "retry", notice, "--json", code=1)  # 503 this time: still pending
    assert retried["retrying"] == 1 and retried["undelivered"][0]["status"] == "pending"
    assert "1 delivered" in bihuan(db_url, cfg, "notices", "retry", notice)
    assert len(receiver.accepted("/hook")) == 1 and len(receiver.to("/hook")) == 3

    assert "no notice 999" in bihuan(db_url, cfg, "notices", "retry", "999", code=2)
    assert "--failed for all failed" in bihuan(db_url, cfg, "notices", "retry", code=2)
    assert bihuan(db_url, cfg, "notices", "retry", "--failed", "--json")["notices"] == []
