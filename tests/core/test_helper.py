"""Preparing batches in a forked helper process: the same database as in this process,
duplicates recognised before they are mapped, failures and interrupts handled."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from bihuan.collectors.files import CsvCollector
from bihuan.collectors.rows import KeyedRow
from bihuan.core import helper
from bihuan.core.batches import BatchWriter
from bihuan.core.collector import RunContext
from bihuan.core.errors import InputError
from bihuan.core.pipeline import RunReport, run_collector
from bihuan.storage import queries
from bihuan.storage.engine import session_scope

needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")


def survey(path: Path, rows: int, *, changed: set[int] = frozenset(), repeat_every: int = 0) -> Path:
    """A survey export; row ``i`` in ``changed`` gets other text; every ``repeat_every``-th
    row repeats an id from a few rows back (within and across batches)."""
    lines = ["编号,提交时间,满意度评分,意见,网点\n"]
    for i in range(rows):
        ident = f"S{i - 7:05d}" if repeat_every and i % repeat_every == 0 and i >= 7 else f"S{i:05d}"
        body = f"第{i}条：转账失败" + ("，改过" if i in changed else "")
        if i % 9 == 0:
            body += "，电话13812345678"
        rating = "9" if i % 31 == 0 else str(1 + i % 5)  # some ratings out of range
        date = "2026-13-40" if i % 37 == 0 else f"2026-10-{1 + i % 28:02d} 09:{i % 60:02d}:00"
        lines.append(f"{ident},{date},{rating},{body},网点{i % 5} 13912345678\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def context(path: Path, **config: Any) -> RunContext:
    cfg = CsvCollector.Config(paths=[str(path)], checkpoint_every=config.pop("every", 50), **config)
    return RunContext(instance="import:t", source="t", channel="survey", config=cfg, timezone=ZoneInfo("Asia/Shanghai"))


def run(engine: Engine, path: Path, *, helper_on: bool, collector: Any = None, **config: Any) -> RunReport:
    return run_collector(
        collector or CsvCollector(), context(path, **config), engine=engine, collector_type="csv", helper=helper_on
    )


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything an import stores, without ids and times of day."""
    with engine.connect() as conn:
        items = conn.execute(
            text(
                "SELECT source, external_id, channel, text, rating, nps, customer_ref, created_at, url, extra,"
                " content_hash FROM feedback_item ORDER BY external_id"
            )
        ).all()
        quarantine = conn.execute(
            text("SELECT location, field, reason, payload, external_id, status FROM quarantined_record ORDER BY id")
        ).all()
        runs = conn.execute(
            text("SELECT status, read, new, updated, duplicates, quarantined FROM collector_run ORDER BY id")
        ).all()
        state = conn.execute(text("SELECT state FROM collector_state")).all()
    return {
        "items": [
            tuple(json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, dict) else v for v in row)
            for row in items
        ],
        "quarantine": [tuple(row) for row in quarantine],
        "runs": [tuple(row) for row in runs],
        "state": [json.loads(s) if isinstance(s, str) else s for (s,) in state],
    }


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ("quarantined_record", "feedback_item", "collector_state", "collector_run"):
            conn.execute(text(f"DELETE FROM {table}"))


@needs_fork
def test_the_helper_stores_what_this_process_stores(engine: Engine, tmp_path: Path) -> None:
    first = survey(tmp_path / "a.csv", 600, repeat_every=11)
    # the same export again, three rows changed: they update in place
    (tmp_path / "later").mkdir()
    second = survey(tmp_path / "later" / "a.csv", 600, changed={3, 100, 450}, repeat_every=11)
    results = []
    for helper_on in (False, True):
        clear(engine)
        reports = [run(engine, first, helper_on=helper_on)]
        reports.append(run(engine, first, helper_on=helper_on))  # stored already
        reports.append(run(engine, second, helper_on=helper_on))  # three rows changed
        results.append((snapshot(engine), [(r.read, r.new, r.updated, r.duplicates, r.quarantined) for r in reports]))
    (here, here_counts), (forked, forked_counts) = results
    assert forked == here
    assert forked_counts == here_counts
    assert here_counts[1][1] == 0 and here_counts[2][1] == 0
    assert here_counts[1][2] == 0 and here_counts[2][2] == 3
    assert here["quarantine"] and all("13812345678" not in q[3] for q in here["quarantine"])
    assert all("13812345678" not in row[3] and "13912345678" not in (row[9] or "") for row in here["items"])


