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

The content is generated from the sentence templates in :mod:`bihuan.core.demo_texts`
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

import csv
import io
import json
import math
import random
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

from bihuan.core import demo_texts as T

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
    "demo_scenarios",
    "demo_week",
    "generate_demo_dataset",
]

DEFAULT_SEED = 20261122
DEFAULT_WEEKS = 12
#: the smallest ``weeks`` for which every scenario has weeks before and after its start
MIN_WEEKS = 6
#: expected number of items per week over all four channels (before scenario effects)
BASE_WEEKLY_ITEMS = 340
DEMO_BANK = T.BANK

#: Beijing time; every timestamp in the files is local time (+08:00)
CST = timezone(timedelta(hours=8), "CST")

BROKEN_SHARE = 0.02
DUPLICATE_SHARE = 0.005
PII_SHARE = 0.05

SURVEY_FILE = "survey_responses.csv"
SOCIAL_FILE = "social_mentions.jsonl"
TICKETS_FILE = "complaint_tickets.xlsx"
HOTLINE_FILE = "hotline_records.csv"
GROUND_TRUTH_FILE = "ground_truth.json"
#: file names in the order they are written and listed in the manifest
DEMO_FILES = (SURVEY_FILE, SOCIAL_FILE, TICKETS_FILE, HOTLINE_FILE, GROUND_TRUTH_FILE)

SURVEY_HEADER = ("编号", "提交时间", "满意度评分", "推荐意愿(0-10分)", "您的意见或建议", "客户编号", "网点")
SOCIAL_KEYS = ("id", "platform", "发布时间", "帖子内容", "链接", "作者")
TICKETS_HEADER = ("工单号", "创建时间", "客户号", "投诉内容", "处理状态", "业务类型")
HOTLINE_HEADER = ("记录编号", "来电时间", "通话摘要", "客户号", "满意度")

#: ground-truth cause key -> the Chinese label the team would give the group
DEMO_CAUSES: dict[str, str] = {key: spec["label"] for key, spec in T.CAUSES.items()}

CHANNELS = ("survey", "social", "ticket", "hotline")


class BrokenKind(StrEnum):
    """Why a deliberately broken row cannot be imported as it is."""

    EMPTY_TEXT = "empty_text"  #: the feedback text is empty or blank
    INVALID_DATE = "invalid_date"  #: e.g. ``2026/13/45``
    RATING_OUT_OF_RANGE = "rating_out_of_range"  #: satisfaction ``7`` or ``十分`` on a 1–5 scale
    NPS_OUT_OF_RANGE = "nps_out_of_range"  #: ``11`` on the 0–10 scale
    RAGGED_ROW = "ragged_row"  #: a CSV row with an extra non-empty cell
    INVALID_JSON = "invalid_json"  #: a JSONL line cut off in the middle
    JSON_NOT_OBJECT = "json_not_object"  #: a JSONL line that is a JSON array


class PiiKind(StrEnum):
    """Personal data embedded in some texts (the pipeline must redact it)."""

    MOBILE = "mobile"  #: mainland mobile number, 11 digits, sometimes written 3-4-4
    ID_CARD = "id_card"  #: 18-digit resident ID, real birth date, MOD 11-2 check digit
    BANK_CARD = "bank_card"  #: 16 or 19 digits, UnionPay BIN, Luhn-valid
    EMAIL = "email"


# ---------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoScenario:
    """A time pattern built into the demo data, for trend, spike and PDCA checks.

    :ivar key: stable name of the scenario.
    :ivar cause: ground-truth cause key (see :data:`DEMO_CAUSES`).
    :ivar topic: ground-truth topic inside the cause, or ``None`` for the whole cause.
    :ivar kind: ``"drop"`` (volume falls), ``"flat"`` (unchanged) or ``"spike"``.
    :ivar start_week: first week index (0 = oldest) the pattern applies to.
    :ivar factor: volume multiplier from ``start_week`` on (1.0 = unchanged).
    :ivar weeks_from_end: ``start_week == weeks - weeks_from_end``.
    :ivar expected_verdict: what a PDCA check of an action taken at ``start_week``
        should conclude: ``"improved"``, ``"not_improved"``, or ``None`` (no action).
    :ivar description: one line in Chinese for people.
    """

    key: str
    cause: str
    topic: str | None
    kind: str
    start_week: int
    factor: float
    weeks_from_end: int
    expected_verdict: str | None
    description: str

    def for_weeks(self, weeks: int) -> DemoScenario:
        """This scenario for a data set of ``weeks`` weeks."""
        return replace(self, start_week=weeks - self.weeks_from_end)

    def applies(self, week: int) -> bool:
        return week >= self.start_week

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "cause": self.cause,
            "cause_label": DEMO_CAUSES[self.cause],
            "topic": self.topic,
            "kind": self.kind,
            "start_week": self.start_week,
            "factor": self.factor,
            "weeks_from_end": self.weeks_from_end,
            "expected_verdict": self.expected_verdict,
            "description": self.description,
        }


def _scenarios(weeks: int) -> tuple[DemoScenario, ...]:
    return (
        DemoScenario(
            key="credit_limit_improved",
            cause="credit_limit",
            topic=None,
            kind="drop",
            start_week=weeks - 5,
            factor=0.4,
            weeks_from_end=5,
            expected_verdict="improved",
            description="信用卡提额流程优化后，提额慢相关投诉从该周起下降约60%（有效的改进）",
        ),
        DemoScenario(
            key="hotline_unchanged",
            cause="hotline_access",
            topic=None,
            kind="flat",
            start_week=weeks - 5,
            factor=1.0,
            weeks_from_end=5,
            expected_verdict="not_improved",
            description="热线扩容措施后，客服热线打不通的反馈量没有变化（无效的改进）",
        ),
        DemoScenario(
            key="mobile_transfer_spike",
            cause="mobile_app",
            topic="transfer_lag",
            kind="spike",
            start_week=weeks - 1,
            factor=4.0,
            weeks_from_end=1,
            expected_verdict=None,
            description="最后一周手机银行转账卡顿反馈激增至平时的约4倍（系统故障）",
        ),
    )


