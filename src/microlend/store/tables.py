"""The database schema (SQLAlchemy Core). Alembic migrations are the source of truth
for existing databases; these definitions must match the latest migration."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from microlend.store.types import ExactDecimal, Money, UTCDateTime

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

products = Table(
    "products", metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("config", JSON, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
)

customers = Table(
    "customers", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(60), nullable=False),
    Column("id_number_token", Text, nullable=False),
    Column("id_number_hash", String(64), nullable=False, unique=True),
    Column("id_number_masked", String(18), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(6), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("phone_token", Text, nullable=False),
    Column("phone_hash", String(64), nullable=False, index=True),
    Column("phone_masked", String(11), nullable=False),
    Column("card_token", Text),
    Column("card_hash", String(64), index=True),
    Column("card_masked", String(19)),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    #: Language of borrower notices (SMS): "zh" or "en".
    Column("language", String(5), nullable=False, server_default="zh"),
)

credit_lines = Table(
    "credit_lines", metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False, index=True),
    Column("product_code", ForeignKey("products.code"), nullable=False),
    Column("limit", Money, nullable=False),
    Column("used", Money, nullable=False),
    Column("daily_rate", ExactDecimal(12, 8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", String(500)),
    #: Why a frozen line is frozen: "manual" (staff), "overdue" or "write_off" (the close of business).
    Column("freeze_cause", String(16)),
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    CheckConstraint("used >= 0", name="used_not_negative"),
    # One open (active or frozen) line per customer and product.
    Index("uq_credit_lines_open_per_product", "customer_id", "product_code", unique=True,
          sqlite_where=text("status <> 'closed'"), postgresql_where=text("status <> 'closed'")),
    CheckConstraint('"limit" > 0', name="limit_positive"),
)

credit_line_events = Table(
    "credit_line_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("credit_line_id", ForeignKey("credit_lines.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("old_limit", Money),
    Column("new_limit", Money),
    Column("reason", String(500), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

drawdowns = Table(
    "drawdowns", metadata,
    Column("id", Integer, primary_key=True),
    Column("credit_line_id", ForeignKey("credit_lines.id"), nullable=False, index=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False, index=True),
    Column("amount", Money, nullable=False),
    Column("term", Integer, nullable=False),
    Column("method", String(20), nullable=False),
    Column("daily_rate", ExactDecimal(12, 8), nullable=False),
    Column("purpose", String(200)),
    Column("status", String(12), nullable=False, index=True),
    Column("failure_code", String(64)),
    Column("failure_message", String(500)),
    Column("rail_reference", String(64)),
    Column("disbursed_amount", Money),
    Column("loan_id", Integer),
    Column("requested_on", Date, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime),
    Column("idempotency_scope", String(64)),
    Column("idempotency_key", String(255)),
    Column("request_fingerprint", String(64)),
    UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_drawdowns_idempotency"),
)

loans = Table(
    "loans", metadata,
    Column("id", Integer, primary_key=True),
    Column("drawdown_id", ForeignKey("drawdowns.id"), unique=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False, index=True),
    Column("credit_line_id", ForeignKey("credit_lines.id"), nullable=False, index=True),
    Column("product_code", ForeignKey("products.code"), nullable=False),
    Column("principal", Money, nullable=False),
    Column("daily_rate", ExactDecimal(12, 8), nullable=False),
    Column("penalty_rate", ExactDecimal(12, 8), nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("term", Integer, nullable=False),
    Column("method", String(20), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("monthly_fee", Money, nullable=False),
    Column("allocation_order", JSON, nullable=False),
    Column("apr", ExactDecimal(12, 8), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("principal_prepaid", Money, nullable=False),
    Column("penalty_exact", ExactDecimal(30, 12), nullable=False),
    Column("penalty_through", Date),
    Column("penalty_paid", Money, nullable=False),
    Column("interest_recognized", Money, nullable=False),
    Column("fee_recognized", Money, nullable=False),
    Column("penalty_recognized", Money, nullable=False),
    Column("closed_on", Date),
    # --- the close of business keeps these (see lending/daily.py) ---------------
    Column("cob_through", Date),
    Column("accrual_base", Money, nullable=False, server_default="0"),
    Column("accrual_principal", Money, nullable=False, server_default="0"),
    Column("accrual_start", Date),
    Column("next_due_date", Date),
    Column("next_event_on", Date, index=True),
    Column("overdue_principal", Money, nullable=False, server_default="0"),
    Column("oldest_unpaid_due", Date),
    Column("dpd", Integer, nullable=False, server_default="0"),
    Column("bucket", String(8), nullable=False, server_default="current"),
    Column("loan_class", String(20), nullable=False, server_default="normal"),
    Column("cob_interest", Money, nullable=False, server_default="0"),
    Column("cob_penalty", Money, nullable=False, server_default="0"),
    Column("cob_fee", Money, nullable=False, server_default="0"),
    Column("written_off_on", Date),
    Column("written_off_amount", Money, nullable=False, server_default="0"),
    Column("recovered", Money, nullable=False, server_default="0"),
)

loan_installments = Table(
    "loan_installments", metadata,
    # A natural key: the ORM knows it before the INSERT, so a loan's rows go in one batch.
    Column("loan_id", ForeignKey("loans.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("period_start", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("principal", Money, nullable=False),
    Column("interest", Money, nullable=False),
    Column("fee", Money, nullable=False),
    Column("accrual_start", Date, nullable=False),
    Column("interest_settled", Money, nullable=False),
    Column("principal_paid", Money, nullable=False),
    Column("interest_paid", Money, nullable=False),
    Column("fee_paid", Money, nullable=False),
    # What falls due on a date, chunk by chunk (the close of business): due date, then loan.
    Index("ix_loan_installments_due_date_loan", "due_date", "loan_id"),
)

repayments = Table(
    "repayments", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("amount", Money, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("principal", Money, nullable=False),
    Column("interest", Money, nullable=False),
    Column("fee", Money, nullable=False),
    Column("penalty", Money, nullable=False),
    Column("prepaid_principal", Money, nullable=False),
    Column("paid_off", Boolean, nullable=False),
    Column("allocation", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("idempotency_scope", String(64)),
    Column("idempotency_key", String(255)),
    Column("request_fingerprint", String(64)),
    UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_repayments_idempotency"),
)

card_debits = Table(
    "card_debits", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False),
    Column("amount", Money, nullable=False),
    Column("requested_on", Date, nullable=False),
    Column("status", String(12), nullable=False, index=True),
    Column("collected", Money),
    Column("excess", Money),
    Column("failure_code", String(64)),
    Column("repayment_id", ForeignKey("repayments.id")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime),
    Column("idempotency_scope", String(64)),
    Column("idempotency_key", String(255)),
    Column("request_fingerprint", String(64)),
    UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_card_debits_idempotency"),
)

ledger_accounts = Table(
    "ledger_accounts", metadata,
    Column("code", String(8), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("type", String(12), nullable=False),
    Column("contra", Boolean, nullable=False),
)

journal_entries = Table(
    "journal_entries", metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_date", Date, nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("description", String(200), nullable=False),
    Column("reference", String(64), index=True),
    Column("posted_at", UTCDateTime, nullable=False),
)

journal_lines = Table(
    "journal_lines", metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", ForeignKey("journal_entries.id"), nullable=False, index=True),
    Column("account_code", ForeignKey("ledger_accounts.code"), nullable=False),
    Column("debit", Money, nullable=False),
    Column("credit", Money, nullable=False),
    Column("loan_id", Integer),
    CheckConstraint("(debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0)", name="one_side"),
    Index("ix_journal_lines_loan_account", "loan_id", "account_code"),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("key_id", String(24), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("customer_id", ForeignKey("customers.id")),
    Column("name", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)


# --- close of business -------------------------------------------------------------

cob_runs = Table(
    "cob_runs", metadata,
    Column("business_date", Date, primary_key=True),
    Column("status", String(12), nullable=False),  # running | done
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("owner", String(100), nullable=False),
    Column("report", JSON),
)

cob_chunks = Table(
    "cob_chunks", metadata,
    Column("business_date", ForeignKey("cob_runs.business_date"), primary_key=True),
    Column("phase", String(24), primary_key=True),
    Column("chunk_no", Integer, primary_key=True),
    Column("first_id", Integer, nullable=False),
    Column("last_id", Integer, nullable=False),
    Column("status", String(12), nullable=False),  # pending | done
    Column("worker", String(100)),
    Column("done_at", UTCDateTime),
    Column("result", JSON),
)

loan_delinquency_history = Table(
    "loan_delinquency_history", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("business_date", Date, nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("bucket", String(8), nullable=False),
    Column("loan_class", String(20), nullable=False),
    UniqueConstraint("loan_id", "business_date", name="uq_loan_delinquency_history_day"),
)

write_offs = Table(
    "write_offs", metadata,
    Column("loan_id", ForeignKey("loans.id"), primary_key=True),
    Column("business_date", Date, nullable=False, index=True),
    Column("dpd", Integer, nullable=False),
    Column("principal", Money, nullable=False),
    Column("interest", Money, nullable=False),
    Column("fee", Money, nullable=False),
    Column("penalty", Money, nullable=False),
    Column("journal_entry_id", ForeignKey("journal_entries.id"), nullable=False),
)

recoveries = Table(
    "recoveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("amount", Money, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("card_debit_id", ForeignKey("card_debits.id")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("idempotency_scope", String(64)),
    Column("idempotency_key", String(255)),
    Column("request_fingerprint", String(64)),
    UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_recoveries_idempotency"),
)

sms_outbox = Table(
    "sms_outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False),
    Column("business_date", Date, nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("language", String(5), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(12), nullable=False, index=True),  # pending | sent | delivered | failed
    Column("gateway_id", String(64)),
    Column("failure_code", String(64)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    # Never two copies of one reminder.
    UniqueConstraint("loan_id", "business_date", "kind", name="uq_sms_outbox_reminder"),
)

collection_cases = Table(
    "collection_cases", metadata,
    Column("id", Integer, primary_key=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False),
    Column("status", String(12), nullable=False, index=True),  # open | closed
    Column("bucket", String(8), nullable=False, index=True),
    Column("dpd", Integer, nullable=False),
    Column("amount_overdue", Money, nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("updated_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("close_reason", String(32)),
    Column("assigned_to", String(100)),
    # One open case per loan.
    Index("uq_collection_cases_open_loan", "loan_id", unique=True,
          sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
)

collection_actions = Table(
    "collection_actions", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("collection_cases.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # call | sms | promise_to_pay | broken_promise | note
    Column("outcome", String(40)),
    Column("note", String(1000)),
    Column("promise_amount", Money),
    Column("promise_date", Date),
    Column("actor", String(100), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)


# --- model registry (credit scoring) ------------------------------------------------

model_versions = Table(
    "model_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, server_default="default"),
    Column("version", Integer, nullable=False),  # 1, 2, 3 ... per name
    Column("kind", String(16), nullable=False),  # scorecard | challenger
    Column("role", String(16), nullable=False),  # champion | challenger | retired
    Column("format", String(32), nullable=False),
    #: The artifact as readable JSON text, exactly as registered (never pickle).
    Column("artifact", Text, nullable=False),
    #: SHA-256 of ``artifact``: the in-process cache of loaded models is keyed by it.
    Column("digest", String(64), nullable=False),
    Column("fingerprint", String(200)),  # of the training data (artifact.training.fingerprint)
    Column("metrics", Text),  # JSON text: artifact.development.metrics
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("promoted_at", UTCDateTime),
    Column("promoted_by", String(100)),
    UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    CheckConstraint("kind IN ('scorecard', 'challenger')", name="kind_known"),
    CheckConstraint("role IN ('champion', 'challenger', 'retired')", name="role_known"),
    # At most one champion in the whole platform.
    Index("uq_model_versions_one_champion", "role", unique=True,
          sqlite_where=text("role = 'champion'"), postgresql_where=text("role = 'champion'")),
)

model_events = Table(
    "model_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("model_version_id", ForeignKey("model_versions.id"), nullable=False, index=True),
    Column("event", String(16), nullable=False),  # registered | promoted | demoted | retired
    Column("actor", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("note", String(1000)),
)


# --- velocity windows (origination risk rules) ----------------------------------------

#: One row per (event, key kind): every window aggregate is one range scan of
#: ix_velocity_events_window. ``event_id`` groups the rows of one event (``distinct``
#: joins on it) and makes re-recording the same ref a no-op.
velocity_events = Table(
    "velocity_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("event_id", String(64), nullable=False),  # sha256(kind, ref), or a random id when there is no ref
    Column("kind", String(16), nullable=False),  # application | drawdown
    Column("key_kind", String(16), nullable=False),  # id_number | phone | device | ip | card
    Column("key_value", String(64), nullable=False),  # the keyed hash as given (sha256 of it when longer)
    Column("amount", Money),
    Column("ref", Text),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("event_id", "key_kind", name="uq_velocity_events_event_key"),
    Index("ix_velocity_events_window", "kind", "key_kind", "key_value", "at"),
    Index("ix_velocity_events_at", "at"),  # pruning
)

# Origination tables share the metadata (imported last: they reference the tables above).
from microlend.store import origination_tables  # noqa: E402,F401
