"""Reading loans: the loan itself, a customer's loans, repayments, payoff quotes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from microlend.clock import Clock
from microlend.errors import ValidationError
from microlend.lending.loans import Loan, LoanStatus
from microlend.lending.records import Repayment
from microlend.money import ZERO
from microlend.services.common import require
from microlend.store.uow import UnitOfWork


@dataclass(frozen=True)
class PayoffQuote:
    loan_id: int
    on: date
    total: Decimal
    components: list[tuple[str, int | None, Decimal]]


def payoff_quote(*, uow: UnitOfWork, clock: Clock, loan_id: int, on: date | None = None) -> PayoffQuote:
    """What repays the loan in full on ``on`` (default: today): interest only up to that day, no fee."""
    with uow:
        loan = require(uow.loans.get(loan_id), "loan", loan_id, "loan_id")
    on = on or clock.business_date()
    if on < clock.business_date():
        raise ValidationError("a payoff quote cannot be for a past date", code="invalid_date", field="date")
    if loan.status != LoanStatus.ACTIVE.value:
        return PayoffQuote(loan_id, on, ZERO, [])
    components = loan.buckets(on)
    return PayoffQuote(loan_id, on, sum((c[2] for c in components), ZERO), components)


def get_loan(*, uow: UnitOfWork, loan_id: int) -> Loan:
    with uow:
        return require(uow.loans.get(loan_id), "loan", loan_id, "loan_id")


def loans_of_customer(*, uow: UnitOfWork, customer_id: int) -> list[Loan]:
    with uow:
        require(uow.customers.get(customer_id), "customer", customer_id, "customer_id")
        return uow.loans.list_for_customer(customer_id)


def list_repayments(*, uow: UnitOfWork, loan_id: int) -> list[Repayment]:
    with uow:
        require(uow.loans.get(loan_id), "loan", loan_id, "loan_id")
        return uow.repayments.list_for_loan(loan_id)
