"""Keywords: the few words that say what a text (or a group of texts) is about.

* :func:`tokens_for` — a text's *terms*: Chinese (and mixed) text segmented with
  :func:`~bihuan.core.analysis.text.tokenize_zh` and glued back where the segmenter splits
  a bank term (``提/额`` → ``提额``, ``手机/银行`` → ``手机银行``, see :data:`DOMAIN_TERMS`);
  Latin-script text by a lower-casing regex tokenizer. Stopwords, punctuation, numbers
  and one-character tokens are dropped (except :data:`MEANINGFUL_SINGLES` such as ``卡``);
  Latin words are lower-cased.
* :class:`KeywordExtractor` — TF-IDF ranking against document frequencies it learns
  incrementally (:meth:`~KeywordExtractor.update` with each batch), which the caller
  persists with :meth:`~KeywordExtractor.to_dict` / :meth:`~KeywordExtractor.from_dict`.
  The table is bounded: beyond ``max_terms`` it keeps the most frequent terms (a term
  dropped as rare starts again from zero if it comes back, and counts as unseen, i.e.
  rare, meanwhile).

>>> extractor = KeywordExtractor()
>>> texts = ["信用卡年费太贵", "信用卡提额太难了", "手机银行转账卡顿"]
>>> extractor.update(tokens_for(text, "zh") for text in texts)
>>> extractor.extract(tokens_for("信用卡提额申请一直被拒", "zh"), k=3)
['提额', '信用卡', '申请']

Scoring: ``(1 + ln tf) · idf`` with ``idf = ln((1 + N) / (1 + df)) + 1`` (N documents seen,
df documents containing the term; a term never seen has df 0). Ties keep the order of
first occurrence. Terms of :data:`DOMAIN_TERMS` weigh ``domain_boost`` (2) times their idf:
with short texts plain TF-IDF favours any rare word over the frequent domain term that
says what the complaint is about. :meth:`~KeywordExtractor.extract_common` labels a group
of texts: ``share of the group's texts containing the term · weight``.

Speed: :meth:`~KeywordExtractor.extract` costs one dict lookup per distinct token (idf
values and dropped tokens are cached), ~1–2 µs for the ~20 tokens of a 40-character
Chinese text (tests/core/analysis/test_keywords.py measures it).

Not thread-safe: use one extractor per thread, or update it from one thread only.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from bihuan.core.analysis.text import EN, OTHER, UNKNOWN, ZH, detect_language, language_family, tokenize_zh

__all__ = [
    "DEFAULT_DOMAIN_BOOST",
    "DEFAULT_MAX_TERMS",
    "DOMAIN_TERMS",
    "EN_STOPWORDS",
    "MEANINGFUL_SINGLES",
    "ZH_STOPWORDS",
    "KeywordExtractor",
    "Tokenizer",
    "default_tokenizer",
    "is_term",
    "tokens_for",
    "zh_terms_of_segments",
]

#: default bound of the document-frequency table
DEFAULT_MAX_TERMS = 100_000
#: default weight factor of :data:`DOMAIN_TERMS` (see :class:`KeywordExtractor`)
DEFAULT_DOMAIN_BOOST = 2.0

# fmt: off
#: Chinese stopwords: function words, pronouns, fillers, and words every bank text has
#: (银行, 客户, 请问, 谢谢) or every agent summary repeats (反映, 来电, 已记录…).
ZH_STOPWORDS = frozenset("""
的 了 着 过 地 得 之 么 吗 呢 吧 啊 呀 哦 嗯 哈 啦 嘛 哎 唉 喔 哇 呗 咯 罢了 而已
我 你 您 他 她 它 我们 你们 您们 他们 她们 它们 咱们 大家 自己 人家 别人 本人 我的 你的 他的 她的
这 那 哪 这个 那个 哪个 这些 那些 哪些 这样 那样 怎样 这么 那么 怎么 怎么样 怎么办 什么 为什么 为何 如何
这里 那里 哪里 这边 那边 这儿 那儿 这次 那次 上次 这种 那种 某 某些 每 每个 各 各种 其他 其它 另外
是 不是 就是 还是 也是 都是 只是 而是 正是 算是 有 没有 有没有 在 不在 正在 还在 要 不要 想 会 不会 能 不能
可以 可能 应该 需要 必须 得到 觉得 认为 知道 看到 感觉 表示 称 说 讲 问 告诉 让 给 被 把 将 从 向 对 对于
关于 由于 因为 所以 因此 但 但是 可是 不过 然而 而 而且 并且 并 并且 或 或者 还有 以及 及 与 和 跟 同 如果
要是 即使 虽然 尽管 然后 接着 之后 以后 之前 以前 后来 当时 时候 现在 今天 昨天 前天 明天 今年 去年 刚才
已经 曾经 一直 一下 一点 一些 一个 一次 一样 一起 一般 一定 一切 一种 总是 经常 常常 往往 马上 立刻 终于
还 也 都 就 才 又 再 很 太 非常 特别 比较 更 最 挺 真 真的 实在 确实 完全 根本 其实 当然 简直 竟然 居然
只 只有 只要 不仅 不但 除了 甚至 几乎 大概 也许 或许 好像 似乎 差不多 多少 几 个 次 些 点 下 上 中 里 外 内
来 去 到 做 弄 搞 用 使用 进行 通过 按照 根据 为 为了 以 以便 以免 等 等等 之类 左右 然后 后 前
银行 客户 顾客 请问 谢谢 感谢 您好 你好 麻烦 辛苦 希望 建议 要求 反映 反馈 来电 致电 投诉 咨询 询问
告知 已 已经 记录 登记 核实 协助 解释 致歉 道歉 安抚 回复 回电 处理 办理 跟进 提交 相关 情况 问题 事情
工作人员 工作 人员 方面 部门 方式 目前 东西 时间 结果 原因 情绪 表示 称其 请 能否 是否 还是 有点 一下子
尽快 重视 改进 解决 每次 每天 每个 每个月 好几 到底 怎么回事 老是 真是 说实话 吐槽 不得不 不得不说 无语 服了
求助 请教 家人们 姐妹们 有没有 谁懂 一样 别的 其他人 上点心 说法 体验 影响 失望 希望能 能不能 为啥 啥 咋
""".split())  # noqa: SIM905 (word lists to read and edit)

#: English stopwords (function words, pronouns, auxiliaries) and words every complaint has
#: (bank, customer, please…); ``xx``/``xxxx`` are the redaction marks of public complaint data.
EN_STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
even ever every few for from further get gets getting got had hadn't has hasn't have haven't having he he'd
he'll he's her here here's hers herself him himself his how how's however i i'd i'll i'm i've if in into is
isn't it it's its itself just let's me more most much must mustn't my myself no nor not now of off on once
one only or other ought our ours ourselves out over own per please same shan't she she'd she'll she's should
shouldn't since so some still such than that that's the their theirs them themselves then there there's these
they they'd they'll they're they've this those though through thus to too under until up upon us very via was
wasn't we we'd we'll we're we've were weren't what what's when when's where where's whether which while who
who's whom whose why why's will with won't would wouldn't yet you you'd you'll you're you've your yours
yourself yourselves etc ie eg mr mrs ms dear sir madam hello hi thanks thank regards
bank banks customer customers company told said says say asked ask would like also get got made make
xx xxx xxxx xxxxx xxxxxx xxxxxxxx
""".split())  # noqa: SIM905 (word lists to read and edit)

