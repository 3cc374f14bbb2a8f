"""Loading plugins: built-ins, entry points, broken plugins, strict mode, duplicates."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bihuan.core.collector import CollectorConfig, RunContext
from bihuan.core.errors import PluginError
from bihuan.plugins import hookimpl
from bihuan.plugins.manager import BihuanPluginManager, build_plugin_manager, make_redactor, pipeline_hooks


def fake_distribution(site: Path, dist: str, module: str, source: str, entry_name: str | None = None) -> None:
    """Write an installed-looking distribution (module + dist-info) into ``site``."""
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[bihuan]\n{entry_name or module} = {module}\n", encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    yield path
    for name in list(sys.modules):
        if name.startswith("acme_"):
            del sys.modules[name]


def entry_points_in(site: Path) -> list[importlib.metadata.EntryPoint]:
    eps = []
    for dist in importlib.metadata.distributions(path=[str(site)]):
        eps.extend(ep for ep in dist.entry_points if ep.group == "bihuan")
    return eps


GOOD_PLUGIN = '''
from bihuan.core.collector import CollectorConfig
from bihuan.plugins import hookimpl

class ComplaintsCollector:
    name = "acme_complaints"
    channel = "ticket"
    Config = CollectorConfig
    def check(self, ctx):
        pass
    def collect(self, ctx, state):
        return iter(())

@hookimpl
def register_collectors(register):
    register(ComplaintsCollector)
'''


def test_builtins_are_registered_like_plugins(pm: BihuanPluginManager) -> None:
    records = pm.records
    assert records["builtin_redaction"].origin == "built-in"
    assert records["builtin_redaction"].hooks == ["redact_text"]
    assert set(pm.collectors()) >= {"csv", "xlsx", "jsonl"}
    assert records["builtin"].contributes[:3] == ["collector csv", "collector xlsx", "collector jsonl"]


def test_entry_point_plugin_is_discovered_with_its_distribution(site: Path) -> None:
    fake_distribution(site, "acme-bihuan", "acme_plugin", GOOD_PLUGIN)
    pm = build_plugin_manager(entry_points=entry_points_in(site), strict=False)
    record = pm.records["acme_plugin"]
    assert (record.origin, record.status, record.distribution) == ("entry point", "loaded", "acme-bihuan 1.0")
    assert pm.collectors()["acme_complaints"].plugin == "acme_plugin"


def test_plugin_that_fails_to_import_is_reported_and_skipped(site: Path) -> None:
    fake_distribution(site, "acme-broken", "acme_broken", "import does_not_exist_anywhere\n")
    fake_distribution(site, "acme-bihuan", "acme_plugin", GOOD_PLUGIN)
    pm = build_plugin_manager(entry_points=entry_points_in(site), strict=False)
    broken = pm.records["acme_broken"]
    assert broken.status == "failed"
    assert "ModuleNotFoundError" in broken.errors[0]
    assert "acme_complaints" in pm.collectors()  # the others still load


def test_strict_mode_makes_a_broken_plugin_fatal(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_distribution(site, "acme-broken", "acme_broken", "raise RuntimeError('bad plugin')\n")
    monkeypatch.setenv("BIHUAN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="acme_broken.*bad plugin"):
        build_plugin_manager(entry_points=entry_points_in(site))


def test_misspelt_hook_is_reported_with_a_suggestion_and_unregistered(site: Path) -> None:
    source = """
    from bihuan.plugins import hookimpl

    @hookimpl
    def register_colectors(register):
        raise AssertionError("must never be called")
    """
    fake_distribution(site, "acme-typo", "acme_typo", source)
    pm = build_plugin_manager(entry_points=entry_points_in(site), strict=False)
    record = pm.records["acme_typo"]
    assert record.status == "failed"
    assert "unknown hook 'register_colectors'" in record.errors[0]
    assert "did you mean 'register_collectors'" in record.errors[0]
    assert pm.get_plugin("acme_typo") is None


def test_hook_with_wrong_arguments_is_rejected(register_plugin: Any, pm: BihuanPluginManager) -> None:
    class WrongArgs:
        @hookimpl
        def redact_text(self, text: str, language: str) -> str:  # 'language' is not in the spec
            return text

    register_plugin(WrongArgs(), name="wrong-args")
    assert pm.records["wrong-args"].status == "failed"
    assert "rejected" in pm.records["wrong-args"].errors[0]


class _Valid:
    name: ClassVar[str] = "csv"
    channel: ClassVar[str] = "survey"
    Config: ClassVar[type[CollectorConfig]] = CollectorConfig

    def check(self, ctx: RunContext) -> None: ...

    def collect(self, ctx: RunContext, state: Any) -> Iterator[Any]:
        return iter(())


def test_duplicate_collector_name_is_refused_and_builtin_wins(register_plugin: Any, pm: BihuanPluginManager) -> None:
    class Plugin:
        @hookimpl
        def register_collectors(self, register: Any) -> None:
            register(_Valid)

    register_plugin(Plugin(), name="dupe")
    collectors = pm.collectors()
    assert collectors["csv"].plugin == "builtin"
    assert "collector name 'csv' is taken by plugin 'builtin'" in pm.records["dupe"].errors[0]


def test_invalid_collector_class_is_refused(register_plugin: Any, pm: BihuanPluginManager) -> None:
    class NoConfig:
        name = "noconfig"
        channel = "ticket"

    class Plugin:
        @hookimpl
        def register_collectors(self, register: Any) -> None:
            register(NoConfig)

    register_plugin(Plugin(), name="bad-collector")
    assert "noconfig" not in pm.collectors()
    assert "Config must subclass" in pm.records["bad-collector"].errors[0]


def test_disabled_plugins_are_listed_but_not_loaded(site: Path) -> None:
    fake_distribution(site, "acme-bihuan", "acme_plugin", GOOD_PLUGIN)
    pm = build_plugin_manager(disabled=["acme_plugin"], entry_points=entry_points_in(site), strict=False)
    assert pm.records["acme_plugin"].status == "disabled"
    assert "acme_complaints" not in pm.collectors()


def test_load_plugins_env_limits_entry_points(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_distribution(site, "acme-bihuan", "acme_plugin", GOOD_PLUGIN)
    # the site dir is on sys.path, so the installed-distribution discovery sees it
    monkeypatch.setenv("BIHUAN_LOAD_PLUGINS", "")
    assert "acme_plugin" not in build_plugin_manager().records
    monkeypatch.setenv("BIHUAN_LOAD_PLUGINS", "acme_plugin")
    assert "acme_plugin" in build_plugin_manager().records


def test_a_redaction_plugin_overrides_the_default_and_none_falls_back(
    register_plugin: Any, pm: BihuanPluginManager
) -> None:
    class MaskNames:
        @hookimpl
        def redact_text(self, text: str) -> str | None:
            return text.replace("张三", "[姓名]") if "张三" in text else None

    register_plugin(MaskNames(), name="mask-names")
    redact = make_redactor(pm)
    assert redact("客户张三来电") == "客户[姓名]来电"
    # the plugin declined: the built-in default still applies
    assert "13812345678" not in redact("电话13812345678")


def test_event_hook_failure_is_logged_not_raised(register_plugin: Any, pm: BihuanPluginManager, caplog: Any) -> None:
    seen: list[int] = []

    class Broken:
        @hookimpl
        def on_items_stored(self, new: int) -> None:
            raise RuntimeError("notifier down")

    class Listening:
        @hookimpl
        def on_items_stored(self, collector: str, new: int) -> None:
            seen.append(new)

    register_plugin(Broken(), name="broken-listener")
    register_plugin(Listening(), name="listener")
    hooks = pipeline_hooks(pm)
    assert hooks.on_items_stored is not None
    hooks.on_items_stored(collector="c", source="s", run_id=1, new=5, updated=0)
    assert seen == [5]
    assert "notifier down" in caplog.text
