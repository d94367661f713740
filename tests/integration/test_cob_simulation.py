"""A 400-day simulated run of a small book through the close of business.

Every day: the ledger balances and the day's reminders match the policy. At checkpoints
and at the end: every loan reconciles with the ledger, and its days past due match an
independent replay of the loan from its contract and its repayment history.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import func, or_, select

from microlend.lending.daily import close_day
from microlend.lending.delinquency import DEFAULT_POLICY
from microlend.lending.loans import Loan, apply_payment, new_loan
from microlend.lending.products import REFERENCE_PRODUCT, RepaymentMethod
from microlend.lending.reminders import DEFAULT_REMINDER_POLICY, ReminderKind, reminder_dpd_days
from microlend.lending.schedule import build_schedule
from microlend.services import ledger
from microlend.services.cob.debits import _amounts_due, amount_due
from microlend.services.cob.engine import run_cob
from microlend.services.cob.phases import CobOptions
from microlend.simulation.behaviour import BehaviouralRail
from microlend.simulation.book import build_book
from microlend.store import tables

AS_OF = date(2026, 5, 31)
DAYS = 400


def replayed_dpd(loan_row, payments, on: date) -> int:
    """Days past due from the contract and the repayments alone (no stored installment state)."""
    schedule = build_schedule(principal=loan_row.principal, daily_rate=loan_row.daily_rate, term=loan_row.term,
                              start=loan_row.start_date, method=RepaymentMethod(loan_row.method))
    loan = new_loan(schedule=schedule, product=REFERENCE_PRODUCT, customer_id=loan_row.customer_id,
                    credit_line_id=loan_row.credit_line_id, term=loan_row.term)
    loan.id = loan_row.id
    for payment in payments:
        apply_payment(loan, payment.amount, payment.paid_on)
    return loan.days_past_due(on)


def check_reminders(conn, on: date) -> None:
    """Overdue reminders went exactly to the active loans on a reminder DPD day with money overdue."""
    loans, outbox = tables.loans, tables.sms_outbox
    days = reminder_dpd_days(DEFAULT_REMINDER_POLICY, DEFAULT_REMINDER_POLICY.stop_after_dpd)
    expected = set(conn.execute(select(loans.c.id).where(loans.c.status == "active", loans.c.dpd.in_(days))).scalars())
    sent = conn.execute(select(outbox.c.loan_id, outbox.c.kind).where(outbox.c.business_date == on)).all()
    overdue_kinds = {ReminderKind.OVERDUE.value, ReminderKind.OVERDUE_WEEKLY.value}
    assert {loan_id for loan_id, kind in sent if kind in overdue_kinds} == expected, on
    assert len(sent) == len(set(sent)), on
    inst = tables.loan_installments
    unpaid = or_(inst.c.principal_paid < inst.c.principal, inst.c.interest_paid < inst.c.interest,
                 inst.c.fee_paid < inst.c.fee)

    def owing_on(day: date) -> set[int]:
        return set(conn.execute(select(inst.c.loan_id).join(loans, loans.c.id == inst.c.loan_id).where(
            loans.c.status == "active", inst.c.due_date == day, unpaid)).scalars())

    # Due-date reminders: 3 days before, and on the day to those the auto-debit did not collect from.
    assert {loan_id for loan_id, kind in sent if kind == ReminderKind.PRE_DUE.value} == owing_on(
        on + timedelta(days=3)), on
    assert {loan_id for loan_id, kind in sent if kind == ReminderKind.DUE.value} == owing_on(on), on


def test_four_hundred_days(platform):
    platform.rail = BehaviouralRail()
    build_book(platform.engine, loans=300, as_of=AS_OF, cipher=platform.cipher, seed=3)
    options = CobOptions(chunk_size=100_000)
    seen = defaultdict(int)
    for n in range(1, DAYS + 1):
        day = AS_OF + timedelta(days=n)
        report = run_cob(platform, only=day, options=options)[0]
        platform.clock.current_date = day
        assert ledger.get_trial_balance(uow=platform.uow()).balanced, day
        for key in ("succeeded", "failed"):
            seen[key] += report["debits"][key]
        seen["written_off"] += report["written_off"]["count"]
        # Every reminder queued today was sent and its delivery receipt recorded.
        assert report["sms"]["by_status"] == ({"delivered": report["sms"]["queued"]} if report["sms"]["queued"] else {})
        with platform.engine.connect() as conn:
            check_reminders(conn, day)
        if n % 100 == 0:
            assert ledger.reconcile_all(uow=platform.uow()) == [], day
    # The behaviours produced every kind of event over the year.
    assert seen["succeeded"] > 0 and seen["failed"] > 0 and seen["written_off"] > 0, seen
    last = AS_OF + timedelta(days=DAYS)
    with platform.engine.connect() as conn:
        payments = defaultdict(list)
        for row in conn.execute(select(tables.repayments).order_by(tables.repayments.c.id)):
            payments[row.loan_id].append(row)
        active = conn.execute(select(tables.loans).where(tables.loans.c.status == "active")).all()
        for row in active:
            assert row.dpd == replayed_dpd(row, payments[row.id], last), row.id
        # The delinquency history ends, for every loan, at the bucket and class the loan shows now.
        history = tables.loan_delinquency_history
        latest, buckets_seen = {}, set()
        for row in conn.execute(select(history).order_by(history.c.loan_id, history.c.business_date)):
            latest[row.loan_id] = (row.bucket, row.loan_class)
            buckets_seen.add(row.bucket)
        for row in active:
            assert latest.get(row.id, ("current", "normal")) == (row.bucket, row.loan_class), row.id
        assert {"current", "M1", "M2", "M3", "M3+"} <= buckets_seen
    # The auto-debit's set-based amount equals the domain's, loan by loan.
    with platform.uow() as uow:
        ids = [row.id for row in active]
        from_rows = {loan_id: owed for loan_id, _, owed in _amounts_due(uow.session, ids, last)}
        for loan in uow.session.scalars(select(Loan).where(tables.loans.c.id.in_(ids))):
            assert from_rows[loan.id] == amount_due(loan, last), loan.id
            # Income recognised day by day (mostly on the quiet path) equals a fresh full computation.
            fresh = close_day(loan, last, DEFAULT_POLICY)
            assert (loan.interest_recognized, loan.fee_recognized, loan.penalty_recognized, loan.dpd) == (
                fresh.interest_recognized, fresh.fee_recognized, fresh.penalty_recognized, fresh.dpd), loan.id
        statuses = dict(uow.session.execute(select(tables.loans.c.status, func.count()).group_by(tables.loans.c.status)).all())
    assert statuses.get("paid_off", 0) > 0
