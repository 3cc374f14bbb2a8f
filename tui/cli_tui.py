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
    """Run the Textual app on ``app``'s database and settings until the user quits."""
    # imported here: Textual is only needed when the workplace opens
    from bihuan.tui.app import BihuanApp, Services

    services = Services(
        engine=app.engine(),
        settings=app.settings,
        pdca=app.pdca,
        actor=actor,
        registry=app.registry(),
        pipeline_hooks=app.hooks,
        cases=app.cases,
    )
    BihuanApp(services).run()


COMMANDS = (tui_command,)
