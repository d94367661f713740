"""close of business

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 04:38:29.334694
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import microlend.store.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cob_runs',
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('started_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', microlend.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('business_date', name=op.f('pk_cob_runs'))
    )
    op.create_table('cob_chunks',
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('phase', sa.String(length=24), nullable=False),
    sa.Column('chunk_no', sa.Integer(), nullable=False),
    sa.Column('first_id', sa.Integer(), nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('worker', sa.String(length=100), nullable=True),
    sa.Column('done_at', microlend.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['business_date'], ['cob_runs.business_date'], name=op.f('fk_cob_chunks_business_date_cob_runs')),
    sa.PrimaryKeyConstraint('business_date', 'phase', 'chunk_no', name=op.f('pk_cob_chunks'))
    )
    op.create_table('collection_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('bucket', sa.String(length=8), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('amount_overdue', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('updated_on', sa.Date(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('close_reason', sa.String(length=32), nullable=True),
    sa.Column('assigned_to', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_collection_cases_customer_id_customers')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_collection_cases_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_cases'))
    )
    with op.batch_alter_table('collection_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collection_cases_bucket'), ['bucket'], unique=False)
        batch_op.create_index(batch_op.f('ix_collection_cases_loan_id'), ['loan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_collection_cases_status'), ['status'], unique=False)
        batch_op.create_index('uq_collection_cases_open_loan', ['loan_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('loan_delinquency_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=8), nullable=False),
    sa.Column('loan_class', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_delinquency_history_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_delinquency_history')),
    sa.UniqueConstraint('loan_id', 'business_date', name='uq_loan_delinquency_history_day')
    )
    with op.batch_alter_table('loan_delinquency_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loan_delinquency_history_loan_id'), ['loan_id'], unique=False)

    op.create_table('sms_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('gateway_id', sa.String(length=64), nullable=True),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', microlend.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', microlend.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_sms_outbox_customer_id_customers')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_sms_outbox_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_outbox')),
    sa.UniqueConstraint('loan_id', 'business_date', 'kind', name='uq_sms_outbox_reminder')
    )
    with op.batch_alter_table('sms_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_outbox_business_date'), ['business_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_outbox_loan_id'), ['loan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_outbox_status'), ['status'], unique=False)

    op.create_table('write_offs',
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('principal', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('interest', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('fee', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('penalty', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('journal_entry_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['journal_entry_id'], ['journal_entries.id'], name=op.f('fk_write_offs_journal_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_write_offs_loan_id_loans')),
    sa.PrimaryKeyConstraint('loan_id', name=op.f('pk_write_offs'))
    )
    with op.batch_alter_table('write_offs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_write_offs_business_date'), ['business_date'], unique=False)

    op.create_table('collection_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('promise_amount', microlend.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('promise_date', sa.Date(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['collection_cases.id'], name=op.f('fk_collection_actions_case_id_collection_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_actions'))
    )
    with op.batch_alter_table('collection_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collection_actions_case_id'), ['case_id'], unique=False)

    op.create_table('recoveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('amount', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('card_debit_id', sa.Integer(), nullable=True),
    sa.Column('created_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('idempotency_scope', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['card_debit_id'], ['card_debits.id'], name=op.f('fk_recoveries_card_debit_id_card_debits')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_recoveries_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recoveries')),
    sa.UniqueConstraint('idempotency_scope', 'idempotency_key', name='uq_recoveries_idempotency')
    )
    with op.batch_alter_table('recoveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recoveries_loan_id'), ['loan_id'], unique=False)

    with op.batch_alter_table('credit_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('freeze_cause', sa.String(length=16), nullable=True))

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=5), server_default='zh', nullable=False))

    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cob_through', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('accrual_base', microlend.store.types.Money(precision=18, scale=2), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('accrual_principal', microlend.store.types.Money(precision=18, scale=2), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('accrual_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('next_due_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('next_event_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('overdue_principal', microlend.store.types.Money(precision=18, scale=2), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('oldest_unpaid_due', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('dpd', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('bucket', sa.String(length=8), server_default='current', nullable=False))
        batch_op.add_column(sa.Column('loan_class', sa.String(length=20), server_default='normal', nullable=False))
        batch_op.add_column(sa.Column('cob_interest', microlend.store.types.Money(precision=18, scale=2), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cob_penalty', microlend.store.types.Money(precision=18, scale=2), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cob_fee', microlend.store.types.Money(precision=18, scale=2), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('written_off_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('written_off_amount', microlend.store.types.Money(precision=18, scale=2), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('recovered', microlend.store.types.Money(precision=18, scale=2), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_loans_next_event_on'), ['next_event_on'], unique=False)
    with op.batch_alter_table('loan_installments', schema=None) as batch_op:
        batch_op.drop_index('ix_loan_installments_due_date')
        batch_op.create_index('ix_loan_installments_due_date_loan', ['due_date', 'loan_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # The close of business rewrites every active loan row each night: leave room in each page
        # so PostgreSQL can update in place (HOT) instead of touching every index.
        op.execute("ALTER TABLE loans SET (fillfactor = 80)")


def downgrade() -> None:
    with op.batch_alter_table('loan_installments', schema=None) as batch_op:
        batch_op.drop_index('ix_loan_installments_due_date_loan')
        batch_op.create_index('ix_loan_installments_due_date', ['due_date'], unique=False)
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loans_next_event_on'))
        batch_op.drop_column('recovered')
        batch_op.drop_column('written_off_amount')
        batch_op.drop_column('written_off_on')
        batch_op.drop_column('cob_fee')
        batch_op.drop_column('cob_penalty')
        batch_op.drop_column('cob_interest')
        batch_op.drop_column('loan_class')
        batch_op.drop_column('bucket')
        batch_op.drop_column('dpd')
        batch_op.drop_column('oldest_unpaid_due')
        batch_op.drop_column('overdue_principal')
        batch_op.drop_column('next_event_on')
        batch_op.drop_column('next_due_date')
        batch_op.drop_column('accrual_start')
        batch_op.drop_column('accrual_principal')
        batch_op.drop_column('accrual_base')
        batch_op.drop_column('cob_through')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('language')

    with op.batch_alter_table('credit_lines', schema=None) as batch_op:
        batch_op.drop_column('freeze_cause')

    with op.batch_alter_table('recoveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recoveries_loan_id'))

    op.drop_table('recoveries')
    with op.batch_alter_table('collection_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collection_actions_case_id'))

    op.drop_table('collection_actions')
    with op.batch_alter_table('write_offs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_write_offs_business_date'))

    op.drop_table('write_offs')
    with op.batch_alter_table('sms_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_outbox_status'))
        batch_op.drop_index(batch_op.f('ix_sms_outbox_loan_id'))
        batch_op.drop_index(batch_op.f('ix_sms_outbox_business_date'))

    op.drop_table('sms_outbox')
    with op.batch_alter_table('loan_delinquency_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loan_delinquency_history_loan_id'))

    op.drop_table('loan_delinquency_history')
    with op.batch_alter_table('collection_cases', schema=None) as batch_op:
        batch_op.drop_index('uq_collection_cases_open_loan', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_collection_cases_status'))
        batch_op.drop_index(batch_op.f('ix_collection_cases_loan_id'))
        batch_op.drop_index(batch_op.f('ix_collection_cases_bucket'))

    op.drop_table('collection_cases')
    op.drop_table('cob_chunks')
    op.drop_table('cob_runs')
