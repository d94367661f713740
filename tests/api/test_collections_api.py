"""Collection cases over HTTP: staff only, errors naming the field, the happy path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_helpers import assert_error
from sqlalchemy import update

from microlend.services import collections
from microlend.store.tables import loan_installments, loans


@pytest.fixture
def case_id(client, staff, make_line, platform) -> int:
    """An open case: a drawn loan whose first installment is 5 days past due, synced by the COB step."""
    line = make_line()
    r = client.post(f"/v1/credit-lines/{line.id}/drawdowns", json={"amount": "5000", "term": 5}, headers=staff)
    assert r.status_code == 201, r.text
    loan_id = r.json()["loan_id"]
    today = platform.clock.business_date()
    with platform.engine.begin() as conn:
        conn.execute(update(loan_installments)
                     .where(loan_installments.c.loan_id == loan_id, loan_installments.c.number == 1)
                     .values(due_date=today - timedelta(days=5)))
        conn.execute(update(loans).where(loans.c.id == loan_id).values(dpd=5, bucket="M1"))
        assert collections.sync_cases(conn, business_date=today)["opened"] == 1
    return collections.list_cases(uow=platform.reader())[0].id


def test_borrower_is_refused_everything(client, auth, make_line, case_id):
    borrower = auth("borrower", make_line().customer_id)
    for r in (client.get("/v1/collections/cases", headers=borrower),
              client.get(f"/v1/collections/cases/{case_id}", headers=borrower),
              client.post(f"/v1/collections/cases/{case_id}/assign", json={"assignee": "me"}, headers=borrower),
              client.post(f"/v1/collections/cases/{case_id}/actions", json={"kind": "note", "note": "x"},
                          headers=borrower)):
        assert_error(r, 403, "forbidden", None)
    assert_error(client.get("/v1/collections/cases"), 401, "missing_api_key", "authorization")


def test_happy_path(client, staff, auth, platform, case_id):
    listed = client.get("/v1/collections/cases", headers=auth("admin"))
    assert listed.status_code == 200, listed.text
    [case] = listed.json()
    assert (case["id"], case["status"], case["bucket"], case["dpd"]) == (case_id, "open", "M1", 5)
    assert case["amount_overdue"] > "0" and case["amount_overdue"].count(".") == 1
    assert client.get("/v1/collections/cases?bucket=M2", headers=staff).json() == []
    assert client.get(f"/v1/collections/cases?after_id={case_id}", headers=staff).json() == []

    r = client.post(f"/v1/collections/cases/{case_id}/assign", json={"assignee": "zhang"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["assigned_to"] == "zhang"
    assert [c["id"] for c in client.get("/v1/collections/cases?assigned_to=zhang", headers=staff).json()] == [case_id]

    promise_date = str(platform.clock.business_date() + timedelta(days=3))
    r = client.post(f"/v1/collections/cases/{case_id}/actions", headers=staff,
                    json={"kind": "promise_to_pay", "promise_amount": "500", "promise_date": promise_date,
                          "outcome": "reached", "note": "will pay Friday"})
    assert r.status_code == 201, r.text
    action = r.json()
    assert (action["kind"], action["promise_amount"], action["promise_date"]) == ("promise_to_pay", "500.00",
                                                                                   promise_date)
    assert action["actor"].startswith("operator:")

    detail = client.get(f"/v1/collections/cases/{case_id}", headers=staff)
    assert detail.status_code == 200, detail.text
    assert detail.json()["assigned_to"] == "zhang"
    assert [a["kind"] for a in detail.json()["actions"]] == ["note", "promise_to_pay"]


def test_unknown_case_is_404(client, staff):
    assert_error(client.get("/v1/collections/cases/999", headers=staff), 404, "case_not_found", "case_id")
    assert_error(client.post("/v1/collections/cases/999/actions", json={"kind": "call"}, headers=staff),
                 404, "case_not_found", "case_id")
    assert_error(client.post("/v1/collections/cases/999/assign", json={"assignee": "li"}, headers=staff),
                 404, "case_not_found", "case_id")


@pytest.mark.parametrize("body,code,field", [
    ({"kind": "visit"}, "invalid_action_kind", "kind"),
    ({"kind": 3}, "invalid_action_kind", "kind"),
    ({}, "missing_field", "kind"),
    ({"kind": "promise_to_pay", "promise_amount": "10.001", "promise_date": "2026-03-12"},
     "invalid_amount", "promise_amount"),
    ({"kind": "promise_to_pay", "promise_amount": "-5", "promise_date": "2026-03-12"},
     "invalid_amount", "promise_amount"),
    ({"kind": "promise_to_pay", "promise_amount": "100"}, "missing_field", "promise_date"),
    ({"kind": "promise_to_pay", "promise_amount": "100", "promise_date": "2026-03-09"}, "invalid_date",
     "promise_date"),
    ({"kind": "call", "promise_date": "2026-03-12"}, "unexpected_field", "promise_date"),
    ({"kind": "call", "colour": "red"}, "unknown_field", "colour"),
])
def test_bad_action_names_the_field(client, staff, case_id, body, code, field):
    r = client.post(f"/v1/collections/cases/{case_id}/actions", json=body, headers=staff)
    assert_error(r, 422, code, field)
    assert [a["kind"] for a in client.get(f"/v1/collections/cases/{case_id}", headers=staff).json()["actions"]] == []


def test_bad_list_query(client, staff):
    assert_error(client.get("/v1/collections/cases?bucket=M9", headers=staff), 422, "invalid_field", "bucket")
    assert_error(client.get("/v1/collections/cases?limit=0", headers=staff), 422, "invalid_field", "limit")
    assert client.get("/v1/collections/cases?status=all", headers=staff).status_code == 200


def test_closed_case_refuses_actions(client, staff, platform, case_id):
    loan_id = collections.get_case(uow=platform.reader(), case_id=case_id).loan_id
    with platform.engine.begin() as conn:
        conn.execute(update(loans).where(loans.c.id == loan_id).values(dpd=0, bucket="current"))
        assert collections.sync_cases(conn, business_date=platform.clock.business_date())["closed"] == 1
    r = client.post(f"/v1/collections/cases/{case_id}/actions", json={"kind": "call"}, headers=staff)
    assert_error(r, 409, "case_closed", "case_id")
    closed = client.get("/v1/collections/cases?status=closed", headers=staff).json()
    assert [(c["id"], c["close_reason"]) for c in closed] == [(case_id, "cured")]
