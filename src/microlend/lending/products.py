"""Loan products as configuration.

A product is data: every number of the reference product in PRODUCT.md is a
field here, and a product is checked when it is defined, so a product whose
dearest possible price breaks the annualized-rate cap never reaches a borrower.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal
from enum import Enum
from functools import lru_cache

from microlend.errors import BusinessRuleError, ValidationError
from microlend.money import D, is_whole_fen


class RepaymentMethod(str, Enum):
    EQUAL_PRINCIPAL = "equal_principal"
    EQUAL_INSTALLMENT = "equal_installment"


class Component(str, Enum):
    """What a payment can pay; allocation orders are sequences of these."""

    PENALTY = "penalty"
    OVERDUE_FEE = "overdue_fee"
    OVERDUE_INTEREST = "overdue_interest"
    OVERDUE_PRINCIPAL = "overdue_principal"
    FEE_DUE = "fee_due"
    INTEREST_DUE = "interest_due"
    PRINCIPAL_DUE = "principal_due"


#: PRODUCT.md: penalty, then overdue interest, then overdue principal (oldest
#: first), then interest due, then principal due; the rest prepays principal.
#: Fees (when a product has them) sit before the interest of the same status.
DEFAULT_ALLOCATION = (
    Component.PENALTY,
    Component.OVERDUE_FEE,
    Component.OVERDUE_INTEREST,
    Component.OVERDUE_PRINCIPAL,
    Component.FEE_DUE,
    Component.INTEREST_DUE,
    Component.PRINCIPAL_DUE,
)


@dataclass(frozen=True)
class LoanProduct:
    code: str
    name: str
    currency: str = "CNY"
    line_min: Decimal = Decimal("500")
    line_max: Decimal = Decimal("200000")
    line_step: Decimal = Decimal("100")
    drawdown_min: Decimal = Decimal("100")
    terms: tuple[int, ...] = (5, 10, 20)
    default_method: RepaymentMethod = RepaymentMethod.EQUAL_PRINCIPAL
    methods: tuple[RepaymentMethod, ...] = (RepaymentMethod.EQUAL_PRINCIPAL, RepaymentMethod.EQUAL_INSTALLMENT)
    daily_rate_min: Decimal = Decimal("0.0002")
    daily_rate_max: Decimal = Decimal("0.0005")
    #: Flat fee each month as a share of the original principal (0 for none).
    monthly_fee_rate: Decimal = Decimal("0")
    penalty_multiplier: Decimal = Decimal("1.5")
    grace_days: int = 0
    apr_cap: Decimal = Decimal("0.24")
    allocation_order: tuple[Component, ...] = DEFAULT_ALLOCATION
    active: bool = True

    def check_term(self, term: int) -> None:
        if term not in self.terms:
            raise ValidationError(
                f"term {term} is not offered; choose one of {', '.join(map(str, self.terms))}",
                code="invalid_term", field="term",
            )

    def check_method(self, method: RepaymentMethod) -> None:
        if method not in self.methods:
            raise ValidationError(f"repayment method {method.value} is not offered", code="invalid_method", field="method")

    def check_daily_rate(self, rate: Decimal) -> None:
        if rate.normalize().as_tuple().exponent < -8:
            raise ValidationError("a daily rate has at most 8 decimal places", code="invalid_daily_rate",
                                  field="daily_rate")
        if not (self.daily_rate_min <= rate <= self.daily_rate_max):
            raise ValidationError(
                f"daily rate {rate} is outside the product range {self.daily_rate_min} to {self.daily_rate_max}",
                code="invalid_daily_rate", field="daily_rate",
            )

    def check_line_limit(self, limit: Decimal, field_name: str = "limit") -> None:
        if not (self.line_min <= limit <= self.line_max) or (limit % self.line_step) != 0:
            raise ValidationError(
                f"credit limit must be {self.line_min} to {self.line_max} in steps of {self.line_step}",
                code="invalid_limit", field=field_name,
            )


REFERENCE_PRODUCT = LoanProduct(code="REVOLVE", name="Revolving consumer credit line / 循环消费信用额度")


def validate_product(product: LoanProduct) -> LoanProduct:
    """Check a product's numbers and that its dearest price stays within the cap.

    The dearest price is the top daily rate plus any fee, for every term and
    method, at the smallest drawdown and at 10,000 (fen rounding weighs more on
    small loans), over every calendar (``lending.cap``).
    """
    _check_shape(product)
    worst, where = dearest_price(product, product.daily_rate_max)
    if worst > product.apr_cap:
        raise BusinessRuleError(
            f"the dearest price of product {product.code} is an annualized rate of {worst:.4%} "
            f"({where}), above the cap of {product.apr_cap:.2%}",
            code="product_apr_above_cap", field="daily_rate_max",
        )
    return product


def dearest_price(product: LoanProduct, daily_rate: Decimal) -> tuple[Decimal, str]:
    """The highest annualized rate a drawdown at ``daily_rate`` can have, and where it occurs (remembered per
    product and rate: it prices every term and method, and every grant asks)."""
    return _dearest_price(product, daily_rate)


@lru_cache(maxsize=1024)
def _dearest_price(product: LoanProduct, daily_rate: Decimal) -> tuple[Decimal, str]:
    from microlend.lending.cap import dearest_apr  # local: cap imports this module

    amounts = sorted({product.drawdown_min, max(product.drawdown_min, min(Decimal("10000"), product.line_max))})
    worst, where = Decimal(-1), ""
    for term in product.terms:
        for method in product.methods:
            for amount in amounts:
                apr, start = dearest_apr(principal=amount, daily_rate=daily_rate, term=term, method=method,
                                         monthly_fee_rate=product.monthly_fee_rate)
                if apr > worst:
                    worst, where = apr, f"{amount} over {term} months, {method.value}, drawn on {start}"
    return worst, where


def _check_shape(p: LoanProduct) -> None:
    def bad(field_name: str, message: str) -> ValidationError:
        return ValidationError(message, code="invalid_product", field=field_name)

    if not p.code or not p.code.replace("_", "").replace("-", "").isalnum() or len(p.code) > 32:
        raise bad("code", "product code must be 1-32 letters, digits, '-' or '_'")
    for name in ("line_min", "line_max", "line_step", "drawdown_min"):
        value = getattr(p, name)
        if value <= 0 or not is_whole_fen(value):
            raise bad(name, f"{name} must be a positive amount in whole fen")
    if p.line_min > p.line_max:
        raise bad("line_min", "line_min must not exceed line_max")
    if p.drawdown_min > p.line_max:
        raise bad("drawdown_min", "drawdown_min must not exceed line_max")
    if not p.terms or any(t < 1 or t > 60 for t in p.terms) or len(set(p.terms)) != len(p.terms):
        raise bad("terms", "terms must be distinct month counts from 1 to 60")
    if not p.methods or p.default_method not in p.methods:
        raise bad("default_method", "the default method must be one of the offered methods")
    if p.daily_rate_min < 0 or p.daily_rate_min > p.daily_rate_max or p.daily_rate_max >= Decimal("0.01"):
        raise bad("daily_rate_max", "daily rates must satisfy 0 <= min <= max < 1%")
    if p.monthly_fee_rate < 0 or p.monthly_fee_rate >= Decimal("0.1"):
        raise bad("monthly_fee_rate", "monthly fee rate must be from 0 to under 10%")
    if p.penalty_multiplier < 1 or p.penalty_multiplier > 10:
        raise bad("penalty_multiplier", "penalty multiplier must be from 1 to 10")
    if p.grace_days < 0 or p.grace_days > 30:
        raise bad("grace_days", "grace days must be from 0 to 30")
    if not (Decimal("0") < p.apr_cap <= Decimal("1")):
        raise bad("apr_cap", "the annualized-rate cap must be above 0 and at most 100%")
    if sorted(p.allocation_order, key=lambda c: c.value) != sorted(Component, key=lambda c: c.value):
        raise bad("allocation_order", "allocation order must name every component exactly once")


def product_from_dict(data: dict) -> LoanProduct:
    """Build a product from plain data (configuration files, the API, the database)."""
    kwargs: dict = {}
    known = {f.name for f in fields(LoanProduct)}
    for key, value in data.items():
        if key not in known:
            raise ValidationError(f"unknown product field {key!r}", code="invalid_product", field=key)
        try:
            kwargs[key] = _convert_field(key, value)
        except (ValueError, TypeError, ArithmeticError, ValidationError) as exc:
            raise ValidationError(f"product field {key!r} has an invalid value: {value!r}",
                                  code="invalid_product", field=key) from exc
    return replace(REFERENCE_PRODUCT, **kwargs)


_DECIMAL_FIELDS = {"line_min", "line_max", "line_step", "drawdown_min", "daily_rate_min",
                   "daily_rate_max", "monthly_fee_rate", "penalty_multiplier", "apr_cap"}


def _convert_field(key: str, value):
    if key in _DECIMAL_FIELDS:
        return D(str(value))
    if key == "terms":
        return tuple(int(t) for t in value)
    if key == "methods":
        return tuple(RepaymentMethod(m) for m in value)
    if key == "default_method":
        return RepaymentMethod(value)
    if key == "allocation_order":
        return tuple(Component(c) for c in value)
    if key in {"code", "name", "currency"}:
        return str(value)
    if key == "grace_days":
        return int(value)
    if key == "active":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise TypeError("active must be a boolean")
        return value
    raise ValueError(f"no conversion for {key}")


def product_to_dict(p: LoanProduct) -> dict:
    return {
        "code": p.code, "name": p.name, "currency": p.currency,
        "line_min": str(p.line_min), "line_max": str(p.line_max), "line_step": str(p.line_step),
        "drawdown_min": str(p.drawdown_min), "terms": list(p.terms),
        "default_method": p.default_method.value, "methods": [m.value for m in p.methods],
        "daily_rate_min": str(p.daily_rate_min), "daily_rate_max": str(p.daily_rate_max),
        "monthly_fee_rate": str(p.monthly_fee_rate), "penalty_multiplier": str(p.penalty_multiplier),
        "grace_days": p.grace_days, "apr_cap": str(p.apr_cap),
        "allocation_order": [c.value for c in p.allocation_order], "active": p.active,
    }
