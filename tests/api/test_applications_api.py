"""Applications and the credit policy over HTTP: who may submit, list and read (a borrower sees only
their own decision and reasons), the guarantor's answer, policy versions and the downturn switch,
bad bodies answered with the field at fault, and Idempotency-Key replays."""

from __future__ import annotations

import pytest
from api_helpers import assert_error
from origination_helpers import DEFAULT_BANDS, body, good_person, steer_good, store_policy, uniform_document

from microlend.rules.policy import default_policy
from microlend.simulation.demo_model import install_demo_scorecard

#: What an applicant (or a guarantor) may see of an application; everything else is null for them.
BORROWER_FIELDS = {"id", "status", "created_at", "decided_at", "customer_id", "credit_line_id", "offered_limit",
                   "offered_daily_rate", "reasons"}


@pytest.fixture(autouse=True)
def champion(platform):
    install_demo_scorecard(platform)


def apply(client, headers, payload, key: str | None = None):
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}
    return client.post("/v1/applications", json=payload, headers=headers)


def approved(client, staff, platform, n: int) -> dict:
    response = apply(client, staff, body(good_person(platform, n)))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved", response.json()["reasons"]
    return response.json()


# --- submitting ------------------------------------------------------------------------------------

def test_staff_submit_and_get_the_decision_at_once(client, staff, auth, platform):
    for n, headers in [(1, staff), (2, auth("admin"))]:
        response = apply(client, headers, body(good_person(platform, n)))
        assert response.status_code == 201, response.text
        view = response.json()
        assert view["status"] == "approved" and view["credit_line_id"] is not None
        assert view["decision_record"]["decision"]["status"] == "approved"
        assert view["created_by"].startswith(("operator:", "admin:"))
        assert "*" in view["id_number"] and "*" in view["phone"] and "*" in view["bank_card"]
        assert view["declared_income"] == "10000.00" and view["ip"].endswith(".*")


def test_a_borrower_cannot_submit(client, auth, make_customer, platform):
    customer = make_customer()
    response = apply(client, auth("borrower", customer.id), body(good_person(platform, 3)))
    assert_error(response, 403, "forbidden", None)
    assert platform.bureau.queries == []


def test_an_unauthenticated_request_is_refused(client, platform):
    assert client.post("/v1/applications", json=body(good_person(platform, 4))).status_code == 401
    assert client.get("/v1/applications").status_code == 401


# --- reading ---------------------------------------------------------------------------------------

def test_staff_list_applications_newest_first_with_a_filter(client, staff, platform):
    first = approved(client, staff, platform, 5)
    who = good_person(platform, 6)
    platform.bureau.steer(who.id_number, "timeout")
    referred = apply(client, staff, body(who)).json()
    listed = client.get("/v1/applications", headers=staff)
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [referred["id"], first["id"]]
    assert all(a["decision_record"] is None for a in listed.json())
    only = client.get("/v1/applications", params={"status": "review"}, headers=staff).json()
    assert [a["id"] for a in only] == [referred["id"]]
    assert [a["id"] for a in client.get("/v1/applications", params={"limit": 1, "offset": 1},
                                        headers=staff).json()] == [first["id"]]


def test_a_borrower_cannot_list(client, auth, make_customer):
    assert_error(client.get("/v1/applications", headers=auth("borrower", make_customer().id)), 403, "forbidden", None)


def test_staff_read_an_application_with_its_decision_record(client, staff, platform):
    view = approved(client, staff, platform, 7)
    read = client.get(f"/v1/applications/{view['id']}", headers=staff)
    assert read.status_code == 200
    assert read.json()["decision_record"] == view["decision_record"]
    assert read.json()["decision_record_id"] == view["decision_record_id"]


def test_the_applicant_sees_only_the_decision_and_reasons(client, staff, auth, platform):
    view = approved(client, staff, platform, 8)
    read = client.get(f"/v1/applications/{view['id']}", headers=auth("borrower", view["customer_id"]))
    assert read.status_code == 200, read.text
    mine = read.json()
    assert {k for k, v in mine.items() if v is not None} <= BORROWER_FIELDS
    assert mine["decision_record"] is None and mine["score"] is None and mine["id_number"] is None
    assert (mine["id"], mine["status"], mine["offered_limit"]) == (view["id"], "approved", view["offered_limit"])
    assert mine["reasons"] == view["reasons"]


def test_another_borrower_gets_not_found(client, staff, auth, platform, make_customer):
    view = approved(client, staff, platform, 9)
    other = approved(client, staff, platform, 10)
    for headers in (auth("borrower", make_customer().id), auth("borrower", other["customer_id"])):
        assert_error(client.get(f"/v1/applications/{view['id']}", headers=headers), 404, "application_not_found",
                     "application_id")


def test_an_unknown_application_is_not_found(client, staff):
    assert_error(client.get("/v1/applications/424242", headers=staff), 404, "application_not_found",
                 "application_id")
    assert client.get("/v1/applications/0", headers=staff).status_code == 422


