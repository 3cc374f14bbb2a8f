"""Reading and validating ``plugins.toml``.

Where the file comes from, first match wins: ``--config PATH``, ``$BIHUAN_CONFIG``,
``./plugins.toml``, ``<user config dir>/bihuan/plugins.toml``; with none of them the
built-in defaults apply (they are the same as the repository's ``plugins.toml``).

Secrets never live in the file: any value may be ``{"$env": "NAME"}``, replaced by the
environment variable's value when a collector's configuration is validated. A missing
variable is a :class:`ConfigError` that names the variable, never a value.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_config_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bihuan.core.collector import CollectorConfig
from bihuan.core.errors import ConfigError
from bihuan.core.values import DateWindow

CONFIG_ENV = "BIHUAN_CONFIG"
CONFIG_FILE_NAME = "plugins.toml"


class GeneralSettings(BaseModel):
    """``[bihuan]``: settings of the engine itself."""

    model_config = ConfigDict(extra="forbid")

    #: IANA zone in which timestamps without a zone (most CSV exports) are read
    timezone: str = "Asia/Shanghai"
    #: items dated later than this many days after a collector run starts are quarantined
    #: (a row dated 2099 is a typo, and would move every "latest" figure to that year)
    future_horizon_days: float = Field(default=1.0, ge=0, le=36_500)
    #: items dated before this local day are quarantined: such dates are placeholders for
    #: "no date" (Excel's 1900-01-01, the epoch's 1970-01-01), not when feedback was given
    earliest_date: date = date(2000, 1, 1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def date_window(self) -> DateWindow:
        """The timestamps collector runs store (see :class:`DateWindow`)."""
        return DateWindow(future=timedelta(days=self.future_horizon_days), earliest=self.earliest_date)


class PluginSettings(BaseModel):
    """``[plugins]``: which plugins load."""

    model_config = ConfigDict(extra="forbid")

    #: plugin names (as ``bihuan plugins`` lists them) that are not loaded
    disabled: list[str] = Field(default_factory=list)


class AnalysisSettings(BaseModel):
    """``[analysis]``: how ``bihuan analyze`` works."""

    model_config = ConfigDict(extra="forbid")

    #: the taxonomy file (keyword rules per category); ``None``: the shipped bank taxonomy.
    #: A relative path is taken from the directory of plugins.toml.
    taxonomy: str | None = None
    #: days within which a second contact by the same customer counts as a repeat
    repeat_window_days: int = Field(default=7, gt=0)


class PdcaSettings(BaseModel):
    """``[pdca]``: the windows of the automatic check."""

    model_config = ConfigDict(extra="forbid")

    #: days before the first action that make the baseline (and weeks of the plan baseline)
    baseline_days: int = Field(default=56, ge=7)
    #: days after the last action that make the check window
    check_days: int = Field(default=28, ge=7)


class BusinessHours(BaseModel):
    """Working time in the team's zone: SLA clocks of business-hours policies run only then."""

    model_config = ConfigDict(extra="forbid")

    start: time = time(9, 0)
    end: time = time(18, 0)
    #: ISO weekdays the team works (1 = Monday … 7 = Sunday)
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(d < 1 or d > 7 for d in value):
            raise ValueError("days are ISO weekdays 1 (Monday) .. 7 (Sunday), at least one")
        return sorted(set(value))

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class SlaPolicy(BaseModel):
    """``[sla.policies.<channel>]``: what feedback of one channel is owed."""

    model_config = ConfigDict(extra="forbid")

    #: hours to the first response (counted in business hours when ``business_hours``)
    first_response_hours: float = Field(gt=0)
    #: hours to the resolution; leave out where only an answer is owed
    resolution_hours: float | None = Field(default=None, gt=0)
    #: count only working time ([sla.business_hours], minus [sla] holidays)
    business_hours: bool = False
    #: only items that need an answer: negative sentiment or a rating of 1-2 (e.g. surveys)
    only_negative: bool = False


def _default_policies() -> dict[str, SlaPolicy]:
    return {
        "social": SlaPolicy(first_response_hours=24),
        "ticket": SlaPolicy(first_response_hours=4, resolution_hours=72, business_hours=True),
        "hotline": SlaPolicy(first_response_hours=24, resolution_hours=120),
        "survey": SlaPolicy(first_response_hours=48, only_negative=True),
    }


class SlaSettings(BaseModel):
    """``[sla]``: response and resolution times per channel."""

    model_config = ConfigDict(extra="forbid")

    #: only items created within this many days get SLA cases (an import of last year's
    #: feedback does not open thousands of cases that were breached long ago)
    open_since_days: int = Field(default=14, gt=0)
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    #: days off (YYYY-MM-DD) on which business-hours clocks stop
    holidays: list[date] = Field(default_factory=list)
    #: channel → policy; a channel without a policy has no SLA
    policies: dict[str, SlaPolicy] = Field(default_factory=_default_policies)


class FollowUpSettings(BaseModel):
    """``[followup]``: 回访 after a complaint is resolved."""

    model_config = ConfigDict(extra="forbid")

    #: days after the resolution the follow-up call is due
    after_days: int = Field(default=3, gt=0)
    #: channels whose resolved cases get a follow-up
    channels: list[str] = Field(default_factory=lambda: ["ticket", "hotline", "social"])
    #: a satisfaction (1-5) below this counts as unhappy and reopens the case
    unhappy_below: int = Field(default=3, ge=1, le=6)
    #: days after a resolution in which a new contact by the same customer is a repeat complaint
    repeat_days: int = Field(default=30, gt=0)


