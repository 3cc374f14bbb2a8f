"""Loading plugins and building the registries they contribute to.

Built-in plugins are modules listed in :data:`DEFAULT_PLUGINS` and are registered
exactly like third-party ones; third-party plugins come from the ``bihuan`` entry-point
group. A plugin that fails to import, implements a hook with a bad signature, implements
an unknown (misspelt) hook or registers a taken name is reported in
:attr:`BihuanPluginManager.records` and skipped; ``BIHUAN_STRICT_PLUGINS=1`` makes any
such failure fatal (:class:`~bihuan.core.errors.PluginError`).

``BIHUAN_LOAD_PLUGINS`` limits which entry-point plugins load: unset loads all, an
empty value loads none (the test suite sets that), ``a,b`` loads only those.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from bihuan.core.analysis.hooks import AnalysisHooks
from bihuan.core.collector import Collector, CollectorConfig
from bihuan.core.errors import PluginError
from bihuan.core.pdca.hooks import PdcaHooks
from bihuan.core.pipeline import PipelineHooks
from bihuan.core.sla.hooks import CaseHooks
from bihuan.plugins import hookspecs
from bihuan.plugins.markers import PROJECT_NAME

if TYPE_CHECKING:
    from bihuan.core.config import Settings
    from bihuan.core.outbox import Outbox

log = logging.getLogger(__name__)

#: built-in plugins, registered in this order before any third-party plugin
DEFAULT_PLUGINS: tuple[str, ...] = (
    "bihuan.plugins.builtin_redaction",
    "bihuan.collectors.builtin",
    "bihuan.plugins.builtin_notify",
)
STRICT_ENV = "BIHUAN_STRICT_PLUGINS"
LOAD_ENV = "BIHUAN_LOAD_PLUGINS"

Origin = Literal["built-in", "entry point", "registered"]
Status = Literal["loaded", "disabled", "failed"]


@dataclass
class PluginRecord:
    """What ``bihuan plugins`` shows for one plugin."""

    name: str
    origin: Origin
    module: str
    status: Status = "loaded"
    distribution: str | None = None
    hooks: list[str] = field(default_factory=list)
    contributes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegisteredCollector:
    """A collector class and the plugin that registered it."""

    cls: type[Collector]
    plugin: str


def strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class BihuanPluginManager(pluggy.PluginManager):
    """pluggy's manager plus load records and the registries plugins contribute to."""

    def __init__(self, *, strict: bool = False) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.strict = strict
        self.records: dict[str, PluginRecord] = {}
        self._collectors: dict[str, RegisteredCollector] | None = None

    # ── loading ───────────────────────────────────────────────────────────────────

    def fail(self, record: PluginRecord, message: str) -> None:
        """Record a plugin failure; fatal in strict mode."""
        record.errors.append(message)
        record.status = "failed" if record.status != "disabled" else record.status
        log.warning("plugin %s: %s", record.name, message)
        if self.strict:
            raise PluginError(f"plugin {record.name!r} ({record.module}): {message}")

    def add_plugin(
        self,
        plugin: ModuleType | object,
        *,
        name: str,
        origin: Origin,
        distribution: str | None = None,
        disabled: bool = False,
    ) -> PluginRecord:
        """Register ``plugin`` under ``name`` and keep a record of it."""
        module = getattr(plugin, "__name__", type(plugin).__name__)
        record = PluginRecord(name=name, origin=origin, module=module, distribution=distribution)
        self.records[name] = record
        if disabled:
            record.status = "disabled"
            return record
        try:
            self.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self.fail(record, f"rejected: {exc}")
            return record
        record.hooks = sorted(impl_name for impl_name, _ in _implemented_hooks(self, plugin))
        self._collectors = None
        return record

    def remove_plugin(self, name: str) -> None:
        """Unregister a plugin (used by tests and by failure handling)."""
        plugin = self.get_plugin(name)
        if plugin is not None:
            self.unregister(plugin)
        self.records.pop(name, None)
        self._collectors = None

    def check_unknown_hooks(self) -> None:
        """Report and unregister plugins implementing hooks that do not exist.

        This is ``check_pending`` with a useful message: the closest hook name is
        suggested, and the rest of the program goes on without the broken plugin.
        """
        known = [name for name in dir(self.hook) if not name.startswith("_")]
        for hook_name in known:
            caller = getattr(self.hook, hook_name)
            if caller.spec is not None:
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                valid = [n for n in dir(hookspecs) if getattr(getattr(hookspecs, n), "bihuan_spec", None)]
                close = difflib.get_close_matches(hook_name, valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                record = self.records.get(impl.plugin_name)
                if record is not None:
                    self.unregister(name=impl.plugin_name)
                    self.fail(record, f"implements unknown hook {hook_name!r}{hint}")
        self._collectors = None

    # ── registries ────────────────────────────────────────────────────────────────

    def _call_register_hook(self, hook_name: str, accept: Callable[[str, Any], str | None]) -> None:
        """Call a contribution hook plugin by plugin, so each contribution is attributed.

        ``accept(plugin_name, thing)`` returns an error message to refuse ``thing``.
        Built-ins are asked first so that their names win over third-party ones.
        """
        caller = getattr(self.hook, hook_name)
        impls = caller.get_hookimpls()
        order = {name: i for i, name in enumerate(self.records)}
        impls = sorted(impls, key=lambda impl: order.get(impl.plugin_name, len(order)))
        for impl in impls:
            record = self.records.get(impl.plugin_name)

            def register(thing: Any, _plugin: str = impl.plugin_name) -> None:
                error = accept(_plugin, thing)
                if error:
                    rec = self.records.get(_plugin)
                    if rec is not None:
                        self.fail(rec, error)
                    elif self.strict:
                        raise PluginError(error)

            try:
                impl.function(register)
            except PluginError:
                raise
            except Exception as exc:  # a broken plugin must not take the program down
                if record is not None:
                    self.fail(record, f"{hook_name} raised {type(exc).__name__}: {exc}")

    def collectors(self) -> dict[str, RegisteredCollector]:
        """Every registered collector by name (built once, refusing duplicates)."""
        if self._collectors is not None:
            return self._collectors
        found: dict[str, RegisteredCollector] = {}

        def accept(plugin: str, cls: Any) -> str | None:
            problem = collector_class_problem(cls)
            if problem:
                return f"register_collectors: {problem}"
            if cls.name in found:
                return f"register_collectors: collector name {cls.name!r} is taken by plugin {found[cls.name].plugin!r}"
            found[cls.name] = RegisteredCollector(cls=cls, plugin=plugin)
            rec = self.records.get(plugin)
            if rec is not None:
                rec.contributes.append(f"collector {cls.name}")
            return None

        self._call_register_hook("register_collectors", accept)
        self._collectors = found
        return found

    def notice_targets(self) -> list[Any]:
        """Notice targets contributed by plugins (``register_notice_targets``), refusing
        objects that are not targets and names already taken. Asked anew on each call:
        the targets follow the settings the plugins were last configured with."""
        found: dict[str, Any] = {}

        def accept(plugin: str, target: Any) -> str | None:
            problem = notice_target_problem(target)
            if problem:
                return f"register_notice_targets: {problem}"
            if target.name in found:
                return f"register_notice_targets: notice target name {target.name!r} is taken"
            found[target.name] = target
            rec = self.records.get(plugin)
            if rec is not None and (entry := f"notice target {target.name}") not in rec.contributes:
                rec.contributes.append(entry)
            return None

        self._call_register_hook("register_notice_targets", accept)
        return list(found.values())

    def commands(self, taken: Iterable[str]) -> list[Any]:
        """Click commands contributed by plugins, refusing names in ``taken`` or repeated."""
        names = set(taken)
        commands: list[Any] = []

        def accept(plugin: str, command: Any) -> str | None:
            name = getattr(command, "name", None)
            if not name or not callable(getattr(command, "main", None)):
                return f"register_commands: {command!r} is not a click command"
            if name in names:
                return f"register_commands: command name {name!r} is taken"
            names.add(name)
            commands.append(command)
            rec = self.records.get(plugin)
            if rec is not None:
                rec.contributes.append(f"command {name}")
            return None

        self._call_register_hook("register_commands", accept)
        return commands


def collector_class_problem(cls: Any) -> str | None:
    """Why ``cls`` is not a valid collector class, or ``None`` when it is."""
    if not isinstance(cls, type):
        return f"{cls!r} is not a class"
    label = cls.__qualname__
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        return f"{label} has no 'name'"
    if not isinstance(getattr(cls, "channel", None), str):
        return f"{label} has no 'channel'"
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and issubclass(config, CollectorConfig)):
        return f"{label}.Config must subclass bihuan.core.collector.CollectorConfig"
    for method in ("check", "collect"):
        if not callable(getattr(cls, method, None)):
            return f"{label} has no {method}() method"
    return None


