"""Step-up verification: pausing a customer, verifying through the (simulated) KYC provider, releasing.

Every pause, every attempt (timeouts included) and every release is recorded; only a match
releases. The release runs origination's real ``resume_after_verification`` (applications held
in step_up continue) except in the tests that replace it to look at how it is called.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner

from microlend.cli.reviews import customers_app
from microlend.config import get_settings
from microlend.errors import NotFoundError, ValidationError
from microlend.services.origination import pauses
from microlend.simulation.people import make_person
from microlend.store.origination_tables import applications, customer_pauses, decision_records, verifications
from microlend.store.tables import credit_lines, customers


def _settle_module():
    return pytest.importorskip("microlend.services.origination.settle",
                               reason="origination's settle.py (the lead's) is not written yet")


@pytest.fixture
def resumed(monkeypatch):
    """Replace resume_after_verification (unit level): the calls it got."""
    settle = _settle_module()
    calls = []

    def fake(*, uow, platform, customer_id, actor):
        assert uow.session is not None  # inside the release's open transaction
        calls.append({"customer_id": customer_id, "actor": actor})
        return []

    monkeypatch.setattr(settle, "resume_after_verification", fake)
    return calls


def _pause(platform, customer_id, *, reason="step-up: new device", source_kind="drawdown", source_id=7,
           actor="system"):
    with platform.uow() as uow:
        made = pauses.pause_customer(uow=uow, customer_id=customer_id, reason=reason, source_kind=source_kind,
                                     source_id=source_id, actor=actor, now=platform.clock.now())
        uow.commit()
    return made


def _status(platform, customer_id) -> str:
    with platform.reader() as uow:
        return uow.session.execute(select(customers.c.status).where(customers.c.id == customer_id)).scalar_one()


def _paused(platform, customer_id) -> bool:
    with platform.reader() as uow:
        return pauses.is_paused(uow.session, customer_id)


def _id_number(platform, customer) -> str:
    return platform.cipher.decrypt(customer.id_number_token, field="id_number")


def _typed(platform, customer) -> dict:
    """The customer's four elements as the person types them (a customer without a card: someone else's card)."""
    c = platform.cipher
    card = (c.decrypt(customer.card_token, field="bank_card") if customer.card_token
            else make_person(random.Random(1), on=date(2026, 3, 10)).bank_card)
    return {"name": customer.name, "id_number": c.decrypt(customer.id_number_token, field="id_number"),
            "phone": c.decrypt(customer.phone_token, field="phone"), "bank_card": card}


def _verify(platform, customer, actor: str, **typed):
    """Verify ``customer`` with their own elements (``typed`` replaces some)."""
    return pauses.verify_customer(platform=platform, customer_id=customer.id, actor=actor,
                                  **{**_typed(platform, customer), **typed})


def _count(platform, table, customer_id) -> int:
    with platform.reader() as uow:
        return uow.session.execute(select(func.count()).select_from(table)
                                   .where(table.c.customer_id == customer_id)).scalar_one()


# --- pausing -------------------------------------------------------------------------------------

def test_pause_records_the_pause_and_marks_the_customer(platform, make_customer):
    customer = make_customer()
    made = _pause(platform, customer.id)
    assert made.created and made.open and made.source_kind == "drawdown" and made.source_id == 7
    assert made.paused_at == platform.clock.now() and made.paused_by == "system"
    assert _status(platform, customer.id) == "paused" and _paused(platform, customer.id)


def test_a_paused_customer_keeps_one_open_pause(platform, make_customer):
    customer = make_customer()
    first = _pause(platform, customer.id)
    again = _pause(platform, customer.id, reason="another step-up", source_kind="application", source_id=9)
    assert again.id == first.id and not again.created and again.reason == first.reason
    assert _count(platform, customer_pauses, customer.id) == 1


def test_pause_checks_its_input(platform, make_customer):
    customer = make_customer()
    with platform.uow() as uow:
        with pytest.raises(ValidationError) as bad_kind:
            pauses.pause_customer(uow=uow, customer_id=customer.id, reason="x", source_kind="robot", actor="t",
                                  now=platform.clock.now())
        with pytest.raises(ValidationError) as no_reason:
            pauses.pause_customer(uow=uow, customer_id=customer.id, reason="  ", source_kind="staff", actor="t",
                                  now=platform.clock.now())
        with pytest.raises(ValidationError):
            pauses.pause_customer(uow=uow, customer_id=customer.id, reason="x" * 501, source_kind="staff",
                                  actor="t", now=platform.clock.now())
        with pytest.raises(ValidationError) as surrogate:
            pauses.pause_customer(uow=uow, customer_id=customer.id, reason="a\ud800b", source_kind="staff",
                                  actor="t", now=platform.clock.now())
        with pytest.raises(NotFoundError) as missing:
            pauses.pause_customer(uow=uow, customer_id=999_999, reason="x", source_kind="staff", actor="t",
                                  now=platform.clock.now())
    assert (bad_kind.value.code, bad_kind.value.field) == ("invalid_source_kind", "source_kind")
    assert (no_reason.value.code, no_reason.value.field) == ("invalid_reason", "reason")
    assert (surrogate.value.code, surrogate.value.field) == ("invalid_reason", "reason")
    assert missing.value.code == "customer_not_found"
    assert not _paused(platform, customer.id)


def test_the_caller_owns_the_transaction(platform, make_customer):
    """pause_customer never commits: a caller that rolls back leaves no pause."""
    customer = make_customer()
    with platform.uow() as uow:
        pauses.pause_customer(uow=uow, customer_id=customer.id, reason="r", source_kind="application",
                              source_id=1, actor="system", now=platform.clock.now())
        assert pauses.is_paused(uow.session, customer.id)
    assert not _paused(platform, customer.id) and _status(platform, customer.id) == "active"


def test_a_customer_loaded_in_the_session_sees_the_pause(platform, make_customer):
    customer = make_customer()
    with platform.uow() as uow:
        loaded = uow.customers.get(customer.id)
        pauses.pause_customer(uow=uow, customer_id=customer.id, reason="r", source_kind="staff", actor="ops",
                              now=platform.clock.now())
        assert loaded.status == "paused"


def test_staff_pause(platform, make_customer):
    customer = make_customer()
    made = pauses.pause_by_staff(uow=platform.uow(), customer_id=customer.id, reason="called about fraud",
                                 actor="operator:abc", now=platform.clock.now())
    assert made.source_kind == "staff" and made.source_id is None and made.paused_by == "operator:abc"
    assert _paused(platform, customer.id)


# --- verifying -----------------------------------------------------------------------------------

@pytest.mark.parametrize("plan, outcome, mismatched", [
    ("mismatch:phone", "mismatch", ("phone",)),
    ("mismatch:name,bank_card", "mismatch", ("name", "bank_card")),
    ("not_found", "not_found", ()),
    ("timeout", "kyc_timeout", ()),
    ("failure", "kyc_failure", ()),
])
def test_a_failed_verification_keeps_the_pause_and_is_recorded(platform, make_customer, resumed, plan, outcome,
                                                                mismatched):
    customer = make_customer()
    _pause(platform, customer.id)
    platform.kyc.steer(_id_number(platform, customer), plan)
    result = _verify(platform, customer, "borrower:k1")
    assert (result.passed, result.outcome, result.mismatched, result.paused) == (False, outcome, mismatched, True)
    assert result.reason and result.released_pause_id is None
    assert _paused(platform, customer.id) and _status(platform, customer.id) == "paused" and resumed == []
    history = pauses.pause_history(platform.reader(), customer.id)
    [attempt] = history["verifications"]
    assert attempt["outcome"] == outcome and attempt["passed"] is False and attempt["actor"] == "borrower:k1"
    assert attempt["mismatched"] == list(mismatched)
    if outcome.startswith("kyc_"):  # our own request reference, to trace a late answer
        assert attempt["provider_reference"].startswith(f"stepup-{customer.id}-")
    else:
        assert attempt["provider_reference"].startswith("KYC")
    assert history["paused"] and history["pauses"][0]["open"]


def test_a_customer_without_a_card_cannot_pass(platform, make_customer, resumed):
    customer = make_customer(bank_card=None)
    _pause(platform, customer.id)
    result = _verify(platform, customer, "ops")
    assert (result.passed, result.outcome, result.paused) == (False, "no_card", True)
    assert "card" in result.reason
    assert platform.kyc.requests == []  # never asked the provider
    assert _count(platform, verifications, customer.id) == 1


def test_a_match_releases_the_pause(platform, make_customer, resumed):
    customer = make_customer()
    pause = _pause(platform, customer.id)
    platform.clock.current_time += timedelta(minutes=5)
    result = _verify(platform, customer, "borrower:k1")
    assert (result.passed, result.outcome, result.paused, result.reason) == (True, "match", False, None)
    assert result.released_pause_id == pause.id
    assert resumed == [{"customer_id": customer.id, "actor": "borrower:k1"}]
    assert not _paused(platform, customer.id) and _status(platform, customer.id) == "active"
    [released] = pauses.pause_history(platform.reader(), customer.id)["pauses"]
    assert released["released_by"] == "borrower:k1" and released["verification_id"] == result.id
    assert released["released_at"] == platform.clock.now().isoformat() and not released["open"]


def test_the_provider_gets_the_typed_elements_once_they_match_the_record(platform, make_customer, resumed):
    person = make_person(random.Random(99), on=date(2026, 3, 10))
    customer = make_customer(name=person.name, id_number=person.id_number, phone=person.phone,
                             bank_card=person.bank_card)
    platform.kyc.enrol(name=person.name, id_number=person.id_number, phone="13800000000",
                       bank_card=person.bank_card)  # the carrier knows another phone
    _pause(platform, customer.id)
    result = _verify(platform, customer, "ops")
    assert (result.outcome, result.mismatched) == ("mismatch", ("phone",))
    assert platform.kyc.requests[-1][1] == person.id_number


def test_retrying_after_a_timeout_asks_again(platform, make_customer, resumed):
    """Each attempt has its own reference (the provider answers a repeated reference from its cache)."""
    customer = make_customer()
    _pause(platform, customer.id)
    platform.kyc.will("timeout")
    assert _verify(platform, customer, "ops").outcome == "kyc_timeout"
    assert _verify(platform, customer, "ops").passed
    assert len({ref for ref, _ in platform.kyc.requests}) == 2
    assert not _paused(platform, customer.id)


def test_every_pause_attempt_and_release_is_recorded(platform, make_customer, resumed):
    customer = make_customer()
    ident = _id_number(platform, customer)
    first = _pause(platform, customer.id, source_kind="application", source_id=1)
    platform.kyc.steer(ident, "timeout")
    _verify(platform, customer, "a")
    platform.kyc.steer(ident, "mismatch:bank_card")
    _verify(platform, customer, "b")
    platform.kyc.steer(ident, "match")
    one = _verify(platform, customer, "c")
    second = _pause(platform, customer.id, source_kind="staff", source_id=None, actor="operator:x")
    assert second.created and second.id != first.id
    two = _verify(platform, customer, "d")
    history = pauses.pause_history(platform.reader(), customer.id)
    assert not history["paused"]
    assert [(p["id"], p["verification_id"], p["released_by"]) for p in history["pauses"]] == [
        (second.id, two.id, "d"), (first.id, one.id, "c")]
    assert [(v["outcome"], v["actor"]) for v in history["verifications"]] == [
        ("match", "d"), ("match", "c"), ("mismatch", "b"), ("kyc_timeout", "a")]
    assert len(resumed) == 2


def test_verifying_an_unpaused_customer_records_the_attempt(platform, make_customer, resumed):
    customer = make_customer()
    result = _verify(platform, customer, "ops")
    assert result.passed and result.released_pause_id is None and not result.paused
    assert _status(platform, customer.id) == "active" and _count(platform, verifications, customer.id) == 1


def test_verifying_an_unknown_customer(platform):
    someone = make_person(random.Random(5), on=date(2026, 3, 10))
    with pytest.raises(NotFoundError) as err:
        pauses.verify_customer(platform=platform, customer_id=424242, actor="ops", name=someone.name,
                               id_number=someone.id_number, phone=someone.phone, bank_card=someone.bank_card)
    assert err.value.code == "customer_not_found"


def test_a_failed_resume_keeps_the_pause_but_not_the_attempt(platform, make_customer, monkeypatch):
    """The release and the resumed applications land together or not at all; the attempt is kept."""
    settle = _settle_module()

    def broken(**_):
        raise RuntimeError("boom")

    monkeypatch.setattr(settle, "resume_after_verification", broken)
    customer = make_customer()
    _pause(platform, customer.id)
    with pytest.raises(RuntimeError):
        _verify(platform, customer, "ops")
    assert _paused(platform, customer.id) and _status(platform, customer.id) == "paused"
    [attempt] = pauses.pause_history(platform.reader(), customer.id)["verifications"]
    assert attempt["passed"] and attempt["outcome"] == "match"


def test_pause_history_of_an_unknown_customer(platform):
    with pytest.raises(NotFoundError):
        pauses.pause_history(platform.reader(), 31337)


# --- with origination's real resume ----------------------------------------------------------------

def _held_application(platform, customer, *, after_step_up: str, limit="6000.00", rate="0.0005") -> int:
    """An application held in step_up for ``customer``, as origination's flow leaves one."""
    now = platform.clock.now()
    with platform.uow() as uow:
        s = uow.session
        app_id = s.execute(insert(applications).values(
            status="step_up", customer_id=customer.id, name=customer.name,
            id_number_token=customer.id_number_token, id_number_hash=customer.id_number_hash,
            id_number_masked=customer.id_number_masked, phone_token=customer.phone_token,
            phone_hash=customer.phone_hash, phone_masked=customer.phone_masked, card_token=customer.card_token,
            card_hash=customer.card_hash, card_masked=customer.card_masked, device_hash="d" * 64, ip_hash="i" * 64,
            ip_masked="10.0.*.*", declared_income=Decimal("9000.00"), industry="retail", region="44",
            product_code="REVOLVE", channel="test", created_by="test", created_at=now,
            offered_limit=Decimal(limit), offered_daily_rate=Decimal(rate)).returning(applications.c.id)).scalar_one()
        record = {"kind": "application", "application_id": app_id,
                  "decision": {"outcome": "step_up", "status": "step_up", "after_step_up": after_step_up,
                               "parts": {"rules": "step_up", "sources": "approve", "policy": "approve"},
                               "reasons": [{"code": "many_apps_same_phone_24h", "en": "e", "zh": "z"}]}}
        record_id = s.execute(insert(decision_records).values(
            kind="application", application_id=app_id, customer_id=customer.id, decision="step_up",
            record=json.dumps(record), rule_set="builtin-application", rule_set_version=1, rule_set_fingerprint="f",
            created_at=now).returning(decision_records.c.id)).scalar_one()
        s.execute(update(applications).where(applications.c.id == app_id).values(decision_record_id=record_id))
        pauses.pause_customer(uow=uow, customer_id=customer.id, reason="step-up", source_kind="application",
                              source_id=app_id, actor="system", now=now)
        uow.commit()
    return app_id


