"""Drawdowns: reserve on the line, disburse through the rail, book the loan.

Two short transactions around the rail call, never a database lock held
while waiting on a bank:

1. lock the line, check everything, reserve the amount, record a *pending*
   drawdown (with its idempotency key) and commit;
2. ask the rail to pay, using the drawdown id as our reference;
3. lock the drawdown again: on success book the loan and its disbursement
   entry; on failure release the reservation (no loan is left behind). A rail
   that does not answer leaves the drawdown pending; ``resolve_pending``
   finishes it later from the rail's own record, never paying twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from microlend.adapters.payment_rail import PaymentRail, RailOutcome, RailResult, RailTimeout
from microlend.clock import Clock
from microlend.errors import BusinessRuleError
from microlend.lending.loans import new_loan
from microlend.lending.postings import disbursement_entry
from microlend.lending.pricing import annualized_rates
from microlend.lending.products import LoanProduct, RepaymentMethod
from microlend.lending.records import Drawdown, DrawdownStatus
from microlend.lending.schedule import build_schedule
from microlend.money import is_whole_fen
from microlend.security.fields import FieldCipher
from microlend.services.common import check_amount, check_replay, is_unique_violation, require
from microlend.services.quotes import make_quote
from microlend.store.uow import UnitOfWork


def rail_reference(drawdown_id: int) -> str:
    return f"DD{drawdown_id:012d}"


def request_drawdown(
    *, uow: UnitOfWork, rail: PaymentRail, cipher: FieldCipher, clock: Clock, line_id: int,
    amount: Decimal, term: int, method: RepaymentMethod | None = None, purpose: str | None = None,
    idempotency_scope: str = "system", idempotency_key: str | None = None, request_fingerprint: str | None = None,
    risk_check: Callable[[], object] | None = None,
) -> Drawdown:
    """``risk_check``: the real-time risk check (origination's drawdown rules), run once per new request before
    anything is reserved; it raises to refuse. A replayed request returns its first result without a new check."""
    amount = check_amount(amount)
    if idempotency_key:
        existing = _by_key(uow, idempotency_scope, idempotency_key)
        if existing is not None:
            check_replay(existing, request_fingerprint)
            return _resume(uow=uow, rail=rail, cipher=cipher, clock=clock, drawdown=existing)
    if risk_check is not None:
        _precheck(uow=uow, line_id=line_id, amount=amount, term=term, method=method)
        risk_check()
    try:
        drawdown, card = _reserve(
            uow=uow, clock=clock, line_id=line_id, amount=amount, term=term, method=method, purpose=purpose,
            idempotency_scope=idempotency_scope, idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
        )
    except IntegrityError as exc:
        if not (idempotency_key and is_unique_violation(exc)):
            raise
        drawdown, card = None, None  # the same key committed first in a concurrent request
    if card is None:
        return check_replay(_by_key(uow, idempotency_scope, idempotency_key), request_fingerprint)  # type: ignore[arg-type]
    return _disburse(uow=uow, rail=rail, clock=clock, drawdown=drawdown,  # type: ignore[arg-type]
                     card_number=cipher.decrypt(card, field="bank_card"))


def _reserve(*, uow: UnitOfWork, clock: Clock, line_id: int, amount: Decimal, term: int,
             method: RepaymentMethod | None, purpose: str | None, idempotency_scope: str,
             idempotency_key: str | None, request_fingerprint: str | None) -> tuple[Drawdown, str | None]:
    """Phase 1: with the line locked, check everything and reserve the amount.

    Returns the pending drawdown and the card token to pay, or an earlier
    drawdown with the same key (and no token) when a concurrent request won.
    """
    with uow:
        line = require(uow.lines.get(line_id, for_update=True), "credit line", line_id, "line_id")
        if idempotency_key:  # re-checked under the lock: a concurrent twin may have just committed
            twin = uow.drawdowns.by_idempotency(idempotency_scope, idempotency_key)
            if twin is not None:
                return twin, None
        product = require(uow.products.get(line.product_code), "product", line.product_code, "product_code")
        product.check_term(term)
        method = method or product.default_method
        product.check_method(method)
        line.check_drawdown(amount, product)
        # Locked: a step-up pause committed by a concurrent check (or staff) is seen here, whoever calls.
        customer = require(uow.customers.get(line.customer_id, for_update=True), "customer", line.customer_id,
                           "customer_id")
        if customer.status == "paused":
            raise BusinessRuleError("the customer is paused until they pass verification again",
                                    code="customer_paused", field="customer_id")
        if not customer.has_bound_card:
            raise BusinessRuleError("bind a bank card before drawing down", code="card_not_bound", field="bank_card")
        make_quote(product=product, amount=amount, term=term, daily_rate=line.daily_rate,
                   start=clock.business_date(), method=method)
        line.reserve(amount)
        drawdown = uow.drawdowns.add(Drawdown(
            credit_line_id=line.id, customer_id=line.customer_id, amount=amount, term=term, method=method.value,
            daily_rate=line.daily_rate, purpose=purpose, requested_on=clock.business_date(), created_at=clock.now(),
            idempotency_scope=idempotency_scope if idempotency_key else None, idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
        ))
        uow.commit()
        return drawdown, customer.card_token


def _precheck(*, uow: UnitOfWork, line_id: int, amount: Decimal, term: int, method: RepaymentMethod | None) -> None:
    """The plain checks, without a lock, so a request that cannot succeed is refused before the risk check
    records it (they are repeated under the lock in ``_reserve``)."""
    with uow:
        line = require(uow.lines.get(line_id), "credit line", line_id, "line_id")
        product = require(uow.products.get(line.product_code), "product", line.product_code, "product_code")
        product.check_term(term)
        product.check_method(method or product.default_method)
        line.check_drawdown(amount, product)


def _by_key(uow: UnitOfWork, scope: str, key: str) -> Drawdown | None:
    with uow:
        return uow.drawdowns.by_idempotency(scope, key)


def _disburse(*, uow: UnitOfWork, rail: PaymentRail, clock: Clock, drawdown: Drawdown, card_number: str) -> Drawdown:
    assert drawdown.id is not None
    try:
        result = rail.disburse(reference=rail_reference(drawdown.id), card_number=card_number, amount=drawdown.amount)
    except RailTimeout:
        return drawdown
    return complete_drawdown(uow=uow, clock=clock, drawdown_id=drawdown.id, result=result)


def complete_drawdown(*, uow: UnitOfWork, clock: Clock, drawdown_id: int, result: RailResult) -> Drawdown:
    """Apply the rail's answer to a pending drawdown (a no-op once it is settled)."""
    with uow:
        drawdown = require(uow.drawdowns.get(drawdown_id, for_update=True), "drawdown", drawdown_id, "drawdown_id")
        if drawdown.status != DrawdownStatus.PENDING.value or result.outcome is RailOutcome.PENDING:
            return drawdown
        line = require(uow.lines.get(drawdown.credit_line_id, for_update=True), "credit line", drawdown.credit_line_id, "line_id")
        drawdown.rail_reference = result.rail_reference
        drawdown.completed_at = clock.now()
        paid = result.amount
        product = require(uow.products.get(line.product_code), "product", line.product_code, "product_code")
        today = clock.business_date()
        if result.outcome is RailOutcome.SUCCEEDED:
            held = _review_reason(drawdown, paid, product, today)
            if held is not None:
                # Money went out but cannot be booked as asked: keep the reservation, reconcile by hand.
                drawdown.status, (drawdown.failure_code, drawdown.failure_message) = DrawdownStatus.REVIEW.value, held
                uow.commit()
                return drawdown
            # Book what actually reached the borrower; a short payment frees the rest of the reservation.
            if paid < drawdown.amount:
                line.release(drawdown.amount - paid)
            schedule = build_schedule(
                principal=paid, daily_rate=drawdown.daily_rate, term=drawdown.term, start=today,
                method=RepaymentMethod(drawdown.method), monthly_fee_rate=product.monthly_fee_rate,
            )
            loan = new_loan(schedule=schedule, product=product, customer_id=drawdown.customer_id,
                            credit_line_id=line.id, term=drawdown.term)
            loan.drawdown_id = drawdown.id
            uow.loans.add(loan)
            assert loan.id is not None
            uow.ledger.post(disbursement_entry(loan_id=loan.id, amount=paid, on=today,
                                               reference=rail_reference(drawdown_id)), at=clock.now())
            drawdown.status, drawdown.loan_id, drawdown.disbursed_amount = DrawdownStatus.DISBURSED.value, loan.id, paid
        else:
            line.release(drawdown.amount)
            drawdown.status = DrawdownStatus.FAILED.value
            drawdown.failure_code = result.failure_code or "declined"
            drawdown.failure_message = result.message or "the payment rail refused the disbursement"
        uow.commit()
        return drawdown


def _review_reason(drawdown: Drawdown, paid: Decimal, product: LoanProduct, today: date) -> tuple[str, str] | None:
    """Why a successful payout cannot be booked automatically, if it cannot."""
    if not (0 < paid <= drawdown.amount and is_whole_fen(paid)):
        return "rail_amount_mismatch", f"the rail reported paying {paid} for a drawdown of {drawdown.amount}"
    if paid < product.drawdown_min:
        return "short_disbursement", f"the rail paid {paid}, below the product's minimum drawdown"
    schedule = build_schedule(principal=paid, daily_rate=drawdown.daily_rate, term=drawdown.term, start=today,
                              method=RepaymentMethod(drawdown.method), monthly_fee_rate=product.monthly_fee_rate)
    apr = annualized_rates(schedule).apr
    if apr > product.apr_cap:  # paid short or late, the price moved: never book above the cap
        return "apr_above_cap", f"booked on {today} for {paid} the annualized rate would be {apr:.4%}"
    return None


def _resume(*, uow, rail, cipher, clock, drawdown: Drawdown) -> Drawdown:
    """A replayed request: return the recorded outcome, finishing it first if still pending."""
    if drawdown.status != DrawdownStatus.PENDING.value:
        return drawdown
    return resolve_one(uow=uow, rail=rail, cipher=cipher, clock=clock, drawdown=drawdown)


def resolve_one(*, uow: UnitOfWork, rail: PaymentRail, cipher: FieldCipher, clock: Clock, drawdown: Drawdown) -> Drawdown:
    assert drawdown.id is not None
    known = rail.status(reference=rail_reference(drawdown.id))
    if known is not None:
        return complete_drawdown(uow=uow, clock=clock, drawdown_id=drawdown.id, result=known)
    with uow:  # the rail never got it (we stopped before calling): send it now, same reference
        customer = require(uow.customers.get(drawdown.customer_id), "customer", drawdown.customer_id, "customer_id")
        card = cipher.decrypt(customer.card_token, field="bank_card")  # type: ignore[arg-type]
    return _disburse(uow=uow, rail=rail, clock=clock, drawdown=drawdown, card_number=card)


def resolve_pending(*, uow: UnitOfWork, rail: PaymentRail, cipher: FieldCipher, clock: Clock) -> list[Drawdown]:
    """Finish every pending drawdown from the rail's record (run by operators and the daily batch)."""
    with uow:
        pending = uow.drawdowns.pending()
    return [resolve_one(uow=uow, rail=rail, cipher=cipher, clock=clock, drawdown=d) for d in pending]


def get_drawdown(*, uow: UnitOfWork, drawdown_id: int) -> Drawdown:
    with uow:
        return require(uow.drawdowns.get(drawdown_id), "drawdown", drawdown_id, "drawdown_id")
