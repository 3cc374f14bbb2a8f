"""The collector pipeline on real databases: counts, checkpoints, quarantine, redaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Engine
from sqlmodel import select

from bihuan.core.collection import CollectorInstance, run_instances
from bihuan.core.collector import CollectorConfig, RunContext
from bihuan.core.errors import TransientError
from bihuan.core.pipeline import PipelineHooks, RunReport, run_collector
from bihuan.core.types import BadRecord, Checkpoint, Item
from bihuan.storage import queries
from bihuan.storage.engine import session_scope
from bihuan.storage.models import CollectorRun, FeedbackItem, QuarantinedRecord

WHEN = datetime(2026, 10, 8, 2, 0, tzinfo=UTC)


class ScriptedCollector:
    """Yields what the test scripts, then optionally raises; records the state it got."""

    name: ClassVar[str] = "scripted"
    channel: ClassVar[str] = "survey"
    Config: ClassVar[type[CollectorConfig]] = CollectorConfig

    def __init__(self, outputs: list[Any], *, fail_with: Exception | None = None) -> None:
        self.outputs = outputs
        self.fail_with = fail_with
        self.seen_state: dict[str, Any] | None = None

    def check(self, ctx: RunContext) -> None:
        return None

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[Any]:
        self.seen_state = state
        yield from self.outputs
        if self.fail_with is not None:
            raise self.fail_with


def ctx(instance: str = "scripted-1") -> RunContext:
    return RunContext(instance=instance, source="survey", channel="survey", config=CollectorConfig())


def item(i: int, text: str | None = None, **kw: Any) -> Item:
    return Item(external_id=str(i), text=text or f"第{i}条反馈：手机银行转账失败", created_at=WHEN, **kw)


def run(engine: Engine, outputs: list[Any], **kw: Any) -> RunReport:
    collector = ScriptedCollector(outputs, fail_with=kw.pop("fail_with", None))
    return run_collector(collector, ctx(kw.pop("instance", "scripted-1")), engine=engine, collector_type="scripted", **kw)


def stored_items(engine: Engine) -> list[FeedbackItem]:
    with session_scope(engine) as session:
        return list(session.exec(select(FeedbackItem).order_by(FeedbackItem.external_id)).all())


def test_counts_new_then_duplicates_then_updates(engine: Engine) -> None:
    first = run(engine, [item(1), item(2), item(3), Checkpoint({"page": 1})])
    assert (first.status, first.read, first.new, first.duplicates) == ("succeeded", 3, 3, 0)

    again = run(engine, [item(1), item(2), item(3), Checkpoint({"page": 1})])
    assert (again.read, again.new, again.duplicates, again.updated) == (3, 0, 3, 0)

    changed = run(engine, [item(1), item(2, "改过的内容"), Checkpoint({"page": 1})])
    assert (changed.new, changed.updated, changed.duplicates) == (0, 1, 1)
    assert [i.text for i in stored_items(engine)][1] == "改过的内容"
    assert len(stored_items(engine)) == 3

    with session_scope(engine) as session:
        runs = queries.list_runs(session=session)
        assert [(r.status, r.read, r.new, r.updated, r.duplicates) for r in runs] == [
            ("succeeded", 2, 0, 1, 1),
            ("succeeded", 3, 0, 0, 3),
            ("succeeded", 3, 3, 0, 0),
        ]


def test_duplicates_within_one_batch_are_stored_once(engine: Engine) -> None:
    report = run(engine, [item(1), item(1), item(2), Checkpoint({})])
    assert (report.read, report.new, report.duplicates) == (3, 2, 1)
    assert len(stored_items(engine)) == 2


def test_state_is_saved_with_the_checkpoint_and_handed_back(engine: Engine) -> None:
    run(engine, [item(1), Checkpoint({"cursor": "abc"})])
    collector = ScriptedCollector([])
    run_collector(collector, ctx(), engine=engine, collector_type="scripted")
    assert collector.seen_state == {"cursor": "abc"}


def test_failure_keeps_items_but_not_state_past_the_last_checkpoint(engine: Engine) -> None:
    report = run(
        engine,
        [item(1), Checkpoint({"cursor": 1}), item(2), item(3)],
        fail_with=TransientError("server said 503"),
    )
    assert report.status == "failed"
    assert report.error_class == "transient"
    assert "503" in (report.error or "")
    assert [i.external_id for i in stored_items(engine)] == ["1", "2", "3"]
    with session_scope(engine) as session:
        assert queries.get_state("scripted-1", session=session) == {"cursor": 1}
        (stored_run,) = queries.list_runs(session=session)
        assert stored_run.status == "failed" and stored_run.error_class == "transient"
        assert stored_run.read == 3 and stored_run.new == 3


def test_bad_records_are_quarantined_once_with_pii_redacted(engine: Engine) -> None:
    bad = BadRecord(
        raw={"内容": "请回电13812345678", "评分": "十"},
        reason="field rating: cannot read '十' as a rating",
        location="survey.csv row 7",
        field="rating",
        external_id="h:abc",
    )
    report = run(engine, [item(1), bad, Checkpoint({})])
    assert (report.read, report.new, report.quarantined) == (2, 1, 1)
    again = run(engine, [item(1), bad, Checkpoint({})])
    assert again.quarantined == 1  # still reported for this run ...
    with session_scope(engine) as session:
        records = session.exec(select(QuarantinedRecord)).all()
    assert len(records) == 1  # ... but stored once
    record = records[0]
    assert record.location == "survey.csv row 7" and record.field == "rating"
    payload = json.loads(record.payload)
    assert "13812345678" not in record.payload
    assert payload["评分"] == "十"
    assert payload["内容"].startswith("请回电")


def test_pii_is_redacted_in_text_and_extra_before_storage(engine: Engine) -> None:
    run(engine, [item(1, "我的手机13812345678，邮箱 zhang.san@example.com", extra={"备注": "回电 13912345678"}), Checkpoint({})])
    (stored,) = stored_items(engine)
    assert "13812345678" not in stored.text and "zhang.san@example.com" not in stored.text
    assert "13912345678" not in json.dumps(stored.extra, ensure_ascii=False)


def test_items_breaking_the_contract_are_quarantined_not_stored(engine: Engine) -> None:
    outputs = [
        Item(external_id="1", text="   "),
        Item(external_id="2", text="naive time", created_at=datetime(2026, 1, 1)),
        Item(external_id="3", text="bad nps", nps=11),
        Item(external_id="4", text="nul\x00byte"),
        Item(external_id="5", text="fine"),
        Checkpoint({}),
    ]
    report = run(engine, outputs)
    assert (report.read, report.new, report.quarantined) == (5, 1, 4)
    with session_scope(engine) as session:
        reasons = sorted(r.field or "" for r in session.exec(select(QuarantinedRecord)).all())
    assert reasons == ["created_at", "nps", "text", "text"]


def test_dry_run_writes_nothing(engine: Engine) -> None:
    report = run(engine, [item(1), Checkpoint({"x": 1})], dry_run=True)
    assert (report.read, report.new, report.run_id) == (1, 1, None)
    assert stored_items(engine) == []
    with session_scope(engine) as session:
        assert queries.list_runs(session=session) == []
        assert queries.get_state("scripted-1", session=session) is None


def test_items_without_a_checkpoint_are_flushed_in_bounded_batches(engine: Engine) -> None:
    progress: list[int] = []
    report = run(engine, [item(i) for i in range(25)], max_buffer=10, progress=lambda r: progress.append(r.read))
    assert report.new == 25
    assert progress == [10, 20, 25]


def test_hooks_are_told_what_was_stored(engine: Engine) -> None:
    stored_events: list[dict[str, Any]] = []
    finished: list[RunReport] = []
    hooks = PipelineHooks(on_items_stored=lambda **kw: stored_events.append(kw), on_run_finished=finished.append)
    run(engine, [item(1), item(2), Checkpoint({}), item(2), Checkpoint({})], hooks=hooks)
    assert [(e["new"], e["updated"]) for e in stored_events] == [(2, 0)]
    assert finished[0].new == 2 and finished[0].duplicates == 1


def test_a_failing_collector_does_not_stop_the_others(engine: Engine) -> None:
    class Broken(ScriptedCollector):
        def __init__(self) -> None:
            super().__init__([], fail_with=RuntimeError("boom"))

    class Works(ScriptedCollector):
        def __init__(self) -> None:
            super().__init__([item(1), Checkpoint({})])

    def instance(name: str, cls: type) -> CollectorInstance:
        return CollectorInstance(name, "scripted", cls, CollectorConfig(), "survey", "survey")

    reports = run_instances(
        [instance("broken", Broken), instance("works", Works)], engine=engine, timezone=ctx().timezone
    )
    assert [(r.collector, r.status, r.error_class) for r in reports] == [
        ("broken", "failed", "internal"),
        ("works", "succeeded", None),
    ]
    assert "RuntimeError: boom" in (reports[0].error or "")
    assert len(stored_items(engine)) == 1


def test_yielding_something_else_fails_the_run_clearly(engine: Engine) -> None:
    report = run(engine, [item(1), {"not": "an item"}])
    assert report.status == "failed"
    assert "expected Item, Checkpoint or BadRecord" in (report.error or "")
    assert len(stored_items(engine)) == 1


def test_run_rows_reflect_counts(engine: Engine) -> None:
    report = run(engine, [item(1), Checkpoint({})])
    with session_scope(engine) as session:
        stored = session.get(CollectorRun, report.run_id)
        assert stored is not None
        assert (stored.read, stored.new, stored.status) == (1, 1, "succeeded")
        assert stored.finished_at is not None and stored.finished_at >= stored.started_at
