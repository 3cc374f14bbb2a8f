"""The file collectors on real files: encodings, headers, bad rows, resume, XLSX, JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bihuan.collectors.files import CsvCollector, JsonlCollector, XlsxCollector
from bihuan.core.collector import RunContext
from bihuan.core.errors import CollectorConfigError, InputError, MissingInputError, RecordError
from bihuan.core.types import BadRecord, Checkpoint, Item

SURVEY_HEADER = "编号,提交时间,满意度评分,推荐意愿(0-10分),您的意见或建议,客户编号,网点\n"


def context(collector: Any, paths: Iterable[Path], channel: str = "survey", **options: Any) -> RunContext:
    config = collector.Config(paths=[str(p) for p in paths], **options)
    return RunContext(instance="test", source="test", channel=channel, config=config, timezone=ZoneInfo("Asia/Shanghai"))


def read_all(collector: Any, path: Path, state: dict | None = None, **options: Any) -> list[Any]:
    ctx = context(collector, [path], **options)
    collector.check(ctx)
    return list(collector.collect(ctx, state))


def items(outputs: list[Any]) -> list[Item]:
    return [o for o in outputs if isinstance(o, Item)]


def bad(outputs: list[Any]) -> list[BadRecord]:
    return [o for o in outputs if isinstance(o, BadRecord)]


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig", "utf-16"])
def test_encodings_are_detected_without_being_told(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "survey.csv"
    body = SURVEY_HEADER + "S1,2026/10/1 9:05,2,3,手机银行转账一直转圈，㐀字也在,C1,朝阳支行\r\n"
    if encoding == "gbk":
        body = body.replace("，㐀字也在", "")  # GBK has no 㐀; GB18030 has
    path.write_bytes(body.encode(encoding))
    [item] = items(read_all(CsvCollector(), path))
    assert item.text.startswith("手机银行转账一直转圈")
    assert item.external_id == "S1" and item.customer_ref == "C1"
    assert item.rating == 2 and item.nps == 3
    assert item.created_at == datetime(2026, 10, 1, 1, 5, tzinfo=UTC)  # 09:05 Beijing time
    assert item.extra == {"网点": "朝阳支行"}
    assert item.channel == "survey"


def test_quoted_newlines_and_semicolon_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('id;text;rating\n1;"第一行\n第二行; 还有分号";4\n', encoding="utf-8")
    [item] = items(read_all(CsvCollector(), path))
    assert item.text == "第一行\n第二行; 还有分号"


def test_bad_rows_are_quarantined_with_row_field_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "survey.csv"
    rows = [
        "S1,2026-10-01 08:00,5,9,很好,C1,A\n",  # row 2: fine
        "S2,2026-13-45,4,8,日期不对,C2,A\n",  # row 3
        "S3,2026-10-01,9,8,评分超范围,C3,A\n",  # row 4
        "S4,2026-10-01,十分,8,评分不是数字,C4,A\n",  # row 5
        "S5,2026-10-01,4,11,推荐超范围,C5,A\n",  # row 6
        "S6,2026-10-01,4,8,   ,C6,A\n",  # row 7: empty text
        "S7,2026-10-01,4,8,多了一列,C7,A,多余\n",  # row 8
        "S8,2026-10-01,4,8,含有\x00空字符,C8,A\n",  # row 9
        "S9,2026-10-01,4,8,短行\n",  # row 10: missing trailing cells is fine
    ]
    path.write_text(SURVEY_HEADER + "".join(rows), encoding="utf-8")
    outputs = read_all(CsvCollector(), path)
    assert [i.external_id for i in items(outputs)] == ["S1", "S9"]
    found = {(b.location, b.field): b for b in bad(outputs)}
    assert set(found) == {
        ("survey.csv row 3", "created_at"),
        ("survey.csv row 4", "rating"),
        ("survey.csv row 5", "rating"),
        ("survey.csv row 6", "nps"),
        ("survey.csv row 7", "text"),
        ("survey.csv row 8", None),
        ("survey.csv row 9", "text"),
    }
    assert "outside 0..5" in found[("survey.csv row 4", "rating")].reason
    assert "8 cells" in found[("survey.csv row 8", None)].reason
    assert "NUL" in found[("survey.csv row 9", "text")].reason
    ragged = found[("survey.csv row 8", None)]
    assert ragged.raw["_extra_cells"] == ["多余"] and ragged.raw["您的意见或建议"] == "多了一列"
    assert ragged.external_id == "S7", "a fixed retry upserts under the id the row had"


def test_huge_fields_are_refused_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    huge = "很长" * 15_000_000  # 30 million characters in one cell
    path.write_text(f"id,text\n1,{huge}\n2,正常的一行\n", encoding="utf-8")
    outputs = read_all(CsvCollector(), path)
    assert [i.external_id for i in items(outputs)] == ["2"]
    [record] = bad(outputs)
    assert record.field == "text" and "over the limit" in record.reason


def test_undecodable_bytes_quarantine_only_their_row(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes("id,text\n1,好的\n".encode() + b"2,bad \xff\xfe byte\n" + "3,也好\n".encode())
    outputs = read_all(CsvCollector(), path, encoding="utf-8")
    assert [i.external_id for i in items(outputs)] == ["1", "3"]
    [record] = bad(outputs)
    assert record.location == "mixed.csv row 3" and "not valid text" in record.reason


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b"PK\x03\x04" + b"\x00" * 200, "ZIP"), (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG")],
)
def test_a_file_that_is_not_csv_is_an_input_error_naming_it(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=f"export.csv.*{kind}"):
        read_all(CsvCollector(), path)


def test_missing_file_and_missing_text_column(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="no such file"):
        read_all(CsvCollector(), tmp_path / "nope.csv")
    path = tmp_path / "numbers.csv"
    path.write_text("编号,评分\n1,5\n", encoding="utf-8")
    with pytest.raises(CollectorConfigError, match=r"no text column.*评分.*--map text="):
        read_all(CsvCollector(), path)


def test_map_overrides_detection(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("客户留言,反馈日期,内容\n柜台很慢,2026-10-01,备注\n", encoding="utf-8")
    [item] = items(read_all(CsvCollector(), path, mapping={"text": "客户留言", "created_at": "反馈日期"}))
    assert item.text == "柜台很慢" and item.extra == {"内容": "备注"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10-01T09:05:00+08:00", datetime(2026, 10, 1, 1, 5, tzinfo=UTC)),
        ("2026-10-01T01:05:00Z", datetime(2026, 10, 1, 1, 5, tzinfo=UTC)),
        ("2026/10/1 9:05", datetime(2026, 10, 1, 1, 5, tzinfo=UTC)),
        ("2026年10月1日 09:05", datetime(2026, 10, 1, 1, 5, tzinfo=UTC)),
        ("2026年10月1日", datetime(2026, 9, 30, 16, 0, tzinfo=UTC)),
        ("10/01/2026", datetime(2026, 9, 30, 16, 0, tzinfo=UTC)),
        ("1790000000", datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC)),
    ],
)
def test_date_formats(tmp_path: Path, value: str, expected: datetime) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"text,created_at\n好,{value}\n", encoding="utf-8")
    [item] = items(read_all(CsvCollector(), path))
    assert item.created_at == expected


def test_rating_words_and_channel_words(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text("内容,满意度,渠道\n很好,非常满意,微博\n一般,基本满意,热线\n差,不满意,某论坛\n", encoding="utf-8")
    got = items(read_all(CsvCollector(), path))
    assert [(i.rating, i.channel) for i in got] == [(5.0, "social"), (3.0, "hotline"), (2.0, "survey")]
    assert got[2].extra == {"channel_raw": "某论坛"}


def test_rows_without_id_get_a_stable_content_id(tmp_path: Path) -> None:
    path = tmp_path / "noid.csv"
    path.write_text("内容,时间\n转账慢,2026-10-01\n转账慢,2026-10-01\n转账慢,2026-10-02\n", encoding="utf-8")
    first = items(read_all(CsvCollector(), path))
    again = items(read_all(CsvCollector(), path))
    assert first[0].external_id == first[1].external_id != first[2].external_id
    assert [i.external_id for i in first] == [i.external_id for i in again]
    assert first[0].external_id.startswith("h:")


def test_resume_skips_committed_rows_and_a_changed_file_restarts(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("id,text\n" + "".join(f"{i},第{i}条\n" for i in range(10)), encoding="utf-8")
    ctx = context(CsvCollector(), [path], checkpoint_every=4)
    outputs = list(CsvCollector().collect(ctx, None))
    checkpoints = [o.state for o in outputs if isinstance(o, Checkpoint)]
    assert [c["files"].get(str(path.resolve()), {}).get("rows_done") for c in checkpoints] == [4, 8, None]
    assert checkpoints[-1] == {"files": {}}, "a finished file leaves the state"

    resumed = list(CsvCollector().collect(ctx, checkpoints[0]))
    assert [i.external_id for i in items(resumed)] == [str(i) for i in range(4, 10)]

    path.write_text("id,text\n" + "".join(f"{i},改过的第{i}条\n" for i in range(10)), encoding="utf-8")
    restarted = list(CsvCollector().collect(ctx, checkpoints[0]))
    assert len(items(restarted)) == 10


def test_parse_record_retries_a_fixed_row(tmp_path: Path) -> None:
    path = tmp_path / "survey.csv"
    path.write_text(SURVEY_HEADER + "S3,2026-10-01,9,8,评分超范围,C3,A\n", encoding="utf-8")
    [record] = bad(read_all(CsvCollector(), path))
    ctx = context(CsvCollector(), [path])
    with pytest.raises(RecordError, match="outside"):
        CsvCollector().parse_record(ctx, record.raw)
    fixed = CsvCollector().parse_record(ctx, {**record.raw, "满意度评分": "4"})
    assert fixed.rating == 4 and fixed.external_id == "S3"


def test_xlsx_streams_typed_cells_and_names_its_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "工单"
    sheet.append(["工单号", "创建时间", "客户号", "投诉内容", "处理状态"])
    sheet.append([10001, datetime(2026, 10, 1, 9, 5), "C1", "信用卡提额一个月没回复", "已解决"])
    sheet.append([10002, "不是日期", "C2", "年费乱扣", "处理中"])
    path = tmp_path / "tickets.xlsx"
    workbook.save(path)

    outputs = read_all(XlsxCollector(), path, sheet="工单")
    [item] = items(outputs)
    assert item.external_id == "10001" and item.created_at == datetime(2026, 10, 1, 1, 5, tzinfo=UTC)
    assert item.extra == {"处理状态": "已解决"}
    [record] = bad(outputs)
    assert record.location == "tickets.xlsx sheet 工单 row 3" and record.field == "created_at"
    with pytest.raises(CollectorConfigError, match="no sheet 'Sheet9'.*工单"):
        read_all(XlsxCollector(), path, sheet="Sheet9")


def test_jsonl_bad_lines_are_quarantined_and_good_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    lines = [
        json.dumps({"id": "w1", "platform": "微博", "发布时间": "2026-10-01 10:00", "帖子内容": "转账失败"}, ensure_ascii=False),
        '{"id": "w2", "帖子内容": "截断的',
        "[1, 2]",
        "",
        json.dumps({"id": "w3", "作者": "某人"}, ensure_ascii=False),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outputs = read_all(JsonlCollector(), path)
    [item] = items(outputs)
    assert item.external_id == "w1" and item.channel == "social"
    reasons = {b.location: b.reason for b in bad(outputs)}
    assert set(reasons) == {"m.jsonl line 2", "m.jsonl line 3", "m.jsonl line 5"}
    assert "invalid JSON" in reasons["m.jsonl line 2"]
    assert "expected a JSON object" in reasons["m.jsonl line 3"]
    assert "no text column" in reasons["m.jsonl line 5"]


def test_the_demo_files_read_as_the_manifest_says(tmp_path: Path) -> None:
    from bihuan.core.demo_data import generate_demo_dataset

    manifest = generate_demo_dataset(tmp_path, weeks=6)
    collectors = {"csv": CsvCollector(), "xlsx": XlsxCollector(), "jsonl": JsonlCollector()}
    for demo_file in manifest.import_files:
        outputs = read_all(collectors[demo_file.collector], demo_file.path)
        got_items = items(outputs)
        assert len(bad(outputs)) == demo_file.broken, demo_file.name
        assert len({i.external_id for i in got_items}) == demo_file.items, demo_file.name
        assert len(got_items) == demo_file.items + demo_file.duplicates, demo_file.name
