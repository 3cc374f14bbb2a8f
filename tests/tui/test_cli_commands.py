"""The ``bihuan`` command's table of built-in commands, loaded when used."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

from click.testing import CliRunner

from bihuan.tui.cli import COMMAND_ALIASES, COMMAND_MODULES, cli


def test_the_table_names_every_command_of_every_module_and_nothing_else() -> None:
    defined = {}
    for module in set(COMMAND_MODULES.values()):
        for command in importlib.import_module(f"bihuan.tui.{module}").COMMANDS:
            defined[command.name] = module
    assert defined == COMMAND_MODULES
    assert set(COMMAND_ALIASES.values()) <= set(COMMAND_MODULES)


def test_help_lists_every_builtin_command_and_the_aliases() -> None:
    result = CliRunner().invoke(cli, ["--help"], catch_exceptions=False)
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1]
    for name in [*COMMAND_MODULES, *COMMAND_ALIASES]:
        assert f"\n  {name} " in commands, name


def test_an_alias_runs_the_command_of_its_module() -> None:
    # the default database (in the test's BIHUAN_HOME) is created on first use
    result = CliRunner().invoke(cli, ["tasks", "list", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == []


def test_a_command_imports_only_what_it_needs() -> None:
    """Start-up time is mostly imports: ``bihuan import`` and ``bihuan tui`` must not
    pay for the analysis engine, the PDCA commands, httpx or Alembic."""
    code = (
        "import json, sys\n"
        "from bihuan.tui.cli import cli\n"
        "cli.get_command(None, 'import')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert "bihuan.tui.cli_collect" in loaded
    for heavy in ("bihuan.core.analysis.engine", "bihuan.tui.cli_pdca", "bihuan.tui.cli_analysis", "httpx", "alembic"):
        assert heavy not in loaded, heavy
