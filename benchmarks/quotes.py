"""Quotes per second on one core: schedule + IRR-based annualized rate + total cost.

Target (issue 2): at least 10,000 ten-month quotes a second. Each quote goes
through the same path as the API (`services.quotes.make_quote`): validation,
schedule with actual-day interest, periodic IRR, effective and simple rates,
cap check. Amounts and rates vary from quote to quote; start dates vary over
two years (in production a day's quotes share one start date, whose due
dates the schedule caches).

    python benchmarks/quotes.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from microlend.lending.products import REFERENCE_PRODUCT, RepaymentMethod
from microlend.services.quotes import make_quote

TARGET = 10_000


def workload(n: int, seed: int = 1):
    rng = random.Random(seed)
    rates = [Decimal("0.0002"), Decimal("0.0003"), Decimal("0.00035"), Decimal("0.0004"), Decimal("0.0005")]
    return [
        (Decimal(rng.randrange(100, 200_000)), rng.choice(rates), date(2025, 1, 1) + timedelta(days=rng.randrange(730)))
        for _ in range(n)
    ]


def run(method: RepaymentMethod, term: int, seconds: float) -> tuple[float, float, int]:
    """Rounds of 1,000 quotes for ``seconds``; returns (median, best) quotes/s and the count."""
    cases = workload(5000)
    for amount, rate, day in cases:  # warm-up: imports, caches, allocator (steady state is what is measured)
        make_quote(product=REFERENCE_PRODUCT, amount=amount, term=term, daily_rate=rate, start=day, method=method)
    rates: list[float] = []
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(rates) < 3:
        batch = cases[(done // 1000 % 5) * 1000:][:1000]
        t0 = time.perf_counter()
        for amount, rate, day in batch:
            make_quote(product=REFERENCE_PRODUCT, amount=amount, term=term, daily_rate=rate, start=day, method=method)
        rates.append(len(batch) / (time.perf_counter() - t0))
        done += len(batch)
    return statistics.median(rates), max(rates), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    table = Table(title="Quotes per second, one core (schedule + IRR annualized rate + total cost)")
    for col in ("case", "median quotes/s", "best round", "target", "median vs target", "quotes timed"):
        table.add_column(col, justify="right" if col != "case" else "left")
    for method in (RepaymentMethod.EQUAL_PRINCIPAL, RepaymentMethod.EQUAL_INSTALLMENT):
        for term in (10, 5, 20):
            rate, best, n = run(method, term, args.seconds)
            target = f"{TARGET:,}" if term == 10 else "-"
            verdict = (("met" if rate >= TARGET else "MISSED") + f" ({rate / TARGET:.2f}x)") if term == 10 else "-"
            table.add_row(f"{method.value}, {term} months", f"{rate:,.0f}", f"{best:,.0f}", target, verdict, f"{n:,}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
