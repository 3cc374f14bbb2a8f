"""Schema upgrades through Alembic; the CLI calls :func:`upgrade_database` on start.

Every command starts with that check, and a database is nearly always at the newest
revision already, so the check itself does without Alembic: the stored revision is read
with one query and compared with the newest migration found by reading the version
files' ``revision``/``down_revision`` lines (importing Alembic and loading its script
directory cost a command ~0.1 s). Alembic runs only when there is something to upgrade;
a test checks that the cheap answers agree with Alembic's.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from bihuan.core.errors import StorageError
from bihuan.storage.engine import writer

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_VERSION_TABLE = "alembic_version"
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def alembic_config() -> Config:
    """An Alembic config pointing at bihuan's migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@cache
def head_revision() -> str:
    """The newest migration's revision id: the one no other migration revises.

    Read from the version files' ``revision = '…'`` and ``down_revision = '…'`` lines
    (the form Alembic writes); a history that is not one line of revisions is refused.
    """
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue  # __init__.py and helpers
        revisions.add(_literal(found["revision"], path))
        down = _literal(found.get("down_revision", "None"), path)
        if down is not None:
            revised.add(down)
    heads = revisions - revised
    if len(heads) != 1:
        raise StorageError(f"migrations in {MIGRATIONS_DIR} have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def _literal(value: str, path: Path) -> str | None:
    """A quoted revision id or ``None``, as written on a version file's line."""
    if value == "None":
        return None
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    raise StorageError(f"{path.name}: cannot read revision {value!r}")


def _stored_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(_VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalar()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as conn:
        return _stored_revision(conn)


def upgrade_database(engine: Engine) -> bool:
    """Bring the schema to the newest migration; a no-op when it is already there.

    :returns: whether it upgraded (the CLI then does what migrations cannot, e.g.
        pseudonymise the rows stored before, which needs a key from outside the database).
    """
    if current_revision(engine) == head_revision():
        return False
    from alembic import command

    cfg = alembic_config()
    with writer(engine).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return True
