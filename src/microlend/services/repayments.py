"""Repayments.

A repayment is applied and booked in one transaction with the loan row
locked: allocation in the contract's order, the line's room given back for the
principal repaid, income recognised where needed, and balanced entries.
Channels: ``transfer`` records money already received (staff only); ``card``
debits the bound card through the rail first (``services.card_debits``), the
channel a borrower may use.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum

from sqlalchemy.exc import IntegrityError

from microlend.adapters.payment_rail import PaymentRail
from microlend.clock import Clock
from microlend.errors import BusinessRuleError, ConflictError
from microlend.lending.loans import Loan, LoanStatus, apply_payment
from microlend.lending.postings import recognition_entry, repayment_entry
from microlend.lending.records import Repayment
from microlend.money import ZERO
from microlend.security.fields import FieldCipher
from microlend.services.common import check_amount, check_replay, is_unique_violation, require
from microlend.store.uow import UnitOfWork


class Channel(str, Enum):
    CARD = "card"
    TRANSFER = "transfer"


def repay(
    *, uow: UnitOfWork, clock: Clock, rail: PaymentRail, cipher: FieldCipher, loan_id: int, amount: Decimal,
    channel: Channel = Channel.TRANSFER, idempotency_scope: str = "system", idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
) -> Repayment:
    """Repay ``amount`` on a loan today; with an ``idempotency_key`` a retry takes effect once."""
    amount = check_amount(amount)
    if idempotency_key:
        with uow:
            refuse_key_of_other_channel(uow, channel, idempotency_scope, idempotency_key)
    if channel is Channel.CARD:
        from microlend.services.card_debits import repay_by_card  # card_debits builds on this module

        return repay_by_card(uow=uow, clock=clock, rail=rail, cipher=cipher, loan_id=loan_id, amount=amount,
                             idempotency_scope=idempotency_scope, idempotency_key=idempotency_key,
                             request_fingerprint=request_fingerprint)
    if idempotency_key:
        existing = _by_key(uow, idempotency_scope, idempotency_key)
        if existing is not None:
            return check_replay(existing, request_fingerprint)
    try:
        return _repay_transfer(uow=uow, clock=clock, loan_id=loan_id, amount=amount,
                               idempotency_scope=idempotency_scope, idempotency_key=idempotency_key,
                               request_fingerprint=request_fingerprint)
    except IntegrityError as exc:
        if not (idempotency_key and is_unique_violation(exc)):
            raise
    # A concurrent request with the same key committed first: answer with its record.
    return check_replay(_by_key(uow, idempotency_scope, idempotency_key), request_fingerprint)


def _repay_transfer(*, uow: UnitOfWork, clock: Clock, loan_id: int, amount: Decimal, idempotency_scope: str,
                    idempotency_key: str | None, request_fingerprint: str | None) -> Repayment:
    with uow:
        loan = require(uow.loans.get(loan_id, for_update=True), "loan", loan_id, "loan_id")
        if idempotency_key:  # re-checked under the lock: a concurrent twin may have just committed
            twin = uow.repayments.by_idempotency(idempotency_scope, idempotency_key)
            if twin is not None:
                return check_replay(twin, request_fingerprint)
            refuse_key_of_other_channel(uow, Channel.TRANSFER, idempotency_scope, idempotency_key)
        on = clock.business_date()
        check_payable(loan, amount, on)
        if loan.status == LoanStatus.WRITTEN_OFF.value:
            repayment = book_recovery_payment(uow=uow, clock=clock, loan=loan, amount=amount, on=on,
                                              channel=Channel.TRANSFER, idempotency_scope=idempotency_scope
                                              if idempotency_key else None, idempotency_key=idempotency_key,
                                              request_fingerprint=request_fingerprint)
            uow.commit()
            return repayment
        repayment = book_repayment(uow=uow, clock=clock, loan=loan, amount=amount, on=on, channel=Channel.TRANSFER,
                                   idempotency_scope=idempotency_scope if idempotency_key else None,
                                   idempotency_key=idempotency_key, request_fingerprint=request_fingerprint)
        uow.commit()
        return repayment


def check_payable(loan: Loan, amount: Decimal, on: date) -> None:
    """An active loan, and no more than it takes to pay it off today (written off: what is still owed)."""
    if loan.status == LoanStatus.WRITTEN_OFF.value:
        owed = loan.written_off_amount - loan.recovered
        if amount > owed:
            raise BusinessRuleError(f"amount {amount} exceeds the {owed} still owed on the written-off loan",
                                    code="overpayment", field="amount")
        return
    if loan.status != LoanStatus.ACTIVE.value:
        raise ConflictError(f"loan {loan.id} is {loan.status}", code="loan_not_active", field="loan_id")
    payoff = loan.payoff_amount(on)
    if amount > payoff:
        raise BusinessRuleError(f"amount {amount} exceeds the payoff amount {payoff} on {on}",
                                code="overpayment", field="amount")


def book_repayment(*, uow: UnitOfWork, clock: Clock, loan: Loan, amount: Decimal, on: date, channel: Channel,
                   idempotency_scope: str | None = None, idempotency_key: str | None = None,
                   request_fingerprint: str | None = None) -> Repayment:
    """Apply and book money received, inside the caller's transaction (the loan is locked)."""
    allocation = apply_payment(loan, amount, on)
    line = require(uow.lines.get(loan.credit_line_id, for_update=True), "credit line", loan.credit_line_id, "line_id")
    line.release(allocation.principal)
    repayment = uow.repayments.add(Repayment(
        loan_id=loan.id, amount=amount, paid_on=on, channel=channel.value, created_at=clock.now(),
        principal=allocation.principal, interest=allocation.interest, fee=allocation.fee,
        penalty=allocation.penalty, prepaid_principal=allocation.prepaid_principal, paid_off=allocation.paid_off,
        allocation=[{"component": p.component, "installment": p.installment, "amount": str(p.amount)}
                    for p in allocation.parts],
        idempotency_scope=idempotency_scope, idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
    ))
    reference = f"RP{repayment.id:012d}"
    recognition = recognition_entry(loan, on, reference)
    if recognition is not None:
        uow.ledger.post(recognition, at=clock.now())
    uow.ledger.post(repayment_entry(loan, allocation, reference), at=clock.now())
    return repayment


