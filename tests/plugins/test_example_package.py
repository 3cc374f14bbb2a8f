"""The example plugin package (examples/bihuan-complaints-example) as its users meet it:
installed with pip, discovered by its entry point, run by ``bihuan collect``, and
passing its own acceptance tests against the installed module."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.apiserver import Reply, Request
from tests.tui.test_cli_process import BIHUAN, bihuan_env, count_rows

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bihuan-complaints-example"
TOKEN = "cx-SECRET-token"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(site, source)``: the example pip-installed into ``site`` from a copy in ``source``
    (pip builds in the source tree; the repository's copy stays clean)."""
    root = tmp_path_factory.mktemp("example")
    source = root / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", ".*", "build", "*.egg-info"))
    site = root / "site"
    pip = run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
         str(source)],
        env=None,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return site, source


def run(command: list[str], env: dict[str, str] | None, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False, **options)


def plugin_env(home: Path, site: Path, **extra: str) -> dict[str, str]:
    """bihuan's environment as a user has it: entry points discovered (the suite's
    ``BIHUAN_LOAD_PLUGINS=""`` removed), the installed example on the path."""
    env = bihuan_env(home, PYTHONPATH=str(site), **extra)
    env.pop("BIHUAN_LOAD_PLUGINS")
    return env


COMPLAINTS = [
    {"id": 3, "text": "柜台办理业务等了两个小时，电话13812345678", "created_at": "2026-11-02T09:15:00+08:00"},
    {"id": 8, "text": "信用卡年费没有提前通知", "created_at": "2026-11-02 10:00:00"},
    {"id": 9, "text": "", "created_at": "2026-11-02T11:00:00+08:00"},
    {"id": 12, "text": "手机银行转账失败但扣了款", "created_at": "2026-11-03T08:30:00+08:00"},
]


def complaints(request: Request) -> Reply:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return Reply(401, {"error": "unauthorized"})
    after = int(request.query.get("after", "0"))
    return Reply(body={"complaints": [c for c in COMPLAINTS if c["id"] > after][:2]})


def test_the_installed_example_is_discovered_and_collects_into_the_database(
    installed: tuple[Path, Path], tmp_path: Path, api: Any
) -> None:
    site, _ = installed
    env = plugin_env(tmp_path / "home", site, COMPLAINTS_TOKEN=TOKEN)
    listed = run([*BIHUAN, "plugins", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    plugin = {p["name"]: p for p in json.loads(listed.stdout)}["complaints_example"]
    assert (plugin["origin"], plugin["status"], plugin["errors"]) == ("entry point", "loaded", [])
    assert plugin["distribution"].replace("_", "-") == "bihuan-complaints-example 0.1.0"
    assert plugin["module"] == "bihuan_complaints_example"
    assert plugin["hooks"] == ["register_collectors"] and plugin["contributes"] == ["collector inhouse_complaints"]

    api.route("GET", "/complaints", complaints)
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[collectors.complaints]\ncollector = "inhouse_complaints"\nurl = "{api.url}"\n'
        'token = { "$env" = "COMPLAINTS_TOKEN" }\n',
        encoding="utf-8",
    )
    db = tmp_path / "example.db"
    assert run([*BIHUAN, "--db", str(db), "init"], env).returncode == 0  # only init creates a --db database
    collect = [*BIHUAN, "--db", str(db), "--config", str(config), "collect", "--json"]
    first = run(collect, env)
    assert first.returncode == 3, first.stderr  # finished, with a quarantined complaint
    report = json.loads(first.stdout)
    assert (report["new"], report["quarantined"], report["failed"]) == (3, 1, 0)
    assert TOKEN not in first.stdout + first.stderr
    assert count_rows(db) == 3
    conn = sqlite3.connect(db)
    texts = dict(conn.execute("SELECT external_id, text FROM feedback_item").fetchall())
    reasons = conn.execute("SELECT external_id, field, reason FROM quarantined_record").fetchall()
    configs = [c for (c,) in conn.execute("SELECT config FROM collector_run")]
    conn.close()
    assert set(texts) == {"3", "8", "12"} and "13812345678" not in texts["3"] and "[手机号]" in texts["3"]
    assert reasons == [("9", "text", "the complaint has no text")]
    assert TOKEN not in "".join(configs)

    # the next run resumes after the last complaint it saw and finds nothing new
    again = run(collect, env)
    assert again.returncode == 0, again.stderr
    assert (json.loads(again.stdout)["new"], json.loads(again.stdout)["read"]) == (0, 0)
    assert api.hits("/complaints")[-1].query == {"after": "12"}
    assert count_rows(db) == 3


def test_a_refused_token_is_a_configuration_error_naming_the_collector(
    installed: tuple[Path, Path], tmp_path: Path, api: Any
) -> None:
    site, _ = installed
    env = plugin_env(tmp_path / "home", site, COMPLAINTS_TOKEN="wrong-SECRET")
    api.route("GET", "/complaints", complaints)
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[collectors.complaints]\ncollector = "inhouse_complaints"\nurl = "{api.url}"\n'
        'token = { "$env" = "COMPLAINTS_TOKEN" }\n',
        encoding="utf-8",
    )
    assert run([*BIHUAN, "--db", str(tmp_path / "x.db"), "init"], env).returncode == 0
    result = run([*BIHUAN, "--db", str(tmp_path / "x.db"), "--config", str(config), "collect", "--json"], env)
    assert result.returncode == 2, result.stderr
    [report] = json.loads(result.stdout)["runs"]
    assert report["error_class"] == "auth" and "complaints" in report["error"]
    assert "wrong-SECRET" not in result.stdout + result.stderr


def test_the_example_passes_its_own_acceptance_tests_against_the_installed_module(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    site, source = installed
    env = plugin_env(tmp_path / "home", site, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    # run from an empty directory: the module is importable only from the installed site
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")], env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed" in result.stdout


def test_the_example_collector_is_under_50_lines() -> None:
    module = EXAMPLE / "bihuan_complaints_example.py"
    assert len(module.read_text(encoding="utf-8").splitlines()) < 50
