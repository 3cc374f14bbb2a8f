"""Run owner: the process (pid and host) that runs each collector run, so that a run whose
process was killed can be told from one still running and marked ``interrupted``.

Nullable and without a default: adding the columns changes the table's definition only.
Runs written before keep NULL; with no owner known, only their heartbeat's age can tell
(see ``bihuan.core.runs``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("collector_run", sa.Column("pid", sa.Integer(), nullable=True))
    op.add_column("collector_run", sa.Column("host", sa.String(length=255), nullable=True))


def downgrade() -> None:
    # SQLite before 3.35 cannot drop a column: batch mode copies the table instead
    with op.batch_alter_table("collector_run", schema=None) as batch_op:
        batch_op.drop_column("host")
        batch_op.drop_column("pid")
