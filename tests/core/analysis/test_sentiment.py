"""Sentiment models and labels (bihuan.core.analysis.sentiment).

The naive-snownlp comparisons need snownlp itself (~2 s, ~420 MB to import): one
module-scoped fixture runs it once, in a separate process.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys

import pytest

from bihuan.core.analysis import sentiment as sentiment_module
from bihuan.core.analysis.sentiment import (
    BANK_CORRECTIONS,
    NEGATIVE,
    NEUTRAL,
    NEUTRAL_SCORE,
    POSITIVE,
    FastSnowNLPSentiment,
    NaiveSnowNLPSentiment,
    SentimentModel,
    VaderSentiment,
    default_sentiment_model,
    label_for,
    load_snownlp_tables,
)
from bihuan.core.analysis.text import EN, OTHER, UNKNOWN, ZH, zh_segmenter

COMPLAINTS = [
    "手机银行转账一直转圈，钱扣了对方却没收到，客服也说不清楚",
    "信用卡年费莫名其妙被扣了两百块，事先没有任何通知",
    "网点只开了一个窗口，排队等了一个半小时才轮到我",
    "客服热线打了一上午都打不通，转人工永远在排队",
    "柜员态度很差，问两句就不耐烦，还翻白眼",
    "银行卡突然被冻结，打电话问原因也不告诉我",
    "手机银行更新之后天天闪退，根本没法用",
    "跨行转账两天了还没到账，急着用钱",
]
PRAISE = [
    "大堂经理很热情，主动帮我取号还教我用自助机",
    "柜员办理业务又快又专业，服务非常好，点赞",
    "客服小姐姐很耐心，帮我把挂失和补卡一次办好了，谢谢",
    "网点环境干净整洁，等候时间很短，体验很好",
    "信用卡额度提升很顺利，审批速度很快，感谢",
    "贷款经理全程跟进，效率很高，给你们好评",
]
# 40 varied bank texts (complaints, praise, inquiries, mixed) for the agreement check
BANK_TEXTS = [
    *COMPLAINTS,
    "理财经理推荐的产品亏了百分之八，当初说是稳健型，完全是误导",
    "房贷审批拖了两个月还没批下来，耽误了我买房",
    "ATM取款时吞卡了，第二天才能去网点拿，太耽误事",
    "申请提额三次都被拒，收入明明涨了",
    "催收电话一天打十几次，连我同事都被骚扰",
    "办个业务要跑三趟，每次都说材料不齐",
    "存款利率说降就降，也不提前告知，非常失望",
    "短信验证码一直收不到，登录不上手机银行",
    *PRAISE,
    "手机银行新版界面清爽好用，转账很快就到账了",
    "理财经理讲解得很清楚，没有强行推销，很满意",
    "老人行动不便，工作人员上门办理，太贴心了",
    "遇到诈骗电话，柜员及时提醒拦截，保住了我的钱，非常感谢",
    "请问大额存单现在的利率是多少",
    "想咨询一下信用卡分期的手续费怎么算",
    "外币兑换需要提前预约吗",
    "建议手机银行增加夜间模式",
    "周末网点几点开门",
    "请问借记卡到期后换卡需要本人去网点吗",
    "服务态度挺好的，就是排队时间太长了",
    "APP功能很多但是经常卡顿，希望优化一下",
    "客服回复很快，但问题到现在也没解决",
    "之前投诉的扣费问题已经退回来了，处理得还算及时",
    "利息算错了，找了三次才给我更正",
    "新开的网点装修不错，但是停车太难了",
    "这次办贷款比上次顺利多了，材料也少了",
    "银行短信通知很及时，每笔消费都能看到",
]


_NAIVE_PROBE = """
import json, sys
from bihuan.core.analysis.sentiment import NaiveSnowNLPSentiment
from snownlp import sentiment
texts = json.loads(sys.stdin.read())
scores = NaiveSnowNLPSentiment().score(texts, ["zh"] * len(texts))
print(json.dumps({"scores": scores, "tokens": [sentiment.classifier.handle(t) for t in texts]}))
"""


@pytest.fixture(scope="module")
def naive() -> dict[str, list]:
    """Plain snownlp's scores and its own tokens for BANK_TEXTS, from a separate process
    (importing snownlp costs ~2 s and ~420 MB, which the test process need not keep)."""
    result = subprocess.run(
        [sys.executable, "-c", _NAIVE_PROBE],
        input=json.dumps(BANK_TEXTS),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------------
# label_for
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0.0, NEGATIVE),
        (0.39, NEGATIVE),
        (0.4, NEUTRAL),
        (0.5, NEUTRAL),
        (0.6, NEUTRAL),
        (0.61, POSITIVE),
        (1.0, POSITIVE),
    ],
)
def test_label_for_default_thresholds(score: float, label: str) -> None:
    assert label_for(score) == label


def test_label_for_custom_thresholds() -> None:
    assert label_for(0.45, negative_below=0.5, positive_above=0.5) == NEGATIVE
    assert label_for(0.5, negative_below=0.5, positive_above=0.5) == NEUTRAL
    assert label_for(0.75, negative_below=0.2, positive_above=0.8) == NEUTRAL
    with pytest.raises(ValueError, match="must not exceed"):
        label_for(0.5, negative_below=0.7, positive_above=0.3)


# ---------------------------------------------------------------------------------------
# What a user relies on
# ---------------------------------------------------------------------------------------


def test_the_default_model_is_the_fast_snownlp_model_with_bank_corrections() -> None:
    model = default_sentiment_model()
    assert isinstance(model, FastSnowNLPSentiment)
    assert isinstance(model, SentimentModel)
    assert model.name == "snownlp-fast+bank"
    assert default_sentiment_model() is model


@pytest.mark.parametrize("text", COMPLAINTS)
def test_clear_chinese_complaints_are_negative(text: str) -> None:
    [score] = default_sentiment_model().score([text], [ZH])
    assert score < 0.4
    assert label_for(score) == NEGATIVE


@pytest.mark.parametrize("text", PRAISE)
def test_clear_chinese_praise_is_positive(text: str) -> None:
    [score] = default_sentiment_model().score([text], [ZH])
    assert score > 0.6
    assert label_for(score) == POSITIVE


def test_english_gets_an_english_model() -> None:
    happy, angry = default_sentiment_model().score(
        ["Great service, very happy", "terrible, waited two hours"], [EN, EN]
    )
    assert label_for(happy) == POSITIVE
    assert label_for(angry) == NEGATIVE


def test_unknown_and_other_languages_are_neutral() -> None:
    texts = ["👍👍👍", "", "Спасибо, всё отлично", "12345"]
    scores = default_sentiment_model().score(texts, [UNKNOWN, UNKNOWN, OTHER, UNKNOWN])
    assert scores == [NEUTRAL_SCORE] * 4


def test_a_mixed_batch_keeps_its_order_and_detects_languages_when_not_given() -> None:
    texts = [
        "Great service, very happy",
        "客服热线打了一上午都打不通",
        "",
        "柜员办理业务又快又专业，服务非常好，点赞",
        "terrible",
    ]
    model = default_sentiment_model()
    given = model.score(texts, [EN, ZH, UNKNOWN, ZH, EN])
    assert model.score(texts, None) == given
    assert [label_for(s) for s in given] == [POSITIVE, NEGATIVE, NEUTRAL, POSITIVE, NEGATIVE]
    assert all(0.0 <= s <= 1.0 for s in given)
    assert model.score([], []) == []


def test_texts_segmented_by_the_caller_score_as_if_segmented_here() -> None:
    texts = ["客服热线打了一上午都打不通", "Great service, very happy", "手机银行 APP\r\n闪退  了", "", "柜员很专业"]
    languages = [ZH, EN, ZH, UNKNOWN, ZH]
    segment = zh_segmenter()
    segments = [segment(t) if lang == ZH else None for t, lang in zip(texts, languages, strict=True)]
    model = default_sentiment_model()
    expected = model.score(texts, languages)
    assert model.score_segmented(texts, languages, segments) == expected
    segments[4] = None  # a Chinese text the caller did not segment is segmented here
    assert model.score_segmented(texts, languages, segments) == expected
    with pytest.raises(ValueError, match="5 texts but 1 segment lists"):
        model.score_segmented(texts, languages, [None])


def test_language_tags_like_zh_cn_route_to_the_chinese_model() -> None:
    model = default_sentiment_model()
    text = "跨行转账两天了还没到账，急着用钱"
    assert model.score([text], ["zh-CN"]) == model.score([text], [ZH])


def test_texts_and_languages_must_match_in_length() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        default_sentiment_model().score(["好", "差"], [ZH])


def test_scores_stay_in_range_for_extreme_texts() -> None:
    model = FastSnowNLPSentiment()
    long_negative = "垃圾银行，差评，投诉，失望，" * 500
    long_positive = "非常满意，点赞，感谢，很好，" * 500
    low, high = model.score([long_negative, long_positive], [ZH, ZH])
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(1.0, abs=1e-12)
    assert 0.0 <= low <= high <= 1.0


# ---------------------------------------------------------------------------------------
# Bank corrections
# ---------------------------------------------------------------------------------------


def test_bank_corrections_turn_banking_failures_negative_and_can_be_switched_off() -> None:
    plain = FastSnowNLPSentiment(corrections=None)
    bank = FastSnowNLPSentiment()
    assert plain.name == "snownlp-fast"
    text = "APP功能很多但是经常卡顿，希望优化一下"
    [without] = plain.score([text], [ZH])
    [with_] = bank.score([text], [ZH])
    assert label_for(without) == POSITIVE  # snownlp's shopping reviews never say 卡顿
    assert label_for(with_) == NEGATIVE
    # the correction is exactly the phrase's log-odds, once per occurrence
    [logit_without] = plain.logits([text])
    [logit_with] = bank.logits([text])
    assert logit_with - logit_without == pytest.approx(BANK_CORRECTIONS["卡顿"])


def test_negated_praise_is_a_complaint_and_the_longest_phrase_wins() -> None:
    bank = FastSnowNLPSentiment()
    plain = FastSnowNLPSentiment(corrections=None)
    text = "对这次处理结果很不满意"
    [delta] = [b - p for b, p in zip(bank.logits([text]), plain.logits([text]), strict=True)]
    assert delta == pytest.approx(BANK_CORRECTIONS["不满意"])  # not 不满意 + 满意
    assert BANK_CORRECTIONS["不满意"] < 0 < BANK_CORRECTIONS["满意"]


def test_custom_corrections() -> None:
    model = FastSnowNLPSentiment(corrections={"鑫和": 5.0})
    assert model.name == "snownlp-fast+custom"
    [base] = FastSnowNLPSentiment(corrections=None).logits(["鑫和鑫和"])
    [custom] = model.logits(["鑫和鑫和"])
    assert custom - base == pytest.approx(10.0)


# ---------------------------------------------------------------------------------------
# Faithful to snownlp, and agreeing with it
# ---------------------------------------------------------------------------------------


def test_fast_formula_equals_snownlp_classify_on_snownlps_own_tokens(naive: dict[str, list]) -> None:
    tables = load_snownlp_tables()
    for tokens, expected in zip(naive["tokens"], naive["scores"], strict=True):
        logit = tables.prior + sum(tables.weights.get(t, tables.unknown) for t in tokens)
        assert sentiment_module._sigmoid(logit) == pytest.approx(expected, abs=1e-12)


def test_fast_model_agrees_with_naive_snownlp_on_bank_texts(naive: dict[str, list]) -> None:
    fast = FastSnowNLPSentiment(corrections=None).score(BANK_TEXTS, [ZH] * len(BANK_TEXTS))
    agree = sum(label_for(a) == label_for(b) for a, b in zip(fast, naive["scores"], strict=True))
    assert len(BANK_TEXTS) == 40
    assert agree / len(BANK_TEXTS) >= 0.9


def test_naive_model_routes_non_chinese_like_the_fast_one() -> None:
    texts = ["Great service, very happy", "👍"]
    assert NaiveSnowNLPSentiment().score(texts, [EN, UNKNOWN]) == default_sentiment_model().score(texts, [EN, UNKNOWN])


# ---------------------------------------------------------------------------------------
# Loading: lazily, once, cheaply; models pickle
# ---------------------------------------------------------------------------------------

_HEAVY = ("snownlp", "jieba", "rjieba", "vaderSentiment")


def test_importing_and_creating_the_model_loads_nothing_and_scoring_never_imports_snownlp() -> None:
    code = (
        "import json, sys\n"
        "from bihuan.core.analysis import sentiment as s\n"
        f"heavy = {_HEAVY!r}\n"
        "loaded = lambda: sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy})\n"
        "model = s.default_sentiment_model()\n"
        "before = loaded()\n"
        "zh = model.score(['客服热线打了一上午都打不通'], ['zh'])\n"
        "after_zh = loaded()\n"
        "model.score(['Great service, very happy'], ['en'])\n"
        "print(json.dumps({'before': before, 'after_zh': after_zh, 'after_en': loaded(), 'zh': zh}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=dict(os.environ), timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["before"] == []
    # Chinese scoring loads the segmenter (rjieba or jieba) — never snownlp's segmenter,
    # tagger or package: its data file is read directly
    assert "snownlp" not in seen["after_zh"] and "vaderSentiment" not in seen["after_zh"]
    assert len(seen["after_zh"]) == 1
    assert "vaderSentiment" in seen["after_en"]
    assert seen["zh"][0] < 0.4
    assert result.stderr == ""


def test_models_load_once_per_process() -> None:
    model = FastSnowNLPSentiment()
    model.score(["网点排队太久"], [ZH])
    tables, segment = load_snownlp_tables(), zh_segmenter()
    model.score(["网点排队太久"], [ZH])
    FastSnowNLPSentiment().warm_up()
    assert load_snownlp_tables() is tables
    assert zh_segmenter() is segment


def test_models_pickle_without_their_data() -> None:
    model = FastSnowNLPSentiment()
    clone = pickle.loads(pickle.dumps(model))
    assert clone.name == model.name
    assert clone.score(BANK_TEXTS[:5], [ZH] * 5) == model.score(BANK_TEXTS[:5], [ZH] * 5)
    assert len(pickle.dumps(model)) < 50_000  # configuration only, not the 50k-word table


def test_unseen_word_weight_matches_snownlps_add_one_smoothing() -> None:
    tables = load_snownlp_tables()
    # add-one smoothing: an unseen word weighs log(1/N_pos) - log(1/N_neg) = -prior
    assert tables.unknown == pytest.approx(-tables.prior)
    assert tables.weights["的"] == 0.0 and tables.weights[" "] == 0.0 and tables.weights["\r\n"] == 0.0
    assert tables.weights["差"] < 0 < tables.weights["满意"]
    assert math.isfinite(sum(tables.weights.values()))


def test_vader_alone_scores_english_only() -> None:
    scores = VaderSentiment().score(["Great service, very happy", "很好"], [EN, ZH])
    assert scores[0] > 0.6 and scores[1] == NEUTRAL_SCORE