#: one-character Chinese tokens that carry meaning in bank feedback (all others are dropped)
MEANINGFUL_SINGLES = frozenset("卡钱慢贵扣骗锁吞崩贷")

#: Bank vocabulary, written from general knowledge of retail-bank feedback. Two uses:
#: :func:`tokens_for` glues a term back where the segmenter splits it (``提额`` comes out
#: as ``提``/``额``, ``手机银行`` as ``手机``/``银行``), and :class:`KeywordExtractor`
#: weighs these terms up (see its ``domain_boost``).
DOMAIN_TERMS = frozenset("""
手机银行 网上银行 网银 客户端 app 闪退 白屏 黑屏 卡顿 转圈 打不开 登录 登不上 验证码 短信验证码 人脸识别 刷脸 密码
转账 汇款 到账 实时到账 未到账 跨行 收款行 代发工资 重复扣款 扣款 转账限额 非柜面 退回
提额 降额 调额 额度 额度低 信用额度 临时额度 固定额度 综合评分 信用卡
年费 手续费 扣费 短信费 管理费 账户管理费 小额账户管理费 收费 违约金 滞纳金
利息 利率 还款 自动还款 最低还款 提前还款 分期 逾期 征信 催收
排队 叫号 取号 窗口 网点 预约
热线 客服热线 打不通 转人工 人工客服 智能客服 语音菜单 在线客服 坐席 接通
态度 服务态度 不耐烦 爱答不理 推销 搭售
理财 理财产品 理财经理 基金 保险 收益 净值 赎回 保本 亏损 风险等级 业绩比较基准 大额存单 开放期 持有期
贷款 房贷 房贷利率 车贷 消费贷 经营贷 续贷 审批 放款 面签 按揭 lpr
冻结 解冻 盗刷 挂失 只收不付 风控 诈骗 销卡 销户 补卡
atm 吞卡 卡被吞 出钞 存款机 取款机 自助机
overdraft fee fees mortgage loan debt collection collector credit report dispute fraud wire transfer
interest payment late refund charge charges
""".split())  # noqa: SIM905 (word lists to read and edit)
# fmt: on