#: the scenarios for the default :data:`DEFAULT_WEEKS`; use :func:`demo_scenarios` for others
DEMO_SCENARIOS: tuple[DemoScenario, ...] = _scenarios(DEFAULT_WEEKS)


def demo_scenarios(weeks: int = DEFAULT_WEEKS) -> tuple[DemoScenario, ...]:
    """:data:`DEMO_SCENARIOS` with ``start_week`` resolved for a data set of ``weeks`` weeks."""
    return tuple(s.for_weeks(weeks) for s in DEMO_SCENARIOS)


def _normalise_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).replace(microsecond=0)


def demo_week(at: datetime, *, now: datetime, weeks: int = DEFAULT_WEEKS) -> int | None:
    """The week index (0 = oldest, ``weeks - 1`` = the 7 days before ``now``) of ``at``.

    ``at`` and ``now`` must be timezone-aware (a naive ``now`` is taken as UTC, as in
    :func:`generate_demo_dataset`). Returns ``None`` outside the data set's span.
    """
    now = _normalise_now(now)
    if at.tzinfo is None:
        raise ValueError("demo_week needs a timezone-aware datetime")
    age = now - at
    if age <= timedelta(0):
        return None
    index = weeks - 1 - int(age / timedelta(days=7))
    return index if 0 <= index < weeks else None


# ---------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoFile:
    """One file written by :func:`generate_demo_dataset`.

    :ivar path: where it was written.
    :ivar collector: the file collector that imports it (``csv``, ``xlsx``, ``jsonl``),
        ``None`` for files that are not for import.
    :ivar channel: channel of its items (``survey``, ``social``, ``ticket``, ``hotline``).
    :ivar source: the ``source`` name to import it under.
    :ivar encoding: Python codec name of a text file (``gbk``, ``utf-8``, ``utf-8-sig``);
        ``None`` for XLSX.
    :ivar rows: data rows (CSV rows, XLSX rows, JSONL lines) written, header excluded,
        broken and duplicate rows included.
    :ivar items: distinct importable items: ``rows - broken - duplicates``.
    :ivar broken: rows that are deliberately broken (each for exactly one reason).
    :ivar broken_reasons: :class:`BrokenKind` value -> number of rows.
    :ivar duplicates: exact repeats of an earlier row (same id, same content).
    :ivar pii: rows whose text contains personal data (never a broken or duplicate row).
    :ivar pii_kinds: :class:`PiiKind` value -> number of rows (one kind per row).
    :ivar importable: ``False`` for ``ground_truth.json``.
    :ivar header: column names (CSV, XLSX) or object keys (JSONL).
    """

    path: Path
    collector: str | None
    channel: str | None
    source: str | None
    encoding: str | None
    rows: int
    items: int
    broken: int = 0
    broken_reasons: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    pii: int = 0
    pii_kinds: dict[str, int] = field(default_factory=dict)
    importable: bool = True
    header: tuple[str, ...] = ()
    description: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "collector": self.collector,
            "channel": self.channel,
            "source": self.source,
            "encoding": self.encoding,
            "rows": self.rows,
            "items": self.items,
            "broken": self.broken,
            "broken_reasons": dict(self.broken_reasons),
            "duplicates": self.duplicates,
            "pii": self.pii,
            "pii_kinds": dict(self.pii_kinds),
            "importable": self.importable,
            "header": list(self.header),
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class DemoManifest:
    """What :func:`generate_demo_dataset` wrote."""

    directory: Path
    seed: int
    now: datetime
    weeks: int
    files: tuple[DemoFile, ...]
    scenarios: tuple[DemoScenario, ...]

    @property
    def import_files(self) -> tuple[DemoFile, ...]:
        """The files for the collectors, in import order (ground truth excluded)."""
        return tuple(f for f in self.files if f.importable)

    @property
    def ground_truth(self) -> Path:
        return self.directory / GROUND_TRUTH_FILE

    @property
    def total_rows(self) -> int:
        return sum(f.rows for f in self.import_files)

    @property
    def total_items(self) -> int:
        return sum(f.items for f in self.import_files)

    def file(self, key: str) -> DemoFile:
        """The file with this name, source or channel."""
        for f in self.files:
            if key in (f.name, f.source, f.channel):
                return f
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (for ``bihuan demo --json``)."""
        return {
            "directory": str(self.directory),
            "seed": self.seed,
            "now": self.now.isoformat(),
            "weeks": self.weeks,
            "total_rows": self.total_rows,
            "total_items": self.total_items,
            "files": [f.to_dict() for f in self.files],
            "scenarios": [s.to_dict() for s in self.scenarios],
        }


# ---------------------------------------------------------------------------------------
# Personal data with valid check digits
# ---------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _id_check_digit(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _luhn_check_digit(partial: str) -> str:
    total = 0
    for i, d in enumerate(reversed(partial)):
        n = int(d)
        if i % 2 == 0:  # doubled once the check digit is appended
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def _mobile(rng: random.Random) -> str:
    number = rng.choice(T.MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
    style = rng.random()
    if style < 0.15:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if style < 0.25:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    return number


def _id_card(rng: random.Random) -> str:
    born = date(1958, 1, 1) + timedelta(days=rng.randrange(365 * 45))
    first17 = f"{rng.choice(T.ID_REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + _id_check_digit(first17)


def _bank_card(rng: random.Random) -> str:
    length = rng.choice((16, 19, 19))
    partial = rng.choice(T.CARD_BINS)
    partial += "".join(rng.choice("0123456789") for _ in range(length - 1 - len(partial)))
    number = partial + _luhn_check_digit(partial)
    if rng.random() < 0.25:
        return " ".join(number[i : i + 4] for i in range(0, length, 4))
    return number


def _email(rng: random.Random) -> str:
    name = rng.choice(T.EMAIL_NAMES)
    if rng.random() < 0.6:
        name += str(rng.randrange(1, 2000))
    return f"{name}@{rng.choice(T.EMAIL_DOMAINS)}"


_PII_MAKERS: dict[str, Callable[[random.Random], str]] = {
    PiiKind.MOBILE: _mobile,
    PiiKind.ID_CARD: _id_card,
    PiiKind.BANK_CARD: _bank_card,
    PiiKind.EMAIL: _email,
}
_PII_WEIGHTS = {PiiKind.MOBILE: 0.45, PiiKind.BANK_CARD: 0.22, PiiKind.ID_CARD: 0.15, PiiKind.EMAIL: 0.18}
_CARD_CAUSES = frozenset({"account_security", "atm", "transfer", "fees"})


# ---------------------------------------------------------------------------------------
# Planning: which items exist, when
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Rec:
    cause: str
    topic: str
    sentiment: str
    channel: str
    at: datetime  # aware, UTC
    week: int
    spike: bool = False
    customer: str = ""
    repeat: bool = False  # the customer contacted us before about the same cause
    external_id: str = ""
    text: str = ""
    pii: str | None = None
    broken: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> datetime:
        return self.at.astimezone(CST)


# local-hour activity per channel (0..23); relative weights
_HOURS = {
    "survey": [0, 0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 8, 6, 6, 7, 7, 7, 6, 5, 4, 4, 3, 2, 1],
    "social": [3, 2, 1, 1, 0, 0, 1, 2, 4, 5, 5, 6, 7, 5, 5, 5, 5, 6, 6, 7, 8, 9, 8, 6],
    "ticket": [0, 0, 0, 0, 0, 0, 0, 0, 3, 8, 9, 9, 6, 7, 9, 9, 8, 6, 3, 2, 1, 1, 0, 0],
    "hotline": [1, 1, 0, 0, 0, 0, 1, 2, 5, 8, 9, 9, 7, 7, 8, 8, 8, 7, 5, 4, 4, 3, 2, 1],
}
_WEEKEND_FACTOR = {"survey": 0.9, "social": 1.1, "ticket": 0.45, "hotline": 0.6}


def _noisy_count(rng: random.Random, mu: float) -> int:
    """Poisson-like count with a slightly smaller spread (keeps the scenarios clear)."""
    if mu <= 0:
        return 0
    return max(0, round(rng.gauss(mu, 0.75 * math.sqrt(mu))))


def _sample_time(
    rng: random.Random, channel: str, start: datetime, end: datetime
) -> datetime:
    """A second-precise instant in [start, end) following the channel's daily rhythm."""
    span = int((end - start).total_seconds())
    hours = _HOURS[channel]
    top = max(hours)
    for _ in range(200):
        at = start + timedelta(seconds=rng.randrange(span))
        local = at.astimezone(CST)
        weight = hours[local.hour] / top
        if local.weekday() >= 5:
            weight *= _WEEKEND_FACTOR[channel]
        if rng.random() < weight:
            return at
    return at


