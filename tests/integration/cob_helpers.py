"""Shared helpers for close-of-business tests."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from microlend.services import drawdowns, ledger
from microlend.services.cob.engine import run_cob
from microlend.services.cob.phases import CobOptions
from microlend.store import tables

D = Decimal
FIRST_DUE = date(2026, 4, 10)
FAIL = "fail:insufficient_funds"


def draw(platform, line_id, amount, term=5):
    return drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher,
                                      clock=platform.clock, line_id=line_id, amount=Decimal(amount), term=term)


def close(platform, day: date, **options) -> dict:
    """Run the close of business of exactly ``day`` and move the test clock to it."""
    reports = run_cob(platform, only=day, options=CobOptions(**options))
    platform.clock.current_date = day
    return reports[0] if reports else {}


def close_through(platform, first: date, last: date, **options) -> list[dict]:
    out, day = [], first
    while day <= last:
        out.append(close(platform, day, **options))
        day += timedelta(days=1)
    return out


def rows(platform, table, *where, order=None):
    with platform.engine.connect() as conn:
        stmt = select(table).where(*where)
        if order is not None:
            stmt = stmt.order_by(order)
        return conn.execute(stmt).all()


def loan_row(platform, loan_id):
    [row] = rows(platform, tables.loans, tables.loans.c.id == loan_id)
    return row


def balances(platform) -> dict[str, Decimal]:
    tb = ledger.get_trial_balance(uow=platform.uow())
    assert tb.balanced
    return {r.account.code: r.balance for r in tb.rows}


def reconciled(platform) -> bool:
    return ledger.reconcile_all(uow=platform.uow()) == []


def debit_rows(platform, loan_id):
    return rows(platform, tables.card_debits, tables.card_debits.c.loan_id == loan_id, order=tables.card_debits.c.id)


def repayment_rows(platform, loan_id):
    return rows(platform, tables.repayments, tables.repayments.c.loan_id == loan_id, order=tables.repayments.c.id)
