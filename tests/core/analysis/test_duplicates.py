"""Near-duplicate linking: repeats of one complaint point at the first, within the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bihuan.core.analysis.duplicates import DuplicateLinker, normalise_text

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
LONG = "手机银行转账一直卡在处理中，已经三天了还没到账"


def test_the_same_customer_on_the_same_problem_within_the_window_is_a_repeat() -> None:
    linker = DuplicateLinker(window_days=7)
    assert linker.link(1, group_id=5, created_at=T0, customer_ref="C1", text="提额太慢") is None
    assert linker.link(2, group_id=5, created_at=T0 + timedelta(days=3), customer_ref="C1", text="还是没提额") == 1
    # a chain of repeats points at the first contact; the window runs from the last one
    assert linker.link(3, group_id=5, created_at=T0 + timedelta(days=9), customer_ref="C1", text="第三次") == 1
    # another problem, another customer, or long after: not a repeat
    assert linker.link(4, group_id=6, created_at=T0, customer_ref="C1", text="年费") is None
    assert linker.link(5, group_id=5, created_at=T0, customer_ref="C2", text="提额太慢") is None
    assert linker.link(6, group_id=5, created_at=T0 + timedelta(days=30), customer_ref="C1", text="又来") is None


def test_the_same_long_text_on_two_channels_is_linked_short_texts_are_not() -> None:
    linker = DuplicateLinker(window_days=7)
    assert linker.link(10, group_id=1, created_at=T0, customer_ref=None, text=LONG) is None
    copy = f"  {LONG.replace('，', ', ')}！！ [手机号]"
    assert linker.link(11, group_id=2, created_at=T0 + timedelta(hours=5), customer_ref="T-9", text=copy) == 10
    assert linker.link(12, group_id=1, created_at=T0, customer_ref=None, text="太慢了") is None
    assert linker.link(13, group_id=1, created_at=T0, customer_ref=None, text="太慢了") is None


def test_seeded_items_from_an_earlier_run_are_found() -> None:
    linker = DuplicateLinker(window_days=7)
    linker.seed(100, group_id=3, created_at=T0, customer_ref="C7", text="信用卡年费", duplicate_of=None)
    linker.seed(101, group_id=3, created_at=T0 + timedelta(days=1), customer_ref="C7", text="年费", duplicate_of=100)
    assert linker.link(200, group_id=3, created_at=T0 + timedelta(days=6), customer_ref="C7", text="年费!") == 100


def test_normalised_text_ignores_case_spacing_punctuation_and_redaction_marks() -> None:
    assert normalise_text("Card  declined, AGAIN! [邮箱]") == "carddeclinedagain"
    assert normalise_text("转账，卡顿。") == "转账卡顿"
