"""``microlend quote``: a schedule, the annualized rates and the total cost."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Optional

import typer
from rich.table import Table

from microlend.cli.common import console, fail, handle_errors, print_json
from microlend.lending.products import REFERENCE_PRODUCT, RepaymentMethod
from microlend.services.quotes import make_quote


def _decimal(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(f"invalid_{name} ({name}): {text!r} is not a number")
    if not value.is_finite():
        fail(f"invalid_{name} ({name}): {text!r} is not a finite number")
    return value


@handle_errors
def quote(
    amount: Annotated[str, typer.Option(help="Principal in CNY, e.g. 10000 or 10000.00")],
    term: Annotated[int, typer.Option(help="Number of monthly installments")],
    daily_rate: Annotated[str, typer.Option(help="Daily interest rate, e.g. 0.0005 for 0.05%")] = "0.0005",
    method: Annotated[RepaymentMethod, typer.Option(help="Repayment method")] = RepaymentMethod.EQUAL_PRINCIPAL,
    start_date: Annotated[Optional[str], typer.Option(help="Drawdown date YYYY-MM-DD (default today)")] = None,
    monthly_fee_rate: Annotated[str, typer.Option(help="Flat monthly fee on the original principal")] = "0",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Quote a drawdown of the reference product (any term from 1 to 60 months may be asked)."""
    start = date.today()
    if start_date:
        try:
            start = datetime.strptime(start_date, "%Y-%m-%d").date()
        except ValueError:
            fail(f"invalid_date (start_date): {start_date!r} is not YYYY-MM-DD")
    if not 1 <= term <= 60:
        fail("invalid_term (term): term must be 1 to 60 months")
    # The reference product's rules (cap, rounding), with the asked term and any rate below 1% a day.
    product = replace(REFERENCE_PRODUCT, terms=tuple(sorted({*REFERENCE_PRODUCT.terms, term})),
                      daily_rate_min=Decimal(0), daily_rate_max=Decimal("0.0099"),
                      monthly_fee_rate=_decimal(monthly_fee_rate, "monthly_fee_rate"))
    q = make_quote(product=product, amount=_decimal(amount, "amount"), term=term,
                   daily_rate=_decimal(daily_rate, "daily_rate"), start=start, method=method)
    s, r = q.schedule, q.rates
    if as_json:
        print_json({
            "amount": str(s.principal), "term": term, "method": s.method.value, "start_date": s.start.isoformat(),
            "daily_rate": str(s.daily_rate), "apr": str(r.apr), "effective_annual_rate": str(r.effective_annual),
            "simple_annualized_rate": str(r.simple), "total_interest": str(s.total_interest),
            "total_fees": str(s.total_fees), "total_cost": str(s.total_cost), "total_repayment": str(s.total_repayment),
            "installments": [{"number": i.number, "due_date": i.due_date.isoformat(), "days": i.days,
                              "principal": str(i.principal), "interest": str(i.interest), "fee": str(i.fee),
                              "total": str(i.total)} for i in s.installments],
        })
        return
    console.print(f"[bold]Annualized rate (IRR): {r.apr:.4%}[/]   effective annual {r.effective_annual:.4%}   "
                  f"simple {r.simple:.4%}   daily {s.daily_rate}")
    console.print(f"Total cost {s.total_cost} CNY (interest {s.total_interest}, fees {s.total_fees}); "
                  f"total repayment {s.total_repayment} CNY")
    table = Table("#", "Due date", "Days", "Principal", "Interest", "Fee", "Total", title=f"{s.method.value} schedule")
    for i in s.installments:
        table.add_row(str(i.number), i.due_date.isoformat(), str(i.days), str(i.principal), str(i.interest),
                      str(i.fee), str(i.total))
    table.add_row("", "Total", "", str(s.total_principal), str(s.total_interest), str(s.total_fees),
                  str(s.total_repayment), style="bold")
    console.print(table)