# --- the guarantor's answer --------------------------------------------------------------------------

def test_the_guarantor_endpoint_roles(client, staff, auth, platform, make_customer):
    store_policy(platform, uniform_document({**DEFAULT_BANDS["D"], "action": "risk_share"}))
    guarantor, stranger = make_customer(), make_customer()
    payload = body(good_person(platform, 11), risk_sharing={"kind": "guarantor",
                                                            "guarantor_customer_id": guarantor.id})
    view = apply(client, staff, payload).json()
    assert view["status"] == "awaiting_guarantor"
    url = f"/v1/applications/{view['id']}/guarantor"
    assert client.post(url, json={"accept": True}).status_code == 401
    assert_error(client.post(url, json={"accept": True}, headers=auth("borrower", stranger.id)), 404,
                 "guarantor_not_found", "application_id")
    assert_error(client.post(url, json={"accept": "yes please"}, headers=staff), 422, "invalid_field", "accept")
    assert_error(client.post(url, json={}, headers=staff), 422, "missing_field", "accept")
    answered = client.post(url, json={"accept": True}, headers=auth("borrower", guarantor.id))
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "approved" and answered.json()["decision_record"] is None
    assert_error(client.post(url, json={"accept": True}, headers=staff), 403, "forbidden", None)
    assert_error(client.post(url, json={"accept": True}, headers=auth("admin")), 409,
                 "application_not_awaiting_guarantor", "application_id")


# --- policy --------------------------------------------------------------------------------------------

def test_staff_read_the_active_policy(client, staff, auth, make_customer):
    read = client.get("/v1/policy", headers=staff)
    assert read.status_code == 200
    shipped = default_policy()
    assert (read.json()["name"], read.json()["version"], read.json()["fingerprint"]) == (
        shipped.name, shipped.version, shipped.fingerprint)
    assert read.json()["document"] == shipped.to_document()
    assert_error(client.get("/v1/policy", headers=auth("borrower", make_customer().id)), 403, "forbidden", None)


def test_only_an_admin_stores_a_policy(client, staff, auth):
    document = uniform_document(DEFAULT_BANDS["B"], name="api-policy")
    assert_error(client.post("/v1/policy", json={"document": document}, headers=staff), 403, "forbidden", None)
    admin = auth("admin")
    stored = client.post("/v1/policy", json={"document": document, "note": "all bands as B"}, headers=admin)
    assert stored.status_code == 201, stored.text
    assert (stored.json()["name"], stored.json()["version"], stored.json()["active"]) == ("api-policy", 1, True)
    assert stored.json()["created_by"].startswith("admin:") and stored.json()["note"] == "all bands as B"
    assert client.get("/v1/policy", headers=staff).json()["name"] == "api-policy"
    again = client.post("/v1/policy", json={"document": document}, headers=admin)
    assert_error(again, 409, "policy_exists", "version")
    versions = client.get("/v1/policy/versions", headers=staff).json()
    assert [(v["name"], v["version"], v["active"]) for v in versions] == [("api-policy", 1, True)]


def test_an_invalid_policy_names_the_path(client, auth):
    document = uniform_document(DEFAULT_BANDS["B"])
    document["bands"]["A"]["action"] = "maybe"
    assert_error(client.post("/v1/policy", json={"document": document}, headers=auth("admin")), 422,
                 "invalid_policy", "$.bands.A.action")


def test_only_an_admin_switches_downturn_mode(client, staff, auth, platform):
    assert_error(client.post("/v1/policy/downturn", json={"on": True}, headers=staff), 403, "forbidden", None)
    admin = auth("admin")
    on = client.post("/v1/policy/downturn", json={"on": True, "note": "recession"}, headers=admin)
    assert on.status_code == 200, on.text
    assert on.json()["version"] == default_policy().version + 1 and on.json()["document"]["downturn"]["on"] is True
    assert client.get("/v1/policy", headers=staff).json()["version"] == on.json()["version"]
    assert_error(client.post("/v1/policy/downturn", json={"on": True}, headers=admin), 409, "downturn_unchanged", "on")
    off = client.post("/v1/policy/downturn", json={"on": False}, headers=admin)
    assert off.json()["version"] == on.json()["version"] + 1 and off.json()["document"]["downturn"]["on"] is False
    assert_error(client.post("/v1/policy/downturn", json={}, headers=admin), 422, "missing_field", "on")


# --- bad bodies -------------------------------------------------------------------------------------------

def _without(payload: dict, name: str) -> dict:
    return {k: v for k, v in payload.items() if k != name}


