"""Benchmark: the default redaction (``bihuan.core.redaction``) on real Chinese texts.

What an import pays per text is mostly the quick check (``_may_hold_pii``): a text that
cannot hold personal data must cost next to nothing. This measures, on ``--texts`` texts:

* ``quick check`` — ``_may_hold_pii`` alone, µs per text, and the share of texts it lets
  through to the full search;
* ``redact`` — the whole of :func:`redact` (the quick check, then the rules where needed);
* ``redact, texts with personal data`` — the same on texts that hold some (one in 20 of the
  texts gets a mobile, an ID number, a landline or an e-mail spliced in), so the rules'
  own cost shows.

Texts: the real Chinese texts in ``../shared/datasets/zh`` (citizen messages, financial
news and comments, Weibo posts, Alipay questions), cycled up to ``--texts``
(``--datasets`` names another folder). Best of ``--repeat`` runs.

Usage::

    .venv/bin/python benchmarks/redaction_speed.py [--texts 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bihuan.core import redaction

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "zh"
#: file → the columns holding free text
SOURCES = {
    "tipdm2020_citizen_messages.csv": ("text", "detail"),
    "finfe_sentiment.csv": ("text",),
    "smp2020_ewect_sentiment.csv": ("text",),
    "atec2018_pairs.csv": ("text_a", "text_b"),
}
SPLICED = (
    "我的手机13812345678",
    "身份证11010519491231002X",
    "座机010-12345678",
    "邮箱zhang.san@example.com",
    "联系电话 138 1234 5678",
)


def real_texts(folder: Path) -> list[str]:
    texts: list[str] = []
    for name, columns in SOURCES.items():
        path = folder / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                texts.extend(row[c] for c in columns if row.get(c))
    return texts


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(texts: Sequence[str], repeat: int) -> list[tuple[str, float]]:
    quick = redaction._may_hold_pii
    redact = redaction.redact
    rng = random.Random(7)
    spliced = [t + rng.choice(SPLICED) if i % 20 == 0 else t for i, t in enumerate(texts)]
    n = len(texts)
    return [
        ("quick check", best_of(repeat, lambda: [quick(t) for t in texts]) / n * 1e6),
        ("redact", best_of(repeat, lambda: [redact(t) for t in texts]) / n * 1e6),
        ("redact, 1 in 20 texts with personal data", best_of(repeat, lambda: [redact(t) for t in spliced]) / n * 1e6),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--datasets", type=Path, default=DATASETS, help="the folder of the zh datasets")
    args = parser.parse_args(argv)
    base = real_texts(args.datasets)
    if not base:
        parser.error(f"no texts in {args.datasets}")
    origin = str(args.datasets)
    texts = [base[i % len(base)] for i in range(args.texts)]
    through = sum(redaction._may_hold_pii(t) for t in texts)
    mean_len = sum(map(len, texts)) / len(texts)
    print(f"{len(texts):,} texts from {origin} ({len(base):,} distinct, {mean_len:.0f} characters on average)")
    print(f"Python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    print(f"the quick check lets {through:,} texts ({through / len(texts):.1%}) through to the rules\n")
    print("| step | µs per text |")
    print("|---|---|")
    for name, micros in measure(texts, args.repeat):
        print(f"| {name} | {micros:.2f} |")


if __name__ == "__main__":
    main()