def _plan(rng: random.Random, now: datetime, weeks: int) -> list[_Rec]:
    scenarios = demo_scenarios(weeks)
    recs: list[_Rec] = []
    for week in range(weeks):
        week_start = now - timedelta(days=7 * (weeks - week))
        week_end = week_start + timedelta(days=7)
        week_factor = min(1.15, max(0.85, rng.gauss(1.0, 0.06)))
        for cause, spec in T.CAUSES.items():
            for topic, tspec in spec["topics"].items():
                mu = BASE_WEEKLY_ITEMS * spec["share"] * tspec["weight"] * week_factor
                extra = 0
                for sc in scenarios:
                    if sc.cause != cause or sc.topic not in (None, topic) or not sc.applies(week):
                        continue
                    if sc.kind == "spike":
                        extra = _noisy_count(rng, mu * (sc.factor - 1.0))
                    else:
                        mu *= sc.factor
                count = _noisy_count(rng, mu)
                for i in range(count + extra):
                    spike = i >= count
                    channel = rng.choices(CHANNELS, weights=spec["channels"])[0]
                    # the incident behind a spike starts in the middle of the week
                    start = week_end - timedelta(days=4) if spike else week_start
                    at = _sample_time(rng, channel, start, week_end)
                    sentiment = _sentiment(rng, cause, channel, spike)
                    recs.append(_Rec(cause, topic, sentiment, channel, at, week, spike))
    recs.sort(key=lambda r: (r.at, r.channel, r.cause, r.topic))
    _assign_customers(rng, recs)
    return recs


_SUGGEST_SHARE = {"survey": 0.12, "social": 0.05, "ticket": 0.0, "hotline": 0.0}


def _sentiment(rng: random.Random, cause: str, channel: str, spike: bool) -> str:
    if cause in T.POSITIVE_CAUSES:
        return "positive"
    if cause in T.NEUTRAL_CAUSES:
        return "neutral"
    if not spike and T.CAUSES[cause]["suggest"] and rng.random() < _SUGGEST_SHARE[channel]:
        return "neutral"
    return "negative"


