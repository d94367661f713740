"""Repayments, the ledger and reconciliation through the services, on both databases."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microlend.errors import BusinessRuleError, ConflictError, ExternalServiceError
from microlend.lending.loans import LoanStatus
from microlend.services import credit_lines, drawdowns, ledger, loans, repayments
from microlend.store.repositories import LedgerRepository


def draw(platform, line_id, amount, term=5):
    return drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher,
                                      clock=platform.clock, line_id=line_id, amount=Decimal(amount), term=term)


def pay(platform, loan_id, amount, **kw):
    return repayments.repay(uow=platform.uow(), clock=platform.clock, rail=platform.rail, cipher=platform.cipher,
                            loan_id=loan_id, amount=Decimal(amount), **kw)


def quote(platform, loan_id, on=None):
    return loans.payoff_quote(uow=platform.uow(), clock=platform.clock, loan_id=loan_id, on=on)


def test_hand_computed_prepayment_and_payoff(platform, make_line, clock):
    """10,000 over 5 months at 0.05%/day from 2026-03-10; pay 3,000 on day 17."""
    line = make_line(limit="20000")
    loan_id = draw(platform, line.id, "10000").loan_id
    clock.advance(17)
    rep = pay(platform, loan_id, "3000")
    assert rep.interest == Decimal("85.00")              # 10000 x 0.0005 x 17
    assert rep.prepaid_principal == Decimal("2915.00")
    loan = loans.get_loan(uow=platform.uow(), loan_id=loan_id)
    first = loan.installments[0]
    assert first.interest == Decimal("85.00") + Decimal("49.60")  # + 7085 x 0.0005 x 14 = 49.595
    assert loan.principal_outstanding == Decimal("7085.00")
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).available == Decimal("12915.00")
    q = quote(platform, loan_id)
    assert q.total == Decimal("7085.00")  # nothing accrued since this morning's prepayment
    done = pay(platform, loan_id, str(q.total))
    assert done.paid_off
    loan = loans.get_loan(uow=platform.uow(), loan_id=loan_id)
    assert loan.status == LoanStatus.PAID_OFF.value and loan.principal_outstanding == 0
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).available == Decimal("20000.00")
    assert ledger.reconcile_loan(uow=platform.uow(), loan_id=loan_id) == []
    tb = ledger.get_trial_balance(uow=platform.uow())
    by_code = {r.account.code: r for r in tb.rows}
    assert tb.balanced and by_code["4001"].balance == Decimal("85.00") and by_code["1101"].balance == 0


def test_overdue_loan_pays_penalty_first(platform, make_line, clock):
    line = make_line(limit="20000")
    loan_id = draw(platform, line.id, "5000").loan_id
    clock.advance(31 + 10)  # due 2026-04-10, today 2026-04-20: 10 days overdue
    q = quote(platform, loan_id)
    penalty = next(a for c, _, a in q.components if c == "penalty")
    assert penalty == Decimal("7.50")  # 1000 x 0.00075 x 10
    rep = pay(platform, loan_id, "10")
    assert rep.allocation[0] == {"component": "penalty", "installment": None, "amount": "7.50"}
    assert rep.allocation[1]["component"] == "overdue_interest" and rep.allocation[1]["amount"] == "2.50"
    assert ledger.reconcile_all(uow=platform.uow()) == []


def test_overpayment_refused_and_nothing_written(platform, make_line, clock):
    line = make_line()
    loan_id = draw(platform, line.id, "1000").loan_id
    clock.advance(5)
    before = ledger.get_trial_balance(uow=platform.uow())
    too_much = quote(platform, loan_id).total + Decimal("0.01")
    with pytest.raises(BusinessRuleError) as err:
        pay(platform, loan_id, str(too_much))
    assert err.value.code == "overpayment" and err.value.field == "amount"
    assert ledger.get_trial_balance(uow=platform.uow()) == before
    assert loans.list_repayments(uow=platform.uow(), loan_id=loan_id) == []


def test_paid_off_loan_refuses_more(platform, make_line):
    line = make_line()
    loan_id = draw(platform, line.id, "1000").loan_id
    pay(platform, loan_id, "1000")
    with pytest.raises(ConflictError) as err:
        pay(platform, loan_id, "1")
    assert err.value.code == "loan_not_active"


def test_card_repayment_partial_and_failed_debits(platform, make_line, rail, clock):
    line = make_line()
    loan_id = draw(platform, line.id, "2000").loan_id
    clock.advance(3)
    rail.will("partial:120.00")
    rep = pay(platform, loan_id, "500", channel=repayments.Channel.CARD, idempotency_key="p1")
    assert rep.amount == Decimal("120.00")  # only what the card had
    rail.will("fail:insufficient_funds")
    with pytest.raises(BusinessRuleError) as err:
        pay(platform, loan_id, "500", channel=repayments.Channel.CARD)
    assert err.value.code == "debit_failed"
    rail.will("timeout")
    with pytest.raises(ExternalServiceError) as err:
        pay(platform, loan_id, "500", channel=repayments.Channel.CARD, idempotency_key="t1")
    assert err.value.code == "rail_timeout"
    assert len(loans.list_repayments(uow=platform.uow(), loan_id=loan_id)) == 1
    assert ledger.reconcile_all(uow=platform.uow()) == []


def test_idempotent_repayment(platform, make_line, clock):
    line = make_line()
    loan_id = draw(platform, line.id, "3000").loan_id
    clock.advance(10)
    a = pay(platform, loan_id, "700", idempotency_scope="k", idempotency_key="r1", request_fingerprint="f")
    b = pay(platform, loan_id, "700", idempotency_scope="k", idempotency_key="r1", request_fingerprint="f")
    assert a.id == b.id
    assert len(loans.list_repayments(uow=platform.uow(), loan_id=loan_id)) == 1
    with pytest.raises(ConflictError):
        pay(platform, loan_id, "701", idempotency_scope="k", idempotency_key="r1", request_fingerprint="g")


def test_failure_mid_transaction_writes_nothing(platform, make_line, clock, monkeypatch):
    line = make_line()
    loan_id = draw(platform, line.id, "3000").loan_id
    clock.advance(10)
    before_tb = ledger.get_trial_balance(uow=platform.uow())
    before_loan = loans.get_loan(uow=platform.uow(), loan_id=loan_id)

    def explode(self, entry, *, at):
        raise RuntimeError("disk full")

    monkeypatch.setattr(LedgerRepository, "post", explode)
    with pytest.raises(RuntimeError):
        pay(platform, loan_id, "500")
    monkeypatch.undo()
    after_loan = loans.get_loan(uow=platform.uow(), loan_id=loan_id)
    assert [i.principal for i in after_loan.installments] == [i.principal for i in before_loan.installments]
    assert after_loan.interest_paid == 0
    assert ledger.get_trial_balance(uow=platform.uow()) == before_tb
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).used == Decimal("3000.00")


def test_payoff_quote_dates(platform, make_line, clock):
    line = make_line()
    loan_id = draw(platform, line.id, "1000").loan_id
    from microlend.errors import ValidationError

    with pytest.raises(ValidationError):
        quote(platform, loan_id, on=clock.business_date() - timedelta(days=1))
    future = quote(platform, loan_id, on=clock.business_date() + timedelta(days=20))
    assert future.total == Decimal("1010.00")  # 1000 x 0.0005 x 20


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["draw", "pay", "wait"]), st.integers(1, 40),
                                st.integers(1, 100)), min_size=3, max_size=14))
def test_any_sequence_keeps_ledger_and_loans_in_step(platform, make_line, clock, steps):
    """After any sequence of drawdowns, repayments and days passing: the ledger balances,
    every loan reconciles with it, and each line's ``used`` is its loans' principal."""
    from hypothesis import note

    line = make_line(limit="50000")  # a fresh customer and line per example; the clock only moves forward
    for action, days, percent in steps:
        note(f"{action} {days} {percent}")
        if action == "wait":
            clock.advance(days)
        elif action == "draw":
            current = credit_lines.get_line(uow=platform.uow(), line_id=line.id)
            amount = (current.available * percent / 100).quantize(Decimal("1"), rounding=ROUND_DOWN)
            if amount >= 100:
                draw(platform, line.id, str(amount), term=[5, 10, 20][days % 3])
        else:
            with platform.uow() as uow:
                open_loans = [l for l in uow.loans.list_for_customer(line.customer_id) if l.status == "active"]
            if open_loans:
                target = open_loans[days % len(open_loans)]
                owed = quote(platform, target.id).total
                amount = max(Decimal("0.01"), (owed * percent / 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN))
                pay(platform, target.id, str(amount))
    assert ledger.get_trial_balance(uow=platform.uow()).balanced
    assert ledger.reconcile_all(uow=platform.uow()) == []
    with platform.uow() as uow:
        loans = uow.loans.list_for_customer(line.customer_id)
        used = uow.lines.get(line.id).used
    assert used == sum((l.principal_outstanding for l in loans), Decimal("0.00"))
    for l in loans:
        assert sum(i.principal for i in l.installments) + l.principal_prepaid == l.principal


def test_card_debit_that_timed_out_is_booked_when_the_rail_settles(platform, make_line, rail, clock):
    """The rail takes 1,000 after a timeout while staff record a 100 transfer: 900 repays the
    loan and 100 is held in suspense for refund; nothing the rail took goes unbooked."""
    from microlend.adapters.payment_rail import RailOutcome
    from microlend.services.card_debits import debit_reference

    line = make_line()
    loan_id = draw(platform, line.id, "1000").loan_id
    rail.will("timeout")
    with pytest.raises(ExternalServiceError) as err:
        pay(platform, loan_id, "1000", channel=repayments.Channel.CARD, idempotency_key="K")
    debit_id = err.value.extra["card_debit_id"]
    pay(platform, loan_id, "100")  # a transfer recorded meanwhile
    rail.settle(debit_reference(debit_id), RailOutcome.SUCCEEDED)
    rep = pay(platform, loan_id, "1000", channel=repayments.Channel.CARD, idempotency_key="K")
    assert rep.amount == Decimal("900.00") and rep.paid_off
    again = pay(platform, loan_id, "1000", channel=repayments.Channel.CARD, idempotency_key="K")
    assert again.id == rep.id
    tb = {r.account.code: r for r in ledger.get_trial_balance(uow=platform.uow()).rows}
    assert tb["2101"].balance == Decimal("100.00")      # held for refund
    assert tb["1001"].balance == Decimal("100.00")      # 1,000 out, 100 + 1,000 in: the 100 owed back
    assert tb["1101"].balance == Decimal("0.00")
    assert ledger.reconcile_all(uow=platform.uow()) == []
    assert [d for d in rail.instructions if d[0] == "debit"] == []  # the timed-out instruction was never resent


def test_pending_card_debits_are_resolved_from_the_rail(platform, make_line, rail, clock):
    from microlend.adapters.payment_rail import RailOutcome
    from microlend.services.card_debits import debit_reference, resolve_pending_debits

    line = make_line()
    loan_id = draw(platform, line.id, "2000").loan_id
    clock.advance(10)
    rail.will("timeout")
    with pytest.raises(ExternalServiceError):
        pay(platform, loan_id, "500", channel=repayments.Channel.CARD)
    [pending] = resolve_pending_debits(uow=platform.uow(), rail=rail, cipher=platform.cipher, clock=clock)
    assert pending.status == "pending"  # the rail still has no answer
    rail.settle(debit_reference(pending.id), RailOutcome.SUCCEEDED)
    [done] = resolve_pending_debits(uow=platform.uow(), rail=rail, cipher=platform.cipher, clock=clock)
    assert done.status == "succeeded" and done.collected == Decimal("500.00") and done.repayment_id
    assert resolve_pending_debits(uow=platform.uow(), rail=rail, cipher=platform.cipher, clock=clock) == []
    assert len(loans.list_repayments(uow=platform.uow(), loan_id=loan_id)) == 1
    assert ledger.reconcile_all(uow=platform.uow()) == []


def test_one_idempotency_key_cannot_serve_both_channels(platform, make_line):
    line = make_line()
    loan_id = draw(platform, line.id, "2000").loan_id
    pay(platform, loan_id, "100", idempotency_scope="s", idempotency_key="same", request_fingerprint="transfer")
    with pytest.raises(ConflictError) as err:
        pay(platform, loan_id, "100", channel=repayments.Channel.CARD, idempotency_scope="s",
            idempotency_key="same", request_fingerprint="card")
    assert err.value.code == "idempotency_key_reused"


def test_a_key_used_for_a_transfer_cannot_be_used_for_a_card_debit_even_without_fingerprints(platform, make_line, rail):
    line = make_line()
    loan_id = draw(platform, line.id, "2000").loan_id
    pay(platform, loan_id, "100", idempotency_key="same")
    with pytest.raises(ConflictError) as err:
        pay(platform, loan_id, "100", channel=repayments.Channel.CARD, idempotency_key="same")
    assert err.value.code == "idempotency_key_reused"
    assert [d for d in rail.instructions if d[0] == "debit"] == []
