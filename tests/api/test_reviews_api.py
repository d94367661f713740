"""The review queue over HTTP: staff only; claim, release, approve and reject with their 409s and 422s.

Decisions run origination's real settlement (a credit line on approval).
"""

from __future__ import annotations

import itertools
import json
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from api_helpers import assert_error
from sqlalchemy import insert, select, update

from microlend.api.routers import reviews as reviews_router
from microlend.security.masking import mask_bank_card, mask_id_number, mask_name, mask_phone
from microlend.services.origination import reviews
from microlend.simulation.people import make_person
from microlend.store.origination_tables import applications, decision_records
from microlend.store.tables import credit_lines

REASONS = [{"code": "no_score", "en": "No score", "zh": "无评分"}]
_people = itertools.count(1)


@pytest.fixture
def api(platform):
    """The app, with the review router included if the app does not register it (yet)."""
    from fastapi.testclient import TestClient

    from microlend.api.app import create_app

    pytest.importorskip("microlend.services.origination.settle", reason="origination's settle.py is not written yet")
    app = create_app(platform)
    if "/v1/reviews" not in {getattr(r, "path", None) for r in app.routes}:
        app.include_router(reviews_router.router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def referred(platform, *, limit: str | None = "8000.00") -> tuple[int, int]:
    """A referred application (with its decision record) and its case: (application id, case id)."""
    person = make_person(random.Random(5000 + next(_people)), on=date(2026, 3, 10))
    c, now = platform.cipher, platform.clock.now()
    with platform.uow() as uow:
        s = uow.session
        app_id = s.execute(insert(applications).values(
            status="review", name=person.name, id_number_token=c.encrypt(person.id_number, field="id_number"),
            id_number_hash=c.lookup_hash(person.id_number, field="id_number"),
            id_number_masked=mask_id_number(person.id_number),
            phone_token=c.encrypt(person.phone, field="phone"), phone_hash=c.lookup_hash(person.phone, field="phone"),
            phone_masked=mask_phone(person.phone), card_token=c.encrypt(person.bank_card, field="bank_card"),
            card_hash=c.lookup_hash(person.bank_card, field="bank_card"), card_masked=mask_bank_card(person.bank_card),
            device_hash="d" * 64, ip_hash="i" * 64, ip_masked="10.0.*.*", declared_income=Decimal("9000.00"),
            industry="retail", region=person.id_number[:2], product_code="REVOLVE", channel="test",
            created_by="test", created_at=now, offered_limit=Decimal(limit) if limit else None,
            offered_daily_rate=Decimal("0.0005") if limit else None).returning(applications.c.id)).scalar_one()
        record_id = s.execute(insert(decision_records).values(
            kind="application", application_id=app_id, decision="review", record="{}", rule_set="r",
            rule_set_version=1, rule_set_fingerprint="f", created_at=now).returning(decision_records.c.id)).scalar_one()
        s.execute(update(applications).where(applications.c.id == app_id).values(decision_record_id=record_id))
        case = reviews.open_case(uow=uow, application_id=app_id, reasons=REASONS, now=now)
        uow.commit()
    return app_id, case.id


def _key(auth, role: str):
    headers = auth(role)
    return headers, "{}:{}".format(role, headers["Authorization"].split("_")[1])


def test_staff_list_and_read_the_queue(api, platform, staff):
    first_app, first = referred(platform)
    platform.clock.current_time += timedelta(minutes=1)
    _, second = referred(platform)
    listed = api.get("/v1/reviews", headers=staff)
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()] == [first, second]
    assert listed.json()[0]["reasons"] == REASONS and listed.json()[0]["status"] == "open"
    assert "events" not in listed.json()[0]
    assert api.get("/v1/reviews?status=claimed", headers=staff).json() == []
    assert [c["id"] for c in api.get("/v1/reviews?status=open&limit=1&offset=1", headers=staff).json()] == [second]
    detail = api.get(f"/v1/reviews/{first}", headers=staff)
    assert detail.status_code == 200
    body = detail.json()
    assert body["application_id"] == first_app and body["events"][0]["action"] == "opened"
    assert body["events"][0]["actor"] == "system" and body["application"]["decision_record_id"] is not None
    assert body["application"]["offered_limit"] == "8000.00" and body["settlement"] is None