def notice_target_problem(target: Any) -> str | None:
    """Why ``target`` is not a notice target, or ``None`` when it is."""
    name = getattr(target, "name", None)
    if not isinstance(name, str) or not name.strip():
        return f"{target!r} has no 'name'"
    for method in ("accepts", "send"):
        if not callable(getattr(target, method, None)):
            return f"notice target {name!r} has no {method}() method"
    return None


def _implemented_hooks(pm: pluggy.PluginManager, plugin: object) -> list[tuple[str, Any]]:
    out = []
    for caller in pm.get_hookcallers(plugin) or []:
        out.append((caller.name, caller))
    return out


def _selected_entry_points(
    entry_points: Sequence[importlib.metadata.EntryPoint] | None,
) -> list[importlib.metadata.EntryPoint]:
    if entry_points is not None:  # given explicitly (tests, embedding): taken as they are
        return list(entry_points)
    entry_points = list(importlib.metadata.entry_points(group=PROJECT_NAME))
    wanted = os.environ.get(LOAD_ENV)
    if wanted is None:
        return list(entry_points)
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    return [ep for ep in entry_points if ep.name in names]


def build_plugin_manager(
    *,
    disabled: Iterable[str] = (),
    entry_points: Sequence[importlib.metadata.EntryPoint] | None = None,
    strict: bool | None = None,
    default_plugins: Sequence[str] = DEFAULT_PLUGINS,
) -> BihuanPluginManager:
    """Load the built-in plugins, then the entry-point plugins, and check them.

    :param disabled: plugin names not to load (``[plugins] disabled`` in plugins.toml).
    :param entry_points: the entry points to consider; ``None`` asks the installed
        distributions (filtered by ``BIHUAN_LOAD_PLUGINS``).
    :param strict: make every plugin failure fatal; ``None`` reads ``BIHUAN_STRICT_PLUGINS``.
    """
    pm = BihuanPluginManager(strict=strict_from_env() if strict is None else strict)
    disabled = set(disabled)
    for module_name in default_plugins:
        short = module_name.rsplit(".", 1)[-1]
        module = importlib.import_module(module_name)
        pm.add_plugin(module, name=short, origin="built-in", disabled=short in disabled)
    for ep in _selected_entry_points(entry_points):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else None
        if ep.name in pm.records:
            record = PluginRecord(name=f"{ep.name}@{dist}", origin="entry point", module=ep.value)
            pm.records[record.name] = record
            pm.fail(record, f"plugin name {ep.name!r} is taken")
            continue
        if ep.name in disabled:
            pm.records[ep.name] = PluginRecord(
                name=ep.name, origin="entry point", module=ep.value, distribution=dist, status="disabled"
            )
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # an import error in a plugin must not stop bihuan
            record = PluginRecord(name=ep.name, origin="entry point", module=ep.value, distribution=dist)
            pm.records[ep.name] = record
            pm.fail(record, f"failed to load: {type(exc).__name__}: {exc}")
            continue
        pm.add_plugin(plugin, name=ep.name, origin="entry point", distribution=dist)
    pm.check_unknown_hooks()
    return pm


