"""A corpus of hostile input files, each with the exact outcome an import must give.

Every case writes its files into a fresh folder, runs one or more ``bihuan import``
commands on a fresh database, and states the totals each import reports (``read``,
``new``, ``updated``, ``duplicates``, ``quarantined``) and its exit code, plus what must
hold in the database afterwards (no mojibake, no raw personal data, the exact text of an
odd character). ``tests/collectors/test_hostile_corpus.py`` runs every case.

The files are made here from our own strings: nothing comes from a real data set.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook

HEADER = ["编号", "提交时间", "满意度评分", "推荐意愿", "您的意见或建议", "客户编号"]
TEXTS = [
    "手机银行转账一直转圈，等了半小时",
    "网点排队时间太长，只开了一个窗口",
    "信用卡年费扣得莫名其妙，客服也说不清",
    "理财产品收益说明不清楚",
    "客服态度很好，问题当场解决了",
]


def row(n: int, *, text: str | None = None, at: str = "2026-11-02 09:30", rating: str = "3", nps: str = "7",
        rid: str | None = None, customer: str | None = None) -> list[str]:
    """One survey row; ``n`` makes id, text and customer distinct."""
    return [
        rid if rid is not None else f"S{n:05d}",
        at,
        rating,
        nps,
        text if text is not None else f"{TEXTS[n % len(TEXTS)]}（第{n}条）",
        customer if customer is not None else f"C{n:04d}",
    ]


def csv_text(rows: list[list[str]], *, header: list[str] = HEADER, newline: str = "\n") -> str:
    """CSV with RFC 4180 quoting where a cell needs it."""

    def cell(value: str) -> str:
        if any(c in value for c in ',"\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(",".join(cell(v) for v in r) + newline for r in [header, *rows])


def rows(count: int, start: int = 1) -> list[list[str]]:
    return [row(n) for n in range(start, start + count)]


def xlsx_bytes(sheet_rows: list[list[Any]], *, merge: str | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "明细"
    for r in sheet_rows:
        sheet.append(r)
    if merge:
        sheet.merge_cells(merge)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bomb_xlsx() -> bytes:
    """A valid-looking XLSX whose one sheet inflates to 2 GiB of the same byte."""
    good = zipfile.ZipFile(io.BytesIO(xlsx_bytes([HEADER, row(1)])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bomb:
        for info in good.infolist():
            data = good.read(info.filename)
            if info.filename.endswith("sheet1.xml"):
                continue
            bomb.writestr(info, data)
        chunk = b"<!--" + b"A" * (1 << 20) + b"-->"
        with bomb.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            for _ in range(2048):
                sheet.write(chunk)
            sheet.write(b"<sheetData/></worksheet>")
    return out.getvalue()


@dataclass(frozen=True)
class Import:
    """One ``bihuan import`` of some of the case's files and what it must report."""

    files: tuple[str, ...]
    expect: dict[str, int]  # totals to compare: read/new/updated/duplicates/quarantined
    exit_code: int
    args: tuple[str, ...] = ()
    message: str | None = None  # a part of the error text (on refusals)


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, bytes]
    imports: tuple[Import, ...]
    #: checks on every stored text (after all imports)
    texts: Callable[[list[str]], bool] | None = None
    #: every string column of feedback_item, quarantined_record, collector_run and collector_state
    at_rest: Callable[[str], bool] | None = None
    stored: int | None = None  # items in the database after all imports
    tags: tuple[str, ...] = field(default_factory=tuple)


def counts(read: int, new: int, updated: int = 0, duplicates: int = 0, quarantined: int = 0) -> dict[str, int]:
    return {"read": read, "new": new, "updated": updated, "duplicates": duplicates, "quarantined": quarantined}


def one(name: str, data: bytes, expect: dict[str, int], exit_code: int, *, args: tuple[str, ...] = (),
        **extra: Any) -> Case:
    return Case(name, {name: data}, (Import((name,), expect, exit_code, args),), **extra)


def no_mojibake(texts: list[str]) -> bool:
    """Chinese decoded as Latin-1/CP1252/CP1250 shows letters such as ŐĹČýÍ¶Ëß."""
    return not any(any("\u00c0" <= c <= "\u024f" for c in t) for t in texts)


