"""Authentication and authorization over HTTP: API keys, roles, and what a
borrower may see of other customers (nothing: their records answer 404)."""

from __future__ import annotations

import random
from datetime import date

import pytest
from api_helpers import assert_error
from origination_helpers import DEFAULT_BANDS, good_person, review_case, store_policy, uniform_document
from origination_helpers import body as application_body
from test_models_api import scorecard

from microlend.rules.policy import default_policy
from microlend.security.api_keys import Role
from microlend.services import keys, models
from microlend.services.origination import block_list, rule_sets
from microlend.simulation.demo_model import install_demo_scorecard
from microlend.simulation.people import make_person

TODAY = date(2026, 3, 10)


def person(n: int):
    return make_person(random.Random(n), on=TODAY)


def draw(client, headers, line_id: int, amount: str = "10000", term: int = 10) -> dict:
    r = client.post(f"/v1/credit-lines/{line_id}/drawdowns", json={"amount": amount, "term": term}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


# --- keys ---------------------------------------------------------------------
def test_missing_key_is_401_with_challenge(client):
    r = client.get("/v1/me")
    assert_error(r, 401, "missing_api_key", "authorization")
    assert r.headers["www-authenticate"] == "Bearer"


def test_empty_x_api_key_counts_as_missing(client):
    assert_error(client.get("/v1/me", headers={"X-API-Key": ""}), 401, "missing_api_key", "authorization")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token mlk_abc_def", "mlk_abc_def"])
def test_malformed_authorization_header(client, header):
    r = client.get("/v1/me", headers={"Authorization": header})
    assert_error(r, 401, "invalid_api_key", "authorization")
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["garbage", "mlk_", "mlk__secret", "mlk_abc_", "xyz_abc_def", "mlk abc def"])
def test_malformed_token(client, token):
    assert_error(client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "invalid_api_key",
                 "authorization")
    assert_error(client.get("/v1/me", headers={"X-API-Key": token}), 401, "invalid_api_key", "authorization")


def test_unknown_key_and_wrong_secret(client, auth):
    token = auth("operator")["Authorization"].split(" ", 1)[1]
    _, key_id, secret = token.split("_", 2)
    for bad in (f"mlk_ffffffffffff_{secret}", f"mlk_{key_id}_{secret[:-1]}x", f"mlk_{key_id}_wrong"):
        if bad == token:
            continue
        assert_error(client.get("/v1/me", headers={"Authorization": f"Bearer {bad}"}), 401, "invalid_api_key",
                     "authorization")
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_revoked_key_is_refused(client, platform):
    new = keys.create_key(uow=platform.uow(), clock=platform.clock, role=Role.OPERATOR, name="to be revoked")
    headers = {"Authorization": f"Bearer {new.token}"}
    assert client.get("/v1/me", headers=headers).status_code == 200
    with platform.uow() as uow:
        uow.api_keys.revoke_named("to be revoked", at=platform.clock.now())
        uow.commit()
    assert_error(client.get("/v1/me", headers=headers), 401, "invalid_api_key", "authorization")
    assert_error(client.get("/v1/customers", headers={"X-API-Key": new.token}), 401, "invalid_api_key",
                 "authorization")


def test_x_api_key_header_works(client, auth):
    token = auth("operator")["Authorization"].split(" ", 1)[1]
    r = client.get("/v1/me", headers={"X-API-Key": token})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "operator"
    assert client.get("/v1/customers", headers={"X-API-Key": token}).status_code == 200


