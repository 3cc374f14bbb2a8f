"""Where the header is, which column only numbers rows, and which column keys a file."""

from __future__ import annotations

from typing import Any

import pytest

from bihuan.collectors.fields import plan_columns
from bihuan.collectors.layout import choose_key, find_header, row_number_run
from bihuan.core.errors import CollectorConfigError


@pytest.mark.parametrize(
    ("values", "header", "expected"),
    [
        (["1", "2", "3"], "编号", "1..3"),
        (["0", "1", "2", "3"], "id", "0..3"),
        (["001", "002", "003"], "记录编号", "1..3"),  # zero-padded
        (["１", "２"], "编号", "1..2"),  # full-width digits, as some exports write them
        (["101", "102", "103"], "序号", "101..103"),  # a continued page, named like a row number
        (["101", "102", "103"], "编号", None),  # not from 1 under another name: an id
        (["7"], "序号", "7..7"),
        (["1"], "编号", None),  # one row proves nothing
        (["1", "2", "4"], "序号", None),  # a gap
        (["3", "2", "1"], "序号", None),
        (["1", "2", "2"], "序号", None),
        (["GD202612010001", "GD202612010002"], "工单号", None),  # a real ticket number
        (["20261201001", "20261201002"], "编号", None),
        (["R1", "R2", "R3"], "编号", None),  # restarts too, but only stored items can tell
        (["1", "", "3"], "序号", None),
        ([], "序号", None),
    ],
)
def test_row_number_runs(values: list[str], header: str, expected: str | None) -> None:
    assert row_number_run(values, header) == expected


def rows_of(*rows: list[Any]) -> list[tuple[int, list[Any]]]:
    return [(number, row) for number, row in enumerate(rows, start=1)]


def test_the_first_row_is_the_header_when_it_names_a_text_column() -> None:
    header = find_header(rows_of(["编号", "意见"], ["A1", "好"]), header_row=None, mapping=None, where="f")
    assert header is not None and (header.names, header.row, header.skipped) == (["编号", "意见"], 1, [])


def test_title_rows_and_report_facts_are_skipped() -> None:
    rows = rows_of(
        ["2026年11月客户意见汇总表", None, None],  # one cell; 意见 in it does not make it a header
        [None, None, None],
        ["导出时间", "2026-12-01", None],
        ["编号", "提交时间", "意见"],
        ["A1", "2026-11-30", "很好"],
    )
    header = find_header(rows, header_row=None, mapping=None, where="f")
    assert header is not None and header.names == ["编号", "提交时间", "意见"] and header.row == 4
    assert header.skipped == [(1, "2026年11月客户意见汇总表"), (3, "导出时间 2026-12-01")]


def test_a_single_column_file_keeps_its_one_cell_header() -> None:
    header = find_header(rows_of(["意见"], ["很好"], ["不好"]), header_row=None, mapping=None, where="f")
    assert header is not None and header.row == 1


def test_a_data_row_below_a_header_without_text_is_not_taken_for_the_header() -> None:
    # the header has no text column (the caller reports it), the data below happens to
    # contain 意见: a full row above means the rows below are data
    header = find_header(rows_of(["编号", "评分"], ["1", "意见很大"]), header_row=None, mapping=None, where="f")
    assert header is not None and header.row == 1


def test_a_two_row_header_under_merged_cells_is_joined() -> None:
    rows = rows_of(
        ["XX银行2026年11月客户投诉明细表", None, None, None, None, None, None],
        ["序号", "受理信息", None, None, "客户诉求", "处理信息", None],
        [None, "工单号", "时间", "渠道", None, "处理意见", "时间"],
        [1, "GD1", "2026-11-01 09:00", "热线", "年费", "已退", "2026-11-02"],
    )
    header = find_header(rows, header_row=None, mapping=None, where="f")
    assert header is not None and header.rows == (2, 3) and header.row == 3
    # sub-headers name the columns, a cell merged down both rows keeps its name, and a
    # sub-header that repeats gets its group
    assert header.names == ["序号", "工单号", "受理信息/时间", "渠道", "客户诉求", "处理意见", "处理信息/时间"]
    assert plan_columns(header.names).columns["created_at"] == 2


