"""The analysis engine: language, tokens and sentiment of feedback texts.

* :mod:`bihuan.core.analysis.text` — language detection, Chinese word segmentation and
  the stopword filter the sentiment model was trained with;
* :mod:`bihuan.core.analysis.sentiment` — the :class:`~bihuan.core.analysis.sentiment.SentimentModel`
  protocol, the default fast snownlp model for Chinese (VADER for English) and the
  score-to-label thresholds.

Importing these modules is cheap: segmenter dictionaries and model data load on first
use, once per process.
"""
