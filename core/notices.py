"""What event hooks are told about PDCA and case handling, as plain frozen values.

Each notice knows how to say itself in one line (``headline``) and in a few lines of
Markdown (``body``), so a notifier plugin (WeCom, DingTalk, a generic webhook) needs no
knowledge of the tables behind it. Texts are Chinese-first with the figures a team lead
asks for: which case, since when, how late. Times are said in the zone passed in (the
team's ``[bihuan] timezone``), with its UTC offset.

A notice is stored in the outbox as :meth:`Notice.to_dict` (times in UTC) and read back
with :func:`notice_from_dict`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, ClassVar, get_args, get_type_hints

_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~])")

#: every notice class by its ``kind`` (filled as the classes are defined)
NOTICE_TYPES: dict[str, type[Notice]] = {}


def md_escape(text: str) -> str:
    """Untrusted text made inert in Markdown (robots render it): emphasis, links, HTML
    and headings are escaped, lines are kept."""
    return _MARKDOWN.sub(r"\\\1", text)


def local_time(moment: datetime, zone: tzinfo | None) -> str:
    """``2026-11-23 12:00 UTC+8``: the moment in ``zone`` (UTC when ``None``), with its offset."""
    local = moment.astimezone(zone or UTC)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    label = "UTC" if minutes == 0 else f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
    return f"{local:%Y-%m-%d %H:%M} {label}"


@dataclass(frozen=True)
class Notice:
    """Base of every notice; ``kind`` names the event for filters and webhooks."""

    kind: ClassVar[str] = "notice"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        NOTICE_TYPES[cls.kind] = cls

    def headline(self, zone: tzinfo | None = None) -> str:
        """One line; times in ``zone`` (UTC when ``None``)."""
        raise NotImplementedError

    def body(self, zone: tzinfo | None = None) -> str:
        """A few lines of Markdown; team- and customer-written text is escaped."""
        return md_escape(self.headline(zone))

    def to_dict(self) -> dict[str, Any]:
        data = {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in asdict(self).items()}
        return {"event": self.kind, **data}


@dataclass(frozen=True)
class SlaBreach(Notice):
    """A case missed its first-response or resolution due time."""

    kind: ClassVar[str] = "sla_breach"
    item_id: int
    channel: str
    policy: str
    timer: str  # "response" or "resolution"
    due_at: datetime
    opened_at: datetime
    excerpt: str

    def headline(self, zone: tzinfo | None = None) -> str:
        what = "首次响应" if self.timer == "response" else "解决"
        return f"SLA 超时：{self.channel} 反馈 #{self.item_id} 未在 {local_time(self.due_at, zone)} 前{what}"

    def body(self, zone: tzinfo | None = None) -> str:
        quoted = "\n".join(f"> {md_escape(line)}" for line in self.excerpt.splitlines() or [""])
        return f"{self.headline(zone)}\n\n{quoted}\n\n策略：{self.policy}；开始计时：{local_time(self.opened_at, zone)}"


@dataclass(frozen=True)
class ActionOverdue(Notice):
    """An improvement action passed its due date and is not done."""

    kind: ClassVar[str] = "action_overdue"
    action_id: int
    task_id: int
    task_title: str
    title: str
    owner: str
    due_date: date

    def headline(self, zone: tzinfo | None = None) -> str:
        return f"行动逾期：任务 #{self.task_id}「{self.task_title}」的行动「{self.title}」（负责人 {self.owner}）已过期限 {self.due_date}"


@dataclass(frozen=True)
class StageChanged(Notice):
    """A task moved between PDCA stages (or was closed)."""

    kind: ClassVar[str] = "stage_changed"
    task_id: int
    title: str
    old: str
    new: str
    actor: str
    outcome: str | None = None

    def headline(self, zone: tzinfo | None = None) -> str:
        extra = f"（{self.outcome}）" if self.outcome else ""
        return f"任务 #{self.task_id}「{self.title}」：{self.old} → {self.new}{extra}，操作人 {self.actor}"


@dataclass(frozen=True)
class CheckVerdict(Notice):
    """The engine measured a task's metric after its actions."""

    kind: ClassVar[str] = "check_verdict"
    task_id: int
    title: str
    metric: str
    verdict: str
    baseline_value: float | None
    check_value: float | None
    change: float | None
    p_value: float | None
    target_met: bool | None

    def headline(self, zone: tzinfo | None = None) -> str:
        verdict = {"effective": "有效", "not_effective": "无效", "inconclusive": "尚无定论"}.get(
            self.verdict, self.verdict
        )
        return f"效果检查：任务 #{self.task_id}「{self.title}」— {verdict}"

    def body(self, zone: tzinfo | None = None) -> str:
        lines = [md_escape(self.headline(zone)), ""]
        if self.baseline_value is not None and self.check_value is not None:
            lines.append(f"- 指标 {self.metric}：{self.baseline_value:.3g} → {self.check_value:.3g}")
        if self.change is not None:
            lines.append(f"- 变化：{self.change:+.1%}")
        if self.p_value is not None:
            lines.append(f"- p 值：{self.p_value:.3g}")
        if self.target_met is not None:
            lines.append(f"- 目标{'已' if self.target_met else '未'}达成")
        return "\n".join(lines)


@dataclass(frozen=True)
class CaseReopened(Notice):
    """An unhappy 回访 reopened a resolved complaint."""

    kind: ClassVar[str] = "case_reopened"
    item_id: int
    channel: str
    follow_up_id: int
    outcome: str
    satisfaction: int | None
    actor: str

    def headline(self, zone: tzinfo | None = None) -> str:
        score = f"，满意度 {self.satisfaction}" if self.satisfaction is not None else ""
        return (
            f"回访不满意，案件 #{self.item_id}（{self.channel}）已重新打开：{self.outcome}{score}，记录人 {self.actor}"
        )


@dataclass(frozen=True)
class SpikeNotice(Notice):
    """A root-cause group spiked against its own baseline (from ``on_spike``)."""

    kind: ClassVar[str] = "spike"
    group_id: int
    label: str
    week: date
    count: int
    baseline: float

    def headline(self, zone: tzinfo | None = None) -> str:
        return f"突增：根因组 #{self.group_id}「{self.label}」{self.week} 这一周 {self.count} 条（基线 {self.baseline:.1f}）"


def notice_from_dict(data: Mapping[str, Any]) -> Notice:
    """The notice :meth:`Notice.to_dict` gave (``ValueError`` for an unknown kind or a
    missing field)."""
    kind = data.get("event")
    cls = NOTICE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown notice kind {kind!r}")
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is MISSING:
                raise ValueError(f"{kind} notice without {f.name!r}")
            continue
        value = data[f.name]
        types = get_args(hints[f.name]) or (hints[f.name],)
        if isinstance(value, str) and datetime in types:
            value = datetime.fromisoformat(value)
        elif isinstance(value, str) and date in types:
            value = date.fromisoformat(value)
        values[f.name] = value
    return cls(**values)