def test_data_under_a_header_with_an_empty_name_is_not_a_sub_header() -> None:
    rows = rows_of(["编号", None, "意见"], ["A1", "网点甲", "很好"], ["A2", "网点乙", "不好"])
    header = find_header(rows, header_row=None, mapping=None, where="f")
    assert header is not None and header.rows == (1,)


def test_header_row_names_the_row() -> None:
    rows = rows_of(["标题"], ["编号", "意见"], ["A1", "好"])
    header = find_header(rows, header_row=2, mapping=None, where="f.csv")
    assert header is not None and (header.row, header.how) == (2, "--header-row")
    with pytest.raises(CollectorConfigError, match=r"f.csv: --header-row 9: row 9 is beyond the rows read \(3\)"):
        find_header(rows, header_row=9, mapping=None, where="f.csv")


def test_a_mapping_finds_the_header_that_has_its_column() -> None:
    rows = rows_of(["说明", "本表"], ["编号", "客户留言原文"], ["A1", "好"])
    # 说明/本表 has no text column, but neither has the real header without --map
    header = find_header(rows, header_row=None, mapping={"text": "客户留言原文"}, where="f")
    assert header is not None and header.row == 2


def key_of(header: list[str], sample: list[list[Any]] | None, **options: Any) -> tuple[str | None, dict[str, str]]:
    columns = plan_columns(header).columns
    choice = choose_key(
        header, columns, explicit=options.get("explicit"), no_id=options.get("no_id", False), sample=sample
    )
    return (header[choice.column] if choice.column is not None else None), {
        header[i]: run for i, run in choice.row_numbers.items()
    }


def test_the_key_is_the_first_id_column_that_does_not_count_rows() -> None:
    header = ["序号", "工单号", "投诉内容"]
    sample = [["1", "GD202612010001", "a"], ["2", "GD202612010002", "b"]]
    assert key_of(header, sample) == ("工单号", {"序号": "1..2"})
    assert key_of(["编号", "意见"], [["1", "a"], ["2", "b"]]) == (None, {"编号": "1..2"})
    assert key_of(["编号", "意见"], [["A7", "a"], ["A9", "b"]]) == ("编号", {})
    assert key_of(["编号", "意见"], None) == ("编号", {}), "without a sample (JSON) an id column is trusted"
    # an unnamed column counting from 0 (a pandas index) is no content either
    assert key_of(["", "意见"], [["0", "a"], ["1", "b"]]) == (None, {"": "0..1"})


def test_the_user_decides_the_key() -> None:
    header, sample = ["序号", "意见"], [["1", "a"], ["2", "b"]]
    columns = plan_columns(header, {"external_id": "序号"}).columns
    choice = choose_key(header, columns, explicit="--id-column", no_id=False, sample=sample)
    assert choice.column == 0 and choice.row_numbers == {}
    assert "chosen with --id-column (its values count the rows, 1..2" in choice.reason
    assert key_of(["工单号", "意见"], [["GD1", "a"]], no_id=True) == (None, {})


def test_a_tsv_with_a_title_line_is_read_with_tabs(tmp_path, collect) -> None:  # type: ignore[no-untyped-def]
    from bihuan.collectors.files import CsvCollector

    path = tmp_path / "s.tsv"
    path.write_text("XX银行客户意见表\n编号\t意见\t网点\nA1\t很好，谢谢, 非常满意\t朝阳\n", encoding="utf-8")
    [item] = collect(CsvCollector(), path).items
    assert (item.external_id, item.text, item.extra, item.origin) == (
        "A1",
        "很好，谢谢, 非常满意",
        {"网点": "朝阳"},
        "s.tsv row 3",
    )
