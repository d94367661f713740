"""Repayments.

A repayment is applied and booked in one transaction with the loan row
locked: allocation in the contract's order, the line's room given back for the
principal repaid, income recognised where needed, and one balanced entry.
Channels: ``card`` debits the bound card through the rail first (what a
borrower may use); ``transfer`` records money already received (staff only).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import Enum

from sqlalchemy.exc import IntegrityError

from microlend.adapters.payment_rail import PaymentRail, RailOutcome, RailTimeout
from microlend.clock import Clock
from microlend.errors import BusinessRuleError, ConflictError, ExternalServiceError
from microlend.lending.loans import Loan, LoanStatus, apply_payment
from microlend.lending.postings import recognition_entry, repayment_entry
from microlend.lending.records import Repayment
from microlend.money import ZERO, is_whole_fen
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
    amount = check_amount(amount)
    if idempotency_key:
        existing = _by_key(uow, idempotency_scope, idempotency_key)
        if existing is not None:
            return check_replay(existing, request_fingerprint)
    try:
        return _apply(uow=uow, clock=clock, rail=rail, cipher=cipher, loan_id=loan_id, amount=amount, channel=channel,
                      idempotency_scope=idempotency_scope, idempotency_key=idempotency_key,
                      request_fingerprint=request_fingerprint)
    except IntegrityError as exc:
        if not (idempotency_key and is_unique_violation(exc)):
            raise
    # A concurrent request with the same key committed first: answer with its record.
    return check_replay(_by_key(uow, idempotency_scope, idempotency_key), request_fingerprint)


def _apply(*, uow: UnitOfWork, clock: Clock, rail: PaymentRail, cipher: FieldCipher, loan_id: int, amount: Decimal,
           channel: Channel, idempotency_scope: str, idempotency_key: str | None,
           request_fingerprint: str | None) -> Repayment:
    with uow:
        loan = require(uow.loans.get(loan_id, for_update=True), "loan", loan_id, "loan_id")
        if idempotency_key:  # re-checked under the lock: a concurrent twin may have just committed
            twin = uow.repayments.by_idempotency(idempotency_scope, idempotency_key)
            if twin is not None:
                return check_replay(twin, request_fingerprint)
        on = clock.business_date()
        if loan.status != LoanStatus.ACTIVE.value:
            raise ConflictError(f"loan {loan_id} is {loan.status}", code="loan_not_active", field="loan_id")
        payoff = loan.payoff_amount(on)
        if amount > payoff:
            raise BusinessRuleError(f"amount {amount} exceeds the payoff amount {payoff} on {on}",
                                    code="overpayment", field="amount")
        collected = amount
        if channel is Channel.CARD:
            reference = f"RP-{idempotency_scope}-{idempotency_key}" if idempotency_key else f"RP-{uuid.uuid4().hex}"
            collected = _debit_card(uow, rail, cipher, loan, amount, reference)
        allocation = apply_payment(loan, collected, on)
        line = require(uow.lines.get(loan.credit_line_id, for_update=True), "credit line", loan.credit_line_id, "line_id")
        line.release(allocation.principal)
        repayment = uow.repayments.add(Repayment(
            loan_id=loan_id, amount=collected, paid_on=on, channel=channel.value, created_at=clock.now(),
            principal=allocation.principal, interest=allocation.interest, fee=allocation.fee,
            penalty=allocation.penalty, prepaid_principal=allocation.prepaid_principal, paid_off=allocation.paid_off,
            allocation=[{"component": p.component, "installment": p.installment, "amount": str(p.amount)}
                        for p in allocation.parts],
            idempotency_scope=idempotency_scope if idempotency_key else None, idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
        ))
        reference = f"RP{repayment.id:012d}"
        recognition = recognition_entry(loan, on, reference)
        if recognition is not None:
            uow.ledger.post(recognition, at=clock.now())
        uow.ledger.post(repayment_entry(loan, allocation, reference), at=clock.now())
        uow.commit()
        return repayment


def _debit_card(uow: UnitOfWork, rail: PaymentRail, cipher: FieldCipher, loan: Loan, amount: Decimal, reference: str) -> Decimal:
    customer = require(uow.customers.get(loan.customer_id), "customer", loan.customer_id, "customer_id")
    if not customer.has_bound_card:
        raise BusinessRuleError("no bank card is bound to this customer", code="card_not_bound", field="bank_card")
    card = cipher.decrypt(customer.card_token, field="bank_card")  # type: ignore[arg-type]
    try:
        result = rail.debit(reference=reference, card_number=card, amount=amount)
    except RailTimeout as exc:
        raise ExternalServiceError("the payment rail did not answer; retry with the same Idempotency-Key",
                                   code="rail_timeout", field="bank_card") from exc
    if result.outcome is RailOutcome.FAILED:
        raise BusinessRuleError(f"the card debit failed: {result.failure_code}", code="debit_failed", field="bank_card")
    if result.outcome is RailOutcome.PENDING or result.amount <= ZERO:
        raise ExternalServiceError("the card debit is still pending; retry with the same Idempotency-Key",
                                   code="rail_pending", field="bank_card")
    if result.amount > amount or not is_whole_fen(result.amount):
        raise ExternalServiceError(f"the rail reported an impossible amount {result.amount} for a debit of {amount}",
                                   code="rail_bad_amount", field="bank_card")
    return result.amount


def _by_key(uow: UnitOfWork, scope: str, key: str | None) -> Repayment | None:
    with uow:
        return uow.repayments.by_idempotency(scope, key) if key else None
