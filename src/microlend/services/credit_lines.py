"""Granting and managing credit lines; every change leaves an event behind."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from microlend.clock import Clock
from microlend.errors import BusinessRuleError, ConflictError, ValidationError
from microlend.lending.credit_lines import CreditLine, LineEvent, LineEventKind, LineStatus
from microlend.lending.products import LoanProduct, dearest_price
from microlend.services.common import is_unique_violation, require
from microlend.store.uow import UnitOfWork


def check_line_price(product: LoanProduct, daily_rate: Decimal) -> None:
    """The line's daily rate must be in the product range and within the cap on every calendar."""
    product.check_daily_rate(daily_rate)
    worst, where = dearest_price(product, daily_rate)
    if worst > product.apr_cap:
        raise BusinessRuleError(
            f"at this daily rate the annualized rate reaches {worst:.4%} ({where}), above the cap of {product.apr_cap:.2%}",
            code="apr_above_cap", field="daily_rate",
        )


def grant_line(
    *, uow: UnitOfWork, clock: Clock, customer_id: int, product_code: str, limit: Decimal,
    daily_rate: Decimal | None = None, actor: str, reason: str = "granted by operator",
) -> CreditLine:
    with uow:
        line = grant_in_transaction(uow=uow, clock=clock, customer_id=customer_id, product_code=product_code,
                                    limit=limit, daily_rate=daily_rate, actor=actor, reason=reason)
        try:
            uow.commit()
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise ConflictError("the customer already has an open line for this product",
                                    code="line_exists", field="customer_id") from exc
            raise
        return line


def grant_in_transaction(
    *, uow: UnitOfWork, clock: Clock, customer_id: int, product_code: str, limit: Decimal,
    daily_rate: Decimal | None = None, actor: str, reason: str, allow_paused: bool = False,
) -> CreditLine:
    """Grant a line inside the caller's open unit of work (origination grants with its decision record).

    ``allow_paused``: a customer paused for step-up verification may be granted a line (no drawdown
    is possible until the pause is released)."""
    # The customer row is locked so two grants for one customer cannot both pass the check below
    # (a partial unique index on open lines backs it up).
    customer = require(uow.customers.get(customer_id, for_update=True), "customer", customer_id, "customer_id")
    product = require(uow.products.get(product_code), "product", product_code, "product_code")
    if not product.active:
        raise BusinessRuleError(f"product {product_code} is not active", code="product_inactive", field="product_code")
    product.check_line_limit(limit)
    rate = product.daily_rate_max if daily_rate is None else daily_rate
    check_line_price(product, rate)
    if any(line.status != LineStatus.CLOSED.value and line.product_code == product_code
           for line in uow.lines.list_for_customer(customer_id)):
        raise ConflictError("the customer already has an open line for this product", code="line_exists", field="customer_id")
    if customer.status != "active" and not (allow_paused and customer.status == "paused"):
        raise BusinessRuleError("the customer is not active", code="customer_inactive", field="customer_id")
    line = uow.lines.add(CreditLine(
        customer_id=customer_id, product_code=product_code, limit=limit, daily_rate=rate,
        opened_on=clock.business_date(),
    ))
    uow.lines.add_event(line.id, LineEvent(LineEventKind.GRANTED, None, limit, reason),
                        actor=actor, business_date=clock.business_date(), at=clock.now())
    return line


def _change(uow: UnitOfWork, clock: Clock, line_id: int, actor: str, action) -> CreditLine:
    with uow:
        line = require(uow.lines.get(line_id, for_update=True), "credit line", line_id, "line_id")
        event = action(line, uow)
        uow.lines.add_event(line.id, event, actor=actor, business_date=clock.business_date(), at=clock.now())
        uow.commit()
        return line


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise ValidationError("a reason of 1 to 500 characters is required", code="invalid_reason", field="reason")
    return reason


def freeze_line(*, uow: UnitOfWork, clock: Clock, line_id: int, reason: str, actor: str) -> CreditLine:
    reason = _reason(reason)
    return _change(uow, clock, line_id, actor, lambda line, _: line.freeze(reason))


def unfreeze_line(*, uow: UnitOfWork, clock: Clock, line_id: int, reason: str, actor: str) -> CreditLine:
    reason = _reason(reason)
    return _change(uow, clock, line_id, actor, lambda line, _: line.unfreeze(reason))


def change_limit(*, uow: UnitOfWork, clock: Clock, line_id: int, limit: Decimal, reason: str, actor: str) -> CreditLine:
    reason = _reason(reason)

    def action(line: CreditLine, u: UnitOfWork) -> LineEvent:
        product = require(u.products.get(line.product_code), "product", line.product_code, "product_code")
        return line.change_limit(limit, product, reason)

    return _change(uow, clock, line_id, actor, action)


def close_line(*, uow: UnitOfWork, clock: Clock, line_id: int, reason: str, actor: str) -> CreditLine:
    reason = _reason(reason)
    return _change(uow, clock, line_id, actor, lambda line, _: line.close(reason, clock.business_date()))


def get_line(*, uow: UnitOfWork, line_id: int) -> CreditLine:
    with uow:
        return require(uow.lines.get(line_id), "credit line", line_id, "line_id")


def line_history(*, uow: UnitOfWork, line_id: int) -> list[dict]:
    with uow:
        require(uow.lines.get(line_id), "credit line", line_id, "line_id")
        return uow.lines.events(line_id)


def lines_of_customer(*, uow: UnitOfWork, customer_id: int) -> list[CreditLine]:
    with uow:
        require(uow.customers.get(customer_id), "customer", customer_id, "customer_id")
        return uow.lines.list_for_customer(customer_id)

