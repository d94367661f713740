"""lending core

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 02:32:26.978302
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import microlend.store.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('id_number_token', sa.Text(), nullable=False),
    sa.Column('id_number_hash', sa.String(length=64), nullable=False),
    sa.Column('id_number_masked', sa.String(length=18), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('sex', sa.String(length=6), nullable=False),
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('phone_token', sa.Text(), nullable=False),
    sa.Column('phone_hash', sa.String(length=64), nullable=False),
    sa.Column('phone_masked', sa.String(length=11), nullable=False),
    sa.Column('card_token', sa.Text(), nullable=True),
    sa.Column('card_hash', sa.String(length=64), nullable=True),
    sa.Column('card_masked', sa.String(length=19), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('id_number_hash', name=op.f('uq_customers_id_number_hash'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_card_hash'), ['card_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_phone_hash'), ['phone_hash'], unique=False)

    op.create_table('journal_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.Column('posted_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_entries'))
    )
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journal_entries_entry_date'), ['entry_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_journal_entries_reference'), ['reference'], unique=False)

    op.create_table('ledger_accounts',
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=12), nullable=False),
    sa.Column('contra', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_ledger_accounts'))
    )
    op.create_table('products',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_products'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=24), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', microlend.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_api_keys_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_api_keys_key_id'))
    )
    op.create_table('credit_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('limit', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('used', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('daily_rate', microlend.store.types.ExactDecimal(precision=12, scale=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.CheckConstraint('"limit" > 0', name=op.f('ck_credit_lines_limit_positive')),
    sa.CheckConstraint('used >= 0', name=op.f('ck_credit_lines_used_not_negative')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_credit_lines_customer_id_customers')),
    sa.ForeignKeyConstraint(['product_code'], ['products.code'], name=op.f('fk_credit_lines_product_code_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_lines'))
    )
    with op.batch_alter_table('credit_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_lines_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('uq_credit_lines_open_per_product', ['customer_id', 'product_code'], unique=True,
                              sqlite_where=sa.text("status <> 'closed'"),
                              postgresql_where=sa.text("status <> 'closed'"))

    op.create_table('journal_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('account_code', sa.String(length=8), nullable=False),
    sa.Column('debit', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('credit', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('(debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0)', name=op.f('ck_journal_lines_one_side')),
    sa.ForeignKeyConstraint(['account_code'], ['ledger_accounts.code'], name=op.f('fk_journal_lines_account_code_ledger_accounts')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_journal_lines_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_lines'))
    )
    with op.batch_alter_table('journal_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journal_lines_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index('ix_journal_lines_loan_account', ['loan_id', 'account_code'], unique=False)

    op.create_table('credit_line_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credit_line_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('old_limit', microlend.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('new_limit', microlend.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['credit_line_id'], ['credit_lines.id'], name=op.f('fk_credit_line_events_credit_line_id_credit_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_line_events'))
    )
    with op.batch_alter_table('credit_line_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_line_events_credit_line_id'), ['credit_line_id'], unique=False)

    op.create_table('drawdowns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credit_line_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('amount', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('term', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('daily_rate', microlend.store.types.ExactDecimal(precision=30, scale=12), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('failure_message', sa.String(length=500), nullable=True),
    sa.Column('rail_reference', sa.String(length=64), nullable=True),
    sa.Column('disbursed_amount', microlend.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('loan_id', sa.Integer(), nullable=True),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('created_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', microlend.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('idempotency_scope', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['credit_line_id'], ['credit_lines.id'], name=op.f('fk_drawdowns_credit_line_id_credit_lines')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_drawdowns_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drawdowns')),
    sa.UniqueConstraint('idempotency_scope', 'idempotency_key', name='uq_drawdowns_idempotency')
    )
    with op.batch_alter_table('drawdowns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drawdowns_credit_line_id'), ['credit_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_drawdowns_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_drawdowns_status'), ['status'], unique=False)

    op.create_table('loans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('drawdown_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('credit_line_id', sa.Integer(), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('principal', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('daily_rate', microlend.store.types.ExactDecimal(precision=30, scale=12), nullable=False),
    sa.Column('penalty_rate', microlend.store.types.ExactDecimal(precision=30, scale=12), nullable=False),
    sa.Column('grace_days', sa.Integer(), nullable=False),
    sa.Column('term', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('monthly_fee', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('allocation_order', sa.JSON(), nullable=False),
    sa.Column('apr', microlend.store.types.ExactDecimal(precision=12, scale=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('principal_prepaid', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('penalty_exact', microlend.store.types.ExactDecimal(precision=30, scale=12), nullable=False),
    sa.Column('penalty_through', sa.Date(), nullable=True),
    sa.Column('penalty_paid', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('interest_recognized', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('fee_recognized', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('penalty_recognized', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['credit_line_id'], ['credit_lines.id'], name=op.f('fk_loans_credit_line_id_credit_lines')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_loans_customer_id_customers')),
    sa.ForeignKeyConstraint(['drawdown_id'], ['drawdowns.id'], name=op.f('fk_loans_drawdown_id_drawdowns')),
    sa.ForeignKeyConstraint(['product_code'], ['products.code'], name=op.f('fk_loans_product_code_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loans')),
    sa.UniqueConstraint('drawdown_id', name=op.f('uq_loans_drawdown_id'))
    )
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loans_credit_line_id'), ['credit_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_loans_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_loans_status'), ['status'], unique=False)

    op.create_table('loan_installments',
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('principal', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('interest', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('fee', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('accrual_start', sa.Date(), nullable=False),
    sa.Column('interest_settled', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('principal_paid', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('interest_paid', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('fee_paid', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_installments_loan_id_loans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('loan_id', 'number', name=op.f('pk_loan_installments'))
    )
    with op.batch_alter_table('loan_installments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loan_installments_due_date'), ['due_date'], unique=False)

    op.create_table('repayments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('amount', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('principal', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('interest', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('fee', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('penalty', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('prepaid_principal', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('paid_off', sa.Boolean(), nullable=False),
    sa.Column('allocation', sa.JSON(), nullable=False),
    sa.Column('created_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('idempotency_scope', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_repayments_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repayments')),
    sa.UniqueConstraint('idempotency_scope', 'idempotency_key', name='uq_repayments_idempotency')
    )
    with op.batch_alter_table('repayments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repayments_loan_id'), ['loan_id'], unique=False)



    op.create_table('card_debits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('amount', microlend.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('collected', microlend.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('excess', microlend.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('repayment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', microlend.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', microlend.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('idempotency_scope', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_card_debits_customer_id_customers')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_card_debits_loan_id_loans')),
    sa.ForeignKeyConstraint(['repayment_id'], ['repayments.id'], name=op.f('fk_card_debits_repayment_id_repayments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_debits')),
    sa.UniqueConstraint('idempotency_scope', 'idempotency_key', name='uq_card_debits_idempotency')
    )
    with op.batch_alter_table('card_debits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_debits_loan_id'), ['loan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_card_debits_status'), ['status'], unique=False)

    _seed_chart_of_accounts()
    if op.get_bind().dialect.name == "postgresql":
        _create_balance_trigger()


CHART_OF_ACCOUNTS = [
    ("1001", "Settlement account at the payment rail", "asset", False),
    ("1101", "Loans receivable - principal", "asset", False),
    ("1102", "Interest receivable", "asset", False),
    ("1103", "Fees receivable", "asset", False),
    ("1104", "Penalty interest receivable", "asset", False),
    ("1109", "Allowance for credit losses", "asset", True),
    ("2101", "Borrower funds in suspense (to refund)", "liability", False),
    ("4001", "Interest income", "income", False),
    ("4002", "Fee income", "income", False),
    ("4003", "Penalty interest income", "income", False),
    ("4101", "Recoveries of written-off loans", "income", False),
    ("5001", "Credit loss expense", "expense", False),
]


def _seed_chart_of_accounts() -> None:
    accounts = sa.table("ledger_accounts", sa.column("code"), sa.column("name"), sa.column("type"), sa.column("contra"))
    op.bulk_insert(accounts, [dict(zip(("code", "name", "type", "contra"), row)) for row in CHART_OF_ACCOUNTS])


def _create_balance_trigger() -> None:
    """Every journal entry must balance when its transaction commits (deferred), and
    posted lines are immutable: corrections are new entries, never edits."""
    op.execute("""
        CREATE FUNCTION journal_entry_must_balance() RETURNS trigger AS $$
        DECLARE
            unbalanced numeric;
            target_entry integer;
        BEGIN
            target_entry := COALESCE(NEW.entry_id, OLD.entry_id);
            SELECT COALESCE(SUM(debit - credit), 0) INTO unbalanced
              FROM journal_lines WHERE entry_id = target_entry;
            IF unbalanced <> 0 THEN
                RAISE EXCEPTION 'journal entry % does not balance (debits - credits = %)', target_entry, unbalanced
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql;
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER journal_lines_balance
        AFTER INSERT OR UPDATE OR DELETE ON journal_lines
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION journal_entry_must_balance();
    """)
    op.execute("""
        CREATE FUNCTION journal_lines_are_immutable() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'journal lines are immutable; post a correcting entry instead'
                USING ERRCODE = 'raise_exception';
        END;
        $$ LANGUAGE plpgsql;
    """)
    op.execute("""
        CREATE TRIGGER journal_lines_no_update BEFORE UPDATE OR DELETE ON journal_lines
        FOR EACH ROW EXECUTE FUNCTION journal_lines_are_immutable();
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS journal_lines_no_update ON journal_lines")
        op.execute("DROP TRIGGER IF EXISTS journal_lines_balance ON journal_lines")
        op.execute("DROP FUNCTION IF EXISTS journal_lines_are_immutable()")
        op.execute("DROP FUNCTION IF EXISTS journal_entry_must_balance()")
    with op.batch_alter_table('card_debits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_debits_status'))
        batch_op.drop_index(batch_op.f('ix_card_debits_loan_id'))
    op.drop_table('card_debits')
    with op.batch_alter_table('repayments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repayments_loan_id'))

    op.drop_table('repayments')
    with op.batch_alter_table('loan_installments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loan_installments_due_date'))

    op.drop_table('loan_installments')
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loans_status'))
        batch_op.drop_index(batch_op.f('ix_loans_customer_id'))
        batch_op.drop_index(batch_op.f('ix_loans_credit_line_id'))

    op.drop_table('loans')
    with op.batch_alter_table('drawdowns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drawdowns_status'))
        batch_op.drop_index(batch_op.f('ix_drawdowns_customer_id'))
        batch_op.drop_index(batch_op.f('ix_drawdowns_credit_line_id'))

    op.drop_table('drawdowns')
    with op.batch_alter_table('credit_line_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_line_events_credit_line_id'))

    op.drop_table('credit_line_events')
    with op.batch_alter_table('journal_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_journal_lines_loan_account')
        batch_op.drop_index(batch_op.f('ix_journal_lines_entry_id'))

    op.drop_table('journal_lines')
    with op.batch_alter_table('credit_lines', schema=None) as batch_op:
        batch_op.drop_index('uq_credit_lines_open_per_product')
        batch_op.drop_index(batch_op.f('ix_credit_lines_customer_id'))

    op.drop_table('credit_lines')
    op.drop_table('api_keys')
    op.drop_table('products')
    op.drop_table('ledger_accounts')
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journal_entries_reference'))
        batch_op.drop_index(batch_op.f('ix_journal_entries_entry_date'))

    op.drop_table('journal_entries')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_phone_hash'))
        batch_op.drop_index(batch_op.f('ix_customers_card_hash'))

    op.drop_table('customers')
