"""Command groups that answer to more than one name.

The PDCA commands are ``bihuan task …`` and ``bihuan action …``; people (and the issue
that specified them) also type ``tasks``, ``actions`` and ``tasks new``. An alias
resolves to the one real command, so help lists each command once and says what else
it answers to.
"""

from __future__ import annotations

from collections.abc import Mapping

import click


class AliasGroup(click.Group):
    """A click group whose commands may also be called by the names in ``aliases``."""

    def __init__(self, *args: object, aliases: Mapping[str, str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.aliases: dict[str, str] = dict(aliases or {})

    def add_alias(self, alias: str, name: str) -> None:
        if alias in self.commands or alias in self.aliases:
            raise ValueError(f"{alias!r} is already a command or an alias")
        self.aliases[alias] = name

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        if self.aliases:
            with formatter.section("Aliases"):
                formatter.write_dl(sorted((alias, f"= {name}") for alias, name in self.aliases.items()))
