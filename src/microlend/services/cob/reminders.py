"""COB phase "sms": reminders into the outbox (sending is the "sms_send" phase).

Due-date reminders go to loans with an unpaid installment due today or N days from
now; overdue ones on the policy's DPD days. The text is rendered in the borrower's
language with the amount, due date and annualized rate. The outbox's unique key
(loan, date, kind) and the check below mean a rerun never queues a second copy.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from microlend.lending.loans import LoanStatus
from microlend.lending.notices import LANGUAGES, render_sms
from microlend.lending.reminders import (
    ReminderKind,
    ReminderPolicy,
    overdue_kind,
    reminder_dpd_days,
    reminder_due_offsets,
)
from microlend.money import ZERO
from microlend.store import tables

loans, installments, customers, outbox = (tables.loans, tables.loan_installments, tables.customers,
                                          tables.sms_outbox)
PENDING = "pending"


def _unpaid(row) -> Decimal:
    return (row.principal - row.principal_paid) + (row.interest - row.interest_paid) + (row.fee - row.fee_paid)


def queue_reminders(session: Session, *, on: date, first_id: int, last_id: int, policy: ReminderPolicy,
                    lender: dict[str, str], now: datetime) -> dict:
    """Queue today's reminders for loans with ids in [first_id, last_id]; returns counts by kind."""
    in_range = (loans.c.id.between(first_id, last_id), loans.c.status == LoanStatus.ACTIVE.value)
    who = (loans.c.customer_id, loans.c.apr, customers.c.language, customers.c.card_masked)
    messages: dict[tuple[int, str], dict] = {}
    due_days = {on + timedelta(days=d): d for d in reminder_due_offsets(policy)}
    if due_days:
        # The chunk's installments due on those days straight from the (due_date, loan_id) index, then
        # their loans: two plain queries plan well on both databases (a join here does not on SQLite).
        due = [row for row in session.execute(select(installments).where(
            installments.c.due_date.in_(list(due_days)), installments.c.loan_id.between(first_id, last_id)))
            if _unpaid(row) > 0]
        holders = {row.id: row for row in session.execute(
            select(loans.c.id, *who).join(customers, customers.c.id == loans.c.customer_id)
            .where(*in_range, loans.c.id.in_(sorted({r.loan_id for r in due}))))} if due else {}
        for row in due:
            holder = holders.get(row.loan_id)
            if holder is None:  # not active
                continue
            kind = ReminderKind.DUE if row.due_date == on else ReminderKind.PRE_DUE
            messages.setdefault((row.loan_id, kind.value),
                                _message(holder, row.loan_id, kind, _unpaid(row), row.due_date, 0))
    dpd_days = reminder_dpd_days(policy, policy.stop_after_dpd)
    overdue = session.execute(
        select(loans.c.id, loans.c.dpd, loans.c.oldest_unpaid_due, loans.c.penalty_recognized,
               loans.c.penalty_paid, *who).join(customers, customers.c.id == loans.c.customer_id)
        .where(*in_range, loans.c.dpd.in_(dpd_days))).all()
    if overdue:
        owed_by_loan: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for row in session.execute(select(installments).where(
                installments.c.loan_id.in_([r.id for r in overdue]), installments.c.due_date < on)):
            owed_by_loan[row.loan_id] += _unpaid(row)
        for row in overdue:
            kind = overdue_kind(policy, row.dpd)
            owed = owed_by_loan[row.id] + row.penalty_recognized - row.penalty_paid
            if kind is not None and owed > 0:
                messages[(row.id, kind.value)] = _message(row, row.id, kind, owed, row.oldest_unpaid_due, row.dpd)
    if messages:
        queued = set(session.execute(select(outbox.c.loan_id, outbox.c.kind).where(
            outbox.c.business_date == on, outbox.c.loan_id.between(first_id, last_id))).all())
        new = [dict(m, business_date=on, status=PENDING, created_at=now, body=render_sms(
            ReminderKind(m["kind"]), m["language"], lender=lender[m["language"]], amount=m.pop("amount"), due_date=m.pop("due_date"),
            apr=m.pop("apr"), dpd=m.pop("dpd"), card_last4=m.pop("card_last4")))
            for key, m in messages.items() if key not in queued]
        if new:
            session.execute(insert(outbox), new)
    counts: dict[str, int] = defaultdict(int)
    for _, kind in messages:
        counts[kind] += 1
    return dict(counts)


def _message(row, loan_id: int, kind: ReminderKind, owed: Decimal, due_date: date, dpd: int) -> dict:
    language = row.language if row.language in LANGUAGES else "zh"
    card = row.card_masked[-4:] if row.card_masked and row.card_masked[-4:].isdigit() else None
    return {"loan_id": loan_id, "customer_id": row.customer_id, "kind": kind.value, "language": language,
            "amount": owed, "due_date": due_date, "apr": row.apr, "dpd": dpd, "card_last4": card}
