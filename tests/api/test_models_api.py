"""The model registry and scoring over HTTP: staff read and score, admins register, promote and
retire; anonymous callers get 401 and borrowers 403; errors carry stable codes and fields.

The scorecard is written by hand after the artifact spec: 522 base points, income < 100 costs
18 points and >= 100 earns 13, home "own" earns 9 and "rent"/"other" cost 8.
"""

from __future__ import annotations

import math

import pytest
from api_helpers import assert_error
from model_artifacts import FACTOR, OFFSET, scorecard

from microlend.services import models


@pytest.fixture
def admin(auth):
    return auth("admin")


@pytest.fixture
def borrower(auth, make_customer):
    return auth("borrower", make_customer().id)


@pytest.fixture(autouse=True)
def _fresh_cache():
    models.clear_cache()
    yield
    models.clear_cache()


@pytest.fixture
def two_models(platform):
    """default v1 and v2, registered as challengers."""
    for auc in (0.71, 0.75):
        models.register(uow=platform.uow(), artifact=scorecard(auc), actor="test", clock=platform.clock)


ENDPOINTS = [
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/default/1", None),
    ("POST", "/v1/models", {"artifact": scorecard()}),
    ("POST", "/v1/models/default/1/promote", {}),
    ("POST", "/v1/models/default/1/retire", {}),
    ("POST", "/v1/scores", {"applicant": {"income": 150}}),
]


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_anonymous_callers_get_401_and_borrowers_403(client, borrower, two_models, method, path, body):
    assert_error(client.request(method, path, json=body), 401, "missing_api_key", "authorization")
    assert_error(client.request(method, path, json=body, headers=borrower), 403, "forbidden", None)


def test_operators_read_and_score_but_do_not_change_models(client, staff, two_models):
    listed = client.get("/v1/models", headers=staff)
    assert listed.status_code == 200, listed.text
    assert [(m["name"], m["version"], m["role"], m["metrics"]["auc"]) for m in listed.json()] == [
        ("default", 1, "challenger", 0.71), ("default", 2, "challenger", 0.75)]
    assert "artifact" not in listed.json()[0]
    one = client.get("/v1/models/default/2", headers=staff)
    assert one.status_code == 200, one.text
    assert one.json()["artifact"] == scorecard(0.75)
    assert [e["event"] for e in one.json()["events"]] == ["registered"]
    for path in ("/v1/models/default/1/promote", "/v1/models/default/1/retire"):
        assert_error(client.post(path, json={}, headers=staff), 403, "forbidden", None)
    assert_error(client.post("/v1/models", json={"artifact": scorecard()}, headers=staff), 403, "forbidden", None)
    assert_error(client.post("/v1/scores", json={"applicant": {"income": 150}}, headers=staff),
                 409, "no_champion", None)