RAW_PII = ("13812345678", "13912345678", "110101199003077777", "6222021234567890128", "zhang.san@example.com")


def no_raw_pii(blob: str) -> bool:
    return not any(p in blob for p in RAW_PII)


def _cases() -> list[Case]:
    five = rows(5)
    cases: list[Case] = [
        # ── encodings ──────────────────────────────────────────────────────────────
        one("utf8.csv", csv_text(five).encode("utf-8"), counts(5, 5), 0),
        one("utf8_bom.csv", csv_text(five).encode("utf-8-sig"), counts(5, 5), 0),
        one("gbk.csv", csv_text(five).encode("gbk"), counts(5, 5), 0),
        one(
            "gb18030_4byte.csv",
            csv_text([*rows(4), row(5, text="客户姓名里有生僻字𠮷和䶮，系统显示成问号")]).encode("gb18030"),
            counts(5, 5),
            0,
            texts=lambda ts: any("𠮷" in t and "䶮" in t for t in ts),
        ),
        one("utf16le_bom.csv", csv_text(five).encode("utf-16"), counts(5, 5), 0),
        one("utf16le_nobom.csv", csv_text(five).encode("utf-16-le"), counts(5, 5), 0),
        one("utf16be_nobom.csv", csv_text(five).encode("utf-16-be"), counts(5, 5), 0),
        one(
            "utf8_one_bad_byte.csv",
            csv_text(rows(5)).encode("utf-8").replace("（第3条）".encode(), b"\xff\xfe(3)"),
            counts(5, 4, quarantined=1),
            3,
            texts=no_mojibake,
        ),
        # ── quotes and line endings ───────────────────────────────────────────────
        one(
            "quoted_newline.csv",
            csv_text([*rows(2), row(3, text='第一行\n第二行，还有"引号"和,逗号')]).encode("utf-8"),
            counts(3, 3),
            0,
            texts=lambda ts: any(t == '第一行\n第二行，还有"引号"和,逗号' for t in ts),
        ),
        one("crlf.csv", csv_text(five, newline="\r\n").encode("gbk"), counts(5, 5), 0),
        one("cr_only.csv", csv_text(five, newline="\r").encode("utf-8"), counts(5, 5), 0),
        one(
            "mixed_endings.csv",
            (csv_text(rows(2), newline="\r\n") + csv_text(rows(3, 3), newline="\n").split("\n", 1)[1]).encode("utf-8"),
            counts(5, 5),
            0,
        ),
        one("no_final_newline.csv", csv_text(five).rstrip("\n").encode("utf-8"), counts(5, 5), 0),
        one(
            "nul_byte.csv",
            csv_text([*rows(4), row(5, text="文本里有\x00空字符")]).encode("utf-8"),
            counts(5, 4, quarantined=1),
            3,
        ),
        one(
            "ragged_row.csv",
            (csv_text(rows(4)) + "S00005,2026-11-02 09:30,3,7,多了一列,C0005,多余,又多\n").encode("utf-8"),
            counts(5, 4, quarantined=1),
            3,
        ),
        one("header_only.csv", csv_text([]).encode("utf-8"), counts(0, 0), 0),
        # ── dates ─────────────────────────────────────────────────────────────────
        one(
            "date_formats.csv",
            csv_text(
                [
                    row(1, at="2026/11/1 9:05"),
                    row(2, at="2026年11月2日 14:00"),
                    row(3, at="2026-11-03T08:00:00+08:00"),
                    row(4, at="2026-11-04"),
                    row(5, at="2026.11.05 10:00"),
                ]
            ).encode("utf-8"),
            counts(5, 5),
            0,
        ),
        one(
            "date_invalid.csv",
            csv_text([*rows(3), row(4, at="2026-13-45 25:00"), row(5, at="明天")]).encode("utf-8"),
            counts(5, 3, quarantined=2),
            3,
        ),
        one(
            "date_far_future.csv",
            csv_text([*rows(3), row(4, at="2099-01-01 00:00"), row(5, at="2062-06-01 12:00")]).encode("utf-8"),
            counts(5, 3, quarantined=2),
            3,
        ),
        # ── ratings ───────────────────────────────────────────────────────────────
        one(
            "ratings_out_of_scale.csv",
            csv_text([*rows(2), row(3, rating="7"), row(4, nps="11"), row(5, nps="-1")]).encode("utf-8"),
            counts(5, 2, quarantined=3),
            3,
        ),
        one(
            "ratings_written_oddly.csv",
            csv_text([row(1, rating="4.0"), row(2, rating=" 5 "), row(3, rating=""), row(4, rating="３")]).encode(
                "utf-8"
            ),
            counts(4, 4),
            0,
        ),
        # ── ids ───────────────────────────────────────────────────────────────────
        Case(
            "ids_real_reimport",
            {"tickets.csv": csv_text(rows(6)).encode("utf-8")},
            (
                Import(("tickets.csv",), counts(6, 6), 0),
                Import(("tickets.csv",), counts(6, 0, duplicates=6), 0),
            ),
            stored=6,
        ),
        Case(
            "ids_changed_row_updates",
            {
                "a.csv": csv_text(rows(3)).encode("utf-8"),
                "b.csv": csv_text([*rows(2), row(3, text="这条改过了：转账还是失败")]).encode("utf-8"),
            },
            (
                Import(("a.csv",), counts(3, 3), 0, ("--source", "tickets")),
                # another file may not change a.csv's row unless told so
                Import(("b.csv",), counts(3, 0, duplicates=2, quarantined=1), 3, ("--source", "tickets")),
                Import(("b.csv",), counts(3, 0, updated=1, duplicates=2), 0,
                       ("--source", "tickets", "--id-column", "编号", "--update-across-files")),
            ),
            stored=3,
            texts=lambda ts: "这条改过了：转账还是失败" in ts,
        ),
        Case(
            "ids_row_numbers_across_days",
            {
                "day1.csv": csv_text([row(n, rid=str(n)) for n in range(1, 21)], header=["序号", *HEADER[1:]]).encode(
                    "gbk"
                ),
                "day2.csv": csv_text(
                    [row(n + 100, rid=str(n)) for n in range(1, 21)], header=["序号", *HEADER[1:]]
                ).encode("gbk"),
            },
            (
                Import(("day1.csv",), counts(20, 20), 0, ("--source", "survey")),
                Import(("day2.csv",), counts(20, 20), 0, ("--source", "survey")),
                Import(("day1.csv",), counts(20, 0, duplicates=20), 0, ("--source", "survey")),
            ),
            stored=40,
        ),
        # ── JSON lines ────────────────────────────────────────────────────────────
        *_jsonl_cases(),
        # ── spreadsheets ──────────────────────────────────────────────────────────
        one(
            "excel_dates.xlsx",
            xlsx_bytes([HEADER, *[[f"X{n}", __import__("datetime").datetime(2026, 11, n, 9, 30), 4, 8, TEXTS[n % 5], f"C{n}"]
                                 for n in range(1, 6)]]),
            counts(5, 5),
            0,
        ),
        one(
            "formula.xlsx",
            xlsx_bytes([HEADER, row(1), [*row(2)[:4], "=1+1", "C2"], [*row(3)[:4], '=HYPERLINK("http://x.invalid","点我")', "C3"]]),
            counts(3, 3),
            0,
            texts=lambda ts: all(t != "2" for t in ts),
        ),
        one(
            "card_as_float.xlsx",
            xlsx_bytes([[*HEADER, "卡号"], [*row(1), 6222021234567890128], [*row(2), 13812345678]]),
            counts(2, 2),
            0,
            at_rest=no_raw_pii,
        ),
        one(
            "title_row.xlsx",
            xlsx_bytes([["XX银行2026年11月客户投诉明细表"], HEADER, *rows(4)], merge="A1:F1"),
            counts(4, 4),
            0,
        ),
        one("zip_bomb.xlsx", zip_bomb_xlsx(), counts(0, 0), 1),
        # ── markup, escapes and personal data ────────────────────────────────────
        one(
            "escapes.csv",
            csv_text(
                [row(1, text="清屏\x1b[2J回车\r退格\b链接\x1b]8;;http://evil.invalid\x1b\\点我\x1b]8;;\x1b\\"), *rows(2, 2)]
            ).encode("utf-8"),
            counts(3, 3),
            0,
        ),
        one(
            "markup.csv",
            csv_text([row(1, text="[/] [@click=app.quit]退出[/] [bold red]红字"), *rows(2, 2)]).encode("utf-8"),
            counts(3, 3),
            0,
            texts=lambda ts: any("[@click=app.quit]" in t for t in ts),
        ),
        one(
            "pii_everywhere.csv",
            csv_text(
                [
                    row(1, rid="13812345678", customer="110101199003077777",
                        text="请联系 13912345678 或 zhang.san@example.com，卡号6222021234567890128"),
                    *rows(2, 2),
                ],
                header=HEADER,
            ).encode("utf-8"),
            counts(3, 3),
            0,
            at_rest=no_raw_pii,
        ),
        Case(
            "pii_in_file_name",
            {"投诉_13812345678.csv": csv_text(rows(3)).encode("utf-8")},
            (Import(("投诉_13812345678.csv",), counts(3, 3), 0),),
            at_rest=no_raw_pii,
        ),
        # a name unzipped from Windows: GBK bytes, not UTF-8 (a str with surrogate escapes here)
        one(os.fsdecode("客户意见.csv".encode("gbk")), csv_text(rows(3)).encode("gbk"), counts(3, 3), 0),
        one(
            "text_too_long.csv",
            csv_text([*rows(2), row(3, text="长" * 25_000)]).encode("utf-8"),
            counts(3, 2, quarantined=1),
            3,
        ),
        one(
            "empty_texts.csv",
            csv_text([*rows(2), row(3, text=""), row(4, text="   ")]).encode("utf-8"),
            counts(4, 2, quarantined=2),
            3,
        ),
        one(
            "formula_injection_text.csv",
            csv_text([row(1, text="=cmd|' /C calc'!A0"), row(2, text="+1+1"), row(3, text="@SUM(1)")]).encode("utf-8"),
            counts(3, 3),
            0,
            texts=lambda ts: "=cmd|' /C calc'!A0" in ts,
        ),
    ]
    return cases


