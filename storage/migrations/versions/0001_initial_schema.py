"""Initial schema: feedback items, collector runs and state, quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 23:13:21.444409
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bihuan.storage.types

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('collector_run',
    sa.Column('collector', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('collector_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('started_at', bihuan.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', bihuan.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', bihuan.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('read', sa.Integer(), nullable=False),
    sa.Column('new', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('error_class', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('collector_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collector_run_collector'), ['collector'], unique=False)

    op.create_table('collector_state',
    sa.Column('collector', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('collector_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', bihuan.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['collector_run.id'], ),
    sa.PrimaryKeyConstraint('collector')
    )
    op.create_table('feedback_item',
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('rating', sa.Float(), nullable=True),
    sa.Column('nps', sa.Integer(), nullable=True),
    sa.Column('customer_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', bihuan.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('collected_at', bihuan.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bihuan.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['collector_run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'external_id', name='uq_feedback_item_source_external_id')
    )
    with op.batch_alter_table('feedback_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_item_created_at'), ['created_at'], unique=False)

    op.create_table('quarantined_record',
    sa.Column('collector', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('collector_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('location', sa.Text(), nullable=True),
    sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('payload_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', bihuan.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', bihuan.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['feedback_item.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['collector_run.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('quarantined_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_record_collector'), ['collector'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantined_record_run_id'), ['run_id'], unique=False)
        batch_op.create_index('ix_quarantined_record_source_payload_hash', ['source', 'payload_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantined_record_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quarantined_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_record_status'))
        batch_op.drop_index('ix_quarantined_record_source_payload_hash')
        batch_op.drop_index(batch_op.f('ix_quarantined_record_run_id'))
        batch_op.drop_index(batch_op.f('ix_quarantined_record_collector'))

    op.drop_table('quarantined_record')
    with op.batch_alter_table('feedback_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_item_created_at'))

    op.drop_table('feedback_item')
    op.drop_table('collector_state')
    with op.batch_alter_table('collector_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collector_run_collector'))

    op.drop_table('collector_run')
