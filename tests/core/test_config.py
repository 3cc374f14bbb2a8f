"""plugins.toml: where it is found, what is refused, secrets from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from bihuan.core.collection import build_instance, configured_instances
from bihuan.core.collector import CollectorConfig
from bihuan.core.config import load_settings
from bihuan.core.errors import ConfigError
from bihuan.plugins.manager import BihuanPluginManager

REPO_ROOT = Path(__file__).resolve().parents[2]


class TokenConfig(CollectorConfig):
    url: str
    token: str


class TokenCollector:
    name: ClassVar[str] = "token_api"
    channel: ClassVar[str] = "ticket"
    Config = TokenConfig

    def check(self, ctx):  # pragma: no cover - not run here
        pass

    def collect(self, ctx, state):  # pragma: no cover - not run here
        return iter(())


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_shipped_plugins_toml_validates_against_the_real_collectors(pm: BihuanPluginManager) -> None:
    settings = load_settings(REPO_ROOT / "plugins.toml")
    registry = {name: entry.cls for name, entry in pm.collectors().items()}
    instances = configured_instances(settings, registry)
    assert instances, "the shipped file documents example collector instances"
    assert all(not i.config.enabled for i in instances.values()), "a fresh checkout collects nothing"
    assert settings.bihuan.timezone == "Asia/Shanghai"


def test_plugins_toml_in_the_working_directory_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, '[bihuan]\ntimezone = "Europe/Berlin"\n')
    monkeypatch.chdir(tmp_path)
    assert load_settings().bihuan.timezone == "Europe/Berlin"


def test_no_file_means_built_in_defaults() -> None:
    settings = load_settings()
    assert settings.path is None and settings.collectors == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[bihuan\ntimezone = 1", "not valid TOML"),
        ('[bihuan]\ntimezone = "Mars/Olympus"\n', "Mars/Olympus"),
        ("[bihuan]\ntimezon = 'Asia/Shanghai'\n", "timezon"),
    ],
)
def test_a_broken_file_is_a_config_error_naming_the_file(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_missing_explicit_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_env_references_are_resolved_and_never_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETS_TOKEN", "s3cr3t-value")
    raw = {"collector": "token_api", "url": "https://tickets.example", "token": {"$env": "TICKETS_TOKEN"}}
    instance = build_instance("tickets", raw, {"token_api": TokenCollector})  # type: ignore[dict-item]
    assert instance.config.token == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(instance.config_record())
    assert instance.config_record()["token"] == {"$env": "TICKETS_TOKEN"}
    assert instance.channel == "ticket"


def test_a_missing_env_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETS_TOKEN", raising=False)
    raw = {"collector": "token_api", "url": "https://x", "token": {"$env": "TICKETS_TOKEN"}}
    with pytest.raises(ConfigError, match="TICKETS_TOKEN is not set"):
        build_instance("tickets", raw, {"token_api": TokenCollector})  # type: ignore[dict-item]


def test_unknown_keys_and_collectors_are_refused_with_suggestions() -> None:
    registry = {"token_api": TokenCollector}
    with pytest.raises(ConfigError, match=r"\[collectors.tickets\].*tokn"):
        build_instance("tickets", {"collector": "token_api", "url": "u", "token": "t", "tokn": 1}, registry)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no collector named 'zendesk'.*token_api"):
        build_instance("tickets", {"collector": "zendesk"}, registry)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown channel 'weibo'"):
        build_instance("tickets", {"collector": "token_api", "url": "u", "token": "t", "channel": "weibo"}, registry)  # type: ignore[arg-type]