NOTICE_KINDS = ("sla_breach", "spike", "action_overdue", "stage_changed", "check_verdict", "case_reopened")


class NotifyTarget(BaseModel):
    """``[[notify.targets]]``: one group robot or webhook."""

    model_config = ConfigDict(extra="forbid")

    #: a name for logs and errors (the URL never appears in either: it carries the key)
    name: str
    kind: Literal["wecom", "dingtalk", "webhook"]
    #: the webhook URL, a secret: {"$env" = "NAME"}; read when a notice is sent
    url: str | dict[str, str]
    #: DingTalk signed mode: the robot's secret (SEC…), from the environment
    secret: str | dict[str, str] | None = None
    #: extra request headers (generic webhooks), values may be {"$env" = "NAME"}
    headers: dict[str, str | dict[str, str]] = Field(default_factory=dict)
    #: which notices go to this target (default: all)
    events: list[str] = Field(default_factory=lambda: list(NOTICE_KINDS))

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(NOTICE_KINDS))
        if unknown:
            raise ValueError(f"unknown events {', '.join(unknown)} (known: {', '.join(NOTICE_KINDS)})")
        return value


class NotifySettings(BaseModel):
    """``[notify]``: where the built-in notifier posts breaches, spikes, overdue actions,
    stage changes, check verdicts and reopened cases, and how the outbox delivers and
    retries every notice target's notices (see :mod:`bihuan.core.outbox`)."""

    model_config = ConfigDict(extra="forbid")

    targets: list[NotifyTarget] = Field(default_factory=list)
    #: seconds one request may take at most (the delivery deadline may cut it shorter)
    timeout_seconds: float = Field(default=5.0, gt=0)
    #: seconds a command waits for deliveries at its end, all targets together; what is
    #: not delivered by then stays pending for `bihuan tick`
    deadline_seconds: float = Field(default=2.0, gt=0, le=60)
    #: attempts per notice and target after the first, before it is given up (failed)
    retries: int = Field(default=8, ge=0)
    #: wait after the first failed attempt, doubled after each further one (with jitter)
    backoff_seconds: float = Field(default=30.0, ge=0)
    #: the longest wait between two attempts
    max_backoff_seconds: float = Field(default=3600.0, ge=0)


class TuiSettings(BaseModel):
    """``[tui]``: the terminal workplace."""

    model_config = ConfigDict(extra="forbid")

    #: Textual theme name (``textual-dark``, ``nord``, ``gruvbox``, …); Ctrl+T toggles light
    theme: str = "textual-dark"
    #: the theme Ctrl+T switches to
    light_theme: str = "textual-light"
    #: key remapping: binding id (see the help screen, F1) → keys, e.g. ``"nav.inbox" = "f9"``
    keys: dict[str, str] = Field(default_factory=dict)


class Settings(BaseModel):
    """The whole of ``plugins.toml``."""

    model_config = ConfigDict(extra="forbid")

    bihuan: GeneralSettings = Field(default_factory=GeneralSettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    pdca: PdcaSettings = Field(default_factory=PdcaSettings)
    tui: TuiSettings = Field(default_factory=TuiSettings)
    sla: SlaSettings = Field(default_factory=SlaSettings)
    followup: FollowUpSettings = Field(default_factory=FollowUpSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    #: ``[collectors.<instance>]`` tables, validated against their collector's Config
    collectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: the file these settings were read from (``None``: built-in defaults)
    path: Path | None = Field(default=None, exclude=True)

    def taxonomy_path(self) -> Path | None:
        """The configured taxonomy file, resolved against plugins.toml's directory."""
        if self.analysis.taxonomy is None:
            return None
        path = Path(self.analysis.taxonomy).expanduser()
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The configuration file to read, or ``None`` for the built-in defaults."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist")
        return path
    env = os.environ.get(CONFIG_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={path}: no such file")
        return path
    for candidate in (Path.cwd() / CONFIG_FILE_NAME, user_config_path("bihuan", appauthor=False) / CONFIG_FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the configuration (see the module docstring for where from)."""
    path = find_config_file(explicit)
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation_error(exc)}") from None
    settings.path = path
    return settings


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``key.path: message`` (input values are left out: secrets)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in (prefix, *error["loc"]) if p != "")
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def resolve_env_refs(value: Any, where: str) -> Any:
    """Replace every ``{"$env": "NAME"}`` in ``value`` by the variable's value."""
    if isinstance(value, Mapping):
        if set(value) == {"$env"}:
            name = value["$env"]
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{where}: '$env' needs the name of an environment variable")
            if name not in os.environ:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            return os.environ[name]
        return {k: resolve_env_refs(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env_refs(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def validate_collector_config(
    config_cls: type[CollectorConfig], raw: Mapping[str, Any], *, where: str
) -> CollectorConfig:
    """Validate one ``[collectors.<instance>]`` table (after resolving ``$env``)."""
    resolved = resolve_env_refs(dict(raw), where)
    try:
        return config_cls.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from None