def test_bad_queries(api, staff):
    assert_error(api.get("/v1/reviews?status=lost", headers=staff), 422, "invalid_status", "status")
    assert api.get("/v1/reviews?limit=0", headers=staff).status_code == 422
    assert_error(api.get("/v1/reviews/77", headers=staff), 404, "review_case_not_found", "case_id")
    assert api.get("/v1/reviews/0", headers=staff).status_code == 422


def test_only_staff_see_the_queue(api, platform, auth, make_customer):
    _, case_id = referred(platform)
    borrower = auth("borrower", make_customer().id)
    assert_error(api.get("/v1/reviews"), 401, "missing_api_key", "authorization")
    for method, path, body in (("get", "/v1/reviews", None), ("get", f"/v1/reviews/{case_id}", None),
                               ("post", f"/v1/reviews/{case_id}/claim", None),
                               ("post", f"/v1/reviews/{case_id}/release", None),
                               ("post", f"/v1/reviews/{case_id}/approve", {"note": "x"}),
                               ("post", f"/v1/reviews/{case_id}/reject", {"note": "x"})):
        resp = api.request(method.upper(), path, headers=borrower, json=body)
        assert_error(resp, 403, "forbidden", None)
    assert reviews.get_case(platform.reader(), case_id).status == "open"


