"""model registry

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import microlend.store.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), server_default='default', nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('format', sa.String(length=32), nullable=False),
    sa.Column('artifact', sa.Text(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=200), nullable=True),
    sa.Column('metrics', sa.Text(), nullable=True),
    sa.Column('created_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('promoted_at', microlend.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('promoted_by', sa.String(length=100), nullable=True),
    sa.CheckConstraint("kind IN ('scorecard', 'challenger')", name=op.f('ck_model_versions_kind_known')),
    sa.CheckConstraint("role IN ('champion', 'challenger', 'retired')", name=op.f('ck_model_versions_role_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_versions')),
    sa.UniqueConstraint('name', 'version', name='uq_model_versions_name_version')
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        # At most one champion in the whole platform, whatever writes the rows.
        batch_op.create_index('uq_model_versions_one_champion', ['role'], unique=True,
                              sqlite_where=sa.text("role = 'champion'"), postgresql_where=sa.text("role = 'champion'"))

    op.create_table('model_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'],
                            name=op.f('fk_model_events_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_events'))
    )
    with op.batch_alter_table('model_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_events_model_version_id'), ['model_version_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('model_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_events_model_version_id'))

    op.drop_table('model_events')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_model_versions_one_champion', sqlite_where=sa.text("role = 'champion'"),
                            postgresql_where=sa.text("role = 'champion'"))

    op.drop_table('model_versions')
