"""Credit lines over HTTP: granting, reading, freezing, limit changes with
their history, closing, and the revolving room that drawdowns use."""

from __future__ import annotations

from decimal import Decimal

import pytest
from api_helpers import assert_error


def lines_of(client, staff, customer_id: int) -> list[dict]:
    r = client.get(f"/v1/customers/{customer_id}/credit-lines", headers=staff)
    assert r.status_code == 200, r.text
    return r.json()


def without_rate(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "daily_rate"}


def grant(client, staff, customer_id: int, **extra):
    return client.post("/v1/credit-lines", json={"customer_id": customer_id, "limit": "20000", **extra}, headers=staff)


def test_grant_line(client, staff, make_customer):
    customer = make_customer()
    r = grant(client, staff, customer.id, daily_rate="0.0004", reason="good bureau score")
    assert r.status_code == 201, r.text
    line = r.json()
    assert line["customer_id"] == customer.id and line["product_code"] == "REVOLVE"
    assert (line["limit"], line["used"], line["available"]) == ("20000.00", "0.00", "20000.00")
    assert line["daily_rate"] == "0.0004" and line["status"] == "active"
    assert line["opened_on"] == "2026-03-10" and line["closed_on"] is None
    read = client.get(f"/v1/credit-lines/{line['id']}", headers=staff).json()
    assert without_rate(read) == without_rate(line)  # the rate's spelling: test_rates_read_back_as_written
    assert Decimal(read["daily_rate"]) == Decimal("0.0004")
    assert [without_rate(l) for l in lines_of(client, staff, customer.id)] == [without_rate(line)]
    events = client.get(f"/v1/credit-lines/{line['id']}/events", headers=staff).json()
    assert len(events) == 1
    assert events[0]["kind"] == "granted" and events[0]["new_limit"] == "20000.00"
    assert events[0]["old_limit"] is None and events[0]["reason"] == "good bureau score"
    assert events[0]["actor"].startswith("operator:") and events[0]["business_date"] == "2026-03-10"


def test_rates_read_back_as_written(client, staff, make_customer):
    created = grant(client, staff, make_customer().id, daily_rate="0.0004").json()
    assert created["daily_rate"] == "0.0004"
    assert client.get(f"/v1/credit-lines/{created['id']}", headers=staff).json() == created
    dd = client.post(f"/v1/credit-lines/{created['id']}/drawdowns", json={"amount": "1000", "term": 5}, headers=staff)
    assert dd.status_code == 201, dd.text
    assert dd.json()["daily_rate"] == "0.0004"
    assert client.get(f"/v1/loans/{dd.json()['loan_id']}", headers=staff).json()["daily_rate"] == "0.0004"


def test_grant_defaults_to_the_top_rate(client, staff, make_customer):
    r = grant(client, staff, make_customer().id)
    assert r.status_code == 201, r.text
    assert r.json()["daily_rate"] == "0.0005"


@pytest.mark.parametrize("limit", ["500", "200000", "12300", "500.00"])
def test_limit_bounds_accepted(client, staff, make_customer, limit):
    r = grant(client, staff, make_customer().id, limit=limit)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("limit", ["400", "499.99", "200100", "250000", "1050", "20000.50"])
def test_limit_outside_range_or_step(client, staff, make_customer, limit):
    customer = make_customer()
    assert_error(grant(client, staff, customer.id, limit=limit), 422, "invalid_limit", "limit")
    assert lines_of(client, staff, customer.id) == []


@pytest.mark.parametrize("limit", ["-500", "0", "abc", "100.001", True, None])
def test_limit_not_an_amount(client, staff, make_customer, limit):
    customer = make_customer()
    assert_error(grant(client, staff, customer.id, limit=limit), 422, "invalid_amount", "limit")
    assert lines_of(client, staff, customer.id) == []


@pytest.mark.parametrize("rate", ["0.0001", "0.0006", "0.00019", "0"])
def test_daily_rate_outside_product_range(client, staff, make_customer, rate):
    customer = make_customer()
    assert_error(grant(client, staff, customer.id, daily_rate=rate), 422, "invalid_daily_rate", "daily_rate")
    assert lines_of(client, staff, customer.id) == []


@pytest.mark.parametrize("rate", ["-0.0001", "1", "x"])
def test_daily_rate_not_a_rate(client, staff, make_customer, rate):
    customer = make_customer()
    assert_error(grant(client, staff, customer.id, daily_rate=rate), 422, "invalid_rate", "daily_rate")
    assert lines_of(client, staff, customer.id) == []