def test_claim_release_and_approve(api, platform, auth):
    app_id, case_id = referred(platform)
    anna, anna_actor = _key(auth, "operator")
    bo, _ = _key(auth, "operator")
    claimed = api.post(f"/v1/reviews/{case_id}/claim", headers=anna)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == anna_actor
    assert api.post(f"/v1/reviews/{case_id}/claim", headers=anna).status_code == 200  # again: a no-op
    assert_error(api.post(f"/v1/reviews/{case_id}/claim", headers=bo), 409, "review_claimed", "case_id")
    assert_error(api.post(f"/v1/reviews/{case_id}/release", headers=bo), 409, "review_claimed", "case_id")
    assert_error(api.post(f"/v1/reviews/{case_id}/approve", headers=bo, json={"note": "mine now"}), 409,
                 "review_claimed", "case_id")
    released = api.post(f"/v1/reviews/{case_id}/release", headers=anna, json={"note": "over to bo"})
    assert released.status_code == 200 and released.json()["status"] == "open"
    assert_error(api.post(f"/v1/reviews/{case_id}/approve", headers=bo, json={"note": "ok"}), 409,
                 "review_not_claimed", "case_id")
    api.post(f"/v1/reviews/{case_id}/claim", headers=bo)
    approved = api.post(f"/v1/reviews/{case_id}/approve", headers=bo, json={"note": "payslips fine", "limit": "5000"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["note"] == "payslips fine"
    assert body["application"]["status"] == "approved"
    assert [e["action"] for e in body["events"]] == ["opened", "claimed", "released", "claimed", "approved"]
    assert body["settlement"]["credit_line_id"] is not None
    with platform.reader() as uow:
        line = uow.session.execute(select(credit_lines).where(
            credit_lines.c.id == body["settlement"]["credit_line_id"])).one()
    assert line.limit == Decimal("5000.00")
    assert_error(api.post(f"/v1/reviews/{case_id}/reject", headers=bo, json={"note": "changed my mind"}), 409,
                 "review_closed", "case_id")
    with platform.reader() as uow:
        assert uow.session.execute(select(applications.c.status).where(applications.c.id == app_id)).scalar() \
            == "approved"


def test_reject(api, platform, staff):
    app_id, case_id = referred(platform)
    api.post(f"/v1/reviews/{case_id}/claim", headers=staff)
    rejected = api.post(f"/v1/reviews/{case_id}/reject", headers=staff, json={"note": "edited statements"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["events"][-1]["note"] == "edited statements"
    with platform.reader() as uow:
        assert uow.session.execute(select(applications.c.status).where(applications.c.id == app_id)).scalar() \
            == "rejected"


def test_an_admin_decides_a_case_someone_else_claimed(api, platform, auth, staff):
    _, case_id = referred(platform)
    api.post(f"/v1/reviews/{case_id}/claim", headers=staff)
    admin, admin_actor = _key(auth, "admin")
    resp = api.post(f"/v1/reviews/{case_id}/reject", headers=admin, json={"note": "operator on leave"})
    assert resp.status_code == 200 and resp.json()["decided_by"] == admin_actor
    _, other = referred(platform)
    api.post(f"/v1/reviews/{other}/claim", headers=staff)
    released = api.post(f"/v1/reviews/{other}/release", headers=admin)
    assert released.status_code == 200 and released.json()["status"] == "open"


def test_decisions_need_a_note_and_a_good_limit(api, platform, staff):
    _, case_id = referred(platform)
    api.post(f"/v1/reviews/{case_id}/claim", headers=staff)
    url = f"/v1/reviews/{case_id}/approve"
    assert_error(api.post(url, headers=staff, json={}), 422, "missing_field", "note")
    assert_error(api.post(url, headers=staff, json={"note": "  "}), 422, "invalid_note", "note")
    assert_error(api.post(url, headers=staff, json={"note": "n" * 1001}), 422, "invalid_note", "note")
    assert_error(api.post(url, headers=staff, json={"note": "ok", "limit": "-5"}), 422, "invalid_amount", "limit")
    assert_error(api.post(url, headers=staff, json={"note": "ok", "limit": "lots"}), 422, "invalid_amount", "limit")
    assert_error(api.post(url, headers=staff, json={"note": "ok", "extra": 1}), 422, "unknown_field", "extra")
    assert_error(api.post(f"/v1/reviews/{case_id}/reject", headers=staff, json={"note": "x", "limit": "10"}), 422,
                 "unknown_field", "limit")
    assert reviews.get_case(platform.reader(), case_id).status == "claimed"


def test_approving_without_an_offer(api, platform, auth, staff):
    _, case_id = referred(platform, limit=None)
    api.post(f"/v1/reviews/{case_id}/claim", headers=staff)
    assert_error(api.post(f"/v1/reviews/{case_id}/approve", headers=staff, json={"note": "ok"}), 422,
                 "offer_required", "limit")
    # a limit where the decision offered none overrides the policy: an administrator's call
    assert_error(api.post(f"/v1/reviews/{case_id}/approve", headers=staff, json={"note": "ok", "limit": "2000"}),
                 403, "limit_above_offer", "limit")
    ok = api.post(f"/v1/reviews/{case_id}/approve", headers=auth("admin"), json={"note": "ok", "limit": "2000"})
    assert ok.status_code == 200, ok.text
    assert "administrator override" in ok.json()["events"][-1]["note"]


def test_unknown_case_actions(api, staff):
    for action, body in (("claim", None), ("release", None), ("approve", {"note": "x"}), ("reject", {"note": "x"})):
        assert_error(api.post(f"/v1/reviews/4242/{action}", headers=staff, json=body), 404, "review_case_not_found",
                     "case_id")


def test_a_referred_application_reaches_the_queue(api, platform, staff):
    """End to end: an application whose data sources time out is referred, queued and decided."""
    person = make_person(random.Random(77), on=date(2026, 3, 10))
    platform.kyc.steer(person.id_number, "timeout")  # no data: referred, whatever the person's credit history
    platform.bureau.steer(person.id_number, "timeout")
    platform.statements.steer(person.id_number, "timeout")
    body = {"name": person.name, "id_number": person.id_number, "phone": person.phone, "bank_card": person.bank_card,
            "device_id": "dev-review-1", "ip": "10.1.2.3", "declared_income": "12000", "industry": "retail",
            "region": person.id_number[:2], "consent": {"given": True, "text_version": "v1"}}
    resp = api.post("/v1/applications", headers=staff, json=body)
    if resp.status_code == 404 and resp.json()["error"]["code"] == "not_found":
        pytest.skip("POST /v1/applications is not registered yet")
    assert resp.status_code == 201, resp.text
    app = resp.json()
    assert app["status"] == "review", json.dumps(app)[:2000]
    [case] = [c for c in api.get("/v1/reviews", headers=staff).json() if c["application_id"] == app["id"]]
    assert case["status"] == "open" and case["reasons"]
    api.post(f"/v1/reviews/{case['id']}/claim", headers=staff)
    decided = api.post(f"/v1/reviews/{case['id']}/reject", headers=staff, json={"note": "could not verify identity"})
    assert decided.status_code == 200, decided.text
    assert api.get(f"/v1/applications/{app['id']}", headers=staff).json()["status"] == "rejected"


# --- review findings: the policy's offer, the applicant's name, notes that cannot be stored ------------------

def test_an_operator_cannot_raise_the_limit_above_the_offer(api, platform, auth, staff):
    app_id, case_id = referred(platform)
    api.post(f"/v1/reviews/{case_id}/claim", headers=staff)
    url = f"/v1/reviews/{case_id}/approve"
    error = assert_error(api.post(url, headers=staff, json={"note": "looks fine", "limit": "200000"}), 403,
                         "limit_above_offer", "limit")
    assert "8000.00" in error["message"]
    detail = api.get(f"/v1/reviews/{case_id}", headers=staff).json()
    assert detail["status"] == "claimed" and detail["application"]["status"] == "review"
    with platform.reader() as uow:
        assert uow.session.execute(select(credit_lines)).first() is None
    admin = auth("admin")
    approved = api.post(url, headers=admin, json={"note": "board approved", "limit": "20000"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["settlement"]["offered_limit"] == "20000.00" and body["note"] == "board approved"
    assert body["events"][-1]["note"] == ("board approved [limit 20000.00 above the offered 8000.00: "
                                          "administrator override of the policy]")


def test_an_operator_may_approve_a_lower_limit(api, platform, staff):
    _, case_id = referred(platform)
    api.post(f"/v1/reviews/{case_id}/claim", headers=staff)
    ok = api.post(f"/v1/reviews/{case_id}/approve", headers=staff, json={"note": "thin file", "limit": "3000"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["events"][-1]["note"] == "thin file [limit 3000.00 below the offered 8000.00]"


def test_a_case_masks_the_applicants_name(api, platform, staff):
    app_id, case_id = referred(platform)
    with platform.reader() as uow:
        full = uow.session.execute(select(applications.c.name).where(applications.c.id == app_id)).scalar_one()
    detail = api.get(f"/v1/reviews/{case_id}", headers=staff)
    assert detail.json()["application"]["name"] == mask_name(full)
    assert full not in detail.text and full not in api.post(f"/v1/reviews/{case_id}/claim", headers=staff).text


@pytest.mark.parametrize("action", ["release", "approve", "reject"])
def test_a_note_with_a_lone_surrogate_is_a_422(api, platform, staff, action):
    _, case_id = referred(platform)
    api.post(f"/v1/reviews/{case_id}/claim", headers=staff)
    resp = api.post(f"/v1/reviews/{case_id}/{action}", content=json.dumps({"note": "a\ud800b"}),
                    headers={**staff, "Content-Type": "application/json"})
    assert_error(resp, 422, "invalid_note", "note")
    assert api.get(f"/v1/reviews/{case_id}", headers=staff).json()["status"] == "claimed"
