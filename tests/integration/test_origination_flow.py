"""The application flow end to end: consent first, the sources, rules, score and policy, one decision
stored with its consequences (an approval grants the line in the same transaction), failures of the
sources referred to review, idempotent retries, and a decision record that replays to the same result."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from origination_helpers import (
    DEFAULT_BANDS,
    application,
    application_row,
    consent_of,
    count,
    good_person,
    hits,
    person,
    reason_codes,
    record_of,
    review_case,
    store_policy,
    submit,
    uniform_document,
)
from sqlalchemy import distinct, func, select

from microlend.errors import ConflictError, ValidationError
from microlend.rules.builtin import builtin_rule_set
from microlend.rules.engine import evaluate
from microlend.rules.policy import decide, default_policy, parse_policy
from microlend.services.origination import applications as apps
from microlend.services.origination import policies, rule_sets
from microlend.services.origination.outcome import combine
from microlend.services.origination.replay import RecordedWindows, facts_from_record
from microlend.services.origination.risk_sharing import parse_offer
from microlend.services.origination.terms import product_terms
from microlend.simulation.demo_model import DEMO_MODEL_NAME, install_demo_scorecard
from microlend.store.origination_tables import applications, consents, customer_devices, decision_records
from microlend.store.tables import credit_lines, customers, velocity_events


@pytest.fixture
def champion(platform):
    """The demo scorecard as champion (origination scores with it)."""
    return install_demo_scorecard(platform)


def _velocity_events(platform, ref: str) -> int:
    with platform.reader() as reader:
        return reader.session.execute(select(func.count(distinct(velocity_events.c.event_id)))
                                      .where(velocity_events.c.ref == ref)).scalar_one()


# --- approval -------------------------------------------------------------------------------------

def test_an_approval_grants_the_offered_line_and_stores_the_decision(platform, champion):
    who = good_person(platform, 1)
    view = submit(platform, who)
    assert view["status"] == "approved", view["reasons"]
    assert view["decided_at"] == platform.clock.now() and reason_codes(view) == ["approved"]
    with platform.reader() as reader:
        line = reader.lines.get(view["credit_line_id"])
        customer = reader.customers.get(view["customer_id"])
        seen = reader.session.execute(select(customer_devices.c.device_hash)
                                      .where(customer_devices.c.customer_id == customer.id)).scalars().all()
    assert customer.id_number_hash == platform.cipher.lookup_hash(who.id_number, field="id_number")
    assert customer.status == "active" and customer.card_hash is not None
    assert line.customer_id == customer.id and line.status == "active" and line.product_code == "REVOLVE"
    limit = Decimal(view["offered_limit"])
    assert line.limit == limit and Decimal(500) <= limit <= Decimal(200000) and limit % 100 == 0
    assert line.daily_rate == Decimal(view["offered_daily_rate"]) and line.opened_on == platform.clock.business_date()
    assert seen == [application_row(platform, view["id"]).device_hash]  # the application's device is known

    record = view["decision_record"]
    assert record == record_of(platform, view["id"])
    assert record["decision"]["outcome"] == "approve" and record["decision"]["status"] == "approved"
    assert record["decision"]["parts"] == {"rules": "approve", "sources": "approve", "policy": "approve"}
    assert record["policy"]["limit"] == view["offered_limit"] and record["score"]["band"] == view["band"]
    with platform.reader() as reader:
        row = reader.session.execute(select(decision_records)
                                     .where(decision_records.c.application_id == view["id"])).one()
    builtin = builtin_rule_set("application")
    versions = record["versions"]
    assert (row.kind, row.decision, row.customer_id) == ("application", "approve", None)
    assert (row.rule_set, row.rule_set_version, row.rule_set_fingerprint) == (
        builtin.name, builtin.version, builtin.fingerprint)
    assert versions["rule_set"] == {"name": builtin.name, "version": builtin.version,
                                    "fingerprint": builtin.fingerprint}
    assert (row.model_name, row.model_version) == (DEMO_MODEL_NAME, champion.version)
    assert versions["model"]["name"] == DEMO_MODEL_NAME and versions["model"]["version"] == champion.version
    assert versions["model"]["digest"]
    policy = default_policy()
    assert (row.policy_name, row.policy_version) == (policy.name, policy.version)
    assert versions["policy"] == {"name": policy.name, "version": policy.version, "fingerprint": policy.fingerprint}


def test_the_approval_and_the_line_land_together_or_not_at_all(platform, champion, monkeypatch):
    """A failure while granting the line leaves no decision, no customer, no line and no velocity event;
    the same request again (same key) decides the application then."""
    from microlend.services.origination import settle

    def broken(**_):
        raise RuntimeError("the ledger is down")

    monkeypatch.setattr(settle, "grant_in_transaction", broken)
    who = good_person(platform, 2)
    with pytest.raises(RuntimeError):
        submit(platform, who, key="k-atomic", fingerprint="f1")
    (app_id,) = [r.id for r in _applications(platform)]
    assert application_row(platform, app_id).status == "received"
    assert count(platform, decision_records) == 0 and count(platform, customers) == 0
    assert count(platform, credit_lines) == 0 and _velocity_events(platform, f"application:{app_id}") == 0
    monkeypatch.undo()
    view = submit(platform, who, key="k-atomic", fingerprint="f1")
    assert view["id"] == app_id and view["status"] == "approved" and view["credit_line_id"] is not None
    assert count(platform, applications) == 1 and count(platform, decision_records) == 1
    assert _velocity_events(platform, f"application:{app_id}") == 1


def _applications(platform):
    with platform.reader() as reader:
        return reader.session.execute(select(applications).order_by(applications.c.id)).all()


def test_a_known_customer_is_reused_not_duplicated(platform, champion, make_customer):
    who = good_person(platform, 24)
    known = make_customer(name=who.name, id_number=who.id_number, phone=who.phone, bank_card=who.bank_card)
    view = submit(platform, who)
    assert view["status"] == "approved" and view["customer_id"] == known.id
    assert count(platform, customers) == 1
    record = view["decision_record"]
    assert record["customer_id"] == known.id and record["facts"]["application"]["is_returning"] is True
    with platform.reader() as reader:
        assert reader.lines.get(view["credit_line_id"]).customer_id == known.id


def test_an_open_line_for_the_product_refuses_a_new_application(platform, champion):
    who = good_person(platform, 25)
    assert submit(platform, who)["status"] == "approved"
    with pytest.raises(ConflictError) as caught:
        submit(platform, who)
    assert (caught.value.code, caught.value.field) == ("line_exists", "id_number")
    assert count(platform, applications) == 1 and len(platform.bureau.queries) == 1


# --- rejection by the policy -------------------------------------------------------------------------

def test_a_band_below_the_cutoff_is_rejected(platform, champion):
    """Under the default policy: the first applicant the demo scorecard puts in band E is rejected."""
    for n in range(300, 400):
        view = submit(platform, person(n))
        if view["band"] == "E":
            break
    else:
        pytest.fail("no applicant in band E among 100")
    assert view["status"] == "rejected" and "band_below_cutoff" in reason_codes(view)
    assert view["offered_limit"] is None and view["credit_line_id"] is None and view["customer_id"] is None
    assert view["decision_record"]["policy"]["action"] == "reject"


def test_a_policy_that_rejects_the_band_rejects_a_good_applicant(platform, champion):
    store_policy(platform, uniform_document({"action": "reject"}))
    view = submit(platform, good_person(platform, 3))
    assert view["status"] == "rejected" and reason_codes(view) == ["band_below_cutoff"]
    assert count(platform, customers) == 0 and count(platform, credit_lines) == 0
    record = view["decision_record"]
    assert record["versions"]["policy"]["name"] == "test-policy"
    assert [s["name"] for s in record["policy"]["steps"]] == ["band", "downturn", "cutoff"]


# --- consent -----------------------------------------------------------------------------------------

def test_no_consent_no_query_no_record(platform, champion):
    who = good_person(platform, 4)
    with pytest.raises(ValidationError) as caught:
        apps.submit(platform=platform, data=application(who, consent_given=False), actor="test")
    assert (caught.value.code, caught.value.field) == ("consent_required", "consent.given")
    assert platform.bureau.queries == [] and platform.kyc.requests == [] and platform.statements.requests == []
    assert count(platform, applications) == 0 and count(platform, consents) == 0


def test_the_consent_is_committed_before_the_bureau_is_asked(platform, champion, monkeypatch):
    who = good_person(platform, 5)
    asked = platform.bureau.report
    seen = []

    def report(**kwargs):
        application_id = int(kwargs["reference"][3:13])
        seen.append((kwargs["reference"], consent_of(platform, application_id)))  # another connection: committed
        return asked(**kwargs)

    monkeypatch.setattr(platform.bureau, "report", report)
    view = submit(platform, who, consent_text_version="consent-2026-01")
    reference = f"APP{view['id']:010d}-BUR"
    assert [r for r, _ in seen] == [reference]
    consent = seen[0][1]
    assert consent is not None and consent.purpose == "credit_bureau_query"
    assert consent.text_version == "consent-2026-01" and consent.recorded_by == "test"
    assert consent.id_number_hash == platform.cipher.lookup_hash(who.id_number, field="id_number")
    assert consent.given_at == consent.recorded_at == platform.clock.now()
    assert platform.bureau.queries == [(reference, who.id_number, "loan_approval")]


def test_the_consent_time_given_is_kept(platform, champion):
    given = platform.clock.now() - timedelta(minutes=5)
    view = submit(platform, good_person(platform, 6), consent_given_at=given)
    assert consent_of(platform, view["id"]).given_at == given


def test_a_consent_given_in_the_future_is_refused(platform, champion):
    future = platform.clock.now() + timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        submit(platform, good_person(platform, 26), consent_given_at=future)
    assert caught.value.field == "consent.given_at"
    assert platform.bureau.queries == []


# --- malformed input ----------------------------------------------------------------------------------

def _bad_check_digit(who):
    last = who.id_number[-1]
    return who.id_number[:-1] + ("0" if last != "0" else "1")


def _bad_luhn(who):
    return who.bank_card[:-1] + str((int(who.bank_card[-1]) + 1) % 10)


@pytest.mark.parametrize(("change", "code", "field"), [
    (lambda w: {"id_number": _bad_check_digit(w)}, "invalid_id_checksum", "id_number"),
    (lambda w: {"id_number": "12345"}, "invalid_id_number", "id_number"),
    (lambda w: {"phone": "12345"}, "invalid_phone", "phone"),
    (lambda w: {"phone": "23812345678"}, "invalid_phone", "phone"),
    (lambda w: {"bank_card": _bad_luhn(w)}, "invalid_bank_card_checksum", "bank_card"),
    (lambda w: {"ip": "300.1.1.1"}, "invalid_ip", "ip"),
    (lambda w: {"ip": "not an ip"}, "invalid_ip", "ip"),
    (lambda w: {"region": "99"}, "invalid_region", "region"),
    (lambda w: {"region": "4"}, "invalid_region", "region"),
    (lambda w: {"device_id": "ab"}, "invalid_device_id", "device_id"),
    (lambda w: {"device_id": "has space"}, "invalid_device_id", "device_id"),
    (lambda w: {"industry": "  "}, "invalid_industry", "industry"),
    (lambda w: {"declared_income": Decimal("10000000.01")}, "invalid_amount", "declared_income"),
    (lambda w: {"consent_text_version": ""}, "invalid_consent", "consent.text_version"),
    (lambda w: {"risk_sharing": {"kind": "insurance", "insurer": "picc"}}, "invalid_risk_sharing",
     "risk_sharing.policy_number"),
    (lambda w: {"risk_sharing": {"kind": "barter"}}, "invalid_risk_sharing", "risk_sharing.kind"),
])
def test_malformed_input_is_refused_with_the_field(platform, champion, change, code, field):
    who = good_person(platform, 7)
    with pytest.raises(ValidationError) as caught:
        apps.submit(platform=platform, data=application(who, **change(who)), actor="test")
    assert (caught.value.code, caught.value.field) == (code, field)
    assert count(platform, applications) == 0 and platform.bureau.queries == [] and platform.kyc.requests == []


def test_a_negative_income_is_refused(platform, champion):
    with pytest.raises(ValidationError) as caught:
        apps.submit(platform=platform, data=application(good_person(platform, 8), declared_income=Decimal("-1")),
                    actor="test")
    assert caught.value.field == "declared_income"


# --- failing sources ------------------------------------------------------------------------------------

def _steer(platform, source: str, id_number: str, plan: str) -> None:
    getattr(platform, source).steer(id_number, plan)


@pytest.mark.parametrize("source", ["kyc", "bureau", "statements"])
@pytest.mark.parametrize("plan", ["timeout", "failure"])
def test_a_source_that_fails_refers_the_application_to_review(platform, champion, source, plan):
    who = good_person(platform, 9)
    _steer(platform, source, who.id_number, plan)
    view = submit(platform, who)
    assert view["status"] == "review" and view["credit_line_id"] is None and view["decided_at"] is None
    assert "data_unavailable" in reason_codes(view)
    record = view["decision_record"]
    assert record["sources"][source] == {"error": f"{source}_{plan}"}
    assert record["decision"]["parts"]["sources"] == "review" and record["decision"]["outcome"] == "review"
    assert f"{source}_{plan}" in [f["code"] for f in record["findings"]]
    if source in ("bureau", "statements"):  # no score on missing data: the policy refers it too
        assert record["score"]["error"] == "source_unavailable" and record["policy"]["action"] == "review"
    case = review_case(platform, view["id"])
    assert case is not None and case.status == "open"
    assert count(platform, credit_lines) == 0 and count(platform, customers) == 0


def test_a_provider_that_raises_unexpectedly_is_a_failure_not_a_crash(platform, champion, monkeypatch):
    def broken(**_):
        raise ZeroDivisionError("provider bug")

    monkeypatch.setattr(platform.statements, "statements", broken)
    view = submit(platform, good_person(platform, 10))
    assert view["status"] == "review"
    assert view["decision_record"]["sources"]["statements"] == {"error": "statements_failure"}


def test_a_timeout_mid_flow_still_asks_the_other_sources(platform, champion):
    who = good_person(platform, 11)
    platform.kyc.steer(who.id_number, "timeout")
    view = submit(platform, who)
    assert view["status"] == "review"
    assert len(platform.bureau.queries) == 1 and len(platform.statements.requests) == 1


@pytest.mark.parametrize("plan", ["mismatch:phone", "mismatch:name,bank_card", "not_found"])
def test_an_identity_that_does_not_verify_is_rejected(platform, champion, plan):
    who = good_person(platform, 12)
    platform.kyc.steer(who.id_number, plan)
    view = submit(platform, who)
    assert view["status"] == "rejected" and "identity_not_verified" in reason_codes(view)
    record = view["decision_record"]
    assert record["decision"]["parts"]["sources"] == "reject"
    if plan.startswith("mismatch"):
        assert record["sources"]["kyc"]["outcome"] == "mismatch"
        assert record["sources"]["kyc"]["mismatched"] == sorted(plan.partition(":")[2].split(","),
                                                                key=["name", "id_number", "phone",
                                                                     "bank_card"].index)
    assert count(platform, customers) == 0 and review_case(platform, view["id"]) is None


# --- idempotency ---------------------------------------------------------------------------------------

def test_a_replayed_key_returns_the_first_application(platform, champion):
    who = good_person(platform, 13)
    first = submit(platform, who, key="idem-1", fingerprint="fp-1")
    again = submit(platform, who, key="idem-1", fingerprint="fp-1")
    assert again["id"] == first["id"] and again["status"] == first["status"] == "approved"
    assert again["credit_line_id"] == first["credit_line_id"]
    assert count(platform, applications) == 1 and count(platform, decision_records) == 1
    assert count(platform, credit_lines) == 1 and count(platform, consents) == 1
    assert _velocity_events(platform, f"application:{first['id']}") == 1
    assert len(platform.bureau.queries) == 1 and len(platform.kyc.requests) == 1


def test_a_key_is_scoped_to_its_caller(platform, champion):
    who, other = good_person(platform, 14), good_person(platform, 15)
    first = apps.submit(platform=platform, data=application(who), actor="a", idempotency_scope="key-a",
                        idempotency_key="same", request_fingerprint="fa")
    second = apps.submit(platform=platform, data=application(other), actor="b", idempotency_scope="key-b",
                         idempotency_key="same", request_fingerprint="fb")
    assert first["id"] != second["id"] and count(platform, applications) == 2


def test_a_key_reused_for_another_body_is_refused(platform, champion):
    who = good_person(platform, 16)
    submit(platform, who, key="idem-2", fingerprint="fp-a")
    with pytest.raises(ConflictError) as caught:
        submit(platform, who, key="idem-2", fingerprint="fp-b", declared_income=Decimal("9000"))
    assert (caught.value.code, caught.value.field) == ("idempotency_key_reused", "Idempotency-Key")
    assert count(platform, applications) == 1 and count(platform, decision_records) == 1


# --- no champion ------------------------------------------------------------------------------------------

def test_without_a_champion_the_application_is_referred(platform):
    view = submit(platform, good_person(platform, 17))
    assert view["status"] == "review" and "no_score" in reason_codes(view)
    record = view["decision_record"]
    assert record["score"]["error"] and "features" in record["score"]
    assert record["versions"]["model"] is None and record["policy"]["action"] == "review"
    with platform.reader() as reader:
        row = reader.session.execute(select(decision_records)).one()
    assert row.model_name is None and row.model_version is None
    assert review_case(platform, view["id"]).status == "open"


# --- replay --------------------------------------------------------------------------------------------------

def _replay_rules(platform, record):
    with platform.reader() as reader:
        active = rule_sets.active_rule_set(reader.session, "application")
    return evaluate(active, facts_from_record(record), RecordedWindows(record["windows"]),
                    datetime.fromisoformat(record["at"]))


def _policy_of(platform, record):
    version = record["versions"]["policy"]
    shipped = default_policy()
    if version["fingerprint"] == shipped.fingerprint:
        return shipped
    stored = policies.get_policy(uow=platform.reader(), name=version["name"], version=version["version"])
    policy = parse_policy(stored["document"])
    assert policy.fingerprint == version["fingerprint"]
    return policy


def _replay_policy(platform, record):
    facts, inputs = record["facts"], record["inputs"]
    statements, bureau = facts["statements"], facts["bureau"]
    verified = (Decimal(statements["income_monthly_avg"])
                if statements is not None and int(statements["months"]) >= 3 else None)
    with platform.reader() as reader:
        product = reader.products.get(inputs["product_code"])
    return decide(_policy_of(platform, record), band=record["score"].get("band"), score=record["score"].get("score"),
                  declared_income=Decimal(inputs["declared_income"]), verified_income=verified,
                  debt_monthly=Decimal(bureau["debt_monthly"]) if bureau else None, region=inputs["region"],
                  industry=inputs["industry"], product=product_terms(product),
                  risk_sharing=parse_offer(inputs["risk_sharing"]), guarantor=None)


def _assert_replays(platform, record):
    replayed = _replay_rules(platform, record)
    assert replayed.to_dict() == record["rules"]
    policy = _replay_policy(platform, record)
    stored = {k: v for k, v in record["policy"].items() if k not in ("name", "version", "fingerprint")}
    assert policy.to_dict() == stored
    assert (policy.action, policy.limit) == (record["policy"]["action"],
                                             None if record["policy"]["limit"] is None
                                             else Decimal(record["policy"]["limit"]))
    assert combine(rules=replayed.decision, sources=record["decision"]["parts"]["sources"],
                   policy_action=policy.action) == record["decision"]["outcome"]


def test_an_approval_replays_to_the_same_decision(platform, champion):
    view = submit(platform, good_person(platform, 18))
    assert view["status"] == "approved"
    platform.clock.advance(10)  # the live windows have moved on; the record has not
    _assert_replays(platform, record_of(platform, view["id"]))


def test_a_rule_hit_replays_after_its_window_closed(platform, champion):
    """Three identities on one device: the third is rejected by a window aggregate; replayed ten days
    later (the events have aged out of every window) the record still gives the same results."""
    views = [submit(platform, good_person(platform, 19 + i), device_id="shared-device-1") for i in range(3)]
    record = record_of(platform, views[-1]["id"])
    assert "device_shared_by_identities" in hits(record) and views[-1]["status"] == "rejected"
    platform.clock.advance(10)
    _assert_replays(platform, record)
    for view in views:
        _assert_replays(platform, record_of(platform, view["id"]))


def test_a_marginal_band_with_insurance_replays(platform, champion):
    store_policy(platform, uniform_document({**DEFAULT_BANDS["D"], "action": "risk_share"}))
    view = submit(platform, good_person(platform, 22),
                  risk_sharing={"kind": "insurance", "insurer": "picc", "policy_number": "P-1"})
    assert view["status"] == "approved"
    _assert_replays(platform, record_of(platform, view["id"]))


def test_a_source_failure_replays(platform, champion):
    who = good_person(platform, 23)
    platform.bureau.steer(who.id_number, "timeout")
    view = submit(platform, who)
    record = record_of(platform, view["id"])
    assert record["facts"]["bureau"] is None
    assert _replay_rules(platform, record).to_dict() == record["rules"]