# ── the bridge to the pipeline ────────────────────────────────────────────────────────


def _isolated_event(pm: pluggy.PluginManager, hook_name: str) -> Callable[..., None] | None:
    """Call every implementation of an event hook; one that raises is logged and skipped."""
    caller = getattr(pm.hook, hook_name)
    if not caller.get_hookimpls():
        return None

    def call(**kwargs: Any) -> None:
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception:
                log.exception("plugin %s: %s failed", impl.plugin_name, hook_name)

    return call


def make_redactor(pm: pluggy.PluginManager) -> Callable[[str], str]:
    """The ``redact_text`` decision as a plain function, fast when only the default runs.

    When every plugin declines (returns ``None``), the built-in default still applies:
    no configuration can make bihuan store raw personal data.
    """
    from bihuan.core.redaction import redact as default_redact
    from bihuan.plugins import builtin_redaction

    impls = pm.hook.redact_text.get_hookimpls()
    if not impls or (len(impls) == 1 and impls[0].plugin is builtin_redaction):
        return default_redact
    hook = pm.hook.redact_text

    def redact(text: str) -> str:
        answer = hook(text=text)
        return default_redact(text) if answer is None else answer

    return redact


def pipeline_hooks(pm: pluggy.PluginManager) -> PipelineHooks:
    """The plugin hooks the collector pipeline calls, as :class:`PipelineHooks`."""
    on_finished = _isolated_event(pm, "on_collector_run_finished")
    return PipelineHooks(
        redact=make_redactor(pm),
        on_items_stored=_isolated_event(pm, "on_items_stored"),
        on_run_finished=(lambda report: on_finished(report=report)) if on_finished else None,
    )


