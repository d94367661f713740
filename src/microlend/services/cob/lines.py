"""COB phase "lines": freeze credit lines with anything overdue, unfreeze them once paid.

Runs after the day's auto-debits, so a loan collected on its retry day is not frozen
and unfrozen in one night. Only freezes the close of business made itself
(``freeze_cause`` "overdue" or "write_off") are lifted here; a freeze by staff stays.
Every change is a credit-line event with its reason.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from microlend.lending.credit_lines import LineEventKind, LineStatus
from microlend.lending.loans import LoanStatus
from microlend.store import tables

lines, loans, events = tables.credit_lines, tables.loans, tables.credit_line_events
OVERDUE, WRITE_OFF = "overdue", "write_off"
ACTOR = "cob"


def freeze_and_unfreeze(session: Session, *, on: date, now: datetime) -> dict:
    """One pass over the lines; returns how many were frozen and unfrozen."""
    # Overdue means past the grace days (PRODUCT.md: grace 0 by default), as for penalty interest.
    overdue = set(session.scalars(select(loans.c.credit_line_id).where(
        loans.c.status == LoanStatus.ACTIVE.value, loans.c.dpd > loans.c.grace_days).distinct()))
    written_off = set(session.scalars(select(loans.c.credit_line_id).where(
        loans.c.status == LoanStatus.WRITTEN_OFF.value, loans.c.recovered < loans.c.written_off_amount).distinct()))
    delinquent = overdue | written_off
    to_freeze = [i for i in session.scalars(select(lines.c.id).where(lines.c.status == LineStatus.ACTIVE.value))
                 if i in delinquent]
    to_unfreeze = [i for i in session.scalars(select(lines.c.id).where(
        lines.c.status == LineStatus.FROZEN.value, lines.c.freeze_cause.in_([OVERDUE, WRITE_OFF])))
        if i not in delinquent]
    changes = []
    for line_id in to_freeze:
        cause = WRITE_OFF if line_id in written_off else OVERDUE
        reason = ("a loan on this line was written off" if cause == WRITE_OFF
                  else "a loan on this line is overdue")
        # Re-checked in the statement: a line staff froze or closed meanwhile is left as they left it.
        done = session.execute(update(lines).where(lines.c.id == line_id, lines.c.status == LineStatus.ACTIVE.value)
                               .values(status=LineStatus.FROZEN.value, freeze_cause=cause, status_reason=reason))
        if done.rowcount:
            changes.append({"credit_line_id": line_id, "kind": LineEventKind.FROZEN.value, "reason": reason})
    for line_id in to_unfreeze:
        done = session.execute(update(lines).where(
            lines.c.id == line_id, lines.c.status == LineStatus.FROZEN.value,
            lines.c.freeze_cause.in_([OVERDUE, WRITE_OFF])).values(
            status=LineStatus.ACTIVE.value, freeze_cause=None, status_reason=None))
        if done.rowcount:
            changes.append({"credit_line_id": line_id, "kind": LineEventKind.UNFROZEN.value,
                            "reason": "everything overdue on this line is paid"})
    if changes:
        session.execute(insert(events), [dict(c, actor=ACTOR, business_date=on, at=now) for c in changes])
    return {"frozen": sum(c["kind"] == LineEventKind.FROZEN.value for c in changes),
            "unfrozen": sum(c["kind"] == LineEventKind.UNFROZEN.value for c in changes)}
