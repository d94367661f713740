"""The close of business over HTTP: admins start a date, staff read runs and reports; bad input
is a 4xx naming the field. One 10,000 loan at 0.05% a day drawn 2026-03-10 earns 5.00 a day."""

from __future__ import annotations

import os
import socket
from datetime import date
from decimal import Decimal

import pytest
from api_helpers import assert_error

from microlend.services import drawdowns, ledger
from microlend.store import tables


@pytest.fixture
def admin(auth):
    return auth("admin")


@pytest.fixture
def loan_id(platform, make_line) -> int:
    line = make_line()
    loan = drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher,
                                      clock=platform.clock, line_id=line.id, amount=Decimal("10000"), term=5).loan_id
    platform.clock.current_date = date(2026, 3, 31)  # "today": the dates of these tests are not in the future
    return loan


def test_admin_runs_a_date_and_a_repeat_answers_the_same_record(client, admin, staff, loan_id, platform):
    r = client.post("/v1/cob/runs", json={"date": "2026-03-11"}, headers=admin)
    assert r.status_code == 201, r.text
    run = r.json()
    assert (run["business_date"], run["status"]) == ("2026-03-11", "done")
    assert run["finished_at"] and run["owner"]
    report = run["report"]
    assert report["business_date"] == "2026-03-11"
    assert report["accrued"] == {"interest": "5.00", "fee": "0.00", "penalty": "0.00"}  # 10000 x 0.0005 x 1
    assert report["loans"]["processed"] == 1 and report["loans"]["by_bucket"] == {"current": 1}

    again = client.post("/v1/cob/runs", json={"date": "2026-03-11"}, headers=admin)
    assert again.status_code == 201, again.text
    assert again.json() == run  # the finished date's record, unchanged
    tb = {r.account.code: r.balance for r in ledger.get_trial_balance(uow=platform.uow()).rows}
    assert tb["1102"] == Decimal("5.00")  # accrued once, not twice

    # without a date: the next one
    nxt = client.post("/v1/cob/runs", json={}, headers=admin)
    assert nxt.status_code == 201, nxt.text
    assert nxt.json()["business_date"] == "2026-03-12"
    assert nxt.json()["report"]["accrued"]["interest"] == "5.00"

    listed = client.get("/v1/cob/runs", headers=staff)
    assert listed.status_code == 200, listed.text
    assert [x["business_date"] for x in listed.json()] == ["2026-03-12", "2026-03-11"]  # newest first
    one = client.get("/v1/cob/runs/2026-03-11", headers=staff)
    assert one.status_code == 200, one.text
    assert one.json() == run
    latest = client.get("/v1/cob/report", headers=staff)
    assert latest.status_code == 200, latest.text
    assert latest.json()["business_date"] == "2026-03-12"
    assert latest.json() == nxt.json()["report"]


def test_dates_out_of_order_and_bad_dates(client, admin, staff, loan_id):
    assert client.post("/v1/cob/runs", json={"date": "2026-03-11"}, headers=admin).status_code == 201
    error = assert_error(client.post("/v1/cob/runs", json={"date": "2026-03-20"}, headers=admin),
                         422, "cob_date_out_of_order", "date")
    assert error["next_date"] == "2026-03-12"
    assert "2026-03-12" in error["message"]
    assert_error(client.post("/v1/cob/runs", json={"date": "2026-04-01"}, headers=admin),
                 422, "cob_date_in_future", "date")
    assert_error(client.get("/v1/cob/runs/2026-03-20", headers=staff), 404, "cob_run_not_found", "business_date")
    assert_error(client.get("/v1/cob/runs/2026-01-01", headers=staff), 404, "cob_run_not_found", "business_date")

    for bad in ("2026-02-30", "yesterday", "2026/03/12", 20260312, ""):
        r = client.post("/v1/cob/runs", json={"date": bad}, headers=admin)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["field"] == "date", r.text
    assert_error(client.post("/v1/cob/runs", json={"date": "2026-03-12", "workers": 4}, headers=admin),
                 422, "unknown_field", "workers")
    for bad in ("2026-13-01", "nope"):
        r = client.get(f"/v1/cob/runs/{bad}", headers=staff)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "business_date", r.text
    # nothing ran meanwhile
    assert [x["business_date"] for x in client.get("/v1/cob/runs", headers=staff).json()] == ["2026-03-11"]


def test_before_any_run(client, admin, staff, loan_id):
    assert client.get("/v1/cob/runs", headers=staff).json() == []
    assert_error(client.get("/v1/cob/report", headers=staff), 404, "cob_report_not_found", "date")
    assert_error(client.post("/v1/cob/runs", json={}, headers=admin), 422, "missing_field", "date")


def test_roles(client, auth, staff, make_line, loan_id):
    assert_error(client.post("/v1/cob/runs", json={"date": "2026-03-11"}, headers=staff), 403, "forbidden", None)
    borrower = auth("borrower", make_line().customer_id)
    for r in (client.get("/v1/cob/runs", headers=borrower), client.get("/v1/cob/report", headers=borrower),
              client.get("/v1/cob/runs/2026-03-11", headers=borrower),
              client.post("/v1/cob/runs", json={"date": "2026-03-11"}, headers=borrower)):
        assert_error(r, 403, "forbidden", None)
    assert_error(client.post("/v1/cob/runs", json={"date": "2026-03-11"}), 401, "missing_api_key", "authorization")
    assert client.get("/v1/cob/runs", headers=staff).json() == []  # the refused starts ran nothing


def test_a_date_running_elsewhere_is_a_conflict(client, admin, staff, loan_id, platform):
    assert client.post("/v1/cob/runs", json={"date": "2026-03-11"}, headers=admin).status_code == 201
    now = platform.clock.now()
    with platform.engine.begin() as conn:  # a live process (our parent) is running 03-12
        conn.execute(tables.cob_runs.insert().values(
            business_date=date(2026, 3, 12), status="running", started_at=now,
            heartbeat_at=now, owner=f"{socket.gethostname()}:{os.getppid()}"))
    for body in ({"date": "2026-03-12"}, {}):
        assert_error(client.post("/v1/cob/runs", json=body, headers=admin), 409, "cob_already_running", "date")
    error = assert_error(client.post("/v1/cob/runs", json={"date": "2026-03-13"}, headers=admin),
                         422, "cob_date_out_of_order", "date")
    assert error["next_date"] == "2026-03-12"
    running = client.get("/v1/cob/runs/2026-03-12", headers=staff)
    assert running.status_code == 200, running.text
    assert (running.json()["status"], running.json()["report"], running.json()["finished_at"]) == (
        "running", None, None)
    assert client.get("/v1/cob/report", headers=staff).json()["business_date"] == "2026-03-11"
