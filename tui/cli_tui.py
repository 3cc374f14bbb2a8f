"""``bihuan tui``: open the team's workplace in the terminal."""

from __future__ import annotations

import logging
import traceback

import click

from bihuan.core.display import display_text
from bihuan.core.errors import BihuanError
from bihuan.tui.context import App, actor_option, pass_app


@click.command("tui")
@actor_option
@pass_app
def tui_command(app: App, actor: str) -> None:
    """Open the workplace: dashboard, inbox, groups, PDCA board, collectors (F1 for help)."""
    open_workplace(app, actor)


def open_workplace(app: App, actor: str) -> None:
    """Run the Textual app on ``app``'s database and settings until the user quits.

    The settings are read first (a broken plugins.toml is reported before the screen
    changes); the database is opened by the app once its first frame is drawn, and what
    stopped it is raised here, as any command's error. An unexpected error inside the
    workplace ends it with a one-line error and exit code 1.
    """
    # imported here: Textual is only needed when the workplace opens
    from bihuan.tui.app import BihuanApp, Services

    def open_services() -> Services:
        return Services(
            engine=app.engine(),
            settings=app.settings,
            pdca=app.pdca,
            actor=actor,
            registry=app.registry(),
            pipeline_hooks=app.hooks,
            cases=app.cases,
            outbox=app.outbox,
        )

    workplace = BihuanApp(open_services, settings=app.settings)
    workplace.run()
    if workplace.startup_error is not None:
        raise workplace.startup_error
    if workplace.crash is not None or workplace.return_code:
        raise _crashed(workplace.crash)


def _crashed(crash: Exception | None) -> BihuanError:
    """The one-line error of a workplace that an unexpected error stopped (exit code 1)."""
    from textual.worker import WorkerFailed

    if crash is None:
        return BihuanError("the workplace stopped on an error")
    if isinstance(crash, WorkerFailed) and isinstance(crash.error, Exception):
        crash = crash.error  # an error on a worker thread (the screens' database work) comes wrapped
    # -vv: the traceback (without the local variables), its controls made visible too
    trace = "".join(traceback.format_exception(crash)).rstrip()
    logging.getLogger(__name__).debug("the workplace stopped:\n%s", display_text(trace, multiline=True))
    # the message may quote what the app was showing: one line, its controls made visible
    message = display_text(f"{type(crash).__name__}: {crash}", limit=300)
    return BihuanError(f"the workplace stopped on an unexpected error: {message} (-vv shows the traceback)")


COMMANDS = (tui_command,)
