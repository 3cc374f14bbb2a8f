"""The ``bihuan`` command.

Exit codes: 0 everything stored; 3 finished, with quarantined records; 2 usage or
configuration error; 1 any other failure. Every command has ``--json``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from bihuan.core.errors import EXIT_FAILURE, BihuanError
from bihuan.tui.aliases import AliasGroup
from bihuan.tui.context import App, freeze_imports

#: each built-in command and the module of this package that defines it (in its
#: ``COMMANDS``). A command's module is imported when the command runs, or for
#: ``--help``: ``bihuan tui`` does not import the analysis engine, ``bihuan import`` not
#: the PDCA commands (on ``bihuan tui`` that is ~0.3 s of the first paint).
COMMAND_MODULES: dict[str, str] = {
    "init": "cli_collect",
    "import": "cli_collect",
    "collect": "cli_collect",
    "runs": "cli_collect",
    "demo": "cli_collect",
    "quarantine": "cli_quarantine",
    "plugins": "cli_plugins",
    "analyze": "cli_analysis",
    "groups": "cli_analysis",
    "report": "cli_report",
    "task": "cli_pdca",
    "action": "cli_pdca",
    "tick": "cli_pdca",
    "sla": "cli_sla",
    "followups": "cli_sla",
    "tui": "cli_tui",
    "privacy": "cli_privacy",
}

#: other names people type for a command
COMMAND_ALIASES: dict[str, str] = {"tasks": "task", "actions": "action"}


class BihuanGroup(AliasGroup):
    """Loads built-in commands when they are used, adds plugin commands, and turns
    bihuan's errors into messages and exit codes."""

    _plugin_commands_loaded = False

    def _builtin(self, name: str) -> click.Command | None:
        """The built-in command ``name``, its module imported (and registered) on first use."""
        if name not in self.commands and name in COMMAND_MODULES:
            module = importlib.import_module(f"bihuan.tui.{COMMAND_MODULES[name]}")
            for command in module.COMMANDS:
                self.commands.setdefault(command.name, command)  # type: ignore[arg-type]
            freeze_imports()
        return self.commands.get(name)

    def _load_plugin_commands(self, ctx: click.Context) -> None:
        if self._plugin_commands_loaded:
            return
        self._plugin_commands_loaded = True
        app = ctx.find_object(App)
        if app is None:
            app = App(config_path=ctx.params.get("config"), db=ctx.params.get("db"))
        for command in app.pm.commands(taken=[*COMMAND_MODULES, *self.commands, *self.aliases]):
            self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for name in COMMAND_MODULES:
            self._builtin(name)
        self._safe_load(ctx)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = self.aliases.get(cmd_name, cmd_name)
        if self._builtin(name) is None:
            self._safe_load(ctx)
        return super().get_command(ctx, cmd_name)

    def _safe_load(self, ctx: click.Context) -> None:
        try:
            self._load_plugin_commands(ctx)
        except BihuanError as exc:
            raise click.ClickException(_safe(str(exc))) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BihuanError as exc:
            click.echo(f"error: {_safe(str(exc))}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=BihuanGroup)
@click.option(
    "--db", metavar="URL", help="Database URL or SQLite path (default: $BIHUAN_DATABASE_URL, else the user data dir)."
)
@click.option(
    "--config", metavar="PATH", help="plugins.toml to use (default: $BIHUAN_CONFIG, ./plugins.toml, user config dir)."
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.version_option(package_name="bihuan")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config: str | None, verbose: int) -> None:
    """bihuan (闭环): collect customer feedback, find what hurts most, close the loop."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # nothing reaches the terminal with a secret or raw personal data in it: a file name
    # with a phone number, a URL with a token, a record quoted by a collector's log line
    from bihuan.core.privacy import install_log_filter

    install_log_filter()
    ctx.obj = App(db=db, config_path=config)


def _safe(message: str) -> str:
    """An error message as printed: secrets masked, personal data redacted."""
    from bihuan.core.privacy import safe_text

    return safe_text(message)


for _alias, _name in COMMAND_ALIASES.items():
    cli.add_alias(_alias, _name)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="bihuan")
    except BihuanError as exc:  # raised outside a command (e.g. while loading plugins)
        click.echo(f"error: {_safe(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_FAILURE)
