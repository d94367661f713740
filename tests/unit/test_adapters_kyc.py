"""Four-element verification: the simulated provider's answers, steering and failure paths."""

from __future__ import annotations

import random
from datetime import date

import pytest

from microlend.adapters.errors import FALLBACK_OUTCOME, AdapterError, AdapterFailure, AdapterTimeout
from microlend.adapters.kyc import ELEMENTS, KycOutcome, KycProvider, SimulatedKyc
from microlend.errors import ExternalServiceError
from microlend.simulation.people import make_person

TODAY = date(2026, 3, 10)


@pytest.fixture
def person():
    return make_person(random.Random(5), on=TODAY)


def _ask(kyc: KycProvider, person, reference: str = "r1", **changes):
    elements = {"name": person.name, "id_number": person.id_number, "phone": person.phone,
                "bank_card": person.bank_card} | changes
    return kyc.verify(reference=reference, **elements)


def test_a_well_formed_identity_matches_by_default(person):
    result = _ask(SimulatedKyc(), person)
    assert result.outcome is KycOutcome.MATCH and result.matched
    assert result.mismatched == () and result.reference == "r1" and result.provider_reference
    assert result.finding() == "kyc_match"


def test_an_enrolled_person_with_other_elements_is_a_mismatch_naming_them(person):
    kyc = SimulatedKyc().enrol(name=person.name, id_number=person.id_number, phone=person.phone,
                               bank_card=person.bank_card)
    assert _ask(kyc, person, "r0").matched
    result = _ask(kyc, person, "r1", phone="13800000000")
    assert result.outcome is KycOutcome.MISMATCH and result.mismatched == ("phone",)
    result = _ask(kyc, person, "r2", bank_card="6222020000000000000", name="张三")
    assert result.mismatched == ("name", "bank_card") and not result.matched
    assert result.finding() == "kyc_mismatch_name_bank_card"


def test_an_id_number_that_fails_its_checks_is_not_found(person):
    bad_id = person.id_number[:17] + ("0" if person.id_number[17] != "0" else "1")
    result = _ask(SimulatedKyc(), person, id_number=bad_id)
    assert result.outcome is KycOutcome.NOT_FOUND and result.finding() == "kyc_not_found"


def test_steering_per_id_number(person):
    other = make_person(random.Random(6), on=TODAY)
    kyc = SimulatedKyc().steer(person.id_number, "mismatch:bank_card")
    assert _ask(kyc, person).mismatched == ("bank_card",)
    assert _ask(kyc, other, "r2").matched
    kyc.steer(person.id_number, "not_found")
    assert _ask(kyc, person, "r3").outcome is KycOutcome.NOT_FOUND


@pytest.mark.parametrize("plan, cls, code", [("timeout", AdapterTimeout, "kyc_timeout"),
                                             ("failure", AdapterFailure, "kyc_failure")])
def test_timeouts_and_failures_raise_coded_external_errors_without_personal_data(person, plan, cls, code):
    kyc = SimulatedKyc().steer(person.id_number, plan)
    with pytest.raises(cls) as caught:
        _ask(kyc, person)
    error = caught.value
    assert isinstance(error, ExternalServiceError) and isinstance(error, AdapterError)
    assert error.code == code and error.provider == "kyc" and error.reference == "r1"
    assert error.extra["fallback"] == FALLBACK_OUTCOME == "review"
    for element in (person.name, person.id_number, person.phone, person.bank_card):
        assert element not in str(error) and element not in repr(error.to_dict())
    assert kyc.requests == [("r1", person.id_number)]


def test_queued_outcomes_come_first_and_a_repeated_reference_gets_the_first_answer(person):
    kyc = SimulatedKyc().steer(person.id_number, "not_found").will("timeout", "mismatch:name,phone")
    with pytest.raises(AdapterTimeout):
        _ask(kyc, person, "a")
    first = _ask(kyc, person, "b")
    assert first.mismatched == ("name", "phone")
    assert _ask(kyc, person, "b") is first
    assert _ask(kyc, person, "c").outcome is KycOutcome.NOT_FOUND
    assert [ref for ref, _ in kyc.requests] == ["a", "b", "c"]


def test_a_timed_out_reference_can_be_retried(person):
    kyc = SimulatedKyc().will("timeout")
    with pytest.raises(AdapterTimeout):
        _ask(kyc, person, "a")
    assert _ask(kyc, person, "a").matched


@pytest.mark.parametrize("plan", ["approve", "mismatch:", "mismatch:email", "mismatch:phone,"])
def test_unknown_plans_are_refused(plan):
    with pytest.raises(ValueError):
        SimulatedKyc().will(plan)


def test_adapter_errors_know_only_the_documented_providers():
    assert ELEMENTS == ("name", "id_number", "phone", "bank_card")
    with pytest.raises(ValueError):
        AdapterTimeout("scoring")
    assert AdapterFailure("bureau").code == "bureau_failure"
    assert AdapterTimeout("statements").code == "statements_timeout"