def _assign_customers(rng: random.Random, recs: list[_Rec]) -> None:
    """Customer numbers; some customers come back on the same problem (repeat contacts)."""
    pool: list[str] = []
    seen: set[str] = set()
    while len(pool) < 2600:
        ref = f"C{rng.randrange(100_000_000, 1_000_000_000)}"
        if ref not in seen:
            seen.add(ref)
            pool.append(ref)
    recent: dict[str, list[str]] = {}
    for rec in recs:
        if rec.channel == "social":
            continue
        known = rec.channel in ("ticket", "hotline") or rng.random() < 0.75
        if rec.channel == "hotline" and rng.random() < 0.12:
            known = False  # caller not identified
        if not known:
            continue
        earlier = recent.setdefault(rec.cause, [])
        if rec.sentiment == "negative" and earlier and rng.random() < 0.15:
            rec.customer = rng.choice(earlier[-30:])
            rec.repeat = True
        else:
            rec.customer = pool[int(len(pool) * rng.random() ** 1.4)]
        earlier.append(rec.customer)


# ---------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------


class _Slots(dict):
    """Template slots filled on first use with a random value; a slot keeps its value."""

    def __init__(self, rng: random.Random, rec: _Rec, **preset: str) -> None:
        super().__init__(preset)
        self.rng = rng
        self.rec = rec

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key in T.SLOT_VALUES:
            value = rng.choice(T.SLOT_VALUES[key])
        elif key == "bank":
            value = T.BANK
        elif key in ("branch", "city"):
            city, name = rng.choice(T.BRANCHES)
            self.setdefault("city", city)
            self.setdefault("branch", name)
            value = self[key]
        elif key == "tail":
            value = f"{rng.randrange(10000):04d}"
        elif key == "date":
            day = self.rec.local - timedelta(days=rng.randrange(0, 6))
            value = f"{day.month}月{day.day}日"
        elif key in _PII_MAKERS:
            value = _PII_MAKERS[key](rng)
        else:  # pragma: no cover - a template names an unknown slot
            raise KeyError(f"demo template slot {{{key}}} has no values")
        self[key] = value
        return value


def _fill(template: str, slots: _Slots) -> str:
    return template.format_map(slots)


def _pick(rng: random.Random, options: Sequence[str], p: float = 1.0) -> str:
    return rng.choice(options) if options and rng.random() < p else ""


def _end(sentence: str, mark: str = "。") -> str:
    sentence = sentence.strip()
    if not sentence or sentence[-1] in "。！？!?…，,：:":
        return sentence
    return sentence + mark


def _voice_core(rng: random.Random, rec: _Rec, slots: _Slots) -> str:
    spec = T.CAUSES[rec.cause]
    if rec.sentiment == "neutral" and rec.cause not in T.NEUTRAL_CAUSES:
        return _fill(rng.choice(spec["suggest"]), slots)
    if rec.spike and rng.random() < 0.6:
        return _fill(rng.choice(T.SPIKE_VOICE), slots)
    return _fill(rng.choice(spec["topics"][rec.topic]["voice"]), slots)


def _voice(rng: random.Random, rec: _Rec, slots: _Slots, *, survey: bool) -> str:
    """What a customer writes: a core complaint with optional opener, detail, closing."""
    spec = T.CAUSES[rec.cause]
    core = _voice_core(rng, rec, slots)
    if rec.sentiment == "positive":
        parts = [_end(core, rng.choice("。！")), _end(_fill(_pick(rng, spec["details"], 0.3), slots))]
        parts.append(_pick(rng, T.POSITIVE_CLOSINGS, 0.4))
    elif rec.sentiment == "neutral":
        parts = [_end(core)]
        if rec.cause not in T.NEUTRAL_CAUSES:
            parts.append(_pick(rng, ["谢谢。", "谢谢！", "辛苦了。"], 0.3))
    else:
        opener = _fill(_pick(rng, T.VOICE_OPENERS, 0.25 if survey else 0.5), slots)
        parts = [opener + _end(core, rng.choice("。。，！"))]
        if parts[0].endswith("，"):
            parts.append(_end(_fill(rng.choice(spec["details"]), slots)))
        else:
            parts.append(_end(_fill(_pick(rng, spec["details"], 0.35), slots)))
        closings = T.SURVEY_CLOSINGS_NEG if survey else T.VOICE_CLOSINGS_NEG
        parts.append(_pick(rng, closings, 0.45))
    return "".join(parts)


def _with_pii(rng: random.Random, rec: _Rec, text: str, slots: _Slots, *, summary: bool) -> str:
    if rec.pii is None:
        return text
    if summary:
        sentence = _fill(rng.choice(T.PII_SUMMARY[rec.pii]), slots)
        return _end(text) + sentence
    if rec.pii == PiiKind.BANK_CARD and rec.topic == "fraud":
        return _fill(rng.choice(T.PII_VOICE_FRAUD), slots) + text
    sentence = _fill(rng.choice(T.PII_VOICE[rec.pii]), slots)
    if sentence.endswith("，"):  # "材料我已经发到…了，" leads into the complaint
        return sentence + text
    return _end(text) + sentence


def _summary_core(rng: random.Random, rec: _Rec, slots: _Slots, *, ticket: bool = False) -> str:
    """An agent's one-sentence summary, opened the way agents vary it."""
    if rec.spike and rng.random() < 0.6:
        core = _fill(rng.choice(T.SPIKE_SUMMARY), slots)
    else:
        core = _fill(rng.choice(T.CAUSES[rec.cause]["topics"][rec.topic]["summary"]), slots)
    if core.startswith("客户") and not core.startswith("客户来电"):
        if ticket:
            leads = T.TICKET_LEADS_REPEAT if rec.repeat else T.TICKET_LEADS
        else:
            leads = T.SUMMARY_LEADS_REPEAT if rec.repeat and rng.random() < 0.7 else T.SUMMARY_LEADS
        core = rng.choice(leads) + core[2:]
    return core


