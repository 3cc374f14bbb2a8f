"""``bihuan tui``: open the team's workplace in the terminal."""

from __future__ import annotations

import click

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
    stopped it is raised here, as any command's error.
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


COMMANDS = (tui_command,)
