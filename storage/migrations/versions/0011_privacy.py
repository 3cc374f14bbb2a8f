"""Privacy: ``database_info``, where the database keeps its id and the fingerprint of the
key its personal data is pseudonymised with (never the key itself: that stays outside
the database, see ``bihuan.core.pseudonyms``).

Rows stored before this revision still hold what the collectors read (raw customer
references, ids and URLs with personal data in them). A migration cannot pseudonymise
them: it has no key. The CLI does it right after upgrading, with the key
(``bihuan.core.privacy_pass``), in the same transaction that records the key's fingerprint.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "database_info",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("database_info")
