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


def test_text_keys_are_stable_and_ignore_what_normalising_ignores() -> None:
    import subprocess
    import sys

    from bihuan.core.analysis.duplicates import text_key

    copy = f"  {LONG.replace('，', ', ')}！！ [手机号]"
    assert text_key(LONG) == text_key(copy) != 0
    assert text_key(LONG) != text_key(LONG + "了")
    assert text_key("太慢了") == 0 == text_key("")  # too short to be linked by text
    # stored in the database: the same in another process (``hash()`` is not)
    other = subprocess.run(
        [sys.executable, "-c", f"from bihuan.core.analysis.duplicates import text_key; print(text_key({LONG!r}))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(other.stdout) == text_key(LONG)
    assert -(2**63) <= text_key(LONG) < 2**63  # fits a BIGINT


def test_linking_by_stored_key_is_linking_by_text() -> None:
    from bihuan.core.analysis.duplicates import text_key

    by_text, by_key = DuplicateLinker(window_days=7), DuplicateLinker(window_days=7)
    by_text.seed(100, group_id=3, created_at=T0, customer_ref=None, text=LONG, duplicate_of=None)
    by_key.seed(100, group_id=3, created_at=T0, customer_ref=None, key=text_key(LONG), duplicate_of=None)
    later = T0 + timedelta(days=2)
    copy = LONG + "！"
    assert by_text.link(101, group_id=4, created_at=later, customer_ref=None, text=copy) == 100
    assert by_key.link(101, group_id=4, created_at=later, customer_ref=None, key=text_key(copy)) == 100
