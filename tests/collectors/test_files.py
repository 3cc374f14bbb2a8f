"""The CSV collector on real files: headers, bad rows, ids, limits, and quarantine retries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bihuan.collectors.files import CsvCollector, JsonlCollector, XlsxCollector
from bihuan.core.errors import CollectorConfigError, InputError, MissingInputError, RecordError

SURVEY_HEADER = "编号,提交时间,满意度评分,推荐意愿(0-10分),您的意见或建议,客户编号,网点\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_collector_contract() -> None:
    assert (CsvCollector.name, XlsxCollector.name, JsonlCollector.name) == ("csv", "xlsx", "jsonl")
    assert CsvCollector.channel == XlsxCollector.channel == JsonlCollector.channel == "other"
    assert CsvCollector.file_extensions == (".csv", ".tsv", ".txt")
    assert XlsxCollector.file_extensions == (".xlsx", ".xlsm")
    assert JsonlCollector.file_extensions == (".jsonl", ".ndjson", ".json")
    # options exist only where they mean something (the CLI refuses --sheet for a CSV)
    assert {"encoding", "delimiter"} <= set(CsvCollector.Config.model_fields)
    assert "sheet" not in CsvCollector.Config.model_fields
    assert "sheet" in XlsxCollector.Config.model_fields
    assert not {"encoding", "delimiter"} & set(XlsxCollector.Config.model_fields)
    assert "encoding" in JsonlCollector.Config.model_fields and "delimiter" not in JsonlCollector.Config.model_fields


def test_gbk_survey_maps_every_column(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "survey.csv", SURVEY_HEADER + "S1,2026/10/1 9:05,2,3,转账一直转圈,C1,朝阳支行\n", "gbk")
    [item] = collect(CsvCollector(), path).items
    assert item.external_id == "S1" and item.text == "转账一直转圈"
    assert item.created_at == datetime(2026, 10, 1, 1, 5, tzinfo=UTC)
    assert (item.rating, item.nps, item.customer_ref, item.channel) == (2.0, 3, "C1", "survey")
    assert item.extra == {"网点": "朝阳支行"}
    assert item.content_hash and len(item.content_hash) == 32


def test_quoted_newlines_delimiters_and_quotes(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "x.csv", 'id;text;rating\n1;"第一行\n第二行; 还有分号";4\n2;"他说""太慢了""";3\n')
    out = collect(CsvCollector(), path)
    assert [i.text for i in out.items] == ["第一行\n第二行; 还有分号", '他说"太慢了"']
    # the quoted newline does not shift the row numbers: record 3 is "row 3"
    bad = write(tmp_path / "y.csv", 'id,text,rating\n1,"两行\n文本",4\n2,评分坏了,9\n')
    assert collect(CsvCollector(), bad).bad[0].location == "y.csv row 3"


@pytest.mark.parametrize(
    ("name", "body", "options"),
    [
        ("tabs.tsv", "id\ttext\n1\t好, 很好\n", {}),
        ("tabs.csv", "id\ttext\n1\t好, 很好\n", {}),  # sniffed
        ("pipes.csv", "id|text\n1|好, 很好\n", {}),
        ("given.txt", "id\ttext\n1\t好, 很好\n", {"delimiter": "\\t"}),
        ("quoted.csv", '"a,b";text\n1;"好, 很好"\n', {}),  # commas inside quotes do not count
    ],
)
def test_delimiters(tmp_path: Path, collect, name: str, body: str, options: dict) -> None:
    [item] = collect(CsvCollector(), write(tmp_path / name, body), **options).items
    assert item.text == "好, 很好"


