"""Repaying by card: record the debit, ask the rail, then book what was collected.

Like drawdowns, no database lock is held while the bank answers:

1. with the loan locked, check the amount against today's payoff and record a
   *pending* card debit (with its idempotency key), and commit;
2. ask the rail to debit the card, using ``CD`` + the debit id as reference;
3. lock the loan again and book what the rail says it collected. If the loan
   was paid meanwhile, whatever exceeds today's payoff is booked to suspense
   for refund, so money the rail took is never left unbooked.

A rail that does not answer leaves the debit pending (``rail_timeout``, then
``rail_pending`` while the rail has no answer); a retry with the same
``Idempotency-Key`` or ``resolve_pending_debits`` finishes it from the rail's
own record, under the same reference, so the card is never charged twice.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from microlend.adapters.payment_rail import PaymentRail, RailOutcome, RailResult, RailTimeout
from microlend.clock import Clock
from microlend.errors import BusinessRuleError, ConflictError, ExternalServiceError
from microlend.lending.loans import LoanStatus
from microlend.lending.postings import suspense_entry
from microlend.lending.records import CardDebit, CardDebitStatus, Repayment
from microlend.money import ZERO, is_whole_fen
from microlend.security.fields import FieldCipher
from microlend.services.common import check_replay, is_unique_violation, require
from microlend.services.repayments import (
    Channel,
    book_recovery_payment,
    book_repayment,
    check_payable,
    refuse_key_of_other_channel,
)
from microlend.store.uow import UnitOfWork

log = logging.getLogger(__name__)


def debit_reference(debit_id: int) -> str:
    return f"CD{debit_id:012d}"


def repay_by_card(
    *, uow: UnitOfWork, clock: Clock, rail: PaymentRail, cipher: FieldCipher, loan_id: int, amount: Decimal,
    idempotency_scope: str = "system", idempotency_key: str | None = None, request_fingerprint: str | None = None,
) -> Repayment:
    if idempotency_key:
        existing = _by_key(uow, idempotency_scope, idempotency_key)
        if existing is not None:
            check_replay(existing, request_fingerprint)
            return outcome(uow=uow, debit=resolve_debit(uow=uow, rail=rail, cipher=cipher, clock=clock, debit=existing))
    try:
        debit, card_token = _record(uow=uow, clock=clock, loan_id=loan_id, amount=amount,
                                    idempotency_scope=idempotency_scope, idempotency_key=idempotency_key,
                                    request_fingerprint=request_fingerprint)
    except IntegrityError as exc:
        if not (idempotency_key and is_unique_violation(exc)):
            raise
        debit, card_token = _by_key(uow, idempotency_scope, idempotency_key), None  # a concurrent twin won
    if card_token is None:
        check_replay(debit, request_fingerprint)
        return outcome(uow=uow, debit=resolve_debit(uow=uow, rail=rail, cipher=cipher, clock=clock, debit=debit))
    debit = _send(uow=uow, rail=rail, clock=clock, debit=debit,
                  card_number=cipher.decrypt(card_token, field="bank_card"))
    return outcome(uow=uow, debit=debit)


def _record(*, uow: UnitOfWork, clock: Clock, loan_id: int, amount: Decimal, idempotency_scope: str,
            idempotency_key: str | None, request_fingerprint: str | None) -> tuple[CardDebit, str | None]:
    """Phase 1: a pending debit, checked against today's payoff with the loan locked."""
    with uow:
        loan = require(uow.loans.get(loan_id, for_update=True), "loan", loan_id, "loan_id")
        if idempotency_key:
            twin = uow.card_debits.by_idempotency(idempotency_scope, idempotency_key)
            if twin is not None:
                return twin, None
            refuse_key_of_other_channel(uow, Channel.CARD, idempotency_scope, idempotency_key)
        check_payable(loan, amount, clock.business_date())
        customer = require(uow.customers.get(loan.customer_id), "customer", loan.customer_id, "customer_id")
        if not customer.has_bound_card:
            raise BusinessRuleError("no bank card is bound to this customer", code="card_not_bound", field="bank_card")
        debit = uow.card_debits.add(CardDebit(
            loan_id=loan_id, customer_id=loan.customer_id, amount=amount, requested_on=clock.business_date(),
            created_at=clock.now(), idempotency_scope=idempotency_scope if idempotency_key else None,
            idempotency_key=idempotency_key, request_fingerprint=request_fingerprint,
        ))
        uow.commit()
        return debit, customer.card_token


def _send(*, uow: UnitOfWork, rail: PaymentRail, clock: Clock, debit: CardDebit, card_number: str) -> CardDebit:
    assert debit.id is not None
    try:
        result = rail.debit(reference=debit_reference(debit.id), card_number=card_number, amount=debit.amount)
    except RailTimeout:
        raise ExternalServiceError("the payment rail did not answer; retry with the same Idempotency-Key",
                                   code="rail_timeout", field="bank_card", extra={"card_debit_id": debit.id}) from None
    return complete_card_debit(uow=uow, clock=clock, debit_id=debit.id, result=result)