def _application_status(platform, app_id) -> str:
    with platform.reader() as uow:
        return uow.session.execute(select(applications.c.status).where(applications.c.id == app_id)).scalar_one()


def test_a_match_continues_held_applications_for_real(platform, make_customer):
    _settle_module()
    customer = make_customer()
    app_id = _held_application(platform, customer, after_step_up="approve")
    platform.kyc.steer(_id_number(platform, customer), "mismatch:phone")
    assert not _verify(platform, customer, "ops").passed
    assert _application_status(platform, app_id) == "step_up"
    platform.kyc.steer(_id_number(platform, customer), "match")
    result = _verify(platform, customer, "borrower:k9")
    assert result.passed and not result.paused and result.resumed == [app_id]
    assert _application_status(platform, app_id) == "approved"
    with platform.reader() as uow:
        line = uow.session.execute(select(credit_lines).where(credit_lines.c.customer_id == customer.id)).one()
    assert line.limit == Decimal("6000.00") and _status(platform, customer.id) == "active"


def test_a_match_sends_a_held_application_to_review_for_real(platform, make_customer):
    _settle_module()
    from microlend.services.origination import reviews

    customer = make_customer()
    app_id = _held_application(platform, customer, after_step_up="review")
    assert _verify(platform, customer, "ops").passed
    assert _application_status(platform, app_id) == "review"
    case = reviews.case_of_application(platform.reader(), app_id)
    assert case is not None and case.status == "open" and case.reasons[0]["code"] == "many_apps_same_phone_24h"