def notice_outbox(pm: BihuanPluginManager, settings: Settings) -> Outbox:
    """The outbox over the notice targets the plugins register, with ``[notify]``'s retry
    policy and deadline and the ``[bihuan]`` time zone."""
    from bihuan.core.outbox import Outbox, RetryPolicy

    notify = settings.notify
    policy = RetryPolicy(
        retries=notify.retries, backoff_seconds=notify.backoff_seconds, max_backoff_seconds=notify.max_backoff_seconds
    )
    return Outbox(
        pm.notice_targets(), policy=policy, zone=settings.bihuan.zone, deadline_seconds=notify.deadline_seconds
    )


def analysis_hooks(pm: pluggy.PluginManager, outbox: Outbox | None = None) -> AnalysisHooks:
    """The plugin hooks ``bihuan analyze`` calls, as :class:`AnalysisHooks`."""
    score = pm.hook.score_sentiment
    return AnalysisHooks(
        score_sentiment=(lambda texts, languages: score(texts=texts, languages=languages))
        if score.get_hookimpls()
        else None,
        on_spike=_isolated_event(pm, "on_spike"),
        outbox=outbox,
    )


def pdca_hooks(pm: pluggy.PluginManager, outbox: Outbox | None = None) -> PdcaHooks:
    """The plugin hooks the PDCA engine calls, as :class:`PdcaHooks`."""
    return PdcaHooks(
        on_task_stage_changed=_isolated_event(pm, "on_task_stage_changed"),
        on_check_verdict=_isolated_event(pm, "on_check_verdict"),
        on_action_overdue=_isolated_event(pm, "on_action_overdue"),
        outbox=outbox,
    )


def case_hooks(pm: pluggy.PluginManager, outbox: Outbox | None = None) -> CaseHooks:
    """The plugin hooks SLA and 回访 handling call, as :class:`CaseHooks`."""
    return CaseHooks(
        on_sla_breach=_isolated_event(pm, "on_sla_breach"),
        on_case_reopened=_isolated_event(pm, "on_case_reopened"),
        outbox=outbox,
    )
