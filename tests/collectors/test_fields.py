"""Header aliases and value parsers, on their own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bihuan.collectors.fields import (
    ALIASES,
    EXACT_ALIASES,
    FIELDS,
    DateParser,
    MappingError,
    normalise_header,
    parse_channel,
    parse_nps,
    parse_rating,
    resolve_columns,
)
from bihuan.core.errors import RecordError

SHANGHAI = ZoneInfo("Asia/Shanghai")


def fields_of(header: list[str], mapping: dict[str, str] | None = None) -> dict[str, str]:
    """field → header name, for readable assertions."""
    return {field: header[i] for field, i in resolve_columns(header, mapping).items()}


# ── headers ───────────────────────────────────────────────────────────────────────────


def test_every_alias_belongs_to_one_field() -> None:
    assert set(ALIASES) == set(FIELDS)
    normalised = [normalise_header(a) for aliases in ALIASES.values() for a in set(aliases)]
    assert len(EXACT_ALIASES) == len(set(normalised)), "an alias must not name two fields"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("推荐意愿(0-10分)", "推荐意愿010分"),
        ("\ufeff编号", "编号"),
        (" 您的意见或建议： ", "您的意见或建议"),
        ("Consumer complaint narrative", "consumercomplaintnarrative"),
        ("created_at", "createdat"),
        ("满意度（1-5）", "满意度15"),
    ],
)
def test_normalise_header(raw: str, expected: str) -> None:
    assert normalise_header(raw) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (  # survey_responses.csv
            ["编号", "提交时间", "满意度评分", "推荐意愿(0-10分)", "您的意见或建议", "客户编号", "网点"],
            {
                "external_id": "编号",
                "created_at": "提交时间",
                "rating": "满意度评分",
                "nps": "推荐意愿(0-10分)",
                "text": "您的意见或建议",
                "customer_ref": "客户编号",
            },
        ),
        (  # social_mentions.jsonl
            ["id", "platform", "发布时间", "帖子内容", "链接", "作者"],
            {"external_id": "id", "channel": "platform", "created_at": "发布时间", "text": "帖子内容", "url": "链接"},
        ),
        (  # complaint_tickets.xlsx
            ["工单号", "创建时间", "客户号", "投诉内容", "处理状态", "业务类型"],
            {"external_id": "工单号", "created_at": "创建时间", "customer_ref": "客户号", "text": "投诉内容"},
        ),
        (  # hotline_records.csv
            ["记录编号", "来电时间", "通话摘要", "客户号", "满意度"],
            {
                "external_id": "记录编号",
                "created_at": "来电时间",
                "text": "通话摘要",
                "customer_ref": "客户号",
                "rating": "满意度",
            },
        ),
        (  # the CFPB consumer complaint database export
            [
                "Date received",
                "Product",
                "Sub-product",
                "Issue",
                "Consumer complaint narrative",
                "Company",
                "State",
                "ZIP code",
                "Submitted via",
                "Complaint ID",
            ],
            {"created_at": "Date received", "text": "Consumer complaint narrative", "external_id": "Complaint ID"},
        ),
    ],
)
def test_headers_of_real_exports(header: list[str], expected: dict[str, str]) -> None:
    assert fields_of(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["客户反馈内容", "客户编号"], {"text": "客户反馈内容", "customer_ref": "客户编号"}),
        (["留言时间", "客户留言"], {"created_at": "留言时间", "text": "客户留言"}),
        (["反馈编号", "反馈详情"], {"external_id": "反馈编号", "text": "反馈详情"}),
        (["您对本次服务的满意度评价", "详细意见"], {"rating": "您对本次服务的满意度评价", "text": "详细意见"}),
        (["NPS评分", "内容"], {"nps": "NPS评分", "text": "内容"}),
        (["amount paid", "feedback text"], {"text": "feedback text"}),  # "id" is not found inside "paid"
        (["Order ID", "Customer Comment", "Timely response?"], {"external_id": "Order ID", "text": "Customer Comment"}),
        (
            ["Comment Date", "Image URL", "Your feedback"],
            {"created_at": "Comment Date", "url": "Image URL", "text": "Your feedback"},
        ),
    ],
)
def test_contains_pass_prefers_the_longest_alias_then_the_head_noun(
    header: list[str], expected: dict[str, str]
) -> None:
    assert fields_of(header) == expected


def test_exact_matches_beat_contains_and_the_first_column_wins() -> None:
    # 处理时间 contains 时间, but 提交时间 is an exact alias; the second 内容 column stays extra
    assert fields_of(["处理时间", "提交时间", "内容", "内容"]) == {"created_at": "提交时间", "text": "内容"}
    assert resolve_columns(["内容", "内容"]) == {"text": 0}


def test_mapping_overrides_and_uses_each_column_once() -> None:
    header = ["客户留言", "反馈日期", "内容"]
    assert fields_of(header, {"text": "客户留言", "created_at": "反馈日期"}) == {
        "text": "客户留言",
        "created_at": "反馈日期",
    }
    # matched modulo case, spaces and punctuation too
    assert fields_of(["Voice Of Customer"], {"text": "voice of customer"}) == {"text": "Voice Of Customer"}


def test_mapping_errors_name_the_column_and_list_the_headers() -> None:
    with pytest.raises(MappingError, match=r"--map text=不存在: no column '不存在'; columns are \['a', 'b'\]"):
        resolve_columns(["a", "b"], {"text": "不存在"})
    with pytest.raises(MappingError, match="unknown field 'txt'"):
        resolve_columns(["a"], {"txt": "a"})


# ── dates ─────────────────────────────────────────────────────────────────────────────

BEIJING_0905 = datetime(2026, 10, 1, 1, 5, tzinfo=UTC)
BEIJING_MIDNIGHT = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10-01T09:05:00+08:00", BEIJING_0905),
        ("2026-10-01T01:05:00Z", BEIJING_0905),
        ("2026-10-01 09:05", BEIJING_0905),
        ("2026-10-01 09:05:00.250", BEIJING_0905 + timedelta(milliseconds=250)),
        ("2026-10-01T09:05:00.123456789", BEIJING_0905 + timedelta(microseconds=123456)),
        ("2026-10-01T03:05:00+02:00", BEIJING_0905),
        ("2026/10/1 9:05", BEIJING_0905),
        ("2026/10/01 09:05:00", BEIJING_0905),
        ("2026-10-1 9:05", BEIJING_0905),
        ("2026.10.1 9:05", BEIJING_0905),
        ("2026年10月1日 09:05", BEIJING_0905),
        ("2026年10月1日09:05", BEIJING_0905),
        ("2026年10月1日 9时05分", BEIJING_0905),
        ("2026年10月1日", BEIJING_MIDNIGHT),
        ("2026-10-01", BEIJING_MIDNIGHT),
        ("2026/10/1", BEIJING_MIDNIGHT),
        ("10/01/2026", BEIJING_MIDNIGHT),  # US month/day/year (CFPB "Date received")
        ("10/1/2026 9:05 AM", BEIJING_0905),
        ("09/30/2026 5:05 PM", datetime(2026, 9, 30, 9, 5, tzinfo=UTC)),
        ("1790816700", datetime(2026, 10, 1, 1, 5, tzinfo=UTC)),  # epoch seconds
        ("1790816700000", datetime(2026, 10, 1, 1, 5, tzinfo=UTC)),  # epoch milliseconds
        ("Thu, 01 Oct 2026 09:05:00 +0800", BEIJING_0905),  # RFC 2822, as RSS feeds write it
        ("  2026-10-01 09:05  ", BEIJING_0905),
    ],
)
def test_date_formats(value: str, expected: datetime) -> None:
    parsed = DateParser(SHANGHAI).parse(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_naive_times_are_read_in_the_run_timezone() -> None:
    assert DateParser(ZoneInfo("America/New_York")).parse("2026-10-01 09:05") == datetime(
        2026, 10, 1, 13, 5, tzinfo=UTC
    )
    assert DateParser(ZoneInfo("UTC")).parse("2026-10-01 09:05") == datetime(2026, 10, 1, 9, 5, tzinfo=UTC)
    # an explicit offset wins over the run's zone
    assert DateParser(ZoneInfo("America/New_York")).parse("2026-10-01T09:05+08:00") == BEIJING_0905


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Shanghai"])
def test_wall_times_convert_like_zoneinfo_across_dst_changes(zone: str) -> None:
    tz = ZoneInfo(zone)
    parser = DateParser(tz)
    start = datetime(2026, 1, 1)
    # every 15 minutes through the year, including skipped and repeated wall times
    for step in range(0, 365 * 96, 7):
        wall = start + timedelta(minutes=15 * step)
        expected = wall.replace(tzinfo=tz).astimezone(UTC)
        assert parser.parse(wall) == expected, wall
        assert parser.parse(wall.isoformat(sep=" ")) == expected, wall


def test_typed_cells_from_workbooks() -> None:
    parser = DateParser(SHANGHAI, excel_serials=True)
    assert parser.parse(datetime(2026, 10, 1, 9, 5)) == BEIJING_0905
    assert parser.parse(datetime(2026, 10, 1, 9, 5, tzinfo=timezone(timedelta(hours=8)))) == BEIJING_0905
    assert parser.parse(date(2026, 10, 1)) == BEIJING_MIDNIGHT
    assert parser.parse(46296.37847222222) == BEIJING_0905  # an Excel serial number
    assert parser.parse(1790816700) == BEIJING_0905
    assert parser.parse(None) is None
    assert parser.parse("") is None and parser.parse("   ") is None


def test_excel_serials_only_where_a_spreadsheet_cell_says_so() -> None:
    """A number like 46296 is a date only in a workbook's date column: from JSON or text
    it is refused, not read as a day in 2026."""
    plain = DateParser(SHANGHAI)
    for value in (46296.37847222222, 46296, "46296"):
        with pytest.raises(RecordError, match="invalid date"):
            plain.parse(value)
    # epoch numbers are dates everywhere, with a fraction too
    assert plain.parse(1790816700) == plain.parse(1790816700000) == BEIJING_0905
    assert plain.parse(1790816700.5) == BEIJING_0905 + timedelta(milliseconds=500)
    assert plain.parse("1790816700.5") == BEIJING_0905 + timedelta(milliseconds=500)


@pytest.mark.parametrize(
    "value", ["2026-13-45", "2026/13/45 25:00", "昨天下午", "2026年2月30日", "0001-01-01", "12345", "10/32/2026"]
)
def test_invalid_dates_are_record_errors_on_created_at(value: str) -> None:
    with pytest.raises(RecordError) as info:
        DateParser(SHANGHAI).parse(value)
    assert info.value.field == "created_at"
    assert info.value.reason.startswith(f"invalid date {value!r}")


def test_parsed_dates_are_cached_per_string() -> None:
    parser = DateParser(SHANGHAI)
    assert parser.parse("2026/10/1 9:05") is parser.parse("2026/10/1 9:05")


# ── ratings, NPS, channels ────────────────────────────────────────────────────────────


# fmt: off
RATING_CASES = [
    ("4", 4.0), ("4.5", 4.5), (" 3 ", 3.0), ("4分", 4.0), ("5星", 5.0), ("0", 0.0), (2, 2.0), (4.0, 4.0),
    ("非常满意", 5.0), ("满意", 4.0), ("一般", 3.0), ("基本满意", 3.0), ("不满意", 2.0), ("非常不满意", 1.0),
    ("Very Satisfied", 5.0), ("very  dissatisfied", 1.0), ("", None), (None, None),
]
# fmt: on


@pytest.mark.parametrize(("value", "expected"), RATING_CASES)
def test_ratings(value: object, expected: float | None) -> None:
    assert parse_rating(value, 5) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("7", "rating 7 outside 0..5"),
        (6, "rating 6 outside 0..5"),
        ("-1", "rating -1 outside 0..5"),
        ("十分", "rating '十分' is not a number or a satisfaction word"),
        ("nan", "rating nan outside 0..5"),
    ],
)
def test_bad_ratings(value: object, reason: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_rating(value, 5)
    assert (info.value.field, info.value.reason) == ("rating", reason)


def test_rating_scale_is_configurable_and_ratings_are_stored_on_the_five_point_scale() -> None:
    # CSAT counts 4 and 5 of a 1..5 scale: a 10-point source's 9 is 4.5, its 8 is 4
    assert (parse_rating("9", 10), parse_rating(8, 10), parse_rating("10分", 10)) == (4.5, 4.0, 5.0)
    assert parse_rating("满意", 10) == 4.0  # words are on the 5-point scale already
    with pytest.raises(RecordError, match="outside 0..10"):
        parse_rating("11", 10)


@pytest.mark.parametrize(("value", "expected"), [("8", 8), ("8分", 8), (" 10 ", 10), ("0", 0), (9.0, 9), ("", None)])
def test_nps(value: object, expected: int | None) -> None:
    assert parse_nps(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"), [("11", "outside 0..10"), ("8.5", "not a whole number"), ("很高", "not a number")]
)
def test_bad_nps(value: str, reason: str) -> None:
    with pytest.raises(RecordError, match=reason) as info:
        parse_nps(value)
    assert info.value.field == "nps"


# fmt: off
CHANNEL_CASES = [
    ("survey", "survey"), ("Social", "social"), ("app_review", "app_review"),
    ("问卷", "survey"), ("调查", "survey"),
    ("微博", "social"), ("抖音", "social"), ("小红书", "social"), ("黑猫投诉", "social"), ("新浪微博", "social"),
    ("工单", "ticket"), ("投诉", "ticket"),
    ("热线", "hotline"), ("电话", "hotline"), ("客服电话", "hotline"), ("95588", "hotline"),
    ("应用商店", "app_review"), ("App Store", "app_review"),
    ("某论坛", "social"), ("柜台", None), ("", None),
]
# fmt: on


@pytest.mark.parametrize(("value", "expected"), CHANNEL_CASES)
def test_channel_words(value: str, expected: str | None) -> None:
    assert parse_channel(value) == expected
