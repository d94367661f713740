"""What one business day does to a loan: accrual, falling due, penalty, days past due.

Pure, no I/O. The close of business brings every active loan to a date D. Two ways,
with the same results:

* the **full path** (``close_day``) recomputes everything from the installments
  through the domain model; it is taken on any day with an event (an installment
  falls due or becomes overdue), and for loans touched by a payment since the last
  close;
* the **quiet path** (``advance_quiet_day``) needs only the figures ``summarize``
  keeps on the loan row, so a loan with nothing happening that day costs a little
  arithmetic and no installment rows. ``next_event_on`` says when the quiet path
  stops being valid.

Income recognised is a *target* (everything earned through D), so running a day
twice, or the full path after the quiet one, recognises nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from microlend.lending.delinquency import DelinquencyPolicy
from microlend.money import ZERO, to_fen

ONE_DAY = timedelta(days=1)


def summarize(loan, on: date) -> dict:
    """The loan-row figures the quiet path works from, as of ``on`` (from the installments)."""
    current = loan.current_installment(on)
    due = [i for i in loan.installments if i.due_date <= on]
    accrual_base = sum((i.interest for i in due), ZERO) + (current.interest_settled if current else ZERO)
    oldest_unpaid = next((i.due_date for i in due if not i.settled), None)
    events = [current.due_date] if current else []
    for inst in due:
        if inst.settled:
            continue
        if inst.due_date == on:
            events.append(on + ONE_DAY)  # days past due start tomorrow
        if not loan.is_overdue(inst, on):
            events.append(inst.due_date + timedelta(days=loan.grace_days + 1))  # penalty starts
    return {
        "accrual_base": accrual_base,
        "accrual_principal": loan.principal_not_due(on),
        "accrual_start": current.accrual_start if current else None,
        "next_due_date": current.due_date if current else None,
        "next_event_on": min(events) if events else None,
        "overdue_principal": sum((i.principal_unpaid for i in loan.installments if loan.is_overdue(i, on)), ZERO),
        "oldest_unpaid_due": oldest_unpaid,
    }


def interest_earned_through(loan, on: date) -> Decimal:
    """All interest the loan has earned through ``on`` (closed periods plus the running one)."""
    return sum((i.interest for i in loan.installments if i.due_date <= on), ZERO) + loan.interest_earned_in_period(on)


def fees_due_through(loan, on: date) -> Decimal:
    """Fees are earned when their installment falls due."""
    return sum((i.fee for i in loan.installments if i.due_date <= on), ZERO)


@dataclass
class DayResult:
    """A loan's figures after the close of business of one date, and the income it recognised."""

    loan_id: int
    product_code: str
    interest_recognized: Decimal
    #: None on the quiet path: fees only change on a day an installment falls due.
    fee_recognized: Decimal | None
    penalty_exact: Decimal
    penalty_through: date
    penalty_recognized: Decimal
    dpd: int
    bucket: str
    loan_class: str
    summary: dict
    interest_delta: Decimal
    fee_delta: Decimal
    penalty_delta: Decimal
    #: The loan moved to another bucket or class today (a history row is written).
    tier_changed: bool


def close_day(loan, on: date, policy: DelinquencyPolicy) -> DayResult:
    """The full path: everything from the installments (any day, any loan state)."""
    interest = max(interest_earned_through(loan, on), loan.interest_paid)
    fee = max(fees_due_through(loan, on), loan.fee_paid)
    exact = loan.penalty_exact_to(on)
    penalty = max(to_fen(exact), loan.penalty_paid)
    dpd = loan.days_past_due(on)
    bucket, loan_class = policy.bucket(dpd).value, policy.classification(dpd).value
    return DayResult(
        loan_id=loan.id, product_code=loan.product_code,
        interest_recognized=interest, fee_recognized=fee, penalty_exact=exact, penalty_through=on,
        penalty_recognized=penalty, dpd=dpd, bucket=bucket, loan_class=loan_class, summary=summarize(loan, on),
        interest_delta=interest - loan.interest_recognized, fee_delta=fee - loan.fee_recognized,
        penalty_delta=penalty - loan.penalty_recognized,
        tier_changed=(bucket, loan_class) != (loan.bucket, loan.loan_class),
    )


