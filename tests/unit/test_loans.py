"""Tests for microlend.lending.loans (what is owed, how a payment is applied) and
microlend.lending.postings (the journal entries of a loan's life).

Every expected figure below is worked out by hand in the comment next to it.
The reference loan used throughout: 10,000.00 over 5 months, equal principal,
drawn 15 Jan 2025 at 0.0005 a day (penalty 0.0005 x 1.5 = 0.00075 a day):

    #  period              days  opening   principal  interest
    1  15 Jan -> 15 Feb     31   10,000    2,000.00   10,000 x 0.0005 x 31 = 155.00
    2  15 Feb -> 15 Mar     28    8,000    2,000.00    8,000 x 0.0005 x 28 = 112.00
    3  15 Mar -> 15 Apr     31    6,000    2,000.00    6,000 x 0.0005 x 31 =  93.00
    4  15 Apr -> 15 May     30    4,000    2,000.00    4,000 x 0.0005 x 30 =  60.00
    5  15 May -> 15 Jun     31    2,000    2,000.00    2,000 x 0.0005 x 31 =  31.00
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import asdict, replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microlend.errors import BusinessRuleError, ConflictError, ValidationError
from microlend.lending.ledger import Accounts, JournalEntry, trial_balance
from microlend.lending.loans import (
    ACCRUED_INTEREST,
    PREPAID_PRINCIPAL,
    Loan,
    LoanStatus,
    apply_payment,
    new_loan,
)
from microlend.lending.postings import (
    disbursement_entry,
    expected_loan_balances,
    recognition_entry,
    repayment_entry,
)
from microlend.lending.products import REFERENCE_PRODUCT, Component, LoanProduct, RepaymentMethod
from microlend.lending.schedule import build_schedule
from microlend.money import FEN, ZERO

EP = RepaymentMethod.EQUAL_PRINCIPAL
EI = RepaymentMethod.EQUAL_INSTALLMENT
START = date(2025, 1, 15)


def make_loan(
    principal: str = "10000",
    term: int = 5,
    start: date = START,
    rate: str = "0.0005",
    method: RepaymentMethod = EP,
    product: LoanProduct = REFERENCE_PRODUCT,
    fee_rate: str | None = None,
) -> Loan:
    schedule = build_schedule(
        principal=Decimal(principal), daily_rate=Decimal(rate), term=term, start=start, method=method,
        monthly_fee_rate=Decimal(fee_rate) if fee_rate is not None else product.monthly_fee_rate,
    )
    loan = new_loan(schedule=schedule, product=product, customer_id=1, credit_line_id=1, term=term)
    loan.id = 1
    return loan


def parts(allocation) -> list[tuple[str, int | None, Decimal]]:
    return [(p.component, p.installment, p.amount) for p in allocation.parts]


def half_up(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------- a new loan


def test_new_loan_copies_the_contract():
    loan = make_loan()
    assert loan.status == LoanStatus.ACTIVE.value
    assert loan.principal == Decimal("10000")
    assert loan.penalty_rate == Decimal("0.00075")     # 0.0005 x 1.5
    assert loan.grace_days == 0
    assert loan.method == "equal_principal"
    assert loan.allocation_order == [c.value for c in REFERENCE_PRODUCT.allocation_order]
    assert Decimal("0.18") < loan.apr < Decimal("0.185")
    assert [i.due_date for i in loan.installments] == [
        date(2025, 2, 15), date(2025, 3, 15), date(2025, 4, 15), date(2025, 5, 15), date(2025, 6, 15),
    ]
    assert [i.principal for i in loan.installments] == [Decimal("2000.00")] * 5
    assert [i.interest for i in loan.installments] == [
        Decimal("155.00"), Decimal("112.00"), Decimal("93.00"), Decimal("60.00"), Decimal("31.00"),
    ]
    assert all(i.accrual_start == i.period_start for i in loan.installments)
    assert loan.principal_outstanding == Decimal("10000")
    assert loan.days_past_due(START) == 0


# --------------------------------------------------------------------------- payoff


def test_payoff_on_drawdown_day_is_the_principal():
    loan = make_loan()
    # No day has passed: no interest, the whole principal is "not yet due".
    assert loan.buckets(START) == [(PREPAID_PRINCIPAL, None, Decimal("10000"))]
    assert loan.payoff_amount(START) == Decimal("10000")


def test_paying_off_on_drawdown_day():
    loan = make_loan()
    allocation = apply_payment(loan, Decimal("10000"), START)
    assert allocation.paid_off
    assert allocation.interest == 0
    assert allocation.prepaid_principal == Decimal("10000")
    assert loan.status == LoanStatus.PAID_OFF.value
    assert loan.closed_on == START
    assert loan.principal_outstanding == 0
    assert loan.principal_prepaid == Decimal("10000")
    assert all(i.settled and i.principal == 0 and i.interest == 0 for i in loan.installments)


def test_payoff_in_the_first_period():
    # 1 Feb is day 17: 10,000 x 0.0005 x 17 = 85.00 accrued.
    loan = make_loan()
    on = date(2025, 2, 1)
    assert loan.buckets(on) == [(ACCRUED_INTEREST, 1, Decimal("85.00")), (PREPAID_PRINCIPAL, None, Decimal("10000"))]
    assert loan.payoff_amount(on) == Decimal("10085.00")
    # The day before the first due date: 30 days -> 150.00; on it the whole 155.00 is due.
    assert loan.payoff_amount(date(2025, 2, 14)) == Decimal("10150.00")
    assert loan.payoff_amount(date(2025, 2, 15)) == Decimal("10155.00")


def test_buckets_on_a_due_date():
    loan = make_loan()
    # On 15 Feb installment 1 is due (not overdue); period 2 starts, 0 days accrued.
    assert loan.buckets(date(2025, 2, 15)) == [
        (Component.INTEREST_DUE.value, 1, Decimal("155.00")),
        (Component.PRINCIPAL_DUE.value, 1, Decimal("2000.00")),
        (PREPAID_PRINCIPAL, None, Decimal("8000.00")),
    ]


def test_paying_the_payoff_closes_the_loan():
    loan = make_loan()
    on = date(2025, 3, 20)
    payoff = loan.payoff_amount(on)
    # penalty 57.00 + interest 155 + 112 + principal 4,000 overdue
    # + 5 days on 6,000 = 15.00 accrued + 6,000 not yet due = 10,339.00
    assert payoff == Decimal("10339.00")
    allocation = apply_payment(loan, payoff, on)
    assert allocation.paid_off
    assert loan.status == LoanStatus.PAID_OFF.value
    assert loan.closed_on == on
    assert loan.principal_outstanding == 0
    assert all(i.settled for i in loan.installments)
    assert allocation.penalty == Decimal("57.00")
    assert allocation.interest == Decimal("282.00")     # 155 + 112 + 15
    assert allocation.principal == Decimal("10000.00")
    # the running period's interest is fixed at what was earned; later ones are dropped
    assert [i.interest for i in loan.installments] == [
        Decimal("155.00"), Decimal("112.00"), Decimal("15.00"), ZERO, ZERO,
    ]
    with pytest.raises(ConflictError) as info:
        apply_payment(loan, Decimal("1"), on)
    assert info.value.code == "loan_not_active"


def test_paying_every_installment_on_its_due_date_closes_the_loan():
    loan = make_loan()
    # 2,155 + 2,112 + 2,093 + 2,060 + 2,031 = 10,451.00 = 10,000 + 451 interest
    totals = [Decimal("2155.00"), Decimal("2112.00"), Decimal("2093.00"), Decimal("2060.00"), Decimal("2031.00")]
    for inst, amount in zip(list(loan.installments), totals):
        allocation = apply_payment(loan, amount, inst.due_date)
        assert allocation.penalty == 0 and allocation.prepaid_principal == 0
    assert sum(totals) == Decimal("10451.00")
    assert loan.status == LoanStatus.PAID_OFF.value
    assert loan.closed_on == date(2025, 6, 15)


# --------------------------------------------------------------------------- prepayment


def test_prepayment_pays_accrued_interest_then_principal_and_reschedules():
    loan = make_loan()
    on = date(2025, 2, 1)   # day 17
    allocation = apply_payment(loan, Decimal("3000"), on)
    # 10,000 x 0.0005 x 17 = 85.00 interest, the rest 3,000 - 85 = 2,915.00 principal.
    assert parts(allocation) == [(ACCRUED_INTEREST, 1, Decimal("85.00")), (PREPAID_PRINCIPAL, None, Decimal("2915.00"))]
    assert allocation.interest == Decimal("85.00")
    assert allocation.principal == Decimal("2915.00")
    assert allocation.prepaid_principal == Decimal("2915.00")
    assert not allocation.paid_off
    assert loan.principal_prepaid == Decimal("2915.00")
    # 10,000 - 2,915 = 7,085 over the same 5 due dates: 7,085 / 5 = 1,417.00 each.
    assert [i.principal for i in loan.installments] == [Decimal("1417.00")] * 5
    assert [i.due_date for i in loan.installments] == [
        date(2025, 2, 15), date(2025, 3, 15), date(2025, 4, 15), date(2025, 5, 15), date(2025, 6, 15),
    ]
    # 1: 85.00 fixed + 7,085 x 0.0005 x 14 (1 Feb -> 15 Feb) = 49.595 -> 49.60: 134.60
    # 2: 5,668 x 0.0005 x 28 = 79.352 -> 79.35
    # 3: 4,251 x 0.0005 x 31 = 65.8905 -> 65.89
    # 4: 2,834 x 0.0005 x 30 = 42.51
    # 5: 1,417 x 0.0005 x 31 = 21.9635 -> 21.96
    assert [i.interest for i in loan.installments] == [
        Decimal("134.60"), Decimal("79.35"), Decimal("65.89"), Decimal("42.51"), Decimal("21.96"),
    ]
    first = loan.installments[0]
    assert first.interest_settled == Decimal("85.00")
    assert first.interest_paid == Decimal("85.00")
    assert first.accrual_start == on
    assert loan.principal_outstanding == Decimal("7085.00")
    # Owed right after: only the principal (nothing accrued since).
    assert loan.payoff_amount(on) == Decimal("7085.00")
    # 10 Feb: 85 + 7,085 x 0.0005 x 9 = 85 + 31.8825 -> 116.88 earned, 85 paid: 31.88 accrued.
    assert loan.payoff_amount(date(2025, 2, 10)) == Decimal("7116.88")
    # 15 Feb: 134.60 - 85 = 49.60 interest and 1,417 principal due; 5,668 not yet due.
    assert loan.buckets(date(2025, 2, 15)) == [
        (Component.INTEREST_DUE.value, 1, Decimal("49.60")),
        (Component.PRINCIPAL_DUE.value, 1, Decimal("1417.00")),
        (PREPAID_PRINCIPAL, None, Decimal("5668.00")),
    ]


def test_prepayment_equal_installment_keeps_the_term_and_levels_again():
    loan = make_loan(method=EI)
    before = [i.principal + i.interest for i in loan.installments]
    apply_payment(loan, Decimal("3000"), date(2025, 2, 1))
    after = [i.principal + i.interest for i in loan.installments]
    assert len(after) == 5
    assert sum(i.principal for i in loan.installments) + loan.principal_prepaid == Decimal("10000")
    # smaller installments; 2..4 level with each other again, the last within a few fen
    assert all(a < b for a, b in zip(after, before))
    assert after[1] == after[2] == after[3]
    assert abs(after[4] - after[1]) <= Decimal("0.05")


def test_a_partial_payment_of_accrued_interest_does_not_reschedule():
    loan = make_loan()
    allocation = apply_payment(loan, Decimal("50"), date(2025, 2, 1))
    # 85.00 accrued, 50.00 of it paid; no principal moves, the schedule stays.
    assert parts(allocation) == [(ACCRUED_INTEREST, 1, Decimal("50"))]
    assert loan.principal_prepaid == 0
    assert loan.installments[0].interest == Decimal("155.00")
    # On the due date 155 - 50 = 105.00 interest is left to pay.
    assert loan.buckets(date(2025, 2, 15))[0] == (Component.INTEREST_DUE.value, 1, Decimal("105.00"))


# --------------------------------------------------------------------------- penalty


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        # 1,111.11 x 0.00075 = 0.8333325 a day
        (1, "0.83"),     # 0.8333325
        (2, "1.67"),     # 1.666665
        (3, "2.50"),     # 2.4999975
        (6, "5.00"),     # 4.999995
        (12, "10.00"),   # 9.99999
        (28, "23.33"),   # 23.33331 (on 15 Mar: installment 2 is due, not overdue)
    ],
)
def test_penalty_on_an_overdue_installment(days, expected):
    # 3,333.33 / 3 months = 1,111.11 each; installment 1 due 15 Feb.
    loan = make_loan(principal="3333.33", term=3)
    on = date(2025, 2, 15) + timedelta(days=days)
    assert loan.installments[0].principal == Decimal("1111.11")
    assert loan.penalty_exact_to(on) == Decimal("1111.11") * Decimal("0.00075") * days
    assert loan.penalty_outstanding(on) == Decimal(expected)
    assert loan.buckets(on)[0] == (Component.PENALTY.value, None, Decimal(expected))


def test_no_penalty_on_the_due_date():
    loan = make_loan()
    assert loan.penalty_outstanding(date(2025, 2, 15)) == 0
    assert loan.penalty_outstanding(date(2025, 2, 16)) == Decimal("1.50")   # 2,000 x 0.00075 x 1


def test_penalty_is_kept_unrounded_between_payments():
    loan = make_loan()
    # 20 Mar: inst 1 overdue 33 days, inst 2 overdue 5 days:
    # 2,000 x 0.00075 x 33 = 49.50 and 2,000 x 0.00075 x 5 = 7.50 -> 57.00.
    apply_payment(loan, Decimal("500"), date(2025, 3, 20))
    # 500 = 57 penalty + 155 + 112 interest + 176 of inst 1's principal -> 1,824 left on it.
    assert loan.installments[0].principal_unpaid == Decimal("1824.00")
    assert loan.penalty_exact == Decimal("57.00")
    assert loan.penalty_through == date(2025, 3, 20)
    # 7 more days: 1,824 x 0.00075 x 7 = 9.576 and 2,000 x 0.00075 x 7 = 10.50 -> 20.076 -> 20.08
    assert loan.penalty_outstanding(date(2025, 3, 27)) == Decimal("20.08")
    apply_payment(loan, Decimal("20.08"), date(2025, 3, 27))
    assert loan.penalty_exact == Decimal("77.076")         # 57 + 20.076, not rounded
    assert loan.penalty_paid == Decimal("77.08")
    # One more day: exact 77.076 + (1,824 + 2,000) x 0.00075 = 77.076 + 2.868 = 79.944 -> 79.94;
    # minus 77.08 paid = 2.86 (rounding each day's penalty would give 2.87).
    assert loan.penalty_outstanding(date(2025, 3, 28)) == Decimal("2.86")


def test_penalty_does_not_depend_on_how_often_it_is_computed():
    a = make_loan()
    b = make_loan()
    on = date(2025, 4, 30)
    for day in range(40):   # looking at the loan every day changes nothing
        b.payoff_amount(date(2025, 2, 15) + timedelta(days=day))
    assert a.penalty_outstanding(on) == b.penalty_outstanding(on)
    # inst 1: 74 days, inst 2: 46, inst 3: 15 -> 2,000 x 0.00075 x 135 = 202.50
    assert a.penalty_outstanding(on) == Decimal("202.50")


# --------------------------------------------------------------------------- allocation order


def test_allocation_order_on_an_overdue_loan():
    loan = make_loan()
    on = date(2025, 3, 20)
    assert loan.buckets(on) == [
        (Component.PENALTY.value, None, Decimal("57.00")),
        (Component.OVERDUE_INTEREST.value, 1, Decimal("155.00")),
        (Component.OVERDUE_INTEREST.value, 2, Decimal("112.00")),
        (Component.OVERDUE_PRINCIPAL.value, 1, Decimal("2000.00")),
        (Component.OVERDUE_PRINCIPAL.value, 2, Decimal("2000.00")),
        (ACCRUED_INTEREST, 3, Decimal("15.00")),          # 6,000 x 0.0005 x 5 (15 Mar -> 20 Mar)
        (PREPAID_PRINCIPAL, None, Decimal("6000.00")),
    ]
    allocation = apply_payment(loan, Decimal("500"), on)
    # 500 -> penalty 57, interest 155 (inst 1) + 112 (inst 2), principal 176 of inst 1.
    assert parts(allocation) == [
        (Component.PENALTY.value, None, Decimal("57.00")),
        (Component.OVERDUE_INTEREST.value, 1, Decimal("155.00")),
        (Component.OVERDUE_INTEREST.value, 2, Decimal("112.00")),
        (Component.OVERDUE_PRINCIPAL.value, 1, Decimal("176.00")),
    ]
    assert (allocation.penalty, allocation.interest, allocation.principal, allocation.fee) == (
        Decimal("57.00"), Decimal("267.00"), Decimal("176.00"), ZERO)
    assert allocation.prepaid_principal == 0
    assert loan.installments[0].principal_paid == Decimal("176.00")
    assert loan.installments[1].interest_paid == Decimal("112.00")
    # 10,339.00 - 500 = 9,839.00 still owed on the same day.
    assert loan.payoff_amount(on) == Decimal("9839.00")


def test_allocation_with_fees_and_due_items():
    # 10,000 / 3 months with a 0.6% monthly fee = 60.00 an installment:
    # inst 1: principal 3,333.33, interest 155.00, fee 60.00, due 15 Feb.
    loan = make_loan(term=3, fee_rate="0.006")
    on = date(2025, 2, 20)
    # penalty 3,333.33 x 0.00075 x 5 = 12.4999875 -> 12.50
    # accrued 6,666.67 x 0.0005 x 5 = 16.666675 -> 16.67
    assert loan.buckets(on) == [
        (Component.PENALTY.value, None, Decimal("12.50")),
        (Component.OVERDUE_FEE.value, 1, Decimal("60.00")),
        (Component.OVERDUE_INTEREST.value, 1, Decimal("155.00")),
        (Component.OVERDUE_PRINCIPAL.value, 1, Decimal("3333.33")),
        (ACCRUED_INTEREST, 2, Decimal("16.67")),
        (PREPAID_PRINCIPAL, None, Decimal("6666.67")),
    ]
    # 12.50 + 60 + 155 + 3,333.33 + 16.67 + 6,666.67 = 10,244.17
    assert loan.payoff_amount(on) == Decimal("10244.17")
    allocation = apply_payment(loan, Decimal("10244.17"), on)
    assert allocation.paid_off
    assert allocation.fee == Decimal("60.00")
    # fees of installments not yet due are waived on payoff
    assert [i.fee for i in loan.installments] == [Decimal("60.00"), ZERO, ZERO]
    assert all(i.settled for i in loan.installments)


def test_fee_due_comes_before_interest_due():
    loan = make_loan(term=3, fee_rate="0.006")
    assert [b[0] for b in loan.buckets(date(2025, 2, 15))[:3]] == [
        Component.FEE_DUE.value, Component.INTEREST_DUE.value, Component.PRINCIPAL_DUE.value,
    ]


def test_custom_allocation_order_is_honoured():
    order = (Component.OVERDUE_PRINCIPAL, Component.OVERDUE_INTEREST, Component.PENALTY, Component.OVERDUE_FEE,
             Component.PRINCIPAL_DUE, Component.INTEREST_DUE, Component.FEE_DUE)
    product = replace(REFERENCE_PRODUCT, code="PRIN1ST", allocation_order=order)
    loan = make_loan(product=product)
    assert loan.allocation_order == [c.value for c in order]
    on = date(2025, 3, 20)
    allocation = apply_payment(loan, Decimal("4300"), on)
    # principal first: 2,000 + 2,000, then interest 155 + 112 = 267 -> 33 left for the 57.00 penalty.
    assert parts(allocation) == [
        (Component.OVERDUE_PRINCIPAL.value, 1, Decimal("2000.00")),
        (Component.OVERDUE_PRINCIPAL.value, 2, Decimal("2000.00")),
        (Component.OVERDUE_INTEREST.value, 1, Decimal("155.00")),
        (Component.OVERDUE_INTEREST.value, 2, Decimal("112.00")),
        (Component.PENALTY.value, None, Decimal("33.00")),
    ]
    assert loan.penalty_outstanding(on) == Decimal("24.00")   # 57 - 33


# --------------------------------------------------------------------------- grace and days past due


def test_grace_days_delay_overdue_status_and_penalty():
    loan = make_loan(product=replace(REFERENCE_PRODUCT, code="GRACE", grace_days=3))
    inst = loan.installments[0]
    # 18 Feb is due + 3: still within grace -> "due", not overdue, no penalty.
    assert not loan.is_overdue(inst, date(2025, 2, 18))
    assert loan.penalty_outstanding(date(2025, 2, 18)) == 0
    assert [b[0] for b in loan.buckets(date(2025, 2, 18))[:2]] == [
        Component.INTEREST_DUE.value, Component.PRINCIPAL_DUE.value,
    ]
    # 19 Feb: overdue; penalty runs from the end of grace: 2,000 x 0.00075 x 1 = 1.50.
    assert loan.is_overdue(inst, date(2025, 2, 19))
    assert loan.penalty_outstanding(date(2025, 2, 19)) == Decimal("1.50")
    assert loan.buckets(date(2025, 2, 19))[0] == (Component.PENALTY.value, None, Decimal("1.50"))
    # 20 Feb: 2 days -> 3.00 (without grace it would be 5 days: 7.50).
    assert loan.penalty_outstanding(date(2025, 2, 20)) == Decimal("3.00")
    assert make_loan().penalty_outstanding(date(2025, 2, 20)) == Decimal("7.50")
    # Paying within grace costs no penalty.
    allocation = apply_payment(loan, Decimal("2155.00"), date(2025, 2, 18))
    assert allocation.penalty == 0
    assert loan.installments[0].settled


def test_days_past_due():
    loan = make_loan()
    assert loan.days_past_due(date(2025, 2, 15)) == 0     # due today is not past due
    assert loan.days_past_due(date(2025, 2, 16)) == 1
    assert loan.days_past_due(date(2025, 3, 20)) == 33    # oldest unpaid: 15 Feb
    grace = make_loan(product=replace(REFERENCE_PRODUCT, code="GRACE", grace_days=3))
    assert grace.days_past_due(date(2025, 2, 17)) == 2    # counted from the due date, grace or not
    # Pay 57.00 penalty + 155.00 and 112.00 overdue interest + inst 1's 2,000.00 principal
    # = 2,324.00: inst 1 is settled and the oldest unpaid due date is 15 Mar (5 days ago).
    on = date(2025, 3, 20)
    apply_payment(loan, Decimal("57.00") + Decimal("155.00") + Decimal("112.00") + Decimal("2000.00"), on)
    assert loan.installments[0].settled
    assert loan.days_past_due(on) == 5


# --------------------------------------------------------------------------- refusals


def test_overpayment_is_refused_and_changes_nothing():
    loan = make_loan()
    on = date(2025, 3, 20)
    before = copy.deepcopy(loan)
    with pytest.raises(BusinessRuleError) as info:
        apply_payment(loan, Decimal("10339.01"), on)     # payoff is 10,339.00
    assert info.value.code == "overpayment"
    assert info.value.field == "amount"
    assert asdict(loan) == asdict(before)


@pytest.mark.parametrize("amount", ["0", "-1.00"])
def test_non_positive_payment_is_refused(amount):
    loan = make_loan()
    before = copy.deepcopy(loan)
    with pytest.raises(ValidationError) as info:
        apply_payment(loan, Decimal(amount), date(2025, 2, 1))
    assert info.value.code == "invalid_amount"
    assert asdict(loan) == asdict(before)


def test_dates_before_the_last_event_are_refused():
    loan = make_loan()
    with pytest.raises(ValidationError) as info:
        loan.payoff_amount(START - timedelta(days=1))
    assert info.value.code == "invalid_date"
    apply_payment(loan, Decimal("100"), date(2025, 3, 1))
    with pytest.raises(ValidationError) as info:
        apply_payment(loan, Decimal("100"), date(2025, 2, 28))
    assert info.value.code == "invalid_date"


# --------------------------------------------------------------------------- postings


def post(ledger: dict, entry: JournalEntry | None) -> None:
    if entry is None:
        return
    for line in entry.lines:
        ledger[line.account][0] += line.debit
        ledger[line.account][1] += line.credit


def normal_balance(ledger: dict, code: str) -> Decimal:
    debit, credit = ledger[code]
    return debit - credit if Accounts.by_code()[code].normal_debit else credit - debit


def test_postings_keep_the_ledger_equal_to_the_loan():
    loan = make_loan()
    ledger: dict = defaultdict(lambda: [ZERO, ZERO])
    post(ledger, disbursement_entry(loan_id=1, amount=loan.principal, on=START, reference="d1"))
    assert normal_balance(ledger, "1101") == Decimal("10000")

    # 500 on 20 Mar: 57 penalty + 267 interest + 176 principal.
    allocation = apply_payment(loan, Decimal("500"), date(2025, 3, 20))
    recognition = recognition_entry(loan, date(2025, 3, 20), "p1")
    repayment = repayment_entry(loan, allocation, "p1")
    # recognition: 267 interest + 57 penalty; repayment: 500 in cash
    assert recognition is not None and recognition.total == Decimal("324.00")
    assert repayment.total == Decimal("500")
    post(ledger, recognition)
    post(ledger, repayment)
    expected = expected_loan_balances(loan)
    assert expected == {"1101": Decimal("9824.00"), "1102": ZERO, "1103": ZERO, "1104": ZERO}
    for code, amount in expected.items():
        assert normal_balance(ledger, code) == amount
    # nothing more to recognise until more is paid
    assert recognition_entry(loan, date(2025, 3, 20), "again") is None

    # Payoff on 30 Mar: penalty 1,824 x 0.00075 x 10 + 2,000 x 0.00075 x 10 = 13.68 + 15.00 = 28.68,
    # principal 1,824 + 2,000 overdue, 15 days on 6,000 = 45.00 accrued, 6,000 not due: 9,897.68.
    on = date(2025, 3, 30)
    assert loan.payoff_amount(on) == Decimal("9897.68")
    allocation = apply_payment(loan, Decimal("9897.68"), on)
    post(ledger, recognition_entry(loan, on, "p2"))
    post(ledger, repayment_entry(loan, allocation, "p2"))
    assert loan.status == LoanStatus.PAID_OFF.value
    for code, amount in expected_loan_balances(loan).items():
        assert amount == 0
        assert normal_balance(ledger, code) == 0
    # cash: -10,000 + 500 + 9,897.68 = 397.68 = interest 312 (155 + 112 + 45) + penalty 85.68 (57 + 28.68)
    assert normal_balance(ledger, "1001") == Decimal("397.68")
    assert normal_balance(ledger, "4001") == Decimal("312.00")
    assert normal_balance(ledger, "4003") == Decimal("85.68")
    tb = trial_balance({k: (v[0], v[1]) for k, v in ledger.items()})
    assert tb.balanced


def test_postings_with_fees():
    loan = make_loan(term=3, fee_rate="0.006")
    on = date(2025, 2, 20)
    allocation = apply_payment(loan, loan.payoff_amount(on), on)
    recognition = recognition_entry(loan, on, "r")
    repayment = repayment_entry(loan, allocation, "r")
    # recognised: interest 155 + 16.67, fee 60, penalty 12.50 = 244.17
    assert recognition.total == Decimal("244.17")
    assert repayment.total == Decimal("10244.17")
    assert loan.fee_recognized == Decimal("60.00")
    assert all(v == 0 for v in expected_loan_balances(loan).values())


# --------------------------------------------------------------------------- properties


@st.composite
def loans(draw):
    principal = Decimal(draw(st.integers(min_value=10_000, max_value=20_000_000))) * FEN
    term = draw(st.integers(min_value=1, max_value=24))
    rate = Decimal(draw(st.integers(min_value=0, max_value=1000))) * Decimal("0.000001")
    method = draw(st.sampled_from([EP, EI]))
    start = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)))
    fee_rate = Decimal(draw(st.sampled_from([0, 0, 30, 60]))) * Decimal("0.0001")
    grace = draw(st.sampled_from([0, 0, 3]))
    product = replace(REFERENCE_PRODUCT, grace_days=grace)
    schedule = build_schedule(principal=principal, daily_rate=rate, term=term, start=start, method=method,
                              monthly_fee_rate=fee_rate)
    loan = new_loan(schedule=schedule, product=product, customer_id=1, credit_line_id=1, term=term)
    loan.id = 1
    return loan


payment_steps = st.lists(
    st.tuples(st.integers(min_value=0, max_value=70), st.integers(min_value=1, max_value=100)),
    min_size=1, max_size=12,
)


def amount_for(payoff: Decimal, percent: int) -> Decimal:
    """percent / 100 of the payoff, rounded down to the fen, at least one fen."""
    return max(FEN, (payoff * percent / 100).quantize(FEN, rounding=ROUND_DOWN))


@given(loans(), payment_steps)
@settings(max_examples=150, deadline=None)
def test_payment_invariants(loan: Loan, steps):
    on = loan.start_date
    paid = allocated = ZERO
    for days, percent in steps:
        on += timedelta(days=days)
        payoff = loan.payoff_amount(on)
        assert payoff > 0    # an active loan always owes something
        amount = amount_for(payoff, percent)
        allocation = apply_payment(loan, amount, on)
        paid += amount
        allocated += sum((p.amount for p in allocation.parts), ZERO)
        assert paid == allocated
        assert allocation.principal + allocation.interest + allocation.fee + allocation.penalty == amount
        assert sum((i.principal for i in loan.installments), ZERO) + loan.principal_prepaid == loan.principal
        assert loan.principal_outstanding >= 0
        for inst in loan.installments:
            assert ZERO <= inst.principal_paid <= inst.principal
            assert ZERO <= inst.interest_paid <= inst.interest
            assert ZERO <= inst.fee_paid <= inst.fee
        assert ZERO <= loan.penalty_paid <= half_up(loan.penalty_exact)
        if amount == payoff:
            assert allocation.paid_off
            assert loan.status == LoanStatus.PAID_OFF.value
            assert loan.principal_outstanding == 0
            assert all(i.settled for i in loan.installments)
            break
        assert loan.status == LoanStatus.ACTIVE.value
        # what is owed falls by exactly what was paid
        assert loan.payoff_amount(on) == payoff - amount


@given(loans(), payment_steps, st.integers(0, 70), st.integers(1, 99), st.integers(1, 100))
@settings(max_examples=100, deadline=None)
def test_splitting_a_payment_on_one_day_changes_nothing(loan: Loan, steps, days, p1, p2):
    other = copy.deepcopy(loan)
    on = loan.start_date
    for d, percent in steps:
        on += timedelta(days=d)
        amount = amount_for(loan.payoff_amount(on), percent)
        if amount >= loan.payoff_amount(on):
            return
        apply_payment(loan, amount, on)
        apply_payment(other, amount, on)
    on += timedelta(days=days)
    payoff = loan.payoff_amount(on)
    x = amount_for(payoff, p1)
    if x >= payoff:
        return
    y = amount_for(payoff - x, p2)
    apply_payment(loan, x, on)
    apply_payment(loan, y, on)
    apply_payment(other, x + y, on)
    assert asdict(loan) == asdict(other)


@given(loans())
@settings(max_examples=100, deadline=None)
def test_paying_to_schedule_costs_exactly_the_schedule(loan: Loan):
    rows = [(i.due_date, i.principal + i.interest + i.fee) for i in loan.installments]
    total = ZERO
    for due, amount in rows:
        allocation = apply_payment(loan, amount, due)
        assert allocation.penalty == 0 and allocation.prepaid_principal == 0
        total += amount
    assert loan.status == LoanStatus.PAID_OFF.value
    assert total == loan.principal + sum((i.interest + i.fee for i in loan.installments), ZERO)