def test_bad_rows_become_bad_records_with_row_field_and_reason(tmp_path: Path, collect) -> None:
    rows = [
        "S1,2026-10-01 08:00,5,9,很好,C1,A\n",  # row 2: fine
        "S2,2026-13-45,4,8,日期不对,C2,A\n",  # row 3
        "S3,2026-10-01,7,8,评分超范围,C3,A\n",  # row 4
        "S4,2026-10-01,十分,8,评分不是数字,C4,A\n",  # row 5
        "S5,2026-10-01,4,11,推荐超范围,C5,A\n",  # row 6
        "S6,2026-10-01,4,8,   ,C6,A\n",  # row 7: blank text
        "S7,2026-10-01,4,8,多了两列,C7,A,多余,也多余\n",  # row 8
        "S8,2026-10-01,4,8,含有\x00空字符,C8,A\n",  # row 9
        "S9,2026-10-01,4,8,好,C9,\x00\n",  # row 10: NUL in an unmapped column
        "S10,2026-10-01,4,8,短行\n",  # row 11: missing trailing cells are fine
        "S11,2026-10-01,4,8,尾部空列,C11,A,,\n",  # row 12: empty extra cells are fine
        "S12,2026-10-01,4\n",  # row 13: the text column itself is missing
    ]
    out = collect(CsvCollector(), write(tmp_path / "survey.csv", SURVEY_HEADER + "".join(rows)))
    assert [i.external_id for i in out.items] == ["S1", "S10", "S11"]
    found = {b.location: (b.field, b.reason) for b in out.bad}
    assert found == {
        "survey.csv row 3": ("created_at", "invalid date '2026-13-45'"),
        "survey.csv row 4": ("rating", "rating 7 outside 0..5"),
        "survey.csv row 5": ("rating", "rating '十分' is not a number or a satisfaction word"),
        "survey.csv row 6": ("nps", "NPS score 11 outside 0..10"),
        "survey.csv row 7": ("text", "text is empty"),
        "survey.csv row 8": (None, "row has 9 cells, header has 7"),
        "survey.csv row 9": ("text", "contains NUL bytes"),
        "survey.csv row 10": ("网点", "contains NUL bytes"),
        "survey.csv row 13": ("text", "row has 3 cells, header has 7; the text column '您的意见或建议' is missing"),
    }
    ragged = out.bad_at("survey.csv row 8")
    assert ragged.raw["您的意见或建议"] == "多了两列" and ragged.raw["_extra_cells"] == ["多余", "也多余"]
    assert ragged.external_id == "S7", "a fixed retry upserts under the id the row had"
    short = out.bad_at("survey.csv row 13")
    assert short.raw["您的意见或建议"] is None and short.raw["编号"] == "S12"
    assert out.items[1].extra is None and out.items[1].customer_ref is None


def test_blank_rows_are_skipped_but_keep_their_row_numbers(tmp_path: Path, collect) -> None:
    body = "\n\nid,text,rating\n1,好,5\n\n,,\n2,坏,9\n"
    out = collect(CsvCollector(), write(tmp_path / "blank.csv", body), id_column="id")
    assert [i.external_id for i in out.items] == ["1"]
    assert out.bad[0].location == "blank.csv row 7"  # header is row 3 after two blank lines


def test_text_limits(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "long.csv", f"id,text,备注\n1,{'长' * 101},\n2,{'短' * 100},\n3,ok,{'x' * 101}\n")
    out = collect(CsvCollector(), path, max_text_chars=100, id_column="id")
    assert [i.external_id for i in out.items] == ["2"]
    assert out.bad_at("long.csv row 2").reason == "text is 101 characters, over the limit of 100"
    assert out.bad_at("long.csv row 4").field == "备注", "unmapped cells are limited too (they go to extra)"


def test_a_30_mb_field_is_quarantined_not_fatal(tmp_path: Path, collect) -> None:
    huge = "很长" * 15_000_000  # 30 million characters in one cell
    out = collect(CsvCollector(), write(tmp_path / "big.csv", f"id,text\n1,{huge}\n2,正常的一行\n"), id_column="id")
    assert [i.external_id for i in out.items] == ["2"]
    [record] = out.bad
    assert record.field == "text" and "30,000,000 characters, over the limit" in record.reason


def test_empty_files_and_missing_files(tmp_path: Path, collect, context) -> None:
    for body in ("", "\n\n", ",,\n"):
        with pytest.raises(InputError, match=r"empty.csv: empty file \(expected a header row\)"):
            collect(CsvCollector(), write(tmp_path / "empty.csv", body))
    assert len(collect(CsvCollector(), write(tmp_path / "header.csv", "id,text\n")).items) == 0

    missing = tmp_path / "nope.csv"
    with pytest.raises(MissingInputError, match="nope.csv: no such file") as info:
        CsvCollector().check(context(CsvCollector(), [missing]))
    assert info.value.path == str(missing)
    with pytest.raises(MissingInputError, match="not a regular file"):
        CsvCollector().check(context(CsvCollector(), [tmp_path]))


