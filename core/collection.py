"""Turning configuration and command-line options into collector runs.

A *collector instance* is one configured use of a registered collector class: a
``[collectors.<instance>]`` table in plugins.toml, or the files of one
``bihuan import`` grouped by collector and source. State is kept per instance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bihuan.core.collector import Collector, CollectorConfig, RunContext
from bihuan.core.config import Settings, validate_collector_config
from bihuan.core.errors import ConfigError, UsageError
from bihuan.core.pipeline import PipelineHooks, RunReport, run_collector
from bihuan.core.printable import printable_name
from bihuan.core.privacy import privacy_for
from bihuan.core.runs import mark_interrupted_runs
from bihuan.core.types import CHANNELS
from bihuan.core.values import DateWindow

#: instance-name prefix of ad-hoc ``bihuan import`` runs
IMPORT_PREFIX = "import:"

CollectorRegistry = Mapping[str, type[Collector]]


@dataclass
class CollectorInstance:
    """A collector class with its validated configuration, ready to run."""

    name: str
    collector_type: str
    cls: type[Collector]
    config: CollectorConfig
    source: str
    channel: str
    #: the table as written, ``{"$env": NAME}`` references unresolved
    raw: Mapping[str, Any] | None = None

    def context(self, timezone: ZoneInfo, date_window: DateWindow | None = None) -> RunContext:
        """The context of one run; ``date_window``: ``[bihuan]``'s (default: its defaults)."""
        return RunContext(
            instance=self.name,
            source=self.source,
            channel=self.channel,
            config=self.config,
            timezone=timezone,
            date_window=date_window or DateWindow(),
            log=logging.getLogger(f"bihuan.collector.{self.name}"),
        )

    def config_record(self) -> dict[str, Any]:
        """The configuration as stored on the run.

        Built from the table as written, so a secret taken from the environment is
        stored as its ``{"$env": NAME}`` reference, never as its value.
        """
        stored = self.config.model_dump(mode="json")
        if self.raw is not None:
            for key, value in self.raw.items():
                if _has_env_ref(value):
                    stored[key] = value
        return _printable(stored)


