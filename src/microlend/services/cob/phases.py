"""The phases of a COB date, in order, and how one chunk of each is processed.

Every phase is safe to run again on the same chunk: the loans phase recomputes
targets (and skips loans already at the date), debits and reminders are keyed by
(loan, date), booking takes only pending debits, collections sync is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from microlend.lending.delinquency import DEFAULT_POLICY, DelinquencyPolicy
from microlend.lending.reminders import DEFAULT_REMINDER_POLICY, ReminderPolicy
from microlend.services import collections, sms_outbox
from microlend.services.cob import runs
from microlend.services.cob.debits import request_debits, send_debits
from microlend.services.cob.lines import freeze_and_unfreeze
from microlend.services.cob.loan_day import close_loans
from microlend.services.cob.reminders import queue_reminders


@dataclass(frozen=True)
class Phase:
    name: str
    #: Chunked by loan id (several workers share it) or a single unit of work.
    chunked: bool
    label: str


PHASES: tuple[Phase, ...] = (
    Phase("loans", True, "accrual, due/overdue, penalty, delinquency, write-off"),
    Phase("debit_request", True, "auto-debit: record"),
    Phase("debit_send", True, "auto-debit: rail and booking"),
    Phase("lines", False, "credit-line freeze/unfreeze"),
    Phase("sms", True, "SMS reminders: queue"),
    Phase("sms_send", True, "SMS reminders: send"),
    Phase("collections", True, "collections queue"),
)
PHASE_NAMES = tuple(p.name for p in PHASES)


@dataclass(frozen=True)
class CobOptions:
    workers: int = 1
    chunk_size: int = 20_000
    policy: DelinquencyPolicy = DEFAULT_POLICY
    reminder_policy: ReminderPolicy = DEFAULT_REMINDER_POLICY
    #: Days past due on which a failed auto-debit is tried again (the due date itself is always tried).
    retry_dpd: tuple[int, ...] = (1, 3, 7)
    lender: dict[str, str] = field(default_factory=lambda: {"zh": "微贷", "en": "Microlend"})


def process_chunk(platform, on: date, phase: str, chunk, options: CobOptions, now: datetime) -> dict:
    """Do one chunk of one phase and mark it done (in the same transaction where the work is one)."""
    first, last = chunk.first_id, chunk.last_id
    if phase in ("debit_send", "sms_send"):
        if phase == "debit_send":
            result = send_debits(platform.session_factory, rail=platform.rail, cipher=platform.cipher, on=on,
                                 first_id=first, last_id=last, now=now)
        else:
            counts = sms_outbox.dispatch_pending(engine=platform.engine, gateway=platform.sms, cipher=platform.cipher,
                                                 now=now, loan_range=(first, last))
            # Delivery receipts of what the gateway has confirmed so far (today's and earlier sends).
            delivered = sms_outbox.refresh_delivery(engine=platform.engine, gateway=platform.sms, now=now,
                                                    loan_range=(first, last))
            result = {"sent": counts.sent, "failed": counts.failed, "pending": counts.pending,
                      "receipts": delivered}
        with platform.session_factory() as session:
            runs.complete_chunk(session.connection(), on, phase, chunk.chunk_no, now=now, result=result)
            session.commit()
        return result
    with platform.session_factory() as session:
        if phase == "loans":
            result = close_loans(session, on=on, first_id=first, last_id=last, policy=options.policy, now=now)
        elif phase == "debit_request":
            result = request_debits(session, on=on, first_id=first, last_id=last, retry_dpd=options.retry_dpd,
                                    now=now)
        elif phase == "lines":
            result = freeze_and_unfreeze(session, on=on, now=now)
        elif phase == "sms":
            result = queue_reminders(session, on=on, first_id=first, last_id=last, policy=options.reminder_policy,
                                     lender=options.lender, now=now)
        elif phase == "collections":
            result = collections.sync_cases(session.connection(), business_date=on, first_loan_id=first,
                                            last_loan_id=last, now=now)
        else:
            raise ValueError(f"unknown COB phase {phase!r}")
        runs.complete_chunk(session.connection(), on, phase, chunk.chunk_no, now=now, result=result)
        session.commit()
    return result
