"""The ``bihuan`` command.

Exit codes: 0 everything stored; 3 finished, with quarantined records; 2 usage or
configuration error; 4 a stale write (retry); 5 the database is unreachable or unusable;
1 any other failure (see :mod:`bihuan.core.errors`). Every command has ``--json``.

Errors are reported in one place, :meth:`BihuanGroup.main`: one line on stderr, and with
``--json`` on the command line also one JSON document on stdout,
``{"error": …, "error_class": …, "exit_code": …}``, whatever failed — a bad option, a
bihuan error, the database, even a bug (its traceback then goes to stderr).
"""

from __future__ import annotations

import errno
import importlib
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from bihuan.core.display import display_text
from bihuan.core.errors import EXIT_FAILURE, EXIT_OK, BihuanError
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
    "notices": "cli_notices",
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
        # a plugin that cannot be loaded is a bihuan error like any other: main reports it
        self._load_plugin_commands(ctx)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; in standalone mode (the console script, CliRunner) every
        way out ends here with its exit code, and every error is reported by
        :func:`report_error`."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        args = sys.argv[1:] if args is None else list(args)
        as_json = wants_json(args)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except SystemExit:  # a command's own exit code (e.g. 3, after its report)
            raise
        except click.exceptions.Exit as exc:  # raised outside invoke: --help, --version
            sys.exit(exc.exit_code)
        except OSError as exc:
            if exc.errno != errno.EPIPE:  # the reader of a pipe went away: not an error
                report_error(exc, as_json=as_json)
            sys.exit(EXIT_FAILURE)
        except (KeyboardInterrupt, click.Abort, EOFError) as exc:
            report_error(exc, as_json=as_json)
        except Exception as exc:
            report_error(exc, as_json=as_json)
        # non-standalone main returns what the command returned, or the code of
        # ``ctx.exit(code)``; commands return nothing otherwise
        sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else EXIT_OK)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        finally:
            _deliver_notices(ctx)


def _deliver_notices(ctx: click.Context) -> None:
    """Send what the command announced (SLA breaches, stage changes…), at most the
    outbox's deadline; what is not delivered stays pending for `bihuan tick`."""
    app = ctx.find_object(App)
    if app is None:
        return
    try:
        app.deliver_notices()
    except Exception:  # the command's own outcome stands; the notices stay pending
        logging.getLogger("bihuan.notify").exception("notices could not be delivered now; `bihuan tick` retries")


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
    ctx.obj = app = App(db=db, config_path=config)
    # the database connections are closed when the command ends, not at exit: in one
    # process running many commands (CliRunner, an embedding script) they would pile up
    ctx.call_on_close(app.close)


for _alias, _name in COMMAND_ALIASES.items():
    cli.add_alias(_alias, _name)


def _safe(message: str) -> str:
    """An error message as printed: secrets masked, personal data redacted."""
    from bihuan.core.privacy import safe_text

    return safe_text(message)


def wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for JSON: ``--json`` anywhere before a ``--``."""
    args = list(args)
    if "--" in args:
        args = args[: args.index("--")]
    return "--json" in args


def error_document(exc: BaseException) -> dict[str, Any]:
    """``{"error", "error_class", "exit_code"}`` for what stopped a command."""
    if isinstance(exc, BihuanError):
        return {"error": _safe(str(exc)), "error_class": exc.error_class, "exit_code": exc.exit_code}
    if isinstance(exc, click.ClickException):
        # click's usage errors (bad option, missing argument) are exit code 2 like ours
        error_class = "usage" if isinstance(exc, click.UsageError) else "internal"
        return {"error": _safe(exc.format_message()), "error_class": error_class, "exit_code": exc.exit_code}
    if isinstance(exc, KeyboardInterrupt | click.Abort | EOFError):
        return {"error": "interrupted", "error_class": "interrupted", "exit_code": EXIT_FAILURE}
    return {
        "error": _safe(f"internal error: {type(exc).__name__}: {exc}"),
        "error_class": "internal",
        "exit_code": EXIT_FAILURE,
    }


def report_error(exc: BaseException, *, as_json: bool) -> NoReturn:
    """Report ``exc`` and exit with its code: one line on stderr (click's usage errors
    with their usage hint, a bug with its traceback), and with ``--json`` also the error
    document alone on stdout."""
    document = error_document(exc)
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False))
    if isinstance(exc, click.ClickException):
        exc.message = _safe(exc.message)  # an option's value may be a path with a phone number in it
        exc.show()
    elif document["error_class"] == "internal" and not isinstance(exc, BihuanError):
        # a bug: what broke, for the report (its messages may quote a record or a URL)
        click.echo(_safe("".join(traceback.format_exception(exc)).rstrip()), err=True)
    else:
        # an error may quote a stored value (a label, a source): its controls made visible
        click.echo(f"error: {display_text(document['error'], multiline=True)}", err=True)
    sys.exit(document["exit_code"])


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="bihuan")