def complete_card_debit(*, uow: UnitOfWork, clock: Clock, debit_id: int, result: RailResult) -> CardDebit:
    """Phase 3: book the rail's answer (a no-op once the debit is settled)."""
    with uow:
        loan_id = require(uow.card_debits.get(debit_id), "card debit", debit_id, "card_debit_id").loan_id
        loan = require(uow.loans.get(loan_id, for_update=True), "loan", loan_id, "loan_id")  # loan before debit
        debit = require(uow.card_debits.get(debit_id, for_update=True), "card debit", debit_id, "card_debit_id")
        if debit.status != CardDebitStatus.PENDING.value or result.outcome is RailOutcome.PENDING:
            return debit
        debit.completed_at = clock.now()
        collected = result.amount
        if result.outcome is RailOutcome.FAILED:
            debit.status, debit.failure_code = CardDebitStatus.FAILED.value, result.failure_code or "declined"
        elif not (ZERO < collected <= debit.amount and is_whole_fen(collected)):
            debit.status, debit.failure_code = CardDebitStatus.REVIEW.value, "rail_amount_mismatch"
        else:
            today = clock.business_date()
            written_off = loan.status == LoanStatus.WRITTEN_OFF.value
            owed = (loan.payoff_amount(today) if loan.status == LoanStatus.ACTIVE.value
                    else loan.written_off_amount - loan.recovered if written_off else ZERO)
            applied = min(collected, owed)
            if applied > 0 and written_off:
                debit.repayment_id = book_recovery_payment(uow=uow, clock=clock, loan=loan, amount=applied, on=today,
                                                           channel=Channel.CARD, card_debit_id=debit_id).id
            elif applied > 0:
                debit.repayment_id = book_repayment(uow=uow, clock=clock, loan=loan, amount=applied, on=today,
                                                    channel=Channel.CARD).id
            if collected > applied:
                debit.excess = collected - applied
                uow.ledger.post(suspense_entry(loan_id=loan_id, amount=debit.excess, on=today,
                                               reference=debit_reference(debit_id)), at=clock.now())
            debit.status, debit.collected = CardDebitStatus.SUCCEEDED.value, collected
        uow.commit()
        return debit


def resolve_debit(*, uow: UnitOfWork, rail: PaymentRail, cipher: FieldCipher, clock: Clock,
                  debit: CardDebit) -> CardDebit:
    """Finish a pending debit from the rail's record; one the rail never got is sent again, same reference."""
    if debit.status != CardDebitStatus.PENDING.value:
        return debit
    assert debit.id is not None
    known = rail.status(reference=debit_reference(debit.id))
    if known is not None:
        return complete_card_debit(uow=uow, clock=clock, debit_id=debit.id, result=known)
    with uow:
        customer = require(uow.customers.get(debit.customer_id), "customer", debit.customer_id, "customer_id")
        card = cipher.decrypt(customer.card_token, field="bank_card")  # type: ignore[arg-type]
    return _send(uow=uow, rail=rail, clock=clock, debit=debit, card_number=card)


def resolve_pending_debits(*, uow: UnitOfWork, rail: PaymentRail, cipher: FieldCipher, clock: Clock) -> list[CardDebit]:
    with uow:
        pending = uow.card_debits.pending()
    resolved = []
    for debit in pending:
        try:
            resolved.append(resolve_debit(uow=uow, rail=rail, cipher=cipher, clock=clock, debit=debit))
        except ExternalServiceError:  # resent and timed out again: still pending
            resolved.append(debit)
        except Exception:  # one bad debit must not stop the others; it stays pending and is logged
            log.exception("card debit %s could not be resolved", debit.id)
            resolved.append(debit)
    return resolved


def outcome(*, uow: UnitOfWork, debit: CardDebit) -> Repayment:
    """The booked repayment of a settled debit, or the error that explains why there is none."""
    extra = {"card_debit_id": debit.id}
    if debit.status == CardDebitStatus.SUCCEEDED.value:
        if debit.repayment_id is None:
            raise ConflictError("the loan was repaid meanwhile; the amount collected is held for refund",
                                code="debit_held_in_suspense", field="loan_id", extra=extra)
        with uow:
            return require(uow.repayments.get(debit.repayment_id), "repayment", debit.repayment_id, "repayment_id")
    if debit.status == CardDebitStatus.FAILED.value:
        raise BusinessRuleError(f"the card debit failed: {debit.failure_code}", code="debit_failed",
                                field="bank_card", extra=extra)
    if debit.status == CardDebitStatus.REVIEW.value:
        raise ExternalServiceError("the rail reported an impossible amount; the debit is held for reconciliation",
                                   code="rail_amount_mismatch", field="bank_card", extra=extra)
    raise ExternalServiceError("the card debit is still pending at the rail; retry later with the same Idempotency-Key",
                               code="rail_pending", field="bank_card", extra=extra)


def _by_key(uow: UnitOfWork, scope: str, key: str) -> CardDebit | None:
    with uow:
        return uow.card_debits.by_idempotency(scope, key)