def test_a_match_with_nothing_held_for_real(platform, make_customer):
    _settle_module()
    customer = make_customer()
    _pause(platform, customer.id)
    result = _verify(platform, customer, "ops")
    assert result.passed and not _paused(platform, customer.id) and result.resumed == []


# --- CLI -----------------------------------------------------------------------------------------

@pytest.fixture
def cli(platform, db_url, monkeypatch):
    monkeypatch.setenv("MICROLEND_DATABASE_URL", db_url)
    monkeypatch.setenv("MICROLEND_ENV", "test")
    get_settings.cache_clear()
    yield lambda *args, input=None: CliRunner().invoke(customers_app, list(args), input=input)
    get_settings.cache_clear()


def _options(platform, customer, **typed) -> list[str]:
    """``--name ... --id-number ... --phone ... --bank-card ...`` for ``customer`` (``typed`` replaces some)."""
    given = {**_typed(platform, customer), **typed}
    return ["--name", given["name"], "--id-number", given["id_number"], "--phone", given["phone"],
            "--bank-card", given["bank_card"]]


def test_cli_pause_verify_and_history(cli, platform, make_customer):
    _settle_module()
    customer = make_customer()
    made = cli("pause", str(customer.id), "--reason", "asked by the fraud team", "--as", "ops-anna")
    assert made.exit_code == 0, made.output
    assert f"customer {customer.id} paused" in made.output
    again = cli("pause", str(customer.id), "--reason", "again", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["created"] is False
    # the CLI's own provider: a real identity matches
    verified = cli("verify", str(customer.id), *_options(platform, customer), "--as", "ops-anna")
    assert verified.exit_code == 0, verified.output
    assert "verification passed" in verified.output and "released" in verified.output
    history = cli("pauses", str(customer.id), "--json")
    data = json.loads(history.stdout)
    assert data["paused"] is False and data["pauses"][0]["paused_by"] == "ops-anna"
    assert data["verifications"][0]["actor"] == "ops-anna"


def test_cli_errors(cli, platform, make_customer):
    customer = make_customer(bank_card=None)
    missing = cli("verify", "987654", *_options(platform, customer))
    assert missing.exit_code == 2 and "error: customer_not_found" in missing.output
    no_card = cli("verify", str(customer.id), *_options(platform, customer))
    assert no_card.exit_code == 1 and "no_card" in no_card.output
    empty = cli("pause", str(customer.id), "--reason", " ")
    assert empty.exit_code == 2 and "error: invalid_reason" in empty.output


def test_cli_verify_needs_the_elements(cli, platform, make_customer):
    """Wrong elements fail (exit 1, the pause stays); malformed ones are refused (exit 2); omitted ones are
    asked for, and never echoed."""
    _settle_module()
    customer = make_customer()
    _pause(platform, customer.id)
    other = make_person(random.Random(3), on=date(2026, 3, 10))
    wrong = cli("verify", str(customer.id), *_options(platform, customer, phone=other.phone), "--as", "ops")
    assert wrong.exit_code == 1 and "element_mismatch" in wrong.output and "phone" in wrong.output
    assert other.phone not in wrong.output and "still paused" in wrong.output
    bad = cli("verify", str(customer.id), *_options(platform, customer, bank_card="4111111111111112"))
    assert bad.exit_code == 2 and "error: invalid_bank_card_checksum (bank_card)" in bad.output
    assert len(pauses.pause_history(platform.reader(), customer.id)["verifications"]) == 1  # bad: no attempt
    typed = _typed(platform, customer)
    asked = cli("verify", str(customer.id), "--as", "ops", "--json",
                input="\n".join([typed["name"], typed["id_number"], typed["phone"], typed["bank_card"]]) + "\n")
    assert asked.exit_code == 0, asked.output
    assert json.loads(asked.stdout[asked.stdout.index("{"):])["passed"] is True
    assert not any(typed[k] in asked.output for k in ("id_number", "phone", "bank_card"))  # typed unseen
    assert not _paused(platform, customer.id)


# --- the elements must be supplied, and be the customer's ------------------------------------------

@pytest.mark.parametrize("wrong", [("phone",), ("bank_card",), ("name", "id_number"),
                                   ("name", "id_number", "phone", "bank_card")])
def test_elements_other_than_the_record_fail_without_asking_the_provider(platform, make_customer, resumed, wrong):
    """Someone else's elements are real (the provider would match them), but they are not this customer's."""
    customer = make_customer()
    _pause(platform, customer.id)
    other = make_person(random.Random(4), on=date(2026, 3, 10))
    result = _verify(platform, customer, "borrower:k1", **{k: getattr(other, k) for k in wrong})
    assert (result.passed, result.outcome, result.mismatched, result.paused) == (
        False, "element_mismatch", wrong, True)
    assert result.provider_reference is None and result.released_pause_id is None
    assert all(w in result.reason for w in wrong)
    assert platform.kyc.requests == [] and resumed == []
    assert _paused(platform, customer.id) and _status(platform, customer.id) == "paused"
    with platform.reader() as uow:
        row = uow.session.execute(select(verifications).where(verifications.c.customer_id == customer.id)).one()
    assert (row.outcome, row.passed, row.mismatched, row.actor) == ("element_mismatch", False, ",".join(wrong),
                                                                    "borrower:k1")
    stored = " ".join(str(v) for v in row)
    assert not any(getattr(other, k) in stored for k in ("id_number", "phone", "bank_card"))  # names, never values


def test_a_latin_name_matches_whatever_its_case(platform, make_customer, resumed):
    customer = make_customer(name="John Smith")
    _pause(platform, customer.id)
    assert _verify(platform, customer, "ops", name=" john   SMITH ").passed


@pytest.mark.parametrize("element, value, code", [
    ("name", None, "invalid_name"),
    ("name", "", "invalid_name"),
    ("name", "a\ud800b", "invalid_name"),
    ("id_number", "110105194912310021", "invalid_id_checksum"),
    ("id_number", 110105194912310021, "invalid_id_number"),
    ("phone", "1380000", "invalid_phone"),
    ("phone", "138\ud8000000000", "invalid_phone"),
    ("bank_card", "6222 0000 0000 0000 001", "invalid_bank_card_checksum"),
    ("bank_card", None, "invalid_bank_card"),
])
def test_malformed_elements_record_nothing(platform, make_customer, resumed, element, value, code):
    customer = make_customer()
    _pause(platform, customer.id)
    with pytest.raises(ValidationError) as err:
        _verify(platform, customer, "ops", **{element: value})
    assert (err.value.code, err.value.field) == (code, element)
    assert _count(platform, verifications, customer.id) == 0 and platform.kyc.requests == []
    assert _paused(platform, customer.id)


def test_the_supplied_elements_are_never_shown_in_clear(platform, make_customer, resumed):
    customer = make_customer()
    typed = _typed(platform, customer)
    parsed = pauses.parse_elements(**typed)
    assert "<redacted>" in repr(parsed) and typed["bank_card"] not in repr(parsed)
    result = _verify(platform, customer, "ops")
    shown = json.dumps(result.to_dict()) + repr(result)
    assert not any(typed[k] in shown for k in ("id_number", "phone", "bank_card"))