def book_recovery_payment(*, uow: UnitOfWork, clock: Clock, loan: Loan, amount: Decimal, on: date,
                          channel: Channel, card_debit_id: int | None = None, idempotency_scope: str | None = None,
                          idempotency_key: str | None = None, request_fingerprint: str | None = None) -> Repayment:
    """Money received on a written-off loan: a recovery (income), recorded as a repayment for the caller."""
    from microlend.services.cob.write_off import book_recovery  # the write-off module builds on repayments

    book_recovery(session=uow.session, loan=loan, amount=amount, on=on, channel=channel.value, now=clock.now(),
                  card_debit_id=card_debit_id)
    return uow.repayments.add(Repayment(
        loan_id=loan.id, amount=amount, paid_on=on, channel=channel.value, created_at=clock.now(),
        principal=ZERO, interest=ZERO, fee=ZERO, penalty=ZERO, prepaid_principal=ZERO, paid_off=False,
        allocation=[{"component": "recovery", "installment": None, "amount": str(amount)}],
        idempotency_scope=idempotency_scope, idempotency_key=idempotency_key, request_fingerprint=request_fingerprint,
    ))


def refuse_key_of_other_channel(uow: UnitOfWork, channel: Channel, scope: str, key: str) -> None:
    """One key serves one request: a key already used on the other channel is refused.

    Called before anything is written and again with the loan locked, so two
    requests on one loan cannot both slip through.
    """
    other = (uow.repayments.by_idempotency(scope, key) if channel is Channel.CARD
             else uow.card_debits.by_idempotency(scope, key))
    if other is not None:
        raise ConflictError("this Idempotency-Key was already used for a different request",
                            code="idempotency_key_reused", field="Idempotency-Key")


def _by_key(uow: UnitOfWork, scope: str, key: str | None) -> Repayment | None:
    with uow:
        return uow.repayments.by_idempotency(scope, key) if key else None
