"""Analysis speed: a key of each result's normalised text, so that an incremental run
primes its repeat linker from stored keys instead of normalising ~20,000 recent texts.

Nullable and without a default: adding it is a change to the table's definition only
(no rewrite of a million rows on SQLite or PostgreSQL). Results written before it keep
NULL; the engine computes and stores their keys when it first needs them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 08:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('item_analysis', sa.Column('text_key', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # SQLite before 3.35 cannot drop a column: batch mode copies the table instead
    with op.batch_alter_table('item_analysis', schema=None) as batch_op:
        batch_op.drop_column('text_key')
