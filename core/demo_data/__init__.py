"""A realistic, deterministic demo data set for ``bihuan demo``.

:func:`generate_demo_dataset` writes four files that the built-in file collectors import,
as a Chinese retail bank's systems would export them, plus ``ground_truth.json`` for
evaluating analysis:

==========================  =========  ========  =========  ===================
file                        collector  channel   source     encoding
==========================  =========  ========  =========  ===================
``survey_responses.csv``    csv        survey    survey     GBK, CRLF (Excel)
``social_mentions.jsonl``   jsonl      social    social     UTF-8
``complaint_tickets.xlsx``  xlsx       ticket    tickets    (XLSX)
``hotline_records.csv``     csv        hotline   hotline    UTF-8 with BOM, CRLF
``ground_truth.json``       —          —         —          UTF-8, not for import
==========================  =========  ========  =========  ===================

The content is generated from the sentence templates in :mod:`bihuan.core.demo_data.texts`
with slot filling, across twelve root causes with a Pareto-like share, praise and neutral
questions. Every item has a hidden ground-truth cause, topic and sentiment.

Time structure (see :data:`DEMO_SCENARIOS`): items are spread over ``weeks`` weeks
before ``now`` (week ``0`` the oldest, week ``weeks - 1`` the seven days before ``now``,
see :func:`demo_week`) with a noisy weekly volume; 信用卡提额慢 falls by 60% from week
``weeks - 5`` (an improvement that worked), 客服热线打不通 stays flat (one that did not),
手机银行转账卡顿 spikes to about four times its volume in the last week.

Deliberate defects, so that quarantine and dedup have something to do: about 2% broken
rows per file (:class:`BrokenKind`), about 0.5% exact duplicate rows, about 5% of texts
with PII (mobile number, resident ID number with a valid checksum, Luhn-valid bank card
number, e-mail). The :class:`DemoManifest` counts all of them per file.

The output is a pure function of ``seed``, ``now`` and ``weeks``: the same arguments give
byte-identical files (the XLSX is written with fixed timestamps).
"""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

from bihuan.core.demo_data.files import (
    _write_ground_truth,
    _write_hotline,
    _write_social,
    _write_survey,
    _write_tickets,
)
from bihuan.core.demo_data.model import (
    BASE_WEEKLY_ITEMS,
    CHANNELS,
    DEFAULT_SEED,
    DEFAULT_WEEKS,
    DEMO_BANK,
    DEMO_CAUSES,
    DEMO_FILES,
    DEMO_SCENARIOS,
    GROUND_TRUTH_FILE,
    HOTLINE_FILE,
    MIN_WEEKS,
    SOCIAL_FILE,
    SURVEY_FILE,
    TICKETS_FILE,
    BrokenKind,
    DemoFile,
    DemoManifest,
    DemoScenario,
    PiiKind,
    _normalise_now,
    demo_end,
    demo_scenarios,
    demo_week,
)
from bihuan.core.demo_data.plan import _plan, _Rec

__all__ = [
    "BASE_WEEKLY_ITEMS",
    "DEFAULT_SEED",
    "DEFAULT_WEEKS",
    "DEMO_BANK",
    "DEMO_CAUSES",
    "DEMO_FILES",
    "DEMO_SCENARIOS",
    "BrokenKind",
    "DemoFile",
    "DemoManifest",
    "DemoScenario",
    "PiiKind",
    "demo_end",
    "demo_scenarios",
    "demo_week",
    "generate_demo_dataset",
]
# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------


def generate_demo_dataset(
    directory: Path,
    *,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    weeks: int = DEFAULT_WEEKS,
) -> DemoManifest:
    """Write the demo data set into ``directory`` (created if missing) and describe it.

    :param directory: where the four import files and ``ground_truth.json`` are written;
        files of the same names are overwritten.
    :param seed: the random seed; the same ``seed``, ``now`` and ``weeks`` give
        byte-identical files.
    :param now: the end of the data set's span (default: :func:`demo_end` of today, the
        Monday that began this week, so the demo is the same whatever day it runs); a
        naive value is taken as UTC. Every item is dated before it.
    :param weeks: how many weeks before ``now`` the items are spread over (at least
        :data:`MIN_WEEKS`); about :data:`BASE_WEEKLY_ITEMS` items a week.
    :returns: the :class:`DemoManifest` listing every file with its counts.
    :raises ValueError: when ``weeks`` is smaller than :data:`MIN_WEEKS`.
    """
    if weeks < MIN_WEEKS:
        raise ValueError(f"weeks must be at least {MIN_WEEKS}, got {weeks}")
    now = _normalise_now(now)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    recs = _plan(random.Random(f"{seed}:plan"), now, weeks)
    by_channel: dict[str, list[_Rec]] = {c: [] for c in CHANNELS}
    for rec in recs:
        by_channel[rec.channel].append(rec)

    def rng(part: str) -> random.Random:
        return random.Random(f"{seed}:{part}")

    files = [
        _write_survey(directory / SURVEY_FILE, rng("survey"), by_channel["survey"]),
        _write_social(directory / SOCIAL_FILE, rng("social"), by_channel["social"]),
        _write_tickets(directory / TICKETS_FILE, rng("tickets"), by_channel["ticket"], now),
        _write_hotline(directory / HOTLINE_FILE, rng("hotline"), by_channel["hotline"]),
    ]
    by_source = {f.source: by_channel[f.channel] for f in files if f.source and f.channel}
    files.append(_write_ground_truth(directory / GROUND_TRUTH_FILE, by_source))
    return DemoManifest(
        directory=directory,
        seed=seed,
        now=now,
        weeks=weeks,
        files=tuple(files),
        scenarios=demo_scenarios(weeks),
    )
