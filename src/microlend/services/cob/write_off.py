"""Write-off at the policy's days past due, and recoveries booked afterwards.

A write-off moves what the loan still carries on the balance sheet (principal and
the income receivables) to credit-loss expense, one per-loan entry, and stops
interest and penalty: the amount the borrower owes is frozen at that figure.
Money received later is a recovery (income), booked against that frozen amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.orm import Session

from microlend.errors import BusinessRuleError, ConflictError
from microlend.lending.ledger import Accounts, EntryBuilder, EntryKind, JournalEntry
from microlend.lending.loans import Loan, LoanStatus
from microlend.store import tables
from microlend.store.repositories import LedgerRepository


@dataclass(frozen=True)
class WriteOff:
    """What a write-off takes off the balance sheet, and its entry (None when nothing is left)."""

    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    entry: JournalEntry | None

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fee + self.penalty


def write_off(loan: Loan, *, on: date, dpd: int) -> WriteOff:
    """Write the loan off in memory (its figures already brought to ``on``): status, frozen amount, entry."""
    assert loan.id is not None
    principal = loan.principal_outstanding
    interest = loan.interest_recognized - loan.interest_paid
    fee = loan.fee_recognized - loan.fee_paid
    penalty = loan.penalty_recognized - loan.penalty_paid
    builder = EntryBuilder(EntryKind.WRITE_OFF, on, f"Write-off of loan {loan.id} at {dpd} DPD", f"WO{loan.id:012d}")
    builder.move(principal, debit=Accounts.CREDIT_LOSS_EXPENSE, credit=Accounts.PRINCIPAL, loan_id=loan.id)
    builder.move(interest, debit=Accounts.CREDIT_LOSS_EXPENSE, credit=Accounts.INTEREST_RECEIVABLE, loan_id=loan.id)
    builder.move(fee, debit=Accounts.CREDIT_LOSS_EXPENSE, credit=Accounts.FEE_RECEIVABLE, loan_id=loan.id)
    builder.move(penalty, debit=Accounts.CREDIT_LOSS_EXPENSE, credit=Accounts.PENALTY_RECEIVABLE, loan_id=loan.id)
    result = WriteOff(principal, interest, fee, penalty, None if builder.empty else builder.build())
    loan.status = LoanStatus.WRITTEN_OFF.value
    loan.written_off_on = on
    loan.written_off_amount = result.total
    loan.next_event_on = None
    return result


def write_off_loan(session: Session, loan: Loan, *, on: date, dpd: int, now: datetime) -> Decimal:
    """Write the loan off today and record it (entry and ``write_offs`` row); returns the amount written off."""
    done = write_off(loan, on=on, dpd=dpd)
    if done.entry is not None:
        entry_id = LedgerRepository(session).post(done.entry, at=now)
        session.execute(insert(tables.write_offs).values(
            loan_id=loan.id, business_date=on, dpd=dpd, principal=done.principal, interest=done.interest,
            fee=done.fee, penalty=done.penalty, journal_entry_id=entry_id,
        ))
    return done.total


def recoverable(loan: Loan) -> Decimal:
    return loan.written_off_amount - loan.recovered


def book_recovery(*, session: Session, loan: Loan, amount: Decimal, on: date, channel: str, now: datetime,
                  card_debit_id: int | None = None, idempotency_scope: str | None = None,
                  idempotency_key: str | None = None, request_fingerprint: str | None = None) -> int:
    """Money received on a written-off loan (locked by the caller): recovery income; returns its id."""
    if loan.status != LoanStatus.WRITTEN_OFF.value:
        raise ConflictError(f"loan {loan.id} is {loan.status}, not written off", code="loan_not_written_off",
                            field="loan_id")
    if amount > recoverable(loan):
        raise BusinessRuleError(f"amount {amount} exceeds the {recoverable(loan)} still owed on the written-off loan",
                                code="overpayment", field="amount")
    recovery_id = session.execute(insert(tables.recoveries).values(
        loan_id=loan.id, amount=amount, received_on=on, channel=channel, card_debit_id=card_debit_id,
        created_at=now, idempotency_scope=idempotency_scope, idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
    )).inserted_primary_key[0]
    entry = (EntryBuilder(EntryKind.RECOVERY, on, f"Recovery on written-off loan {loan.id}", f"RC{recovery_id:012d}")
             .move(amount, debit=Accounts.SETTLEMENT, credit=Accounts.RECOVERY_INCOME, loan_id=loan.id).build())
    LedgerRepository(session).post(entry, at=now)
    loan.recovered += amount
    return recovery_id
