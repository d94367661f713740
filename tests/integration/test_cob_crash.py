"""Crash safety: a real ``microlend cob run`` process is killed (SIGKILL) part way, several times,
then run again; the date finishes with no double accrual, debit, SMS or posting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from microlend.lending.daily import close_day
from microlend.lending.delinquency import DEFAULT_POLICY
from microlend.lending.loans import Loan
from microlend.services import ledger
from microlend.simulation.book import build_book
from microlend.store import tables

AS_OF = date(2026, 6, 30)
RUN_DATE = AS_OF + timedelta(days=1)


def _cob_process(db_url: str, day: date) -> subprocess.Popen:
    env = dict(os.environ, MICROLEND_DATABASE_URL=db_url, MICROLEND_SIMULATED_RAIL="behavioural",
               MICROLEND_ENV="test")
    command = os.path.join(os.path.dirname(sys.executable), "microlend")
    return subprocess.Popen(
        [command, "cob", "run", "--date", day.isoformat(), "--chunk-size", "15",
         "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _chunks_done(engine, day: date) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(tables.cob_chunks).where(
            tables.cob_chunks.c.business_date == day, tables.cob_chunks.c.status == "done")).scalar()


def _kill_after(engine, db_url: str, day: date, chunks: int) -> bool:
    """Start a run and SIGKILL it once ``chunks`` chunks are done; False if it finished first."""
    process = _cob_process(db_url, day)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if _chunks_done(engine, day) >= chunks:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.01)
    out, err = process.communicate()
    assert process.returncode == 0, err.decode()
    return False


def test_killed_cob_finishes_on_rerun_without_doubling(platform, db_url):
    if ":memory:" in db_url:
        pytest.skip("needs a database a second process can open")
    build_book(platform.engine, loans=240, as_of=AS_OF, cipher=platform.cipher, seed=11)
    kills = 0
    for target in (3, 12, 30, 45):  # into the loans phase, the debits, the reminders, collections
        kills += _kill_after(platform.engine, db_url, RUN_DATE, target)
    process = _cob_process(db_url, RUN_DATE)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    assert kills >= 2, "the run finished before it could be killed twice"

    engine = platform.engine
    with engine.connect() as conn:
        run = conn.execute(select(tables.cob_runs).where(tables.cob_runs.c.business_date == RUN_DATE)).one()
        assert run.status == "done"
        # One aggregated accrual entry per product for the date, however many times it was interrupted.
        accruals = conn.execute(select(tables.journal_entries.c.reference).where(
            tables.journal_entries.c.entry_date == RUN_DATE, tables.journal_entries.c.kind == "accrual",
            tables.journal_entries.c.reference.like("COB%"))).scalars().all()
        assert len(accruals) == len(set(accruals)) >= 1
        # One auto-debit per loan and date, one booked repayment per collected debit, none without one.
        debits = conn.execute(select(tables.card_debits).where(tables.card_debits.c.requested_on == RUN_DATE)).all()
        assert not [k for k, n in Counter(d.loan_id for d in debits).items() if n > 1]
        assert all(d.status != "pending" for d in debits)
        booked = [d.repayment_id for d in debits if d.repayment_id is not None]
        assert len(booked) == len(set(booked))
        repaid = conn.execute(select(tables.repayments.c.id).where(
            tables.repayments.c.paid_on == RUN_DATE)).scalars().all()
        assert sorted(repaid) == sorted(booked)
        # One copy of each reminder.
        sms = conn.execute(select(tables.sms_outbox.c.loan_id, tables.sms_outbox.c.kind).where(
            tables.sms_outbox.c.business_date == RUN_DATE)).all()
        assert len(sms) == len(set(sms))
    # No double accrual: every active loan's income equals a fresh computation from its installments.
    with platform.uow() as uow:
        for loan in uow.session.scalars(select(Loan).where(tables.loans.c.status == "active")):
            fresh = close_day(loan, RUN_DATE, DEFAULT_POLICY)
            assert loan.cob_through == RUN_DATE or loan.cob_through is None
            assert (loan.interest_recognized, loan.penalty_recognized) == (
                fresh.interest_recognized, fresh.penalty_recognized), loan.id
    assert ledger.get_trial_balance(uow=platform.uow()).balanced
    assert ledger.reconcile_all(uow=platform.uow()) == []
