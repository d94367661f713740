"""The annualized-rate cap, checked against every calendar a loan can meet.

A loan's IRR-based rate depends on the lengths of its periods (a February in
the first period makes it dearer or cheaper), so "the dearest price" of a
product is the maximum over start dates. Day-count sequences repeat with the
four-year leap cycle, so the start dates of 2024-2027 meet every sequence
(until 2100); starts with the same sequence give the same rate, so each
sequence is priced once.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from microlend.lending.pricing import annualized_rates
from microlend.lending.products import RepaymentMethod
from microlend.lending.schedule import build_schedule, contract_periods

_CYCLE_START = date(2024, 1, 1)
_CYCLE_DAYS = 1461


@lru_cache(maxsize=64)
def _representative_starts(term: int) -> tuple[date, ...]:
    """One start date for each distinct sequence of period lengths of a ``term``-month loan."""
    seen: dict[tuple[int, ...], date] = {}
    for offset in range(_CYCLE_DAYS):
        start = _CYCLE_START + timedelta(days=offset)
        seen.setdefault(tuple(days for _, _, days in contract_periods(start, term)), start)
    return tuple(seen.values())


@lru_cache(maxsize=1024)
def dearest_apr(*, principal: Decimal, daily_rate: Decimal, term: int, method: RepaymentMethod,
                monthly_fee_rate: Decimal) -> tuple[Decimal, date]:
    """The highest annualized rate (IRR method) over all start dates, and a start that gives it."""
    worst, worst_start = Decimal(-1), _CYCLE_START
    for start in _representative_starts(term):
        schedule = build_schedule(principal=principal, daily_rate=daily_rate, term=term, start=start,
                                  method=method, monthly_fee_rate=monthly_fee_rate)
        apr = annualized_rates(schedule).apr
        if apr > worst:
            worst, worst_start = apr, start
    return worst, worst_start