@needs_fork
def test_ids_repeated_across_batches_are_counted_right_while_the_writer_lags(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # this process writes slowly, so the helper looks up batches whose predecessors
    # are not committed yet: those keys must be classified when written
    write = BatchWriter.write

    def slow_write(self: BatchWriter, batch: Any) -> None:
        time.sleep(0.02)
        write(self, batch)

    settled: list[int] = []
    settle = BatchWriter._settle

    def counting_settle(self: BatchWriter, rows: Any, raws: Any, counts: Any, session: Any) -> Any:
        settled.append(len(rows))
        return settle(self, rows, raws, counts, session)

    monkeypatch.setattr(BatchWriter, "write", slow_write)
    monkeypatch.setattr(BatchWriter, "_settle", counting_settle)
    path = tmp_path / "r.csv"
    lines = ["编号,意见\n"]
    for i in range(400):
        # batches of 30: every id again one or two batches later, when the batches
        # before are looked up (the lookup of batch n comes before batch n - 2 is written)
        lines.append(f"R{i % 45},第{i // 45}版意见{i % 45}\n")
    path.write_text("".join(lines), encoding="utf-8")
    counts = []
    for helper_on in (False, True):
        clear(engine)
        reports = [run(engine, path, helper_on=helper_on, every=30) for _ in range(2)]
        items = [(row[1], row[3], row[10]) for row in snapshot(engine)["items"]]  # no dates: stored at "now"
        counts.append(([(r.read, r.new, r.updated, r.duplicates, r.quarantined) for r in reports], items))
    assert counts[1] == counts[0]
    assert sum(settled) > 0, "the helper ran ahead of the writer: some rows were classified when written"
    (first, again), items = counts[0]
    # an id is read once per file: the first row of each id is stored, the later
    # versions are quarantined (they used to replace it, one after the other)
    assert first == (400, 45, 0, 0, 355)
    # re-read, nothing changes (it used to count every row as updated, forever)
    assert again == (400, 0, 0, 45, 355)
    texts = {key: body for key, body, _ in items}
    assert len(texts) == 45 and texts["R0"] == "第0版意见0" and texts["R44"] == "第0版意见44"


@needs_fork
def test_a_dry_run_in_the_helper_counts_what_a_run_would_and_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    first = survey(tmp_path / "a.csv", 400, repeat_every=11)
    (tmp_path / "later").mkdir()
    second = survey(tmp_path / "later" / "a.csv", 500, changed={2, 150, 333}, repeat_every=11)
    run(engine, first, helper_on=False)
    stored = snapshot(engine)
    counts = []
    for helper_on in (False, True):
        report = run_collector(
            CsvCollector(), context(second), engine=engine, collector_type="csv", helper=helper_on, dry_run=True
        )
        counts.append((report.read, report.new, report.updated, report.duplicates, report.quarantined))
        assert snapshot(engine) == stored
    assert counts[1] == counts[0]
    read, new, updated, duplicates, _ = counts[0]
    # S00002 and S00150 changed (S00333 has an invalid date in both files)
    assert read == 500 and new > 0 and updated == 2 and duplicates > 0
    real = run(engine, second, helper_on=True)
    assert (real.read, real.new, real.updated, real.duplicates, real.quarantined) == counts[0]


class _UnevenCsv(CsvCollector):
    """Reads blocks of 10 and 60 rows by turns."""

    def read_blocks(self, path: Path, ctx: RunContext, skip: int, sizes: Iterator[int]) -> Iterator[Any]:
        return super().read_blocks(path, ctx, skip, itertools.cycle([10, 60]))


@needs_fork
def test_batches_too_big_for_an_answer_are_looked_up_by_the_helper(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # answers hold 2 * max_buffer keys: the blocks of 10 are looked up here, those of
    # 60 by the helper, with ids repeated from a few rows back across both kinds
    answered: list[int] = []
    put = helper._Answers.put

    def counting_put(self: helper._Answers, number: int, committed: int, statuses: bytes) -> None:
        answered.append(len(statuses))
        put(self, number, committed, statuses)

    monkeypatch.setattr(helper._Answers, "put", counting_put)
    first = survey(tmp_path / "a.csv", 700, repeat_every=11)
    second = survey(tmp_path / "b.csv", 700, changed={5, 64, 300, 650}, repeat_every=11)
    results = []
    for helper_on in (False, True):
        clear(engine)
        reports = [
            run_collector(
                _UnevenCsv(),
                context(path, every=70),
                engine=engine,
                collector_type="csv",
                helper=helper_on,
                max_buffer=10,
            )
            for path in (first, first, second)
        ]
        results.append((snapshot(engine), [(r.read, r.new, r.updated, r.duplicates, r.quarantined) for r in reports]))
    assert results[1] == results[0]
    assert answered and max(answered) <= 20, "the blocks of 10 were looked up by this process"
    assert len(answered) == 3 * 10, "and only those"
    # the same file again adds nothing (its repeated ids count as updated, as in-process)
    assert results[0][1][1][1] == 0


def test_stored_rows_are_counted_as_duplicates_without_being_mapped(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = survey(tmp_path / "d.csv", 300)
    first = run(engine, path, helper_on=False)
    built: list[str] = []
    fields = KeyedRow.fields

    def counting(self: KeyedRow) -> Any:
        built.append(self.external_id)
        return fields(self)

    monkeypatch.setattr(KeyedRow, "fields", counting)
    again = run(engine, path, helper_on=False)
    assert (again.read, again.new, again.updated) == (300, 0, 0)
    assert again.duplicates == first.new
    # only the rows that were quarantined the first time are mapped again
    assert len(built) == first.quarantined
    assert again.quarantined == first.quarantined


class _FailingCsv(CsvCollector):
    """Reads 120 rows, then fails the way it is told to."""

    how: ClassVar[str] = "data"

    def read_blocks(self, path: Path, ctx: RunContext, skip: int, sizes: Iterator[int]) -> Iterator[Any]:
        read = 0
        for block, consumed in super().read_blocks(path, ctx, skip, sizes):
            yield block, consumed
            read += consumed
            if read >= 120:
                if self.how == "data":
                    raise InputError(f"{path}: the disk went away")
                if self.how == "bug":
                    raise ValueError("a bug in the reader")
                os._exit(7)  # the helper dies


@needs_fork
@pytest.mark.parametrize(
    ("how", "error_class", "message"),
    [
        ("data", "data", "the disk went away"),
        ("bug", "internal", "ValueError: a bug in the reader"),
        ("die", "internal", "stopped unexpectedly (exit code 7)"),
    ],
)
def test_a_failure_in_the_helper_fails_the_run_and_keeps_what_was_read(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, error_class: str, message: str
) -> None:
    monkeypatch.setattr(_FailingCsv, "how", how)
    path = tmp_path / "f.csv"
    path.write_text("编号,意见\n" + "".join(f"F{i},意见{i}\n" for i in range(300)), encoding="utf-8")
    report = run(engine, path, helper_on=True, collector=_FailingCsv(), every=40)
    assert (report.status, report.error_class) == ("failed", error_class)
    assert message in (report.error or "")
    with session_scope(engine) as session:
        stored = queries.count_items(session=session)
        state = queries.get_state("import:t", session=session)
    # a helper that dies has sent the batches it had built: here the first of the three
    # it read (it builds a batch two batches later); the state never runs ahead of them
    assert stored >= 40 if how == "die" else stored == 120
    assert state is not None and next(iter(state["files"].values()))["rows_done"] <= stored
    assert multiprocessing.active_children() == []


@needs_fork
def test_an_interrupt_stops_and_reaps_the_helper(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids: list[int] = []
    start = helper.HelperBatches.__init__

    def remember(self: helper.HelperBatches, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        pids.append(self._process.pid)  # type: ignore[arg-type]

    def interrupted(self: BatchWriter, batch: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(helper.HelperBatches, "__init__", remember)
    monkeypatch.setattr(BatchWriter, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(engine, survey(tmp_path / "i.csv", 2_000), helper_on=True)
    assert multiprocessing.active_children() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)
    with session_scope(engine) as session:
        (stored_run,) = queries.list_runs(session=session)
    # status interrupted (failed before issue 15), as a run whose process was killed
    assert (stored_run.status, stored_run.error_class) == ("interrupted", "interrupted")


def test_without_fork_the_batches_are_prepared_here(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(helper, "HelperBatches", None)  # would fail if used
    report = run(engine, survey(tmp_path / "n.csv", 100), helper_on=True)
    assert report.status == "succeeded" and report.new > 0


def test_when_a_helper_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = survey(tmp_path / "small.csv", 10)
    big = tmp_path / "big.csv"
    big.write_text("编号,意见\n" + "x,y\n" * (helper.HELPER_MIN_BYTES // 4 + 1), encoding="utf-8")
    forkable = "fork" in multiprocessing.get_all_start_methods()
    monkeypatch.delenv(helper.HELPER_ENV, raising=False)
    assert helper.helper_wanted(CsvCollector(), context(big)) is forkable
    assert helper.helper_wanted(CsvCollector(), context(small)) is False
    assert helper.helper_wanted(CsvCollector(), context(small), requested=True) is forkable
    assert helper.helper_wanted(CsvCollector(), context(big), requested=False) is False
    monkeypatch.setenv(helper.HELPER_ENV, "never")
    assert helper.helper_wanted(CsvCollector(), context(big)) is False
    monkeypatch.setenv(helper.HELPER_ENV, "always")
    assert helper.helper_wanted(CsvCollector(), context(small)) is forkable

    class NotForkable(CsvCollector):
        forkable = False

    assert helper.helper_wanted(NotForkable(), context(big), requested=True) is False
