"""``bihuan privacy status|new-key``: the pseudonym key of the database (see
:mod:`bihuan.core.pseudonyms`)."""

from __future__ import annotations

import click

from bihuan.core.errors import UsageError
from bihuan.core.pseudonyms import KEY_ENV, KEY_FILE_ENV, key_status, new_key
from bihuan.tui.cli_collect import json_option
from bihuan.tui.context import App, pass_app
from bihuan.tui.output import emit_json


@click.group()
def privacy() -> None:
    """The key customer references and personal data in ids are pseudonymised with."""


@privacy.command()
@json_option
@pass_app
def status(app: App, as_json: bool) -> None:
    """Where this host's pseudonym key comes from, and whether it is the database's.

    Exit code 2 when the database expects a key this host does not have, or another.
    """
    found = key_status(app.engine())
    info = {
        "database_id": found.database_id,
        "database_key_fingerprint": found.expected,
        "key_source": found.source,
        "key_fingerprint": found.found,
        "ok": found.expected is None or found.matches,
    }
    if as_json:
        emit_json(info)
    else:
        click.echo(f"database id:      {found.database_id or '(none yet)'}")
        click.echo(f"database expects: {found.expected or 'no key yet (created on the first import)'}")
        where = found.source or f"(none: set ${KEY_ENV} or ${KEY_FILE_ENV})"
        click.echo(f"this host's key:  {where}" + (f" (fingerprint {found.found})" if found.found else " (missing)"))
        if found.expected is not None and not found.matches:
            click.echo(
                "this host cannot import into the database: it needs the key the database was first written with"
            )
    if not info["ok"]:
        raise SystemExit(2)


@privacy.command("new-key")
@click.option("--yes", is_flag=True, help="Confirm: new records will not link to the ones stored before.")
@json_option
@pass_app
def new_key_command(app: App, yes: bool, as_json: bool) -> None:
    """Start a new pseudonym key when the database's key is lost.

    What is stored stays as it is. New records are pseudonymised with the new key, so they
    no longer link to the old ones: a customer who wrote before counts as a new customer,
    and a re-imported record whose id holds personal data is stored again.
    """
    if not yes:
        raise UsageError(
            "a new key cuts every link between the records stored so far and new ones (customers, ids with "
            "personal data in them); pass --yes if the old key is really lost"
        )
    pseudonymiser, source = new_key(app.engine())
    if as_json:
        emit_json({"key_source": source, "key_fingerprint": pseudonymiser.fingerprint})
        return
    click.echo(f"new pseudonym key {source} (fingerprint {pseudonymiser.fingerprint}); back it up")


COMMANDS = (privacy,)