def test_relative_paths_and_globs_resolve_against_the_working_directory(
    tmp_path: Path, collect, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bihuan.collectors.files import expand_paths

    write(tmp_path / "b.csv", "text\n二\n")
    write(tmp_path / "a.csv", "text\n一\n")
    monkeypatch.chdir(tmp_path)
    here = tmp_path.resolve()
    assert expand_paths(["b.csv"]) == [here / "b.csv"]
    assert expand_paths(["*.csv", "a.csv"]) == [here / "a.csv", here / "b.csv"], "sorted, each file once"
    assert expand_paths(["nothing-*.csv"]) == []
    assert [i.text for i in collect(CsvCollector(), [Path("*.csv")]).items] == ["一", "二"]


def test_missing_text_column_names_the_headers_and_the_fix(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "numbers.csv", "编号,评分\n1,5\n")
    with pytest.raises(
        CollectorConfigError,
        match=r"numbers.csv: no text column; headers are \['编号', '评分'\]; use --map text=<column>",
    ):
        collect(CsvCollector(), path)


def test_map_overrides_detection(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "x.csv", "客户留言,反馈日期,内容\n柜台很慢,2026-10-01,备注\n")
    [item] = collect(CsvCollector(), path, mapping={"text": "客户留言", "created_at": "反馈日期"}).items
    assert item.text == "柜台很慢" and item.extra == {"内容": "备注"}
    assert item.created_at == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    with pytest.raises(CollectorConfigError, match=r"--map text=意见: no column '意见'; columns are \['客户留言'"):
        collect(CsvCollector(), path, mapping={"text": "意见"})


def test_unknown_mapping_field_is_a_config_error(tmp_path: Path, context) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown field 'txt'"):
        context(CsvCollector(), [tmp_path / "x.csv"], mapping={"txt": "意见"})
    config = CsvCollector.Config.model_construct(paths=[str(tmp_path)], mapping={"txt": "意见"})
    ctx = context(CsvCollector(), [tmp_path])
    ctx.config = config
    with pytest.raises(CollectorConfigError, match="unknown field 'txt'"):
        CsvCollector().check(ctx)


def test_rating_words_channel_words_and_unknown_channels(tmp_path: Path, collect) -> None:
    body = "内容,满意度,渠道,链接\n很好,非常满意,微博,https://weibo.com/1\n一般,基本满意,热线,\n差,不满意,柜台,\n"
    got = collect(CsvCollector(), write(tmp_path / "w.csv", body)).items
    assert [(i.rating, i.channel) for i in got] == [(5.0, "social"), (3.0, "hotline"), (2.0, "survey")]
    assert got[0].url == "https://weibo.com/1" and got[1].url is None
    assert got[2].extra == {"channel_raw": "柜台"}, "an unknown channel keeps the run's channel and its value"


def test_rows_without_an_id_get_a_stable_content_id(tmp_path: Path, collect) -> None:
    path = write(
        tmp_path / "noid.csv", "内容,时间,备注\n转账慢,2026-10-01,a\n转账慢,2026-10-01,b\n转账慢,2026-10-02,a\n"
    )
    first = collect(CsvCollector(), path).items
    again = collect(CsvCollector(), path).items
    # the same core fields → the same item, whatever the unmapped columns say
    assert first[0].external_id == first[1].external_id != first[2].external_id
    assert first[0].content_hash != first[1].content_hash
    assert [i.external_id for i in first] == [i.external_id for i in again]
    assert [i.content_hash for i in first] == [i.content_hash for i in again]
    assert first[0].external_id.startswith("h:") and len(first[0].external_id) == 34


def test_the_id_column_is_the_identity_and_the_hash_follows_the_content(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "ids.csv", "编号,内容\n A1 ,转账慢\nA2,转账慢\n,没有编号\n")
    items = collect(CsvCollector(), path).items
    assert [i.external_id for i in items[:2]] == ["A1", "A2"]
    assert items[2].external_id.startswith("h:"), "an empty id cell falls back to the content id"
    write(path, "编号,内容\nA1,转账很慢\n")
    [changed] = collect(CsvCollector(), path).items
    assert changed.external_id == "A1" and changed.content_hash != items[0].content_hash


def test_a_new_channel_or_mapping_changes_the_content_hash(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "c.csv", "编号,内容,备注\n1,转账慢,网点\n")
    base = collect(CsvCollector(), path).items[0].content_hash
    assert collect(CsvCollector(), path, channel="hotline").items[0].content_hash != base
    assert collect(CsvCollector(), path, mapping={"customer_ref": "备注"}).items[0].content_hash != base


def test_parse_record_retries_a_fixed_row(tmp_path: Path, collect, context) -> None:
    path = write(tmp_path / "survey.csv", SURVEY_HEADER + "S3,2026-10-01,9,8,评分超范围,C3,A,多余\n")
    [record] = collect(CsvCollector(), path).bad
    ctx = context(CsvCollector(), [path])
    with pytest.raises(RecordError, match="row has 8 cells"):
        CsvCollector().parse_record(ctx, record.raw)
    fixed_cells = {k: v for k, v in record.raw.items() if k != "_extra_cells"}
    with pytest.raises(RecordError, match="outside") as info:
        CsvCollector().parse_record(ctx, fixed_cells)
    assert info.value.field == "rating"
    item = CsvCollector().parse_record(ctx, {**fixed_cells, "满意度评分": "4"})
    assert item.rating == 4 and item.external_id == "S3" and item.extra == {"网点": "A"}
    assert item.created_at == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)


