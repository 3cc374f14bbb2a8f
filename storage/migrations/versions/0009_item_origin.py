"""Item origin: the file and row a file import read each item from (``day1.csv row 3``).

An import compares it with the file it reads, so that a row-numbered or restarting id
column can never silently replace the items of another day's file, and a repeated id
within one file is told apart from a re-exported file (see ``bihuan.core.batches``).

Nullable and without a default: adding it changes the table's definition only (no
rewrite of a million rows, and on SQLite no copy of the table, so its triggers stay).
Items stored before it keep NULL: an import treats them as read from another file.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("feedback_item", sa.Column("origin", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite that copies the table, and the triggers of 0005 and 0006
    # would go with the old one. SQLite drops a column itself since 3.35.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE feedback_item DROP COLUMN origin")
    else:
        op.drop_column("feedback_item", "origin")
