"""``collect_keyed``: the pipeline's way of reading files — the same records and checkpoints
as ``collect``, in blocks, rows keyed before they are mapped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bihuan.collectors.base import BLOCK_RECORDS, block_sizes, blocks_of
from bihuan.collectors.files import CsvCollector, JsonlCollector, XlsxCollector
from bihuan.collectors.rows import KeyedRow
from bihuan.core.pipeline import item_problem
from bihuan.core.types import BadRecord, Checkpoint, Item, KeyedRecord, ReadInfo

TRICKY = (
    "编号,提交时间,满意度评分,推荐意愿,意见,网点\n"
    "S1,2026-10-01 09:00:00,5,9,很好,朝阳\n"
    "\n"
    "S2,2026/10/2 9:05,4,8,转账慢，电话13812345678,\n"
    "S3,2026-13-45,4,8,日期不对,海淀\n"  # invalid date: found when the row is built
    "S4,2026-10-04,9,8,评分超出,海淀\n"  # rating outside 0..5
    "S5,2026-10-05,3,5,,海淀\n"  # empty text
    "S6,2026-10-06,3,5,多了一格,海淀,extra\n"  # ragged: mapped at once
    "S7,2026-10-07,3\n"  # too short: the text column is missing
    ",2026-10-08,3,5,没有编号,东城\n"  # content id
    f"{'X' * 301},2026-10-09,3,5,编号太长,东城\n"
    "S1,2026-10-10,2,2,同一编号再来一次,朝阳\n"
    "S11,2026-10-11,1,0,含NUL\x00的行,朝阳\n"
    ",,,,,\n"  # only separators: blank
    "S13,2026-10-13,1,0,最后一行,朝阳\n"
)


def built(output: Any) -> Any:
    return output.build() if isinstance(output, KeyedRecord) else output


def as_comparable(output: Any) -> Any:
    if isinstance(output, Checkpoint):
        return ("checkpoint", output.state)
    if isinstance(output, ReadInfo):
        return ("info", output.where, output.details)
    if isinstance(output, Item):
        return ("item", output)
    return ("bad", output.location, output.field, output.reason, output.raw, output.external_id)


def flatten_keyed(outputs: Any) -> list[Any]:
    flat: list[Any] = []
    for output in outputs:
        if isinstance(output, list):
            flat.extend(built(o) for o in output)
        else:
            flat.append(output)
    return flat


@pytest.mark.parametrize("every", [1, 2, 3, 5, 100])
def test_csv_keyed_reading_yields_what_collect_yields(tmp_path: Path, context, every: int) -> None:
    path = tmp_path / "t.csv"
    path.write_text(TRICKY, encoding="utf-8")
    ctx = context(CsvCollector(), [path], checkpoint_every=every)
    plain = [as_comparable(o) for o in CsvCollector().collect(ctx, None)]
    keyed = [as_comparable(o) for o in flatten_keyed(CsvCollector().collect_keyed(ctx, None))]
    assert keyed == plain
    assert any(kind == "bad" for kind, *_ in plain) and any(kind == "checkpoint" for kind, *_ in plain)


def test_keyed_reading_resumes_where_collect_resumes(tmp_path: Path, context) -> None:
    path = tmp_path / "t.csv"
    path.write_text(TRICKY, encoding="utf-8")
    ctx = context(CsvCollector(), [path], checkpoint_every=4)
    state = next(o.state for o in CsvCollector().collect(ctx, None) if isinstance(o, Checkpoint))
    plain = [as_comparable(o) for o in CsvCollector().collect(ctx, state)]
    keyed = [as_comparable(o) for o in flatten_keyed(CsvCollector().collect_keyed(ctx, state))]
    assert keyed == plain


def test_rows_come_keyed_and_build_into_valid_items(tmp_path: Path, context) -> None:
    path = tmp_path / "t.csv"
    path.write_text(TRICKY, encoding="utf-8")
    ctx = context(CsvCollector(), [path])
    records = [r for block in CsvCollector().collect_keyed(ctx, None) if isinstance(block, list) for r in block]
    keyed = [r for r in records if isinstance(r, KeyedRow)]
    # ragged, NUL and over-long-id rows are mapped at once; the others wait
    assert {r.external_id for r in keyed} >= {"S1", "S2", "S3", "S4", "S5", "S13"}
    assert not any(r.external_id in ("S6", "S7", "S11") for r in keyed)
    for record in keyed:
        item = record.build()
        if isinstance(item, Item):
            assert (item.external_id, item.content_hash) == (record.external_id, record.content_hash)
            assert item_problem(item) is None
        else:
            assert isinstance(item, BadRecord)


def test_xlsx_and_jsonl_keyed_reading_yields_what_collect_yields(tmp_path: Path, context) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["工单号", "投诉内容", "评分"])
    for i in range(7):
        sheet.append([f"T{i}", f"投诉{i}" if i != 3 else None, 9 if i == 5 else 3])
    xlsx = tmp_path / "t.xlsx"
    workbook.save(xlsx)
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"id": 1, "text": "a"}\n\nnot json\n{"id": 2, "text": "b"}\n', encoding="utf-8")
    for collector, path in ((XlsxCollector(), xlsx), (JsonlCollector(), jsonl)):
        ctx = context(collector, [path], checkpoint_every=2)
        plain = [as_comparable(o) for o in collector.collect(ctx, None)]
        keyed = [as_comparable(o) for o in flatten_keyed(collector.collect_keyed(ctx, None))]
        assert keyed == plain, path.name


def test_block_sizes_end_at_checkpoints_and_stay_bounded() -> None:
    def take(skip: int, every: int, n: int) -> list[int]:
        sizes = block_sizes(skip, every)
        return [next(sizes) for _ in range(n)]

    assert take(0, 3, 3) == [3, 3, 3]
    assert take(7, 3, 3) == [2, 3, 3]
    assert take(0, 12_000, 4) == [BLOCK_RECORDS, BLOCK_RECORDS, 2_000, BLOCK_RECORDS]
    assert take(13_000, 12_000, 2) == [BLOCK_RECORDS, BLOCK_RECORDS]


def test_blocks_keep_what_was_read_before_a_failure() -> None:
    def outputs() -> Any:
        yield Item("1", "a")
        yield None
        yield Item("2", "b")
        raise OSError("disk gone")

    blocks = blocks_of(outputs(), iter([10, 10]))
    records, consumed = next(blocks)
    assert [r.external_id for r in records] == ["1", "2"] and consumed == 3
    with pytest.raises(OSError, match="disk gone"):
        next(blocks)