def test_parse_record_honours_the_mapping_and_refuses_junk(tmp_path: Path, context) -> None:
    ctx = context(CsvCollector(), [tmp_path / "x.csv"], mapping={"text": "客户说"})
    item = CsvCollector().parse_record(ctx, {"客户说": "太慢", "内容": "别的"})
    assert item.text == "太慢"
    with pytest.raises(RecordError, match="no column '客户说'"):
        CsvCollector().parse_record(ctx, {"内容": "别的"})
    with pytest.raises(RecordError, match="not a row with named columns"):
        CsvCollector().parse_record(ctx, ["a", "b"])


def test_duplicate_and_empty_headers_keep_every_cell(tmp_path: Path, collect) -> None:
    path = write(tmp_path / "dup.csv", "内容,备注,备注,\n好,a,b,c\n")
    [item] = collect(CsvCollector(), path).items
    assert item.extra == {"备注": "a", "备注 (2)": "b", "column 4": "c"}


def test_delimiter_option(tmp_path: Path, context) -> None:
    from pydantic import ValidationError

    for given, expected in (("\\t", "\t"), ("tab", "\t"), (";", ";"), ("|", "|")):
        assert context(CsvCollector(), [tmp_path / "x.csv"], delimiter=given).config.delimiter == expected
    for bad in ("ab", '"', ""):
        with pytest.raises(ValidationError, match="delimiter must be one character"):
            context(CsvCollector(), [tmp_path / "x.csv"], delimiter=bad)


def test_import_options_fit_each_collector(tmp_path: Path) -> None:
    """``bihuan import`` refuses an option the chosen collector's Config does not have."""
    from bihuan.core.collection import file_import_instances
    from bihuan.core.errors import UsageError

    registry = {"csv": CsvCollector, "xlsx": XlsxCollector, "jsonl": JsonlCollector}
    csv_path, xlsx_path = tmp_path / "a.csv", tmp_path / "b.xlsx"
    with pytest.raises(UsageError, match="--sheet does not apply to the csv collector"):
        file_import_instances([csv_path], registry, options={"sheet": "工单"})
    with pytest.raises(UsageError, match="--delimiter does not apply to the xlsx collector"):
        file_import_instances([xlsx_path], registry, options={"delimiter": ";"})
    [instance] = file_import_instances(
        [csv_path], registry, options={"encoding": "gbk", "delimiter": "tab", "mapping": {"text": "意见"}}
    )
    assert (instance.config.encoding, instance.config.delimiter) == ("gbk", "\t")
    [instance] = file_import_instances([xlsx_path], registry, options={"sheet": "工单", "encoding": None})
    assert instance.config.sheet == "工单"