def _jsonl(objs: list[Any]) -> bytes:
    return "".join((o if isinstance(o, str) else json.dumps(o, ensure_ascii=False)) + "\n" for o in objs).encode()


def _obj(n: int, **over: Any) -> dict[str, Any]:
    base = {"id": f"J{n}", "created_at": "2026-11-02T09:30:00+08:00", "text": f"{TEXTS[n % 5]}（{n}）"}
    base.update(over)
    return base


def _jsonl_cases() -> list[Case]:
    good = [_obj(n) for n in range(1, 4)]
    deep = '{"id": "J9", "text": "深", "created_at": "2026-11-02", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    return [
        one("clean.jsonl", _jsonl(good), counts(3, 3), 0),
        one("bom.jsonl", b"\xef\xbb\xbf" + _jsonl(good), counts(3, 3), 0),
        one("blank_lines.jsonl", _jsonl([good[0], "", good[1], "   ", good[2]]), counts(3, 3), 0),
        one(
            "lone_surrogate.jsonl",
            _jsonl([*good, '{"id": "J8", "created_at": "2026-11-02", "text": "表情被截断\\ud83d"}']),
            counts(4, 3, quarantined=1),
            3,
        ),
        one("deep_nesting.jsonl", _jsonl([*good, deep]), counts(4, 3, quarantined=1), 3),
        one("not_json.jsonl", _jsonl([*good, "{this is not json"]), counts(4, 3, quarantined=1), 3),
        one("array_line.jsonl", _jsonl([*good, '["J7", "数组不是对象"]']), counts(4, 3, quarantined=1), 3),
        one(
            "nan_rating.jsonl",
            _jsonl([*good, '{"id": "J6", "created_at": "2026-11-02", "text": "评分是NaN", "rating": NaN}']),
            counts(4, 3, quarantined=1),
            3,
        ),
        one(
            "epoch_ms.jsonl",
            _jsonl([_obj(1, created_at=1793497800000), _obj(2, created_at=1793497800), _obj(3)]),
            counts(3, 3),
            0,
        ),
    ]


CASES: tuple[Case, ...] = tuple(_cases())


def write_case(case: Case, folder: Path) -> dict[str, Path]:
    paths = {}
    for name, data in case.files.items():
        path = folder / name
        path.write_bytes(data)
        paths[name] = path
    return paths
