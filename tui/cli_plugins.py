"""``bihuan plugins``: what is loaded, from where, with which hooks, and what failed."""

from __future__ import annotations

import click

from bihuan.tui.cli_collect import json_option
from bihuan.tui.context import App, pass_app
from bihuan.tui.output import emit_json, print_table


@click.command()
@json_option
@pass_app
def plugins(app: App, as_json: bool) -> None:
    """List plugins: origin, status, hooks, contributions and load failures."""
    pm = app.pm
    pm.collectors()  # attribute contributions (and refusals) to their plugins
    records = list(pm.records.values())
    if as_json:
        emit_json(
            [
                {
                    "name": r.name,
                    "origin": r.origin,
                    "module": r.module,
                    "distribution": r.distribution,
                    "status": r.status,
                    "hooks": r.hooks,
                    "contributes": r.contributes,
                    "errors": r.errors,
                }
                for r in records
            ]
        )
        return
    print_table(
        ("plugin", "origin", "status", "hooks", "contributes", "errors"),
        (
            (
                r.name,
                r.origin + (f" ({r.distribution})" if r.distribution else ""),
                r.status,
                ", ".join(r.hooks),
                ", ".join(r.contributes),
                "; ".join(r.errors),
            )
            for r in records
        ),
    )


COMMANDS = (plugins,)