_LATIN_TOKEN = re.compile(r"[a-z][a-z0-9]*(?:'[a-z]+)?")
_OTHER_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")

_STOPWORDS = ZH_STOPWORDS | EN_STOPWORDS
# bounds of the caches (weights and dropped tokens per extractor, token → term)
_CACHE_LIMIT = 200_000
# 1 + ln(count) for small counts
_TF_SIZE = 64
_TF = (0.0, *(1.0 + math.log(count) for count in range(1, _TF_SIZE)))


def _tf(count: int) -> float:
    return _TF[count] if count < _TF_SIZE else 1.0 + math.log(count)


# Chinese numerals, measure words and time units: tokens made of these alone are
# quantities ("八个月", "五六次", "二十多万", "两个小时"), not keywords
_QUANTITY = re.compile(
    "(?:[0-9零〇一二两三四五六七八九十百千万亿几半多余来个次遍回趟倍份张笔块元角毛年月日天号周]|小时|分钟|星期)+"
)


def is_term(token: str) -> bool:
    """Whether ``token`` may be a keyword: not a stopword, has a letter (not a number or
    punctuation), is not a quantity (``八个月``, ``两万``), and has two characters or more —
    or is one of :data:`MEANINGFUL_SINGLES`. Latin tokens are expected lower-cased."""
    if len(token) < 2:
        return token in MEANINGFUL_SINGLES
    return (
        token not in _STOPWORDS
        and _HAS_LETTER.search(token) is not None
        and _QUANTITY.fullmatch(token) is None
        and not token.isspace()
    )


# ---------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------


class _TermCache(dict[str, str]):
    """segmenter token → its term (lower-cased) or ``""`` when it is not a term; bounded."""

    def __missing__(self, token: str) -> str:
        lowered = token.lower()
        term = lowered if is_term(lowered) else ""
        if len(self) < _CACHE_LIMIT:
            self[token] = term
        return term


_term_of = _TermCache()


