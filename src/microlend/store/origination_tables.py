"""Tables of origination and real-time risk control (migration 0005).

Applications keep the applicant's identity encrypted (tokens), with keyed hashes for
look-ups and masked forms for display, like ``customers``. Decision records are JSON
documents (already masked) so that what staff read is exactly what was decided on.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint, text

from microlend.store.tables import metadata
from microlend.store.types import ExactDecimal, Money, UTCDateTime

applications = Table(
    "applications", metadata,
    Column("id", Integer, primary_key=True),
    #: received -> approved | rejected | review | step_up | awaiting_guarantor (and from those to a final one).
    Column("status", String(20), nullable=False),
    Column("idempotency_scope", String(100)),
    Column("idempotency_key", String(255)),
    Column("request_fingerprint", String(64)),
    Column("customer_id", ForeignKey("customers.id"), index=True),
    Column("name", String(60), nullable=False),
    Column("id_number_token", Text, nullable=False),
    Column("id_number_hash", String(64), nullable=False, index=True),
    Column("id_number_masked", String(18), nullable=False),
    Column("phone_token", Text, nullable=False),
    Column("phone_hash", String(64), nullable=False),
    Column("phone_masked", String(11), nullable=False),
    Column("card_token", Text, nullable=False),
    Column("card_hash", String(64), nullable=False),
    Column("card_masked", String(19), nullable=False),
    Column("device_hash", String(64), nullable=False),
    Column("ip_hash", String(64), nullable=False),
    Column("ip_masked", String(45), nullable=False),
    Column("declared_income", Money, nullable=False),
    Column("industry", String(40), nullable=False),
    Column("region", String(2), nullable=False),
    Column("product_code", ForeignKey("products.code"), nullable=False),
    #: The risk-sharing offer as sent (JSON), or NULL.
    Column("risk_sharing", Text),
    Column("channel", String(40), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
    Column("decision_record_id", Integer),
    Column("score", Integer),
    Column("band", String(20)),
    Column("offered_limit", Money),
    Column("offered_daily_rate", ExactDecimal(12, 8)),
    Column("credit_line_id", ForeignKey("credit_lines.id")),
    #: The plain reasons the applicant sees (JSON list of {code, en, zh}).
    Column("reasons", Text),
    UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_applications_idempotency"),
    Index("ix_applications_status_created", "status", "created_at"),
)

#: The applicant's consent to a credit-bureau query, committed before the query is made.
consents = Table(
    "consents", metadata,
    Column("id", Integer, primary_key=True),
    Column("application_id", ForeignKey("applications.id"), nullable=False, unique=True),
    Column("id_number_hash", String(64), nullable=False, index=True),
    Column("purpose", String(40), nullable=False),
    Column("text_version", String(40), nullable=False),
    Column("given_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("recorded_by", String(100), nullable=False),
)

#: One explainable record per application decision and per drawdown check.
decision_records = Table(
    "decision_records", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # application | drawdown
    Column("application_id", ForeignKey("applications.id"), index=True),
    Column("customer_id", Integer, index=True),
    Column("credit_line_id", Integer),
    Column("decision", String(20), nullable=False),
    Column("record", Text, nullable=False),
    Column("rule_set", String(80), nullable=False),
    Column("rule_set_version", Integer, nullable=False),
    Column("rule_set_fingerprint", String(64), nullable=False),
    Column("model_name", String(80)),
    Column("model_version", Integer),
    Column("policy_name", String(80)),
    Column("policy_version", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_decision_records_kind_created", "kind", "created_at"),
)

#: Rule sets as versioned data; at most one active and one shadow set per stage.
rule_sets = Table(
    "rule_sets", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("format", String(8), nullable=False),  # yaml | json
    Column("source", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(12), nullable=False),  # draft | active | shadow | retired
    Column("created_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", "version", name="uq_rule_sets_name_version"),
    Index("uq_rule_sets_one_active", "stage", unique=True,
          sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    Index("uq_rule_sets_one_shadow", "stage", unique=True,
          sqlite_where=text("status = 'shadow'"), postgresql_where=text("status = 'shadow'")),
)

#: Who changed a rule set and when: one row per store and status change, the implicit retirement of
#: the set another one replaced included (its note names the replacement).
rule_set_events = Table(
    "rule_set_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("rule_set_id", ForeignKey("rule_sets.id"), nullable=False, index=True),
    Column("event", String(12), nullable=False),  # stored | activated | shadowed | retired
    Column("actor", String(100), nullable=False),
    Column("note", String(500)),
    Column("at", UTCDateTime, nullable=False),
)

#: Credit policies as versioned JSON documents; at most one active.
policy_versions = Table(
    "policy_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("note", String(500)),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", "version", name="uq_policy_versions_name_version"),
    Index("uq_policy_versions_one_active", "active", unique=True,
          sqlite_where=text("active"), postgresql_where=text("active")),
)

#: The manual review queue: one case per referred application, every action in review_events.
review_cases = Table(
    "review_cases", metadata,
    Column("id", Integer, primary_key=True),
    Column("application_id", ForeignKey("applications.id"), nullable=False, unique=True),
    Column("status", String(12), nullable=False),  # open | claimed | approved | rejected
    Column("reasons", Text, nullable=False),
    Column("claimed_by", String(100)),
    Column("claimed_at", UTCDateTime),
    Column("decided_by", String(100)),
    Column("decided_at", UTCDateTime),
    Column("note", String(1000)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_review_cases_status_created", "status", "created_at"),
)

review_events = Table(
    "review_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("review_cases.id"), nullable=False, index=True),
    Column("action", String(16), nullable=False),  # opened | claimed | released | approved | rejected
    Column("actor", String(100), nullable=False),
    Column("note", String(1000)),
    Column("at", UTCDateTime, nullable=False),
)

#: A customer paused by a step-up outcome: no drawdowns until a passed verification releases it.
customer_pauses = Table(
    "customer_pauses", metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False, index=True),
    Column("reason", String(500), nullable=False),
    Column("source_kind", String(16), nullable=False),  # application | drawdown | staff
    Column("source_id", Integer),
    Column("paused_by", String(100), nullable=False),
    Column("paused_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime),
    Column("released_by", String(100)),
    Column("verification_id", Integer),
    Index("uq_customer_pauses_one_open", "customer_id", unique=True,
          sqlite_where=text("released_at IS NULL"), postgresql_where=text("released_at IS NULL")),
)

#: Every verification attempt through the KYC adapter, passed or not.
verifications = Table(
    "verifications", metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False, index=True),
    #: match | mismatch | not_found | kyc_timeout | kyc_failure | element_mismatch | no_card
    Column("outcome", String(16), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("mismatched", String(100)),
    Column("provider_reference", String(100)),
    Column("actor", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

#: Block-listed identifiers, by kind and keyed hash (never in clear). A removal is soft (removed_at,
#: removed_by), so the history of who blocked and unblocked what stays; an identifier is on the list
#: at most once at a time (the partial unique index), and may be blocked again after a removal.
block_list = Table(
    "block_list", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # id_number | phone | device | ip | card
    Column("value_hash", String(64), nullable=False),
    Column("value_masked", String(45), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("added_by", String(100), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),
    Column("removed_by", String(100)),
    Index("uq_block_list_kind_value", "kind", "value_hash", unique=True,
          sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),
)

#: A candidate rule set's verdict on live traffic, stored beside (never instead of) the live decision.
shadow_results = Table(
    "shadow_results", metadata,
    Column("id", Integer, primary_key=True),
    Column("decision_record_id", ForeignKey("decision_records.id"), nullable=False, index=True),
    Column("stage", String(16), nullable=False),
    Column("rule_set", String(80), nullable=False),
    Column("rule_set_version", Integer, nullable=False),
    Column("live_decision", String(20), nullable=False),
    Column("shadow_decision", String(20), nullable=False),
    Column("results", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_shadow_results_set", "rule_set", "rule_set_version"),
)

#: Risk sharing behind an approval of a marginal band; cover_share feeds later loss estimates.
risk_sharing_arrangements = Table(
    "risk_sharing_arrangements", metadata,
    Column("id", Integer, primary_key=True),
    Column("application_id", ForeignKey("applications.id"), nullable=False, unique=True),
    Column("credit_line_id", ForeignKey("credit_lines.id")),
    Column("kind", String(12), nullable=False),  # guarantor | collateral | insurance
    Column("status", String(12), nullable=False),  # pending | active | declined
    Column("guarantor_customer_id", ForeignKey("customers.id")),
    Column("accepted_at", UTCDateTime),
    Column("accepted_by", String(100)),
    Column("collateral_kind", String(40)),
    Column("collateral_description", String(500)),
    Column("collateral_value", Money),
    Column("insurer", String(40)),
    Column("policy_number", String(60)),
    Column("cover_share", ExactDecimal(6, 4)),
    Column("created_at", UTCDateTime, nullable=False),
)

#: Devices a customer has applied or drawn down from (keyed hashes): "a new device at drawdown".
customer_devices = Table(
    "customer_devices", metadata,
    Column("customer_id", ForeignKey("customers.id"), primary_key=True),
    Column("device_hash", String(64), primary_key=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
)
