"""Annualized rates of a schedule.

The headline rate is the IRR method of the 2021 disclosure rule: the periodic
internal rate of return of the actual cash flows (the disbursement, then every
installment with all interest and fees) times the number of periods in a year.
Two companions are reported: the effective annual rate (the periodic IRR
compounded over a year) and the simple annualized rate (interest and fees over
principal-days, times 365), which for a pure daily-rate loan equals
daily rate x 365 exactly. See docs/pricing.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from microlend.errors import BusinessRuleError
from microlend.lending.schedule import Schedule
from microlend.money import round_rate

PERIODS_PER_YEAR = 12


@dataclass(frozen=True, slots=True)
class AnnualizedRates:
    apr: Decimal            #: periodic IRR x 12, the rate shown first on every quote and contract
    effective_annual: Decimal  #: (1 + periodic IRR)^12 - 1
    simple: Decimal         #: (interest + fees) / sum(principal x days) x 365
    periodic_irr: Decimal   #: the monthly IRR itself


def periodic_irr(principal: float, payments: list[float], guess: float | None = None) -> float:
    """Rate i with -principal + sum(payment_k / (1+i)^k) = 0 (k = 1..n).

    Newton's method from ``guess`` (default: the flat-rate approximation), with
    bisection as a fallback; for a loan (one outflow, then inflows) the root is
    unique.
    """
    total = sum(payments)
    if principal <= 0 or not payments:
        raise ValueError("an IRR needs a positive principal and at least one payment")
    if abs(total - principal) < 1e-12:
        return 0.0
    n = len(payments)
    rate = guess if guess is not None else 2.0 * (total - principal) / (principal * (n + 1))
    for _ in range(50):
        v = 1.0 / (1.0 + rate)
        npv = -principal
        slope = 0.0
        vk = 1.0
        for k, cash in enumerate(payments, start=1):
            vk *= v
            npv += cash * vk
            slope -= k * cash * vk * v
        if abs(npv) < 1e-9 * principal:
            return rate
        step = npv / slope
        rate -= step
        if rate <= -0.99 or rate != rate:
            break
        if abs(step) < 1e-14:
            return rate
    return _bisect_irr(principal, payments)


def _bisect_irr(principal: float, payments: list[float]) -> float:
    def npv(rate: float) -> float:
        return -principal + sum(c / (1 + rate) ** k for k, c in enumerate(payments, start=1))

    low, high = -0.99, 10.0
    for _ in range(200):
        mid = (low + high) / 2
        if npv(mid) > 0:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def annualized_rates(schedule: Schedule) -> AnnualizedRates:
    payments = [float(r.principal + r.interest + r.fee) for r in schedule.installments]
    principal_days = schedule.principal_days
    simple = (schedule.total_cost * 365 / principal_days) if principal_days else Decimal(0)
    # The simple rate over an average month is within a few basis points of the
    # answer, so Newton needs two or three steps from there.
    monthly = periodic_irr(float(schedule.principal), payments, float(simple) / PERIODS_PER_YEAR or None)
    return AnnualizedRates(
        apr=round_rate(Decimal(repr(monthly * PERIODS_PER_YEAR))),
        effective_annual=round_rate(Decimal(repr((1 + monthly) ** PERIODS_PER_YEAR - 1))),
        simple=round_rate(simple),
        periodic_irr=round_rate(Decimal(repr(monthly))),
    )


def check_apr_cap(rates: AnnualizedRates, cap: Decimal) -> None:
    """Refuse a price whose IRR-based annualized rate exceeds the cap."""
    if rates.apr > cap:
        raise BusinessRuleError(
            f"the annualized rate {rates.apr:.4%} exceeds the cap of {cap:.2%}",
            code="apr_above_cap", field="daily_rate",
        )
