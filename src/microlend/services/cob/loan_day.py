"""COB phase "loans": accrual, falling due and overdue, penalty, delinquency and write-off.

One chunk of loans (an id range) in one transaction, with the rows locked:

1. **accrual** - interest earned through the date (``lending.daily``);
2. **due and overdue** - loans with an event today take the full path, which moves
   their accrual basis to the next installment and their overdue principal;
3. **penalty** - penalty interest on overdue principal through the date;
4. **delinquency** - days past due, bucket and class; a history row when they change;
5. **write-off** - at the policy's DPD the receivables go to credit-loss expense.

Income is not posted per loan: each chunk's totals per product are kept with the
chunk and posted as one entry per product for the day when the date finishes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from microlend.lending.daily import DayResult, QuietRow, advance_quiet_day, apply_result, close_day, is_quiet
from microlend.lending.delinquency import DelinquencyPolicy
from microlend.lending.loans import Loan, LoanStatus
from microlend.money import ZERO
from microlend.services.cob.quiet_sql import close_falling_due_loans, close_quiet_loans
from microlend.services.cob.write_off import write_off_loan
from microlend.store import tables
from microlend.store.bulk import bulk_update

loans, history = tables.loans, tables.loan_delinquency_history

_READ = [loans.c[name] for name in (
    "id", "product_code", "daily_rate", "penalty_rate", "interest_recognized", "fee_recognized", "penalty_exact",
    "penalty_through", "penalty_recognized", "accrual_base", "accrual_principal", "accrual_start", "next_due_date",
    "next_event_on", "overdue_principal", "oldest_unpaid_due", "bucket", "loan_class", "cob_through",
    "cob_interest", "cob_fee", "cob_penalty",
)]
_QUIET_FIELDS = [f for f in QuietRow.__dataclass_fields__]
SUMMARY_COLUMNS = ("accrual_base", "accrual_principal", "accrual_start", "next_due_date", "next_event_on",
                   "overdue_principal", "oldest_unpaid_due")


def close_loans(session: Session, *, on: date, first_id: int, last_id: int, policy: DelinquencyPolicy,
                now: datetime) -> dict:
    """Bring the active loans with ids in [first_id, last_id] to ``on``; returns the chunk's totals."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"interest": ZERO, "fee": ZERO, "penalty": ZERO})
    history_rows: list[dict] = []
    set_based_history = 0
    set_based_counts: list[int] = []  # quiet loans, loans whose installment simply fell due
    stmt = select(*_READ).where(loans.c.id.between(first_id, last_id), loans.c.status == LoanStatus.ACTIVE.value)
    if session.get_bind().dialect.name == "postgresql":
        for set_based_step in (close_quiet_loans, close_falling_due_loans):
            count, sql_totals, sql_changes = set_based_step(session, on=on, first_id=first_id, last_id=last_id,
                                                            policy=policy)
            for product, figures in sql_totals.items():
                for kind, amount in figures.items():
                    totals[product][kind] += amount
            set_based_counts.append(count)
            set_based_history += sql_changes
        stmt = stmt.where(or_(loans.c.cob_through.is_(None), loans.c.cob_through != on)).with_for_update()
    rows = [r for r in session.execute(stmt) if r.cob_through != on]  # already closed today: nothing to do
    quiet = [r for r in rows if is_quiet(r.cob_through, r.next_event_on, on)]
    eventful_ids = [r.id for r in rows if not is_quiet(r.cob_through, r.next_event_on, on)]
    updates: list[dict] = []
    tier_changes: list[DayResult] = []
    written_off = {"count": 0, "amount": ZERO}
    by_id = {r.id: r for r in rows}

    def account(result: DayResult) -> None:
        product = totals[result.product_code]
        product["interest"] += result.interest_delta
        product["fee"] += result.fee_delta
        product["penalty"] += result.penalty_delta
        if result.tier_changed:
            tier_changes.append(result)

    for row in quiet:
        result = advance_quiet_day(QuietRow(**{f: getattr(row, f) for f in _QUIET_FIELDS}), on, policy)
        if policy.due_for_write_off(result.dpd):
            eventful_ids.append(row.id)  # written off below, through the domain
            continue
        account(result)
        updates.append(_row_update(row, result, on))
    if eventful_ids:
        for loan in session.scalars(select(Loan).where(loans.c.id.in_(eventful_ids))):
            result = close_day(loan, on, policy)
            account(result)
            if policy.due_for_write_off(result.dpd):
                apply_result(loan, result, on)
                written_off["count"] += 1
                written_off["amount"] += write_off_loan(session, loan, on=on, dpd=result.dpd, now=now)
            else:
                updates.append(_row_update(by_id[loan.id], result, on))
        session.flush()
    _write(session, updates)
    history_rows += [{"loan_id": r.loan_id, "business_date": on, "dpd": r.dpd, "bucket": r.bucket,
                      "loan_class": r.loan_class} for r in tier_changes]
    if history_rows:
        session.execute(insert(history), history_rows)
    return {
        "loans": len(rows) + sum(set_based_counts), "quiet": len(quiet) + sum(set_based_counts[:1]),
        "eventful": len(rows) - len(quiet) + sum(set_based_counts[1:]), "set_based": sum(set_based_counts),
        "tier_changes": len(history_rows) + set_based_history, "written_off": written_off["count"],
        "written_off_amount": str(written_off["amount"]),
        "accrued": {code: {k: str(v) for k, v in figures.items()} for code, figures in totals.items()},
    }


def _row_update(row, result: DayResult, on: date) -> dict:
    values = {
        "id": row.id,
        "interest_recognized": result.interest_recognized,
        "cob_interest": row.cob_interest + result.interest_delta,
        "fee_recognized": row.fee_recognized if result.fee_recognized is None else result.fee_recognized,
        "cob_fee": row.cob_fee + result.fee_delta,
        "penalty_exact": result.penalty_exact,
        "penalty_through": result.penalty_through,
        "penalty_recognized": result.penalty_recognized,
        "cob_penalty": row.cob_penalty + result.penalty_delta,
        "dpd": result.dpd, "bucket": result.bucket, "loan_class": result.loan_class,
        "cob_through": on,
    }
    for name in SUMMARY_COLUMNS:
        values[name] = result.summary[name] if result.summary else getattr(row, name)
    return values


_UPDATED = [
    "interest_recognized", "cob_interest", "fee_recognized", "cob_fee", "penalty_exact", "penalty_through",
    "penalty_recognized", "cob_penalty", "dpd", "bucket", "loan_class", "cob_through", *SUMMARY_COLUMNS,
]


def _write(session: Session, updates: list[dict]) -> None:
    """Write the chunk back in one statement (PostgreSQL) or one executemany (SQLite)."""
    bulk_update(session, loans, ("id",), tuple(_UPDATED), updates)