def test_grant_refusals(client, staff, make_customer):
    customer = make_customer()
    assert_error(grant(client, staff, 999999), 404, "customer_not_found", "customer_id")
    assert_error(grant(client, staff, customer.id, product_code="NOPE"), 404, "product_not_found", "product_code")
    assert_error(grant(client, staff, 0), 422, "invalid_field", "customer_id")
    assert_error(client.post("/v1/credit-lines", json={"customer_id": customer.id}, headers=staff),
                 422, "missing_field", "limit")
    assert_error(grant(client, staff, customer.id, reason=""), 422, "invalid_field", "reason")
    assert_error(grant(client, staff, customer.id, colour="red"), 422, "unknown_field", "colour")
    assert lines_of(client, staff, customer.id) == []


@pytest.mark.parametrize("big", [2**31, 2**63, 10**20])
def test_out_of_range_ids_are_refused_not_500(client, staff, big):
    r = grant(client, staff, big)
    assert r.status_code in (404, 422), r.text
    assert_error(r, r.status_code, *(("customer_not_found", "customer_id") if r.status_code == 404
                                     else ("invalid_field", "customer_id")))
    r = client.get(f"/v1/credit-lines/{big}", headers=staff)
    assert r.status_code in (404, 422), r.text
    assert_error(r, r.status_code, *(("credit_line_not_found", "line_id") if r.status_code == 404
                                     else ("invalid_field", "line_id")))


def test_second_open_line_for_same_product(client, staff, make_customer):
    customer = make_customer()
    first = grant(client, staff, customer.id).json()
    assert_error(grant(client, staff, customer.id, limit="5000"), 409, "line_exists", "customer_id")
    client.post(f"/v1/credit-lines/{first['id']}/freeze", json={"reason": "review"}, headers=staff)
    assert_error(grant(client, staff, customer.id, limit="5000"), 409, "line_exists", "customer_id")
    assert len(lines_of(client, staff, customer.id)) == 1
    # once closed, a new line may be granted
    closed = client.post(f"/v1/credit-lines/{first['id']}/close", json={"reason": "moved"}, headers=staff)
    assert closed.status_code == 200, closed.text
    assert grant(client, staff, customer.id, limit="5000").status_code == 201
    assert [l["status"] for l in lines_of(client, staff, customer.id)] == ["closed", "active"]


def test_read_unknown_line(client, staff):
    assert_error(client.get("/v1/credit-lines/999999", headers=staff), 404, "credit_line_not_found", "line_id")
    assert_error(client.get("/v1/credit-lines/999999/events", headers=staff), 404, "credit_line_not_found", "line_id")
    assert_error(client.post("/v1/credit-lines/999999/freeze", json={"reason": "x"}, headers=staff),
                 404, "credit_line_not_found", "line_id")