class Tokenizer:
    """Text → terms (see the module doc), with :data:`DOMAIN_TERMS` and ``extra_terms``
    glued back together after segmentation (e.g. a taxonomy's Chinese keywords).

    The glue table is built on first use by segmenting each term (so it follows the
    segmenter in use); later calls cost one dict lookup per token.
    """

    def __init__(self, extra_terms: Iterable[str] = (), *, segment: Callable[[str], list[str]] | None = None) -> None:
        self._terms = frozenset(DOMAIN_TERMS | {t.strip() for t in extra_terms if t and t.strip()})
        self._segment = segment or tokenize_zh
        self._starts: dict[str, list[tuple[tuple[str, ...], str]]] | None = None
        self._lock = threading.Lock()

    def _glue_table(self) -> dict[str, list[tuple[tuple[str, ...], str]]]:
        starts = self._starts
        if starts is None:
            with self._lock:
                if self._starts is None:
                    table: dict[str, list[tuple[tuple[str, ...], str]]] = {}
                    for term in sorted(self._terms):
                        if _ASCII_LETTER.search(term):
                            continue  # Latin words are never split
                        pieces = tuple(self._segment(term))
                        if len(pieces) > 1:
                            table.setdefault(pieces[0], []).append((pieces, term))
                    for candidates in table.values():
                        candidates.sort(key=lambda c: -len(c[0]))  # longest first
                    self._starts = table
                starts = self._starts
        return starts  # type: ignore[return-value]

    def warm_up(self) -> None:
        """Build the glue table now (e.g. in a helper process before its texts arrive)."""
        self._glue_table()

    def glue(self, tokens: list[str]) -> list[str]:
        """``tokens`` with split domain terms joined (longest first, left to right)."""
        starts = self._glue_table()
        if starts.keys().isdisjoint(tokens):
            return tokens
        out: list[str] = []
        i, n = 0, len(tokens)
        while i < n:
            token = tokens[i]
            for pieces, term in starts.get(token, ()):
                size = len(pieces)
                if tuple(tokens[i : i + size]) == pieces:
                    out.append(term)
                    i += size
                    break
            else:
                out.append(token)
                i += 1
        return out

    def zh_terms(self, tokens: list[str]) -> list[str]:
        """The terms of Chinese text already segmented (whitespace dropped) by this
        tokenizer's segmenter: split domain terms glued, noise dropped."""
        return [term for term in map(_term_of.__getitem__, self.glue(tokens)) if term]

    def __call__(self, text: str | None, language: str | None = None) -> list[str]:
        """The terms of ``text`` (see the module doc). ``language``: a
        :func:`~bihuan.core.analysis.text.detect_language` value or a tag such as
        ``"zh-CN"``; detected when ``None``."""
        if not text:
            return []
        family = language_family(language)
        if family == UNKNOWN:  # not given, or no letters: look at the text itself
            family = detect_language(text)
        if family == ZH:
            return self.zh_terms(self._segment(text))
        if family in (EN, UNKNOWN):
            return [t for t in _LATIN_TOKEN.findall(text.lower()) if t not in EN_STOPWORDS and len(t) > 1]
        assert family == OTHER
        return [t for t in _OTHER_TOKEN.findall(text.lower()) if len(t) > 1 and t not in _STOPWORDS]


_default_tokenizer: Tokenizer | None = None


def default_tokenizer() -> Tokenizer:
    """The tokenizer :func:`tokens_for` uses (created on first use, shared)."""
    global _default_tokenizer
    if _default_tokenizer is None:
        _default_tokenizer = Tokenizer()
    return _default_tokenizer


def zh_terms_of_segments(segments: list[str]) -> list[str]:
    """``tokens_for(text, "zh")`` from ``zh_segmenter()(text)`` (whitespace tokens
    included), for a caller that has segmented the text already (the analysis engine's
    sentiment model reads the same segments)."""
    return default_tokenizer().zh_terms([token for token in segments if not token.isspace()])


def tokens_for(text: str | None, language: str | None = None) -> list[str]:
    """The terms of ``text`` with the default :class:`Tokenizer`: ``"zh"`` via
    :func:`~bihuan.core.analysis.text.tokenize_zh` with bank terms glued back, ``"en"``
    (and other Latin-script text) via a lower-casing regex tokenizer; stopwords,
    punctuation, numbers and one-character tokens dropped. ``language`` is detected when
    ``None``.

    >>> tokens_for("信用卡提额太难了！", "zh")
    ['信用卡', '提额']
    >>> tokens_for("The overdraft fees were charged twice", "en")
    ['overdraft', 'fees', 'charged', 'twice']
    """
    return default_tokenizer()(text, language)


# ---------------------------------------------------------------------------------------
# TF-IDF
# ---------------------------------------------------------------------------------------

_FORMAT = "bihuan.keywords.df/1"


