"""Constants, scenarios and the manifest of the demo data set."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

from bihuan.core.demo_data import texts as T

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


def demo_end(today: date) -> datetime:
    """Where a demo data set made on ``today`` ends: 00:00 (China time) of that week's Monday, in UTC.

    The generator samples times by weekday and hour, so a data set that ended on any day
    would draw a different random stream on each day of the week: other counts, other
    groups, another demo. Ending on a Monday makes the demo the same on every day of a
    week and, across weeks, the same data shifted by whole weeks; the week that is running
    holds no demo data, so every demo week is a complete calendar week.
    """
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday, time(0), tzinfo=CST).astimezone(UTC)


def _normalise_now(now: datetime | None) -> datetime:
    if now is None:
        return demo_end(datetime.now(CST).date())
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