def test_admin_registers_promotes_and_retires(client, admin, staff, two_models, platform):
    made = client.post("/v1/models", json={"name": "risk", "artifact": scorecard()}, headers=admin)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["name"], body["version"], body["kind"], body["role"]) == ("risk", 1, "scorecard", "challenger")
    assert body["created_by"].startswith("admin:") and body["fingerprint"] == "sha256:" + "ab" * 32
    assert client.get("/v1/models/risk/1", headers=staff).json()["artifact"] == scorecard()

    first = client.post("/v1/models/default/1/promote", json={"note": "first"}, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["role"] == "champion" and first.json()["promoted_by"].startswith("admin:")
    second = client.post("/v1/models/default/2/promote", headers=admin)  # the body is optional
    assert second.status_code == 200, second.text
    roles = {(m["name"], m["version"]): m["role"] for m in client.get("/v1/models", headers=staff).json()}
    assert roles == {("default", 1): "challenger", ("default", 2): "champion", ("risk", 1): "challenger"}
    events = client.get("/v1/models/default/1", headers=staff).json()["events"]
    assert [(e["event"], e["note"]) for e in events] == [
        ("registered", None), ("promoted", "first"), ("demoted", "replaced by default v2")]

    assert_error(client.post("/v1/models/default/2/retire", json={}, headers=admin),
                 409, "champion_cannot_be_retired", "version")
    retired = client.post("/v1/models/default/1/retire", json={"note": "old"}, headers=admin)
    assert retired.status_code == 200 and retired.json()["role"] == "retired", retired.text
    assert_error(client.post("/v1/models/default/1/promote", json={}, headers=admin), 409, "model_retired", "version")


def test_unknown_models_and_bad_input(client, admin, staff, two_models):
    assert_error(client.get("/v1/models/default/3", headers=staff), 404, "model_not_found", "version")
    assert_error(client.get("/v1/models/nope/1", headers=staff), 404, "model_not_found", "version")
    assert_error(client.post("/v1/models/default/9/promote", json={}, headers=admin), 404, "model_not_found",
                 "version")
    assert_error(client.get("/v1/models/champion/1", headers=staff), 422, "invalid_model_name", "name")
    assert_error(client.get("/v1/models/default/0", headers=staff), 422, "invalid_field", "version")
    assert_error(client.get("/v1/models/default/x", headers=staff), 422, "invalid_field", "version")
    assert_error(client.post("/v1/models/default/1/promote", json={"note": "x" * 1001}, headers=admin),
                 422, "invalid_field", "note")
    assert_error(client.post("/v1/models/default/1/promote", json={"why": "x"}, headers=admin),
                 422, "unknown_field", "why")

    bad = {**scorecard(), "format": "pickle"}
    assert_error(client.post("/v1/models", json={"artifact": bad}, headers=admin),
                 422, "invalid_model_artifact", "artifact.format")
    no_bins = scorecard()
    del no_bins["development"]["metrics"]
    assert_error(client.post("/v1/models", json={"artifact": no_bins}, headers=admin),
                 422, "invalid_model_artifact", "artifact.development.metrics")
    assert_error(client.post("/v1/models", json={"artifact": [1]}, headers=admin), 422, "invalid_field", "artifact")
    assert_error(client.post("/v1/models", json={}, headers=admin), 422, "missing_field", "artifact")
    assert_error(client.post("/v1/models", json={"name": "a b", "artifact": scorecard()}, headers=admin),
                 422, "invalid_model_name", "name")
    assert len(client.get("/v1/models", headers=staff).json()) == 2  # nothing was stored

    assert_error(client.post("/v1/scores", json={}, headers=staff), 422, "missing_field", "applicant")
    assert_error(client.post("/v1/scores", json={"applicant": [1]}, headers=staff), 422, "invalid_field", "applicant")
    assert_error(client.post("/v1/scores", json={"applicant": {"income": {"a": 1}}}, headers=staff),
                 422, "invalid_applicant", "applicant.income")
    assert_error(client.post("/v1/scores", json={"applicant": {}, "reasons": 99}, headers=staff),
                 422, "invalid_field", "reasons")


def test_scores_with_the_champion(client, admin, staff, two_models):
    pytest.importorskip("microlend.scoring.artifact")
    assert client.post("/v1/models/default/1/promote", json={}, headers=admin).status_code == 200
    good = client.post("/v1/scores", json={"applicant": {"income": 150, "home": "own"}}, headers=staff)
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["model"] == {"name": "default", "version": 1, "kind": "scorecard"}
    assert (body["score"], body["band"]) == (544, "B")  # 522 + 13 + 9
    assert isinstance(body["pd"], str) and len(body["pd"].split(".")[1]) == 6
    assert float(body["pd"]) == pytest.approx(1 / (1 + math.exp((544 - OFFSET) / FACTOR)), abs=0.01)

    bad = client.post("/v1/scores", json={"applicant": {"income": 50, "home": "rent"}, "reasons": 2},
                      headers=staff)
    assert bad.status_code == 200, bad.text
    assert (bad.json()["score"], bad.json()["band"]) == (496, "E")  # 522 - 18 - 8
    reasons = bad.json()["reasons"]
    assert [r["feature"] for r in reasons] == ["income", "home"]
    assert reasons[0] == {"feature": "income", "label": "< 100", "points": -18, "points_lost": 31,
                          "contribution": None}

    assert client.post("/v1/models/default/2/promote", json={}, headers=admin).status_code == 200
    again = client.post("/v1/scores", json={"applicant": {"income": 150, "home": "own"}}, headers=staff)
    assert again.json()["model"]["version"] == 2
