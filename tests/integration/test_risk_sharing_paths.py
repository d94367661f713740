"""Marginal bands and risk sharing through the whole flow: insurance, collateral and a guarantor (who
answers over the API), each accepted or refused, and the downturn switch raising the cut-offs.

Every band of the stored test policy is made marginal (``risk_share``), so the outcome does not
depend on which band the demo scorecard gives the applicant.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from origination_helpers import (
    DEFAULT_BANDS,
    DEFAULT_DOWNTURN,
    application_row,
    arrangement,
    count,
    good_person,
    reason_codes,
    record_of,
    review_case,
    set_downturn,
    store_policy,
    submit,
    uniform_document,
)
from sqlalchemy import update

from microlend.errors import ConflictError, MicrolendError
from microlend.rules.policy import default_policy
from microlend.services import credit_lines as line_service
from microlend.services import drawdowns
from microlend.services.origination import guarantors, pauses, reviews
from microlend.simulation.demo_model import install_demo_scorecard
from microlend.store.origination_tables import risk_sharing_arrangements
from microlend.store.tables import credit_lines, loans

MARGINAL = {**DEFAULT_BANDS["D"], "action": "risk_share"}  # 1.5 x income, limit factor 0.8
PICC = {"kind": "insurance", "insurer": "picc", "policy_number": "PICC-2026-0001"}


@pytest.fixture
def marginal(platform):
    install_demo_scorecard(platform)
    store_policy(platform, uniform_document(MARGINAL))
    return platform


def _line(platform, line_id):
    with platform.reader() as reader:
        return reader.lines.get(line_id)


# --- no offer, insurance, collateral ---------------------------------------------------------------

def test_a_marginal_band_without_an_offer_is_rejected(marginal):
    view = submit(marginal, good_person(marginal, 1))
    assert view["status"] == "rejected" and reason_codes(view) == ["risk_sharing_required"]
    assert view["credit_line_id"] is None and arrangement(marginal, view["id"]) is None
    steps = {s["name"]: s["outcome"] for s in record_of(marginal, view["id"])["policy"]["steps"]}
    assert steps["risk_sharing"] == "required"


def test_insurance_with_a_configured_insurer_is_approved_with_its_cover(marginal):
    view = submit(marginal, good_person(marginal, 2), risk_sharing={**PICC, "insurer": "PICC"})
    assert view["status"] == "approved", view["reasons"]
    row = arrangement(marginal, view["id"])
    assert (row.kind, row.status, row.insurer, row.policy_number) == ("insurance", "active", "picc", "PICC-2026-0001")
    assert row.cover_share == Decimal("0.6") and row.credit_line_id == view["credit_line_id"]
    assert _line(marginal, view["credit_line_id"]).limit == Decimal(view["offered_limit"])
    sharing = record_of(marginal, view["id"])["policy"]["risk_sharing"]
    assert sharing["kind"] == "insurance" and Decimal(sharing["cover_share"]) == Decimal("0.6")


def test_an_insurer_the_policy_does_not_know_is_rejected(marginal):
    view = submit(marginal, good_person(marginal, 3), risk_sharing={**PICC, "insurer": "acme-mutual"})
    assert view["status"] == "rejected" and reason_codes(view) == ["insurer_not_configured"]
    assert arrangement(marginal, view["id"]) is None and count(marginal, credit_lines) == 0


def test_enough_collateral_is_approved_at_the_income_limit(marginal):
    view = submit(marginal, good_person(marginal, 4), risk_sharing={
        "kind": "collateral", "collateral_kind": "vehicle", "collateral_value": "150000.00",
        "collateral_description": "2019 sedan"})
    assert view["status"] == "approved"
    step = [s for s in record_of(marginal, view["id"])["policy"]["steps"] if s["name"] == "risk_sharing"][0]
    assert step["outcome"] == "accepted" and step["detail"]["limit"] == step["detail"]["limit_before"]
    row = arrangement(marginal, view["id"])
    assert (row.kind, row.status, row.collateral_kind, row.collateral_value) == (
        "collateral", "active", "vehicle", Decimal("150000.00"))
    assert row.collateral_description == "2019 sedan"


def test_collateral_caps_the_limit_at_its_value(marginal):
    view = submit(marginal, good_person(marginal, 5), risk_sharing={
        "kind": "collateral", "collateral_kind": "deposit", "collateral_value": "2345.67"})
    assert view["status"] == "approved"
    assert view["offered_limit"] == "2300.00"  # the value rounded down to the product's step of 100
    assert _line(marginal, view["credit_line_id"]).limit == Decimal("2300.00")


def test_too_little_collateral_is_rejected(marginal):
    view = submit(marginal, good_person(marginal, 6), risk_sharing={
        "kind": "collateral", "collateral_kind": "deposit", "collateral_value": "499.99"})
    assert view["status"] == "rejected" and reason_codes(view) == ["collateral_insufficient"]
    assert arrangement(marginal, view["id"]) is None


def test_risk_sharing_offered_on_an_approved_band_is_ignored(platform):
    install_demo_scorecard(platform)
    store_policy(platform, uniform_document(DEFAULT_BANDS["A"]))
    view = submit(platform, good_person(platform, 7), risk_sharing=PICC)
    assert view["status"] == "approved" and arrangement(platform, view["id"]) is None
    steps = {s["name"]: s["outcome"] for s in record_of(platform, view["id"])["policy"]["steps"]}
    assert steps["risk_sharing"] == "ignored"


# --- guarantor -----------------------------------------------------------------------------------------

def _guarantee(platform, applicant_n: int, guarantor_id: int) -> dict:
    return submit(platform, good_person(platform, applicant_n),
                  risk_sharing={"kind": "guarantor", "guarantor_customer_id": guarantor_id})


def _answer(client, headers, application_id: int, accept: bool):
    return client.post(f"/v1/applications/{application_id}/guarantor", json={"accept": accept}, headers=headers)


def test_a_guarantor_in_good_standing_accepts_and_the_line_is_granted(marginal, make_customer, client, auth):
    guarantor = make_customer()
    view = _guarantee(marginal, 10, guarantor.id)
    assert view["status"] == "awaiting_guarantor" and view["credit_line_id"] is None
    assert reason_codes(view) == ["guarantor_acceptance_pending"]
    row = arrangement(marginal, view["id"])
    assert (row.kind, row.status, row.guarantor_customer_id) == ("guarantor", "pending", guarantor.id)

    response = _answer(client, auth("borrower", guarantor.id), view["id"], True)
    assert response.status_code == 200, response.text
    answered = response.json()
    assert answered["status"] == "approved" and answered["credit_line_id"] is not None
    assert answered["decision_record"] is None  # a borrower's view
    line = _line(marginal, answered["credit_line_id"])
    assert line.limit == Decimal(view["offered_limit"]) and line.customer_id == answered["customer_id"]
    assert line.customer_id != guarantor.id
    row = arrangement(marginal, view["id"])
    assert (row.status, row.credit_line_id) == ("active", line.id)
    assert row.accepted_at == marginal.clock.now() and row.accepted_by.startswith("borrower:")
    again = _answer(client, auth("borrower", guarantor.id), view["id"], True)
    assert again.status_code == 409 and again.json()["error"]["code"] == "application_not_awaiting_guarantor"


def test_a_guarantor_who_declines_rejects_the_application(marginal, make_customer, client, auth):
    guarantor = make_customer()
    view = _guarantee(marginal, 11, guarantor.id)
    response = _answer(client, auth("borrower", guarantor.id), view["id"], False)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected" and reason_codes(response.json()) == ["guarantor_declined"]
    assert arrangement(marginal, view["id"]).status == "declined" and count(marginal, credit_lines) == 0
    assert application_row(marginal, view["id"]).decided_at == marginal.clock.now()


def test_an_admin_may_record_the_guarantors_answer_and_no_one_else_may(marginal, make_customer, client, auth):
    guarantor, stranger = make_customer(), make_customer()
    view = _guarantee(marginal, 12, guarantor.id)
    response = _answer(client, auth("borrower", stranger.id), view["id"], True)
    assert response.status_code == 404 and response.json()["error"]["code"] == "guarantor_not_found"
    response = _answer(client, auth("operator"), view["id"], True)  # the staff handling it cannot vouch
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert application_row(marginal, view["id"]).status == "awaiting_guarantor"
    response = _answer(client, auth("admin"), view["id"], True)
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert response.json()["decision_record"] is not None  # staff see the record


def test_an_application_without_a_guarantor_has_none_to_answer(marginal, client, auth):
    view = submit(marginal, good_person(marginal, 13), risk_sharing=PICC)
    response = _answer(client, auth("admin"), view["id"], True)
    assert response.status_code == 404 and response.json()["error"]["code"] == "guarantor_not_found"


def _overdue(platform, customer):
    line = line_service.grant_line(uow=platform.uow(), clock=platform.clock, customer_id=customer.id,
                            product_code="REVOLVE", limit=Decimal("5000"), actor="test")
    made = drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher,
                                      clock=platform.clock, line_id=line.id, amount=Decimal("1000"), term=5)
    with platform.uow() as uow:
        uow.session.execute(update(loans).where(loans.c.id == made.loan_id).values(dpd=5))
        uow.commit()


@pytest.mark.parametrize("standing", ["overdue", "paused", "unknown", "the_applicant"])
def test_a_guarantor_not_in_good_standing_is_rejected(marginal, make_customer, standing):
    n = 20 + ["overdue", "paused", "unknown", "the_applicant"].index(standing)
    applicant = good_person(marginal, n)
    if standing == "unknown":
        guarantor_id = 987_654
    elif standing == "the_applicant":
        guarantor_id = make_customer(name=applicant.name, id_number=applicant.id_number, phone=applicant.phone,
                                     bank_card=applicant.bank_card).id
    else:
        guarantor = make_customer()
        guarantor_id = guarantor.id
        if standing == "overdue":
            _overdue(marginal, guarantor)
        else:
            pauses.pause_by_staff(uow=marginal.uow(), customer_id=guarantor.id, reason="fraud check", actor="test",
                                  now=marginal.clock.now())
    view = submit(marginal, applicant, risk_sharing={"kind": "guarantor", "guarantor_customer_id": guarantor_id})
    assert view["status"] == "rejected" and reason_codes(view) == ["guarantor_not_in_good_standing"]
    assert arrangement(marginal, view["id"]) is None
    step = [s for s in record_of(marginal, view["id"])["policy"]["steps"] if s["name"] == "risk_sharing"][0]
    assert step["outcome"] == "guarantor_not_in_good_standing"


def test_the_guarantor_answer_cannot_reopen_a_final_application(marginal, make_customer):
    guarantor = make_customer()
    view = _guarantee(marginal, 30, guarantor.id)
    guarantors.answer(platform=marginal, application_id=view["id"], accept=False, actor="test", as_customer=None)
    with pytest.raises(ConflictError) as caught:
        guarantors.answer(platform=marginal, application_id=view["id"], accept=True, actor="test", as_customer=None)
    assert caught.value.code == "application_not_awaiting_guarantor"
    with marginal.reader() as reader:
        assert reader.session.execute(risk_sharing_arrangements.select()).one().status == "declined"


def test_a_reviewer_cannot_activate_a_guarantee_nobody_accepted(marginal, make_customer):
    guarantor = make_customer()
    applicant = good_person(marginal, 31)
    marginal.kyc.steer(applicant.id_number, "timeout")
    view = submit(marginal, applicant, risk_sharing={"kind": "guarantor", "guarantor_customer_id": guarantor.id})
    assert view["status"] == "review" and arrangement(marginal, view["id"]).status == "pending"
    reviews.approve(platform=marginal, case_id=review_case(marginal, view["id"]).id, actor="anna", note="checked",
                    is_admin=True)
    row = arrangement(marginal, view["id"])
    assert row.status != "active" or row.accepted_at is not None


@pytest.mark.parametrize("change", ["paused", "overdue"])
def test_a_guarantor_who_lost_good_standing_cannot_accept(marginal, make_customer, change):
    guarantor = make_customer()
    view = _guarantee(marginal, 32, guarantor.id)
    assert view["status"] == "awaiting_guarantor"
    if change == "paused":
        pauses.pause_by_staff(uow=marginal.uow(), customer_id=guarantor.id, reason="fraud check", actor="test",
                              now=marginal.clock.now())
    else:
        _overdue(marginal, guarantor)
    lines_before = count(marginal, credit_lines)
    try:
        guarantors.answer(platform=marginal, application_id=view["id"], accept=True, actor="test",
                          as_customer=guarantor.id)
    except MicrolendError:
        pass
    assert application_row(marginal, view["id"]).status != "approved"
    assert count(marginal, credit_lines) == lines_before


# --- downturn ------------------------------------------------------------------------------------------

@pytest.fixture
def scored(platform):
    install_demo_scorecard(platform)
    return platform


def test_downturn_makes_an_approved_band_marginal_and_cuts_its_limit(scored):
    """Every band behaves like the default band C: approved at 2 x income; in a downturn it needs risk
    sharing and its limit is cut to 70 %."""
    store_policy(scored, uniform_document(DEFAULT_BANDS["C"], downturn=DEFAULT_DOWNTURN["C"]))
    before = submit(scored, good_person(scored, 40))
    assert before["status"] == "approved" and before["offered_limit"] == "20000.00"

    switched = set_downturn(scored, True)
    assert (switched["name"], switched["version"], switched["document"]["downturn"]["on"]) == ("test-policy", 2, True)
    rejected = submit(scored, good_person(scored, 41))
    assert rejected["status"] == "rejected" and reason_codes(rejected) == ["risk_sharing_required"]
    insured = submit(scored, good_person(scored, 42), risk_sharing=PICC)
    assert insured["status"] == "approved" and insured["offered_limit"] == "14000.00"
    record = record_of(scored, insured["id"])
    assert record["versions"]["policy"]["version"] == 2
    downturn = [s for s in record["policy"]["steps"] if s["name"] == "downturn"][0]
    assert downturn["outcome"] == "applied" and downturn["detail"]["after"]["action"] == "risk_share"

    set_downturn(scored, False)
    after = submit(scored, good_person(scored, 43))
    assert after["status"] == "approved" and after["offered_limit"] == "20000.00"
    assert record_of(scored, after["id"])["versions"]["policy"]["version"] == 3


def test_downturn_cuts_the_limit_of_a_band_that_stays_approved(scored):
    store_policy(scored, uniform_document(DEFAULT_BANDS["B"], downturn=DEFAULT_DOWNTURN["B"]))
    assert submit(scored, good_person(scored, 44))["offered_limit"] == "25000.00"
    set_downturn(scored, True)
    view = submit(scored, good_person(scored, 45))
    assert view["status"] == "approved" and view["offered_limit"] == "22500.00"


def test_downturn_rejects_a_marginal_band(scored):
    store_policy(scored, uniform_document(MARGINAL, downturn=DEFAULT_DOWNTURN["D"]))
    assert submit(scored, good_person(scored, 46), risk_sharing=PICC)["status"] == "approved"
    set_downturn(scored, True)
    view = submit(scored, good_person(scored, 47), risk_sharing=PICC)
    assert view["status"] == "rejected" and reason_codes(view) == ["band_below_cutoff"]


def test_the_default_policy_switches_to_a_new_version(scored):
    shipped = default_policy()
    view = set_downturn(scored, True)
    assert (view["name"], view["version"], view["active"]) == (shipped.name, shipped.version + 1, True)
    application = submit(scored, good_person(scored, 48))
    record = record_of(scored, application["id"])
    assert record["versions"]["policy"]["version"] == shipped.version + 1
    assert [s["detail"]["on"] for s in record["policy"]["steps"] if s["name"] == "downturn"] == [True]
    with pytest.raises(ConflictError) as caught:
        set_downturn(scored, True)
    assert caught.value.code == "downturn_unchanged"
    assert set_downturn(scored, False)["version"] == shipped.version + 2
