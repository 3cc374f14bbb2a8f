"""``display_text``: untrusted text → a string that shows every character and makes a
terminal or browser do nothing."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from bihuan.core.display import display_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("转账\x1b[2J失败", "转账␛[2J失败"),  # clear screen
        ("\x1b]8;;http://evil/\x1b\\点这里\x1b]8;;\x1b\\", "␛]8;;http://evil/␛\\点这里␛]8;;␛\\"),  # OSC-8 link
        ("\x1b]0;title\x07", "␛]0;title␇"),  # window title, BEL
        ("余额100\r余额999", "余额100␍余额999"),  # CR overwrites the line
        ("好评\b\b差评", "好评␈␈差评"),  # BS
        ("\x00\x7f", "␀␡"),
        ("\x9b2J\x85", "<U+009B>2J<U+0085>"),  # C1 CSI, NEL
        ("abc\u202edcba", "abc<U+202E>dcba"),  # bidi override
        ("\u2066x\u2069\u200e\u200f\u061c", "<U+2066>x<U+2069><U+200E><U+200F><U+061C>"),  # isolates, marks
        ("转\u200b账\u2060\ufeff\u00ad", "转<U+200B>账<U+2060><U+FEFF><U+00AD>"),  # zero-width, BOM, soft hyphen
        ("x\u200dy", "x<U+200D>y"),  # a joiner between letters hides a spelling
        ("👨\u200d👩\u200d👧 ❤\ufe0f\u200d🔥", "👨\u200d👩\u200d👧 ❤\ufe0f\u200d🔥"),  # emoji sequences stay
        ("\ud83d", "<U+D83D>"),  # a lone surrogate (a truncated emoji) cannot be printed at all
        ("[/] [@click=app.quit]quit[/] <b>", "[/] [@click=app.quit]quit[/] <b>"),  # markup is not its business
        ("全角　空格 café", "全角　空格 café"),  # ideographic space, combining-free text unchanged
    ],
)
def test_controls_become_visible_and_nothing_else_changes(raw: str, shown: str) -> None:
    assert display_text(raw) == shown
    assert display_text(shown) == shown  # a shown string is shown as it is


def test_line_breaks_one_line_and_multiline() -> None:
    text = "第一行\r\n第二行\n第三行\u2028第四行\r孤立CR\t制表"
    assert display_text(text) == "第一行⏎第二行⏎第三行⏎第四行␍孤立CR 制表"
    assert display_text(text, multiline=True) == "第一行\n第二行\n第三行\n第四行␍孤立CR\t制表"


def test_values_limit_and_none() -> None:
    assert display_text(None) == ""
    assert display_text(42) == "42"
    assert display_text({"k\x1b": 1}) == "{'k\\x1b': 1}"  # repr already escapes inside containers
    assert display_text(ValueError("bad \x1b[31m")) == "bad ␛[31m"
    assert display_text("\x1b[2J" * 10, limit=5) == "␛[2J…"
    assert display_text("短", limit=5) == "短"


def test_no_hidden_or_control_code_point_survives() -> None:
    """Every code point of the categories a terminal or browser acts on (controls, format,
    surrogates, line and paragraph separators) comes out as something else."""
    acting = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    points = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in acting]
    assert len(points) > 2000  # C0, C1, the format characters, the surrogates
    text = "a".join(points)
    for multiline in (False, True):
        shown = display_text(text, multiline=multiline)
        left = {ch for ch in shown if unicodedata.category(ch) in acting}
        assert left == ({"\n", "\t"} if multiline else set())