# ---------------------------------------------------------------------------------------
# Defects: which rows carry PII, which are broken, which are repeated
# ---------------------------------------------------------------------------------------


def _choose_pii(rng: random.Random, recs: list[_Rec]) -> None:
    candidates = [r for r in recs if r.sentiment != "positive"] or recs
    for rec in rng.sample(candidates, min(len(candidates), round(len(recs) * PII_SHARE))):
        weights = dict(_PII_WEIGHTS)
        if rec.cause in _CARD_CAUSES:
            weights[PiiKind.BANK_CARD] *= 2.5
        rec.pii = str(rng.choices(list(weights), weights=list(weights.values()))[0])


def _choose_broken(
    rng: random.Random, recs: list[_Rec], once: Sequence[str], repeatable: Sequence[str]
) -> None:
    """Mark about 2% of the rows broken: each kind at least once, ``once`` kinds exactly once."""
    clean = [r for r in recs if r.pii is None]
    total = max(len(once) + len(repeatable), round(len(recs) * BROKEN_SHARE))
    kinds = list(once) + list(repeatable)
    kinds += [rng.choice(repeatable) for _ in range(total - len(kinds))]
    for rec, kind in zip(rng.sample(clean, len(kinds)), kinds, strict=True):
        rec.broken = kind


def _with_duplicates(rng: random.Random, rows: list[Any], recs: list[_Rec]) -> tuple[list[Any], int]:
    """Insert exact copies of some clean rows at later positions."""
    clean = [i for i, r in enumerate(recs) if r.pii is None and r.broken is None]
    count = max(1, round(len(recs) * DUPLICATE_SHARE))
    inserts: dict[int, list[Any]] = {}
    for i in sorted(rng.sample(clean, count)):
        at = rng.randrange(i + 1, len(rows) + 1)
        inserts.setdefault(at, []).append(rows[i])
    out: list[Any] = []
    for i in range(len(rows) + 1):
        out.extend(inserts.get(i, ()))
        if i < len(rows):
            out.append(rows[i])
    return out, count


def _invalid_date_text(rng: random.Random, rec: _Rec, style: str) -> str:
    local = rec.local
    y, h, m, s = local.year, local.hour, local.minute, local.second
    month, day = rng.choice(((13, 45), (2, 30), (13, 45), (4, 31), (0, 12)))
    if style == "survey":
        return f"{y}/{month}/{day}" if rng.random() < 0.5 else f"{y}/{month}/{day} {h}:{m:02d}"
    if style == "iso":
        return f"{y}-{month:02d}-{day:02d}T{h:02d}:{m:02d}:{s:02d}+08:00"
    if style == "xlsx":
        return f"{y}/{month}/{day}" if rng.random() < 0.5 else f"{y}-{month:02d}-{day:02d} {h:02d}:{m:02d}"
    return f"{y}-{month:02d}-{day:02d} {h:02d}:{m:02d}:{s:02d}"


def _count_stats(recs: list[_Rec]) -> tuple[dict[str, int], dict[str, int]]:
    broken = Counter(r.broken for r in recs if r.broken)
    pii = Counter(r.pii for r in recs if r.pii)
    return dict(sorted(broken.items())), dict(sorted(pii.items()))


