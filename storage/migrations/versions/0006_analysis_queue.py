"""Analysis queue: the items whose content changed after they were analysed, kept by a
trigger on ``feedback_item``, so that an incremental run finds its work without reading
the whole table (see ``bihuan.storage.analysis_pending``).

The trigger fires on any update that changes ``content_hash`` (an import's upsert, an edit,
SQL by hand); the queue starts with the items pending now. A later migration that rebuilds
``feedback_item`` (SQLite batch mode copies the table, and its triggers go with the old
one) must create the trigger again: tests/storage/test_schema.py checks that it is there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "feedback_item_analysis_queue"


def upgrade() -> None:
    op.create_table(
        "analysis_queue",
        sa.Column("item_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO analysis_queue (item_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER {TRIGGER} AFTER UPDATE OF content_hash ON feedback_item
            FOR EACH ROW WHEN (OLD.content_hash IS DISTINCT FROM NEW.content_hash)
            EXECUTE FUNCTION {TRIGGER}()
            """
        )
    else:
        op.execute(
            f"""
            CREATE TRIGGER {TRIGGER} AFTER UPDATE OF content_hash ON feedback_item
            WHEN NEW.content_hash IS NOT OLD.content_hash
            BEGIN
                -- not INSERT OR IGNORE: an upsert's own conflict clause would override it
                INSERT INTO analysis_queue (item_id)
                SELECT NEW.id WHERE NOT EXISTS (SELECT 1 FROM analysis_queue WHERE item_id = NEW.id);
            END
            """
        )
    # what is pending now because it changed (one read of both tables, once)
    op.execute(
        "INSERT INTO analysis_queue (item_id) SELECT i.id FROM feedback_item i "
        "JOIN item_analysis r ON r.item_id = i.id WHERE r.content_hash != i.content_hash"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON feedback_item")
        op.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
    op.drop_table("analysis_queue")
