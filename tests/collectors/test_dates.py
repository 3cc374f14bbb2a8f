"""Timestamps the pipeline refuses: beyond the horizon ahead of the run, or before the
floor (placeholders for "no date"), quarantined with file, row, field and reason — on
both import paths (in this process and in the forked helper), for CSV, XLSX and JSONL,
through the real CLI on both backends; and Excel serial numbers only from a workbook."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from openpyxl import Workbook
from sqlalchemy import text

from bihuan.core import pipeline
from bihuan.storage.engine import create_db_engine
from bihuan.tui.cli import cli

SH = ZoneInfo("Asia/Shanghai")


def cli_run(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)


def stored_dates(db: str, source: str) -> dict[str, datetime]:
    engine = create_db_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT external_id, created_at FROM feedback_item WHERE source = :s"), {"s": source}
        ).all()
    engine.dispose()
    found = {key: at if isinstance(at, datetime) else datetime.fromisoformat(at) for key, at in rows}
    return {key: at if at.tzinfo else at.replace(tzinfo=UTC) for key, at in found.items()}  # SQLite: UTC text


def quarantine(db: str) -> dict[str, dict[str, Any]]:
    result = cli_run(db, "quarantine", "list", "--json")
    assert result.exit_code == 0, result.output
    return {r["location"]: r for r in json.loads(result.stdout)}


def local(moment: datetime) -> str:
    return moment.astimezone(SH).strftime("%Y-%m-%d %H:%M")


def survey(path: Path) -> Path:
    """Rows 2..9 of a survey export: two sound dates and six the pipeline refuses or keeps
    by the configuration (the file is written when the test runs: "now" is real)."""
    now = datetime.now(SH)
    rows = [
        ("A1", local(now - timedelta(days=3)), "上周转账失败"),
        ("A2", "2099-01-01 09:00", "年份写错了"),
        ("A3", "2062/5/1 10:00", "又一个写错的年份"),
        ("A4", local(now + timedelta(days=2)), "两天以后"),
        ("A5", local(now + timedelta(hours=12)), "时钟快了半天"),
        ("A6", "1900-01-01", "Excel 的空日期"),
        ("A7", "1970-01-01 08:00", "纪元零点"),
        ("A8", "2000-01-01 00:00", "第一天"),
    ]
    path.write_text("编号,提交时间,意见\n" + "".join(f"{k},{d},{t}\n" for k, d, t in rows), encoding="utf-8")
    return path


needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")


@pytest.mark.parametrize("helper", ["never", pytest.param("always", marks=needs_fork)])
def test_dates_beyond_the_horizon_or_before_the_floor_are_quarantined_with_row_and_reason(
    db_url: str, tmp_path: Path, helper: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIHUAN_HELPER_PROCESS", helper)  # "always": batches prepared in a forked helper
    forked: list[bool] = []

    class Recorded(pipeline.HelperBatches):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            forked.append(True)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pipeline, "HelperBatches", Recorded)
    path = survey(tmp_path / "dates.csv")
    result = cli_run(db_url, "import", str(path), "--json")
    assert result.exit_code == 3, result.output  # 3: records were quarantined
    assert forked == ([True] if helper == "always" else [])
    report = json.loads(result.stdout)
    assert (report["read"], report["new"], report["quarantined"]) == (8, 3, 5)
    assert sorted(stored_dates(db_url, "dates")) == ["A1", "A5", "A8"]

    refused = quarantine(db_url)
    assert sorted(refused) == [f"dates.csv row {n}" for n in (3, 4, 5, 7, 8)]
    assert {r["field"] for r in refused.values()} == {"created_at"}
    assert refused["dates.csv row 3"]["reason"].startswith(
        "created_at 2099-01-01 09:00 (Asia/Shanghai) is in the future"
    )
    assert "future_horizon_days" in refused["dates.csv row 3"]["reason"]
    assert "is in the future" in refused["dates.csv row 4"]["reason"]  # 2062
    assert "is in the future" in refused["dates.csv row 5"]["reason"]  # two days ahead
    assert refused["dates.csv row 7"]["reason"].startswith(
        "created_at 1900-01-01 00:00 (Asia/Shanghai) is before 2000-01-01"
    )
    assert "earliest_date" in refused["dates.csv row 8"]["reason"]
    assert json.loads(refused["dates.csv row 3"]["payload"])["编号"] == "A2"  # the row as read, to fix and retry
    fixed = cli_run(
        db_url, "quarantine", "retry", str(refused["dates.csv row 3"]["id"]), "--set", "提交时间=2026-10-01 09:05"
    )
    assert fixed.exit_code == 0, fixed.output
    assert stored_dates(db_url, "dates")["A2"] == datetime(2026, 10, 1, 1, 5, tzinfo=UTC)

    # both limits are settings: with a wider window the same file stores what was refused
    config = tmp_path / "plugins.toml"
    config.write_text("[bihuan]\nfuture_horizon_days = 3\nearliest_date = 1900-01-01\n", encoding="utf-8")
    again = CliRunner().invoke(cli, ["--db", db_url, "--config", str(config), "import", str(path), "--json"])
    assert again.exit_code == 3, again.output
    report = json.loads(again.stdout)
    # the rows dated 2099 and 2062 are still refused (A2 stays as its fixed retry stored it)
    assert (report["new"], report["duplicates"], report["quarantined"]) == (3, 3, 2)
    dates = stored_dates(db_url, "dates")
    assert sorted(dates) == ["A1", "A2", "A4", "A5", "A6", "A7", "A8"]
    assert dates["A6"].astimezone(SH).date().isoformat() == "1900-01-01"


def test_a_bad_horizon_setting_is_a_configuration_error(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text("[bihuan]\nfuture_horizon_days = -1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", db_url, "--config", str(config), "import", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "bihuan.future_horizon_days" in result.output


def test_excel_serial_numbers_are_dates_only_in_a_workbook(db_url: str, tmp_path: Path) -> None:
    """46296.378 in a workbook's date column is 2026-10-01 09:05; the same number in a
    JSON line is no date. Excel's empty date (1900-01-01) is refused as a placeholder."""
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "提交时间", "意见"])
    sheet.append(["X1", 46296.37847222222, "数字格式的日期"])
    sheet.append(["X2", datetime(2026, 10, 1, 9, 5), "日期格式的日期"])
    sheet.append(["X3", datetime(1900, 1, 1), "空日期显示成 1900-01-01"])
    book.save(tmp_path / "cells.xlsx")
    lines = [
        {"编号": "J1", "提交时间": 46296.37847222222, "意见": "JSON 里的数字不是 Excel 日期"},
        {"编号": "J2", "提交时间": 1790816700000, "意见": "毫秒时间戳"},
    ]
    (tmp_path / "lines.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), "utf-8")

    result = cli_run(db_url, "import", str(tmp_path / "cells.xlsx"), str(tmp_path / "lines.jsonl"), "--json")
    assert result.exit_code == 3, result.output
    nine_o_five = datetime(2026, 10, 1, 1, 5, tzinfo=UTC)
    cells, jsonl = stored_dates(db_url, "cells"), stored_dates(db_url, "lines")
    assert sorted(cells) == ["X1", "X2"] and cells["X1"] == cells["X2"] == nine_o_five
    assert sorted(jsonl) == ["J2"] and jsonl["J2"] == nine_o_five
    refused = quarantine(db_url)
    assert refused["cells.xlsx sheet Sheet row 4"]["reason"].startswith(
        "created_at 1900-01-01 00:00 (Asia/Shanghai) is before"
    )
    assert refused["lines.jsonl line 1"]["field"] == "created_at"
    assert refused["lines.jsonl line 1"]["reason"].startswith("invalid date '46296.37847222222'")
