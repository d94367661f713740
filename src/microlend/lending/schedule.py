"""Repayment schedules.

Interest is charged on the outstanding principal for the actual days of each
period (daily rate x days), and due dates fall on the drawdown's day of month,
clamped to the month's last day (a loan drawn on 31 January is due on 28 or 29
February, then 31 March). Amounts are rounded to the fen half up; the last
installment absorbs what the rounding left over, so principal always sums to
the loan.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from microlend.lending.products import RepaymentMethod
from microlend.money import FEN, MONEY_ROUNDING, ZERO, split_evenly

_ROUND = MONEY_ROUNDING


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    if month == 2 and calendar.isleap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def add_months(start: date, months: int) -> date:
    """The same day of month ``months`` later, clamped to that month's last day."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = start.day
    if day > 28:
        day = min(day, days_in_month(year, month))
    return date(year, month, day)


def due_dates(start: date, term: int) -> list[date]:
    """Due dates of a ``term``-month loan drawn on ``start``: always from the drawdown's day."""
    return [add_months(start, k) for k in range(1, term + 1)]


class Installment(NamedTuple):
    """One row of a schedule (a NamedTuple: quotes build millions of these)."""

    number: int
    period_start: date
    due_date: date
    opening_principal: Decimal
    principal: Decimal
    interest: Decimal
    fee: Decimal

    @property
    def days(self) -> int:
        return (self.due_date - self.period_start).days

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fee


@dataclass(frozen=True, slots=True)
class Schedule:
    principal: Decimal
    daily_rate: Decimal
    method: RepaymentMethod
    start: date
    monthly_fee: Decimal
    installments: tuple[Installment, ...]
    total_interest: Decimal
    total_fees: Decimal
    #: Sum of opening principal x days over the periods (the simple rate's denominator).
    principal_days: Decimal

    @property
    def total_principal(self) -> Decimal:
        return sum((i.principal for i in self.installments), ZERO)

    @property
    def total_cost(self) -> Decimal:
        """Everything the borrower pays on top of the principal."""
        return self.total_interest + self.total_fees

    @property
    def total_repayment(self) -> Decimal:
        return self.principal + self.total_cost


def monthly_fee_amount(principal: Decimal, monthly_fee_rate: Decimal) -> Decimal:
    """A flat monthly fee on the original principal, rounded to the fen half up."""
    return (principal * monthly_fee_rate).quantize(FEN, rounding=_ROUND)


def build_schedule(
    *,
    principal: Decimal,
    daily_rate: Decimal,
    term: int,
    start: date,
    method: RepaymentMethod = RepaymentMethod.EQUAL_PRINCIPAL,
    monthly_fee_rate: Decimal = ZERO,
) -> Schedule:
    """The contractual schedule of a new drawdown."""
    periods = contract_periods(start, term)
    fee = monthly_fee_amount(principal, monthly_fee_rate)
    totals: list[Decimal] = []
    rows = _build(principal, daily_rate, periods, method, fee, 1, totals)
    interest, principal_days = totals
    return Schedule(principal, daily_rate, method, start, fee, tuple(rows), interest, fee * term, principal_days)


@lru_cache(maxsize=8192)
def contract_periods(start: date, term: int) -> tuple[tuple[date, date, int], ...]:
    """(start, due date, days) of each period; cached, since a day's quotes share their start."""
    dues = due_dates(start, term)
    return tuple((begin, due, (due - begin).days) for begin, due in zip([start, *dues[:-1]], dues))


def build_installments(
    *,
    principal: Decimal,
    daily_rate: Decimal,
    periods: list[tuple[date, date]],
    method: RepaymentMethod,
    fee: Decimal = ZERO,
    first_number: int = 1,
) -> list[Installment]:
    """Installments for ``principal`` over the given (start, due) periods.

    Also used to re-schedule what is left after a partial prepayment: the first
    period then starts on the prepayment date and is shorter than a month.
    """
    spans = [(begin, due, (due - begin).days) for begin, due in periods]
    return _build(principal, daily_rate, spans, method, fee, first_number, [])


def _build(principal: Decimal, daily_rate: Decimal, spans, method: RepaymentMethod, fee: Decimal,
           first_number: int, totals: list[Decimal]) -> list[Installment]:
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        return _rows(principal, daily_rate, spans, fee, first_number, split_evenly(principal, len(spans)), None, totals)
    payment = _level_payment(principal, daily_rate, [days for _, _, days in spans])
    return _rows(principal, daily_rate, spans, fee, first_number, None, payment, totals)


def annuity_payment(principal: Decimal, daily_rate: Decimal, periods: list[tuple[date, date]]) -> Decimal:
    """The level payment that repays ``principal`` over periods of unequal length.

    Balance after period k is B_k = B_{k-1} (1 + r d_k) - A; setting B_n = 0
    gives A = P * prod(1 + r d_k) / sum_k prod_{j>k}(1 + r d_j).
    """
    return _level_payment(principal, daily_rate, [(due - begin).days for begin, due in periods])


def _level_payment(principal: Decimal, daily_rate: Decimal, period_days: list[int]) -> Decimal:
    growth = [1 + daily_rate * days for days in period_days]
    tail_product = Decimal(1)
    denominator = Decimal(0)
    for g in reversed(growth):
        denominator += tail_product
        tail_product *= g
    return (principal * tail_product / denominator).quantize(FEN, rounding=_ROUND)


def _rows(principal: Decimal, daily_rate: Decimal, spans, fee: Decimal, first_number: int,
          principals: list[Decimal] | None, level_payment: Decimal | None, totals: list[Decimal]) -> list[Installment]:
    """Rows for either method: fixed principals, or a level payment less each period's interest.

    Appends (total interest, sum of principal x days) to ``totals`` on the way.
    """
    rows: list[Installment] = []
    balance = principal
    last = len(spans) - 1
    total_interest = ZERO
    principal_days = 0
    for k, (begin, due, days) in enumerate(spans):
        balance_days = balance * days
        interest = (balance_days * daily_rate).quantize(FEN, rounding=_ROUND)
        principal_days += balance_days
        total_interest += interest
        if k == last:
            part = balance
        else:
            part = principals[k] if principals is not None else level_payment - interest  # type: ignore[operator]
            if part < ZERO:
                part = ZERO
            elif part > balance:
                part = balance
        rows.append(Installment(first_number + k, begin, due, balance, part, interest, fee))
        balance -= part
    totals += (total_interest, principal_days)
    return rows