def test_bearer_scheme_is_case_insensitive(client, auth):
    token = auth("admin")["Authorization"].split(" ", 1)[1]
    assert client.get("/v1/me", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_me_describes_the_key(client, auth, make_customer):
    customer = make_customer()
    for role, cid in (("admin", None), ("operator", None), ("borrower", customer.id)):
        headers = auth(role, cid)
        key_id = headers["Authorization"].split(" ", 1)[1].split("_", 2)[1]
        r = client.get("/v1/me", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"key_id": key_id, "role": role, "customer_id": cid, "name": f"test {role}"}


def test_admin_issues_keys_that_work(client, auth, make_customer):
    customer = make_customer()
    admin = auth("admin")
    r = client.post("/v1/api-keys", json={"role": "borrower", "name": "app", "customer_id": customer.id},
                    headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["role"] == "borrower" and body["customer_id"] == customer.id and body["token"].startswith("mlk_")
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).json()
    assert me["key_id"] == body["key_id"] and me["customer_id"] == customer.id

    assert_error(client.post("/v1/api-keys", json={"role": "borrower", "name": "x"}, headers=admin),
                 422, "customer_required", "customer_id")
    assert_error(client.post("/v1/api-keys", json={"role": "operator", "name": "x", "customer_id": customer.id},
                             headers=admin), 422, "customer_not_allowed", "customer_id")
    assert_error(client.post("/v1/api-keys", json={"role": "borrower", "name": "x", "customer_id": 999999},
                             headers=admin), 404, "customer_not_found", "customer_id")
    assert_error(client.post("/v1/api-keys", json={"role": "root", "name": "x"}, headers=admin),
                 422, "invalid_field", "role")


# --- public endpoints -----------------------------------------------------------
def test_health_needs_no_key(client):
    r = client.get("/v1/health")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "business_date": "2026-03-10"}


