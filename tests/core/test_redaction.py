"""The default redaction: what must never reach the database, and what must survive."""

from __future__ import annotations

import pytest

from bihuan.core.redaction import REDACTION_TOKENS, find_pii, luhn_valid, redact, resident_id_valid

# A valid resident ID (check digit computed by MOD 11-2) and Luhn-valid card numbers.
VALID_ID = "11010519491231002X"
VALID_CARD_16 = "4111111111111111"
VALID_CARD_19 = "6222021234567890128"


def _with_check_digit(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def test_reference_numbers_are_recognised() -> None:
    assert resident_id_valid(VALID_ID)
    assert resident_id_valid(VALID_ID.lower())
    assert luhn_valid(VALID_CARD_16)
    assert luhn_valid(VALID_CARD_19)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的手机13812345678打不通", "我的手机[手机号]打不通"),
        ("电话 138-1234-5678 请回电", "电话 [手机号] 请回电"),
        ("联系 +86 138 1234 5678", "联系 [手机号]"),
        ("身份证号" + VALID_ID + "，请核实", "身份证号[身份证号]，请核实"),
        ("卡号4111 1111 1111 1111被冻结", "卡号[银行卡号]被冻结"),
        ("卡号" + VALID_CARD_19 + "扣了年费", "卡号[银行卡号]扣了年费"),
        ("邮箱 zhang.san@example.com.cn 没收到账单", "邮箱 [邮箱] 没收到账单"),
        ("手机１３８１２３４５６７８", "手机[手机号]"),  # full-width digits
    ],
)
def test_personal_data_is_replaced_by_its_token(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_several_kinds_in_one_text() -> None:
    text = f"客户{VALID_ID}，手机13912345678，卡{VALID_CARD_16}，邮箱a@b.cn"
    assert redact(text) == "客户[身份证号]，手机[手机号]，卡[银行卡号]，邮箱[邮箱]"
    assert [m.kind for m in find_pii(text)] == ["resident_id", "mobile", "bank_card", "email"]


@pytest.mark.parametrize(
    "text",
    [
        "转账 5000 元等了 3 天",
        "订单号 20261122123456789012 查询不到",  # 20 digits: no mobile inside a longer run
        "编号 4111111111111112 不是卡号",  # fails Luhn
        "号码 110105194912310021 校验位错误",  # wrong ID check digit
        "工号 12812345678 不是手机",  # 12x is not a mobile prefix
        "2026年11月22日 10:30 在网点排队",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert redact(text) == text
    assert find_pii(text) == []


def test_resident_id_needs_a_real_birth_date() -> None:
    bad_date = _with_check_digit("11010519491331002")  # month 13
    good = _with_check_digit("11010519900307123")
    assert not resident_id_valid(bad_date)
    assert resident_id_valid(good)
    assert redact(bad_date) != "[身份证号]"
    assert redact(good) == "[身份证号]"


def test_no_raw_digits_survive_in_redacted_text() -> None:
    raw = f"手机13812345678 身份证{VALID_ID} 卡{VALID_CARD_19}"
    cleaned = redact(raw)
    for secret in ("13812345678", VALID_ID, VALID_CARD_19):
        assert secret not in cleaned
    assert set(REDACTION_TOKENS.values()) >= {"[手机号]", "[身份证号]", "[银行卡号]"}


def test_redaction_is_idempotent() -> None:
    once = redact(f"手机13812345678 邮箱x@y.com 卡{VALID_CARD_16}")
    assert redact(once) == once


def test_text_without_candidates_is_returned_unchanged() -> None:
    text = "客服态度很好" * 100
    assert redact(text) is text


@pytest.mark.parametrize(
    "text",
    [
        "第123456条：转账失败",  # a short run, then nothing
        "第1234567890条",  # ten digits are not enough
        "第12345678901条",  # eleven are, wherever the run starts
        "订单 12 3456 7890 1",  # grouped by spaces
        "12-34-56-78-90-1x",  # grouped by dashes
        "1234567890 13912345678",  # a long run after a short one
        "１２３４５６７８９０１",  # full-width
        "a@b",
        "短",
        "(021)12345678",  # a bracket between area code and number
        "138.1234.5678",  # dots
        "１３８　１２３４　５６７８",  # ideographic spaces
        "姓名：张三",  # a name label, however short the text
        "户名",
        "持卡人王五",
        "联系人",
        "名人名言",  # the characters of the labels, not a label
    ],
)
def test_the_quick_check_lets_through_every_text_the_full_search_would_change(text: str) -> None:
    import re

    from bihuan.core import redaction

    # the check before the rules must be no stricter than the plain pattern it replaces
    # (eleven digits with single separators, an "@", or a name label)
    plain = (
        re.compile(r"\d(?:[ \-.)\u3000）]?\d){10}").search(text) is not None
        or "@" in text
        or "＠" in text
        or any(label in text for label in redaction.NAME_LABELS)
    )
    assert redaction._may_hold_pii(text) == plain


def test_rules_that_cannot_match_are_skipped_without_changing_the_result() -> None:
    text = "卡号4111 1111 1111 1111，手机１３８１２３４５６７８，身份证" + VALID_ID
    assert redact(text) == "卡号[银行卡号]，手机[手机号]，身份证[身份证号]"
    assert redact("无邮箱，手机13812345678") == "无邮箱，手机[手机号]"


# ── the shapes added for issue 15 ─────────────────────────────────────────────────────

VALID_ID_15 = "110105491231002"  # Beijing, born 1949-12-31


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 15-digit (first-generation) resident IDs
        (f"身份证{VALID_ID_15}已过期", "身份证[身份证号]已过期"),
        # landlines with their area code, however written
        ("座机010-12345678无人接听", "座机[电话]无人接听"),
        ("电话0755 1234 5678转8", "电话[电话]转8"),
        ("(021)12345678", "[电话]"),
        ("（０２１）１２３４５６７８", "[电话]"),
        ("请拨075512345678", "请拨[电话]"),
        ("0951-1234567", "[电话]"),
        # mobiles in more shapes
        ("手机138.1234.5678", "手机[手机号]"),
        ("手机1381 234 5678", "手机[手机号]"),
        ("联系 +86 138 1234 5678", "联系 [手机号]"),
        ("１３８　１２３４　５６７８", "[手机号]"),
        ("0086-13812345678", "[手机号]"),
        ("网点3 13812345678", "网点3 [手机号]"),  # after a number and a space
        ("转账1000 13812345678", "转账1000 [手机号]"),
        # e-mail with Chinese local parts or domains
        ("张三@例子.中国", "[邮箱]"),
        ("邮箱：zhangsan@例子.中国，谢谢", "邮箱：[邮箱]，谢谢"),
        ("联系zhang.san@银行.公司", "联系[邮箱]"),
        ("王五＠example.com", "[邮箱]"),
        # account numbers in account context, Luhn or not
        ("账号：6217 0000 1234 5678 901", "账号：[账号]"),
        ("卡号 621700001234567890", "卡号 [账号]"),
        ("我的账户是123456789012", "我的账户是[账号]"),
        ("银行卡62170000123456789012", "银行卡[账号]"),
        # names after labels
        ("姓名：张三，电话", "姓名：[姓名]，电话"),
        ("客户姓名 李四", "客户姓名 [姓名]"),
        ("联系人：王小明先生", "联系人：[姓名]先生"),
        ("户名:欧阳娜娜", "户名:[姓名]"),
        ("持卡人是赵六。", "持卡人是[姓名]。"),
        ("姓名：Zhang San，", "姓名：[姓名]，"),
    ],
)
def test_more_shapes_of_personal_data_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "转账¥12,345.67没到账",  # amounts
        "金额 1,234,567,890.12 元",
        "2026-12-01 10:30:00 在网点",  # dates and times
        "2026.12.01 09:30",
        "第123456条",
        "工单GD202612010001处理中",  # ticket numbers
        "流水号 20261201000123456789",  # a 20-digit serial
        "3.14159265358979",  # a decimal
        "服务器192.168.100.200",
        "户名不符，请核对",  # a label without a name after it
        "户名是否正确",
        "联系人电话打不通",
        "客户名称：鑫和科技",
        "400-820-8888",  # a company hotline is not personal data
        "微博 https://weibo.com/1234567890/Abcdefg",
        "109876543210987654",  # an 18-digit snowflake id that passes Luhn: no card starts with 1
        "账号被冻结了",
        "请在12:30前到网点",
    ],
)
def test_numbers_and_words_that_are_not_personal_data_survive(text: str) -> None:
    assert redact(text) == text, find_pii(text)


