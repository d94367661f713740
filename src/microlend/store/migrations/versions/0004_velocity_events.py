"""velocity events

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import microlend.store.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('velocity_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key_kind', sa.String(length=16), nullable=False),
    sa.Column('key_value', sa.String(length=64), nullable=False),
    sa.Column('amount', microlend.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('ref', sa.Text(), nullable=True),
    sa.Column('at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_velocity_events')),
    sa.UniqueConstraint('event_id', 'key_kind', name='uq_velocity_events_event_key')
    )
    with op.batch_alter_table('velocity_events', schema=None) as batch_op:
        # Every window aggregate is one range scan of this index.
        batch_op.create_index('ix_velocity_events_window', ['kind', 'key_kind', 'key_value', 'at'], unique=False)
        batch_op.create_index('ix_velocity_events_at', ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('velocity_events', schema=None) as batch_op:
        batch_op.drop_index('ix_velocity_events_at')
        batch_op.drop_index('ix_velocity_events_window')

    op.drop_table('velocity_events')