def test_openapi_and_docs_are_served(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["info"]["title"] == "Microlend"
    assert "/v1/credit-lines/{line_id}/drawdowns" in spec["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"] and "swagger" in docs.text.lower()


def test_unknown_path_and_wrong_method(client, auth):
    assert_error(client.get("/v1/nowhere", headers=auth("admin")), 404, "not_found", None)
    assert_error(client.delete("/v1/customers", headers=auth("admin")), 405, "method_not_allowed", None)


# --- role matrix ------------------------------------------------------------------
# (method, path template, body, who[, placeholders]); who: "s" = staff only, "a" = admin only, "*" = everyone.
# ``placeholders`` maps a placeholder of the template to another key of the test's ids, where two
# operations share a placeholder name for different things (a collections case and a review case).
# Rows run in this order, so state-changing ones are ordered for every role's run to succeed.
ALL, STAFF, ADMIN = "*", "s", "a"
#: The guarantor's own (borrower) key or an admin recording a written answer; an operator may not vouch.
GUARANTOR = "g"
RULES = {"name": "rules"}  # the matrix's rule set, not the model called "default"
MATRIX = [
    ("GET", "/v1/health", None, ALL),
    ("GET", "/v1/me", None, ALL),
    ("GET", "/v1/products", None, ALL),
    ("GET", "/v1/products/{code}", None, ALL),
    ("POST", "/v1/products", {"code": "MATRIX{n}", "name": "Matrix product"}, ADMIN),
    ("POST", "/v1/api-keys", {"role": "operator", "name": "matrix"}, ADMIN),
    ("POST", "/v1/quotes", {"amount": "1000", "term": 5}, ALL),
    ("GET", "/v1/ledger/trial-balance", None, STAFF),
    ("POST", "/v1/customers", "new_customer", STAFF),
    ("GET", "/v1/customers", None, STAFF),
    ("GET", "/v1/customers/{customer_id}", None, ALL),
    ("PUT", "/v1/customers/{customer_id}/bank-card", "card", ALL),
    ("GET", "/v1/customers/{customer_id}/credit-lines", None, ALL),
    ("GET", "/v1/customers/{customer_id}/loans", None, ALL),
    ("POST", "/v1/credit-lines", "new_line", STAFF),
    ("GET", "/v1/credit-lines/{line_id}", None, ALL),
    ("GET", "/v1/credit-lines/{line_id}/events", None, ALL),
    ("POST", "/v1/credit-lines/{line_id}/freeze", {"reason": "matrix"}, STAFF),
    ("POST", "/v1/credit-lines/{line_id}/unfreeze", {"reason": "matrix"}, STAFF),
    ("POST", "/v1/credit-lines/{line_id}/limit", {"limit": "30000", "reason": "matrix"}, STAFF),
    ("POST", "/v1/credit-lines/{line_id}/drawdowns", "drawdown", ALL),  # from the customer's known device
    ("GET", "/v1/drawdowns/{drawdown_id}", None, ALL),
    ("GET", "/v1/loans/{loan_id}", None, ALL),
    ("GET", "/v1/loans/{loan_id}/schedule", None, ALL),
    ("GET", "/v1/loans/{loan_id}/payoff-quote", None, ALL),
    ("POST", "/v1/loans/{loan_id}/repayments", {"amount": "100.00"}, ALL),
    ("GET", "/v1/loans/{loan_id}/repayments", None, ALL),
    ("GET", "/v1/loans/{loan_id}/reconciliation", None, STAFF),
    ("GET", "/v1/collections/cases", None, STAFF),
    ("GET", "/v1/collections/cases/{case_id}", None, STAFF),
    ("POST", "/v1/collections/cases/{case_id}/assign", {"assignee": "matrix"}, STAFF),
    ("POST", "/v1/collections/cases/{case_id}/actions", {"kind": "call"}, STAFF),
    ("GET", "/v1/cob/runs", None, STAFF),
    ("GET", "/v1/cob/runs/{business_date}", None, STAFF),
    ("GET", "/v1/cob/report", None, STAFF),
    ("POST", "/v1/cob/runs", {"date": "2026-03-11"}, ADMIN),
    ("GET", "/v1/models", None, STAFF),
    ("POST", "/v1/models", "model", ADMIN),
    ("GET", "/v1/models/{name}/{version}", None, STAFF),
    ("POST", "/v1/models/{name}/{version}/promote", {}, ADMIN),  # v1, the champion already: 200, unchanged
    # run on v2, a challenger (the champion cannot be retired)
    ("POST", "/v1/models/{name}/{version}/retire", {}, ADMIN, {"version": "challenger"}),
    ("POST", "/v1/scores", {"applicant": {"income": 150, "home": "own"}}, STAFF),
    # origination: applications (the customer's own approved one; another awaiting this customer as guarantor)
    ("POST", "/v1/applications", "application", STAFF),
    ("GET", "/v1/applications", None, STAFF),
    ("GET", "/v1/applications/{application_id}", None, ALL),
    ("POST", "/v1/applications/{application_id}/guarantor", {"accept": True}, GUARANTOR,
     {"application_id": "guaranteed_id"}),
    ("GET", "/v1/policy", None, STAFF),
    ("GET", "/v1/policy/versions", None, STAFF),
    ("POST", "/v1/policy", "policy", ADMIN),
    ("POST", "/v1/policy/downturn", {"on": True, "note": "matrix"}, ADMIN),
    # the review queue: claim then approve one case; release and reject cases the caller claimed beforehand
    ("GET", "/v1/reviews", None, STAFF),
    ("GET", "/v1/reviews/{case_id}", None, STAFF, {"case_id": "review_id"}),
    ("POST", "/v1/reviews/{case_id}/claim", {}, STAFF, {"case_id": "review_id"}),
    ("POST", "/v1/reviews/{case_id}/approve", {"note": "matrix", "limit": "5000"}, STAFF,  # below the offer
     {"case_id": "review_id"}),
    ("POST", "/v1/reviews/{case_id}/release", {"note": "matrix"}, STAFF, {"case_id": "claimed_review_id"}),
    ("POST", "/v1/reviews/{case_id}/reject", {"note": "matrix"}, STAFF, {"case_id": "claimed_review2_id"}),
    # rule sets (v1 and v2 stored as drafts: v2 shadowed, v1 activated, then v2 retired) and the block list
    ("GET", "/v1/rule-sets", None, STAFF),
    ("POST", "/v1/rule-sets", "rule_set", ADMIN),
    ("GET", "/v1/rule-sets/{name}/{version}", None, STAFF, RULES),
    ("POST", "/v1/rule-sets/{name}/{version}/shadow", None, ADMIN, {**RULES, "version": "rules_v2"}),
    ("GET", "/v1/rule-sets/{name}/{version}/shadow-report", None, STAFF, {**RULES, "version": "rules_v2"}),
    ("POST", "/v1/rule-sets/backtest", {"name": "matrix-rules", "version": 2}, STAFF),
    ("POST", "/v1/rule-sets/{name}/{version}/activate", None, ADMIN, RULES),
    ("POST", "/v1/rule-sets/{name}/{version}/retire", None, ADMIN, {**RULES, "version": "rules_v2"}),
    ("GET", "/v1/block-list", None, STAFF),
    ("POST", "/v1/block-list", {"kind": "device", "value": "matrix-device-{n}", "reason": "matrix"}, ADMIN),
    ("DELETE", "/v1/block-list/{entry_id}", None, ADMIN),
    ("POST", "/v1/credit-lines/{line_id}/close", {"reason": "matrix"}, STAFF),
    # step-up verification last: a pause would refuse the drawdown rows
    ("GET", "/v1/customers/{customer_id}/pauses", None, ALL),
    ("POST", "/v1/customers/{customer_id}/pause", {"reason": "matrix"}, STAFF),
    # well-formed elements that are not the customer's: a recorded, failed attempt (200), the pause kept
    ("POST", "/v1/customers/{customer_id}/verification", {"name": "王芳", "id_number": "11010519491231002X",
                                                          "phone": "13800000000", "bank_card": "6222020000000000000"},
     ALL),
]

MATRIX_RULES = ("name: matrix-rules\nversion: {version}\nstage: application\nrules:\n"
                "  - id: many_apps\n"
                "    when: count(\"application\", by=\"id_number\", within=\"1h\") >= 50\n"
                "    outcome: review\n    reason: Many applications\n")


def open_case(platform, loan_id: int) -> int:
    """A collections case (as the close of business opens one), and the first date closed."""
    from microlend.services.cob.engine import run_cob
    from microlend.store import tables

    run_cob(platform, only=TODAY)
    platform.clock.advance(1)  # the matrix's POST /v1/cob/runs closes this new day
    with platform.engine.begin() as conn:
        return conn.execute(tables.collection_cases.insert().values(
            loan_id=loan_id, customer_id=conn.execute(tables.loans.select().where(
                tables.loans.c.id == loan_id)).one().customer_id,
            status="open", bucket="M1", dpd=1, amount_overdue=0, opened_on=TODAY, updated_on=TODAY,
        )).inserted_primary_key[0]


def apply(client, headers, payload: dict) -> dict:
    r = client.post("/v1/applications", json=payload, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def origination_state(client, platform, operator) -> dict:
    """The matrix customer (approved by application: line, loan), three referred applications, one
    awaiting the customer as guarantor, rule sets v1 and v2 and a block-list entry."""
    install_demo_scorecard(platform)
    my_body = application_body(good_person(platform, 700), declared_income="8000.00")
    mine = apply(client, operator, my_body)
    assert mine["status"] == "approved", mine["reasons"]
    ids = {"customer_id": mine["customer_id"], "line_id": mine["credit_line_id"], "application_id": mine["id"],
           "device_id": my_body["device_id"]}
    for key, n in (("review_id", 701), ("claimed_review_id", 702), ("claimed_review2_id", 703)):
        who = good_person(platform, n)
        platform.kyc.steer(who.id_number, "timeout")  # referred with the policy's offer (an operator may grant it)
        referred = apply(client, operator, application_body(who))
        assert referred["status"] == "review", referred["reasons"]
        ids[key] = review_case(platform, referred["id"]).id
    store_policy(platform, uniform_document({**DEFAULT_BANDS["D"], "action": "risk_share"}, name="matrix-share"))
    guaranteed = apply(client, operator, application_body(good_person(platform, 704), risk_sharing={
        "kind": "guarantor", "guarantor_customer_id": mine["customer_id"]}))
    assert guaranteed["status"] == "awaiting_guarantor", guaranteed["reasons"]
    ids["guaranteed_id"] = guaranteed["id"]
    for version in (1, 2):
        rule_sets.store_rule_set(uow=platform.uow(), clock=platform.clock, text=MATRIX_RULES.format(version=version),
                                 actor="matrix")
    ids.update(rules="matrix-rules", rules_v2=2)
    ids["entry_id"] = block_list.add(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, kind="phone",
                                     value="13812345678", reason="matrix", actor="matrix").id
    return ids


def test_matrix_covers_every_operation(client):
    spec = client.get("/openapi.json").json()
    in_app = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    in_matrix = {(method, path) for method, path, *_ in MATRIX}
    assert in_app == in_matrix


@pytest.mark.parametrize("role", ["admin", "operator", "borrower"])
def test_role_matrix(client, auth, role):
    platform = client.app.state.platform
    operator = auth("operator")
    ids = origination_state(client, platform, operator)
    drawdown = draw(client, operator, ids["line_id"])
    ids.update(code="REVOLVE", drawdown_id=drawdown["id"], loan_id=drawdown["loan_id"],
               case_id=open_case(platform, drawdown["loan_id"]), business_date="2026-03-10")
    for _ in range(2):  # default v1 (the champion) and v2
        models.register(uow=platform.uow(), artifact=scorecard(), actor="matrix", clock=platform.clock)
    models.promote(uow=platform.uow(), name="default", version=1, actor="matrix", clock=platform.clock)
    ids.update(name="default", version=1, challenger=2)
    headers = auth(role, ids["customer_id"] if role == "borrower" else None)
    if role != "borrower":  # cases this caller claimed, to release and to reject
        for key in ("claimed_review_id", "claimed_review2_id"):
            claimed = client.post(f"/v1/reviews/{ids[key]}/claim", json={}, headers=headers)
            assert claimed.status_code == 200, claimed.text
    for n, (method, template, body, who, *rest) in enumerate(MATRIX):
        if body == "new_customer":
            p = person(100 + n)
            body = {"name": p.name, "id_number": p.id_number, "phone": p.phone, "bank_card": p.bank_card}
        elif body == "card":
            body = {"bank_card": person(200 + n).bank_card}
        elif body == "new_line":
            other = client.post("/v1/customers", headers=operator, json={
                "name": "王芳", "id_number": person(300 + n).id_number, "phone": person(300 + n).phone})
            assert other.status_code == 201, other.text
            body = {"customer_id": other.json()["id"], "limit": "5000"}
        elif body == "model":
            body = {"artifact": scorecard()}
        elif body == "drawdown":
            body = {"amount": "500", "term": 5, "device_id": ids["device_id"]}
        elif body == "application":
            body = application_body(good_person(platform, 800 + n))
        elif body == "policy":
            body = {"document": {**default_policy().to_document(), "name": "matrix-policy"}, "note": "matrix"}
        elif body == "rule_set":
            body = {"source": MATRIX_RULES.format(version=3)}
        elif isinstance(body, dict):
            body = {k: v.format(n=n) if isinstance(v, str) else v for k, v in body.items()}
        placeholders = rest[0] if rest else {}
        path = template.format(**{**ids, **{name: ids[key] for name, key in placeholders.items()}})
        r = client.request(method, path, json=body, headers=headers)
        allowed = who == ALL or (who == STAFF and role != "borrower") or (who == ADMIN and role == "admin") \
            or (who == GUARANTOR and role != "operator")
        label = f"{role} {method} {template}"
        if allowed:
            assert r.status_code in (200, 201), f"{label}: {r.status_code} {r.text}"
        else:
            assert r.status_code == 403, f"{label}: {r.status_code} {r.text}"
            assert r.json()["error"]["code"] == "forbidden", label
            assert r.json()["error"]["field"] is None, label


def test_borrower_refused_staff_action_changes_nothing(client, auth, make_line):
    line = make_line()
    borrower = auth("borrower", line.customer_id)
    for action in ("freeze", "close"):
        assert_error(client.post(f"/v1/credit-lines/{line.id}/{action}", json={"reason": "me"}, headers=borrower),
                     403, "forbidden", None)
    assert_error(client.post(f"/v1/credit-lines/{line.id}/limit", json={"limit": "200000", "reason": "me"},
                             headers=borrower), 403, "forbidden", None)
    now = client.get(f"/v1/credit-lines/{line.id}", headers=borrower).json()
    assert now["status"] == "active" and now["limit"] == "20000.00"
    events = client.get(f"/v1/credit-lines/{line.id}/events", headers=borrower).json()
    assert [e["kind"] for e in events] == ["granted"]


def test_role_check_comes_before_body_validation(client, auth, make_customer):
    borrower = auth("borrower", make_customer().id)
    assert_error(client.post("/v1/customers", json={}, headers=borrower), 403, "forbidden", None)
    assert_error(client.post("/v1/products", json={"bogus": 1}, headers=auth("operator")), 403, "forbidden", None)


# --- a borrower and other customers' records ------------------------------------------
@pytest.fixture
def two_borrowers(client, auth, make_line):
    """Borrower A (the caller) and customer B, each with a line and a loan."""
    mine, theirs = make_line(), make_line()
    operator = auth("operator")
    my_dd, their_dd = draw(client, operator, mine.id), draw(client, operator, theirs.id)
    return {
        "me": auth("borrower", mine.customer_id), "operator": operator,
        "mine": {"customer_id": mine.customer_id, "line_id": mine.id, "drawdown_id": my_dd["id"],
                 "loan_id": my_dd["loan_id"]},
        "theirs": {"customer_id": theirs.customer_id, "line_id": theirs.id, "drawdown_id": their_dd["id"],
                   "loan_id": their_dd["loan_id"]},
    }


READS = [
    ("/v1/customers/{customer_id}", "customer_not_found", "customer_id"),
    ("/v1/customers/{customer_id}/credit-lines", "customer_not_found", "customer_id"),
    ("/v1/customers/{customer_id}/loans", "customer_not_found", "customer_id"),
    ("/v1/credit-lines/{line_id}", "credit_line_not_found", "line_id"),
    ("/v1/credit-lines/{line_id}/events", "credit_line_not_found", "line_id"),
    ("/v1/drawdowns/{drawdown_id}", "drawdown_not_found", "drawdown_id"),
    ("/v1/loans/{loan_id}", "loan_not_found", "loan_id"),
    ("/v1/loans/{loan_id}/schedule", "loan_not_found", "loan_id"),
    ("/v1/loans/{loan_id}/payoff-quote", "loan_not_found", "loan_id"),
    ("/v1/loans/{loan_id}/repayments", "loan_not_found", "loan_id"),
]


@pytest.mark.parametrize("template,code,field", READS)
def test_borrower_reading_another_customer_gets_404(client, two_borrowers, template, code, field):
    me = two_borrowers["me"]
    assert client.get(template.format(**two_borrowers["mine"]), headers=me).status_code == 200
    assert_error(client.get(template.format(**two_borrowers["theirs"]), headers=me), 404, code, field)
    # indistinguishable from an id that does not exist
    missing = {k: 999999 for k in two_borrowers["theirs"]}
    assert_error(client.get(template.format(**missing), headers=me), 404, code, field)


def test_borrower_reads_own_application_only(client, auth, platform):
    """An applicant's borrower key reads their application in short (no decision record); another's
    application answers 404 as a missing one does."""
    install_demo_scorecard(platform)
    operator = auth("operator")
    mine, theirs = (apply(client, operator, application_body(good_person(platform, n))) for n in (710, 711))
    assert mine["status"] == theirs["status"] == "approved"
    me = auth("borrower", mine["customer_id"])
    own = client.get(f"/v1/applications/{mine['id']}", headers=me)
    assert own.status_code == 200, own.text
    assert (own.json()["id"], own.json()["status"]) == (mine["id"], "approved")
    assert own.json()["decision_record"] is None and own.json()["id_number"] is None
    for application_id in (theirs["id"], 999999):
        assert_error(client.get(f"/v1/applications/{application_id}", headers=me), 404, "application_not_found",
                     "application_id")


def _snapshot(client, world):
    op, t = world["operator"], world["theirs"]
    return {
        "loans": client.get(f"/v1/customers/{t['customer_id']}/loans", headers=op).json(),
        "line": client.get(f"/v1/credit-lines/{t['line_id']}", headers=op).json(),
        "customer": client.get(f"/v1/customers/{t['customer_id']}", headers=op).json(),
        "repayments": client.get(f"/v1/loans/{t['loan_id']}/repayments", headers=op).json(),
        "ledger": client.get("/v1/ledger/trial-balance", headers=op).json(),
    }


def test_borrower_writing_to_another_customer_gets_404_and_nothing_is_written(client, two_borrowers, rail):
    me, t = two_borrowers["me"], two_borrowers["theirs"]
    before, instructions = _snapshot(client, two_borrowers), len(rail.instructions)

    r = client.post(f"/v1/credit-lines/{t['line_id']}/drawdowns", json={"amount": "500", "term": 5}, headers=me)
    assert_error(r, 404, "credit_line_not_found", "line_id")
    r = client.post(f"/v1/loans/{t['loan_id']}/repayments", json={"amount": "100.00"}, headers=me)
    assert_error(r, 404, "loan_not_found", "loan_id")
    r = client.put(f"/v1/customers/{t['customer_id']}/bank-card", json={"bank_card": person(5).bank_card},
                   headers=me)
    assert_error(r, 404, "customer_not_found", "customer_id")
    r = client.post("/v1/quotes", json={"amount": "1000", "term": 5, "credit_line_id": t["line_id"]}, headers=me)
    assert_error(r, 404, "credit_line_not_found", "credit_line_id")

    assert _snapshot(client, two_borrowers) == before
    assert len(rail.instructions) == instructions


def test_quote_on_another_customers_line_looks_like_a_missing_line(client, two_borrowers):
    me, t = two_borrowers["me"], two_borrowers["theirs"]
    theirs = client.post("/v1/quotes", json={"amount": "1000", "term": 5, "credit_line_id": t["line_id"]}, headers=me)
    missing = client.post("/v1/quotes", json={"amount": "1000", "term": 5, "credit_line_id": 999999}, headers=me)
    assert_error(theirs, 404, "credit_line_not_found", "credit_line_id")
    assert_error(missing, 404, "credit_line_not_found", "credit_line_id")


def test_borrower_may_not_repay_by_transfer(client, two_borrowers):
    me, mine, op = two_borrowers["me"], two_borrowers["mine"], two_borrowers["operator"]
    url = f"/v1/loans/{mine['loan_id']}/repayments"
    ledger = client.get("/v1/ledger/trial-balance", headers=op).json()
    assert_error(client.post(url, json={"amount": "100.00", "channel": "transfer"}, headers=me),
                 403, "forbidden", "channel")
    assert client.get(url, headers=me).json() == []
    assert client.get("/v1/ledger/trial-balance", headers=op).json() == ledger
    # by card they may, and staff may record a transfer
    assert client.post(url, json={"amount": "100.00", "channel": "card"}, headers=me).status_code == 201
    assert client.post(url, json={"amount": "100.00", "channel": "transfer"}, headers=op).status_code == 201
    assert [r["channel"] for r in client.get(url, headers=me).json()] == ["card", "transfer"]


def test_borrower_sees_only_own_records_in_lists(client, two_borrowers):
    me, mine = two_borrowers["me"], two_borrowers["mine"]
    lines = client.get(f"/v1/customers/{mine['customer_id']}/credit-lines", headers=me).json()
    assert [l["id"] for l in lines] == [mine["line_id"]]
    loans = client.get(f"/v1/customers/{mine['customer_id']}/loans", headers=me).json()
    assert [l["id"] for l in loans] == [mine["loan_id"]]
