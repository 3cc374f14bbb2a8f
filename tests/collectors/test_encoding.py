"""Encoding detection on real files: BOMs, GBK/GB18030 as Excel writes them, stray bytes,
files that are not text at all."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from bihuan.collectors.encoding import DetectedEncoding, detect_encoding
from bihuan.collectors.files import CsvCollector, JsonlCollector
from bihuan.core.errors import CollectorConfigError, InputError

SURVEY_HEADER = "编号,提交时间,满意度评分,推荐意愿(0-10分),您的意见或建议,客户编号,网点\r\n"
SURVEY_ROW = "S1,2026/10/1 9:05,2,3,手机银行转账一直转圈,C1,朝阳支行\r\n"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("gbk", "gb18030"),  # GB18030 is the superset Excel's GBK files decode with
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),  # with a BOM, as Python and Excel ("Unicode text") write it
        ("utf-16-be", "utf-16-be"),  # no BOM: recognised from the NUL pattern
        ("utf-16-le", "utf-16-le"),
    ],
)
def test_survey_export_is_read_in_any_common_encoding_without_being_told(
    tmp_path: Path, collect, encoding: str, detected: str
) -> None:
    path = write(tmp_path / "survey.csv", (SURVEY_HEADER + SURVEY_ROW).encode(encoding))
    assert detect_encoding(path).name == detected
    [item] = collect(CsvCollector(), path).items
    assert item.text == "手机银行转账一直转圈"
    assert (item.external_id, item.customer_ref, item.rating, item.nps) == ("S1", "C1", 2, 3)
    assert item.created_at == datetime(2026, 10, 1, 1, 5, tzinfo=UTC)  # 09:05 Beijing time
    assert item.extra == {"网点": "朝阳支行"}


def test_utf16_with_big_endian_bom(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "x.csv", codecs.BOM_UTF16_BE + "内容,评分\n很好,5\n".encode("utf-16-be"))
    assert detect_encoding(path).how == "bom"
    [item] = collect(CsvCollector(), path).items
    assert (item.text, item.rating) == ("很好", 5)


def test_characters_only_gb18030_has(tmp_path: Path, collect) -> None:
    # 㐀 (CJK Ext A) and 𠀀 (Ext B, a four-byte GB18030 sequence) are not in GBK
    text = "生僻字㐀和𠀀的客户姓名无法录入"
    path = write(tmp_path / "rare.csv", f"内容,时间\n{text},2026-10-01\n".encode("gb18030"))
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    assert detect_encoding(path).name == "gb18030"
    [item] = collect(CsvCollector(), path).items
    assert item.text == text


def test_whole_file_is_checked_not_just_the_start(tmp_path: Path, collect) -> None:
    """A GBK export whose first 2 MB are ASCII: detection reads on, chunk by chunk."""
    rows = "".join(f"{i},plain ascii feedback number {i}\n" for i in range(70_000))
    body = ("id,comment\n" + rows).encode() + "70000,最后一行是中文\n".encode("gbk")
    assert len(body) > 2 << 20
    path = write(tmp_path / "late.csv", body)
    assert detect_encoding(path).name == "gb18030"
    assert collect(CsvCollector(), path).items[-1].text == "最后一行是中文"


def test_utf8_character_split_across_chunks_is_still_utf8(tmp_path: Path) -> None:
    prefix = b"id,text\n1," + b"a" * ((1 << 20) - 11)  # "中" straddles the 1 MB boundary
    path = write(tmp_path / "split.csv", prefix + "中文\n".encode())
    assert detect_encoding(path).name == "utf-8"


def test_a_stray_byte_in_a_utf8_file_quarantines_only_its_row(tmp_path: Path, collect) -> None:
    good = "".join(f"{i},第{i}条反馈：手机银行转账很慢\n" for i in range(50))
    body = ("id,text\n" + good).encode() + b"50,bad \xff byte \xc3\n" + "51,也好\n".encode()
    path = write(tmp_path / "mixed.csv", body)
    detected = detect_encoding(path)
    assert (detected.name, detected.how) == ("utf-8", "mostly")
    out = collect(CsvCollector(), path, id_column="id")  # 0..51 would count rows: say it is the id
    assert len(out.items) == 51 and out.items[-1].text == "也好"
    record = out.bad_at("mixed.csv row 52")
    assert record.field == "text" and record.reason == "row contains bytes that are not valid utf-8"
    assert record.external_id == "50"


def test_declared_encoding_keeps_undecodable_bytes_to_quarantine(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "d.csv", "id,text,备注\n1,好的,\n".encode() + b"2,ok,\x81\n" + "3,也好,\n".encode())
    out = collect(CsvCollector(), path, encoding="utf-8", id_column="id")
    assert [i.external_id for i in out.items] == ["1", "3"]
    record = out.bad_at("d.csv row 3")
    assert record.field == "备注", "the field names the column holding the bad byte"
    assert "not valid utf-8" in record.reason


def test_a_bom_beats_a_declared_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", "内容\n好\n".encode("utf-8-sig"))
    assert detect_encoding(path, "gbk").name == "utf-8-sig"


def test_a_declared_encoding_is_trusted(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "big5.csv", "text,rating\n轉帳很慢,2\n".encode("big5"))
    [item] = collect(CsvCollector(), path, encoding="big5").items
    assert item.text == "轉帳很慢"


def test_windows_1252_is_left_to_the_guesser(tmp_path: Path, collect) -> None:
    text = "The café's naïve résumé form, again. Déjà vu, très mal!"
    body = "comment,rating\n" + "".join(f'"{text} #{i}",{1 + i % 5}\n' for i in range(40))
    path = write(tmp_path / "en.csv", body.encode("cp1252"))
    # not read as GB18030 (which would turn "é " into a CJK character), but guessed;
    # charset-normalizer may pick another Latin code page for so little text
    assert detect_encoding(path).how == "guess"
    items = collect(CsvCollector(), path).items
    assert len(items) == 40 and items[0].text.startswith("The café's")


def test_unknown_declared_encoding_is_a_config_error(tmp_path: Path, context) -> None:
    path = write(tmp_path / "x.csv", b"text\nok\n")
    with pytest.raises(ValidationError, match="unknown encoding"):
        context(CsvCollector(), [path], encoding="klingon")
    with pytest.raises(CollectorConfigError, match="unknown encoding"):
        detect_encoding(path, "klingon")


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4, "ZIP archive"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel"),
        (bytes(range(256)) * 8, "binary data"),
    ],
)
def test_a_file_that_is_not_text_is_an_input_error_naming_it(
    tmp_path: Path, collect, content: bytes, kind: str
) -> None:
    path = write(tmp_path / "export.csv", content)
    with pytest.raises(InputError, match=f"export.csv: not a CSV text file \\(looks like .*{kind}") as info:
        collect(CsvCollector(), path)
    assert info.value.path == str(path)


def test_a_renamed_workbook_is_refused_even_with_a_declared_encoding(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "export.csv", b"PK\x03\x04" + b"\x00" * 300)
    with pytest.raises(InputError, match="ZIP"):
        collect(CsvCollector(), path, encoding="gbk")


def test_jsonl_that_is_binary_says_json(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "posts.jsonl", b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(InputError, match="not a JSON text file"):
        collect(JsonlCollector(), path)


def test_a_few_stray_nul_bytes_do_not_make_a_file_binary(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "nul.csv", "id,text\n1,好\n2,坏\x00了\n3,也好\n".encode())
    out = collect(CsvCollector(), path, id_column="id")
    assert [i.external_id for i in out.items] == ["1", "3"]
    assert out.bad_at("nul.csv row 3").reason == "contains NUL bytes"


def test_gbk_jsonl_is_detected_too(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "p.jsonl", '{"id": "1", "帖子内容": "网点排队太久"}\n'.encode("gbk"))
    [item] = collect(JsonlCollector(), path).items
    assert item.text == "网点排队太久"


# ── uncertain files: never stored garbled ─────────────────────────────────────────────

ENGLISH = "".join(f"E{i},the app logs me out every time I open it ({i})\r\n" for i in range(200))
CHINESE = ["网点排队太久", "手机银行转账一直转圈", "信用卡年费莫名其妙被扣", "客服电话打不通"]


def test_a_mostly_english_gbk_file_with_a_stray_byte_keeps_its_chinese(tmp_path: Path, store) -> None:
    """Once stored as mojibake (``ŐĹČýÍ¶Ëß…``, guessed cp1250) with exit code 0."""
    chinese = "".join(f"C{i},{text}\r\n" for i, text in enumerate(CHINESE))
    body = ("id,text\r\n" + ENGLISH).encode() + chinese.encode("gbk") + b"X1,a stray \x80 byte\r\n"
    path = write(tmp_path / "mostly_english.csv", body)
    assert (detect_encoding(path).name, detect_encoding(path).how) == ("gb18030", "mostly")
    stored = store(CsvCollector(), path)
    assert (stored.report.read, stored.report.new, stored.report.quarantined) == (205, 204, 1)
    assert [stored.items[f"C{i}"] for i in range(len(CHINESE))] == CHINESE
    assert stored.quarantine == [
        ("mostly_english.csv row 206", "text", "row contains bytes that are not valid gb18030")
    ]


def test_too_little_chinese_to_tell_is_refused_with_encoding_advice(tmp_path: Path, store) -> None:
    body = ("id,text\r\n" + ENGLISH).encode() + "C1,好\r\n".encode("gbk") + b"X1,stray \xff byte\r\n"
    path = write(tmp_path / "thin.csv", body)
    refused = store(CsvCollector(), path)
    assert (refused.report.status, refused.report.error_class) == ("failed", "data")
    error = refused.report.error
    assert error.startswith(f"{path}: cannot tell how this file is encoded: it is neither UTF-8 nor GB18030")
    assert "1 bytes do not decode as GB18030, the first on line 203" in error
    assert "the best guess, " in error and "--encoding gb18030" in error
    assert refused.items == {} and refused.quarantine == []
    # told, it reads the file as GB18030 and quarantines the row with the stray byte
    told = store(CsvCollector(), path, encoding="gb18030")
    assert (told.report.status, told.report.new, told.report.quarantined) == ("succeeded", 201, 1)
    assert told.items["C1"] == "好"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_holding_chinese_is_read_not_refused_as_binary(
    tmp_path: Path, store, encoding: str
) -> None:
    # few NUL bytes, and some on the "wrong" side: 一 is U+4E00, 最 U+6700, 退 U+9000
    rows = "".join(f"R{i},{CHINESE[i % 4]}，最后一次退款{i}\r\n" for i in range(300))
    path = write(tmp_path / "u16.csv", ("编号,意见\r\n" + rows).encode(encoding))
    assert detect_encoding(path) == DetectedEncoding(encoding, "strict")
    stored = store(CsvCollector(), path)
    assert (stored.report.read, stored.report.new, stored.report.quarantined) == (300, 300, 0)
    assert stored.items["R299"] == f"{CHINESE[3]}，最后一次退款299"


def test_utf16_with_a_broken_code_unit_is_refused_naming_the_bytes(tmp_path: Path, collect) -> None:
    body = "编号,意见\n1,好\n".encode("utf-16-le") + "2,".encode("utf-16-le") + b"\x00\xd8" + "坏\n".encode("utf-16-le")
    path = write(tmp_path / "bad16.csv", body)
    with pytest.raises(InputError, match=r"bad16.csv: not a valid utf-16-le CSV file: bytes 24-25 do not decode"):
        collect(CsvCollector(), path)


def test_gb18030_four_byte_characters_survive_a_stray_byte(tmp_path: Path, store) -> None:
    rare = "生僻字㐀和𠀀的客户"  # 𠀀 is a four-byte GB18030 sequence
    rows = "".join(f"R{i},{rare}{i}\n" for i in range(40)).encode("gb18030")
    path = write(tmp_path / "rare.csv", "编号,意见\n".encode("gb18030") + rows + b"40,\x80\xff\n")
    assert str(detect_encoding(path)) == "gb18030 (mostly)"
    stored = store(CsvCollector(), path)
    assert (stored.report.new, stored.report.quarantined) == (40, 1)
    assert stored.items["R39"] == f"{rare}39"


def test_utf8_latin_text_with_a_stray_byte_is_not_read_as_chinese(tmp_path: Path, store) -> None:
    """The letter é is C3 A9 in UTF-8, also a valid GBK character: the stray byte must not turn
    the file into GB18030 (or a Latin guess, which reads "Ã©")."""
    rows = ENGLISH + "F1,un café s'il vous plaît\r\n"
    path = write(tmp_path / "fr.csv", ("id,text\r\n" + rows).encode() + b"X1,stray \xd6 byte\r\n")
    assert str(detect_encoding(path)) == "utf-8 (mostly)"
    stored = store(CsvCollector(), path)
    assert (stored.report.new, stored.report.quarantined) == (201, 1)
    assert stored.items["F1"] == "un café s'il vous plaît"


def test_latin_text_that_decodes_as_gb18030_is_left_to_the_guesser(tmp_path: Path, collect) -> None:
    """Every accented letter here is followed by a letter: each pair is a valid (rare)
    GBK character, so the file decodes as GB18030 — it was stored as such, garbled."""
    text = "Die Größe der Tür ist schön und über alles"
    path = write(tmp_path / "de.csv", ("id,text\n" + "".join(f"{i},{text}\n" for i in range(40))).encode("cp1252"))
    assert detect_encoding(path).how == "guess"
    assert {i.text for i in collect(CsvCollector(), path).items} == {text}


def test_jsonl_in_utf16_without_a_bom(tmp_path: Path, collect) -> None:
    texts = [f"{CHINESE[i % 4]}，{'，'.join(CHINESE)}" for i in range(10)]
    path = write(tmp_path / "posts.jsonl", "".join(f'{{"内容":"{t}"}}\n' for t in texts).encode("utf-16-le"))
    assert [i.text for i in collect(JsonlCollector(), path).items] == texts