def _csv_bytes(header: Sequence[str], rows: list[list[str]], encoding: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


# ---------------------------------------------------------------------------------------
# The four files
# ---------------------------------------------------------------------------------------


def _write_survey(path: Path, rng: random.Random, recs: list[_Rec]) -> DemoFile:
    _choose_pii(rng, recs)
    _choose_broken(
        rng,
        recs,
        once=(),
        repeatable=(
            BrokenKind.EMPTY_TEXT,
            BrokenKind.INVALID_DATE,
            BrokenKind.RATING_OUT_OF_RANGE,
            BrokenKind.NPS_OUT_OF_RANGE,
            BrokenKind.RAGGED_ROW,
        ),
    )
    rows: list[list[str]] = []
    for seq, rec in enumerate(recs, start=1):
        local = rec.local
        rec.external_id = f"WJ{local:%Y%m%d}{seq:05d}"
        branch_city, branch_name = rng.choice(T.BRANCHES)
        slots = _Slots(rng, rec, branch=branch_name, city=branch_city)
        text = _voice(rng, rec, slots, survey=True)
        text = _with_pii(rng, rec, text, slots, summary=False)
        if len(text) > 30 and rng.random() < 0.03:  # Alt+Enter in the answer box
            cut = text.find("。") + 1
            if 0 < cut < len(text):
                text = text[:cut] + "\n" + text[cut:]
        rec.text = text
        rating, nps = _survey_scores(rng, rec.sentiment)
        # online surveys (after an app transaction) have no branch
        online = rec.cause in ("mobile_app", "transfer") or rng.random() < 0.2
        branch = "" if online and branch_name not in text else branch_city + branch_name
        when = f"{local.year}/{local.month}/{local.day} {local.hour}:{local.minute:02d}"
        row = [rec.external_id, when, str(rating), str(nps), text, rec.customer, branch]
        match rec.broken:
            case BrokenKind.EMPTY_TEXT:
                row[4] = rng.choice(("", "", " "))
            case BrokenKind.INVALID_DATE:
                row[1] = _invalid_date_text(rng, rec, "survey")
            case BrokenKind.RATING_OUT_OF_RANGE:
                row[2] = rng.choice(("7", "十分", "6"))
            case BrokenKind.NPS_OUT_OF_RANGE:
                row[3] = "11"
            case BrokenKind.RAGGED_ROW:
                row.append(rng.choice(("已回访", "网点已电话联系", "见附件", "重复提交")))
        rows.append(row)
    rows, duplicates = _with_duplicates(rng, rows, recs)
    path.write_bytes(_csv_bytes(SURVEY_HEADER, rows, "gbk"))
    broken_reasons, pii_kinds = _count_stats(recs)
    return DemoFile(
        path=path,
        collector="csv",
        channel="survey",
        source="survey",
        encoding="gbk",
        rows=len(rows),
        items=len(recs) - sum(broken_reasons.values()),
        broken=sum(broken_reasons.values()),
        broken_reasons=broken_reasons,
        duplicates=duplicates,
        pii=sum(pii_kinds.values()),
        pii_kinds=pii_kinds,
        header=SURVEY_HEADER,
        description="满意度调查导出（Excel另存为CSV，GBK编码）",
    )


def _survey_scores(rng: random.Random, sentiment: str) -> tuple[int, int]:
    if sentiment == "positive":
        rating = rng.choices((5, 4, 3), weights=(70, 27, 3))[0]
        nps = rng.choices((10, 9, 8, 7), weights=(45, 30, 18, 7))[0]
    elif sentiment == "neutral":
        rating = rng.choices((4, 3, 5, 2), weights=(45, 35, 12, 8))[0]
        nps = rng.choices((8, 7, 6, 5, 9), weights=(25, 30, 20, 15, 10))[0]
    else:
        rating = rng.choices((1, 2, 3), weights=(45, 40, 15))[0]
        nps = rng.choices(range(0, 8), weights=(22, 10, 14, 16, 10, 12, 10, 6))[0]
    return rating, nps


_PLATFORM_WEIGHTS = {
    "negative": {"微博": 0.4, "抖音": 0.15, "小红书": 0.17, "黑猫投诉": 0.28},
    "neutral": {"微博": 0.35, "抖音": 0.2, "小红书": 0.45, "黑猫投诉": 0.0},
    "positive": {"微博": 0.45, "抖音": 0.3, "小红书": 0.25, "黑猫投诉": 0.0},
}
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _social_link(rng: random.Random, platform: str) -> tuple[str, str]:
    """(external id, link) in each platform's own style."""
    if platform == "微博":
        mid = "".join(rng.choice(_B62) for _ in range(9))
        uid = rng.randrange(1_000_000_000, 8_000_000_000)
        return f"wb_{mid}", f"https://weibo.com/{uid}/{mid}"
    if platform == "抖音":
        code = "".join(rng.choice(_B62) for _ in range(8))
        return f"dy_{code}", f"https://v.douyin.com/{code}/"
    if platform == "小红书":
        note = "".join(rng.choice("0123456789abcdef") for _ in range(24))
        return f"xhs_{note}", f"https://www.xiaohongshu.com/explore/{note}"
    sn = str(rng.randrange(10**16, 10**17))
    return f"hm_{sn}", f"https://tousu.sina.com.cn/complaint/view/{sn}/"


def _nickname(rng: random.Random) -> str:
    if rng.random() < 0.12:
        return f"用户{rng.randrange(1_000_000_000, 8_000_000_000)}"
    nick = rng.choice(T.NICK_PARTS_A) + rng.choice(T.NICK_PARTS_B) + rng.choice(T.NICK_PARTS_C)
    if rng.random() < 0.25:
        nick += str(rng.randrange(1, 999))
    return nick


def _social_text(rng: random.Random, rec: _Rec, platform: str, slots: _Slots) -> str:
    spec = T.CAUSES[rec.cause]
    body = _voice(rng, rec, slots, survey=False)
    body = _with_pii(rng, rec, body, slots, summary=False)
    if rec.sentiment == "negative" and rng.random() < 0.4:
        body = body.replace("。", rng.choice(("！", "。。。", "！！", "，")), 1)
    topic_label = spec["topics"][rec.topic]["label"]
    if platform == "微博":
        if rec.sentiment == "positive":
            return f"{body}{rng.choice(T.WEIBO_EMOTICONS_POS)} @{T.BANK}"
        tags = T.WEIBO_TOPICS.get(rec.cause, [])
        prefix = f"@{T.BANK} " if rng.random() < 0.45 else ""
        tag = rng.choice(tags) if tags and rng.random() < 0.5 else ""
        if rec.sentiment == "neutral":
            return f"{prefix}{tag}{body}"
        return f"{prefix}{tag}{body}{_pick(rng, T.WEIBO_EMOTICONS_NEG, 0.6)}"
    if platform == "抖音":
        tails = T.DOUYIN_TAILS_POS if rec.sentiment == "positive" else T.DOUYIN_TAILS_NEG
        return f"{body}{_pick(rng, tails, 0.7)}"
    if platform == "小红书":
        if rec.sentiment == "positive":
            title = rng.choice(T.XHS_TITLES_POS)
        elif rec.sentiment == "neutral":
            return _fill(rng.choice(T.XHS_TITLES_NEU), slots) + body
        else:
            title = rng.choice(T.XHS_TITLES_NEG)
        title = title.format(label=topic_label, bank=T.BANK)
        return f"{title}\n{body}{_pick(rng, T.XHS_TAILS, 0.6)}"
    # 黑猫投诉: the site's structured header, then the story
    target = _fill(rng.choice(T.HEIMAO_TARGETS), slots)
    demand = rng.choice(spec["demands"]) if spec["demands"] else "要求给予合理解释"
    amount = f"【涉诉金额】{rng.choice((0, 50, 200, 300, 580, 2000, 5000, 10000))}元" if rng.random() < 0.5 else ""
    return f"【投诉对象】{target}【投诉问题】{topic_label}【投诉要求】{demand}{amount}\n{body}"


def _write_social(path: Path, rng: random.Random, recs: list[_Rec]) -> DemoFile:
    _choose_pii(rng, recs)
    _choose_broken(
        rng,
        recs,
        once=(BrokenKind.INVALID_JSON, BrokenKind.JSON_NOT_OBJECT),
        repeatable=(BrokenKind.EMPTY_TEXT, BrokenKind.INVALID_DATE),
    )
    lines: list[str] = []
    ids: set[str] = set()
    for rec in recs:
        weights = _PLATFORM_WEIGHTS[rec.sentiment]
        platform = rng.choices(list(weights), weights=list(weights.values()))[0]
        ext_id, link = _social_link(rng, platform)
        while ext_id in ids:
            ext_id, link = _social_link(rng, platform)
        ids.add(ext_id)
        rec.external_id = ext_id
        slots = _Slots(rng, rec)
        rec.text = _social_text(rng, rec, platform, slots)
        obj = {
            "id": ext_id,
            "platform": platform,
            "发布时间": rec.local.isoformat(),
            "帖子内容": rec.text,
            "链接": link,
            "作者": _nickname(rng),
        }
        match rec.broken:
            case BrokenKind.EMPTY_TEXT:
                obj["帖子内容"] = ""
            case BrokenKind.INVALID_DATE:
                obj["发布时间"] = _invalid_date_text(rng, rec, "iso")
        line = json.dumps(obj, ensure_ascii=False)
        if rec.broken == BrokenKind.INVALID_JSON:  # cut off in the middle of the text
            start = line.index('"帖子内容": "') + len('"帖子内容": "')
            line = line[: start + len(rec.text) // 2]
        elif rec.broken == BrokenKind.JSON_NOT_OBJECT:
            line = json.dumps(list(obj.values()), ensure_ascii=False)
        lines.append(line)
    lines, duplicates = _with_duplicates(rng, lines, recs)
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
    broken_reasons, pii_kinds = _count_stats(recs)
    return DemoFile(
        path=path,
        collector="jsonl",
        channel="social",
        source="social",
        encoding="utf-8",
        rows=len(lines),
        items=len(recs) - sum(broken_reasons.values()),
        broken=sum(broken_reasons.values()),
        broken_reasons=broken_reasons,
        duplicates=duplicates,
        pii=sum(pii_kinds.values()),
        pii_kinds=pii_kinds,
        header=SOCIAL_KEYS,
        description="舆情监测导出（微博、抖音、小红书、黑猫投诉），每行一个JSON对象",
    )


_TICKET_BUSINESS = {
    "annual_fee": "信用卡",
    "service_fee": "借记卡",
    "installment": "信用卡",
    "fraud": "信用卡",
    "frozen": "借记卡",
}


def _ticket_status(rng: random.Random, age: timedelta) -> str:
    days = age.days
    if days < 3:
        return rng.choices(("待处理", "处理中", "已办结"), weights=(45, 45, 10))[0]
    if days < 14:
        return rng.choices(("处理中", "已办结", "已回访"), weights=(35, 50, 15))[0]
    return rng.choices(("已办结", "已回访", "处理中", "已撤销"), weights=(55, 38, 4, 3))[0]


def _write_tickets(path: Path, rng: random.Random, recs: list[_Rec], now: datetime) -> DemoFile:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    _choose_pii(rng, recs)
    _choose_broken(rng, recs, once=(), repeatable=(BrokenKind.EMPTY_TEXT, BrokenKind.INVALID_DATE))
    rows: list[list[Any]] = []
    for seq, rec in enumerate(recs, start=1):
        local = rec.local
        rec.external_id = f"TS{local:%Y%m%d}{seq:05d}"
        spec = T.CAUSES[rec.cause]
        slots = _Slots(rng, rec)
        prefix = "【二次投诉】" if rec.repeat and rng.random() < 0.5 else rng.choice(T.TICKET_PREFIXES)
        parts = [prefix + _end(_summary_core(rng, rec, slots, ticket=True))]
        if rng.random() < 0.35:
            quote = _voice(rng, rec, _Slots(rng, rec, **slots), survey=True).rstrip("。")
            parts.append(_end(rng.choice(T.TICKET_QUOTE).format(voice=quote)))
        if spec["demands"] and rng.random() < 0.7:
            parts.append(rng.choice(T.TICKET_DEMAND).format(demand=rng.choice(spec["demands"])))
        text = "".join(parts)
        if len(parts) > 2 and rng.random() < 0.1:  # a line break typed into the cell
            text = parts[0] + "\n" + "".join(parts[1:])
        rec.text = _with_pii(rng, rec, text, slots, summary=True)
        business = _TICKET_BUSINESS.get(rec.topic) or rng.choice(spec["business"])
        created: Any = local.replace(tzinfo=None)
        content: Any = rec.text
        if rec.broken == BrokenKind.EMPTY_TEXT:
            content = None
        elif rec.broken == BrokenKind.INVALID_DATE:
            created = _invalid_date_text(rng, rec, "xlsx")
        status = _ticket_status(rng, now - rec.at)
        rows.append([rec.external_id, created, rec.customer, content, status, business])
    rows, duplicates = _with_duplicates(rng, rows, recs)

    wb = Workbook()
    ws = wb.active
    ws.title = "投诉工单"
    ws.append(TICKETS_HEADER)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
        cell = ws.cell(row=ws.max_row, column=2)
        if isinstance(cell.value, datetime):
            cell.number_format = "yyyy-mm-dd hh:mm:ss"
    for column, width in zip("ABCDEF", (18, 20, 14, 80, 10, 10), strict=True):
        ws.column_dimensions[column].width = width
    ws.freeze_panes = "A2"
    stamp = now.replace(tzinfo=None)
    wb.properties.creator = "鑫和银行客户服务中心"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(_reproducible_zip(buffer.getvalue(), stamp))
    broken_reasons, pii_kinds = _count_stats(recs)
    return DemoFile(
        path=path,
        collector="xlsx",
        channel="ticket",
        source="tickets",
        encoding=None,
        rows=len(rows),
        items=len(recs) - sum(broken_reasons.values()),
        broken=sum(broken_reasons.values()),
        broken_reasons=broken_reasons,
        duplicates=duplicates,
        pii=sum(pii_kinds.values()),
        pii_kinds=pii_kinds,
        header=TICKETS_HEADER,
        description="投诉工单系统导出（XLSX，创建时间为日期单元格）",
    )


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _reproducible_zip(data: bytes, stamp: datetime) -> bytes:
    """The XLSX with fixed entry times and a fixed ``modified`` property (openpyxl uses now)."""
    fixed = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            content = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + fixed + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            zout.writestr(entry, content)
    return out.getvalue()


def _hotline_satisfaction(rng: random.Random, sentiment: str) -> str:
    if sentiment == "negative":
        if rng.random() < 0.4:
            return ""
        return str(rng.choices((1, 2, 3), weights=(40, 35, 25))[0])
    if rng.random() < (0.35 if sentiment == "neutral" else 0.2):
        return ""
    if sentiment == "neutral":
        return str(rng.choices((3, 4, 5), weights=(10, 40, 50))[0])
    return str(rng.choices((5, 4), weights=(85, 15))[0])


def _write_hotline(path: Path, rng: random.Random, recs: list[_Rec]) -> DemoFile:
    _choose_pii(rng, recs)
    _choose_broken(
        rng,
        recs,
        once=(),
        repeatable=(
            BrokenKind.EMPTY_TEXT,
            BrokenKind.INVALID_DATE,
            BrokenKind.RATING_OUT_OF_RANGE,
            BrokenKind.RAGGED_ROW,
        ),
    )
    rows: list[list[str]] = []
    for seq, rec in enumerate(recs, start=1):
        local = rec.local
        rec.external_id = f"HL{local:%Y%m%d}{seq:05d}"
        slots = _Slots(rng, rec)
        text = _end(_summary_core(rng, rec, slots))
        if rec.sentiment == "negative":
            text += rng.choice(T.HOTLINE_CONTEXT_NEG) + rng.choice(T.HOTLINE_OUTCOMES_NEG)
        elif rec.sentiment == "positive":
            text += rng.choice(T.HOTLINE_OUTCOMES_POSITIVE)
        else:
            text += rng.choice(T.HOTLINE_OUTCOMES_NEUTRAL)
        rec.text = _with_pii(rng, rec, text, slots, summary=True)
        row = [
            rec.external_id,
            f"{local:%Y-%m-%d %H:%M:%S}",
            rec.text,
            rec.customer,
            _hotline_satisfaction(rng, rec.sentiment),
        ]
        match rec.broken:
            case BrokenKind.EMPTY_TEXT:
                row[2] = ""
            case BrokenKind.INVALID_DATE:
                row[1] = _invalid_date_text(rng, rec, "hotline")
            case BrokenKind.RATING_OUT_OF_RANGE:
                row[4] = rng.choice(("7", "十分", "9"))
            case BrokenKind.RAGGED_ROW:
                row.append(rng.choice(("转二线", "备注：重复来电", "已回拨", "录音已调取")))
        rows.append(row)
    rows, duplicates = _with_duplicates(rng, rows, recs)
    path.write_bytes(_csv_bytes(HOTLINE_HEADER, rows, "utf-8-sig"))
    broken_reasons, pii_kinds = _count_stats(recs)
    return DemoFile(
        path=path,
        collector="csv",
        channel="hotline",
        source="hotline",
        encoding="utf-8-sig",
        rows=len(rows),
        items=len(recs) - sum(broken_reasons.values()),
        broken=sum(broken_reasons.values()),
        broken_reasons=broken_reasons,
        duplicates=duplicates,
        pii=sum(pii_kinds.values()),
        pii_kinds=pii_kinds,
        header=HOTLINE_HEADER,
        description="客服热线通话小结导出（UTF-8 BOM CSV）",
    )


def _write_ground_truth(path: Path, by_source: dict[str, list[_Rec]]) -> DemoFile:
    truth: dict[str, dict[str, Any]] = {}
    for source, recs in by_source.items():
        for rec in recs:
            truth[rec.external_id] = {
                "source": source,
                "cause": rec.cause,
                "cause_label": DEMO_CAUSES[rec.cause],
                "topic": rec.topic,
                "sentiment": rec.sentiment,
                "week": rec.week,
                "pii": rec.pii,
                "broken": rec.broken,
            }
    lines = [
        f"{json.dumps(key)}: {json.dumps(truth[key], ensure_ascii=False, sort_keys=True)}"
        for key in sorted(truth)
    ]
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    path.write_bytes(text.encode("utf-8"))
    return DemoFile(
        path=path,
        collector=None,
        channel=None,
        source=None,
        encoding="utf-8",
        rows=len(truth),
        items=len(truth),
        importable=False,
        header=("cause", "cause_label", "topic", "sentiment", "week", "pii", "broken", "source"),
        description="评估用真值：外部编号 -> 根因、情感（不导入）",
    )


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
    :param now: the end of the data set's span (default: now in UTC, truncated to the
        day); a naive value is taken as UTC. Every item is dated before it.
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
