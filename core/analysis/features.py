"""Per-item features that need no model state: language, built-in sentiment, terms,
taxonomy categories, the repeat linker's text key — and a helper process that computes them for the next batch while
the engine groups and writes the current one (the machine's second core).

Only what depends on nothing learnt across items runs here: keyword statistics and
grouping stay in the engine's process, in item order, so results do not depend on how
the work was split.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Self, TypeVar

from bihuan.core.analysis.duplicates import text_key
from bihuan.core.analysis.keywords import default_tokenizer, tokens_for, zh_terms_of_segments
from bihuan.core.analysis.sentiment import default_sentiment_model
from bihuan.core.analysis.taxonomy import Taxonomy
from bihuan.core.analysis.text import ZH, detect_language, zh_segmenter
from bihuan.core.lifeline import die_with_parent

__all__ = [
    "FeaturePipeline",
    "Features",
    "ModelFeatures",
    "combine",
    "featurise",
    "model_features",
    "text_features",
    "warm_up",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Features:
    """Features of a batch of texts, in order; ``scores`` and ``model`` are the built-in
    sentiment model's (a ``score_sentiment`` plugin, if any, answers in the engine);
    ``text_keys`` are :func:`~bihuan.core.analysis.duplicates.text_key` of each text."""

    languages: list[str]
    tokens: list[list[str]]
    categories: list[list[str]]
    scores: list[float]
    model: str
    text_keys: list[int]


@dataclass(frozen=True, slots=True)
class ModelFeatures:
    """The features that need the language models (segmenter, sentiment classifier): what
    the incremental run's helper process computes (see ``core.analysis.head_start``)."""

    languages: list[str]
    tokens: list[list[str]]
    scores: list[float]
    model: str


def model_features(texts: Sequence[str]) -> ModelFeatures:
    """Language, terms and built-in sentiment of each text."""
    languages = [detect_language(text) for text in texts]
    sentiment = default_sentiment_model()
    if sentiment.segmenter is None:
        # Chinese texts segmented once (a third of the featurising): the sentiment model and
        # tokens_for both use the default segmenter, the same tokens either way
        segment = zh_segmenter()
        segments = [segment(text) if language == ZH else None for text, language in zip(texts, languages, strict=True)]
        scores = sentiment.score_segmented(texts, languages, segments)
        tokens = [
            zh_terms_of_segments(pieces) if pieces is not None else tokens_for(text, language)
            for text, language, pieces in zip(texts, languages, segments, strict=True)
        ]
    else:
        scores = sentiment.score(texts, languages)
        tokens = [tokens_for(text, language) for text, language in zip(texts, languages, strict=True)]
    return ModelFeatures(languages, tokens, scores, sentiment.name)


def text_features(texts: Sequence[str], taxonomy: Taxonomy) -> tuple[list[list[str]], list[int]]:
    """What needs no model: each text's taxonomy categories and its text key."""
    return taxonomy.classify_many(texts), [text_key(text) for text in texts]


def combine(features: ModelFeatures, categories: list[list[str]], text_keys: list[int]) -> Features:
    """:class:`Features` from :func:`model_features` and :func:`text_features` of the same texts."""
    return Features(features.languages, features.tokens, categories, features.scores, features.model, text_keys)


def featurise(texts: Sequence[str], taxonomy: Taxonomy) -> Features:
    """Every feature of each text."""
    return combine(model_features(texts), *text_features(texts, taxonomy))


def warm_up() -> None:
    """Load what :func:`model_features` needs (the sentiment classifier and VADER, the
    segmenter's dictionary, the keyword glue table): ~0.3 s, once per process."""
    default_sentiment_model().warm_up()
    default_tokenizer().warm_up()


class FeaturePipeline:
    """Featurises batches one ahead in a helper process when ``ahead`` is true (large
    runs), in this process otherwise (small runs: starting a process costs more than it
    saves). Use as a context manager; :meth:`run` yields features in batch order."""

    def __init__(self, taxonomy: Taxonomy, *, ahead: bool) -> None:
        self.taxonomy = taxonomy
        self._pool: ProcessPoolExecutor | None = None
        if ahead and "fork" in multiprocessing.get_all_start_methods():
            # fork: the child inherits the loaded models and taxonomy, nothing is re-imported.
            # The worker waits on a queue whose write end it holds too: were this process
            # killed, it would wait forever — it dies with this process instead.
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("fork"),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, texts: list[str]) -> Future[Features] | Features:
        if self._pool is None:
            return featurise(texts, self.taxonomy)
        return self._pool.submit(featurise, texts, self.taxonomy)

    def run(self, batches: Iterator[T], texts: Callable[[T], list[str]]) -> Iterator[tuple[T, Features]]:
        """Each batch with the features of its texts; the next batch is submitted before
        this one is handed out, so the helper works while the caller does."""
        pending: tuple[T, Future[Features] | Features] | None = None
        for batch in batches:
            submitted = (batch, self._submit(texts(batch)))
            if pending is not None:
                yield pending[0], _result(pending[1])
            pending = submitted
        if pending is not None:
            yield pending[0], _result(pending[1])


def _result(features: Future[Features] | Features) -> Features:
    return features.result() if isinstance(features, Future) else features