def test_freeze_unfreeze_limit_close_history(client, staff, make_line):
    line = make_line()
    base = f"/v1/credit-lines/{line.id}"
    r = client.post(f"{base}/freeze", json={"reason": "suspected fraud"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "frozen" and r.json()["status_reason"] == "suspected fraud"
    assert r.json()["available"] == "0.00"
    assert_error(client.post(f"{base}/freeze", json={"reason": "again"}, headers=staff),
                 409, "line_already_frozen", "line_id")
    r = client.post(f"{base}/unfreeze", json={"reason": "cleared"}, headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["status_reason"] is None
    assert r.json()["available"] == "20000.00"
    assert_error(client.post(f"{base}/unfreeze", json={"reason": "again"}, headers=staff),
                 409, "line_not_frozen", "line_id")
    r = client.post(f"{base}/limit", json={"limit": "35000", "reason": "good history"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["limit"] == "35000.00" and r.json()["available"] == "35000.00"
    assert_error(client.post(f"{base}/limit", json={"limit": "35000", "reason": "same"}, headers=staff),
                 409, "limit_unchanged", "limit")
    assert_error(client.post(f"{base}/limit", json={"limit": "35050", "reason": "odd"}, headers=staff),
                 422, "invalid_limit", "limit")
    assert client.post(f"{base}/limit", json={"limit": "10000", "reason": "cut"}, headers=staff).status_code == 200
    r = client.post(f"{base}/close", json={"reason": "customer request"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["closed_on"] == "2026-03-10"
    assert r.json()["available"] == "0.00"
    for action, body in (("freeze", {"reason": "x"}), ("unfreeze", {"reason": "x"}), ("close", {"reason": "x"}),
                         ("limit", {"limit": "5000", "reason": "x"})):
        assert_error(client.post(f"{base}/{action}", json=body, headers=staff), 409, "line_closed", "line_id")

    events = client.get(f"{base}/events", headers=staff).json()
    assert [(e["kind"], e["old_limit"], e["new_limit"], e["reason"]) for e in events] == [
        ("granted", None, "20000.00", "granted by operator"),
        ("frozen", None, None, "suspected fraud"),
        ("unfrozen", None, None, "cleared"),
        ("limit_changed", "20000.00", "35000.00", "good history"),
        ("limit_changed", "35000.00", "10000.00", "cut"),
        ("closed", "10000.00", None, "customer request"),
    ]
    assert all(e["actor"].startswith("operator:") for e in events[1:])


@pytest.mark.parametrize("action", ["freeze", "unfreeze", "close"])
def test_reason_required(client, staff, make_line, action):
    line = make_line()
    base = f"/v1/credit-lines/{line.id}"
    assert_error(client.post(f"{base}/{action}", json={}, headers=staff), 422, "missing_field", "reason")
    assert_error(client.post(f"{base}/{action}", json={"reason": ""}, headers=staff), 422, "invalid_field", "reason")
    assert_error(client.post(f"{base}/{action}", json={"reason": "   "}, headers=staff),
                 422, "invalid_reason", "reason")
    assert_error(client.post(f"{base}/{action}", json={"reason": "x" * 501}, headers=staff),
                 422, "invalid_field", "reason")
    assert client.get(base, headers=staff).json()["status"] == "active"
    assert [e["kind"] for e in client.get(f"{base}/events", headers=staff).json()] == ["granted"]


def test_limit_change_requires_reason(client, staff, make_line):
    line = make_line()
    assert_error(client.post(f"/v1/credit-lines/{line.id}/limit", json={"limit": "30000"}, headers=staff),
                 422, "missing_field", "reason")
    assert client.get(f"/v1/credit-lines/{line.id}", headers=staff).json()["limit"] == "20000.00"


def test_drawdown_on_frozen_and_closed_lines(client, staff, make_line, rail):
    line = make_line()
    base = f"/v1/credit-lines/{line.id}"
    client.post(f"{base}/freeze", json={"reason": "review"}, headers=staff)
    assert_error(client.post(f"{base}/drawdowns", json={"amount": "1000", "term": 5}, headers=staff),
                 409, "line_frozen", "line_id")
    client.post(f"{base}/close", json={"reason": "done"}, headers=staff)
    assert_error(client.post(f"{base}/drawdowns", json={"amount": "1000", "term": 5}, headers=staff),
                 409, "line_closed", "line_id")
    assert client.get(f"/v1/customers/{line.customer_id}/loans", headers=staff).json() == []
    assert client.get(base, headers=staff).json()["used"] == "0.00"
    assert rail.instructions == []


def test_available_is_limit_minus_outstanding_and_revolves(client, staff, make_line):
    line = make_line(limit="20000")
    base = f"/v1/credit-lines/{line.id}"
    dd = client.post(f"{base}/drawdowns", json={"amount": "8000", "term": 5}, headers=staff)
    assert dd.status_code == 201, dd.text
    dd2 = client.post(f"{base}/drawdowns", json={"amount": "5000", "term": 10}, headers=staff)
    assert dd2.status_code == 201, dd2.text
    now = client.get(base, headers=staff).json()
    assert (now["used"], now["available"]) == ("13000.00", "7000.00")
    assert_error(client.post(f"{base}/drawdowns", json={"amount": "7000.01", "term": 5}, headers=staff),
                 422, "limit_exceeded", "amount")

    # repaying principal gives the room back
    loan_id = dd.json()["loan_id"]
    r = client.post(f"/v1/loans/{loan_id}/repayments", json={"amount": "3000"}, headers=staff)
    assert r.status_code == 201, r.text
    assert r.json()["principal"] == "3000.00"
    now = client.get(base, headers=staff).json()
    assert (now["used"], now["available"]) == ("10000.00", "10000.00")
    loans = client.get(f"/v1/customers/{line.customer_id}/loans", headers=staff).json()
    outstanding = sum(float(l["principal_outstanding"]) for l in loans)
    assert float(now["limit"]) - outstanding == float(now["available"])

    # a limit cut below what is used leaves nothing available and recalls nothing
    r = client.post(f"{base}/limit", json={"limit": "5000", "reason": "risk"}, headers=staff)
    assert r.status_code == 200, r.text
    assert (r.json()["used"], r.json()["available"]) == ("10000.00", "0.00")
    assert_error(client.post(f"{base}/drawdowns", json={"amount": "100", "term": 5}, headers=staff),
                 422, "limit_exceeded", "amount")

    # paying a loan off frees all of its principal
    payoff = client.get(f"/v1/loans/{loan_id}/payoff-quote", headers=staff).json()["total"]
    r = client.post(f"/v1/loans/{loan_id}/repayments", json={"amount": payoff}, headers=staff)
    assert r.status_code == 201 and r.json()["paid_off"] is True
    assert client.get(base, headers=staff).json()["used"] == "5000.00"


def test_rate_with_more_than_eight_decimals_is_refused(client, staff, make_customer):
    r = grant(client, staff, make_customer().id, daily_rate="0.000444444444")
    assert_error(r, 422, "invalid_rate", "daily_rate")
    ok = grant(client, staff, make_customer().id, daily_rate="0.000400000000")  # trailing zeros are fine
    assert ok.status_code == 201, ok.text
