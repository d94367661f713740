"""A loan after disbursement: what is owed on a date, and how a payment is applied.

Pure domain, no I/O. Interest accrues on the principal not yet due for the
actual days elapsed; principal that is overdue accrues penalty interest
instead (daily rate x the product's multiplier). Penalty is kept unrounded
(``penalty_exact``) and rounded to the fen only when shown or paid, so the
amount owed on a date does not depend on how often it was computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum

from microlend.errors import BusinessRuleError, ConflictError, ValidationError
from microlend.lending.pricing import annualized_rates
from microlend.lending.products import Component, LoanProduct, RepaymentMethod
from microlend.lending.schedule import Schedule, build_installments
from microlend.money import ZERO, is_whole_fen, to_fen


class LoanStatus(str, Enum):
    ACTIVE = "active"
    PAID_OFF = "paid_off"
    WRITTEN_OFF = "written_off"


#: Allocation buckets after the product's order: interest earned in the
#: current period up to the payment date, then prepaid principal.
ACCRUED_INTEREST = "accrued_interest"
PREPAID_PRINCIPAL = "prepaid_principal"


@dataclass(eq=False)
class LoanInstallment:
    number: int
    period_start: date
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    #: Interest of this period not yet fixed runs from here (moves on prepayment).
    accrual_start: date
    #: Interest of this period already fixed by an earlier prepayment.
    interest_settled: Decimal = ZERO
    principal_paid: Decimal = ZERO
    interest_paid: Decimal = ZERO
    fee_paid: Decimal = ZERO
    loan_id: int | None = None

    @property
    def principal_unpaid(self) -> Decimal:
        return self.principal - self.principal_paid

    @property
    def interest_unpaid(self) -> Decimal:
        return self.interest - self.interest_paid

    @property
    def fee_unpaid(self) -> Decimal:
        return self.fee - self.fee_paid

    @property
    def settled(self) -> bool:
        return self.principal_unpaid == 0 and self.interest_unpaid <= 0 and self.fee_unpaid == 0


@dataclass(eq=False)
class Loan:
    customer_id: int
    credit_line_id: int
    product_code: str
    principal: Decimal
    daily_rate: Decimal
    penalty_rate: Decimal
    grace_days: int
    term: int
    method: str
    start_date: date
    monthly_fee: Decimal
    allocation_order: list[str]
    #: The annualized rate (IRR method) disclosed in the contract.
    apr: Decimal
    installments: list[LoanInstallment] = field(default_factory=list)
    status: str = LoanStatus.ACTIVE.value
    principal_prepaid: Decimal = ZERO
    penalty_exact: Decimal = ZERO
    penalty_through: date | None = None
    penalty_paid: Decimal = ZERO
    interest_recognized: Decimal = ZERO
    fee_recognized: Decimal = ZERO
    penalty_recognized: Decimal = ZERO
    closed_on: date | None = None
    drawdown_id: int | None = None
    id: int | None = None
    # --- kept by the close of business (see lending/daily.py) -----------------
    #: The last business date the close of business brought this loan to (None: never, or
    #: touched since by a payment, so the next close of business recomputes it in full).
    cob_through: date | None = None
    accrual_base: Decimal = ZERO
    accrual_principal: Decimal = ZERO
    accrual_start: date | None = None
    next_due_date: date | None = None
    next_event_on: date | None = None
    overdue_principal: Decimal = ZERO
    oldest_unpaid_due: date | None = None
    dpd: int = 0
    bucket: str = "current"
    loan_class: str = "normal"
    #: Income recognised by the close of business in aggregated (not per-loan) ledger entries.
    cob_interest: Decimal = ZERO
    cob_penalty: Decimal = ZERO
    cob_fee: Decimal = ZERO
    written_off_on: date | None = None
    written_off_amount: Decimal = ZERO
    recovered: Decimal = ZERO

    # --- what is owed -------------------------------------------------------
    @property
    def principal_outstanding(self) -> Decimal:
        return sum((i.principal_unpaid for i in self.installments), ZERO)

    @property
    def interest_paid(self) -> Decimal:
        return sum((i.interest_paid for i in self.installments), ZERO)

    @property
    def fee_paid(self) -> Decimal:
        return sum((i.fee_paid for i in self.installments), ZERO)

    def is_overdue(self, inst: LoanInstallment, on: date) -> bool:
        return (on - inst.due_date).days > self.grace_days

    def days_past_due(self, on: date) -> int:
        """Days since the oldest due date with anything unpaid (0 when current)."""
        for inst in self.installments:
            if inst.due_date < on and not inst.settled:
                return (on - inst.due_date).days
        return 0

    def penalty_exact_to(self, on: date) -> Decimal:
        """Unrounded penalty charged from the start through ``on``."""
        exact = self.penalty_exact
        for inst in self.installments:
            unpaid = inst.principal_unpaid
            if unpaid <= 0:
                continue
            start = date.fromordinal(inst.due_date.toordinal() + self.grace_days)
            if self.penalty_through is not None and self.penalty_through > start:
                start = self.penalty_through
            days = (on - start).days
            if days > 0:
                exact += unpaid * self.penalty_rate * days
        return exact

    def penalty_outstanding(self, on: date) -> Decimal:
        return to_fen(self.penalty_exact_to(on)) - self.penalty_paid

    def current_installment(self, on: date) -> LoanInstallment | None:
        """The first installment not yet due on ``on`` (its period is running)."""
        for inst in self.installments:
            if inst.due_date > on:
                return inst
        return None

    def principal_not_due(self, on: date) -> Decimal:
        return sum((i.principal_unpaid for i in self.installments if i.due_date > on), ZERO)

    def interest_earned_in_period(self, on: date) -> Decimal:
        """Interest of the running period earned up to ``on``, rounded to the fen."""
        current = self.current_installment(on)
        if current is None:
            return ZERO
        days = (on - current.accrual_start).days
        open_part = self.principal_not_due(on) * self.daily_rate * days if days > 0 else ZERO
        return to_fen(current.interest_settled + open_part)

    def buckets(self, on: date) -> list[tuple[str, int | None, Decimal]]:
        """Everything owed on ``on``, in the order a payment pays it."""
        self._check_date(on)
        overdue = [i for i in self.installments if self.is_overdue(i, on)]
        due = [i for i in self.installments if i.due_date <= on and not self.is_overdue(i, on)]
        getters = {
            Component.OVERDUE_FEE.value: (overdue, "fee_unpaid"),
            Component.OVERDUE_INTEREST.value: (overdue, "interest_unpaid"),
            Component.OVERDUE_PRINCIPAL.value: (overdue, "principal_unpaid"),
            Component.FEE_DUE.value: (due, "fee_unpaid"),
            Component.INTEREST_DUE.value: (due, "interest_unpaid"),
            Component.PRINCIPAL_DUE.value: (due, "principal_unpaid"),
        }
        result: list[tuple[str, int | None, Decimal]] = []
        for component in self.allocation_order:
            if component == Component.PENALTY.value:
                owed = self.penalty_outstanding(on)
                if owed > 0:
                    result.append((component, None, owed))
                continue
            installments, attribute = getters[component]
            for inst in installments:
                owed = getattr(inst, attribute)
                if owed > 0:
                    result.append((component, inst.number, owed))
        current = self.current_installment(on)
        if current is not None:
            accrued = self.interest_earned_in_period(on) - current.interest_paid
            if accrued > 0:
                result.append((ACCRUED_INTEREST, current.number, accrued))
            not_due = self.principal_not_due(on)
            if not_due > 0:
                result.append((PREPAID_PRINCIPAL, None, not_due))
        return result

    def payoff_amount(self, on: date) -> Decimal:
        return sum((owed for _, _, owed in self.buckets(on)), ZERO)

    def _check_date(self, on: date) -> None:
        if on < self.start_date or (self.penalty_through is not None and on < self.penalty_through):
            raise ValidationError(
                f"date {on} is before the loan's last recorded event", code="invalid_date", field="date",
            )


@dataclass(frozen=True)
class AllocationPart:
    component: str
    installment: int | None
    amount: Decimal


@dataclass(frozen=True)
class PaymentAllocation:
    amount: Decimal
    paid_on: date
    parts: tuple[AllocationPart, ...]
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    prepaid_principal: Decimal
    paid_off: bool


_PRINCIPAL_PARTS = {Component.OVERDUE_PRINCIPAL.value, Component.PRINCIPAL_DUE.value, PREPAID_PRINCIPAL}
_INTEREST_PARTS = {Component.OVERDUE_INTEREST.value, Component.INTEREST_DUE.value, ACCRUED_INTEREST}
_FEE_PARTS = {Component.OVERDUE_FEE.value, Component.FEE_DUE.value}


def new_loan(*, schedule: Schedule, product: LoanProduct, customer_id: int, credit_line_id: int, term: int) -> Loan:
    """A loan whose contract terms (rates, grace, allocation order) are fixed at drawdown."""
    loan = Loan(
        customer_id=customer_id, credit_line_id=credit_line_id, product_code=product.code,
        principal=schedule.principal, daily_rate=schedule.daily_rate,
        penalty_rate=schedule.daily_rate * product.penalty_multiplier, grace_days=product.grace_days,
        term=term, method=schedule.method.value, start_date=schedule.start, monthly_fee=schedule.monthly_fee,
        allocation_order=[c.value for c in product.allocation_order],
        apr=annualized_rates(schedule).apr,
        installments=[
            LoanInstallment(
                number=row.number, period_start=row.period_start, due_date=row.due_date,
                principal=row.principal, interest=row.interest, fee=row.fee, accrual_start=row.period_start,
            )
            for row in schedule.installments
        ],
    )
    refresh_summary(loan, schedule.start)
    return loan


def apply_payment(loan: Loan, amount: Decimal, on: date) -> PaymentAllocation:
    """Apply a payment in the contract's order; the rest prepays principal.

    Refuses a payment larger than the payoff amount (nothing is applied then).
    A prepayment re-schedules the installments not yet due, keeping the term.
    """
    if loan.status != LoanStatus.ACTIVE.value:
        raise ConflictError(f"loan {loan.id} is {loan.status}", code="loan_not_active", field="loan_id")
    if amount <= 0 or not is_whole_fen(amount):
        raise ValidationError("amount must be positive and in whole fen", code="invalid_amount", field="amount")
    buckets = loan.buckets(on)
    payoff = sum((owed for _, _, owed in buckets), ZERO)
    if amount > payoff:
        raise BusinessRuleError(
            f"amount {amount} exceeds the payoff amount {payoff} on {on}", code="overpayment", field="amount",
        )
    loan.penalty_exact = loan.penalty_exact_to(on)
    loan.penalty_through = on
    by_number = {inst.number: inst for inst in loan.installments}
    remaining = amount
    parts: list[AllocationPart] = []
    prepaid = ZERO
    for component, number, owed in buckets:
        if remaining <= 0:
            break
        take = owed if owed < remaining else remaining
        remaining -= take
        parts.append(AllocationPart(component, number, take))
        if component == Component.PENALTY.value:
            loan.penalty_paid += take
        elif component == PREPAID_PRINCIPAL:
            prepaid = take
        else:
            inst = by_number[number]  # type: ignore[index]
            if component in _PRINCIPAL_PARTS:
                inst.principal_paid += take
            elif component in _INTEREST_PARTS:
                inst.interest_paid += take
            else:
                inst.fee_paid += take
    if prepaid > 0:
        _reschedule_after_prepayment(loan, prepaid, on)
    paid_off = amount == payoff
    if paid_off:
        loan.status = LoanStatus.PAID_OFF.value
        loan.closed_on = on
    refresh_summary(loan, on)

    def total(kinds: set[str]) -> Decimal:
        return sum((p.amount for p in parts if p.component in kinds), ZERO)

    return PaymentAllocation(
        amount=amount, paid_on=on, parts=tuple(parts), principal=total(_PRINCIPAL_PARTS),
        interest=total(_INTEREST_PARTS), fee=total(_FEE_PARTS), penalty=total({Component.PENALTY.value}),
        prepaid_principal=prepaid, paid_off=paid_off,
    )


def _reschedule_after_prepayment(loan: Loan, prepaid: Decimal, on: date) -> None:
    """Fix the running period's interest to date, then re-schedule what is left.

    The term is kept and the installments get smaller (equal principal: the
    rest split evenly; equal installment: a new level payment). Fees of
    installments not yet due are waived when nothing is left to repay.
    """
    not_due = [i for i in loan.installments if i.due_date > on]
    current = not_due[0]
    earned = loan.interest_earned_in_period(on)
    remaining_principal = sum((i.principal_unpaid for i in not_due), ZERO) - prepaid
    current.interest_settled = earned
    current.accrual_start = on
    loan.principal_prepaid += prepaid
    periods = [(on, current.due_date)] + [(a.due_date, b.due_date) for a, b in zip(not_due, not_due[1:])]
    if remaining_principal > 0:
        rows = build_installments(
            principal=remaining_principal, daily_rate=loan.daily_rate, periods=periods,
            method=RepaymentMethod(loan.method),
        )
        for inst, row in zip(not_due, rows):
            inst.principal = row.principal
            inst.interest = row.interest + (earned if inst is current else ZERO)
    else:
        for inst in not_due:
            inst.principal = ZERO
            inst.interest = earned if inst is current else ZERO
            inst.fee = inst.fee_paid


def refresh_summary(loan: Loan, on: date) -> None:
    """Recompute, from the installments, the figures the close of business works from.

    They let the nightly close advance a loan with no event that day by arithmetic on
    one row (see ``lending.daily``); any day with an event recomputes them here. A
    payment dated the day the loan was last closed leaves it closed through that day
    (every figure is now as of it); any other date clears ``cob_through``, so the next
    close of business takes the full path.
    """
    from microlend.lending.daily import summarize  # daily builds on this module

    for name, value in summarize(loan, on).items():
        setattr(loan, name, value)
    loan.dpd = loan.days_past_due(on)
    if loan.cob_through != on:
        loan.cob_through = None