@pytest.mark.parametrize(("change", "code", "field"), [
    (lambda b: {**b, "consent": {"given": False, "text_version": "v1"}}, "consent_required", "consent.given"),
    (lambda b: {**b, "consent": {"text_version": "v1"}}, "missing_field", "consent.given"),
    (lambda b: {**b, "consent": {"given": True}}, "missing_field", "consent.text_version"),
    (lambda b: _without(b, "id_number"), "missing_field", "id_number"),
    (lambda b: {**b, "id_number": b["id_number"][:-1] + ("1" if b["id_number"][-1] != "1" else "2")},
     "invalid_id_checksum", "id_number"),
    (lambda b: {**b, "phone": "555"}, "invalid_phone", "phone"),
    (lambda b: {**b, "bank_card": b["bank_card"][:-1] + str((int(b["bank_card"][-1]) + 1) % 10)},
     "invalid_bank_card_checksum", "bank_card"),
    (lambda b: {**b, "ip": "1.2.3"}, "invalid_ip", "ip"),
    (lambda b: {**b, "region": "00"}, "invalid_region", "region"),
    (lambda b: {**b, "device_id": "x"}, "invalid_device_id", "device_id"),
    (lambda b: {**b, "declared_income": "lots"}, "invalid_amount", "declared_income"),
    (lambda b: {**b, "declared_income": "100.001"}, "invalid_amount", "declared_income"),
    (lambda b: {**b, "declared_income": "-1"}, "invalid_amount", "declared_income"),
    (lambda b: {**b, "favourite_colour": "red"}, "unknown_field", "favourite_colour"),
    (lambda b: {**b, "risk_sharing": {"kind": "barter"}}, "invalid_field", "risk_sharing.kind"),
    (lambda b: {**b, "risk_sharing": {"kind": "collateral", "collateral_kind": "car", "collateral_value": "-5"}},
     "invalid_amount", "risk_sharing.collateral_value"),
    (lambda b: {**b, "risk_sharing": {"kind": "insurance", "insurer": "picc"}}, "invalid_risk_sharing",
     "risk_sharing.policy_number"),
])
def test_a_bad_body_names_the_field(client, staff, platform, change, code, field):
    who = good_person(platform, 12)
    response = apply(client, staff, change(body(who)))
    assert_error(response, 422, code, field)
    assert platform.bureau.queries == []
    assert client.get("/v1/applications", headers=staff).json() == []


def test_a_body_without_any_consent_is_consent_required(client, staff, platform):
    response = apply(client, staff, _without(body(good_person(platform, 13)), "consent"))
    assert_error(response, 422, "consent_required", "consent.given")


def test_a_body_without_any_consent_is_refused_before_any_query(client, staff, platform):
    response = apply(client, staff, _without(body(good_person(platform, 13)), "consent"))
    assert response.status_code == 422 and response.json()["error"]["field"].startswith("consent")
    assert platform.bureau.queries == []


def test_a_non_object_body_is_refused(client, staff):
    assert_error(client.post("/v1/applications", json=[1, 2], headers=staff), 422, "invalid_body", None)
    response = client.post("/v1/applications", content=b"{not json", headers={**staff,
                                                                             "Content-Type": "application/json"})
    assert_error(response, 400, "malformed_json", None)


# --- idempotency ---------------------------------------------------------------------------------------

def test_a_replayed_key_returns_the_same_application(client, staff, platform):
    payload = body(good_person(platform, 14))
    first = apply(client, staff, payload, key="app-key-1")
    again = apply(client, staff, payload, key="app-key-1")
    assert first.status_code == again.status_code == 201
    without_record = {k: v for k, v in first.json().items() if k != "decision_record"}
    assert {k: v for k, v in again.json().items() if k != "decision_record"} == without_record
    assert len(client.get("/v1/applications", headers=staff).json()) == 1
    assert len(platform.bureau.queries) == 1


def test_a_replayed_key_returns_the_same_body(client, staff, platform):
    payload = body(good_person(platform, 15))
    first = apply(client, staff, payload, key="app-key-2")
    again = apply(client, staff, payload, key="app-key-2")
    assert again.json() == first.json()


def test_a_key_reused_with_another_body_is_refused(client, staff, platform):
    who = good_person(platform, 16)
    assert apply(client, staff, body(who), key="app-key-3").status_code == 201
    response = apply(client, staff, body(who, declared_income="9000.00"), key="app-key-3")
    assert_error(response, 409, "idempotency_key_reused", "Idempotency-Key")
    assert len(client.get("/v1/applications", headers=staff).json()) == 1


def test_keys_are_per_api_key(client, staff, auth, platform):
    other_staff = auth("operator")
    one = apply(client, staff, body(good_person(platform, 17)), key="shared-key").json()
    two = apply(client, other_staff, body(good_person(platform, 18)), key="shared-key").json()
    assert one["id"] != two["id"]


def test_a_bad_idempotency_key_is_refused(client, staff, platform):
    assert_error(apply(client, staff, body(good_person(platform, 19)), key="has space"), 422,
                 "invalid_idempotency_key", "Idempotency-Key")


def test_a_second_application_with_an_open_line_is_refused(client, staff, platform):
    who = good_person(platform, 20)
    assert apply(client, staff, body(who)).json()["status"] == "approved"
    steer_good(platform, who)
    assert_error(apply(client, staff, body(who)), 409, "line_exists", "id_number")
