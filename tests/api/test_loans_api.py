"""Quotes, drawdowns, schedules, repayments, payoff quotes and the ledger over HTTP."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from api_helpers import assert_error

MONEY = re.compile(r"^-?[0-9]+\.[0-9]{2}$")


def draw(client, staff, line_id: int, amount="10000", term=10, **extra):
    return client.post(f"/v1/credit-lines/{line_id}/drawdowns", json={"amount": amount, "term": term, **extra},
                       headers=staff)


def loan_from(client, staff, make_line, amount="10000", term=10) -> dict:
    line = make_line()
    r = draw(client, staff, line.id, amount, term)
    assert r.status_code == 201, r.text
    loan = client.get(f"/v1/loans/{r.json()['loan_id']}", headers=staff).json()
    return loan


def tb(client, staff) -> dict:
    r = client.get("/v1/ledger/trial-balance", headers=staff)
    assert r.status_code == 200, r.text
    return r.json()


def nothing_lent(client, staff, line, rail) -> None:
    assert client.get(f"/v1/customers/{line.customer_id}/loans", headers=staff).json() == []
    now = client.get(f"/v1/credit-lines/{line.id}", headers=staff).json()
    assert (now["used"], now["available"]) == ("0.00", now["limit"])
    assert Decimal(tb(client, staff)["total_debit"]) == 0
    assert [i for i in rail.instructions if i[0] == "disburse"] == []


# --- quotes -------------------------------------------------------------------------
def test_quote_reference_case(client, staff):
    r = client.post("/v1/quotes", json={"amount": "10000", "term": 10, "daily_rate": "0.0005"}, headers=staff)
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["rates"]["simple"] == "0.182500"
    assert Decimal("0.1805") <= Decimal(q["rates"]["apr"]) <= Decimal("0.1840")
    assert q["rates"]["daily_rate"] == "0.0005"
    assert (q["amount"], q["term"], q["method"], q["start_date"]) == ("10000.00", 10, "equal_principal", "2026-03-10")
    rows = q["installments"]
    assert len(rows) == 10
    assert sum(Decimal(i["principal"]) for i in rows) == Decimal("10000")
    assert sum(Decimal(i["interest"]) for i in rows) == Decimal(q["total_interest"])
    assert Decimal(q["total_repayment"]) == Decimal("10000") + Decimal(q["total_cost"])
    assert all(MONEY.match(i[k]) for i in rows for k in ("principal", "interest", "fee", "total"))


def test_quote_uses_the_line_rate(client, auth, make_line):
    line = make_line(daily_rate="0.0003")
    borrower = auth("borrower", line.customer_id)
    r = client.post("/v1/quotes", json={"amount": "10000", "term": 5, "credit_line_id": line.id}, headers=borrower)
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["rates"]["daily_rate"]) == Decimal("0.0003")
    r = client.post("/v1/quotes", json={"amount": "10000", "term": 5, "method": "equal_installment"}, headers=borrower)
    assert r.status_code == 200 and r.json()["method"] == "equal_installment"
    assert r.json()["rates"]["daily_rate"] == "0.0005"  # no line: the product's top rate


def test_quote_refusals(client, staff):
    def quote(**body):
        return client.post("/v1/quotes", json={"amount": "10000", "term": 10, **body}, headers=staff)

    assert_error(quote(daily_rate="0.0006"), 422, "invalid_daily_rate", "daily_rate")
    assert_error(quote(daily_rate="0.0001"), 422, "invalid_daily_rate", "daily_rate")
    assert_error(quote(daily_rate="1.5"), 422, "invalid_rate", "daily_rate")
    assert_error(quote(term=7), 422, "invalid_term", "term")
    assert_error(quote(amount="99.99"), 422, "amount_out_of_range", "amount")
    assert_error(quote(amount="200000.01"), 422, "amount_out_of_range", "amount")
    assert_error(quote(amount="1.001"), 422, "invalid_amount", "amount")
    assert_error(quote(product_code="NOPE"), 404, "product_not_found", "product_code")
    assert_error(quote(method="balloon"), 422, "invalid_field", "method")
    assert_error(client.post("/v1/quotes", json={"amount": "10000"}, headers=staff), 422, "missing_field", "term")


# --- drawdowns ----------------------------------------------------------------------
@pytest.mark.parametrize("term", [5, 10, 20])
def test_drawdown_happy_path(client, staff, make_line, rail, term):
    line = make_line()
    r = draw(client, staff, line.id, "12345.67", term, purpose="sofa")
    assert r.status_code == 201, r.text
    dd = r.json()
    assert dd["status"] == "disbursed" and dd["loan_id"] and dd["failure_code"] is None
    assert (dd["amount"], dd["term"], dd["purpose"]) == ("12345.67", term, "sofa")
    assert Decimal(dd["daily_rate"]) == Decimal("0.0005")  # its spelling: see test_lines_api rates test
    assert client.get(f"/v1/drawdowns/{dd['id']}", headers=staff).json() == dd
    loan = client.get(f"/v1/loans/{dd['loan_id']}", headers=staff).json()
    assert loan["status"] == "active" and loan["principal"] == "12345.67" and loan["term"] == term
    assert loan["principal_outstanding"] == "12345.67" and loan["days_past_due"] == 0
    schedule = client.get(f"/v1/loans/{dd['loan_id']}/schedule", headers=staff).json()
    rows = schedule["installments"]
    assert [i["number"] for i in rows] == list(range(1, term + 1))
    assert sum(Decimal(i["principal"]) for i in rows) == Decimal("12345.67")
    assert all(i["status"] == "scheduled" for i in rows)
    assert rows[0]["due_date"] == "2026-04-10" and rows[0]["period_start"] == "2026-03-10"
    assert client.get(f"/v1/credit-lines/{line.id}", headers=staff).json()["available"] == "7654.33"
    assert rail.instructions[-1][0] == "disburse" and rail.instructions[-1][2] == Decimal("12345.67")


def test_borrower_draws_on_own_line(client, auth, make_line, known_device):
    line = make_line()
    borrower = auth("borrower", line.customer_id)
    device = known_device(line.customer_id)
    r = draw(client, borrower, line.id, "500", 5, method="equal_installment", device_id=device)
    assert r.status_code == 201, r.text
    assert r.json()["method"] == "equal_installment"


def test_a_borrower_must_name_the_device(client, auth, make_line):
    line = make_line()
    r = draw(client, auth("borrower", line.customer_id), line.id, "500", 5)
    assert r.status_code == 422 and r.json()["error"]["code"] == "device_id_required"
    assert r.json()["error"]["field"] == "device_id"


@pytest.mark.parametrize("amount,term,status,code,field", [
    ("99.99", 10, 422, "amount_below_minimum", "amount"),
    ("20000.01", 10, 422, "limit_exceeded", "amount"),
    ("100.001", 10, 422, "invalid_amount", "amount"),
    ("-100", 10, 422, "invalid_amount", "amount"),
    ("0", 10, 422, "invalid_amount", "amount"),
    ("abc", 10, 422, "invalid_amount", "amount"),
    ("NaN", 10, 422, "invalid_amount", "amount"),
    ("Infinity", 10, 422, "invalid_amount", "amount"),
    ("1e13", 10, 422, "invalid_amount", "amount"),
    (None, 10, 422, "invalid_amount", "amount"),
    ("1000", 7, 422, "invalid_term", "term"),
    ("1000", "ten", 422, "invalid_field", "term"),
])
def test_drawdown_refused(client, staff, make_line, rail, amount, term, status, code, field):
    line = make_line()
    assert_error(draw(client, staff, line.id, amount, term), status, code, field)
    nothing_lent(client, staff, line, rail)


@pytest.mark.parametrize("amount", ["1e30", "1234567890123456789012345678", "10000000000000"])
def test_huge_amount_is_invalid_amount_not_500(client, staff, make_line, rail, amount):
    line = make_line()
    assert_error(draw(client, staff, line.id, amount, 10), 422, "invalid_amount", "amount")
    assert_error(client.post("/v1/quotes", json={"amount": amount, "term": 10}, headers=staff),
                 422, "invalid_amount", "amount")
    assert_error(client.post(f"/v1/credit-lines/{line.id}/limit", json={"limit": amount, "reason": "x"},
                             headers=staff), 422, "invalid_amount", "limit")
    nothing_lent(client, staff, line, rail)


def test_drawdown_other_refusals(client, staff, make_line, rail):
    line = make_line()
    assert_error(draw(client, staff, line.id, method="balloon"), 422, "invalid_field", "method")
    assert_error(draw(client, staff, line.id, currency="USD"), 422, "unknown_field", "currency")
    assert_error(client.post(f"/v1/credit-lines/{line.id}/drawdowns", json={"amount": "1000"}, headers=staff),
                 422, "missing_field", "term")
    assert_error(draw(client, staff, 999999), 404, "credit_line_not_found", "line_id")
    nothing_lent(client, staff, line, rail)


def test_drawdown_without_bound_card(client, staff, make_line, rail):
    line = make_line(bank_card=None)
    assert_error(draw(client, staff, line.id), 422, "card_not_bound", "bank_card")
    nothing_lent(client, staff, line, rail)


def test_failed_disbursement_lends_nothing(client, staff, make_line, rail):
    line = make_line()
    rail.will("fail:card_blocked")
    err = assert_error(draw(client, staff, line.id), 422, "disbursement_failed", "bank_card")
    dd = client.get(f"/v1/drawdowns/{err['drawdown_id']}", headers=staff).json()
    assert dd["status"] == "failed" and dd["failure_code"] == "card_blocked" and dd["loan_id"] is None
    assert client.get(f"/v1/customers/{line.customer_id}/loans", headers=staff).json() == []
    now = client.get(f"/v1/credit-lines/{line.id}", headers=staff).json()
    assert (now["used"], now["available"]) == ("0.00", "20000.00")
    assert Decimal(tb(client, staff)["total_debit"]) == 0
    # the next attempt goes through
    assert draw(client, staff, line.id).status_code == 201


def test_rail_timeout_leaves_drawdown_pending(client, staff, make_line, rail):
    line = make_line()
    rail.will("timeout")
    r = draw(client, staff, line.id, "3000", 5)
    assert r.status_code == 202, r.text
    dd = r.json()
    assert dd["status"] == "pending" and dd["loan_id"] is None
    assert client.get(f"/v1/customers/{line.customer_id}/loans", headers=staff).json() == []
    now = client.get(f"/v1/credit-lines/{line.id}", headers=staff).json()
    assert (now["used"], now["available"]) == ("3000.00", "17000.00")  # reserved while the rail decides
    assert Decimal(tb(client, staff)["total_debit"]) == 0


# --- repayments -----------------------------------------------------------------------
def test_repayment_shape(client, staff, make_line, clock):
    loan = loan_from(client, staff, make_line)
    clock.advance(31)  # the first installment falls due
    r = client.post(f"/v1/loans/{loan['id']}/repayments", json={"amount": "1155"}, headers=staff)
    assert r.status_code == 201, r.text
    rp = r.json()
    assert rp["paid_on"] == "2026-04-10" and rp["channel"] == "card" and rp["paid_off"] is False
    for k in ("amount", "principal", "interest", "fee", "penalty", "prepaid_principal"):
        assert MONEY.match(rp[k]), (k, rp[k])
    assert (rp["amount"], rp["interest"], rp["principal"], rp["prepaid_principal"]) == (
        "1155.00", "155.00", "1000.00", "0.00")
    assert rp["allocation"] and all(MONEY.match(p["amount"]) for p in rp["allocation"])
    assert [(p["component"], p["installment"]) for p in rp["allocation"]] == [("interest_due", 1), ("principal_due", 1)]
    assert sum(Decimal(p["amount"]) for p in rp["allocation"]) == Decimal("1155")
    assert client.get(f"/v1/loans/{loan['id']}/repayments", headers=staff).json() == [rp]
    first = client.get(f"/v1/loans/{loan['id']}/schedule", headers=staff).json()["installments"][0]
    assert first["status"] == "paid" and first["principal_paid"] == "1000.00"


def test_partial_prepayment_reschedules(client, staff, make_line):
    loan = loan_from(client, staff, make_line, "10000", 10)
    before = client.get(f"/v1/loans/{loan['id']}/schedule", headers=staff).json()["installments"]
    r = client.post(f"/v1/loans/{loan['id']}/repayments", json={"amount": "4000"}, headers=staff)
    assert r.status_code == 201, r.text
    assert r.json()["prepaid_principal"] == "4000.00" and r.json()["paid_off"] is False
    after = client.get(f"/v1/loans/{loan['id']}/schedule", headers=staff).json()["installments"]
    assert len(after) == 10  # the term is kept, the installments shrink
    assert sum(Decimal(i["principal"]) for i in after) == Decimal("6000")
    assert all(Decimal(i["principal"]) == Decimal("600") for i in after)
    assert sum(Decimal(i["interest"]) for i in after) < sum(Decimal(i["interest"]) for i in before)
    assert [i["due_date"] for i in after] == [i["due_date"] for i in before]
    got = client.get(f"/v1/loans/{loan['id']}", headers=staff).json()
    assert got["principal_outstanding"] == "6000.00" and got["status"] == "active"


def test_pay_exactly_the_payoff_quote(client, staff, make_line, clock):
    loan = loan_from(client, staff, make_line)
    clock.advance(12)
    quote = client.get(f"/v1/loans/{loan['id']}/payoff-quote", headers=staff).json()
    assert quote["date"] == "2026-03-22"
    comps = {c["component"]: c["amount"] for c in quote["components"]}
    assert comps == {"accrued_interest": "60.00", "prepaid_principal": "10000.00"}  # 10000 * 0.0005 * 12
    assert quote["total"] == "10060.00"
    r = client.post(f"/v1/loans/{loan['id']}/repayments", json={"amount": quote["total"]}, headers=staff)
    assert r.status_code == 201, r.text
    assert r.json()["paid_off"] is True
    got = client.get(f"/v1/loans/{loan['id']}", headers=staff).json()
    assert got["status"] == "paid_off" and got["closed_on"] == "2026-03-22" and got["principal_outstanding"] == "0.00"
    assert client.get(f"/v1/loans/{loan['id']}/payoff-quote", headers=staff).json()["total"] == "0.00"
    assert_error(client.post(f"/v1/loans/{loan['id']}/repayments", json={"amount": "1"}, headers=staff),
                 409, "loan_not_active", "loan_id")
    assert client.get(f"/v1/loans/{loan['id']}/reconciliation", headers=staff).json()["reconciled"] is True


def test_overpayment_is_refused_and_writes_nothing(client, staff, make_line, rail):
    loan = loan_from(client, staff, make_line)
    url = f"/v1/loans/{loan['id']}/repayments"
    assert client.post(url, json={"amount": "100"}, headers=staff).status_code == 201
    quote = client.get(f"/v1/loans/{loan['id']}/payoff-quote", headers=staff).json()
    repayments, ledger, instructions = client.get(url, headers=staff).json(), tb(client, staff), list(rail.instructions)
    too_much = str(Decimal(quote["total"]) + Decimal("0.01"))
    assert_error(client.post(url, json={"amount": too_much}, headers=staff), 422, "overpayment", "amount")
    assert_error(client.post(url, json={"amount": too_much, "channel": "transfer"}, headers=staff),
                 422, "overpayment", "amount")
    assert client.get(url, headers=staff).json() == repayments
    assert tb(client, staff) == ledger
    assert rail.instructions == instructions
    assert client.get(f"/v1/loans/{loan['id']}", headers=staff).json()["principal_outstanding"] == "9900.00"


def test_repayment_refusals(client, staff, make_line):
    loan = loan_from(client, staff, make_line)
    url = f"/v1/loans/{loan['id']}/repayments"
    for amount, code in (("0", "invalid_amount"), ("-5", "invalid_amount"), ("1.005", "invalid_amount"),
                         ("x", "invalid_amount")):
        assert_error(client.post(url, json={"amount": amount}, headers=staff), 422, code, "amount")
    assert_error(client.post(url, json={"amount": "1", "channel": "cash"}, headers=staff), 422, "invalid_field",
                 "channel")
    assert_error(client.post("/v1/loans/999999/repayments", json={"amount": "1"}, headers=staff),
                 404, "loan_not_found", "loan_id")
    assert client.get(url, headers=staff).json() == []


def test_payoff_quote_dates(client, staff, make_line, clock):
    loan = loan_from(client, staff, make_line)
    url = f"/v1/loans/{loan['id']}/payoff-quote"
    assert_error(client.get(url, params={"date": "2026-03-09"}, headers=staff), 422, "invalid_date", "date")
    assert_error(client.get(url, params={"date": "2026-02-30"}, headers=staff), 422, "invalid_field", "date")
    today = client.get(url, headers=staff).json()
    assert today["total"] == "10000.00"
    assert not any(c["component"] == "penalty" for c in today["components"])

    clock.advance(45)  # 2026-04-24: installment 1 (due 2026-04-10) is 14 days overdue
    assert_error(client.get(url, params={"date": "2026-04-23"}, headers=staff), 422, "invalid_date", "date")
    now = client.get(url, headers=staff).json()
    comps = {(c["component"], c["installment"]): Decimal(c["amount"]) for c in now["components"]}
    # penalty: 1000 overdue principal x 0.0005 x 1.5 x 14 days
    assert comps[("penalty", None)] == Decimal("10.50")
    assert comps[("overdue_interest", 1)] == Decimal("155.00")
    assert comps[("overdue_principal", 1)] == Decimal("1000.00")
    later = client.get(url, params={"date": "2026-05-01"}, headers=staff).json()
    later_penalty = next(Decimal(c["amount"]) for c in later["components"] if c["component"] == "penalty")
    assert later_penalty > comps[("penalty", None)]
    assert Decimal(later["total"]) > Decimal(now["total"])
    got = client.get(f"/v1/loans/{loan['id']}", headers=staff).json()
    assert got["days_past_due"] == 14
    first = client.get(f"/v1/loans/{loan['id']}/schedule", headers=staff).json()["installments"][0]
    assert first["status"] == "overdue"

    r = client.post(f"/v1/loans/{loan['id']}/repayments", json={"amount": now["total"]}, headers=staff)
    assert r.status_code == 201, r.text
    assert r.json()["paid_off"] is True and r.json()["penalty"] == "10.50"
    assert client.get(f"/v1/loans/{loan['id']}/reconciliation", headers=staff).json()["reconciled"] is True
    ledger = tb(client, staff)
    assert ledger["balanced"] is True and ledger["total_debit"] == ledger["total_credit"]


def test_reconciliation_and_trial_balance(client, staff, make_line, clock, rail):
    loan = loan_from(client, staff, make_line, "10000", 10)
    url = f"/v1/loans/{loan['id']}"
    ledger = tb(client, staff)
    assert ledger["balanced"] is True and ledger["total_debit"] == ledger["total_credit"] == "10000.00"
    clock.advance(31)
    assert client.post(f"{url}/repayments", json={"amount": "1155"}, headers=staff).status_code == 201
    clock.advance(5)
    assert client.post(f"{url}/repayments", json={"amount": "2000", "channel": "transfer"},
                       headers=staff).status_code == 201
    rail.will("partial:120.00")
    r = client.post(f"{url}/repayments", json={"amount": "500"}, headers=staff)
    assert r.status_code == 201, r.text
    assert r.json()["amount"] == "120.00"  # only what the card gave is booked

    rec = client.get(f"{url}/reconciliation", headers=staff).json()
    assert rec == {"loan_id": loan["id"], "reconciled": True, "mismatches": []}
    ledger = tb(client, staff)
    assert ledger["balanced"] is True and ledger["total_debit"] == ledger["total_credit"]
    assert all(MONEY.match(row[k]) for row in ledger["rows"] for k in ("debit", "credit", "balance"))
    principal = next(row for row in ledger["rows"] if row["account"] == "1101")
    outstanding = client.get(url, headers=staff).json()["principal_outstanding"]
    assert principal["balance"] == outstanding
    paid = sum(Decimal(r["amount"]) for r in client.get(f"{url}/repayments", headers=staff).json())
    settlement = next(row for row in ledger["rows"] if row["account"] == "1001")
    assert Decimal(settlement["balance"]) == paid - Decimal("10000")
    # a trial balance through the day before the drawdown is empty
    before = client.get("/v1/ledger/trial-balance", params={"through": "2026-03-09"}, headers=staff).json()
    assert before["through"] == "2026-03-09" and Decimal(before["total_debit"]) == 0 and before["balanced"] is True
    assert_error(client.get("/v1/loans/999999/reconciliation", headers=staff), 404, "loan_not_found", "loan_id")


def test_unknown_loan_reads(client, staff):
    for suffix in ("", "/schedule", "/payoff-quote", "/repayments"):
        assert_error(client.get(f"/v1/loans/999999{suffix}", headers=staff), 404, "loan_not_found", "loan_id")
    assert_error(client.get("/v1/drawdowns/999999", headers=staff), 404, "drawdown_not_found", "drawdown_id")


@pytest.mark.parametrize("big", [2**31, 2**63, 10**20])
@pytest.mark.parametrize("method,path,what", [
    ("GET", "/v1/loans/{big}", ("loan_not_found", "loan_id")),
    ("POST", "/v1/loans/{big}/repayments", ("loan_not_found", "loan_id")),
    ("GET", "/v1/drawdowns/{big}", ("drawdown_not_found", "drawdown_id")),
    ("POST", "/v1/quotes", ("credit_line_not_found", "credit_line_id")),
])
def test_out_of_range_ids_are_refused_not_500(client, staff, method, path, what, big):
    body = {"amount": "1000", "term": 5, "credit_line_id": big} if path == "/v1/quotes" else {"amount": "100"}
    r = client.request(method, path.format(big=big), json=body if method == "POST" else None, headers=staff)
    assert r.status_code in (404, 422), r.text
    assert_error(r, r.status_code, *(what if r.status_code == 404 else ("invalid_field", what[1])))


def test_quote_start_date_out_of_range(client, staff):
    r = client.post("/v1/quotes", json={"amount": "1000", "term": 5, "start_date": "9999-12-01"}, headers=staff)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "start_date", r.text
    assert r.json()["error"]["code"] == "invalid_date", r.text


@pytest.mark.parametrize("method", ["equal_principal", "equal_installment"])
def test_ledger_stays_reconciled_through_a_loans_life(client, staff, make_line, clock, method):
    line = make_line()
    r = draw(client, staff, line.id, "6000", 5, method=method)
    assert r.status_code == 201, r.text
    loan_id = r.json()["loan_id"]
    url = f"/v1/loans/{loan_id}"
    # days to move, amount to pay ("payoff" = the whole payoff quote)
    steps = [(10, "50"), (25, "700.37"), (40, "300"), (0, "1000"), (3, "0.01"), (75, "2000"), (20, "payoff")]
    for days, amount in steps:
        clock.advance(days)
        if amount == "payoff":
            amount = client.get(f"{url}/payoff-quote", headers=staff).json()["total"]
        r = client.post(f"{url}/repayments", json={"amount": amount, "channel": "transfer"}, headers=staff)
        assert r.status_code == 201, r.text
        parts = sum(Decimal(p["amount"]) for p in r.json()["allocation"])
        assert parts == Decimal(amount)
        split = sum(Decimal(r.json()[k]) for k in ("principal", "interest", "fee", "penalty"))
        assert split == Decimal(amount)
        rec = client.get(f"{url}/reconciliation", headers=staff).json()
        assert rec["reconciled"] is True, (clock.business_date(), rec)
        ledger = tb(client, staff)
        assert ledger["balanced"] is True and ledger["total_debit"] == ledger["total_credit"]
        loan = client.get(url, headers=staff).json()
        assert next(row for row in ledger["rows"] if row["account"] == "1101")["balance"] == loan[
            "principal_outstanding"]
        assert client.get(f"/v1/credit-lines/{line.id}", headers=staff).json()["used"] == loan["principal_outstanding"]
    assert client.get(url, headers=staff).json()["status"] == "paid_off"
    repaid = client.get(f"{url}/repayments", headers=staff).json()
    assert sum(Decimal(r["principal"]) for r in repaid) == Decimal("6000")
    assert any(Decimal(r["penalty"]) > 0 for r in repaid)


@pytest.mark.parametrize("days_late,dpd,bucket,classification", [
    (0, 0, "current", "normal"), (1, 1, "M1", "special_mention"), (45, 45, "M2", "special_mention"),
    (100, 100, "M3+", "substandard"),
])
def test_loan_shows_days_past_due_bucket_and_class(client, staff, make_line, clock, days_late, dpd, bucket,
                                                   classification):
    line = make_line()
    loan_id = draw(client, staff, line.id, "1000", 5).json()["loan_id"]
    clock.advance(31 + days_late)  # the first installment falls due after 31 days (2026-04-10)
    body = client.get(f"/v1/loans/{loan_id}", headers=staff).json()
    assert (body["days_past_due"], body["bucket"], body["classification"]) == (dpd, bucket, classification)
