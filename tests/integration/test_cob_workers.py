"""Several worker processes split a date's chunks on PostgreSQL (``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from microlend.lending.daily import close_day
from microlend.lending.delinquency import DEFAULT_POLICY
from microlend.lending.loans import Loan
from microlend.services import ledger
from microlend.services.cob.engine import run_cob
from microlend.services.cob.phases import CobOptions
from microlend.simulation.book import build_book
from microlend.store import tables

AS_OF = date(2026, 6, 30)


def test_two_worker_processes_share_the_chunks(platform, db_url, monkeypatch):
    if not db_url.startswith("postgresql"):
        pytest.skip("worker processes share a date on PostgreSQL; SQLite has one writer")
    monkeypatch.setenv("MICROLEND_ENV", "test")
    build_book(platform.engine, loans=400, as_of=AS_OF, cipher=platform.cipher, seed=5)
    for n in (1, 2):
        [report] = run_cob(platform, only=AS_OF + timedelta(days=n), options=CobOptions(workers=2, chunk_size=5))
        assert report["loans"]["processed"] > 0
    day = AS_OF + timedelta(days=2)
    with platform.engine.connect() as conn:
        chunks = conn.execute(select(tables.cob_chunks).where(tables.cob_chunks.c.business_date == day)).all()
    assert chunks and all(c.status == "done" for c in chunks)
    processes = {c.worker.split(":")[1] for c in chunks}
    # the date's two worker processes both took chunks (80 per phase: a slow start of one cannot leave it
    # idle throughout the date)
    assert len(processes) == 2, processes
    # Split or not, every loan is exactly where a fresh full computation puts it, and the books agree.
    with platform.uow() as uow:
        for loan in uow.session.scalars(select(Loan).where(tables.loans.c.status == "active")):
            fresh = close_day(loan, day, DEFAULT_POLICY)
            assert (loan.interest_recognized, loan.penalty_recognized, loan.dpd) == (
                fresh.interest_recognized, fresh.penalty_recognized, fresh.dpd), loan.id
    assert ledger.get_trial_balance(uow=platform.uow()).balanced
    assert ledger.reconcile_all(uow=platform.uow()) == []
