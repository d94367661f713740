"""Drawdowns through the services on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from microlend.adapters.payment_rail import RailOutcome
from microlend.errors import BusinessRuleError, ConflictError, ValidationError
from microlend.lending.records import Drawdown
from microlend.services import credit_lines, drawdowns, ledger
from microlend.services.drawdowns import rail_reference


def draw(platform, line_id, amount="1000", term=5, **kw):
    return drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher,
                                      clock=platform.clock, line_id=line_id, amount=Decimal(amount), term=term, **kw)


def line_of(platform, line_id):
    return credit_lines.get_line(uow=platform.uow(), line_id=line_id)


def test_drawdown_books_loan_reserves_line_and_posts_disbursement(platform, make_line):
    line = make_line(limit="20000")
    dd = draw(platform, line.id, "5000", term=10)
    assert dd.status == "disbursed" and dd.loan_id is not None
    assert line_of(platform, line.id).available == Decimal("15000.00")
    with platform.uow() as uow:
        loan = uow.loans.get(dd.loan_id)
        assert loan.principal == Decimal("5000.00") and len(loan.installments) == 10
        assert sum(i.principal for i in loan.installments) == Decimal("5000.00")
        sums = uow.ledger.account_sums(loan_id=loan.id)
    assert sums["1101"] == (Decimal("5000.00"), Decimal("0.00"))
    assert sums["1001"] == (Decimal("0.00"), Decimal("5000.00"))
    assert ledger.get_trial_balance(uow=platform.uow()).balanced
    assert platform.rail.instructions == [("disburse", rail_reference(dd.id), Decimal("5000.00"))]


def test_failed_disbursement_leaves_no_loan_and_restores_availability(platform, make_line, rail):
    line = make_line(limit="20000")
    rail.will("fail:card_blocked")
    dd = draw(platform, line.id, "5000")
    assert dd.status == "failed" and dd.failure_code == "card_blocked" and dd.loan_id is None
    assert line_of(platform, line.id).available == Decimal("20000.00")
    with platform.uow() as uow:
        assert uow.loans.list_for_customer(line.customer_id) == []
        assert uow.ledger.account_sums() == {}


def test_rail_timeout_leaves_pending_then_resolves_once(platform, make_line, rail):
    line = make_line(limit="20000")
    rail.will("timeout")
    dd = draw(platform, line.id, "3000")
    assert dd.status == "pending"
    assert line_of(platform, line.id).available == Decimal("17000.00")  # still reserved
    rail.settle(rail_reference(dd.id), RailOutcome.SUCCEEDED)
    resolved = drawdowns.resolve_pending(uow=platform.uow(), rail=rail, cipher=platform.cipher, clock=platform.clock)
    assert [d.status for d in resolved] == ["disbursed"]
    again = drawdowns.resolve_pending(uow=platform.uow(), rail=rail, cipher=platform.cipher, clock=platform.clock)
    assert again == []
    with platform.uow() as uow:
        assert len(uow.loans.list_for_customer(line.customer_id)) == 1
        assert uow.ledger.account_sums()["1101"][0] == Decimal("3000.00")


def test_pending_drawdown_the_rail_never_saw_is_sent_with_the_same_reference(platform, make_line, rail):
    line = make_line(limit="20000")
    with platform.uow() as uow:  # as if the process died between the reservation and the rail call
        l = uow.lines.get(line.id)
        l.reserve(Decimal("2000.00"))
        pending = uow.drawdowns.add(Drawdown(credit_line_id=line.id, customer_id=line.customer_id,
                                             amount=Decimal("2000.00"), term=5, method="equal_principal",
                                             daily_rate=l.daily_rate, requested_on=platform.clock.business_date(),
                                             created_at=platform.clock.now()))
        uow.commit()
    [done] = drawdowns.resolve_pending(uow=platform.uow(), rail=rail, cipher=platform.cipher, clock=platform.clock)
    assert done.status == "disbursed"
    assert rail.instructions == [("disburse", rail_reference(pending.id), Decimal("2000.00"))]
    assert line_of(platform, line.id).used == Decimal("2000.00")


@pytest.mark.parametrize("status,code", [("frozen", "line_frozen"), ("closed", "line_closed")])
def test_no_drawdown_on_frozen_or_closed_line(platform, make_line, status, code):
    line = make_line()
    action = credit_lines.freeze_line if status == "frozen" else credit_lines.close_line
    action(uow=platform.uow(), clock=platform.clock, line_id=line.id, reason="test", actor="t")
    with pytest.raises(ConflictError) as err:
        draw(platform, line.id)
    assert err.value.code == code


def test_drawdown_refusals_write_nothing(platform, make_line, make_customer):
    line = make_line(limit="5000")
    cases = [("50", 5, "amount_below_minimum"), ("5000.01", 5, "limit_exceeded"), ("1000", 7, "invalid_term"),
             ("10.001", 5, "invalid_amount"), ("-5", 5, "invalid_amount")]
    for amount, term, code in cases:
        with pytest.raises((ValidationError, BusinessRuleError)) as err:
            draw(platform, line.id, amount, term=term)
        assert err.value.code == code, amount
    assert line_of(platform, line.id).used == Decimal("0.00")
    no_card = make_line(bank_card=None)
    with pytest.raises(BusinessRuleError) as err:
        draw(platform, no_card.id)
    assert err.value.code == "card_not_bound"
    with platform.uow() as uow:
        assert uow.drawdowns.pending() == []


def test_idempotent_drawdown_takes_effect_once(platform, make_line):
    line = make_line(limit="20000")
    first = draw(platform, line.id, "4000", idempotency_scope="k1", idempotency_key="abc", request_fingerprint="f")
    second = draw(platform, line.id, "4000", idempotency_scope="k1", idempotency_key="abc", request_fingerprint="f")
    assert first.id == second.id and first.loan_id == second.loan_id
    assert line_of(platform, line.id).used == Decimal("4000.00")
    with pytest.raises(ConflictError) as err:
        draw(platform, line.id, "4100", idempotency_scope="k1", idempotency_key="abc", request_fingerprint="g")
    assert err.value.code == "idempotency_key_reused"
    other_scope = draw(platform, line.id, "4000", idempotency_scope="k2", idempotency_key="abc")
    assert other_scope.id != first.id


def race(n: int, action) -> list:
    """Run ``action`` in ``n`` threads released together; return their results (or error codes)."""
    barrier = threading.Barrier(n)
    results: list = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            result = action()
        except (BusinessRuleError, ConflictError) as exc:
            result = exc.code
        with lock:
            results.append(result)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == n, "a racing request hung"
    return results


def test_concurrent_drawdowns_never_overdraw_the_line(platform, make_line):
    """20 simultaneous drawdowns of 1,000 race for a line with room for 5: exactly 5 succeed.

    PostgreSQL serialises them with a row lock on the line; SQLite with BEGIN IMMEDIATE.
    """
    line = make_line(limit="5000")
    outcomes = race(20, lambda: draw(platform, line.id, "1000").status)
    assert sorted(outcomes) == ["disbursed"] * 5 + ["limit_exceeded"] * 15
    final = line_of(platform, line.id)
    assert final.used == Decimal("5000.00") and final.available == Decimal("0.00")
    with platform.uow() as uow:
        assert len(uow.loans.list_for_customer(line.customer_id)) == 5
    assert ledger.reconcile_all(uow=platform.uow()) == []


def test_concurrent_replays_of_one_key_make_one_drawdown(platform, make_line):
    line = make_line(limit="20000")
    ids = race(8, lambda: draw(platform, line.id, "1000", idempotency_scope="s", idempotency_key="same",
                               request_fingerprint="f").id)
    assert len(set(ids)) == 1
    assert line_of(platform, line.id).used == Decimal("1000.00")


def test_concurrent_grants_make_one_open_line(platform, make_customer):
    """Two operators granting the same customer a line at once: one line, one line_exists."""
    customer = make_customer()
    outcomes = race(4, lambda: credit_lines.grant_line(uow=platform.uow(), clock=platform.clock,
                                                       customer_id=customer.id, product_code="REVOLVE",
                                                       limit=Decimal("20000"), actor="t") and "ok")
    assert sorted(outcomes) == ["line_exists"] * 3 + ["ok"]
    assert len(credit_lines.lines_of_customer(uow=platform.uow(), customer_id=customer.id)) == 1


def test_short_disbursement_books_what_was_paid_and_frees_the_rest(platform, make_line, rail):
    line = make_line(limit="20000")
    rail.will("partial:120.00")
    dd = draw(platform, line.id, "1000")
    assert dd.status == "disbursed" and dd.disbursed_amount == Decimal("120.00")
    with platform.uow() as uow:
        loan = uow.loans.get(dd.loan_id)
        assert loan.principal == Decimal("120.00")
        assert uow.ledger.account_sums()["1101"][0] == Decimal("120.00")
    assert line_of(platform, line.id).used == Decimal("120.00")
    assert ledger.reconcile_all(uow=platform.uow()) == []


def test_rail_reporting_more_than_asked_holds_the_drawdown_for_review(platform, make_line, rail, monkeypatch):
    from microlend.adapters.payment_rail import RailResult

    line = make_line(limit="20000")
    monkeypatch.setattr(rail, "disburse", lambda *, reference, card_number, amount: RailResult(
        RailOutcome.SUCCEEDED, reference, amount + Decimal("1.00"), "SIMX"))
    dd = draw(platform, line.id, "1000")
    assert dd.status == "review" and dd.failure_code == "rail_amount_mismatch" and dd.loan_id is None
    assert line_of(platform, line.id).used == Decimal("1000.00")  # still reserved until reconciled
    with platform.uow() as uow:
        assert uow.ledger.account_sums() == {}


def test_short_disbursement_below_the_minimum_is_held_for_review(platform, make_line, rail):
    line = make_line(limit="20000")
    rail.will("partial:0.01")
    dd = draw(platform, line.id, "1000")
    assert dd.status == "review" and dd.failure_code == "short_disbursement" and dd.loan_id is None
    assert line_of(platform, line.id).used == Decimal("1000.00")


def test_a_payout_that_would_price_above_the_cap_is_held_for_review(platform, make_customer, rail, clock):
    """A product capped exactly at its dearest price at 10,000: a short payout of 106.16 on
    2026-07-01 would cost more than the cap after fen rounding, so it is not booked."""
    from datetime import date

    from microlend.lending.products import dearest_price, product_from_dict
    from microlend.services import products

    draft = product_from_dict({"code": "TIGHTFEE", "name": "tight", "monthly_fee_rate": "0.001",
                               "drawdown_min": "100"})
    cap, _ = dearest_price(draft, draft.daily_rate_max)
    products.create_product(uow=platform.uow(), clock=clock,
                            data={"code": "TIGHTFEE", "name": "tight", "monthly_fee_rate": "0.001",
                                  "apr_cap": str(cap)})
    customer = make_customer()
    line = credit_lines.grant_line(uow=platform.uow(), clock=clock, customer_id=customer.id, product_code="TIGHTFEE",
                                   limit=Decimal("20000"), actor="t")
    clock.current_date = date(2026, 7, 1)
    rail.will("partial:106.16")
    dd = draw(platform, line.id, "10000", term=5)
    assert dd.status == "review" and dd.failure_code == "apr_above_cap"
    with platform.uow() as uow:
        assert uow.loans.list_for_customer(customer.id) == []


def test_locking_read_refreshes_an_object_already_in_the_session(platform, make_line):
    from sqlalchemy import update

    from microlend.store import tables

    if platform.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite the writer's lock makes this interleaving impossible")
    line = make_line(limit="20000")
    with platform.uow() as uow:
        stale = uow.lines.get(line.id)
        with platform.engine.connect() as other:  # another transaction changes the row meanwhile
            other.execute(update(tables.credit_lines).where(tables.credit_lines.c.id == line.id)
                          .values(used=Decimal("123.00")))
            other.commit()
        locked = uow.lines.get(line.id, for_update=True)
        assert locked is stale and locked.used == Decimal("123.00")
