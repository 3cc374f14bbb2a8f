"""The acceptance kit (``bihuan.plugins.testing``): it passes on correct collectors — the
built-in JSONL file collector and the JSON API collector against a local server — and
catches broken ones with messages that tell the author what is wrong."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bihuan.collectors.base import fingerprint
from bihuan.collectors.files import JsonlCollector
from bihuan.collectors.generic_json import JsonApiCollector
from bihuan.plugins.testing import CollectorAcceptance
from tests.apiserver import Reply, Request

pytest_plugins = ["pytester"]

# ── a file collector passes ───────────────────────────────────────────────────────────

MENTIONS = [
    {"id": "W1", "内容": "手机银行转账总是卡顿，客服电话13812345678也打不通", "时间": "2026-11-02 09:15", "评分": 2},
    {"id": "W2", "内容": "网点排队两个小时", "时间": "2026-11-03 10:00", "评分": 1},
    {"内容": "理财经理很耐心", "时间": "2026-11-04 11:30", "评分": 5},  # no id: a hash of the content
]


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class TestJsonlCollectorPassesTheKit(CollectorAcceptance):
    collector_class = JsonlCollector

    @pytest.fixture
    def valid_config(self, tmp_path: Path) -> dict[str, Any]:
        path = write_jsonl(tmp_path / "weibo.jsonl", [json.dumps(m, ensure_ascii=False) for m in MENTIONS])
        return {"paths": [str(path)], "channel": "social"}

    @pytest.fixture
    def invalid_config(self, tmp_path: Path) -> dict[str, Any]:
        return {"paths": [str(tmp_path / "missing.jsonl")]}

    @pytest.fixture
    def future_state(self, valid_config: dict[str, Any]) -> dict[str, Any]:
        path = Path(valid_config["paths"][0]).resolve()
        return {"files": {str(path): {"fingerprint": fingerprint(path), "rows_done": 1_000_000}}}

    @pytest.fixture
    def bad_records_config(self, tmp_path: Path) -> dict[str, Any]:
        lines = [json.dumps(MENTIONS[0], ensure_ascii=False), "{not json", json.dumps({"id": "W9", "内容": ""})]
        return {"paths": [str(write_jsonl(tmp_path / "bad.jsonl", lines))]}


# ── an HTTP collector passes ──────────────────────────────────────────────────────────

COMPLAINTS = [
    {"cid": f"C{n}", "content": f"贷款审批太慢 {n}", "at": f"2026-11-{10 + n:02d}T08:00:00+08:00", "stars": 2}
    for n in range(1, 6)
]
BROKEN = [
    {"cid": "B1", "content": "评分不对", "at": "2026-11-19T08:00:00+08:00", "stars": 9},
    {"cid": "B2", "content": "", "at": "2026-11-19T09:00:00+08:00"},
    {"cid": "B3", "content": "没有问题", "at": "2026-11-19T10:00:00+08:00"},
]


def complaint_pages(records: list[dict[str, Any]], size: int = 2) -> Any:
    """A cursor-paged list endpoint that filters by ``updated_since``, behind a token."""

    def answer(request: Request) -> Reply:
        if request.headers.get("Authorization") != "Bearer kit-token":
            return Reply(401, {"error": "unauthorized"})
        since = request.query.get("updated_since")
        chosen = [r for r in records if not since or datetime.fromisoformat(r["at"]) > datetime.fromisoformat(since)]
        start = int(request.query.get("cursor", "0"))
        body: dict[str, Any] = {"items": chosen[start : start + size]}
        if start + size < len(chosen):
            body["next"] = str(start + size)
        return Reply(body=body)

    return answer


class TestJsonApiCollectorPassesTheKit(CollectorAcceptance):
    collector_class = JsonApiCollector

    @pytest.fixture
    def server(self, api: Any, monkeypatch: pytest.MonkeyPatch) -> str:
        monkeypatch.setenv("KIT_TOKEN", "Bearer kit-token")
        api.route("GET", "/complaints", complaint_pages(COMPLAINTS))
        api.route("GET", "/broken", complaint_pages(BROKEN))
        return api.url

    def table(self, url: str, token: Any = None) -> dict[str, Any]:
        return {
            "base_url": url,
            "headers": {"Authorization": token or {"$env": "KIT_TOKEN"}},
            "items_path": "items",
            "fields": {"external_id": "cid", "text": "content", "created_at": "at", "rating": "stars"},
            "pagination": "cursor",
            "cursor_path": "next",
            "since_param": "updated_since",
            "channel": "ticket",
            "retries": 1,
            "backoff_seconds": 0.01,
        }

    @pytest.fixture
    def valid_config(self, server: str) -> dict[str, Any]:
        return self.table(f"{server}/complaints")

    @pytest.fixture
    def invalid_config(self, server: str) -> dict[str, Any]:
        return self.table(f"{server}/complaints", token="Bearer wrong")  # 401: AuthError

    @pytest.fixture
    def future_state(self) -> dict[str, Any]:
        return {"since": "2999-01-01T00:00:00+00:00", "newest": "2999-01-01T00:00:00+00:00", "next": None}

    @pytest.fixture
    def bad_records_config(self, server: str) -> dict[str, Any]:
        return self.table(f"{server}/broken")


# ── broken collectors are caught ──────────────────────────────────────────────────────

BROKEN_COLLECTORS = '''
import uuid
from datetime import datetime

import pytest

from bihuan.core.collector import CollectorConfig
from bihuan.core.errors import CollectorConfigError, RecordError
from bihuan.core.types import BadRecord, Checkpoint, Item
from bihuan.plugins.testing import CollectorAcceptance

RECORDS = [{"n": 1, "text": "网点排队太久"}, {"n": 2, "text": "年费没有提前通知"}, {"n": 3, "text": "电话打不通"}]
BAD = [{"n": 4, "text": ""}]


class MemoryConfig(CollectorConfig):
    records: int = 3
    with_bad: bool = False


class Memory:
    """A correct collector over records in memory; the broken ones below each change one thing."""

    name = "memory"
    channel = "ticket"
    Config = MemoryConfig

    def check(self, ctx):
        if ctx.config.records < 1:
            raise CollectorConfigError("records must be at least 1")

    def collect(self, ctx, state):
        after = (state or {}).get("after", 0)
        for record in RECORDS[: ctx.config.records] + (BAD if ctx.config.with_bad else []):
            if record["n"] > after:
                try:
                    yield self.parse_record(ctx, record)
                except RecordError as exc:
                    yield BadRecord(raw=record, reason=exc.reason, field="text", location=f"record {record['n']}")
                yield self.checkpoint(record["n"])

    def parse_record(self, ctx, raw):
        if not raw["text"]:
            raise RecordError("text is empty", field="text")
        return Item(external_id=self.id_of(raw), text=raw["text"], created_at=self.time_of(raw))

    def id_of(self, raw):
        return f"M{raw['n']}"

    def time_of(self, raw):
        return datetime(2026, 11, raw["n"], 9, 0, tzinfo=ctx_zone())

    def checkpoint(self, n):
        return Checkpoint({"after": n})


def ctx_zone():
    from zoneinfo import ZoneInfo
    return ZoneInfo("Asia/Shanghai")


class UnstableIds(Memory):
    def id_of(self, raw):
        return uuid.uuid4().hex


class IgnoresState(Memory):
    def collect(self, ctx, state):
        return super().collect(ctx, None)


class AcceptsAnything(Memory):
    def check(self, ctx):
        pass


class NaiveTimes(Memory):
    def time_of(self, raw):
        return datetime(2026, 11, raw["n"], 9, 0)


class StampsReadTime(Memory):
    def parse_record(self, ctx, raw):
        item = super().parse_record(ctx, raw)
        item.extra = {"read_at": datetime.now().isoformat()}
        return item


class StateNotJson(Memory):
    def checkpoint(self, n):
        return Checkpoint({"after": n, "at": datetime(2026, 11, 1)})


class CrashesOnBadRecords(Memory):
    def parse_record(self, ctx, raw):
        if not raw["text"]:
            raise ValueError("empty text")
        return super().parse_record(ctx, raw)


class PersonalDataEverywhere(Memory):
    """Emits mobiles, ID and card numbers in every field: the pipeline protects them, the
    collector passes."""

    def parse_record(self, ctx, raw):
        item = super().parse_record(ctx, raw)
        n = raw["n"]
        item.external_id = f"1381234567{n}"
        item.text += "，回电13912345678"
        item.customer_ref = "+86 139-1234-5678"
        item.url = f"https://crm.example.com/c/{n}?phone=13712345678&id=11010519491231002X"
        item.extra = {"手机": 13612345678, "卡号": 6.222021234567891e18, "13512345678": {"owner": "a@b.cn"}}
        return item


class KeepsCallerInState(Memory):
    def checkpoint(self, n):
        return Checkpoint({"after": n, "last_caller": "13812345678"})


class KeepsTokenInNextLink(Memory):
    def checkpoint(self, n):
        return Checkpoint({"after": n, "next": f"https://api.example.com/x?page={n + 1}&access_token=kit-secret-123"})


class LogsCallers(Memory):
    def parse_record(self, ctx, raw):
        ctx.log.info("customer %s called about record %s", "13812345678", raw["n"])
        return super().parse_record(ctx, raw)


class Kit(CollectorAcceptance):
    @pytest.fixture
    def valid_config(self):
        return {"records": 3}

    @pytest.fixture
    def invalid_config(self):
        return {"records": 0}

    @pytest.fixture
    def future_state(self):
        return {"after": 99}

    @pytest.fixture
    def bad_records_config(self):
        return {"records": 3, "with_bad": True}


class TestMemory(Kit):
    collector_class = Memory


class TestUnstableIds(Kit):
    collector_class = UnstableIds


class TestIgnoresState(Kit):
    collector_class = IgnoresState


class TestAcceptsAnything(Kit):
    collector_class = AcceptsAnything


class TestNaiveTimes(Kit):
    collector_class = NaiveTimes


class TestStampsReadTime(Kit):
    collector_class = StampsReadTime


class TestStateNotJson(Kit):
    collector_class = StateNotJson


class TestCrashesOnBadRecords(Kit):
    collector_class = CrashesOnBadRecords


class TestPersonalDataEverywhere(Kit):
    collector_class = PersonalDataEverywhere


class TestKeepsCallerInState(Kit):
    collector_class = KeepsCallerInState


class TestKeepsTokenInNextLink(Kit):
    collector_class = KeepsTokenInNextLink


class TestLogsCallers(Kit):
    collector_class = LogsCallers
'''

KIT_TESTS = {
    "test_the_class_can_be_registered",
    "test_check_passes_with_the_valid_config",
    "test_check_fails_with_the_invalid_config",
    "test_a_first_run_stores_items_with_unique_ids",
    "test_a_rerun_from_the_saved_state_stores_nothing_new",
    "test_a_state_from_the_future_yields_nothing",
    "test_replaying_the_source_creates_no_duplicates",
    "test_bad_records_are_quarantined_with_a_reason",
    "test_no_personal_data_or_secret_is_kept",
}


@pytest.fixture
def kit_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An inner pytest session as an author's: only the kit, no installed pytest plugins
    (pytest-textual-snapshot's session hooks clash with an inner session)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester


@pytest.fixture
def broken_run(kit_pytester: pytest.Pytester) -> dict[str, dict[str, str]]:
    """Run the kit on the collectors above; ``{class: {test: failure text}}`` of the failures."""
    pytester = kit_pytester
    pytester.makepyfile(test_broken=textwrap.dedent(BROKEN_COLLECTORS))
    reprec = pytester.inline_run("-p", "no:cacheprovider")
    failures: dict[str, dict[str, str]] = {}
    passed: set[str] = set()
    for report in reprec.getreports("pytest_runtest_logreport"):
        _, cls, test = report.nodeid.split("::")
        if report.failed:
            failures.setdefault(cls, {})[test] = str(report.longrepr)
        elif report.when == "call" and report.passed:
            passed.add(f"{cls}::{test}")
    failures["passed"] = {name: "" for name in passed}
    return failures


def test_the_kit_passes_a_correct_collector_and_names_what_each_broken_one_does_wrong(
    broken_run: dict[str, dict[str, str]],
) -> None:
    passed = {name.split("::")[1] for name in broken_run["passed"] if name.startswith("TestMemory::")}
    assert passed == KIT_TESTS and "TestMemory" not in broken_run

    def failed(cls: str) -> dict[str, str]:
        return broken_run.get(cls, {})

    # it resumes from its state, so only reading the source again shows the new ids
    unstable = failed("TestUnstableIds")
    assert set(unstable) == {"test_replaying_the_source_creates_no_duplicates"}
    assert "stored 3 new items" in unstable["test_replaying_the_source_creates_no_duplicates"]
    assert "external ids are not stable" in unstable["test_replaying_the_source_creates_no_duplicates"]

    ignores = failed("TestIgnoresState")
    assert set(ignores) == {"test_a_state_from_the_future_yields_nothing"}
    assert "yielded 3 items ('M1', 'M2', 'M3')" in ignores["test_a_state_from_the_future_yields_nothing"]
    assert "must start where its state says" in ignores["test_a_state_from_the_future_yields_nothing"]

    accepts = failed("TestAcceptsAnything")
    assert set(accepts) == {"test_check_fails_with_the_invalid_config"}
    assert "check() accepted invalid_config" in accepts["test_check_fails_with_the_invalid_config"]

    naive = failed("TestNaiveTimes")
    assert "test_a_first_run_stores_items_with_unique_ids" in naive
    assert "created_at must be a timezone-aware datetime" in naive["test_a_first_run_stores_items_with_unique_ids"]

    stamps = failed("TestStampsReadTime")
    assert set(stamps) == {"test_replaying_the_source_creates_no_duplicates"}
    assert "changed 3 stored items ('M1', 'M2', 'M3')" in stamps["test_replaying_the_source_creates_no_duplicates"]

    # every run that checkpoints fails; the one from the future state yields and saves nothing
    not_json = failed("TestStateNotJson")
    assert set(not_json) == KIT_TESTS - {
        "test_the_class_can_be_registered",
        "test_check_passes_with_the_valid_config",
        "test_check_fails_with_the_invalid_config",
        "test_a_state_from_the_future_yields_nothing",
    }
    assert "state must be JSON" in not_json["test_a_first_run_stores_items_with_unique_ids"]

    crashes = failed("TestCrashesOnBadRecords")
    assert set(crashes) == {"test_bad_records_are_quarantined_with_a_reason"}
    message = crashes["test_bad_records_are_quarantined_with_a_reason"]
    assert "failed (internal error): ValueError: empty text" in message
    assert "raise ValueError" in message, "the collector's own traceback is shown"

    # personal data in items is the pipeline's to protect: nothing reaches the database
    passed_everywhere = {n.split("::")[1] for n in broken_run["passed"] if n.startswith("TestPersonalDataEverywhere::")}
    assert passed_everywhere == KIT_TESTS and "TestPersonalDataEverywhere" not in broken_run

    # what the pipeline cannot fix without breaking the collector: its state and its log
    caller = failed("TestKeepsCallerInState")
    assert set(caller) == {"test_no_personal_data_or_secret_is_kept"}
    message = caller["test_no_personal_data_or_secret_is_kept"]
    assert "personal data into a Checkpoint state (state['last_caller']: mobile" in message
    assert "Keep cursors, ids and timestamps in the state" in message

    token = failed("TestKeepsTokenInNextLink")
    assert set(token) == {"test_no_personal_data_or_secret_is_kept"}
    message = token["test_no_personal_data_or_secret_is_kept"]
    assert "a secret into a Checkpoint state (state['next']: a URL with access_token" in message
    assert "strip_url_secrets" in message

    logs = failed("TestLogsCallers")
    assert set(logs) == {"test_no_personal_data_or_secret_is_kept"}
    assert (
        "logged personal data or a secret (log: mobile): 'customer 13812345678 called"
        in (logs["test_no_personal_data_or_secret_is_kept"])
    )


def test_a_kit_subclass_without_its_fixtures_says_what_to_define(kit_pytester: pytest.Pytester) -> None:
    pytester = kit_pytester
    pytester.makepyfile(
        test_incomplete="""
        from bihuan.collectors.files import JsonlCollector
        from bihuan.plugins.testing import CollectorAcceptance

        class TestIncomplete(CollectorAcceptance):
            collector_class = JsonlCollector
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1, errors=7)
    result.stdout.fnmatch_lines(["*TestIncomplete: define a `valid_config` fixture returning*"])


def test_the_kit_example_in_the_plugin_guide_passes_on_the_guide_collector(kit_pytester: pytest.Pytester) -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", guide, re.DOTALL)
    collector = blocks[0]  # the guide's collector module (tests/plugins/test_docs_example.py runs it too)
    [kit] = [b for b in blocks if "CollectorAcceptance" in b]
    kit_pytester.makepyfile(acme_bihuan=collector, test_acme=kit)
    kit_pytester.syspathinsert()
    result = kit_pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(KIT_TESTS))
