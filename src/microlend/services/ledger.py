"""Ledger reports: the trial balance and loan-by-loan reconciliation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from microlend.lending.ledger import Accounts, TrialBalance, trial_balance
from microlend.lending.postings import aggregated_income, expected_loan_balances
from microlend.money import ZERO, D
from microlend.services.common import require
from microlend.store import tables
from microlend.store.uow import UnitOfWork


def get_trial_balance(*, uow: UnitOfWork, through: date | None = None) -> TrialBalance:
    with uow:
        return trial_balance(uow.ledger.account_sums(through=through))


@dataclass(frozen=True)
class Mismatch:
    #: None for a book-level difference (aggregated income against the loans' records of it).
    loan_id: int | None
    account: str
    loan_says: Decimal
    ledger_says: Decimal


def reconcile_loan(*, uow: UnitOfWork, loan_id: int) -> list[Mismatch]:
    """Differences between the loan's own balances and its ledger lines (empty when reconciled)."""
    with uow:
        loan = require(uow.loans.get(loan_id), "loan", loan_id, "loan_id")
        sums = uow.ledger.account_sums(loan_id=loan_id)
    by_code = Accounts.by_code()
    mismatches = []
    aggregated = aggregated_income(loan)
    for code, expected in expected_loan_balances(loan).items():
        debit, credit = sums.get(code, (ZERO, ZERO))
        # The loan's own lines, plus its share of the close of business's per-product accruals.
        actual = (debit - credit if by_code[code].normal_debit else credit - debit) + aggregated.get(code, ZERO)
        if actual != expected:
            mismatches.append(Mismatch(loan_id, code, expected, actual))
    return mismatches


def reconcile_all(*, uow: UnitOfWork) -> list[Mismatch]:
    """Every loan, then the book: aggregated accrual lines must equal the loans' records of them."""
    with uow:
        ids = uow.loans.list_ids()
    mismatches = [m for loan_id in ids for m in reconcile_loan(uow=uow, loan_id=loan_id)]
    return mismatches + reconcile_aggregates(uow=uow)


def reconcile_aggregates(*, uow: UnitOfWork) -> list[Mismatch]:
    """Lines without a loan id on the receivable accounts against the sum of the loans' ``cob_*`` columns."""
    with uow:
        session = uow.session
        loans = tables.loans
        columns = {Accounts.INTEREST_RECEIVABLE.code: loans.c.cob_interest,
                   Accounts.FEE_RECEIVABLE.code: loans.c.cob_fee,
                   Accounts.PENALTY_RECEIVABLE.code: loans.c.cob_penalty}
        loan_side = session.execute(select(*(func.coalesce(func.sum(c), 0) for c in columns.values()))).one()
        lines = tables.journal_lines
        ledger_side = {code: debit - credit for code, debit, credit in session.execute(
            select(lines.c.account_code, func.sum(lines.c.debit), func.sum(lines.c.credit))
            .where(lines.c.loan_id.is_(None), lines.c.account_code.in_(list(columns)))
            .group_by(lines.c.account_code))}
    mismatches = []
    for (code, _), loan_total in zip(columns.items(), loan_side):
        expected, actual = D(loan_total), D(ledger_side.get(code) or 0)
        if expected != actual:
            mismatches.append(Mismatch(None, code, expected, actual))
    return mismatches
