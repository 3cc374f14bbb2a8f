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
    ],
)
def test_the_quick_check_lets_through_every_text_the_full_search_would_change(text: str) -> None:
    import re

    from bihuan.core import redaction

    # the check before the rules must be no stricter than the plain pattern it replaces
    plain = re.compile(r"\d(?:[ -]?\d){10}").search(text) is not None or "@" in text or "＠" in text
    assert redaction._may_hold_pii(text) == plain


def test_rules_that_cannot_match_are_skipped_without_changing_the_result() -> None:
    text = "卡号4111 1111 1111 1111，手机１３８１２３４５６７８，身份证" + VALID_ID
    assert redact(text) == "卡号[银行卡号]，手机[手机号]，身份证[身份证号]"
    assert redact("无邮箱，手机13812345678") == "无邮箱，手机[手机号]"
