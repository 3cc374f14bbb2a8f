"""The XLSX and JSONL collectors on real files."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bihuan.collectors.files import JsonlCollector, XlsxCollector
from bihuan.core.errors import CollectorConfigError, InputError, RecordError

TICKETS_HEADER = ["工单号", "创建时间", "客户号", "投诉内容", "处理状态", "业务类型"]


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


# ── XLSX ──────────────────────────────────────────────────────────────────────────────


def test_xlsx_typed_cells_and_a_named_sheet(tmp_path: Path, collect) -> None:
    path = workbook(
        tmp_path / "tickets.xlsx",
        {
            "说明": [["这一页只有说明"]],
            "投诉工单": [
                TICKETS_HEADER,
                [10001, datetime(2026, 10, 1, 9, 5), "C1", "信用卡提额一个月没回复", "已办结", "信用卡"],
                [10002, "不是日期", "C2", "年费乱扣", "处理中", None],
                [],
                ["T3", date(2026, 10, 2), "C3", "  ", "待处理", "借记卡"],
                ["T4", "2026/10/3 14:00", 12345, "ATM吞卡", None, None, None, "多出来的"],
                [10005.0, 46296.37847222222, "C5", "转账慢", None, None],
            ],
        },
    )
    out = collect(XlsxCollector(), path, sheet="投诉工单", channel="ticket")
    assert [i.external_id for i in out.items] == ["10001", "10005"]
    first = out.items[0]
    assert first.created_at == datetime(2026, 10, 1, 1, 5, tzinfo=UTC)  # naive cells are Beijing time
    assert first.extra == {"处理状态": "已办结", "业务类型": "信用卡"} and first.channel == "ticket"
    assert out.items[1].created_at == datetime(2026, 10, 1, 1, 5, tzinfo=UTC)  # a serial number
    label = "tickets.xlsx sheet 投诉工单 row"
    assert {b.location: b.field for b in out.bad} == {
        f"{label} 3": "created_at",
        f"{label} 5": "text",
        f"{label} 6": None,
    }
    assert out.bad_at(f"{label} 3").raw["创建时间"] == "不是日期"
    assert out.bad_at(f"{label} 3").external_id == "10002"
    assert out.bad_at(f"{label} 6").reason == "row has 8 cells, header has 6"


def test_xlsx_header_may_start_below_blank_rows(tmp_path: Path, collect) -> None:
    path = workbook(tmp_path / "t.xlsx", {"Sheet": [[], [None, None], ["id", "内容", "评分"], [1, "好", 9]]})
    [record] = collect(XlsxCollector(), path).bad
    assert record.location == "t.xlsx sheet Sheet row 4" and record.field == "rating"


def test_xlsx_unknown_sheet_lists_the_sheets(tmp_path: Path, collect) -> None:
    path = workbook(tmp_path / "t.xlsx", {"投诉工单": [TICKETS_HEADER], "汇总": [["x"]]})
    with pytest.raises(CollectorConfigError, match=r"no sheet 'Sheet9'; sheets are \['投诉工单', '汇总'\]"):
        collect(XlsxCollector(), path, sheet="Sheet9")


def test_xlsx_that_is_not_a_workbook(tmp_path: Path, collect) -> None:
    fake = tmp_path / "fake.xlsx"
    fake.write_text("id,text\n1,这其实是CSV\n", encoding="utf-8")
    with pytest.raises(InputError, match="fake.xlsx: not an Excel .xlsx workbook"):
        collect(XlsxCollector(), fake)


def test_xlsx_empty_sheet(tmp_path: Path, collect) -> None:
    with pytest.raises(InputError, match="sheet 'Sheet' is empty"):
        collect(XlsxCollector(), workbook(tmp_path / "e.xlsx", {"Sheet": []}))


def test_xlsx_parse_record_round_trip(tmp_path: Path, collect, context) -> None:
    path = workbook(
        tmp_path / "t.xlsx", {"S": [TICKETS_HEADER, ["T1", datetime(2026, 10, 1, 9, 5), "C1", "慢", "x", 9]]}
    )
    ctx = context(XlsxCollector(), [path], rating_max=5)
    out = collect(XlsxCollector(), path)
    [item] = out.items
    again = XlsxCollector().parse_record(
        ctx, {k: str(v) for k, v in zip(TICKETS_HEADER, ["T1", "2026-10-01 09:05:00", "C1", "慢", "x", 9], strict=True)}
    )
    assert again.created_at == item.created_at and again.external_id == "T1"


# ── JSONL ─────────────────────────────────────────────────────────────────────────────


def post(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False)


def test_jsonl_bad_lines_are_quarantined_and_good_ones_kept(tmp_path: Path, collect) -> None:
    path = tmp_path / "m.jsonl"
    lines = [
        post(
            id="w1",
            platform="微博",
            发布时间="2026-10-01T10:00:00",
            帖子内容="转账失败",
            链接="https://weibo.com/x",
            作者="某人",
        ),
        '{"id": "w2", "帖子内容": "截断的',
        "[1, 2]",
        "",
        post(id="w3", 作者="某人"),
        post(id="w4", platform="小红书", 发布时间="昨天", 帖子内容="排队"),
        post(id=5, 帖子内容="嵌套", 附件={"类型": "图片", "数量": 2}, 置顶=True),
        '"just a string"',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = collect(JsonlCollector(), path, channel="social")
    assert [i.external_id for i in out.items] == ["w1", "5"]
    first = out.items[0]
    assert (first.channel, first.url, first.extra) == ("social", "https://weibo.com/x", {"作者": "某人"})
    assert first.created_at == datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    assert out.items[1].extra == {"附件": '{"类型": "图片", "数量": 2}', "置顶": "true"}
    reasons = {b.location: b.reason for b in out.bad}
    assert set(reasons) == {"m.jsonl line 2", "m.jsonl line 3", "m.jsonl line 5", "m.jsonl line 6", "m.jsonl line 8"}
    assert reasons["m.jsonl line 2"].startswith("invalid JSON: Unterminated string")
    assert out.bad_at("m.jsonl line 2").raw == lines[1], "the raw line is kept for fixing"
    assert reasons["m.jsonl line 3"] == "expected a JSON object, got an array"
    assert reasons["m.jsonl line 8"] == "expected a JSON object, got a string"
    assert "no text column" in reasons["m.jsonl line 5"] and "'作者'" in reasons["m.jsonl line 5"]
    dated = out.bad_at("m.jsonl line 6")
    assert dated.field == "created_at" and dated.external_id == "w4" and dated.raw["发布时间"] == "昨天"


def test_jsonl_first_object_without_text_is_a_config_error(tmp_path: Path, collect) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(post(id=1, 作者="某人") + "\n", encoding="utf-8")
    with pytest.raises(CollectorConfigError, match=r"no text column; headers are \['id', '作者'\]"):
        collect(JsonlCollector(), path)
    [item] = collect(JsonlCollector(), path, mapping={"text": "作者"}).items
    assert item.text == "某人"


def test_json_array_and_single_object_files(tmp_path: Path, collect) -> None:
    array = tmp_path / "a.json"
    array.write_text(json.dumps([{"id": 1, "text": "一"}, [], {"id": 3, "text": ""}], ensure_ascii=False, indent=2))
    out = collect(JsonlCollector(), array)
    assert [i.text for i in out.items] == ["一"]
    assert [b.location for b in out.bad] == ["a.json item 2", "a.json item 3"]

    single = tmp_path / "o.json"
    single.write_text(json.dumps({"id": 1, "text": "就一条"}, ensure_ascii=False, indent=2))
    assert [i.text for i in collect(JsonlCollector(), single).items] == ["就一条"]

    lines = tmp_path / "lines.json"  # JSON Lines saved as .json
    lines.write_text(post(id=1, text="一") + "\n" + post(id=2, text="二") + "\n", encoding="utf-8")
    assert [i.text for i in collect(JsonlCollector(), lines).items] == ["一", "二"]

    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": 1, "text": "一"},', encoding="utf-8")
    with pytest.raises(InputError, match="broken.json: not valid JSON"):
        collect(JsonlCollector(), broken)


def test_jsonl_parse_record_fixes_a_cut_off_line(tmp_path: Path, collect, context) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "w2", "帖子内容": "截断的\n', encoding="utf-8")
    [record] = collect(JsonlCollector(), path).bad
    ctx = context(JsonlCollector(), [path])
    with pytest.raises(RecordError, match="invalid JSON"):
        JsonlCollector().parse_record(ctx, record.raw)
    item = JsonlCollector().parse_record(ctx, record.raw + '内容"}')
    assert item.text == "截断的内容" and item.external_id == "w2"
    with pytest.raises(RecordError, match="got an array"):
        JsonlCollector().parse_record(ctx, [1, 2])


def test_jsonl_retry_of_a_bad_object(tmp_path: Path, collect, context) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(post(id="w4", platform="小红书", 发布时间="昨天", 帖子内容="排队") + "\n", encoding="utf-8")
    [record] = collect(JsonlCollector(), path).bad
    ctx = context(JsonlCollector(), [path])
    item = JsonlCollector().parse_record(ctx, {**record.raw, "发布时间": "2026-10-01 10:00"})
    assert item.channel == "social" and item.created_at == datetime(2026, 10, 1, 2, 0, tzinfo=UTC)


# ── hostile JSON: one bad line is one quarantined record ─────────────────────────────


def test_hostile_json_lines_each_cost_their_line_and_nothing_else(tmp_path: Path, store) -> None:
    """A lone surrogate escape made the whole file unimportable for ever, and a deeply
    nested line stopped the import with RecursionError; every other case had no defined
    outcome. Each is one quarantined line here, with its reason; the rest is stored."""
    lines = [post(id=str(i), text=f"第{i}条：网点排队太久") for i in range(12)]
    lines[1] = '{"id": "1", "text": "表情被截断 \\ud83d"}'  # half of an emoji
    lines[2] = '{"id": "2", "text": "套娃", "n": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines[3] = '{"id": "3", "text": "评分", "rating": NaN}'
    lines[4] = '{"id": "4", "text": "第一个", "text": "第二个"}'
    lines[5] = '[{"id": "5", "text": "数组"}]'
    lines[6] = '\ufeff{"id": "6", "text": "拼接的文件里的 BOM"}'
    lines[7] = '{"id": "7", "text": "' + "长" * (1 << 20) + '"}'
    lines[8] = '{"id": "8", "text": "完整的表情 \\ud83d\\ude00 😀"}'
    lines[9] = '{"id": "9", "text": "嵌套里的重复键", "meta": {"a": 1, "a": 2}}'
    lines[10] = '{"id": "10", "text": "Infinity", "nps": -Infinity}'
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    stored = store(JsonlCollector(), path)
    assert (stored.report.status, stored.report.read, stored.report.new, stored.report.quarantined) == (
        "succeeded",
        12,
        4,
        8,
    )
    assert stored.items == {
        "0": "第0条：网点排队太久",
        "6": "拼接的文件里的 BOM",
        "8": "完整的表情 😀 😀",
        "11": "第11条：网点排队太久",
    }
    assert stored.quarantine == [
        (
            "posts.jsonl line 2",
            "text",
            "lone surrogate escape \\ud83d in 'text' (half of an emoji, cut off?): not a character any text can hold",
        ),
        ("posts.jsonl line 3", None, "invalid JSON: nested too deeply to read"),
        ("posts.jsonl line 4", None, "invalid JSON: NaN is not a JSON value"),
        ("posts.jsonl line 5", "text", "key 'text' occurs twice in one object; which value is meant is unclear"),
        ("posts.jsonl line 6", None, "expected a JSON object, got an array"),
        ("posts.jsonl line 8", None, "line is 1,048,599 characters, over the limit of 1,048,576; not read"),
        ("posts.jsonl line 10", "a", "key 'a' occurs twice in one object; which value is meant is unclear"),
        ("posts.jsonl line 11", None, "invalid JSON: -Infinity is not a JSON value"),
    ]


def test_the_quarantined_surrogate_line_is_kept_as_written_and_can_be_fixed(tmp_path: Path, collect, context) -> None:
    path = tmp_path / "p.jsonl"
    line = '{"id": "e1", "text": "好评 \\ud83d"}'
    path.write_text(line + "\n", encoding="utf-8")
    [record] = collect(JsonlCollector(), path).bad
    assert record.raw == line and record.external_id == "e1"
    ctx = context(JsonlCollector(), [path])
    with pytest.raises(RecordError, match="lone surrogates"):
        JsonlCollector().parse_record(ctx, record.raw)
    assert JsonlCollector().parse_record(ctx, record.raw.replace("\\ud83d", "\\ud83d\\ude00")).text == "好评 😀"
    deep = '{"id": 1, "text": "x", "n": ' + "[" * 50_000 + "]" * 50_000 + "}"
    with pytest.raises(RecordError, match="nested too deeply"):
        JsonlCollector().parse_record(ctx, deep)


def test_hostile_items_of_a_json_document(tmp_path: Path, store) -> None:
    path = tmp_path / "export.json"
    path.write_text(
        "\ufeff[\n"
        '  {"id": "1", "text": "好"},\n'
        '  {"id": "2", "text": "截断 \\udc00 的"},\n'
        '  {"id": "3", "text": "一", "text": "二"},\n'
        '  {"id": "4", "text": "也好"}\n'
        "]\n",
        encoding="utf-8",
    )
    stored = store(JsonlCollector(), path)
    assert (stored.report.read, stored.report.new, stored.report.quarantined) == (4, 2, 2)
    assert stored.items == {"1": "好", "4": "也好"}
    assert [(q[0], q[1]) for q in stored.quarantine] == [("export.json item 2", "text"), ("export.json item 3", "text")]
    assert stored.quarantine[0][2].startswith("lone surrogate escape \\udc00 in 'text'")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('[{"id": 1, "text": "x", "rating": NaN}]', "NaN is not a JSON value"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply to read"),
    ],
)
def test_a_json_document_that_is_not_json_is_refused(tmp_path: Path, collect, body: str, reason: str) -> None:
    path = tmp_path / "doc.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=f"doc.json: not valid JSON: {reason}"):
        collect(JsonlCollector(), path)


# ── hostile workbooks ─────────────────────────────────────────────────────────────────

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def raw_workbook(path: Path, sheets: list[tuple[str, str, str]], *, date1904: bool = False) -> Path:
    """An .xlsx written part by part, as Excel (or a hostile tool) would: ``sheets`` are
    ``(name, state, <sheetData> XML)``; cached formula values, error cells and hidden
    sheets are what openpyxl cannot write."""
    import zipfile

    types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f"{types}</Types>",
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        entries = "".join(
            f'<sheet name="{name}" sheetId="{i}" state="{state}" r:id="rId{i}"/>'
            for i, (name, state, _) in enumerate(sheets, 1)
        )
        pr = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook {_NS} xmlns:r="{_REL}">{pr}<sheets>{entries}</sheets></workbook>',
        )
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f"{rels}</Relationships>",
        )
        for i, (_, _, data) in enumerate(sheets, 1):
            z.writestr(
                f"xl/worksheets/sheet{i}.xml",
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}><sheetData>{data}</sheetData></worksheet>',
            )
    return path


def s(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def n(ref: str, number: str) -> str:
    return f'<c r="{ref}"><v>{number}</v></c>'


HEADER = (
    '<row r="1">'
    + s("A1", "工单号")
    + s("B1", "投诉内容")
    + s("C1", "创建时间")
    + s("D1", "卡号")
    + s("E1", "备注")
    + "</row>"
)


def test_formulas_errors_numbers_and_dates_of_a_workbook(tmp_path: Path, store, caplog) -> None:
    rows = [
        # a formula with the value Excel saved: the value, never evaluated
        s("A2", "T1") + '<c r="B2" t="str"><f>HYPERLINK("https://bank.example/t/1","转账失败点这里")</f>'
        "<v>转账失败点这里</v></c>" + n("C2", "46023.375") + n("D2", "6.2220212345678899E+18"),
        # a formula without a saved value (written by a program): its text
        s("A3", "T2") + '<c r="B3"><f>1+1</f></c>' + n("C3", "46024") + n("D3", "6222021234567890128"),
        # an error in a mapped column: quarantined, not stored as a text "#N/A"
        s("A4", "T3") + '<c r="B4" t="e"><f>VLOOKUP(A4,X!A:B,2,0)</f><v>#N/A</v></c>' + n("C4", "46025"),
        # an error in an unmapped column: left out like an empty cell
        s("A5", "T4") + s("B5", "网点排队太久") + n("C5", "46026") + '<c r="E5" t="e"><v>#DIV/0!</v></c>',
        # numbers that are not whole, and a date column with a real text date
        s("A6", "T5") + s("B6", "利率说明不清") + s("C6", "2026-01-05 09:00") + n("E6", "0.30000000000000004"),
    ]
    data = HEADER + "".join(f'<row r="{i}">{cells}</row>' for i, cells in enumerate(rows, 2))
    path = raw_workbook(tmp_path / "工单.xlsx", [("工单", "visible", data)])
    stored = store(XlsxCollector(), path)
    assert (stored.report.read, stored.report.new, stored.report.quarantined) == (5, 4, 1)
    assert stored.items == {"T1": "转账失败点这里", "T2": "=1+1", "T4": "网点排队太久", "T5": "利率说明不清"}
    assert stored.quarantine == [
        ("工单.xlsx sheet 工单 row 4", "text", "the cell holds the Excel error #N/A, not a value")
    ]
    # which formulas were read as their text is said (in this process or from the helper)
    assert "工单.xlsx sheet 工单: 1 formula cells have no value saved with them" in caplog.text
    assert "their formula text was read, e.g. B3" in caplog.text


def test_number_cells_arrive_as_excel_shows_them(tmp_path: Path, collect) -> None:
    rows = [
        s("A2", "T1") + s("B2", "卡号被截断") + n("D2", "6.2220212345678899E+18") + n("E2", "0.30000000000000004"),
        s("A3", "T2") + s("B3", "整数卡号") + n("D3", "6222021234567890128") + n("E3", "1E-7"),
        n("A4", "123456789012345") + s("B4", "数字工单号") + n("D4", "4.5"),
    ]
    data = HEADER + "".join(f'<row r="{i}">{cells}</row>' for i, cells in enumerate(rows, 2))
    out = collect(XlsxCollector(), raw_workbook(tmp_path / "n.xlsx", [("S", "visible", data)]))
    assert [(i.external_id, i.extra) for i in out.items] == [
        ("T1", {"卡号": "6222021234567890000", "备注": "0.3"}),  # Excel keeps 15 digits; never 6.2e+18
        ("T2", {"卡号": "6222021234567890128", "备注": "0.0000001"}),  # written whole by a program: exact
        ("123456789012345", {"卡号": "4.5"}),
    ]


@pytest.mark.parametrize(("date1904", "expected"), [(False, datetime(2026, 1, 1, 1, 0, tzinfo=UTC)), (True, None)])
def test_dates_stored_as_numbers_follow_the_workbooks_date_system(
    tmp_path: Path, collect, date1904: bool, expected: datetime | None
) -> None:
    data = HEADER + '<row r="2">' + s("A2", "T1") + s("B2", "日期是数字") + n("C2", "46023.375") + "</row>"
    path = raw_workbook(tmp_path / "d.xlsx", [("S", "visible", data)], date1904=date1904)
    [item] = collect(XlsxCollector(), path).items
    # 46023.375 is 2026-01-01 09:00 in the 1900 system, four years and a day later in 1904's
    assert item.created_at == (expected or datetime(2030, 1, 2, 1, 0, tzinfo=UTC))


def test_a_hidden_first_sheet_is_not_read_unless_named(tmp_path: Path, collect, caplog) -> None:
    lookup = (
        '<row r="1">'
        + s("A1", "代码")
        + s("B1", "说明")
        + '</row><row r="2">'
        + s("A2", "1")
        + s("B2", "码表")
        + "</row>"
    )
    tickets = HEADER + '<row r="2">' + s("A2", "T1") + s("B2", "真正的工单") + "</row>"
    path = raw_workbook(
        tmp_path / "h.xlsx", [("码表", "hidden", lookup), ("工单", "visible", tickets), ("备份", "veryHidden", tickets)]
    )
    caplog.set_level(logging.INFO)
    out = collect(XlsxCollector(), path)
    assert [i.text for i in out.items] == ["真正的工单"]
    assert "hidden sheets left unread: 码表, 备份" in caplog.text
    assert [i.text for i in collect(XlsxCollector(), path, sheet="码表", mapping={"text": "说明"}).items] == ["码表"]


@pytest.mark.parametrize("part", ["xl/worksheets/sheet2.xml", "xl/sharedStrings.xml"])
def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path, collect, part: str) -> None:
    import zipfile

    path = raw_workbook(tmp_path / "bomb.xlsx", [("S", "visible", HEADER)])
    row = b'<row><c t="s"><v>0</v></c></row>' * 2048
    # 80 MB of one repeated row, ~80 KB packed
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z, z.open(part, "w") as f:
        for _ in range((80 << 20) // len(row)):
            f.write(row)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(
        InputError, match=f"bomb.xlsx: refused: part {part} would unpack to 8\\d,\\d{{3}},\\d{{3}} bytes"
    ):
        collect(XlsxCollector(), path)


def test_rows_beyond_excels_last_row_are_refused(tmp_path: Path, collect) -> None:
    data = (
        HEADER
        + '<row r="2">'
        + s("A2", "T1")
        + s("B2", "正常")
        + '</row><row r="1048577">'
        + s("B1048577", "越界")
        + "</row>"
    )
    path = raw_workbook(tmp_path / "far.xlsx", [("S", "visible", data)])
    with pytest.raises(InputError, match="row 1,048,577, beyond Excel's last row"):
        collect(XlsxCollector(), path)