def apply_result(loan, result: DayResult, on: date) -> None:
    """Put a full-path result on a loan object (the close of business before a write-off; the simulator)."""
    loan.cob_interest += result.interest_delta
    loan.cob_fee += result.fee_delta
    loan.cob_penalty += result.penalty_delta
    loan.interest_recognized, loan.fee_recognized = result.interest_recognized, result.fee_recognized
    loan.penalty_exact, loan.penalty_through = result.penalty_exact, result.penalty_through
    loan.penalty_recognized = result.penalty_recognized
    loan.dpd, loan.bucket, loan.loan_class = result.dpd, result.bucket, result.loan_class
    for name, value in result.summary.items():
        setattr(loan, name, value)
    loan.cob_through = on


@dataclass
class QuietRow:
    """The loan-row columns the quiet path reads."""

    id: int
    product_code: str
    daily_rate: Decimal
    penalty_rate: Decimal
    interest_recognized: Decimal
    penalty_exact: Decimal
    penalty_through: date | None
    penalty_recognized: Decimal
    accrual_base: Decimal
    accrual_principal: Decimal
    accrual_start: date | None
    overdue_principal: Decimal
    oldest_unpaid_due: date | None
    bucket: str
    loan_class: str


def is_quiet(cob_through: date | None, next_event_on: date | None, on: date) -> bool:
    """The quiet path is valid when the loan was closed yesterday and nothing happens today."""
    return cob_through == on - ONE_DAY and (next_event_on is None or next_event_on > on)


def advance_quiet_day(row: QuietRow, on: date, policy: DelinquencyPolicy) -> DayResult:
    """The quiet path: the same figures as ``close_day`` from the loan row alone.

    Interest: everything earned through ``on`` is the closed periods' interest plus the
    running period's, rounded once (half-up) like the schedule. Penalty: the overdue
    principal did not change since yesterday's close, so one more day of it.
    """
    interest = row.accrual_base
    if row.accrual_start is not None and row.accrual_principal > 0:
        interest += to_fen(row.accrual_principal * row.daily_rate * (on - row.accrual_start).days)
    interest = max(interest, row.interest_recognized)
    exact = row.penalty_exact
    if row.overdue_principal > 0 and row.penalty_through is not None:
        exact += row.overdue_principal * row.penalty_rate * (on - row.penalty_through).days
    penalty = max(to_fen(exact), row.penalty_recognized)
    dpd = (on - row.oldest_unpaid_due).days if row.oldest_unpaid_due is not None and row.oldest_unpaid_due < on else 0
    bucket, loan_class = policy.bucket(dpd).value, policy.classification(dpd).value
    return DayResult(
        loan_id=row.id, product_code=row.product_code,
        interest_recognized=interest, fee_recognized=None, penalty_exact=exact, penalty_through=on,
        penalty_recognized=penalty, dpd=dpd, bucket=bucket, loan_class=loan_class, summary={},
        interest_delta=interest - row.interest_recognized, fee_delta=ZERO,
        penalty_delta=penalty - row.penalty_recognized,
        tier_changed=(bucket, loan_class) != (row.bucket, row.loan_class),
    )


def rewind_penalty(loan, day: date) -> None:
    """Bring a loan's penalty back to ``day`` (before its last close of business), to value-date a payment.

    Valid only when nothing but the close of business touched the loan after ``day`` (no
    payment), so every installment's unpaid principal was the same all along: the penalty
    charged after ``day`` is then exactly what ``penalty_exact_to`` adds, and is taken off.
    Income already recognised for those days is trued up by the next close of business.
    """
    through = loan.penalty_through
    if through is None or through <= day:
        return
    exact = loan.penalty_exact
    for inst in loan.installments:
        unpaid = inst.principal_unpaid
        if unpaid <= 0:
            continue
        start = max(inst.due_date + timedelta(days=loan.grace_days), day)
        days = (through - start).days
        if days > 0:
            exact -= unpaid * loan.penalty_rate * days
    loan.penalty_exact, loan.penalty_through = exact, day
