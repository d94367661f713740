"""Ledger reports: the trial balance and loan-by-loan reconciliation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from microlend.lending.ledger import Accounts, TrialBalance, trial_balance
from microlend.lending.postings import expected_loan_balances
from microlend.money import ZERO
from microlend.services.common import require
from microlend.store.uow import UnitOfWork


def get_trial_balance(*, uow: UnitOfWork, through: date | None = None) -> TrialBalance:
    with uow:
        return trial_balance(uow.ledger.account_sums(through=through))


@dataclass(frozen=True)
class Mismatch:
    loan_id: int
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
    for code, expected in expected_loan_balances(loan).items():
        debit, credit = sums.get(code, (ZERO, ZERO))
        actual = debit - credit if by_code[code].normal_debit else credit - debit
        if actual != expected:
            mismatches.append(Mismatch(loan_id, code, expected, actual))
    return mismatches


def reconcile_all(*, uow: UnitOfWork) -> list[Mismatch]:
    with uow:
        ids = uow.loans.list_ids()
    return [m for loan_id in ids for m in reconcile_loan(uow=uow, loan_id=loan_id)]
