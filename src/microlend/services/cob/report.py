"""Finishing a COB date: the day's aggregated accrual entries and the date's report.

Accrued interest, fees and penalty are posted as one entry per product for the day
(never one ledger row per loan per day); each loan keeps its own share in
``cob_interest``/``cob_fee``/``cob_penalty``, which reconciliation checks against
these lines. Posting, the report and marking the date done are one transaction, so
a crash here leaves the date running and the next run finishes it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from microlend.lending.ledger import Accounts, EntryBuilder, EntryKind
from microlend.money import ZERO, D
from microlend.services.cob import runs
from microlend.services.cob.debits import AUTO_SCOPE
from microlend.store import tables
from microlend.store.repositories import LedgerRepository

_INCOME = {
    "interest": (Accounts.INTEREST_RECEIVABLE, Accounts.INTEREST_INCOME),
    "fee": (Accounts.FEE_RECEIVABLE, Accounts.FEE_INCOME),
    "penalty": (Accounts.PENALTY_RECEIVABLE, Accounts.PENALTY_INCOME),
}


def finalize_date(platform, on: date, *, owner: str, timings: dict[str, float]) -> dict:
    now = platform.clock.now()
    with platform.session_factory() as session:
        conn = session.connection()
        if runs.lock_for_finish(conn, on, owner) == runs.DONE:  # finished meanwhile: post nothing twice
            return runs.get_run(conn, on).report or {}
        accrued: dict[str, dict[str, Decimal]] = defaultdict(lambda: {k: ZERO for k in _INCOME})
        loan_results = runs.chunk_results(conn, on, "loans")
        for result in loan_results:
            for product, figures in result.get("accrued", {}).items():
                for kind, amount in figures.items():
                    accrued[product][kind] += D(amount)
        ledger = LedgerRepository(session)
        for product, figures in sorted(accrued.items()):
            entry = _accrual_entry(on, product, figures)
            if entry is not None:
                ledger.post(entry, at=now)
        report = build_report(conn, on, loan_results=loan_results, accrued=accrued, timings=timings)
        runs.finish_date(conn, on, now=now, report=report)
        session.commit()
    return report


def _accrual_entry(on: date, product: str, figures: dict[str, Decimal]):
    """One entry for the product's day; a net negative figure (a true-up) posts the other way round."""
    builder = EntryBuilder(EntryKind.ACCRUAL, on, f"Close of business {on}: income accrued on {product}",
                           f"COB{on:%Y%m%d}-{product}"[:64])
    for kind, amount in figures.items():
        receivable, income = _INCOME[kind]
        if amount > 0:
            builder.move(amount, debit=receivable, credit=income)
        elif amount < 0:
            builder.move(-amount, debit=income, credit=receivable)
    return None if builder.empty else builder.build()


def build_report(conn, on: date, *, loan_results: list[dict], accrued, timings: dict[str, float]) -> dict:
    loans, debits, outbox = tables.loans, tables.card_debits, tables.sms_outbox

    def grouped(column) -> dict[str, int]:
        return {str(k): v for k, v in conn.execute(select(column, func.count()).group_by(column))}

    active = loans.c.status == "active"
    by_bucket = {str(k): v for k, v in conn.execute(select(loans.c.bucket, func.count()).where(active)
                                                    .group_by(loans.c.bucket))}
    by_class = {str(k): v for k, v in conn.execute(select(loans.c.loan_class, func.count()).where(active)
                                                   .group_by(loans.c.loan_class))}
    debit_rows = conn.execute(select(debits.c.status, func.count(), func.sum(debits.c.collected))
                              .where(debits.c.idempotency_scope == AUTO_SCOPE, debits.c.requested_on == on)
                              .group_by(debits.c.status)).all()
    debit_counts = {status: count for status, count, _ in debit_rows}
    collected = sum((amount or ZERO for _, _, amount in debit_rows), ZERO)
    sms = {str(k): v for k, v in conn.execute(select(outbox.c.status, func.count())
                                             .where(outbox.c.business_date == on).group_by(outbox.c.status))}
    totals = {kind: sum((f[kind] for f in accrued.values()), ZERO) for kind in _INCOME}
    processed = sum(int(r.get("loans", 0)) for r in loan_results)
    return {
        "business_date": on.isoformat(),
        "loans": {"by_status": grouped(loans.c.status), "by_bucket": by_bucket, "by_class": by_class,
                  "processed": processed,
                  "quiet": sum(int(r.get("quiet", 0)) for r in loan_results),
                  "eventful": sum(int(r.get("eventful", 0)) for r in loan_results),
                  "set_based": sum(int(r.get("set_based", 0)) for r in loan_results),
                  "tier_changes": sum(int(r.get("tier_changes", 0)) for r in loan_results)},
        "accrued": {k: str(v) for k, v in totals.items()},
        "written_off": {"count": sum(int(r.get("written_off", 0)) for r in loan_results),
                        "amount": str(sum((D(r.get("written_off_amount", "0")) for r in loan_results), ZERO))},
        "debits": {"tried": sum(debit_counts.values()), "succeeded": debit_counts.get("succeeded", 0),
                   "failed": debit_counts.get("failed", 0), "pending": debit_counts.get("pending", 0),
                   "review": debit_counts.get("review", 0), "collected": str(collected)},
        "sms": {"queued": sum(sms.values()), "by_status": sms},
        "seconds": {k: round(v, 3) for k, v in timings.items()},
    }
