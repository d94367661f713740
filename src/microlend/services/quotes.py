"""Quotes: the schedule, the annualized rates and the total cost of a prospective drawdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from microlend.errors import ValidationError
from microlend.lending.pricing import AnnualizedRates, annualized_rates, check_apr_cap
from microlend.lending.products import LoanProduct, RepaymentMethod
from microlend.lending.schedule import Schedule, build_schedule
from microlend.services.common import check_amount


@dataclass(frozen=True)
class Quote:
    product_code: str
    term: int
    schedule: Schedule
    rates: AnnualizedRates


def make_quote(
    *, product: LoanProduct, amount: Decimal, term: int, daily_rate: Decimal, start: date,
    method: RepaymentMethod | None = None,
) -> Quote:
    """Price a drawdown with the product's rules; refuse anything above the cap."""
    amount = check_amount(amount)
    if amount < product.drawdown_min or amount > product.line_max:
        raise ValidationError(
            f"amount must be from {product.drawdown_min} to {product.line_max}", code="amount_out_of_range", field="amount",
        )
    product.check_term(term)
    method = method or product.default_method
    product.check_method(method)
    product.check_daily_rate(daily_rate)
    schedule = build_schedule(
        principal=amount, daily_rate=daily_rate, term=term, start=start, method=method,
        monthly_fee_rate=product.monthly_fee_rate,
    )
    rates = annualized_rates(schedule)
    check_apr_cap(rates, product.apr_cap)
    return Quote(product.code, term, schedule, rates)
