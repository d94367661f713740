"""The journal entries a loan's life produces.

Income is recognised when it is earned. The close of business accrues it day
by day; a payment that pays interest, fees or penalty not yet accrued first
recognises the shortfall, so a receivable never goes negative and the loan's
balances always equal the ledger's.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from microlend.lending.ledger import Accounts, EntryBuilder, EntryKind, JournalEntry
from microlend.lending.loans import Loan, PaymentAllocation
from microlend.money import ZERO


def disbursement_entry(*, loan_id: int, amount: Decimal, on: date, reference: str) -> JournalEntry:
    return (
        EntryBuilder(EntryKind.DISBURSEMENT, on, f"Disbursement of loan {loan_id}", reference)
        .move(amount, debit=Accounts.PRINCIPAL, credit=Accounts.SETTLEMENT, loan_id=loan_id)
        .build()
    )


def recognition_entry(loan: Loan, on: date, reference: str) -> JournalEntry | None:
    """Recognise interest, fees and penalty already paid but not yet accrued."""
    assert loan.id is not None
    builder = EntryBuilder(EntryKind.ACCRUAL, on, f"Income recognised on payment, loan {loan.id}", reference)
    interest = loan.interest_paid - loan.interest_recognized
    fee = loan.fee_paid - loan.fee_recognized
    penalty = loan.penalty_paid - loan.penalty_recognized
    if interest > 0:
        builder.move(interest, debit=Accounts.INTEREST_RECEIVABLE, credit=Accounts.INTEREST_INCOME, loan_id=loan.id)
        loan.interest_recognized += interest
    if fee > 0:
        builder.move(fee, debit=Accounts.FEE_RECEIVABLE, credit=Accounts.FEE_INCOME, loan_id=loan.id)
        loan.fee_recognized += fee
    if penalty > 0:
        builder.move(penalty, debit=Accounts.PENALTY_RECEIVABLE, credit=Accounts.PENALTY_INCOME, loan_id=loan.id)
        loan.penalty_recognized += penalty
    return None if builder.empty else builder.build()


def repayment_entry(loan: Loan, allocation: PaymentAllocation, reference: str) -> JournalEntry:
    """Cash in; principal, interest, fee and penalty receivables down, line by line."""
    assert loan.id is not None
    lid = loan.id
    builder = EntryBuilder(EntryKind.REPAYMENT, allocation.paid_on, f"Repayment on loan {lid}", reference)
    builder.move(allocation.penalty, debit=Accounts.SETTLEMENT, credit=Accounts.PENALTY_RECEIVABLE, loan_id=lid)
    builder.move(allocation.fee, debit=Accounts.SETTLEMENT, credit=Accounts.FEE_RECEIVABLE, loan_id=lid)
    builder.move(allocation.interest, debit=Accounts.SETTLEMENT, credit=Accounts.INTEREST_RECEIVABLE, loan_id=lid)
    builder.move(allocation.principal, debit=Accounts.SETTLEMENT, credit=Accounts.PRINCIPAL, loan_id=lid)
    return builder.build()


def suspense_entry(*, loan_id: int, amount: Decimal, on: date, reference: str) -> JournalEntry:
    """Money collected above what the loan owed: held for the borrower, to be refunded."""
    return (
        EntryBuilder(EntryKind.REPAYMENT, on, f"Collected above the payoff of loan {loan_id}, held for refund", reference)
        .move(amount, debit=Accounts.SETTLEMENT, credit=Accounts.SUSPENSE, loan_id=loan_id)
        .build()
    )


def expected_loan_balances(loan: Loan) -> dict[str, Decimal]:
    """What the ledger must show for this loan, account by account (normal side).

    A written-off loan carries nothing: its balances went to credit-loss expense.
    """
    if loan.status == "written_off":
        return {code: ZERO for code in (Accounts.PRINCIPAL.code, Accounts.INTEREST_RECEIVABLE.code,
                                        Accounts.FEE_RECEIVABLE.code, Accounts.PENALTY_RECEIVABLE.code)}
    return {
        Accounts.PRINCIPAL.code: loan.principal_outstanding,
        Accounts.INTEREST_RECEIVABLE.code: loan.interest_recognized - loan.interest_paid,
        Accounts.FEE_RECEIVABLE.code: loan.fee_recognized - loan.fee_paid,
        Accounts.PENALTY_RECEIVABLE.code: loan.penalty_recognized - loan.penalty_paid,
    }


def aggregated_income(loan: Loan) -> dict[str, Decimal]:
    """Income the close of business recognised for this loan in per-product entries (no loan id on the lines)."""
    return {
        Accounts.INTEREST_RECEIVABLE.code: loan.cob_interest,
        Accounts.FEE_RECEIVABLE.code: loan.cob_fee,
        Accounts.PENALTY_RECEIVABLE.code: loan.cob_penalty,
    }