def test_every_redacted_shape_leaves_no_digits_of_it_behind() -> None:
    text = (
        f"身份证{VALID_ID_15}，座机(021)12345678，手机138.1234.5678，"
        "账号：6217 0000 1234 5678 901，邮箱张三@例子.中国，姓名：张三"
    )
    cleaned = redact(text)
    for raw in (VALID_ID_15, "12345678", "5678", "6217", "张三"):
        assert raw not in cleaned
    assert redact(cleaned) == cleaned


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("卡号", "6222021234567890944", "[账号]"),  # a 19-digit card an export stored as a float
        ("银行卡号", "6222 0212 3456 7890 944", "[账号]"),
        ("联系电话", "75512345678", "[电话]"),  # a landline whose leading 0 a spreadsheet dropped
        ("手机", "13812345678", "[手机号]"),  # the content says it already
        ("Contact Phone", "8765 4321", "[电话]"),
        ("身份证号码", "110105194912310021", "[身份证号]"),  # wrong check digit: still an ID
        ("客户姓名", "张三", "[姓名]"),
        ("real_name", "Zhang San", "[姓名]"),
        ("email", "someone at example dot com", "someone at example dot com"),  # no address in it
        ("备注", "6222021234567890944", "6222021234567890944"),  # the name says nothing
        ("手机", "无", "无"),  # too few digits to be a number
        ("姓名", "", ""),
    ],
)
def test_a_field_is_redacted_by_what_its_name_says(name: str, value: str, expected: str) -> None:
    from bihuan.core.redaction import redact_field

    assert redact_field(name, value) == expected
