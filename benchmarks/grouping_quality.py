"""Grouping quality: bihuan's root-cause groups against labels, with a TF-IDF + KMeans baseline.

Two labelled sets, each grouped by bihuan (:class:`bihuan.core.analysis.grouping.GroupIndex`,
fed in batches exactly as ``bihuan analyze`` feeds it: keyword statistics updated per
batch, taxonomy categories as features) and by a plain baseline (scikit-learn
``TfidfVectorizer`` + ``KMeans``) in the same run:

* **CFPB** — the real US consumer complaints in ``../shared/datasets/`` that have a
  narrative (English), labelled by ``Issue`` (63 values, chosen by the consumer: noisy);
* **Chinese** — the generated demo set (``bihuan.core.demo_data``, 52 weeks, ~17,000
  items across four channels) labelled by its hidden cause and topic.

KMeans gets the true number of labels as k (its most favourable setting), and, as a second
row, bihuan's own number of groups. Metrics: NMI, ARI, purity (share of items in their
group's majority label) — all 1.0 for a perfect grouping.

Run: ``.venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/grouping_quality.py``
"""

from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from bihuan.core.analysis.grouping import GroupIndex, GroupingSettings, GroupRecord
from bihuan.core.analysis.keywords import KeywordExtractor, tokens_for
from bihuan.core.analysis.taxonomy import load_taxonomy
from bihuan.core.demo_data import generate_demo_dataset
from bihuan.core.demo_data.reading import read_demo_texts

CFPB = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cfpb_complaints_sample.csv"


def purity(truth: Sequence[str], groups: Sequence[int]) -> float:
    by_group: dict[int, Counter[str]] = {}
    for label, group in zip(truth, groups, strict=True):
        by_group.setdefault(group, Counter())[label] += 1
    return sum(c.most_common(1)[0][1] for c in by_group.values()) / len(truth)


def scores(truth: Sequence[str], groups: Sequence[int]) -> dict[str, float]:
    return {
        "groups": len(set(groups)),
        "nmi": normalized_mutual_info_score(truth, groups),
        "ari": adjusted_rand_score(truth, groups),
        "purity": purity(truth, groups),
    }


def bihuan_groups(texts: Sequence[str], batch: int, settings: GroupingSettings) -> tuple[list[int], float]:
    started = time.perf_counter()
    taxonomy = load_taxonomy()
    extractor = KeywordExtractor()
    index = GroupIndex(extractor, settings=settings)
    out: list[int] = []
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        tokens = [tokens_for(t) for t in chunk]
        extractor.update(tokens)
        records = [GroupRecord(start + i, tok, taxonomy.classify(t)) for i, (t, tok) in enumerate(zip(chunk, tokens))]
        # items without terms form one "no keywords" bucket for scoring (-1)
        out += [g if g is not None else -1 for g in index.assign(records)]
    return out, time.perf_counter() - started


def kmeans_groups(documents: Sequence[str], k: int, *, chinese: bool) -> tuple[list[int], float]:
    started = time.perf_counter()
    if chinese:  # the baseline gets the same segmentation, joined by spaces
        vectorizer = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False)
        documents = [" ".join(tokens_for(d)) for d in documents]
    else:
        vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    matrix = vectorizer.fit_transform(documents)
    labels = KMeans(n_clusters=k, n_init=3, random_state=0).fit_predict(matrix)
    return [int(x) for x in labels], time.perf_counter() - started


def cfpb() -> tuple[list[str], list[str]]:
    with open(CFPB, encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if (r.get("Consumer complaint narrative") or "").strip()]
    return [r["Consumer complaint narrative"] for r in rows], [r["Issue"] for r in rows]


def chinese(weeks: int) -> tuple[list[str], list[str], list[str]]:
    directory = Path(tempfile.mkdtemp(prefix="bihuan-grouping-"))
    generate_demo_dataset(directory, weeks=weeks)
    items = read_demo_texts(directory)
    texts = [d.text for d in items]
    causes = [d.truth["cause"] for d in items]
    topics = [f"{d.truth['cause']}/{d.truth['topic']}" for d in items]
    return texts, causes, topics


def table(title: str, rows: list[tuple[str, dict[str, float], float]]) -> None:
    print(f"\n{title}\n")
    print("| grouping | groups | NMI | ARI | purity | seconds |")
    print("|---|---|---|---|---|---|")
    for name, s, seconds in rows:
        print(f"| {name} | {s['groups']} | {s['nmi']:.3f} | {s['ari']:.3f} | {s['purity']:.3f} | {seconds:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52, help="weeks of Chinese demo data (about 330 items a week)")
    parser.add_argument("--batch", type=int, default=20_000, help="bihuan's analysis batch size")
    parser.add_argument("--threshold", type=float, default=GroupingSettings().join_threshold)
    args = parser.parse_args()
    settings = GroupingSettings(join_threshold=args.threshold)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"settings: {settings}")

    texts, issues = cfpb()
    ours, seconds = bihuan_groups(texts, args.batch, settings)
    rows = [("bihuan", scores(issues, ours), seconds)]
    for k in (len(set(issues)), len(set(ours))):
        km, km_seconds = kmeans_groups(texts, k, chinese=False)
        rows.append((f"TF-IDF + KMeans, k={k}", scores(issues, km), km_seconds))
    table(f"CFPB narratives: {len(texts)} complaints, {len(set(issues))} Issue labels", rows)

    texts, causes, topics = chinese(args.weeks)
    ours, seconds = bihuan_groups(texts, args.batch, settings)
    for truth, name in ((topics, "cause/topic"), (causes, "cause")):
        rows = [("bihuan", scores(truth, ours), seconds)]
        for k in sorted({len(set(truth)), len(set(ours))}):
            km, km_seconds = kmeans_groups(texts, k, chinese=True)
            rows.append((f"TF-IDF + KMeans, k={k}", scores(truth, km), km_seconds))
        table(f"Chinese demo set: {len(texts)} items, {len(set(truth))} {name} labels", rows)


if __name__ == "__main__":
    main()