def _printable(value: Any) -> Any:
    """``value`` with every string printable (paths may be bytes that are not text)."""
    if isinstance(value, str):
        return printable_name(value)
    if isinstance(value, dict):
        return {printable_name(str(k)): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def _check_channel(channel: str, where: str) -> str:
    if channel not in CHANNELS:
        raise ConfigError(f"{where}: unknown channel {channel!r} (one of {', '.join(sorted(CHANNELS))})")
    return channel


def build_instance(
    name: str, raw: Mapping[str, Any], registry: CollectorRegistry, *, where: str | None = None
) -> CollectorInstance:
    """Validate one instance table against its collector's ``Config``."""
    where = where or f"[collectors.{name}]"
    collector_type = raw.get("collector") or name
    cls = registry.get(collector_type)
    if cls is None:
        known = ", ".join(sorted(registry)) or "none"
        raise ConfigError(f"{where}: no collector named {collector_type!r} is registered (known: {known})")
    config = validate_collector_config(cls.Config, raw, where=where)
    channel = _check_channel(config.channel if "channel" in raw else cls.channel, where)
    return CollectorInstance(
        name=name,
        collector_type=collector_type,
        cls=cls,
        config=config,
        source=config.source or name,
        channel=channel,
        raw=dict(raw),
    )


def _has_env_ref(value: Any) -> bool:
    if isinstance(value, Mapping):
        return "$env" in value or any(_has_env_ref(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_env_ref(v) for v in value)
    return False


def configured_instances(settings: Settings, registry: CollectorRegistry) -> dict[str, CollectorInstance]:
    """Every ``[collectors.<instance>]`` of the settings, validated."""
    return {name: build_instance(name, raw, registry) for name, raw in settings.collectors.items()}


def select_instances(
    settings: Settings, registry: CollectorRegistry, names: Sequence[str]
) -> list[CollectorInstance]:
    """The named instances, or every enabled one when ``names`` is empty."""
    if names:
        unknown = [n for n in names if n not in settings.collectors]
        if unknown:
            known = ", ".join(sorted(settings.collectors)) or "none configured"
            raise UsageError(f"no collector instance {', '.join(unknown)} in plugins.toml (known: {known})")
        return [build_instance(n, settings.collectors[n], registry) for n in names]
    return [
        build_instance(n, raw, registry) for n, raw in settings.collectors.items() if raw.get("enabled", True)
    ]


def collector_for_path(path: Path, registry: CollectorRegistry) -> str:
    """The collector that reads files like ``path``, by its extension.

    A collector class claims extensions with a ``file_extensions`` class attribute
    (e.g. ``(".csv", ".tsv")``), so third-party file collectors take part too.
    """
    suffix = path.suffix.lower()
    names = sorted(name for name, cls in registry.items() if suffix in getattr(cls, "file_extensions", ()))
    if len(names) == 1:
        return names[0]
    file_collectors = sorted(name for name, cls in registry.items() if getattr(cls, "file_extensions", ()))
    if not names:
        raise UsageError(
            f"{path}: no collector reads '{suffix or 'files without an extension'}'; "
            f"pass --collector ({', '.join(file_collectors)})"
        )
    raise UsageError(f"{path}: several collectors read '{suffix}' ({', '.join(names)}); pass --collector")


def file_import_instances(
    paths: Sequence[str | Path],
    registry: CollectorRegistry,
    *,
    collector: str | None = None,
    source: str | None = None,
    channel: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[CollectorInstance]:
    """Instances for ``bihuan import``: files grouped by collector and source.

    The source defaults to the file name without its extension, so re-importing a file
    finds its earlier items; ``--source`` puts several files into one source.
    """
    if channel is not None:
        _check_channel(channel, "--channel")
    groups: dict[tuple[str, str], list[str]] = {}
    for raw_path in paths:
        path = Path(raw_path).expanduser()
        kind = collector or collector_for_path(path, registry)
        if kind not in registry:
            raise UsageError(f"--collector {kind}: no such collector (known: {', '.join(sorted(registry))})")
        # the name as text: a file name in GBK bytes (unzipped from Windows) is not
        group_source = printable_name(source or path.stem)
        groups.setdefault((kind, group_source), []).append(str(path.resolve()) if path.exists() else str(path))
    instances = []
    for (kind, group_source), group_paths in groups.items():
        raw: dict[str, Any] = {"collector": kind, "source": group_source, "paths": group_paths}
        if channel is not None:
            raw["channel"] = channel
        given = {k: v for k, v in (options or {}).items() if v is not None}
        unknown = [k for k in given if k not in registry[kind].Config.model_fields]
        if unknown:
            raise UsageError(f"--{unknown[0].replace('_', '-')} does not apply to the {kind} collector")
        raw.update(given)
        name = f"{IMPORT_PREFIX}{group_source}"
        instances.append(build_instance(name, raw, registry, where=f"import {', '.join(group_paths)}"))
    return instances


def run_instances(
    instances: Iterable[CollectorInstance],
    *,
    engine: Engine,
    timezone: ZoneInfo,
    hooks: PipelineHooks | None = None,
    dry_run: bool = False,
    progress: Callable[[RunReport], None] | None = None,
    on_start: Callable[[CollectorInstance], None] | None = None,
    date_window: DateWindow | None = None,
) -> list[RunReport]:
    """Run instances one after another; a failing one is reported and the others go on.

    Runs left ``running`` by a killed process are marked ``interrupted`` first (not in a
    dry run, which writes nothing): the new runs resume from their checkpoints.

    :param date_window: ``[bihuan]``'s :attr:`~bihuan.core.config.GeneralSettings.date_window`.
    :raises ConfigError: this host has no pseudonym key for the database, or another one
        (before anything runs).
    """
    privacy = privacy_for(engine, (hooks or PipelineHooks()).redact, create=not dry_run)
    if not dry_run:
        mark_interrupted_runs(engine)
    reports = []
    for instance in instances:
        if on_start:
            on_start(instance)
        reports.append(
            run_collector(
                instance.cls(),
                instance.context(timezone, date_window),
                engine=engine,
                collector_type=instance.collector_type,
                hooks=hooks,
                config_record=instance.config_record(),
                dry_run=dry_run,
                progress=progress,
                privacy=privacy,
            )
        )
    return reports
