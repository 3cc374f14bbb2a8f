"""The file rules of the pipeline across batches, in this process and in the forked helper,
and across a killed and resumed import: an id is read once per file, and a file does
not change what another file stored."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from bihuan.collectors.files import CsvCollector
from bihuan.core import helper
from bihuan.core.collector import RunContext
from bihuan.core.errors import InputError
from bihuan.core.pipeline import RunReport, run_collector
from bihuan.tui.cli import cli

needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")


def tickets(path: Path, rows: int, *, version: str = "", repeat_every: int = 0) -> Path:
    """A ticket export; every ``repeat_every``-th row repeats the ticket of 40 rows back
    with other content (within a batch and across batches)."""
    lines = ["工单号,受理时间,投诉内容,处理状态\n"]
    for i in range(rows):
        repeat = repeat_every and i % repeat_every == 0 and i >= 40
        ticket = i - 40 if repeat else i
        body = f"工单{ticket}：信用卡年费{version}" + ("（再次导出）" if repeat else "")
        lines.append(f"GD{20261201_0000 + ticket},2026-12-01 09:{i % 60:02d},{body},处理中\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def context(path: Path, **config: Any) -> RunContext:
    from zoneinfo import ZoneInfo

    cfg = CsvCollector.Config(paths=[str(path)], checkpoint_every=config.pop("every", 30), **config)
    return RunContext(instance="import:t", source="t", channel="ticket", config=cfg, timezone=ZoneInfo("Asia/Shanghai"))


def run(engine: Engine, path: Path, *, helper_on: bool, collector: Any = None, **config: Any) -> RunReport:
    return run_collector(
        collector or CsvCollector(), context(path, **config), engine=engine, collector_type="csv", helper=helper_on
    )


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT external_id, text, origin FROM feedback_item ORDER BY 1"))]


def quarantine(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT location, reason FROM quarantined_record ORDER BY id"))]


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ("quarantined_record", "feedback_item", "collector_state", "collector_run"):
            conn.execute(text(f"DELETE FROM {table}"))


def numbers(report: RunReport) -> tuple[int, ...]:
    return (
        report.read,
        report.new,
        report.updated,
        report.duplicates,
        report.quarantined,
        report.refused_updates,
        report.repeated_ids,
        report.updated_across_files,
    )


@needs_fork
def test_the_file_rules_hold_across_batches_in_this_process_and_in_the_helper(engine: Engine, tmp_path: Path) -> None:
    first = tickets(tmp_path / "day1.csv", 300, repeat_every=7)
    again = (
        tickets(tmp_path / "later" / "day1.csv", 300, repeat_every=7) if (tmp_path / "later").mkdir() is None else None
    )
    assert again is not None
    other = tickets(tmp_path / "day2.csv", 300, version="（改）", repeat_every=7)
    results = []
    for helper_on in (False, True):
        clear(engine)
        reports = [
            run(engine, first, helper_on=helper_on),
            run(engine, again, helper_on=helper_on),  # the same export again
            run(engine, other, helper_on=helper_on),  # another file, every ticket changed
            run(engine, other, helper_on=helper_on, update_across_files=True),
        ]
        results.append(([numbers(r) for r in reports], stored(engine), quarantine(engine)))
    assert results[1] == results[0]
    counts, items, quarantined = results[0]
    repeats = sum(1 for i in range(300) if i % 7 == 0 and i >= 40)
    assert counts[0] == (300, 300 - repeats, 0, 0, repeats, 0, repeats, 0)
    assert counts[1] == (300, 0, 0, 300 - repeats, repeats, 0, repeats, 0), "a re-import changes nothing"
    # every ticket of day 2 would replace day 1's: refused; its repeats are repeats still
    assert counts[2] == (300, 0, 0, 0, 300, 300 - repeats, repeats, 0)
    assert counts[3] == (300, 0, 300 - repeats, 0, repeats, 0, repeats, 300 - repeats)
    assert len(items) == 300 - repeats and all("（改）" in body for _, body, _ in items)
    assert all(origin.startswith("day2.csv row ") for _, _, origin in items)
    assert any("already read at day1.csv row" in reason for _, reason in quarantined)
    assert any("is stored from day1.csv row" in reason for _, reason in quarantined)


class _DyingCsv(CsvCollector):
    """Reads 120 rows, then fails (a killed import, as far as the state can tell)."""

    def read_blocks(self, path: Path, ctx: RunContext, skip: int, sizes: Iterator[int]) -> Iterator[Any]:
        read = 0
        for block, consumed in super().read_blocks(path, ctx, skip, sizes):
            yield block, consumed
            read += consumed
            if read >= 120:
                raise InputError(f"{path}: the disk went away")


@pytest.mark.parametrize("helper_on", [False, pytest.param(True, marks=needs_fork)])
def test_a_resumed_import_still_reads_each_id_once(engine: Engine, tmp_path: Path, helper_on: bool) -> None:
    path = tickets(tmp_path / "t.csv", 300, repeat_every=7)
    whole = run(engine, path, helper_on=helper_on)
    expected = stored(engine)
    clear(engine)
    broken = run(engine, path, helper_on=helper_on, collector=_DyingCsv())
    assert broken.status == "failed" and broken.read == 120
    resumed = run(engine, path, helper_on=helper_on)
    assert resumed.read == 180
    # the rows after the kill that repeat a ticket read before it are repeats, not updates
    assert resumed.updated == 0
    assert stored(engine) == expected
    assert broken.quarantined + resumed.quarantined == whole.quarantined


def daily(path: Path, day: int, rows: int) -> Path:
    with path.open("w", encoding="gbk", newline="") as out:
        out.write("序号,提交时间,满意度,您的意见或建议,网点\n")
        for i in range(1, rows + 1):
            out.write(f"{i},2026-12-{day:02d} {i % 24:02d}:{i % 60:02d}:{i % 59:02d},{1 + i % 5},")
            out.write(f"第{day}天第{i}条：手机银行转账失败，客服也联系不上,网点{i % 40}\n")
    return path


def test_big_daily_exports_take_the_helper_and_keep_every_day(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(helper.HELPER_ENV, raising=False)
    rows = 18_000
    day1, day2 = daily(tmp_path / "1201.csv", 1, rows), daily(tmp_path / "1202.csv", 2, rows)
    assert day1.stat().st_size >= helper.HELPER_MIN_BYTES, "big enough for the helper process"
    forks: list[int] = []
    start = helper.HelperBatches.__init__

    def counting(self: helper.HelperBatches, *args: Any, **kwargs: Any) -> None:
        forks.append(1)
        start(self, *args, **kwargs)

    monkeypatch.setattr(helper.HelperBatches, "__init__", counting)
    runner = CliRunner()
    for day in (day1, day2):
        result = runner.invoke(cli, ["--db", db_url, "import", str(day), "--source", "survey"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert f"read {rows} new {rows} updated 0" in result.output
    assert len(forks) == (2 if "fork" in multiprocessing.get_all_start_methods() else 0)
    from bihuan.storage.engine import create_db_engine

    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM feedback_item")).scalar() == 2 * rows
    engine.dispose()
