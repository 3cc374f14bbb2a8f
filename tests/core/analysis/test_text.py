"""Language detection, Chinese segmentation and stopwords (bihuan.core.analysis.text)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from bihuan.core.analysis.text import (
    EN,
    OTHER,
    UNKNOWN,
    ZH,
    detect_language,
    filter_stopwords,
    language_family,
    snownlp_stopwords,
    tokenize_zh,
    zh_segmenter_name,
)
from bihuan.core.errors import ConfigError

HAS_JIEBA = importlib.util.find_spec("jieba") is not None
HAS_RJIEBA = importlib.util.find_spec("rjieba") is not None


# ---------------------------------------------------------------------------------------
# detect_language
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "手机银行转账一直转圈，钱扣了对方没收到",
        "客服热线打了一上午都打不通！！！",
        # Chinese feedback full of Latin words and numbers is still Chinese
        "手机银行APP更新到6.2版本后闪退",
        "我的iPhone 15 Pro Max打不开app",
        "ATM吞卡了",
        "ＡＰＰ打不开",  # full-width Latin
        "客户要求将处理结果发送至邮箱zhang.san@example.com",
        "我の日常：手机银行又闪退了",  # a stray kana in a Chinese post
        "[赞][赞]",  # Weibo emoticons are Chinese words
    ],
)
def test_chinese_text_is_zh(text: str) -> None:
    assert detect_language(text) == ZH


@pytest.mark.parametrize(
    "text",
    [
        "Great service, very happy",
        "terrible, waited two hours",
        # a Chinese name inside an English sentence does not make it Chinese
        "I went to the 招商银行 branch downtown and the staff were rude",
        "Customer 王小明 says the card was blocked without notice",
        "Bonjour, très bien",  # Latin script: "en" means Latin-script text
    ],
)
def test_latin_script_text_is_en(text: str) -> None:
    assert detect_language(text) == EN


@pytest.mark.parametrize("text", ["Спасибо за помощь", "日本語のテキストです", "안녕하세요, 감사합니다", "شكرا جزيلا"])
def test_other_scripts_are_other(text: str) -> None:
    assert detect_language(text) == OTHER


@pytest.mark.parametrize("text", ["", None, "   \n\t", "12345", "？？？！！！", "👍👍", "2024-05-01 10:00", "-- ~~ ##"])
def test_text_without_letters_is_unknown(text: str | None) -> None:
    assert detect_language(text) == UNKNOWN


@pytest.mark.parametrize(
    ("tag", "family"),
    [
        ("zh", ZH),
        ("zh-CN", ZH),
        ("zh_Hant", ZH),
        ("ZH-TW", ZH),
        ("en", EN),
        ("en-US", EN),
        ("fr", OTHER),
        ("other", OTHER),
        ("unknown", UNKNOWN),
        ("", UNKNOWN),
        (None, UNKNOWN),
    ],
)
def test_language_family_accepts_common_tags(tag: str | None, family: str) -> None:
    assert language_family(tag) == family


# ---------------------------------------------------------------------------------------
# tokenize_zh and stopwords
# ---------------------------------------------------------------------------------------


def test_tokenize_zh_gives_words_without_whitespace() -> None:
    tokens = tokenize_zh("手机银行 转账\n卡顿，APP闪退\r\n2000元")
    assert tokens[:3] == ["手机", "银行", "转账"]
    assert "APP" in tokens and "2000" in tokens  # Latin letters and digits stay whole
    assert "，" in tokens  # punctuation is a token; the stopword filter removes it
    assert not any(t.isspace() for t in tokens)
    assert "".join(tokens) == "手机银行转账卡顿，APP闪退2000元"


def test_tokenize_zh_of_empty_text_is_empty() -> None:
    assert tokenize_zh("") == []
    assert tokenize_zh("   ") == []


def test_stopwords_are_snownlps_and_filter_drops_them() -> None:
    stop = snownlp_stopwords()
    assert {"的", "了", "，", "。"} <= stop
    assert "投诉" not in stop and "满意" not in stop
    assert snownlp_stopwords() is stop  # loaded once
    assert filter_stopwords(["我", "的", "卡", "被", "冻结", "了", "，", " ", "\n"]) == ["卡", "冻结"]


@pytest.mark.skipif(not (HAS_JIEBA and HAS_RJIEBA), reason="needs both jieba and rjieba")
def test_jieba_and_rjieba_backends_give_the_same_tokens() -> None:
    texts = [
        "信用卡年费莫名其妙被扣了两百块，也没有短信通知",
        "网点只开了一个窗口，排队等了一个半小时",
        "理财经理推荐的产品亏了8%，当初说是稳健型",
        "客服小姐姐很耐心，帮我把挂失和补卡一次办好了",
    ]
    for text in texts:
        assert tokenize_zh(text, backend="jieba") == tokenize_zh(text, backend="rjieba")


def test_unknown_segmenter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown Chinese segmenter"):
        zh_segmenter_name("pkuseg")


# ---------------------------------------------------------------------------------------
# Loading: nothing at import, once on first use, quietly
# ---------------------------------------------------------------------------------------

_SEGMENTER_MODULES = ("jieba", "rjieba", "snownlp")


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_import_loads_no_segmenter_and_first_use_loads_one() -> None:
    code = (
        "import json, sys\n"
        "import bihuan.core.analysis.text as t\n"
        f"mods = {_SEGMENTER_MODULES!r}\n"
        "before = [m for m in sys.modules if m.split('.')[0] in mods]\n"
        "t.tokenize_zh('手机银行转账卡顿')\n"
        "after = sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in mods})\n"
        "print(json.dumps({'before': before, 'after': after, 'backend': t.zh_segmenter_name()}))\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["before"] == []
    assert seen["after"] == [seen["backend"]]  # the segmenter only: never snownlp


@pytest.mark.skipif(not HAS_JIEBA, reason="needs jieba")
def test_jieba_backend_initialises_quietly(tmp_path) -> None:
    code = (
        "import bihuan.core.analysis.text as t\n"
        "seg = t.zh_segmenter()\n"
        "assert t.tokenize_zh('客服热线打不通') and t.zh_segmenter() is seg\n"
        "print(t.zh_segmenter_name())\n"
    )
    result = _run(code, BIHUAN_ZH_SEGMENTER="jieba", TMPDIR=str(tmp_path))  # a cold jieba cache
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "jieba"
    assert result.stderr == ""  # no "Building prefix dict…" / pkg_resources warnings
