"""Rule sets, backtests, shadow reports and the block list over HTTP: staff read and backtest, admins
change; anonymous callers get 401 and borrowers 403; a rule set that does not compile is a 422 naming
the line."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from api_helpers import assert_error
from sqlalchemy import insert

from microlend.api.routers import rule_sets as rule_sets_router
from microlend.services.origination import rule_sets
from microlend.store.origination_tables import decision_records, shadow_results


def rules_text(version: int = 1, threshold: int = 3, name: str = "lender-app") -> str:
    return (f"name: {name}\nversion: {version}\nstage: application\nrules:\n"
            f"  - id: many_apps\n"
            f"    when: count(\"application\", by=\"id_number\", within=\"1h\") >= {threshold}\n"
            f"    outcome: reject\n    reason: Several applications\n")


@pytest.fixture
def client(platform):
    """The app with this router, whether or not app.py registers it yet."""
    from fastapi.testclient import TestClient

    from microlend.api.app import create_app

    app = create_app(platform)
    if not any(getattr(route, "path", None) == "/v1/rule-sets" for route in app.routes):
        app.include_router(rule_sets_router.router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(autouse=True)
def _fresh_cache():
    rule_sets.clear_cache()
    yield
    rule_sets.clear_cache()


@pytest.fixture
def admin(auth):
    return auth("admin")


@pytest.fixture
def borrower(auth, make_customer):
    return auth("borrower", make_customer().id)


@pytest.fixture
def stored(platform):
    """lender-app v1 stored as a draft, and one block-listed phone."""
    rule_sets.store_rule_set(uow=platform.uow(), clock=platform.clock, text=rules_text(), actor="risk")
    from microlend.services.origination import block_list

    return block_list.add(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, kind="phone",
                          value="13812345678", reason="fraud", actor="risk")


ENDPOINTS = [
    ("GET", "/v1/rule-sets", None, False),
    ("GET", "/v1/rule-sets/lender-app/1", None, False),
    ("POST", "/v1/rule-sets", {"source": rules_text(2)}, True),
    ("POST", "/v1/rule-sets/lender-app/1/activate", None, True),
    ("POST", "/v1/rule-sets/lender-app/1/shadow", None, True),
    ("POST", "/v1/rule-sets/lender-app/1/retire", None, True),
    ("POST", "/v1/rule-sets/backtest", {"name": "lender-app", "version": 1}, False),
    ("GET", "/v1/rule-sets/lender-app/1/shadow-report", None, False),
    ("GET", "/v1/block-list", None, False),
    ("POST", "/v1/block-list", {"kind": "device", "value": "device-0001", "reason": "farm"}, True),
    ("DELETE", "/v1/block-list/1", None, True),
]


@pytest.mark.parametrize("method, path, body, admin_only", ENDPOINTS)
def test_roles(client, borrower, staff, stored, method, path, body, admin_only):
    assert_error(client.request(method, path, json=body), 401, "missing_api_key", "authorization")
    assert_error(client.request(method, path, json=body, headers=borrower), 403, "forbidden", None)
    resp = client.request(method, path, json=body, headers=staff)
    if admin_only:
        assert_error(resp, 403, "forbidden", None)
    else:
        assert resp.status_code == 200, resp.text


def test_store_read_and_change_rule_sets(client, admin, staff):
    made = client.post("/v1/rule-sets", json={"source": rules_text()}, headers=admin)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["name"], body["version"], body["status"], body["format"]) == ("lender-app", 1, "draft", "yaml")
    assert body["created_by"].startswith("admin:") and "source" not in body
    as_json = json.dumps({"name": "lender-app", "version": 2, "stage": "application", "rules": [
        {"id": "big", "when": "application.income > 1", "outcome": "review", "reason": "x"}]})
    assert client.post("/v1/rule-sets", json={"source": as_json, "format": "json"},
                       headers=admin).json()["format"] == "json"

    detail = client.get("/v1/rule-sets/lender-app/1", headers=staff)
    assert detail.status_code == 200 and detail.json()["source"] == rules_text()
    assert [(e["event"], e["actor"], e["note"]) for e in detail.json()["events"]] == [
        ("stored", body["created_by"], None)]
    activated = client.post("/v1/rule-sets/lender-app/1/activate", headers=admin)
    assert activated.status_code == 200 and activated.json()["status"] == "active"
    assert client.post("/v1/rule-sets/lender-app/2/shadow", headers=admin).json()["status"] == "shadow"
    assert_error(client.post("/v1/rule-sets/lender-app/1/retire", headers=admin), 409, "rule_set_active", "version")
    assert client.post("/v1/rule-sets/lender-app/2/activate", headers=admin).json()["status"] == "active"
    listed = client.get("/v1/rule-sets", headers=staff).json()
    assert [(r["version"], r["status"]) for r in listed] == [(1, "retired"), (2, "active")]
    assert [r["version"] for r in client.get("/v1/rule-sets?status=active", headers=staff).json()] == [2]
    assert client.get("/v1/rule-sets?stage=drawdown", headers=staff).json() == []
    assert client.post("/v1/rule-sets/lender-app/1/retire", headers=admin).json()["status"] == "retired"
    events = client.get("/v1/rule-sets/lender-app/1", headers=staff).json()["events"]
    assert [(e["event"], e["note"]) for e in events] == [("stored", None), ("activated", None),
                                                         ("retired", "replaced by lender-app@2")]
    assert all(e["actor"] == body["created_by"] for e in events)  # the same admin key throughout
    events = client.get("/v1/rule-sets/lender-app/2", headers=staff).json()["events"]
    assert [e["event"] for e in events] == ["stored", "shadowed", "activated"]


def test_rule_set_errors(client, admin, staff):
    bad = client.post("/v1/rule-sets", json={"source": rules_text().replace("outcome:", "outcme:")}, headers=admin)
    error = assert_error(bad, 422, "invalid_rule_set", "rules")
    assert error["line"] == 7 and "line 7" in error["message"] and "outcme" in error["reason"]
    client.post("/v1/rule-sets", json={"source": rules_text()}, headers=admin)
    assert_error(client.post("/v1/rule-sets", json={"source": rules_text()}, headers=admin), 409,
                 "rule_set_exists", "version")
    assert_error(client.post("/v1/rule-sets", json={"source": rules_text(), "format": "toml"}, headers=admin), 422,
                 "invalid_field", "format")
    assert_error(client.post("/v1/rule-sets", json={"text": rules_text()}, headers=admin), 422, "missing_field",
                 "source")
    assert_error(client.get("/v1/rule-sets/lender-app/9", headers=staff), 404, "rule_set_not_found", "version")
    assert_error(client.post("/v1/rule-sets/nobody/1/activate", headers=admin), 404, "rule_set_not_found",
                 "version")
    assert_error(client.get("/v1/rule-sets/lender-app/0", headers=staff), 422, "invalid_field", "version")
    assert_error(client.get("/v1/rule-sets?stage=repayment", headers=staff), 422, "invalid_field", "stage")


def _record(at: datetime, id_count: int) -> dict:
    keys = {"id_number": "h-id"}
    return {"kind": "application", "application_id": None, "at": at.isoformat(),
            "facts": {"application": {"income": "5000"}, "keys": keys, "bureau": None, "statements": None,
                      "findings": [], "line": None, "lists": {}},
            "windows": [{"function": "count", "kind": "application", "by": "id_number", "value": "h-id",
                         "within_s": 3600, "field": None, "include": None, "result": str(id_count)}],
            "rules": {"results": [{"id": "many_apps", "hit": id_count >= 3, "error": None}]},
            "decision": {"outcome": "reject" if id_count >= 3 else "approve",
                         "parts": {"rules": "reject" if id_count >= 3 else "approve", "sources": "approve",
                                   "policy": "approve"}}}


def test_backtest_and_shadow_report(client, platform, admin, staff):
    client.post("/v1/rule-sets", json={"source": rules_text()}, headers=admin)
    ids = []
    with platform.uow() as uow:
        for hour, count in enumerate([0, 2, 3]):
            at = datetime(2026, 3, 1, 8 + hour, tzinfo=timezone.utc)
            record = _record(at, count)
            ids.append(uow.session.execute(insert(decision_records).values(
                kind="application", decision=record["decision"]["outcome"], record=json.dumps(record),
                rule_set="live", rule_set_version=1, rule_set_fingerprint="f" * 64, created_at=at,
            ).returning(decision_records.c.id)).scalar_one())
        uow.session.execute(insert(shadow_results).values(
            decision_record_id=ids[1], stage="application", rule_set="lender-app", rule_set_version=1,
            live_decision="approve", shadow_decision="reject",
            results=json.dumps([{"id": "many_apps", "hit": True, "error": None}]), created_at=at))
        uow.commit()

    stored = client.post("/v1/rule-sets/backtest", json={"name": "lender-app", "version": 1}, headers=staff)
    assert stored.status_code == 200, stored.text
    assert (stored.json()["evaluated"], stored.json()["moved"]) == (3, 0)
    candidate = client.post("/v1/rule-sets/backtest", headers=staff, json={
        "source": rules_text(version=2, threshold=2), "since": "2026-03-01T09:00:00+00:00", "limit": 10})
    report = candidate.json()
    assert candidate.status_code == 200, candidate.text
    assert (report["evaluated"], report["moved"], report["matrix"]["approve"]["reject"]) == (2, 1, 1)
    assert report["rules"] == [{"id": "many_apps", "outcome": "reject", "hits": 2, "errors": 0, "compared": 2,
                                "live_hits": 1, "new_hits": 1, "lost_hits": 0}]
    assert report["moved_sample"] == [{"decision_record_id": ids[1], "application_id": None, "live": "approve",
                                       "candidate": "reject"}]
    assert_error(client.post("/v1/rule-sets/backtest", json={"name": "lender-app"}, headers=staff), 422,
                 "invalid_field", None)
    assert_error(client.post("/v1/rule-sets/backtest", json={"source": "name: x\n"}, headers=staff), 422,
                 "invalid_rule_set", "rules")
    assert_error(client.post("/v1/rule-sets/backtest", json={"source": rules_text(), "since": "2026-03-01T09:00"},
                             headers=staff), 422, "invalid_field", "since")

    shadow = client.get("/v1/rule-sets/lender-app/1/shadow-report", headers=staff).json()
    assert (shadow["count"], shadow["agreed"], shadow["agreement"]) == (1, 0, 0.0)
    assert shadow["matrix"]["approve"]["reject"] == 1 and shadow["rules"] == [{"id": "many_apps", "hits": 1,
                                                                              "errors": 0}]
    assert_error(client.get("/v1/rule-sets/lender-app/5/shadow-report", headers=staff), 404, "rule_set_not_found",
                 "version")


def test_block_list(client, admin, staff):
    added = client.post("/v1/block-list", json={"kind": "phone", "value": "+86 13812345678", "reason": "fraud"},
                        headers=admin)
    assert added.status_code == 201, added.text
    entry = added.json()
    assert entry["value_masked"] == "138****5678" and "value_hash" not in entry and entry["added_by"].startswith("admin")
    assert_error(client.post("/v1/block-list", json={"kind": "phone", "value": "13812345678", "reason": "again"},
                             headers=admin), 409, "already_blocked", "value")
    assert_error(client.post("/v1/block-list", json={"kind": "phone", "value": "12", "reason": "x"}, headers=admin),
                 422, "invalid_phone", "value")
    assert_error(client.post("/v1/block-list", json={"kind": "email", "value": "a@b", "reason": "x"}, headers=admin),
                 422, "invalid_field", "kind")
    client.post("/v1/block-list", json={"kind": "ip", "value": "203.0.113.9", "reason": "proxy"}, headers=admin)
    listed = client.get("/v1/block-list", headers=staff).json()
    assert [(e["kind"], e["value_masked"]) for e in listed] == [("ip", "203.0.113.*"), ("phone", "138****5678")]
    assert [e["kind"] for e in client.get("/v1/block-list?kind=phone", headers=staff).json()] == ["phone"]
    assert entry["removed_at"] is None and entry["removed_by"] is None
    removed = client.delete(f"/v1/block-list/{entry['id']}", headers=admin)
    assert removed.status_code == 200 and removed.json()["id"] == entry["id"]
    assert removed.json()["removed_by"] == entry["added_by"] and removed.json()["removed_at"] is not None
    assert_error(client.delete(f"/v1/block-list/{entry['id']}", headers=admin), 404, "block_list_entry_not_found",
                 "id")
    assert [e["kind"] for e in client.get("/v1/block-list", headers=staff).json()] == ["ip"]
    history = client.get("/v1/block-list?include_removed=true", headers=staff).json()
    assert [(e["kind"], e["removed_by"]) for e in history] == [("ip", None), ("phone", entry["added_by"])]
    again = client.post("/v1/block-list", json={"kind": "phone", "value": "13812345678", "reason": "again"},
                        headers=admin)
    assert again.status_code == 201 and again.json()["id"] != entry["id"]