class KeywordExtractor:
    """TF-IDF keywords against incrementally learnt document frequencies.

    :param max_terms: bound of the document-frequency table; when it grows a quarter
        beyond, the least frequent terms are dropped down to ``max_terms``.
    :param domain_terms: terms whose weight is multiplied by ``domain_boost`` (default
        :data:`DOMAIN_TERMS`; pass e.g. a taxonomy's keywords too). With short texts
        plain TF-IDF favours any rare word ("八个月", "没动静") over the frequent domain
        term that says what the complaint is about ("提额"); the boost evens that out.
    :param domain_boost: the factor (1.0 switches it off).
    """

    def __init__(
        self,
        *,
        max_terms: int = DEFAULT_MAX_TERMS,
        domain_terms: Iterable[str] = DOMAIN_TERMS,
        domain_boost: float = DEFAULT_DOMAIN_BOOST,
    ) -> None:
        if max_terms < 1:
            raise ValueError(f"max_terms must be at least 1, got {max_terms}")
        if domain_boost <= 0:
            raise ValueError(f"domain_boost must be positive, got {domain_boost}")
        self.max_terms = max_terms
        self.domain_boost = float(domain_boost)
        self._domain = frozenset(term.strip().lower() for term in domain_terms)
        self._documents = 0
        self._df: Counter[str] = Counter()
        self._idf: dict[str, float] = {}  # weight cache (0.0: not a term), cleared by update()
        self._dropped: set[str] = set(_STOPWORDS)  # tokens known not to be terms
        self._kept: set[str] = set()  # tokens known to be terms (is_term costs ~1 µs)

    # -- statistics ----------------------------------------------------------------------

    @property
    def documents(self) -> int:
        """How many documents the statistics have seen."""
        return self._documents

    def __len__(self) -> int:
        """How many terms the document-frequency table holds."""
        return len(self._df)

    def df(self, term: str) -> int:
        """Documents seen that contain ``term`` (0 when unknown or dropped as rare)."""
        return self._df.get(term, 0)

    def idf(self, term: str) -> float:
        """``ln((1 + N) / (1 + df)) + 1``."""
        return math.log((1 + self._documents) / (1 + self._df.get(term, 0))) + 1.0

    def update(self, token_lists: Iterable[Sequence[str]]) -> None:
        """Count each token list as one document (its distinct terms once each)."""
        df = self._df
        terms = self._terms
        documents = 0
        for tokens in token_lists:
            documents += 1
            df.update(set(terms(tokens)))
        if documents:
            self._documents += documents
            self._idf.clear()
            if len(df) > self.max_terms + self.max_terms // 4:
                self._prune()

    def _prune(self) -> None:
        keep = self._df.most_common(self.max_terms)
        self._df = Counter(dict(keep))

    def _terms(self, tokens: Iterable[str]) -> list[str]:
        dropped, kept = self._dropped, self._kept
        out = []
        for token in tokens:
            if token in kept:
                out.append(token)
            elif token in dropped:
                continue
            elif is_term(token):
                out.append(token)
                if len(kept) < _CACHE_LIMIT:
                    kept.add(token)
            elif len(dropped) < _CACHE_LIMIT:
                dropped.add(token)
        return out

    # -- keywords ------------------------------------------------------------------------

    def _weight(self, term: str) -> float:
        """idf of ``term`` (× the domain boost), 0.0 for tokens that are not terms."""
        if term in self._dropped:
            return 0.0
        if not is_term(term):
            if len(self._dropped) < _CACHE_LIMIT:
                self._dropped.add(term)
            return 0.0
        weight = math.log((1 + self._documents) / (1 + self._df.get(term, 0))) + 1.0
        return weight * self.domain_boost if term in self._domain else weight

    def _fill(self, terms: Iterable[str]) -> dict[str, float]:
        """The weight cache with ``terms`` in it."""
        cache = self._idf
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        weight = self._weight
        for term in terms:
            if term not in cache:
                cache[term] = weight(term)
        return cache

    def extract(self, tokens: Sequence[str], k: int = 5) -> list[str]:
        """The ``k`` terms of ``tokens`` with the highest TF-IDF, best first (ties in order
        of first occurrence). ``tokens`` as :func:`tokens_for` gives them; raw segmenter
        tokens work too (stopwords, punctuation and numbers are skipped here as well)."""
        if not tokens or k <= 0:
            return []
        distinct = dict.fromkeys(tokens)
        weights = self._idf
        if len(distinct) == len(tokens):
            # the common case, every term once: one C-level sort by cached weight
            try:
                top = sorted(distinct, key=weights.__getitem__, reverse=True)[:k]
            except KeyError:  # a term not weighed since the last update
                weights = self._fill(distinct)
                top = sorted(distinct, key=weights.__getitem__, reverse=True)[:k]
            return top if weights[top[-1]] else [term for term in top if weights[term]]
        # repeated tokens (raw segmenter output repeats punctuation and stopwords): keep
        # the terms (C-level filter on the cached weights), then sublinear tf, 1 + ln(count)
        if not weights.keys() >= distinct.keys():
            weights = self._fill(distinct)
        kept = list(filter(weights.__getitem__, tokens))
        if not kept:
            return []
        terms = dict.fromkeys(kept)
        if len(terms) == len(kept):
            return sorted(terms, key=weights.__getitem__, reverse=True)[:k]
        counts: dict[str, int] = {}
        get = counts.get
        for term in kept:
            counts[term] = get(term, 0) + 1
        try:
            scores = {term: weights[term] * _TF[count] for term, count in counts.items()}
        except IndexError:  # a term repeated _TF_SIZE times or more
            scores = {term: weights[term] * _tf(count) for term, count in counts.items()}
        return sorted(scores, key=scores.__getitem__, reverse=True)[:k]

    def vector(self, tokens: Sequence[str], limit: int = 16) -> dict[str, float]:
        """The TF-IDF weights of ``tokens``' terms (``(1 + ln tf) · weight``, not normalised),
        at most ``limit`` of them, the heaviest; what root-cause grouping compares."""
        if not tokens:
            return {}
        weights = self._idf
        if not weights.keys() >= set(tokens):
            weights = self._fill(tokens)
        counts: dict[str, int] = {}
        get = counts.get
        for term in filter(weights.__getitem__, tokens):
            counts[term] = get(term, 0) + 1
        scores = {term: weights[term] * _tf(count) for term, count in counts.items()}
        if len(scores) > limit:
            scores = dict(sorted(scores.items(), key=itemgetter(1), reverse=True)[:limit])
        return scores

    def extract_common(self, token_lists: Iterable[Sequence[str]], k: int = 5) -> list[str]:
        """The ``k`` terms that best describe a group of documents (e.g. to label a
        root-cause group): share of the documents containing the term × its weight (idf,
        with the domain boost as in :meth:`extract`)."""
        counts: Counter[str] = Counter()
        size = 0
        for tokens in token_lists:
            size += 1
            counts.update(set(self._terms(tokens)))
        if not size or k <= 0:
            return []
        weights = self._fill(counts)
        scored = [(count / size * weights[term], term) for term, count in counts.items()]
        scored.sort(key=itemgetter(0), reverse=True)
        return [term for _, term in scored[:k]]

    # -- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The statistics as JSON-serialisable data (terms most frequent first)."""
        return {
            "format": _FORMAT,
            "documents": self._documents,
            "max_terms": self.max_terms,
            "df": dict(sorted(self._df.items(), key=lambda item: (-item[1], item[0]))),
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        max_terms: int | None = None,
        domain_terms: Iterable[str] = DOMAIN_TERMS,
        domain_boost: float = DEFAULT_DOMAIN_BOOST,
    ) -> KeywordExtractor:
        """An extractor with the statistics of :meth:`to_dict`; ``max_terms`` overrides the
        stored bound (the table is pruned to it); the domain options are as for the
        constructor (they are settings, not statistics, and are not stored). An empty
        mapping (nothing stored yet) gives an extractor without statistics.

        :raises ValueError: when ``data`` is not such a dict.
        """
        if isinstance(data, Mapping) and not data:
            return cls(
                max_terms=DEFAULT_MAX_TERMS if max_terms is None else max_terms,
                domain_terms=domain_terms,
                domain_boost=domain_boost,
            )
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise ValueError(f"not a keyword statistics table (expected format {_FORMAT!r})")
        documents, df = data.get("documents"), data.get("df")
        if not isinstance(documents, int) or documents < 0 or not isinstance(df, Mapping):
            raise ValueError("keyword statistics: 'documents' must be a count and 'df' a mapping")
        bound = max_terms if max_terms is not None else data.get("max_terms", DEFAULT_MAX_TERMS)
        if not isinstance(bound, int) or bound < 1:
            raise ValueError("keyword statistics: 'max_terms' must be a positive integer")
        extractor = cls(max_terms=bound, domain_terms=domain_terms, domain_boost=domain_boost)
        for term, count in df.items():
            if not isinstance(term, str) or not isinstance(count, int) or count < 0:
                raise ValueError(f"keyword statistics: bad entry {term!r}: {count!r}")
        extractor._documents = documents
        extractor._df = Counter({term: count for term, count in df.items() if count})
        if len(extractor._df) > extractor.max_terms:
            extractor._prune()
        return extractor
